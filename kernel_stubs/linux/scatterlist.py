"""Scatterlists (lib/scatterlist.c) in Linux 6.1 i386's ``struct scatterlist`` layout.

``struct scatterlist`` is 20 bytes: ``page_link`` (the struct page, with
bit 0 SG_CHAIN — the entry points at the next array instead — and bit 1
SG_END, the last entry), ``offset``, ``length``, ``dma_address`` and
``dma_length`` (CONFIG_NEED_SG_DMA_LENGTH). Drivers use the inline helpers
(``sg_set_page``, ``sg_page``, ``sg_mark_end``, ``for_each_sg`` through
``sg_next``), so the bits must be exactly these. ``sg_alloc_table`` builds
chained arrays of at most SG_MAX_SINGLE_ALLOC (PAGE_SIZE / 20 = 204)
entries, the last slot of each full array chaining to the next, as
``__sg_alloc_table`` does; ``sg_free_table`` walks and frees them.
``sg_init_one``/``sg_set_buf`` need a linearly mapped buffer
(``virt_to_page``): a module's static buffer is vmalloc space on Linux and
is reported (:func:`.pages.virt_to_page`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.machine.memory import W
from sandbox.services import service

from ..memory import allocate, release
from .dma import SG_CHAIN, SG_END, SG_LENGTH, SG_OFFSET, SG_PAGE_LINK, SG_SIZE, sg_entries, sg_page
from .layout import Fields
from .pages import PAGE_SIZE, PAGE_STRUCT_SIZE, page_to_virt, virt_to_page
from .registrations import EINVAL, ENOMEM

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

SG_MAX_SINGLE_ALLOC = PAGE_SIZE // SG_SIZE  # 204
MAX_TABLE_ENTRIES = 1 << 20


def init_table(k: Kernel, sgl: int, nents: int) -> None:
    """sg_init_table(): zeroed entries, the last marked SG_END (the whole array checked writable first)."""
    k.memory.check(sgl, SG_SIZE * nents, W, "sg_init_table")
    k.memory.write(sgl, bytes(SG_SIZE * nents))
    last = sgl + SG_SIZE * (nents - 1)
    k.memory.write_u32(last + SG_PAGE_LINK, SG_END)


def set_buf(k: Kernel, sg: int, buf: int, buflen: int, what: str) -> None:
    """sg_set_buf(): the buffer's struct page, offset in the page, length (the marker bits kept)."""
    page = virt_to_page(k, buf, what)
    link = k.memory.read_u32(sg + SG_PAGE_LINK)
    k.memory.write_u32(sg + SG_PAGE_LINK, page | (link & (SG_CHAIN | SG_END)))
    k.memory.write_u32(sg + SG_OFFSET, buf & (PAGE_SIZE - 1))
    k.memory.write_u32(sg + SG_LENGTH, buflen)


@service("void sg_init_table(struct scatterlist *sgl, unsigned int nents)")
def sg_init_table(k: Kernel, sgl: int, nents: int) -> None:
    """Zero ``nents`` entries and mark the last one as the end."""
    if nents:
        init_table(k, sgl, nents)


@service("void sg_init_one(struct scatterlist *sg, const void *buf, unsigned int buflen)")
def sg_init_one(k: Kernel, sg: int, buf: int, buflen: int) -> None:
    """A one-entry list describing ``buf``."""
    init_table(k, sg, 1)
    set_buf(k, sg, buf, buflen, "sg_init_one")


@service("struct scatterlist *sg_next(struct scatterlist *sg)")
def sg_next(k: Kernel, sg: int) -> int:
    """The next entry (through a chain link), NULL after the last."""
    if k.memory.read_u32(sg + SG_PAGE_LINK) & SG_END:
        return 0
    sg += SG_SIZE
    link = k.memory.read_u32(sg + SG_PAGE_LINK)
    return link & ~3 if link & SG_CHAIN else sg


