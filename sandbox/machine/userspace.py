"""The user half of the address space: anonymous mappings below TASK_SIZE.

A driver sees user memory through the uaccess functions only (they check
``access_ok`` and survive faults); this class hands out the pages those
pointers point at: ``vm_mmap`` from guest code, and the buffers the Python
side passes to a driver's read/write/ioctl. Page granular, first fit, and
per kernel (a service subsystem, so snapshots copy it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import address_map as amap
from .allocator import RangeAllocator
from .memory import R, W, X

if TYPE_CHECKING:
    from .memory import GuestMemory

EINVAL = 22
ENOMEM = 12
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def _perms(prot: int) -> int:
    perms = (R if prot & PROT_READ else 0) | (W if prot & PROT_WRITE else 0) | (X if prot & PROT_EXEC else 0)
    return perms or R  # Unicorn cannot map PROT_NONE pages; read-only stands in


class UserSpace:
    """Anonymous user mappings: start -> size, inside [USER_AREA_BASE, +USER_AREA_SIZE)."""

    def __init__(self) -> None:
        self.pages = RangeAllocator(amap.USER_AREA_BASE, amap.USER_AREA_SIZE, amap.PAGE_SIZE)
        self.mappings: dict[int, int] = {}

    def mmap(self, memory: GuestMemory, length: int, prot: int = PROT_READ | PROT_WRITE) -> int:
        """Map ``length`` bytes of zeroed pages; the address, or ``-ENOMEM``/``-EINVAL``."""
        if length <= 0 or length > amap.USER_AREA_SIZE:
            return -EINVAL
        size = amap.page_align_up(length)
        start = self.pages.allocate(size)
        if start is None:
            return -ENOMEM
        memory.map(start, size, _perms(prot), "user mapping")
        self.mappings[start] = size
        return start

    def munmap(self, memory: GuestMemory, start: int, length: int) -> int:
        """Unmap a whole earlier mapping (0) or refuse what is not one (``-EINVAL``)."""
        size = self.mappings.get(start)
        if size is None or start & (amap.PAGE_SIZE - 1):
            return -EINVAL
        if amap.page_align_up(length) != size:
            return -EINVAL  # partial unmaps are not modelled; say so rather than pretend
        memory.unmap(start, size)
        self.pages.free(start)
        del self.mappings[start]
        return 0

    def buffer(self, memory: GuestMemory, data: bytes | int) -> int:
        """A user buffer holding ``data`` (or ``data`` zero bytes); free it with :meth:`release`."""
        size = data if isinstance(data, int) else len(data)
        start = self.mmap(memory, max(size, 1))
        if start < 0:
            raise MemoryError(f"user space is full ({amap.USER_AREA_SIZE:#x} bytes)")
        if not isinstance(data, int) and data:
            memory.write(start, data)
        return start

    def release(self, memory: GuestMemory, start: int) -> None:
        """Drop a buffer from :meth:`buffer`."""
        self.munmap(memory, start, self.mappings.get(start, 0))

    def save(self) -> tuple[object, dict[int, int]]:
        """The mappings and the free ranges (a snapshot part: cheaper than a deep copy per restore)."""
        return self.pages.snapshot(), dict(self.mappings)

    def restore(self, state: tuple[object, dict[int, int]]) -> None:
        """Back to :meth:`save`'s mappings (the pages themselves are guest memory, restored with it)."""
        pages, mappings = state
        self.pages.restore(pages)  # type: ignore[arg-type]
        self.mappings = dict(mappings)

    def contains(self, address: int) -> bool:
        """Whether ``address`` lies in a current user mapping."""
        return any(start <= address < start + size for start, size in self.mappings.items())
