"""Section headers: decoding, names, and the section-table checks (8-13, G4, G5)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import constants as c
from .errors import Refuser
from .strings import NamesTooLong, names_at

_SHDR = struct.Struct("<10I")
assert _SHDR.size == c.SHDR_SIZE

# Sections with no bytes in the file: their sh_offset/sh_size describe nothing to read.
_NO_FILE_BYTES = (c.SHT_NULL, c.SHT_NOBITS)


@dataclass(frozen=True, slots=True)
class Section:
    """One section header, with its resolved name. ``index`` is its place in the table."""

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
    raw = list(_SHDR.iter_unpack(data[shoff : shoff + shnum * c.SHDR_SIZE]))
    null = raw[0]
    if null[1] != c.SHT_NULL or null[3] or null[5]:
        refuse("section-0", f"section 0 must be SHT_NULL with zero size and address "
               f"(type {null[1]}, address {null[3]:#x}, size {null[5]:#x})")
    names = _section_names(data, raw, shstrndx, refuse)
    sections = [Section(index, name, *fields[1:]) for index, (name, fields) in enumerate(zip(names, raw))]
    size = len(data)
    total = 0
    for s in sections:
        if s.has_file_bytes and s.sh_offset + s.sh_size > size:
            refuse("section-bounds", f"section {s.label()} spans {s.sh_offset:#x}+{s.sh_size:#x}, "
                   f"past the end of the file ({size:#x} bytes)")
        align = s.sh_addralign
        if align & (align - 1):
            refuse("sh_addralign", f"section {s.label()} alignment {align} is neither 0 nor a power of two")
        if s.sh_flags & c.SHF_ALLOC:
            if s.sh_size > c.MAX_IMAGE:
                refuse("section-size", f"section {s.label()} is {s.sh_size:#x} bytes, larger than the module area "
                       f"({c.MAX_IMAGE:#x})")
            total += s.sh_size
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
