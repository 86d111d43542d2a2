"""Relocation tables (SHT_REL / SHT_RELA) as parallel arrays, with checks G2, G3, G5.

Tables are never turned into one object per relocation: a Linux driver can
carry tens of thousands of them. Each field is an array cut out of the raw
section bytes by strided slicing, so building a table runs in C.
"""

from __future__ import annotations

from array import array

from . import constants as c
from .arrays import BIG_ENDIAN_HOST, first_at_or_above, le_array
from .errors import Refuser
from .sections import Section
from .symbols import SymbolTable


class RelocTable:
    """One relocation section, decoded.

    ``r_offset``, ``r_sym`` (``array('I')``), ``r_type`` (``array('B')``) and,
    for RELA only, ``r_addend`` (``array('i')``, else None) are indexed by
    entry. ``section`` is the REL/RELA section itself, ``symtab`` the table its
    sh_link names, ``target`` the section its sh_info names (None when sh_info
    is 0, as in the dynamic tables of a shared object). ``target_is_alloc``
    is False for relocations of sections that are not loaded (debug info):
    the linker skips those, as Linux does (their offsets are checked all the same).

    Parse-time checks: entry size (G5), sh_info in range (G3), every symbol
    index inside the linked table and, for objects and ``ld -q`` tables,
    every r_offset inside the target section (G2). Whether the field's
    width fits and whether the type is known are the linker's checks.
    """

    __slots__ = ("_max_offset", "_r_sym", "_types", "count", "is_rela", "r_addend", "r_info", "r_offset", "r_type",
                 "section", "symtab", "target", "target_is_alloc")

    def __init__(
        self,
        section: Section,
        data: bytes,
        sections: list[Section],
        symtab: SymbolTable,
        e_type: int,
        refuse: Refuser,
    ) -> None:
        self.section = section
        self.symtab = symtab
        self.is_rela = section.sh_type == c.SHT_RELA
        entsize = c.RELA_SIZE if self.is_rela else c.REL_SIZE
        if section.sh_entsize != entsize:
            refuse("sh_entsize", f"relocation section {section.label()} has entry size {section.sh_entsize}, expected {entsize}")
        if section.sh_size % entsize:
            refuse("sh_entsize", f"relocation section {section.label()} size {section.sh_size:#x} "
                   f"is not a multiple of its entry size {entsize}")
        self.target = _target(section, sections, e_type, refuse)
        self.target_is_alloc = self.target is not None and self.target.is_alloc
        raw = data[section.sh_offset : section.sh_offset + section.sh_size]
        words = le_array("I", raw)
        stride = entsize // 4
        self.r_offset = words[0::stride]
        self.r_info = words[1::stride]
        self.count = len(self.r_offset)
        # r_info = sym << 8 | type, little-endian: its low byte is the type.
        self.r_type = array("B", raw[4::entsize])
        self._r_sym: array | None = None
        self._types: frozenset[int] | None = None
        self._max_offset: int | None = None
        self.r_addend: array | None = le_array("i", raw)[2::3] if self.is_rela else None
        if self.count:
            self._check_symbols(refuse)
            self._check_offsets(e_type, refuse)

    @property
    def types(self) -> frozenset[int]:
        """The relocation types present in the table (built once, in C)."""
        if self._types is None:
            self._types = frozenset(self.r_type)
        return self._types

    @property
    def max_offset(self) -> int:
        """The largest r_offset (-1 for an empty table)."""
        if self._max_offset is None:
            self._max_offset = max(self.r_offset, default=-1)
        return self._max_offset

    @property
    def r_sym(self) -> array:
        """Symbol index of each entry (``array('I')``), decoded on first use.

        The linker's common path hands the raw entries to the kernel's
        relocation loop and never needs this column.
        """
        if self._r_sym is None:
            # The three high bytes of each r_info, copied into place rather than
            # shifted entry by entry in Python.
            info = self.r_info.tobytes() if not BIG_ENDIAN_HOST else _le_bytes(self.r_info)
            sym_bytes = bytearray(4 * self.count)
            sym_bytes[0::4] = info[1::4]
            sym_bytes[1::4] = info[2::4]
            sym_bytes[2::4] = info[3::4]
            self._r_sym = le_array("I", sym_bytes)
        return self._r_sym

    def entry_label(self, k: int) -> str:
        """``[2] .rel.text entry 7 (r_offset 0x1c)``: how messages name a relocation."""
        return f"{self.section.label()} entry {k} (r_offset {self.r_offset[k]:#x})"

    def _check_symbols(self, refuse: Refuser) -> None:
        count = self.symtab.count
        # The largest r_info holds the largest symbol index (it is the high part).
        if max(self.r_info) >> 8 < count:
            return
        k = first_at_or_above(self.r_sym, count)
        if k is not None:
            refuse("reloc-symbol", f"{self.entry_label(k)} refers to symbol {self.r_sym[k]}, "
                   f"but {self.symtab.section.label()} has {count} symbols")

    def _check_offsets(self, e_type: int, refuse: Refuser) -> None:
        # Targets that are not loaded (debug info) are checked too: the linker
        # skips them, but a DWARF reader applies them.
        target = self.target
        if target is None:
            return  # a dynamic table: the linker checks it against the mapped image
        if e_type == c.ET_REL:
            # Offsets are relative to the target section; the linker checks that
            # the field's width fits too, once it knows the type.
            k = None if self.max_offset < target.sh_size else first_at_or_above(self.r_offset, target.sh_size)
            start, end = 0, target.sh_size
        elif self.section.is_alloc:
            return  # a dynamic table (.rel.plt names .got.plt or .plt) addresses the whole image
        else:
            # Relocations kept by ld -q in a linked file hold link-time addresses.
            start, end = target.sh_addr, target.sh_addr + target.sh_size
            k = next((k for k, o in enumerate(self.r_offset) if not start <= o < end), None)
        if k is not None:
            refuse("reloc-offset", f"{self.entry_label(k)} patches outside its target {target.label()} "
                   f"({start:#x}..{end:#x})")


