"""Trace views: event kinds, filters, the JSON Lines and Chrome sinks, the instruction trace."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel
from sandbox.trace import write_trace
from sandbox.trace.jsonl import event_record

ROOT = Path(__file__).resolve().parent.parent

# The required fields per kind, as docs/trace-schema.md lists them.
COMMON = {"seq", "kind", "name", "context", "depth", "ts_ns"}
REQUIRED = {
    "service": {"caller", "caller_symbol", "dur_ns"},
    "port": {"direction", "port", "width", "value", "device"},
    "irq": {"line"},
    "load": {"path", "base", "size", "relocations", "module"},
    "init": {"result", "dur_ns", "module"},
    "exit": {"dur_ns", "module"},
    "unload": {"leaks", "module"},
    "alloc": {"size", "address", "site", "site_symbol"},
    "free": {"size", "address", "site", "site_symbol"},
    "fault": {"pc", "pc_symbol", "address", "message"},
    "insn": {"address", "bytes", "text", "caller_symbol"},
}


def _busy_kernel(driver) -> Kernel:  # type: ignore[no-untyped-def]
    """A kernel whose trace holds every kind: services, IRQs, heap, a fault, life cycle."""
    k = Kernel(budget_seconds=5)
    irq = k.load(driver("irqcount"))
    k.raise_irq(5)
    mem = k.load(driver("memlist"))
    mem.call("memlist_push", 1, "one")
    mem.call("memlist_pop")
    faulty = k.load(driver("faulty"))
    with pytest.raises(GuestFault):
        faulty.call("fault_null_read")
    k.unload(irq)
    k.unload(mem)
    return k


def test_alloc_free_and_fault_events(driver) -> None:
    k = _busy_kernel(driver)
    alloc = k.trace.of_kind("alloc")[0]
    free = k.trace.of_kind("free")[0]
    assert alloc.fields["size"] == 24 and alloc.fields["address"] == free.fields["address"]
    assert k.symbolizer.short(alloc.fields["site"], alloc.seq).startswith("memlist:memlist_push+")
    assert k.symbolizer.short(free.fields["site"], free.seq).startswith("memlist:memlist_pop+")
    fault = k.trace.of_kind("fault")
    assert len(fault) == 1 and fault[0].name == "null-pointer"
    assert k.symbolizer.short(fault[0].fields["pc"], fault[0].seq).startswith("faulty:fault_null_read")
    text = k.format_trace()
    assert "alloc 24 bytes at" in text and "fault null-pointer at faulty:fault_null_read" in text


def test_filter_by_kind_and_module(driver) -> None:
    k = _busy_kernel(driver)
    services = k.trace.filter(kinds=["service"])
    assert services and all(e.kind == "service" for e in services)
    mine = k.trace.filter(modules=["memlist"], symbolizer=k.symbolizer)
    names = {(e.kind, e.name) for e in mine}
    assert ("service", "kmalloc") in names and ("load", "memlist") in names and ("unload", "memlist") in names
    assert not any(e.name == "request_irq" for e in mine)
    irq_only = k.trace.filter(kinds=["irq", "service"], modules=["irqcount"], symbolizer=k.symbolizer)
    assert any(e.kind == "irq" and e.name == "handler" for e in irq_only)
    assert all(e.kind in ("irq", "service") for e in irq_only)


def test_jsonl_lines_parse_with_required_fields(driver) -> None:
    k = _busy_kernel(driver)
    out = io.StringIO()
    write_trace(k.trace, "jsonl", out, k.symbolizer, k.trace.t0)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == len(k.trace)
    seen = set()
    for record in records:
        assert record.keys() >= COMMON, record
        assert REQUIRED.get(record["kind"], set()) <= record.keys(), record
        assert isinstance(record["ts_ns"], int) and record["ts_ns"] >= 0
        seen.add(record["kind"])
    assert {"service", "irq", "load", "init", "exit", "unload", "alloc", "free", "fault"} <= seen


def test_chrome_trace_has_slices_for_services_and_irq_handlers(driver) -> None:
    k = _busy_kernel(driver)
    out = io.StringIO()
    write_trace(k.trace, "chrome", out, k.symbolizer, k.trace.t0)
    doc = json.loads(out.getvalue())
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert any(e["cat"] == "service" and e["name"] == "kmalloc" for e in slices)
    handler = next(e for e in slices if e["cat"] == "irq")
    assert handler["name"] == "irq 5: irqcount:irqcount_handler" and handler["tid"] == 2
    for event in slices:
        assert isinstance(event["ts"], float) and isinstance(event["dur"], float) and event["dur"] >= 0
    # The handler's own service calls nest inside its slice.
    inner = [e for e in slices if e["cat"] == "service" and e["tid"] == 2]
    assert inner and all(handler["ts"] <= e["ts"] and e["ts"] + e["dur"] <= handler["ts"] + handler["dur"]
                         for e in inner)
    assert all(e["ph"] in ("X", "i", "M") for e in doc["traceEvents"])


def test_text_indents_irq_context(driver) -> None:
    k = Kernel()
    k.load(driver("irqcount"))
    k.raise_irq(5)
    lines = k.format_trace().splitlines()
    raised = next(i for i, line in enumerate(lines) if line.startswith("irq 5: raised"))
    assert lines[raised + 1].startswith("  [irq] _spin_lock_irqsave(")


def test_instruction_trace_symbols_and_limit(driver) -> None:
    k = Kernel()
    m = k.load(driver("memlist"))
    m.call("memlist_push", 1, "a")  # translated before the trace starts: must still be seen
    itrace = k.trace_instructions("memlist", symbol="memlist_push", limit=7)
    m.call("memlist_push", 2, "b")
    m.call("memlist_push", 3, "c")
    assert len(itrace.events) == 7 and itrace.stopped
    lines = itrace.lines()
    assert lines[0].split()[2] == "memlist:memlist_push" and "push" in lines[0]
    assert any("call" in line and "<kmalloc>" in line for line in lines)
    start = m.address_of("memlist_push")
    assert all(start <= e.caller < start + 0x100 for e in itrace.events)
    assert len(k.trace.calls("kmalloc")) == 3  # the guest kept running after the limit
    assert k.trace.of_kind("note")[-1].name == "itrace-limit"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", "run", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_chrome_to_file_and_filters(driver, tmp_path) -> None:
    out = tmp_path / "trace.json"
    result = run_cli(str(driver("irqcount")), "--irq", "5", "--trace", "chrome", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "== trace ==" not in result.stdout
    doc = json.loads(out.read_text())
    assert any(e["ph"] == "X" and e["cat"] == "irq" for e in doc["traceEvents"])
    result = run_cli(str(driver("memlist")), "--call", "memlist_push", "1", "x", "--trace", "jsonl",
                     "--trace-kinds", "alloc,free", "--trace-module", "memlist")
    records = [json.loads(line) for line in result.stdout.splitlines()]  # stdout is the trace alone
    assert [r["kind"] for r in records] == ["alloc", "free"]
    assert records[0]["site_symbol"].startswith("memlist:memlist_push+")
    assert records[1]["site_symbol"].startswith("memlist:memlist_exit+")  # the exit frees the node


def test_cli_itrace(driver) -> None:
    result = run_cli(str(driver("memlist")), "--itrace", "memlist:memlist_len", "--itrace-limit", "3",
                     "--call", "memlist_len", "--trace-kinds", "insn")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("== trace ==\n")[1].splitlines()
    assert len(lines) == 3 and all(line.startswith("insn 0x") and "memlist:memlist_len" in line for line in lines)


def test_event_record_symbolizes_after_unload(driver) -> None:
    k = Kernel()
    m = k.load(driver("memlist"))
    m.call("memlist_push", 1, "a")
    k.unload(m)
    alloc = k.trace.of_kind("alloc")[0]
    assert event_record(alloc, k.symbolizer)["site_symbol"].startswith("memlist:memlist_push+")
