"""Guest memory as the kernel sees it: mapped regions, checked access, heap.

Every read or write a service makes on behalf of the guest goes through
:class:`GuestMemory`, which checks the whole range against the regions the
kernel mapped (and their permissions) first. A bad pointer therefore becomes
a :class:`~sandbox.errors.GuestFault` naming the address, never a host
exception from inside Unicorn.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError
from unicorn.unicorn_const import UC_ERR_OK
from unicorn.unicorn_py3.unicorn import uclib

from ..errors import GuestFault

if TYPE_CHECKING:
    from .heap import GuardedHeap

R, W, X = UC_PROT_READ, UC_PROT_WRITE, UC_PROT_EXEC

# A single service access larger than this is refused rather than attempted:
# it is a driver bug (a negative size cast to size_t), and copying it would
# cost host memory.
MAX_ACCESS = 64 << 20
CSTRING_LIMIT = 1 << 16


@dataclass(slots=True)
class Region:
    """A mapped range with its permissions and a label for reports.

    ``backing`` holds the host buffer export of a region mapped onto a
    Python bytearray (:meth:`GuestMemory.map_buffer`): while it lives, the
    bytearray cannot be resized or freed under the emulator.
    """

    start: int
    end: int
    perms: int
    label: str
    backing: object = None


class GuestMemory:
    """Checked reads and writes of guest memory, plus the kernel heap.

    Public API for tests: :meth:`read`, :meth:`write`, :meth:`alloc`,
    :meth:`free`, :meth:`read_cstring`, :meth:`read_u32`, :meth:`write_u32`.
    """

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._starts: list[int] = []
        self._regions: list[Region] = []
        from .heap import PlainHeap

        self.heap: PlainHeap | GuardedHeap = PlainHeap(self)
        # Told (address, size) of every host-side write: uc.mem_write bypasses
        # the TLB, so dirty-page tracking (machine/dirty.py) would miss it.
        self.write_observer: Callable[[int, int], None] | None = None
        # Bumped by every change to the mapped set (map, unmap, protect,
        # replace): a snapshot restore whose layout is unchanged since it last
        # saw this number skips comparing regions (sandbox/snapshot.py).
        self.layout_version = 0
        # MMIO pages the kernel itself serves (the tick variables): services may read and write them
        # like memory; they are not regions (snapshots do not copy them, their owner saves its state).
        self._io: list[Region] = []

    # -- mapping -------------------------------------------------------
    def map(self, start: int, size: int, perms: int, label: str) -> None:
        """Map ``size`` bytes (page multiple) at ``start`` with ``perms``."""
        self._uc.mem_map(start, size, perms)
        self.layout_version += 1
        if self.write_observer is not None:
            self.write_observer(start, size)  # fresh zero pages: all differ from any snapshot's
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._regions.insert(i, Region(start, start + size, perms, label))

    def map_buffer(self, start: int, size: int, perms: int, label: str, buffer: bytearray, offset: int = 0) -> None:
        """Map ``size`` bytes at ``start`` onto ``buffer[offset:offset+size]`` itself, without a copy.

        The loader maps a module's relocated image this way: no second copy
        of it is made or written, and the emulator reads and writes the
        bytearray directly until :meth:`unmap`.
        """
        window = (ctypes.c_char * size).from_buffer(buffer, offset)
        status = uclib.uc_mem_map_ptr(self._uc._uch, start, size, perms, ctypes.addressof(window))
        if status != UC_ERR_OK:
            raise UcError(status)
        self.layout_version += 1
        if self.write_observer is not None:
            self.write_observer(start, size)
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._regions.insert(i, Region(start, start + size, perms, label, window))

    def unmap(self, start: int, size: int) -> None:
        """Unmap a range previously mapped with :meth:`map` (whole regions)."""
        self._uc.mem_unmap(start, size)
        self.layout_version += 1
        end = start + size
        keep = [(s, r) for s, r in zip(self._starts, self._regions) if not (start <= s < end)]
        self._starts = [s for s, _ in keep]
        self._regions = [r for _, r in keep]

    def protect(self, start: int, size: int, perms: int, label: str | None = None) -> None:
        """Change permissions of a range that is exactly one mapped region."""
        self._uc.mem_protect(start, size, perms)
        self.layout_version += 1
        region = self.region_at(start)
        if region is not None:
            region.perms = perms
            if label is not None:
                region.label = label

    def region_at(self, address: int) -> Region | None:
        """The mapped region containing ``address``, or None."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            region = self._regions[i]
            if address < region.end:
                return region
        return None

    def regions(self) -> list[Region]:
        """Every mapped region, in address order."""
        return list(self._regions)

    def replace_regions(self, regions: list[Region]) -> None:
        """Take ``regions`` as the mapped set (a snapshot restore has just mapped exactly these in Unicorn)."""
        self._regions = sorted(regions, key=lambda r: r.start)
        self._starts = [r.start for r in self._regions]
        self.layout_version += 1

    def add_io_region(self, start: int, size: int, perms: int, label: str) -> None:
        """Let checked accesses reach an MMIO page mapped by its owner (reads and writes call it back)."""
        self._io.append(Region(start, start + size, perms, label))

    def _io_region_at(self, address: int) -> Region | None:
        for region in self._io:
            if region.start <= address < region.end:
                return region
        return None

    # -- checked access ------------------------------------------------
    def check(self, address: int, size: int, need: int, what: str = "access") -> None:
        """Raise GuestFault unless [address, address+size) is mapped with ``need``."""
        if size < 0 or size > MAX_ACCESS:
            raise GuestFault(
                "bad-size", f"{what} of {size} bytes at {address:#010x} refused (size out of range)",
                address=address,
            )
        end = address + size
        cursor = address
        while cursor < end or (size == 0 and cursor == address):
            region = self.region_at(cursor) or (self._io_region_at(cursor) if self._io else None)
            if region is None:
                raise GuestFault(
                    "bad-pointer", f"{what} at {address:#010x} (+{size}) touches unmapped {cursor:#010x}",
                    address=cursor,
                )
            if region.perms & need != need:
                raise GuestFault(
                    "bad-pointer",
                    f"{what} at {address:#010x} (+{size}) not permitted in {region.label}",
                    address=cursor,
                )
            if size == 0:
                break
            cursor = region.end
        return None

    def array(self, address: int, count: int, size: int, what: str = "array") -> range:
        """The element addresses of a guest array of ``count`` structs of ``size`` bytes.

        For services that walk an array whose length the guest chose: the
        whole array must be readable guest memory first (so the loop is
        bounded by what is mapped, never by the count alone); a count below
        one is an empty array, as C's ``for (i = 0; i < count; i++)``.
        """
        if count <= 0:
            return range(0)
        if count > MAX_ACCESS // max(size, 1):
            raise GuestFault("bad-size", f"{what} of {count} elements of {size} bytes at {address:#010x} "
                             f"refused (larger than {MAX_ACCESS >> 20} MiB)", address=address)
        self.check(address, count * size, R, what)
        return range(address, address + count * size, size)

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes of readable guest memory."""
        self.check(address, size, R, "read")
        return bytes(self._uc.mem_read(address, size))

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` to writable guest memory."""
        self.check(address, len(data), W, "write")
        self._uc.mem_write(address, bytes(data))
        if self.write_observer is not None:
            self.write_observer(address, len(data))

    def read_u32(self, address: int) -> int:
        """Read a little-endian 32-bit word."""
        return struct.unpack("<I", self.read(address, 4))[0]

    def write_u32(self, address: int, value: int) -> None:
        """Write a little-endian 32-bit word."""
        self.write(address, struct.pack("<I", value & 0xFFFFFFFF))

    def read_cstring(self, address: int, limit: int | None = None) -> bytes:
        """Bytes of the NUL-terminated string at ``address`` (without the NUL).

        Reads at most ``limit`` bytes (a printf precision or strncmp bound)
        or 64 KiB; a string that runs off its mapping is a GuestFault.
        """
        cap = CSTRING_LIMIT if limit is None else min(limit, CSTRING_LIMIT)
        out = bytearray()
        cursor = address
        while len(out) < cap:
            region = self.region_at(cursor)
            if region is None or not region.perms & R:
                raise GuestFault(
                    "bad-pointer", f"string at {address:#010x} runs into unmapped {cursor:#010x}",
                    address=cursor,
                )
            chunk = bytes(self._uc.mem_read(cursor, min(region.end - cursor, cap - len(out), 256)))
            nul = chunk.find(0)
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
            cursor += len(chunk)
        return bytes(out[:cap])

    def write_raw(self, address: int, data: bytes) -> None:
        """Write ignoring page permissions (the loader filling read-only pages)."""
        self._uc.mem_write(address, bytes(data))
        if self.write_observer is not None:
            self.write_observer(address, len(data))

    # -- heap ----------------------------------------------------------
    def use_guarded_heap(self) -> None:
        """Switch to the memory checker's heap (before anything is allocated)."""
        from .heap import GuardedHeap

        if self.heap.blocks:
            raise ValueError("the heap is already in use")
        self.heap = GuardedHeap(self)

    def alloc(self, size: int, site: int = 0) -> int:
        """Allocate ``size`` bytes of zeroed, writable guest memory; 0 if none.

        ``site`` (a return address) is remembered for memory-error reports.
        """
        if size <= 0 or size > MAX_ACCESS:
            return 0
        return self.heap.alloc(size, site)

    def free(self, address: int, site: int = 0) -> int | None:
        """Release a heap block; returns its size, or None if not a block."""
        block = self.heap.free(address, site)
        return None if block is None else block.size

    def heap_block_size(self, address: int) -> int | None:
        """Size of the live heap block starting at ``address``, or None."""
        block = self.heap.blocks.get(address)
        return None if block is None else block.size
