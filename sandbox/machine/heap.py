"""The kernel heap behind kmalloc and ``Kernel.memory.alloc``: plain or guarded.

``PlainHeap`` packs blocks densely (16-byte granules) in a window mapped in
1 MiB chunks: fast, no checking.

``GuardedHeap`` is the memory checker (``Kernel(memcheck=True)``, on by
default in the pytest fixture). Every block gets pages of its own, ends
flush against an unmapped guard page, and has canary bytes in the slack
around it:

- a guest access past the end faults at once on the guard page and is
  reported as heap-out-of-bounds with the block and its allocation site;
- freed blocks are unmapped and kept in quarantine for a while, so a later
  access is reported as use-after-free with both sites;
- a write into the slack (before the block, or in the alignment padding
  after it) is found when the block is freed, and reported as corruption.

No hook runs on ordinary accesses, so checked code runs at full speed; the
cost is a map/unmap per allocation.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import GuestFault
from . import address_map as amap
from .allocator import RangeAllocator

if TYPE_CHECKING:
    from .memory import GuestMemory

READ_WRITE = 3
CANARY = 0xA5
ALIGN = 8  # kmalloc's minimum alignment on i386
QUARANTINE_BLOCKS = 256


@dataclass(slots=True)
class HeapBlock:
    """One allocation and where it came from."""

    address: int
    size: int
    span_start: int  # first mapped byte of the block's pages
    span_size: int  # bytes of mapped pages (guard excluded)
    site: int
    free_site: int = 0


class PlainHeap:
    """Dense allocation, no checks (the default outside tests)."""

    checked = False

    def __init__(self, memory: GuestMemory) -> None:
        self._memory = memory
        self._ranges = RangeAllocator(amap.HEAP_BASE, amap.HEAP_SIZE, 16)
        self._mapped_end = amap.HEAP_BASE
        self.blocks: dict[int, HeapBlock] = {}

    def alloc(self, size: int, site: int = 0) -> int:
        """A zeroed block of ``size`` bytes, or 0."""
        address = self._ranges.allocate(size, 16)
        if address is None:
            return 0
        end = address + size
        if end > self._mapped_end:
            new_end = (end + amap.HEAP_CHUNK - 1) // amap.HEAP_CHUNK * amap.HEAP_CHUNK
            self._memory.map(self._mapped_end, new_end - self._mapped_end, READ_WRITE, f"heap {self._mapped_end:#x}")
            self._mapped_end = new_end
        rounded = self._ranges.size_of(address) or size
        self._memory.write_raw(address, bytes(rounded))
        self.blocks[address] = HeapBlock(address, size, address, rounded, site)
        return address

    def free(self, address: int, site: int = 0) -> HeapBlock | None:
        """Release a block; None if ``address`` does not start one."""
        block = self.blocks.pop(address, None)
        if block is not None:
            self._ranges.free(address)
        return block

    def describe(self, address: int) -> tuple[str, str] | None:
        """(kind, text) for an address inside a live block."""
        for block in self.blocks.values():
            if block.address <= address < block.address + block.size:
                return "heap", f"{address - block.address} bytes into the {block.size}-byte block at {block.address:#x}"
        return None

    def snapshot(self) -> object:
        """State for Kernel.snapshot (the mapped pages are saved by the caller)."""
        return (self._ranges.snapshot(), self._mapped_end, dict(self.blocks))

    def restore(self, state: object) -> None:
        """Put back a state from :meth:`snapshot`."""
        ranges, self._mapped_end, blocks = state  # type: ignore[misc]
        self._ranges.restore(ranges)
        self.blocks = dict(blocks)


class GuardedHeap:
    """Page-guarded allocation with quarantine and canaries (the memory checker)."""

    checked = True

    def __init__(self, memory: GuestMemory) -> None:
        self._memory = memory
        self._ranges = RangeAllocator(amap.HEAP_BASE, amap.HEAP_SIZE, amap.PAGE_SIZE)
        self.blocks: dict[int, HeapBlock] = {}
        self.quarantine: OrderedDict[int, HeapBlock] = OrderedDict()

    def alloc(self, size: int, site: int = 0) -> int:
        """A zeroed block ending at a guard page; 0 if the window is full."""
        padded = (size + ALIGN - 1) // ALIGN * ALIGN
        span = amap.page_align_up(max(padded, 1))
        start = self._ranges.allocate(span + amap.PAGE_SIZE)  # + the guard page, never mapped
        if start is None:
            self._drain_quarantine(all_blocks=True)
            start = self._ranges.allocate(span + amap.PAGE_SIZE)
            if start is None:
                return 0
        address = start + span - padded
        self._memory.map(start, span, READ_WRITE, f"heap block {address:#x}")
        slack = bytes([CANARY]) * (address - start)
        tail = bytes([CANARY]) * (padded - size)
        self._memory.write_raw(start, slack + bytes(size) + tail)
        self.blocks[address] = HeapBlock(address, size, start, span, site)
        return address

    def _check_canaries(self, block: HeapBlock) -> None:
        data = self._memory.read(block.span_start, block.span_size)
        head = data[: block.address - block.span_start]
        tail = data[block.address - block.span_start + block.size :]
        for where, part, base in (("before", head, block.span_start), ("after", tail, block.address + block.size)):
            # Compare whole runs at C speed; look for the byte only on a mismatch.
            if part.count(CANARY) != len(part):
                bad = next(i for i, b in enumerate(part) if b != CANARY)
                raise GuestFault(
                    "heap-corruption",
                    f"heap corruption found at kfree: byte {base + bad:#x} {where} the {block.size}-byte block at "
                    f"{block.address:#x} was overwritten",
                    address=base + bad,
                )

    def free(self, address: int, site: int = 0) -> HeapBlock | None:
        """Check canaries, unmap the pages and quarantine the block."""
        block = self.blocks.get(address)
        if block is None:
            return None
        self._check_canaries(block)
        del self.blocks[address]
        # A new record, not the live one changed: a snapshot holds the live
        # block, and after a restore it must not say where a later case freed it.
        block = replace(block, free_site=site)
        self._memory.unmap(block.span_start, block.span_size)
        self.quarantine[address] = block
        if len(self.quarantine) > QUARANTINE_BLOCKS:
            self._drain_quarantine()
        return block

    def _drain_quarantine(self, all_blocks: bool = False) -> None:
        while self.quarantine and (all_blocks or len(self.quarantine) > QUARANTINE_BLOCKS // 2):
            _, block = self.quarantine.popitem(last=False)
            self._ranges.free(block.span_start)

    def describe(self, address: int) -> tuple[str, str] | None:
        """(kind, text) for a faulting heap address: out of bounds or use after free."""
        for block in self.blocks.values():
            guard = block.span_start + block.span_size
            if guard <= address < guard + amap.PAGE_SIZE:
                return ("heap-out-of-bounds",
                        f"{address - block.address - block.size} bytes past the end of the {block.size}-byte block at "
                        f"{block.address:#x}")
        for block in self.quarantine.values():
            if block.span_start <= address < block.span_start + block.span_size + amap.PAGE_SIZE:
                return ("use-after-free", f"{address - block.address} bytes into the freed {block.size}-byte block at "
                        f"{block.address:#x}")
        return None

    def block_for(self, address: int) -> HeapBlock | None:
        """The live or quarantined block whose pages hold ``address``."""
        for block in (*self.blocks.values(), *self.quarantine.values()):
            if block.span_start <= address < block.span_start + block.span_size + amap.PAGE_SIZE:
                return block
        return None

    def snapshot(self) -> object:
        """State for Kernel.snapshot."""
        return (self._ranges.snapshot(), dict(self.blocks), OrderedDict(self.quarantine))

    def restore(self, state: object) -> None:
        """Put back a state from :meth:`snapshot`."""
        ranges, blocks, quarantine = state  # type: ignore[misc]
        self._ranges.restore(ranges)
        self.blocks = dict(blocks)
        self.quarantine = OrderedDict(quarantine)
