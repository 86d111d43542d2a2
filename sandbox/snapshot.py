"""Kernel snapshots: put a kernel back exactly as it was, fast.

A fixture can load drivers once and hand every test a restored copy. The
snapshot holds the bytes of every mapped region the guest or loader can
change (the service stub area never changes) and, for every other part of
the kernel, whatever that part's own ``save()`` returns: each part (module
table, export table, heap, IRQ table, buses, devices, clock, trace, ...)
knows its state and puts it back in ``restore()``. This module only asks.

Unicorn 2.1's copy-on-write memory contexts were tried first; they crashed
the host process on restore after a region was remapped, so this copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SandboxError
from .machine import address_map as amap
from .machine.memory import Region, X

if TYPE_CHECKING:
    from .kernel import Kernel
    from .machine.memory import GuestMemory

PAGE = amap.PAGE_SIZE


@dataclass
class Snapshot:
    """Everything needed to restore a Kernel; opaque to callers."""

    regions: list[Region]
    contents: dict[int, bytes]
    state: dict[str, Any] = field(default_factory=dict)
    # GuestMemory.layout_version when the mapped set was last exactly this
    # snapshot's (taken, or restored): equal now means no region came, went
    # or changed permissions, and a dirty-page restore only copies pages.
    layout_version: int = -1
    # page -> (its bytes, executable?), filled by dirty-page restores as pages are met.
    pages: dict[int, tuple[bytes, bool]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes of guest memory the snapshot holds."""
        return sum(len(b) for b in self.contents.values())


def take(kernel: Kernel) -> Snapshot:
    """Capture ``kernel``; it must not be running guest code."""
    if kernel.cpu.depth:
        raise SandboxError("cannot snapshot a kernel while guest code is running")
    memory = kernel.memory
    uc = kernel.cpu.uc
    regions = [Region(r.start, r.end, r.perms, r.label) for r in memory.regions()]
    contents = {r.start: bytes(uc.mem_read(r.start, r.end - r.start)) for r in regions if r.start != amap.STUB_BASE}
    snap = Snapshot(regions, contents, layout_version=memory.layout_version)
    if kernel.cpu.dirty is not None:
        kernel.cpu.dirty.arm(snap)  # restore copies back only the pages written from now on
    snap.state = {name: part.save() for name, part in kernel.stateful_parts().items()}
    return snap


def restore(kernel: Kernel, snap: Snapshot) -> None:
    """Put ``kernel`` back to the moment ``snap`` was taken."""
    if kernel.cpu.depth:
        raise SandboxError("cannot restore a kernel while guest code is running")
    code_changed = _restore_memory(kernel, snap)
    for name, part in kernel.stateful_parts().items():  # in order: buses before the devices on them
        part.restore(snap.state[name])
    if code_changed:
        kernel.cpu.uc.ctl_flush_tb()  # code bytes may differ at the same addresses


def _restore_memory(kernel: Kernel, snap: Snapshot) -> bool:
    """Put the memory back; whether code may have changed (then translations are stale)."""
    memory = kernel.memory
    dirty = kernel.cpu.dirty
    if dirty is not None and dirty.snapshot is snap and memory.layout_version == snap.layout_version:
        return _restore_pages(memory, kernel.cpu.uc, snap, dirty.pages)
    code_changed = _restore_regions(kernel, snap)
    snap.layout_version = memory.layout_version
    return code_changed


def _restore_pages(memory: GuestMemory, uc: Any, snap: Snapshot, pages: set[int]) -> bool:
    """The mapped set is the snapshot's: copy back the written pages only. Whether a code page was among them.

    Each page's bytes (and whether it holds code) are looked up once per
    snapshot and kept: the same few pages are written case after case.
    """
    code_changed = False
    saved = snap.pages
    write = uc.mem_write
    for page in pages:
        entry = saved.get(page)
        if entry is None:
            entry = saved[page] = _saved_page(memory, snap, page)
        if entry is not _NOT_SAVED:
            write(page, entry[0])
            code_changed = code_changed or entry[1]
    return code_changed


_NOT_SAVED = (b"", False)


def _saved_page(memory: GuestMemory, snap: Snapshot, page: int) -> tuple[bytes, bool]:
    """(the snapshot's bytes of ``page``, whether its region is executable), or _NOT_SAVED."""
    region = memory.region_at(page)
    data = snap.contents.get(region.start) if region is not None else None
    if region is None or data is None:
        return _NOT_SAVED  # not mapped now, or never copied (the service stubs)
    offset = page - region.start
    return data[offset : offset + PAGE], bool(region.perms & X)


def _restore_regions(kernel: Kernel, snap: Snapshot) -> bool:
    """Put the mapped set and its bytes back region by region (the layout changed, or no tracking)."""
    memory = kernel.memory
    uc = kernel.cpu.uc
    wanted = {(r.start, r.end, r.perms) for r in snap.regions}
    mapped = {(r.start, r.end, r.perms) for r in memory.regions()}
    for region in memory.regions():
        if (region.start, region.end, region.perms) not in wanted:
            uc.mem_unmap(region.start, region.end - region.start)
    present = {(r.start, r.end, r.perms) for r in memory.regions()} & wanted
    dirty = kernel.cpu.dirty if kernel.cpu.dirty is not None and kernel.cpu.dirty.snapshot is snap else None
    # Translations are stale if code regions came or went (heap pages come
    # and go with memcheck every call: they are not code).
    code_changed = dirty is None or any(perms & X for _, _, perms in wanted ^ mapped)
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
    memory.replace_regions([Region(r.start, r.end, r.perms, r.label, backing.get((r.start, r.end, r.perms)))
                            for r in snap.regions])
    return code_changed
