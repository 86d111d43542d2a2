"""Program headers (PT_LOAD, PT_DYNAMIC, ...) and their checks.

A linked module (shared object, executable) is mapped by its PT_LOAD
segments, so they must be readable from the file, fit the module area, keep
the offset/address congruence the ELF spec requires, and not overlap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import pairwise

from . import constants as c
from .errors import Refuser

_PHDR = struct.Struct("<8I")
assert _PHDR.size == c.PHDR_SIZE


@dataclass(frozen=True, slots=True)
class Segment:
    """One program header, fields as the spec spells them."""

    p_type: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int
    p_align: int


def read_segments(data: bytes, phoff: int, phnum: int, phentsize: int, refuse: Refuser) -> list[Segment]:
    """Decode and check the program header table (empty when e_phnum is 0)."""
    if phnum == 0:
        return []
    size = len(data)
    if phentsize != c.PHDR_SIZE:
        refuse("e_phentsize", f"program header size is {phentsize}, expected {c.PHDR_SIZE}")
    end = phoff + phnum * c.PHDR_SIZE
    if phoff >= size or end > size:
        refuse("e_phoff", f"program header table at {phoff:#x} ({phnum} entries, ends at {end:#x}) "
               f"runs past the end of the file ({size:#x} bytes)")
    segments = [Segment(*fields) for fields in _PHDR.iter_unpack(data[phoff:end])]
    loads: list[tuple[int, int, int]] = []
    for i, seg in enumerate(segments):
        name = f"{c.PT_NAMES.get(seg.p_type, hex(seg.p_type))} segment {i}"
        if seg.p_offset + seg.p_filesz > size:
            refuse("segment-bounds", f"{name} spans {seg.p_offset:#x}+{seg.p_filesz:#x}, past the end of the file ({size:#x} bytes)")
        if seg.p_type != c.PT_LOAD:
            continue
        if seg.p_filesz > seg.p_memsz:
            refuse("segment-size", f"{name} has p_filesz {seg.p_filesz:#x} > p_memsz {seg.p_memsz:#x}")
        if seg.p_memsz > c.MAX_IMAGE or seg.p_vaddr + seg.p_memsz > 1 << 32:
            refuse("segment-size", f"{name} of {seg.p_memsz:#x} bytes at {seg.p_vaddr:#x} cannot be placed "
                   f"(module area {c.MAX_IMAGE:#x} bytes, address space 4 GiB)")
        align = seg.p_align
        if align & (align - 1) or (align > 1 and (seg.p_vaddr - seg.p_offset) % align):
            refuse("segment-align", f"{name} p_align {align:#x}: not a power of two, or p_vaddr {seg.p_vaddr:#x} "
                   f"and p_offset {seg.p_offset:#x} differ modulo it")
        if seg.p_memsz:
            loads.append((seg.p_vaddr, seg.p_vaddr + seg.p_memsz, i))
    loads.sort()
    for (_, end_first, first), (start, _, second) in pairwise(loads):
        if start < end_first:
            refuse("segment-overlap", f"PT_LOAD segments {min(first, second)} and {max(first, second)} overlap at {start:#x}")
    if loads and max(e for _, e, _ in loads) - loads[0][0] > c.MAX_IMAGE:
        refuse("segment-size", f"PT_LOAD segments span {loads[0][0]:#x}..{max(e for _, e, _ in loads):#x}, "
               f"more than the module area ({c.MAX_IMAGE:#x} bytes)")
    return segments
