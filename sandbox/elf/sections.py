"""Section headers: decoding, names, and the section-table checks (8-13, G4, G5)."""

from __future__ import annotations

import struct
from itertools import compress, repeat
from operator import add, and_, itemgetter, sub
from typing import NamedTuple

from . import constants as c
from .arrays import le_array
from .errors import Refuser
from .strings import NamesTooLong, names_at

_SHDR = struct.Struct("<10I")
assert _SHDR.size == c.SHDR_SIZE

# Sections with no bytes in the file: their sh_offset/sh_size describe nothing to read.
_NO_FILE_BYTES = (c.SHT_NULL, c.SHT_NOBITS)


class Section(NamedTuple):
    """One section header, with its resolved name. ``index`` is its place in the table.

    A named tuple rather than a dataclass: a corpus load builds ~150,000 of
    them, and tuples are built in C (``_make``) and read by index in C.
    """

    index: int
    name: str
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int

    @property
    def is_alloc(self) -> bool:
        """Occupies memory at run time (SHF_ALLOC)."""
        return bool(self.sh_flags & c.SHF_ALLOC)

    @property
    def is_write(self) -> bool:
        """Writable at run time (SHF_WRITE)."""
        return bool(self.sh_flags & c.SHF_WRITE)

    @property
    def is_exec(self) -> bool:
        """Holds instructions (SHF_EXECINSTR)."""
        return bool(self.sh_flags & c.SHF_EXECINSTR)

    @property
    def is_nobits(self) -> bool:
        """Has no bytes in the file (SHT_NOBITS, as ``.bss``)."""
        return self.sh_type == c.SHT_NOBITS

    @property
    def has_file_bytes(self) -> bool:
        """Whether sh_offset/sh_size name bytes of the file (not NULL, not NOBITS)."""
        return self.sh_type not in _NO_FILE_BYTES

    def label(self) -> str:
        """``[3] .text``: how messages name a section."""
        return f"[{self.index}] {self.name or '<unnamed>'}"


def read_sections(data: bytes, shoff: int, shnum: int, shstrndx: int, refuse: Refuser) -> list[Section]:
    """Decode and check the section header table (whose extent the header check has vouched for)."""
    table = data[shoff : shoff + shnum * c.SHDR_SIZE]
    raw = list(_SHDR.iter_unpack(table))
    null = raw[0]
    if null[1] != c.SHT_NULL or null[3] or null[5]:
        refuse("section-0", f"section 0 must be SHT_NULL with zero size and address "
               f"(type {null[1]}, address {null[3]:#x}, size {null[5]:#x})")
    names = _section_names(data, raw, shstrndx, refuse)
    # Each row: (index, name) + the header fields after sh_name; built in C.
    sections = list(map(Section._make, map(add, zip(range(shnum), names), map(itemgetter(slice(1, None)), raw))))
    # The checks run over whole columns; Python looks at single sections
    # only to name the first offender.
    words = le_array("I", table)
    types, flags, offsets, sizes, aligns = words[1::10], words[2::10], words[4::10], words[5::10], words[8::10]
    with_bytes = [t not in _NO_FILE_BYTES for t in types]
    size = len(data)
    if max(compress(map(add, offsets, sizes), with_bytes), default=0) > size:
        s = next(s for s in sections if s.has_file_bytes and s.sh_offset + s.sh_size > size)
        refuse("section-bounds", f"section {s.label()} spans {s.sh_offset:#x}+{s.sh_size:#x}, "
               f"past the end of the file ({size:#x} bytes)")
    if any(map(and_, aligns, map(sub, aligns, repeat(1)))):
        s = next(s for s in sections if s.sh_addralign & (s.sh_addralign - 1))
        refuse("sh_addralign", f"section {s.label()} alignment {s.sh_addralign} is neither 0 nor a power of two")
    allocated = list(compress(sizes, map(and_, flags, repeat(c.SHF_ALLOC))))
    if max(allocated, default=0) > c.MAX_IMAGE:
        s = next(s for s in sections if s.is_alloc and s.sh_size > c.MAX_IMAGE)
        refuse("section-size", f"section {s.label()} is {s.sh_size:#x} bytes, larger than the module area "
               f"({c.MAX_IMAGE:#x})")
    total = sum(allocated)
    if total > c.MAX_IMAGE:
        refuse("section-size", f"allocated sections total {total:#x} bytes, larger than the module area ({c.MAX_IMAGE:#x})")
    return sections


def _section_names(data: bytes, raw: list[tuple[int, ...]], shstrndx: int, refuse: Refuser) -> list[str]:
    """Checks 10-13 and G4 on the section-name table, then every section's name."""
    shnum = len(raw)
    if not 0 < shstrndx < shnum:
        refuse("e_shstrndx", f"section-name table index {shstrndx} is not within 1..{shnum - 1}")
    _, sh_type, _, _, offset, length, *_ = raw[shstrndx]
    where = f"section-name table [{shstrndx}]"
    if sh_type != c.SHT_STRTAB:
        refuse("shstrtab", f"{where} is not SHT_STRTAB (type {sh_type})")
    if offset + length > len(data):
        refuse("section-bounds", f"{where} spans {offset:#x}+{length:#x}, past the end of the file ({len(data):#x} bytes)")
    if length == 0:
        refuse("shstrtab", f"{where} is empty")
    strings = data[offset : offset + length]
    if strings[-1] != 0:
        refuse("shstrtab", f"{where} does not end in NUL")
    try:
        names, bad = names_at(strings, [fields[0] for fields in raw])
    except NamesTooLong as error:
        refuse("shstrtab", f"section names at mid-string offsets of the {where} total more than "
               f"{error.budget} characters (at section [{error.position}])")
    if bad is not None:
        refuse("sh_name", f"section [{bad}] name offset {raw[bad][0]:#x} is past the end of the {where} ({length} bytes)")
    return names
