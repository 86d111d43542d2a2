"""ID allocators (lib/idr.c): IDA and IDR, Linux 6.1 i386.

The allocation state lives here, keyed by the ``struct ida`` / ``struct
idr`` address; the guest structs keep ``xa_head`` (offset 8 of the
embedded xarray) NULL exactly while they are empty, so the inline
``ida_is_empty``/``idr_is_empty`` agree. ``struct idr``: xarray 0 (lock,
flags, head), idr_base 12, idr_next 16. Ids are the lowest free ones, as
Linux hands them out. A static IDA/IDR still holding ids when the module it
lives in unloads is reported (its nodes would leak).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import ENOSPC

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

XA_HEAD = 8
IDR_BASE, IDR_NEXT = 12, 16
INT_MAX = 0x7FFFFFFF
NOT_EMPTY = 0x2  # what xa_head holds while ids exist: a non-NULL internal entry


class Ids:
    """Allocated ids per IDA/IDR: address -> {id: pointer} (pointer 0 for an IDA)."""

    def __init__(self) -> None:
        self.tables: dict[int, dict[int, int]] = {}

    def clone(self) -> Ids:
        """A copy for snapshots."""
        twin = Ids()
        twin.tables = {a: dict(t) for a, t in self.tables.items()}
        return twin

    def table(self, k: Kernel, address: int) -> dict[int, int]:
        """The id table of ``address`` (made empty on first use)."""
        return self.tables.setdefault(address, {})

    def sync(self, k: Kernel, address: int) -> None:
        """Keep the guest's xa_head in step: NULL iff empty."""
        table = self.tables.get(address)
        k.memory.write_u32(address + XA_HEAD, NOT_EMPTY if table else 0)
        if not table:
            self.tables.pop(address, None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Static allocators inside the module that still hold ids."""
        leaks = []
        for address, table in list(self.tables.items()):
            if table and k.module_at(address) is module:
                leaks.append(f"id allocator {k.symbolizer.short(address)} still holds {len(table)} ids "
                             f"({', '.join(map(str, sorted(table)[:8]))})")
                del self.tables[address]
        return leaks


def _lowest_free(table: dict[int, int], low: int, high: int) -> int | None:
    ident = low
    while ident <= high:
        if ident not in table:
            return ident
        ident += 1
    return None


@service("int ida_alloc_range(struct ida *ida, unsigned int min, unsigned int max, gfp_t gfp)")
def ida_alloc_range(k: Kernel, ida: int, low: int, high: int, gfp: int) -> int:
    """The lowest free id in [min, max], or -ENOSPC."""
    ids = k.subsystem(Ids)
    table = ids.table(k, ida)
    ident = _lowest_free(table, low, min(high, INT_MAX))
    if ident is None:
        ids.sync(k, ida)
        return -ENOSPC
    table[ident] = 0
    ids.sync(k, ida)
    return ident


@service("void ida_free(struct ida *ida, unsigned int id)")
def ida_free(k: Kernel, ida: int, ident: int) -> None:
    """Free an id; freeing one not allocated is a WARN in Linux."""
    ids = k.subsystem(Ids)
    if ids.tables.get(ida, {}).pop(ident, None) is None:
        k.warn(f"ida_free called for id={ident} which is not allocated ({k.symbolizer.short(k.current_caller)})")
    ids.sync(k, ida)


@service("void ida_destroy(struct ida *ida)")
def ida_destroy(k: Kernel, ida: int) -> None:
    """Free every id."""
    ids = k.subsystem(Ids)
    ids.tables.pop(ida, None)
    ids.sync(k, ida)


@service("int idr_alloc_u32(struct idr *idr, void *ptr, u32 *nextid, unsigned long max, gfp_t gfp)")
def idr_alloc_u32(k: Kernel, idr: int, ptr: int, nextid: int, high: int, gfp: int) -> int:
    """Allocate the lowest free id >= *nextid and <= max into *nextid: 0 or -ENOSPC."""
    ids = k.subsystem(Ids)
    base = k.memory.read_u32(idr + IDR_BASE)
    table = ids.table(k, idr)
    ident = _lowest_free(table, max(k.memory.read_u32(nextid), base), high)
    if ident is None:
        ids.sync(k, idr)
        return -ENOSPC
    table[ident] = ptr
    k.memory.write_u32(nextid, ident)
    ids.sync(k, idr)
    return 0


@service("int idr_alloc(struct idr *idr, void *ptr, int start, int end, gfp_t gfp)")
def idr_alloc(k: Kernel, idr: int, ptr: int, start: int, end: int, gfp: int) -> int:
    """An id in [start, end) (end <= 0: no limit) mapping to ``ptr``, or -errno."""
    if start < 0:
        return -22  # -EINVAL
    ids = k.subsystem(Ids)
    base = k.memory.read_u32(idr + IDR_BASE)
    table = ids.table(k, idr)
    ident = _lowest_free(table, max(start, base), (end - 1) if end > 0 else INT_MAX)
    if ident is None:
        ids.sync(k, idr)
        return -ENOSPC
    table[ident] = ptr
    ids.sync(k, idr)
    return ident


@service("int idr_alloc_cyclic(struct idr *idr, void *ptr, int start, int end, gfp_t gfp)")
def idr_alloc_cyclic(k: Kernel, idr: int, ptr: int, start: int, end: int, gfp: int) -> int:
    """Like idr_alloc, starting after the last id handed out (idr_next), wrapping to ``start``."""
    ids = k.subsystem(Ids)
    table = ids.table(k, idr)
    high = (end - 1) if end > 0 else INT_MAX
    following = max(k.memory.read_u32(idr + IDR_NEXT), start)
    ident = _lowest_free(table, following, high)
    if ident is None:
        ident = _lowest_free(table, start, high)
    if ident is None:
        ids.sync(k, idr)
        return -ENOSPC
    table[ident] = ptr
    k.memory.write_u32(idr + IDR_NEXT, ident + 1)
    ids.sync(k, idr)
    return ident


@service("void *idr_find(const struct idr *idr, unsigned long id)")
def idr_find(k: Kernel, idr: int, ident: int) -> int:
    """The pointer stored under ``id``, or NULL."""
    return k.subsystem(Ids).tables.get(idr, {}).get(ident, 0)


@service("void *idr_remove(struct idr *idr, unsigned long id)")
def idr_remove(k: Kernel, idr: int, ident: int) -> int:
    """Remove ``id``; returns what it mapped to, or NULL."""
    ids = k.subsystem(Ids)
    ptr = ids.tables.get(idr, {}).pop(ident, 0)
    ids.sync(k, idr)
    return ptr


@service("void *idr_replace(struct idr *idr, void *ptr, unsigned long id)")
def idr_replace(k: Kernel, idr: int, ptr: int, ident: int) -> int:
    """Store a new pointer under an allocated id: the old one, or ERR_PTR(-ENOENT)."""
    table = k.subsystem(Ids).tables.get(idr, {})
    if ident not in table:
        return (-2) & 0xFFFFFFFF
    old, table[ident] = table[ident], ptr
    return old


@service("void *idr_get_next(struct idr *idr, int *nextid)")
def idr_get_next(k: Kernel, idr: int, nextid: int) -> int:
    """The first entry at or after *nextid (updated), or NULL."""
    table = k.subsystem(Ids).tables.get(idr, {})
    start = k.memory.read_u32(nextid)
    found = [i for i in table if i >= start]
    if not found:
        return 0
    ident = min(found)
    k.memory.write_u32(nextid, ident)
    return table[ident]


@service("void *idr_get_next_ul(struct idr *idr, unsigned long *nextid)")
def idr_get_next_ul(k: Kernel, idr: int, nextid: int) -> int:
    """idr_get_next with an unsigned long index (same width on i386)."""
    return idr_get_next(k, idr, nextid)


@service("int idr_for_each(const struct idr *idr, int (*fn)(int id, void *p, void *data), void *data)")
def idr_for_each(k: Kernel, idr: int, fn: int, data: int) -> int:
    """Call fn(id, p, data) for each entry in id order; stop at the first non-zero result."""
    for ident, ptr in sorted(k.subsystem(Ids).tables.get(idr, {}).items()):
        result = k.call(fn, ident, ptr, data)
        if result:
            return result
    return 0


@service("void idr_destroy(struct idr *idr)")
def idr_destroy(k: Kernel, idr: int) -> None:
    """Forget every id (the pointers are the caller's to free)."""
    ids = k.subsystem(Ids)
    ids.tables.pop(idr, None)
    ids.sync(k, idr)




@service("void idr_preload(gfp_t gfp_mask)")
def idr_preload(k: Kernel, gfp_mask: int) -> None:
    """Preload for idr_alloc(GFP_NOWAIT): nothing to preload here (allocations do not fail), but
    preemption is disabled as Linux does, so the inline idr_preload_end() balances it."""
    address = k.export_address("__preempt_count")
    if address is not None:
        k.memory.write_u32(address, (k.memory.read_u32(address) + 1) & 0xFFFFFFFF)
