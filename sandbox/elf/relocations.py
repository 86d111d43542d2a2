"""Relocation tables (SHT_REL / SHT_RELA) as parallel arrays."""

from __future__ import annotations

from array import array

from . import constants as c
from .errors import Refuser
from .sections import Section
from .symbols import SymbolTable


class RelocTable:
    """One relocation section: ``r_offset``, ``r_type``, ``r_sym`` (and ``r_addend`` for RELA).

    ``target`` is the section it patches (None for a dynamic table whose
    sh_info is 0); ``target_is_alloc`` says whether that section is loaded at
    all (relocations of debug sections are skipped by the linker).
    """

    __slots__ = ("count", "is_rela", "r_addend", "r_offset", "r_sym", "r_type", "section", "symtab", "target", "target_is_alloc")

    def __init__(
        self,
        section: Section,
        data: bytes,
        sections: list[Section],
        symtabs: dict[int, SymbolTable],
        e_type: int,
        refuse: Refuser,
    ) -> None:
        self.section = section
        self.is_rela = section.sh_type == c.SHT_RELA
        entsize = c.RELA_SIZE if self.is_rela else c.REL_SIZE
        if section.sh_entsize != entsize or section.sh_size % entsize:
            refuse("sh_entsize", f"relocation section {section.label()} has entry size {section.sh_entsize} "
                   f"and size {section.sh_size:#x}; expected multiples of {entsize}")
        symtab = symtabs.get(section.sh_link)
        if symtab is None:
            refuse("reloc-link", f"relocation section {section.label()} links to section [{section.sh_link}], which is not a symbol table")
        self.symtab = symtab
        info = section.sh_info
        self.target: Section | None = None
        if info:
            if info >= len(sections):
                refuse("reloc-info", f"relocation section {section.label()} targets section [{info}], which does not exist")
            self.target = sections[info]
        elif e_type == c.ET_REL:
            refuse("reloc-info", f"relocation section {section.label()} names no target section")
        self.target_is_alloc = self.target is not None and self.target.is_alloc
        words = array("I")
        words.frombytes(data[section.sh_offset : section.sh_offset + section.sh_size])
        stride = 3 if self.is_rela else 2
        self.r_offset = words[0::stride]
        infos = words[1::stride]
        self.r_type = [i & 0xFF for i in infos]
        self.r_sym = [i >> 8 for i in infos]
        self.count = len(self.r_offset)
        if self.is_rela:
            addends = array("i")
            addends.frombytes(words[2::3].tobytes())
            self.r_addend: array | None = addends
        else:
            self.r_addend = None
        if self.count and max(self.r_sym) >= symtab.count:
            bad = next(k for k, s in enumerate(self.r_sym) if s >= symtab.count)
            refuse("reloc-symbol", f"{section.label()} entry {bad} refers to symbol {self.r_sym[bad]}, "
                   f"but {symtab.section.label()} has {symtab.count}")
        if e_type == c.ET_REL and self.target is not None and self.target_is_alloc and self.count:
            limit = self.target.sh_size
            if max(self.r_offset) >= limit:
                bad = next(k for k, o in enumerate(self.r_offset) if o >= limit)
                refuse("reloc-offset", f"{section.label()} entry {bad} patches offset {self.r_offset[bad]:#x}, "
                       f"past the end of {self.target.label()} ({limit:#x} bytes)")