@service("int sg_nents(struct scatterlist *sg)")
def sg_nents(k: Kernel, sg: int) -> int:
    """How many entries the list has (chain links not counted)."""
    return len(sg_entries(k, sg, MAX_TABLE_ENTRIES))


@service("int sg_nents_for_len(struct scatterlist *sg, u64 len)")
def sg_nents_for_len(k: Kernel, sg: int, length: int) -> int:
    """How many entries cover ``len`` bytes; -EINVAL if the list is shorter."""
    if not length:
        return 0
    total = 0
    for count, entry in enumerate(sg_entries(k, sg, MAX_TABLE_ENTRIES), start=1):
        total += k.memory.read_u32(entry + SG_LENGTH)
        if total >= length:
            return count
    return -EINVAL


@service("struct scatterlist *sg_last(struct scatterlist *s, unsigned int nents)")
def sg_last(k: Kernel, s: int, nents: int) -> int:
    """The last of the first ``nents`` entries."""
    entries = sg_entries(k, s, nents)
    return entries[-1] if entries else 0


def _free_chunks(k: Kernel, sgl: int, orig_nents: int) -> None:
    chunk, left = sgl, orig_nents
    while chunk and left > 0:
        if left > SG_MAX_SINGLE_ALLOC:
            link = k.memory.read_u32(chunk + SG_SIZE * (SG_MAX_SINGLE_ALLOC - 1) + SG_PAGE_LINK)
            nxt = link & ~3 if link & SG_CHAIN else 0
            left -= SG_MAX_SINGLE_ALLOC - 1
        else:
            nxt, left = 0, 0
        release(k, chunk)
        chunk = nxt


@service("int sg_alloc_table(struct sg_table *table, unsigned int nents, gfp_t gfp_mask)")
def sg_alloc_table(k: Kernel, table: int, nents: int, gfp: int) -> int:
    """Allocate a list of ``nents`` entries (chained arrays past 204); 0, -EINVAL or -ENOMEM."""
    fields = Fields(k.memory, "sg_table", table)
    k.memory.write(table, bytes(12))
    if not nents or nents > MAX_TABLE_ENTRIES:
        return -EINVAL
    first = prev_link = 0
    left = nents
    while left:
        count = left if left <= SG_MAX_SINGLE_ALLOC else SG_MAX_SINGLE_ALLOC
        chunk = allocate(k, SG_SIZE * count)
        if not chunk:
            if first:
                _free_chunks(k, first, nents - left)
            k.memory.write(table, bytes(12))
            return -ENOMEM
        init_table(k, chunk, count)
        if prev_link:
            k.memory.write_u32(prev_link + SG_PAGE_LINK, chunk | SG_CHAIN)  # sg_chain(): the slot becomes a link
        else:
            first = chunk
        if left > SG_MAX_SINGLE_ALLOC:
            prev_link = chunk + SG_SIZE * (SG_MAX_SINGLE_ALLOC - 1)
            k.memory.write_u32(prev_link + SG_PAGE_LINK, 0)
            left -= SG_MAX_SINGLE_ALLOC - 1
        else:
            left = 0
    fields["sgl"], fields["nents"], fields["orig_nents"] = first, nents, nents
    return 0


@service("void sg_free_table(struct sg_table *table)")
def sg_free_table(k: Kernel, table: int) -> None:
    """Free what sg_alloc_table allocated (a table never allocated is left alone)."""
    fields = Fields(k.memory, "sg_table", table)
    if fields["sgl"]:
        _free_chunks(k, fields["sgl"], fields["orig_nents"])
    k.memory.write(table, bytes(12))


def copy_buffer(k: Kernel, sgl: int, nents: int, buf: int, buflen: int, skip: int, to_buffer: bool) -> int:
    """sg_copy_buffer(): bytes copied between a linear buffer and the list's pages."""
    copied = 0
    for entry in sg_entries(k, sgl, nents):
        if copied >= buflen:
            break
        length = k.memory.read_u32(entry + SG_LENGTH)
        if skip >= length:
            skip -= length
            continue
        start = page_to_virt(k, sg_page(k, entry)) + k.memory.read_u32(entry + SG_OFFSET) + skip
        n = min(length - skip, buflen - copied)
        skip = 0
        if to_buffer:
            k.memory.write(buf + copied, k.memory.read(start, n))
        else:
            k.memory.write(start, k.memory.read(buf + copied, n))
        copied += n
    return copied


