"""Walking scatterlists as crypto/scatterwalk.c does (Linux 6.1 i386).

``struct scatterlist`` and its page links are the scatterlist and page
services' (``kernel_stubs/linux/scatterlist.py``, ``pages.py``): page_link is
a struct page of ``mem_map`` with bit 0 SG_CHAIN and bit 1 SG_END; every page
is lowmem, so a page's address is arithmetic. The crypto API maps one page at a time, so
every walk here is cut at page boundaries as Linux's ``scatterwalk_pagelen``
cuts it: a module sees the same step sizes it would see on Linux.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .. import scatterlist
from ..dma import SG_END, SG_SIZE
from ..pages import PAGE_SIZE, page_to_virt, virt_to_page

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# More entries than any list a module can build in the emulated memory: a chain that goes round.
MAX_ENTRIES = 1 << 13


def sg_next(k: Kernel, sg: int) -> int:
    """sg_next(): the next entry (following a chain link), 0 after the last."""
    return scatterlist.sg_next(k, sg)


def sg_virt(k: Kernel, sg: int) -> int:
    """sg_virt(): the address of the entry's first byte."""
    return page_to_virt(k, k.memory.read_u32(sg) & ~3) + k.memory.read_u32(sg + 4)


def sg_length(k: Kernel, sg: int) -> int:
    """The entry's length."""
    return k.memory.read_u32(sg + 8)


def chunks(k: Kernel, sg: int, nbytes: int, skip: int = 0) -> Iterator[tuple[int, int]]:
    """(address, length) pieces of ``nbytes`` of the list from byte ``skip``, each within one page."""
    visited = 0
    while nbytes > 0:
        visited += 1
        if visited > MAX_ENTRIES:
            raise GuestFault("bad-scatterlist", f"scatterlist at {sg:#x} goes round (over {MAX_ENTRIES} steps)",
                             address=sg)
        if not sg:
            raise GuestFault("bad-scatterlist", f"scatterlist ends {nbytes} bytes short", address=0)
        length = sg_length(k, sg)
        if skip >= length:
            skip -= length
            sg = sg_next(k, sg)
            continue
        address = sg_virt(k, sg) + skip
        step = min(length - skip, nbytes, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
        yield address, step
        nbytes -= step
        skip += step


def copy(k: Kernel, sg: int, start: int, data: bytes | None = None, nbytes: int = 0) -> bytes:
    """Read ``nbytes`` from the list at ``start``, or write ``data`` there; the bytes read."""
    out = bytearray()
    if data is None:
        for address, step in chunks(k, sg, nbytes, start):
            out += k.memory.read(address, step)
        return bytes(out)
    done = 0
    for address, step in chunks(k, sg, len(data), start):
        k.memory.write(address, data[done:done + step])
        done += step
    return b""


def build(k: Kernel, buffers: list[tuple[int, int]], table: int) -> int:
    """Fill the scatterlist at ``table`` (room for len(buffers) entries) with (address, length) buffers."""
    for i, (address, length) in enumerate(buffers):
        entry = table + i * SG_SIZE
        end = SG_END if i == len(buffers) - 1 else 0
        k.memory.write_u32(entry, virt_to_page(k, address, "a crypto helper's scatterlist") | end)
        k.memory.write_u32(entry + 4, address & (PAGE_SIZE - 1))
        k.memory.write_u32(entry + 8, length)
        k.memory.write_u32(entry + 12, 0)
        k.memory.write_u32(entry + 16, 0)
    return table


@service("void scatterwalk_map_and_copy(void *buf, struct scatterlist *sg, unsigned int start, "
         "unsigned int nbytes, int out)")
def scatterwalk_map_and_copy(k: Kernel, buf: int, sg: int, start: int, nbytes: int, out: int) -> None:
    """Copy ``nbytes`` between a linear buffer and the list at byte ``start`` (``out``: to the list)."""
    if not nbytes:
        return
    if out:
        copy(k, sg, start, k.memory.read(buf, nbytes))
    else:
        k.memory.write(buf, copy(k, sg, start, nbytes=nbytes))


@service("struct scatterlist *scatterwalk_ffwd(struct scatterlist dst[2], struct scatterlist *src, unsigned int len)")
def scatterwalk_ffwd(k: Kernel, dst: int, src: int, length: int) -> int:
    """The list ``len`` bytes into ``src``: ``src`` itself for 0, else a two-entry head in ``dst``
    (the rest of the entry, chained to the entries after it)."""
    if not length:
        return src
    visited = 0
    while sg_length(k, src) <= length:
        visited += 1
        if visited > MAX_ENTRIES:
            raise GuestFault("bad-scatterlist", f"scatterwalk_ffwd: the list at {src:#x} goes round", address=src)
        length -= sg_length(k, src)
        src = sg_next(k, src)
        if not src:
            raise GuestFault("bad-scatterlist", "scatterwalk_ffwd past the end of the list", address=dst)
    link = k.memory.read_u32(src) & ~3
    k.memory.write(dst, bytes(2 * SG_SIZE))
    k.memory.write_u32(dst + SG_SIZE, SG_END)  # sg_init_table(dst, 2)
    k.memory.write_u32(dst, link)
    k.memory.write_u32(dst + 4, k.memory.read_u32(src + 4) + length)
    k.memory.write_u32(dst + 8, sg_length(k, src) - length)
    rest = sg_next(k, src)
    if rest:  # scatterwalk_crypto_chain: the second slot becomes a chain link
        k.memory.write_u32(dst + SG_SIZE, rest | 1)  # SG_CHAIN
    else:
        k.memory.write_u32(dst, link | SG_END)
    return dst


@service("void memcpy_sglist(struct scatterlist *dst, struct scatterlist *src, unsigned int nbytes)")
def memcpy_sglist(k: Kernel, dst: int, src: int, nbytes: int) -> None:
    """Copy ``nbytes`` from one scatterlist to another (page by page, both walked from their start)."""
    if nbytes:
        copy(k, dst, 0, copy(k, src, 0, nbytes=nbytes))