def _le_bytes(values: array) -> bytes:
    """The items of ``values`` as little-endian bytes on a big-endian host."""
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _target(section: Section, sections: list[Section], e_type: int, refuse: Refuser) -> Section | None:
    """G3: the section named by sh_info (None only where a linked file's dynamic table has 0)."""
    info = section.sh_info
    if info >= len(sections):
        refuse("reloc-info", f"relocation section {section.label()} targets section [{info}], "
               f"but there are {len(sections)} sections")
    if info == 0:
        if e_type == c.ET_REL:
            refuse("reloc-info", f"relocation section {section.label()} names no target section (sh_info 0)")
        return None
    return sections[info]


def symbol_table_for(
    section: Section,
    sections: list[Section],
    tables: dict[int, SymbolTable],
    e_type: int,
    refuse: Refuser,
) -> SymbolTable:
    """G3: the symbol table a relocation section must link to.

    An object's tables use .symtab; in a linked file, loaded (SHF_ALLOC)
    tables are the dynamic ones and use .dynsym, while tables kept by
    ``ld -q`` use .symtab.
    """
    link = section.sh_link
    table = tables.get(link)
    if e_type == c.ET_REL or not section.is_alloc:
        wanted, wanted_name = c.SHT_SYMTAB, "SHT_SYMTAB"
    else:
        wanted, wanted_name = c.SHT_DYNSYM, "SHT_DYNSYM"
    if table is None or table.section.sh_type != wanted:
        if link >= len(sections):
            linked = f"section [{link}], which does not exist"
        else:
            linked = f"{sections[link].label()} ({c.SHT_NAMES.get(sections[link].sh_type, sections[link].sh_type)})"
        refuse("reloc-link", f"relocation section {section.label()} links to {linked}; "
               f"it must link to the {wanted_name} symbol table")
    return table