@service("size_t sg_copy_from_buffer(struct scatterlist *sgl, unsigned int nents, const void *buf, size_t buflen)")
def sg_copy_from_buffer(k: Kernel, sgl: int, nents: int, buf: int, buflen: int) -> int:
    """Copy a linear buffer into the list's pages; bytes copied."""
    return copy_buffer(k, sgl, nents, buf, buflen, 0, to_buffer=False)


@service("size_t sg_copy_to_buffer(struct scatterlist *sgl, unsigned int nents, void *buf, size_t buflen)")
def sg_copy_to_buffer(k: Kernel, sgl: int, nents: int, buf: int, buflen: int) -> int:
    """Copy the list's pages into a linear buffer; bytes copied."""
    return copy_buffer(k, sgl, nents, buf, buflen, 0, to_buffer=True)


@service("size_t sg_pcopy_from_buffer(struct scatterlist *sgl, unsigned int nents, const void *buf, size_t buflen, "
         "off_t skip)")
def sg_pcopy_from_buffer(k: Kernel, sgl: int, nents: int, buf: int, buflen: int, skip: int) -> int:
    """sg_copy_from_buffer, starting ``skip`` bytes into the list."""
    return copy_buffer(k, sgl, nents, buf, buflen, skip, to_buffer=False)


@service("size_t sg_pcopy_to_buffer(struct scatterlist *sgl, unsigned int nents, void *buf, size_t buflen, off_t skip)")
def sg_pcopy_to_buffer(k: Kernel, sgl: int, nents: int, buf: int, buflen: int, skip: int) -> int:
    """sg_copy_to_buffer, starting ``skip`` bytes into the list."""
    return copy_buffer(k, sgl, nents, buf, buflen, skip, to_buffer=True)


# -- page and mapping iterators (struct sg_page_iter 16 bytes, struct sg_mapping_iter 44) ---------
SG_MITER_ATOMIC, SG_MITER_TO_SG, SG_MITER_FROM_SG = 1, 2, 4


def _page_count(k: Kernel, sg: int) -> int:
    """sg_page_count(): pages an entry touches."""
    end = k.memory.read_u32(sg + SG_OFFSET) + k.memory.read_u32(sg + SG_LENGTH)
    return (end + PAGE_SIZE - 1) // PAGE_SIZE


@service("void __sg_page_iter_start(struct sg_page_iter *piter, struct scatterlist *sglist, unsigned int nents, "
         "unsigned long pgoffset)")
def __sg_page_iter_start(k: Kernel, piter: int, sglist: int, nents: int, pgoffset: int) -> None:
    """Start a page walk over ``nents`` entries, ``pgoffset`` pages in."""
    it = Fields(k.memory, "sg_page_iter", piter)
    it["__pg_advance"], it["__nents"], it["sg"], it["sg_pgoffset"] = 0, nents, sglist, pgoffset


@service("bool __sg_page_iter_next(struct sg_page_iter *piter)")
def __sg_page_iter_next(k: Kernel, piter: int) -> int:
    """Advance to the next page of the list; false at its end."""
    it = Fields(k.memory, "sg_page_iter", piter)
    if not it["__nents"] or not it["sg"]:
        return 0
    offset_ = it["sg_pgoffset"] + it["__pg_advance"]
    it["__pg_advance"] = 1
    sg, nents = it["sg"], it["__nents"]
    for _ in range(MAX_TABLE_ENTRIES):
        count = _page_count(k, sg)
        if offset_ < count:
            break
        offset_ -= count
        sg = sg_next(k, sg)
        nents -= 1
        if not nents or not sg:
            it["sg"], it["__nents"], it["sg_pgoffset"] = sg, nents, offset_
            return 0
    it["sg"], it["__nents"], it["sg_pgoffset"] = sg, nents, offset_
    return 1


