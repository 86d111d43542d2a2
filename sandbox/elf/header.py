"""The ELF file header: decoding and checks 1-7 (and G6) of ELF-CHECKLIST.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import constants as c
from .errors import Refuser

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
assert _EHDR.size == c.EHDR_SIZE

ACCEPTED_TYPES = (c.ET_REL, c.ET_EXEC, c.ET_DYN)


@dataclass(frozen=True, slots=True)
class ElfHeader:
    """The fields of ``Elf32_Ehdr`` after ``e_ident``, spelled as the spec spells them."""

    e_type: int
    e_machine: int
    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


def read_header(data: bytes, refuse: Refuser) -> ElfHeader:
    """Decode and check the file header; the section table must fit in the file."""
    size = len(data)
    if size < c.EHDR_SIZE:
        refuse("file-size", f"{size} bytes is shorter than an ELF header ({c.EHDR_SIZE} bytes)")
    ident, *fields = _EHDR.unpack_from(data, 0)
    if ident[:4] != c.ELFMAG:
        refuse("magic", f"not an ELF file (starts with {ident[:4]!r})")
    if ident[c.EI_CLASS] != c.ELFCLASS32:
        refuse("ei-class", f"EI_CLASS is {ident[c.EI_CLASS]}, only ELFCLASS32 (1) is supported")
    if ident[c.EI_DATA] != c.ELFDATA2LSB:
        refuse("ei-data", f"EI_DATA is {ident[c.EI_DATA]}, only little-endian ELFDATA2LSB (1) is supported")
    header = ElfHeader(*fields)
    if ident[c.EI_VERSION] != c.EV_CURRENT or header.e_version != c.EV_CURRENT:
        refuse("ei-version", f"ELF version {ident[c.EI_VERSION]}/{header.e_version} is not EV_CURRENT (1)")
    if header.e_type not in ACCEPTED_TYPES:
        name = c.ET_NAMES.get(header.e_type, "unknown")
        refuse("e_type", f"e_type {header.e_type} ({name}) is not a module (ET_REL, ET_DYN or ET_EXEC)")
    if header.e_machine != c.EM_386:
        refuse("e_machine", f"e_machine {header.e_machine} is not EM_386 (3)")
    _check_section_table_extent(header, size, refuse)
    return header


def _check_section_table_extent(h: ElfHeader, size: int, refuse: Refuser) -> None:
    if h.e_shnum == 0:
        if h.e_shoff:
            # e_shnum 0 with a table present means extended numbering (the count
            # lives in section 0's sh_size), used only past 65279 sections.
            refuse("e_shnum", "extended section numbering (e_shnum 0, count in section 0) is not supported")
        if h.e_type == c.ET_REL:
            refuse("e_shnum", "a relocatable object without section headers")
        return  # a linked file may drop its section headers: segments alone describe it
    if h.e_shentsize != c.SHDR_SIZE:
        refuse("e_shentsize", f"section header size is {h.e_shentsize}, expected {c.SHDR_SIZE}")
    # Python ints do not wrap, so the sum is the true extent, not a 32-bit overflow.
    end = h.e_shoff + h.e_shnum * c.SHDR_SIZE
    if h.e_shoff >= size or end > size:
        refuse("e_shoff", f"section header table at {h.e_shoff:#x} ({h.e_shnum} entries, ends at {end:#x}) "
               f"runs past the end of the file ({size:#x} bytes)")
