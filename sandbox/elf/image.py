"""ElfImage: a checked, decoded view of one ELF file.

The constructor runs every parse-time check of ELF-CHECKLIST.md, in the
order below, and raises a LoadError naming the file, the check and the
offending item. Link-time rules (unknown relocation types, relocation widths,
unresolved symbols, W^X, ...) belong to ``sandbox.link``.

1. file header (1-7, G6)
2. section table and section names (8-13, G4, G5)
3. program headers (PT_LOAD bounds, sizes, alignment, overlap)
4. Linux metadata sections (14, 15, 18, G7)
5. symbol tables and their string tables (16, 17, 19, G1, G4, G5), kept apart in the file
6. relocation tables (G2, G3, G5)
"""

from __future__ import annotations

import struct
from itertools import pairwise
from pathlib import Path

from ..errors import LoadError
from . import constants as c
from .errors import Refuser, refuser_for
from .header import read_header
from .modinfo import (
    VERSION_EXT_CRCS,
    VERSION_EXT_NAMES,
    VERSIONS,
    check_version_ext,
    check_versions,
    has_this_module,
    read_modinfo,
)
from .relocations import RelocTable, symbol_table_for
from .sections import Section, read_sections
from .segments import Segment, read_segments
from .symbols import SymbolTable

__all__ = ["ElfImage", "RelocTable", "Section", "Segment", "SymbolTable"]

# Sections decoded into arrays: they must not share file bytes.
_DECODED_TABLES = (c.SHT_SYMTAB, c.SHT_DYNSYM, c.SHT_REL, c.SHT_RELA)

# Host exceptions a garbage file could still provoke if a check were missing.
# They must never escape: the net below turns them into a LoadError.
_HOST_ERRORS = (struct.error, IndexError, KeyError, ValueError, OverflowError, MemoryError, TypeError)


class ElfImage:
    """A parsed and checked 32-bit little-endian i386 ELF file (ET_REL, ET_DYN or ET_EXEC).

    Attributes: ``name`` (the path, named in every error), ``data`` (the
    file's bytes), the header fields ``e_type``, ``e_machine``, ``e_entry``,
    ``e_flags``; ``sections`` (index == section index), ``segments``,
    ``symtab`` (None only for a linked file without .symtab), ``dynsym``,
    ``reloc_tables`` (every REL/RELA section in section order), ``modinfo``
    (``.modinfo`` key/value pairs in order) and ``has_linux_this_module``.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.data = bytes(data)
        refuse = refuser_for(name)
        try:
            self._parse(refuse)
        except LoadError:
            raise
        except _HOST_ERRORS as error:
            # Every specific check should fire first; this net keeps a
            # truncated or twisted file from escaping as a host exception.
            kind = type(error).__name__ if type(error).__module__ == "builtins" else f"{type(error).__module__}.{type(error).__name__}"
            raise LoadError(name, "malformed", f"inconsistent ELF structure ({kind}: {error})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> ElfImage:
        """Read and check the file at ``path``."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise LoadError(str(path), "read", error.strerror or str(error)) from None
        return cls(data, str(path))

    # -- the steps -------------------------------------------------------------
    def _parse(self, refuse: Refuser) -> None:
        header = read_header(self.data, refuse)  # step 1
        self.e_type = header.e_type
        self.e_machine = header.e_machine
        self.e_entry = header.e_entry
        self.e_flags = header.e_flags
        self.sections: list[Section] = (  # step 2
            read_sections(self.data, header.e_shoff, header.e_shnum, header.e_shstrndx, refuse) if header.e_shnum else []
        )
        self._by_name: dict[str, Section] = {}
        for section in self.sections:
            self._by_name.setdefault(section.name, section)
        self.segments: list[Segment] = read_segments(  # step 3
            self.data, header.e_phoff, header.e_phnum, header.e_phentsize, refuse
        )
        self.modinfo: list[tuple[str, str]] = read_modinfo(self.sections, self._bytes, refuse)  # step 4
        self.has_linux_this_module = has_this_module(self.sections, refuse)
        check_version_ext(self.section_by_name(VERSION_EXT_CRCS), self.section_by_name(VERSION_EXT_NAMES), self._bytes, refuse)
        check_versions(self.section_by_name(VERSIONS), self._bytes, refuse)
        self._check_tables_apart(refuse)  # step 5
        self._read_symbol_tables(refuse)
        self._read_reloc_tables(refuse)  # step 6

    def _check_tables_apart(self, refuse: Refuser) -> None:
        """Symbol and relocation tables may not share file bytes.

        No linker emits overlapping tables, and every table is decoded into
        arrays: without this, 65,000 section headers naming the same 10 MB
        would decode 650 GB. Apart, they decode at most the file's size.
        """
        tables = sorted((s.sh_offset, s.sh_offset + s.sh_size, s.index) for s in self.sections
                        if s.sh_type in _DECODED_TABLES and s.sh_size)
        for (_, end, first), (start, _, second) in pairwise(tables):
            if start < end:
                refuse("table-overlap", f"tables {self.sections[first].label()} and {self.sections[second].label()} "
                       f"overlap in the file at {start:#x}")

    def _read_symbol_tables(self, refuse: Refuser) -> None:
        symtabs = [s for s in self.sections if s.sh_type == c.SHT_SYMTAB]
        if len(symtabs) > 1:
            refuse("symtab-count", f"{len(symtabs)} SHT_SYMTAB sections: " + ", ".join(s.label() for s in symtabs))
        if not symtabs and self.e_type == c.ET_REL:
            refuse("symtab-count", "no symbols, stripped? (a relocatable object without an SHT_SYMTAB section)")
        dynsyms = [s for s in self.sections if s.sh_type == c.SHT_DYNSYM]
        if len(dynsyms) > 1:
            refuse("dynsym-count", f"{len(dynsyms)} SHT_DYNSYM sections: " + ", ".join(s.label() for s in dynsyms))
        self.symtab: SymbolTable | None = SymbolTable(symtabs[0], self.data, self.sections, refuse) if symtabs else None
        self.dynsym: SymbolTable | None = SymbolTable(dynsyms[0], self.data, self.sections, refuse) if dynsyms else None

    def _read_reloc_tables(self, refuse: Refuser) -> None:
        by_index = {t.section.index: t for t in (self.symtab, self.dynsym) if t is not None}
        tables = []
        for section in self.sections:
            if section.sh_type in (c.SHT_REL, c.SHT_RELA):
                symtab = symbol_table_for(section, self.sections, by_index, self.e_type, refuse)
                tables.append(RelocTable(section, self.data, self.sections, symtab, self.e_type, refuse))
        self.reloc_tables: list[RelocTable] = tables

    # -- queries ---------------------------------------------------------------
    def section_by_name(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        return self._by_name.get(name)

    def section_bytes(self, section: Section) -> memoryview:
        """The file bytes of ``section`` without copying (empty for NOBITS and NULL sections)."""
        if not section.has_file_bytes:
            return memoryview(b"")
        return memoryview(self.data)[section.sh_offset : section.sh_offset + section.sh_size]

    def _bytes(self, section: Section) -> bytes:
        return bytes(self.section_bytes(section))

    @property
    def kind(self) -> str:
        """``"ET_REL"``, ``"ET_DYN"`` or ``"ET_EXEC"``."""
        return c.ET_NAMES[self.e_type]

    def __repr__(self) -> str:
        return f"<ElfImage {self.name} {self.kind}: {len(self.sections)} sections, {len(self.reloc_tables)} relocation tables>"