@service("void sg_miter_start(struct sg_mapping_iter *miter, struct scatterlist *sgl, unsigned int nents, "
         "unsigned int flags)")
def sg_miter_start(k: Kernel, miter: int, sgl: int, nents: int, flags: int) -> None:
    """Start a mapping walk; the direction (SG_MITER_TO_SG or _FROM_SG) is required (Linux WARNs)."""
    k.memory.write(miter, bytes(44))
    __sg_page_iter_start(k, miter + 16, sgl, nents, 0)
    if not flags & (SG_MITER_TO_SG | SG_MITER_FROM_SG):
        k.warn(f"sg_miter_start from {k.symbolizer.short(k.current_caller)}: no direction (SG_MITER_TO_SG/_FROM_SG)")
    Fields(k.memory, "sg_mapping_iter", miter)["__flags"] = flags


def _next_page(k: Kernel, miter: int) -> bool:
    """sg_miter_get_next_page(): the next page with bytes left, its offset and remainder set."""
    m = Fields(k.memory, "sg_mapping_iter", miter)
    if m["__remaining"]:
        return True
    if not __sg_page_iter_next(k, miter + 16):
        return False
    sg = m["piter.sg"]
    sg_offset, sg_length = k.memory.read_u32(sg + SG_OFFSET), k.memory.read_u32(sg + SG_LENGTH)
    offset_ = 0 if m["piter.sg_pgoffset"] else sg_offset
    pgoffset = m["piter.sg_pgoffset"] + (offset_ >> 12)
    offset_ &= PAGE_SIZE - 1
    m["piter.sg_pgoffset"], m["__offset"] = pgoffset, offset_
    m["__remaining"] = min(sg_offset + sg_length - (pgoffset << 12) - offset_, PAGE_SIZE - offset_)
    return True


@service("void sg_miter_stop(struct sg_mapping_iter *miter)")
def sg_miter_stop(k: Kernel, miter: int) -> None:
    """Account what was consumed of the mapped piece and unmap it."""
    m = Fields(k.memory, "sg_mapping_iter", miter)
    if m["consumed"] > m["length"]:
        k.warn(f"sg_miter_stop from {k.symbolizer.short(k.current_caller)}: consumed {m['consumed']} of {m['length']}")
    if m["addr"]:
        m["__offset"] = m["__offset"] + m["consumed"]
        m["__remaining"] = max(0, m["__remaining"] - m["consumed"])
        m["page"], m["addr"], m["length"], m["consumed"] = 0, 0, 0, 0


@service("bool sg_miter_next(struct sg_mapping_iter *miter)")
def sg_miter_next(k: Kernel, miter: int) -> int:
    """Map the next piece (at most to the end of its page): ``addr``, ``length``; false at the end."""
    sg_miter_stop(k, miter)
    if not _next_page(k, miter):
        return 0
    m = Fields(k.memory, "sg_mapping_iter", miter)
    page = (k.memory.read_u32(m["piter.sg"] + SG_PAGE_LINK) & ~3) + m["piter.sg_pgoffset"] * PAGE_STRUCT_SIZE
    m["page"] = page
    m["consumed"] = m["length"] = m["__remaining"]
    m["addr"] = page_to_virt(k, page) + m["__offset"]  # kmap of a lowmem page: its address
    return 1


@service("bool sg_miter_skip(struct sg_mapping_iter *miter, off_t offset)")
def sg_miter_skip(k: Kernel, miter: int, offset_: int) -> int:
    """Skip ``offset`` bytes; false if the list ends first."""
    sg_miter_stop(k, miter)
    m = Fields(k.memory, "sg_mapping_iter", miter)
    while offset_ > 0:
        if not _next_page(k, miter):
            return 0
        consumed = min(offset_, m["__remaining"])
        m["__offset"] = m["__offset"] + consumed
        m["__remaining"] = m["__remaining"] - consumed
        offset_ -= consumed
    return 1
