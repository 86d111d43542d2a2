"""Every event kind the code can emit is documented, and every event has a sane timestamp.

Issue 13 items 2 and 10: port and MMIO events had ``ts`` 0 (``ts_ns`` about
-1.1e12 in JSON Lines), and ``docs/trace-schema.md`` lacked ``mmio``,
``timer``, ``warning`` and the port ``register`` field.
"""

from __future__ import annotations

import re
from pathlib import Path
from time import perf_counter_ns

import pytest

from sandbox import GuestFault, Kernel
from sandbox.machine import address_map as amap
from sandbox.trace.jsonl import event_record

from .guest import PIO
from .test_devices import Doorbell

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = (ROOT / "docs" / "trace-schema.md").read_text()

# trace.add("kind", ...), trace.add_access("kind", ...), _trace_heap(ctx, "kind", ...)
_EMITTERS = re.compile(r'(?:trace\.add|trace\.add_access|_trace_heap)\(\s*(?:k,\s*|ctx,\s*)?"([a-z_]+)"\s*,\s*"?([a-z_-]*)')


def _emitted_kinds() -> dict[str, set[str]]:
    """Kind -> literal names, found in every source file that records events."""
    kinds: dict[str, set[str]] = {}
    for folder in ("sandbox", "kernel_stubs"):
        for path in (ROOT / folder).rglob("*.py"):
            for kind, name in _EMITTERS.findall(path.read_text()):
                kinds.setdefault(kind, set()).add(name)
    return kinds


def _documented_kinds() -> set[str]:
    section = SCHEMA.split("## Per kind")[1].split("##")[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def test_every_emitted_kind_is_documented() -> None:
    emitted = _emitted_kinds()
    # The scan must see the kinds it is meant to see, or it proves nothing.
    assert {"service", "port", "mmio", "irq", "timer", "alloc", "free", "fault", "warning", "note"} <= set(emitted)
    assert set(emitted) - _documented_kinds() == set()
    section = SCHEMA.split("## Per kind")[1]
    for name in emitted["irq"]:
        assert f"| `irq` | `{name}` |" in section, f"irq {name} events are not documented"
    assert "`register`" in section.split("| `port` |")[1].split("\n")[0]


SLOPPY = """
#include <kernel.h>
static void *kept;
int sloppy_grab(void) { kept = kmalloc(16, GFP_KERNEL); return kept != 0; }
void sloppy_cli(void) { local_irq_disable(); }
"""


def _busy_kernel() -> Kernel:
    """A kernel whose trace holds every kind a run without --itrace makes."""
    k = Kernel(memcheck=True)
    bell = k.devices.add(Doorbell())
    base = amap.MMIO_BASE + 0x10000
    k.mmio.map(base, 0x1000, bell)
    return k


def test_every_event_has_a_timestamp_from_the_trace_clock(compile_c, driver) -> None:
    k = _busy_kernel()
    pio = k.load(compile_c(PIO, "pio"))
    pio.call("mmio_write32", amap.MMIO_BASE + 0x10010, 7)
    pio.call("mmio_read32", amap.MMIO_BASE + 0x10010)
    uart = k.load(driver("uart"))
    k.devices["com1"].feed(b"hi")
    uart.call("uart_write", b"ok", 2)
    beat = k.load(driver("heartbeat"))
    k.run_for(20)
    memlist = k.load(driver("memlist"))
    k.trace_instructions("memlist", symbol="memlist_len", limit=3)  # insn events, then an itrace-limit note
    memlist.call("memlist_len")
    memlist.call("memlist_push", 1, "one")
    sloppy = k.load(compile_c(SLOPPY, "sloppy"))
    sloppy.call("sloppy_grab")  # leaks its block (a leak event at unload)
    sloppy.call("sloppy_cli")  # returns with interrupts off (a warning event)
    k.load(driver("faulty"))
    with pytest.raises(GuestFault):
        k.module("faulty").call("fault_null_read")
    for module in reversed(k.modules):
        k.unload(module)
    now = perf_counter_ns()
    kinds = {e.kind for e in k.trace}
    assert {"port", "mmio", "service", "irq", "timer", "alloc", "free", "fault", "load", "init", "exit",
            "unload", "insn", "note", "leak", "warning"} <= kinds, kinds
    assert kinds <= _documented_kinds()
    for event in k.trace:
        assert k.trace.t0 <= event.ts <= now, (event.kind, event.name, event.ts - k.trace.t0)
        record = event_record(event, k.symbolizer, k.trace.t0)
        assert 0 <= record["ts_ns"] <= now - k.trace.t0
    # Point events are stamped in the order they happen: the clock never goes back.
    instants = [e.ts for e in k.trace if e.dur is None]
    assert instants == sorted(instants)
    assert beat.name == "heartbeat"
