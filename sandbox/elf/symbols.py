"""Symbol tables as parallel arrays, with their string table checked."""

from __future__ import annotations

from array import array

from . import constants as c
from .errors import Refuser
from .sections import Section

_SPECIAL_SHNDX = (c.SHN_UNDEF, c.SHN_ABS, c.SHN_COMMON)


class SymbolTable:
    """One SHT_SYMTAB or SHT_DYNSYM, decoded into per-field sequences.

    Indexed by symbol index: ``names[i]``, ``st_value[i]``, ``st_size[i]``,
    ``st_info[i]``, ``st_other[i]``, ``st_shndx[i]``.
    """

    __slots__ = ("count", "names", "section", "st_info", "st_name", "st_other", "st_shndx", "st_size", "st_value")

    def __init__(self, section: Section, data: bytes, sections: list[Section], refuse: Refuser) -> None:
        self.section = section
        if section.sh_entsize != c.SYM_SIZE:
            refuse("sh_entsize", f"symbol table {section.label()} has entry size {section.sh_entsize}, expected {c.SYM_SIZE}")
        if section.sh_size % c.SYM_SIZE:
            refuse("sh_entsize", f"symbol table {section.label()} size {section.sh_size:#x} is not a multiple of {c.SYM_SIZE}")
        link = section.sh_link
        if link == 0 or link >= len(sections):
            refuse("symtab-link", f"symbol table {section.label()} links to string table [{link}], which does not exist")
        strtab = sections[link]
        if strtab.sh_type != c.SHT_STRTAB:
            refuse("symtab-link", f"symbol table {section.label()} links to {strtab.label()}, which is not SHT_STRTAB")
        strings = data[strtab.sh_offset : strtab.sh_offset + strtab.sh_size]
        if not strings or strings[0] != 0 or strings[-1] != 0:
            what = "empty" if not strings else "missing its leading NUL" if strings[0] else "not NUL-terminated"
            refuse("strtab", f"string table {strtab.label()} of {section.label()} is {what}")
        words = array("I")
        words.frombytes(data[section.sh_offset : section.sh_offset + section.sh_size])
        self.count = len(words) // 4
        self.st_name = words[0::4]
        self.st_value = words[1::4]
        self.st_size = words[2::4]
        packed = words[3::4]
        self.st_info = [w & 0xFF for w in packed]
        self.st_other = [(w >> 8) & 0xFF for w in packed]
        self.st_shndx = [w >> 16 for w in packed]
        limit = len(strings)
        cache: dict[int, str] = {0: ""}
        names = []
        for index, offset in enumerate(self.st_name):
            name = cache.get(offset)
            if name is None:
                if offset >= limit:
                    refuse("st_name", f"symbol {index} in {section.label()} has name offset {offset:#x} "
                           f"past its string table ({limit} bytes)")
                name = strings[offset : strings.index(b"\0", offset)].decode("utf-8", "replace")
                cache[offset] = name
            names.append(name)
        self.names = names
        section_count = len(sections)
        for index, shndx in enumerate(self.st_shndx):
            if shndx >= section_count and shndx not in _SPECIAL_SHNDX:
                if shndx == c.SHN_XINDEX:
                    refuse("shn-xindex", f"symbol {index} ({names[index]}) uses SHN_XINDEX, which is not supported")
                refuse("st_shndx", f"symbol {index} ({names[index]}) refers to section {shndx:#x}, which does not exist")

    def bind(self, index: int) -> int:
        """STB_* of symbol ``index``."""
        return self.st_info[index] >> 4

    def type(self, index: int) -> int:
        """STT_* of symbol ``index``."""
        return self.st_info[index] & 0xF

    def index_of(self, name: str) -> int | None:
        """Index of the first non-local symbol named ``name`` (else any), or None."""
        found = None
        for i, n in enumerate(self.names):
            if n == name:
                if self.st_info[i] >> 4 != c.STB_LOCAL:
                    return i
                found = i if found is None else found
        return found
