"""Kernel snapshots: put a kernel back exactly as it was, fast.

A fixture can load drivers once and hand every test a restored copy. The
snapshot holds the bytes of every mapped region the guest or loader can
change (the service stub area never changes) and a copy of the Python-side
state: module table, exports, allocators, symbolizer, IRQ table, devices,
every service subsystem's state, trace and console lengths.

Unicorn 2.1's copy-on-write memory contexts were tried first; they crashed
the host process on restore after a region was remapped, so this copies.
"""

from __future__ import annotations

import copy
import io
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SandboxError
from .machine import address_map as amap
from .machine.memory import Region, X

if TYPE_CHECKING:
    from .kernel import Kernel


@dataclass
class Snapshot:
    """Everything needed to restore a Kernel; opaque to callers."""

    regions: list[Region]
    contents: dict[int, bytes]
    state: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes of guest memory the snapshot holds."""
        return sum(len(b) for b in self.contents.values())


_MODULE_FIELDS = ("state", "uses", "used_by", "init_released", "param_blocks")


class _Frozen:
    """A deep copy kept as a pickle: unpickling is ~20-30x faster than ``copy.deepcopy``.

    The kernel, CPU and memory objects are referenced by identity (persistent
    ids), as the deepcopy memo did; a value that cannot be pickled (a lambda
    in a subsystem) is kept as a deep copy instead.
    """

    __slots__ = ("blob", "copied")

    def __init__(self, value: Any, memo: dict[int, Any]) -> None:
        shared = {key: index for index, key in enumerate(memo)}
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = lambda obj: shared.get(id(obj))  # type: ignore[method-assign]
        try:
            pickler.dump(value)
            self.blob: bytes | None = buffer.getvalue()
            self.copied = None
        except (pickle.PicklingError, TypeError, AttributeError):
            self.blob = None
            self.copied = copy.deepcopy(value, dict(memo))

    def thaw(self, memo: dict[int, Any]) -> Any:
        """A fresh copy of the value (shared objects are the live ones in ``memo``)."""
        if self.blob is None:
            return copy.deepcopy(self.copied, dict(memo))
        live = list(memo.values())
        unpickler = pickle.Unpickler(io.BytesIO(self.blob))
        unpickler.persistent_load = lambda index: live[index]  # type: ignore[method-assign]
        return unpickler.load()


def _copy_subsystems(subsystems: dict[type, Any], memo: dict[int, Any]) -> dict[type, Any]:
    """Copy every service subsystem's state.

    A subsystem may define ``clone()`` (a copy sharing immutable parts, much
    cheaper than deepcopy for large tables); otherwise it is deep-copied.
    """
    return {
        cls: state.clone() if hasattr(state, "clone") else copy.deepcopy(state, dict(memo))
        for cls, state in subsystems.items()
    }


def take(kernel: Kernel) -> Snapshot:
    """Capture ``kernel``; it must not be running guest code."""
    if kernel.cpu.depth:
        raise SandboxError("cannot snapshot a kernel while guest code is running")
    memory = kernel.memory
    uc = kernel.cpu.uc
    regions = [Region(r.start, r.end, r.perms, r.label) for r in memory.regions()]
    contents = {r.start: bytes(uc.mem_read(r.start, r.end - r.start)) for r in regions if r.start != amap.STUB_BASE}
    memo = {id(kernel): kernel, id(kernel.cpu): kernel.cpu, id(memory): memory}
    snap = Snapshot(regions, contents)
    if kernel.cpu.dirty is not None:
        kernel.cpu.dirty.arm(snap)  # restore copies back only the pages written from now on
    snap.state = {
        "heap": memory.heap.snapshot(),
        "module_area": kernel._module_area.snapshot(),
        "exports": dict(kernel._exports),
        "modules": dict(kernel._modules),
        "released_init": list(kernel._released_init),
        "subsystems": _copy_subsystems(kernel._subsystems, memo),
        "irqs": _Frozen(kernel.irqs, memo),
        # The private flag: the public setter would deliver pending IRQs.
        "irqs_enabled": kernel.interrupts.enabled,
        "pending_irqs": list(kernel.interrupts.pending),
        "clock": (kernel.clock.ns, kernel.clock.ticks),
        # Device models keep their identity (hooks and users hold them); only
        # their state is copied, and put back into the same objects.
        "devices": _Frozen({name: dict(vars(kernel.devices[name])) for name in kernel.devices}, memo),
        "nodes": dict(kernel.device_nodes.nodes),
        "kdata_cursor": kernel._kdata_cursor,
        "trace": len(kernel.trace.events),
        "console": (len(kernel._console), len(kernel.console_records)),
        "symbolizer": kernel.symbolizer.save(),
        "dispatcher": (len(kernel.dispatcher._slots), dict(kernel.dispatcher.addresses)),
        "ports": (list(kernel.ports._starts), list(kernel.ports._entries)),
    }
    snap.modules = {
        name: {f: copy.copy(getattr(module, f)) for f in _MODULE_FIELDS} for name, module in kernel._modules.items()
    }
    return snap


def restore(kernel: Kernel, snap: Snapshot) -> None:
    """Put ``kernel`` back to the moment ``snap`` was taken."""
    if kernel.cpu.depth:
        raise SandboxError("cannot restore a kernel while guest code is running")
    memory = kernel.memory
    uc = kernel.cpu.uc
    wanted = {(r.start, r.end, r.perms) for r in snap.regions}
    for region in memory.regions():
        if (region.start, region.end, region.perms) not in wanted:
            uc.mem_unmap(region.start, region.end - region.start)
    present = {(r.start, r.end, r.perms) for r in memory.regions()} & wanted
    dirty = kernel.cpu.dirty if kernel.cpu.dirty is not None and kernel.cpu.dirty.snapshot is snap else None
    code_changed = dirty is None or present != wanted
    for region in snap.regions:
        data = snap.contents.get(region.start)
        if (region.start, region.end, region.perms) not in present:
            uc.mem_map(region.start, region.end - region.start, region.perms)
        elif dirty is not None and data is not None:
            # Only the pages written since the snapshot (machine/dirty.py).
            for page in dirty.pages_in(region.start, region.end):
                offset = page - region.start
                uc.mem_write(page, data[offset : offset + amap.PAGE_SIZE])
                code_changed = code_changed or bool(region.perms & X)
            continue
        if data is not None:
            uc.mem_write(region.start, data)
    # Regions still mapped onto a module's bytearray keep that buffer pinned.
    backing = {(r.start, r.end, r.perms): r.backing for r in memory.regions() if (r.start, r.end, r.perms) in present}
    memory._regions = [Region(r.start, r.end, r.perms, r.label, backing.get((r.start, r.end, r.perms)))
                       for r in snap.regions]
    memory._starts = [r.start for r in snap.regions]
    state = snap.state
    memory.heap.restore(state["heap"])
    kernel._module_area.restore(state["module_area"])
    kernel._exports = dict(state["exports"])
    kernel._modules = dict(state["modules"])
    for name, fields in snap.modules.items():
        for key, value in fields.items():
            setattr(kernel._modules[name], key, copy.copy(value))
    kernel._released_init = list(state["released_init"])
    memo = {id(kernel): kernel, id(kernel.cpu): kernel.cpu, id(memory): memory}
    kernel._subsystems = _copy_subsystems(state["subsystems"], memo)
    kernel.irqs = state["irqs"].thaw(memo)
    kernel.interrupts.enabled = state["irqs_enabled"]
    kernel.interrupts.pending = list(state["pending_irqs"])
    kernel.clock.ns, kernel.clock.ticks = state["clock"]
    for name, saved in state["devices"].thaw(memo).items():
        if name in kernel.devices:
            vars(kernel.devices[name]).update(saved)
    kernel.device_nodes.nodes = dict(state["nodes"])
    kernel.device_nodes.open_files.clear()
    kernel._kdata_cursor = state["kdata_cursor"]
    del kernel.trace.events[state["trace"]:]
    console, records = state["console"]
    del kernel._console[console:]
    del kernel.console_records[records:]
    kernel.symbolizer.restore(state["symbolizer"])
    slots, addresses = state["dispatcher"]
    del kernel.dispatcher._slots[slots:]
    kernel.dispatcher.addresses = dict(addresses)
    port_starts, port_entries = state["ports"]
    kernel.ports._starts, kernel.ports._entries = list(port_starts), list(port_entries)
    if code_changed:
        kernel.cpu.uc.ctl_flush_tb()  # code bytes may differ at the same addresses
