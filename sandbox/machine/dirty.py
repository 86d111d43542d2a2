"""Dirty-page tracking: which guest pages were written since a snapshot.

Restoring a snapshot by copying every mapped region costs ~0.25 ms per MiB
mapped. Tracking the pages written makes a restore cost what the guest
touched instead. How the writes are seen, without a hook on every store:

- Unicorn 2.1's virtual TLB (``UC_TLB_VIRTUAL`` + ``UC_HOOK_TLB_FILL``): the
  TLB asks us to map a page the first time it is used. A page not yet
  written is handed out without write permission, so its first write misses
  the TLB again, as a write: that is the moment it becomes dirty, and from
  then on it is writable at full speed. Mappings are identity (paging is
  off), and the memory regions' own permissions are still enforced by
  Unicorn, so W^X and read-only faults are unchanged.
- Host-side writes (services, the loader, Python tests) go through
  ``uc.mem_write``, which bypasses the TLB: :class:`GuestMemory` tells the
  tracker about each (``write_observer``).
- The host's call frames (``Cpu.call`` writes them with ``mem_write``) are
  noted by the CPU.

Write-protecting pages with ``mem_protect`` and catching the first write
was measured and not used: Unicorn splits the region at each protected page
(~35 us per protect/unprotect pair here) and a split region no longer
aliases the module's bytearray it was mapped onto with ``uc_mem_map_ptr``.

Pages stay dirty until the next :meth:`arm` (the TLB keeps them writable, so
later writes would not be seen again): a restore copies back every page
written since the snapshot, not only those written since the last restore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_TLB_FILL, UC_MEM_WRITE
from unicorn import unicorn_const as ucc

from . import address_map as amap

if TYPE_CHECKING:
    from .cpu import Cpu

PAGE = amap.PAGE_SIZE
_PAGE_MASK = ~(PAGE - 1) & 0xFFFFFFFF
_ALL = ucc.UC_PROT_READ | ucc.UC_PROT_WRITE | ucc.UC_PROT_EXEC
_NO_WRITE = ucc.UC_PROT_READ | ucc.UC_PROT_EXEC


class DirtyPages:
    """The set of guest pages written since :meth:`arm`, for one CPU."""

    def __init__(self, cpu: Cpu) -> None:
        self.cpu = cpu
        self.uc = cpu.uc
        self.pages: set[int] = set()
        self.tracking = True
        self.snapshot: object = None  # the snapshot the pages are counted from
        self.uc.ctl_set_tlb_mode(ucc.UC_TLB_VIRTUAL)
        self._hook = self.uc.hook_add(UC_HOOK_TLB_FILL, self._fill)
        cpu.memory.write_observer = self.note

    def _fill(self, uc: Any, address: int, access: int, entry: Any, data: Any) -> bool:
        page = address & _PAGE_MASK
        entry.paddr = page
        if not self.tracking:
            entry.perms = _ALL
        elif access == UC_MEM_WRITE:
            self.pages.add(page)
            entry.perms = _ALL
        else:
            entry.perms = _ALL if page in self.pages else _NO_WRITE
        return True

    def note(self, address: int, size: int) -> None:
        """A host-side write of ``size`` bytes at ``address``."""
        if size <= 0:
            return
        first, last = address & _PAGE_MASK, (address + size - 1) & _PAGE_MASK
        if first == last:
            self.pages.add(first)
        else:
            self.pages.update(range(first, last + PAGE, PAGE))

    @classmethod
    def attach(cls, cpu: Cpu) -> DirtyPages:
        """The CPU's tracker, made on first use; snapshots taken from now on restore by pages."""
        if cpu.dirty is None:
            cpu.dirty = cls(cpu)
        return cpu.dirty

    def arm(self, snapshot: object) -> None:
        """Count from now, for ``snapshot``: every page clean, the TLB forgets write permissions."""
        self.pages.clear()
        self.flush_tlb()
        self.snapshot = snapshot

    def pages_in(self, start: int, end: int) -> list[int]:
        """The dirty pages in [start, end), sorted."""
        if end - start <= PAGE * len(self.pages):
            return [p for p in range(start, end, PAGE) if p in self.pages]
        return sorted(p for p in self.pages if start <= p < end)

    def flush_tlb(self) -> None:
        """Drop every TLB entry (pages get refilled, clean ones without write permission)."""
        self.uc.ctl(ucc.UC_CTL_TLB_FLUSH, ucc.UC_CTL_IO_WRITE)

    def close(self) -> None:
        """Stop tracking: the TLB stays virtual but hands out every page writable."""
        self.tracking = False
        self.snapshot = None
        if self.cpu.memory.write_observer == self.note:
            self.cpu.memory.write_observer = None
        self.cpu.dirty = None
        self.flush_tlb()
