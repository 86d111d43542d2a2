"""Program headers (PT_LOAD, PT_DYNAMIC, ...) and their checks."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import pairwise

from . import constants as c
from .errors import Refuser

_PHDR = struct.Struct("<8I")


@dataclass(frozen=True, slots=True)
class Segment:
    """One program header."""

    p_type: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int
    p_align: int


def read_segments(data: bytes, phoff: int, phnum: int, phentsize: int, refuse: Refuser) -> list[Segment]:
    """Parse and check the program header table (may be empty)."""
    if phnum == 0:
        return []
    if phentsize != c.PHDR_SIZE:
        refuse("e_phentsize", f"program header size {phentsize}, expected {c.PHDR_SIZE}")
    if phoff + phnum * c.PHDR_SIZE > len(data):
        refuse("e_phoff", f"program header table at {phoff:#x} ({phnum} entries) runs past the end of the file")
    segments = [Segment(*_PHDR.unpack_from(data, phoff + i * c.PHDR_SIZE)) for i in range(phnum)]
    loads = []
    for i, seg in enumerate(segments):
        if seg.p_type != c.PT_LOAD:
            continue
        if seg.p_filesz > seg.p_memsz:
            refuse("segment-size", f"PT_LOAD segment {i} has p_filesz {seg.p_filesz:#x} > p_memsz {seg.p_memsz:#x}")
        if seg.p_offset + seg.p_filesz > len(data):
            refuse("segment-bounds", f"PT_LOAD segment {i} spans {seg.p_offset:#x}+{seg.p_filesz:#x}, past the end of the file")
        if seg.p_memsz > c.MAX_IMAGE or seg.p_vaddr + seg.p_memsz > 0xFFFFFFFF:
            refuse("segment-size", f"PT_LOAD segment {i} of {seg.p_memsz:#x} bytes at {seg.p_vaddr:#x} cannot be placed")
        loads.append((seg.p_vaddr, seg.p_vaddr + seg.p_memsz, i))
    loads.sort()
    for (_, end, first), (start, _, second) in pairwise(loads):
        if start < end:
            refuse("segment-overlap", f"PT_LOAD segments {first} and {second} overlap at {start:#x}")
    if loads and loads[-1][1] - loads[0][0] > c.MAX_IMAGE:
        refuse("segment-size", "PT_LOAD segments span more than the module area")
    return segments
