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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SandboxError
from .machine import address_map as amap
from .machine.memory import Region

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


def _device_state(device: object, memo: dict[int, Any]) -> dict[str, Any]:
    """A deep copy of a device model's attributes (the kernel it is attached to is shared)."""
    return copy.deepcopy(dict(vars(device)), dict(memo))


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
    snap.state = {
        "heap": memory.heap.snapshot(),
        "module_area": kernel._module_area.snapshot(),
        "exports": dict(kernel._exports),
        "modules": dict(kernel._modules),
        "released_init": list(kernel._released_init),
        # Each subsystem saves itself (save/restore, clone, or a deep copy).
        "subsystems": kernel.subsystems.save(memo),
        "irqs": copy.deepcopy(kernel.irqs),
        # The private flag: the public setter would deliver pending IRQs.
        "irqs_enabled": kernel.interrupts.enabled,
        "pending_irqs": list(kernel.interrupts.pending),
        "clock": (kernel.clock.ns, kernel.clock.ticks),
        # Device models keep their identity (hooks and users hold them); only
        # their state is copied, and put back into the same objects.
        "devices": {name: _device_state(kernel.devices[name], memo) for name in kernel.devices},
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
    for region in snap.regions:
        if (region.start, region.end, region.perms) not in present:
            uc.mem_map(region.start, region.end - region.start, region.perms)
        data = snap.contents.get(region.start)
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
    kernel.subsystems.restore(state["subsystems"], memo)
    kernel.irqs = copy.deepcopy(state["irqs"])
    kernel.interrupts.enabled = state["irqs_enabled"]
    kernel.interrupts.pending = list(state["pending_irqs"])
    kernel.clock.ns, kernel.clock.ticks = state["clock"]
    for name, saved in state["devices"].items():
        if name in kernel.devices:
            vars(kernel.devices[name]).update(copy.deepcopy(saved, dict(memo)))
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
    kernel.cpu.uc.ctl_flush_tb()  # code bytes may differ at the same addresses
