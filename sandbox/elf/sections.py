"""Section headers: parsing and the section-table checks."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import constants as c
from .errors import Refuser

_SHDR = struct.Struct("<10I")


@dataclass(frozen=True, slots=True)
class Section:
    """One section header, with its resolved name."""

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
        """Occupies memory at run time."""
        return bool(self.sh_flags & c.SHF_ALLOC)

    @property
    def is_write(self) -> bool:
        """Writable at run time."""
        return bool(self.sh_flags & c.SHF_WRITE)

    @property
    def is_exec(self) -> bool:
        """Holds instructions."""
        return bool(self.sh_flags & c.SHF_EXECINSTR)

    @property
    def is_nobits(self) -> bool:
        """Has no bytes in the file (.bss)."""
        return self.sh_type == c.SHT_NOBITS

    def label(self) -> str:
        """``[3] .text`` for messages."""
        return f"[{self.index}] {self.name or '<unnamed>'}"


def read_section_headers(data: bytes, shoff: int, shnum: int, shstrndx: int, refuse: Refuser) -> list[Section]:
    """Parse and check the section header table and the section names."""
    raw = [_SHDR.unpack_from(data, shoff + i * c.SHDR_SIZE) for i in range(shnum)]
    if shnum == 0:
        return []
    first = raw[0]
    if first[1] != c.SHT_NULL or first[5] or first[3]:
        refuse("section-0", "section 0 must be SHT_NULL with zero size and address")
    size = len(data)
    for index, h in enumerate(raw):
        sh_type, sh_offset, sh_size, sh_align = h[1], h[4], h[5], h[8]
        if sh_type not in (c.SHT_NULL, c.SHT_NOBITS) and sh_offset + sh_size > size:
            refuse("section-bounds", f"section [{index}] spans {sh_offset:#x}+{sh_size:#x}, past the end of the file ({size:#x} bytes)")
        if sh_align and sh_align & (sh_align - 1):
            refuse("sh_addralign", f"section [{index}] alignment {sh_align} is not a power of two")
        if h[2] & c.SHF_ALLOC and sh_size > c.MAX_IMAGE:
            refuse("section-size", f"section [{index}] is {sh_size:#x} bytes, larger than the module area")
    if not 0 < shstrndx < shnum:
        refuse("e_shstrndx", f"section-name table index {shstrndx} is not within 1..{shnum - 1}")
    names_header = raw[shstrndx]
    if names_header[1] != c.SHT_STRTAB:
        refuse("shstrtab", f"section-name table [{shstrndx}] is not SHT_STRTAB (type {names_header[1]})")
    names = data[names_header[4] : names_header[4] + names_header[5]]
    if not names:
        refuse("shstrtab", f"section-name table [{shstrndx}] is empty")
    if names[-1] != 0:
        refuse("shstrtab", f"section-name table [{shstrndx}] does not end in NUL")
    sections = []
    for index, h in enumerate(raw):
        if h[0] >= len(names):
            refuse("sh_name", f"section [{index}] name offset {h[0]:#x} is past the section-name table ({len(names)} bytes)")
        end = names.index(b"\0", h[0])
        sections.append(Section(index, names[h[0] : end].decode("utf-8", "replace"), *h[1:]))
    total = sum(s.sh_size for s in sections if s.is_alloc)
    if total > c.MAX_IMAGE:
        refuse("section-size", f"allocated sections total {total:#x} bytes, larger than the module area")
    return sections
