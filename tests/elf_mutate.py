"""Patch fields of a good ELF file by name, to build malformed inputs.

``Mutable(good_bytes)`` parses the good file once (to find where things are)
and then edits a copy: ``m.section(".text", "sh_size", 0x7FFFFFF0).bytes()``.
Every setter returns the Mutable, so edits chain.
"""

from __future__ import annotations

import struct

from sandbox.elf import ElfImage
from sandbox.elf import constants as c

HEADER_FIELDS = {  # name: (offset, format)
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"), "e_entry": (24, "<I"),
    "e_phoff": (28, "<I"), "e_shoff": (32, "<I"), "e_flags": (36, "<I"), "e_ehsize": (40, "<H"),
    "e_phentsize": (42, "<H"), "e_phnum": (44, "<H"), "e_shentsize": (46, "<H"), "e_shnum": (48, "<H"),
    "e_shstrndx": (50, "<H"),
}
IDENT_FIELDS = {"EI_CLASS": c.EI_CLASS, "EI_DATA": c.EI_DATA, "EI_VERSION": c.EI_VERSION}
SECTION_FIELDS = {name: (4 * i, "<I") for i, name in enumerate(
    ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link", "sh_info", "sh_addralign", "sh_entsize"))}
SYMBOL_FIELDS = {"st_name": (0, "<I"), "st_value": (4, "<I"), "st_size": (8, "<I"), "st_info": (12, "<B"),
                 "st_other": (13, "<B"), "st_shndx": (14, "<H")}
RELOCATION_FIELDS = {"r_offset": (0, "<I"), "r_info": (4, "<I"), "r_type": (4, "<B"), "r_addend": (8, "<i")}
SEGMENT_FIELDS = {name: (4 * i, "<I") for i, name in enumerate(
    ("p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags", "p_align"))}


class Mutable:
    """A good file's bytes plus its parsed layout, for surgical edits."""

    def __init__(self, data: bytes, name: str = "good.o") -> None:
        self.image = ElfImage(data, name)
        self.data = bytearray(data)

    def fresh(self) -> Mutable:
        """An unmutated copy of the good file, sharing this one's parse."""
        copy = Mutable.__new__(Mutable)
        copy.image, copy.data = self.image, bytearray(self.image.data)
        return copy

    # -- raw ------------------------------------------------------------------
    def _put(self, offset: int, fmt: str, value: int) -> Mutable:
        struct.pack_into(fmt, self.data, offset, value)
        return self

    def byte(self, offset: int, value: int) -> Mutable:
        """Set one byte."""
        self.data[offset] = value
        return self

    def bytes(self) -> bytes:
        """The mutated file."""
        return bytes(self.data)

    # -- header ---------------------------------------------------------------
    def header(self, field: str, value: int) -> Mutable:
        """Set an ELF header field (``e_*``) or an ``e_ident`` byte (``EI_CLASS``...)."""
        if field in IDENT_FIELDS:
            return self.byte(IDENT_FIELDS[field], value)
        offset, fmt = HEADER_FIELDS[field]
        return self._put(offset, fmt, value)

    # -- sections -------------------------------------------------------------
    def section_index(self, name: str) -> int:
        """Index of the first section called ``name``."""
        section = self.image.section_by_name(name)
        assert section is not None, name
        return section.index

    def section(self, which: int | str, field: str, value: int) -> Mutable:
        """Set a section header field of section ``which`` (index or name)."""
        index = which if isinstance(which, int) else self.section_index(which)
        shoff = struct.unpack_from("<I", self.data, 32)[0]
        offset, fmt = SECTION_FIELDS[field]
        return self._put(shoff + c.SHDR_SIZE * index + offset, fmt, value)

    def section_field(self, which: int | str, field: str) -> int:
        """Value of a section header field in the good file."""
        index = which if isinstance(which, int) else self.section_index(which)
        return getattr(self.image.sections[index], field)

    def last_byte(self, which: int | str) -> int:
        """File offset of the last byte of a section."""
        return self.section_field(which, "sh_offset") + self.section_field(which, "sh_size") - 1

    def rename(self, which: int | str, new_name: str) -> Mutable:
        """Give a section the name of another one (re-pointing sh_name into the name table)."""
        names = self.image.sections[struct.unpack_from("<H", self.data, 50)[0]]
        table = bytes(self.image.section_bytes(names))
        return self.section(which, "sh_name", table.index(new_name.encode() + b"\0"))

    # -- symbols --------------------------------------------------------------
    def symbol_named(self, name: str, table: str = ".symtab") -> int:
        """Index of the first symbol called ``name``."""
        return self._symtab(table).names.index(name)

    def symbol(self, which: int | str, field: str, value: int, table: str = ".symtab") -> Mutable:
        """Set a field of symbol ``which`` (index or name) in ``table``."""
        symtab = self._symtab(table)
        index = which if isinstance(which, int) else symtab.names.index(which)
        offset, fmt = SYMBOL_FIELDS[field]
        return self._put(symtab.section.sh_offset + c.SYM_SIZE * index + offset, fmt, value)

    def _symtab(self, table: str):  # type: ignore[no-untyped-def]
        symtab = self.image.symtab if table == ".symtab" else self.image.dynsym
        assert symtab is not None, table
        return symtab

    # -- relocations ----------------------------------------------------------
    def relocation(self, section: str, entry: int, field: str, value: int) -> Mutable:
        """Set ``r_offset``, ``r_info``, ``r_type`` (its low byte) or ``r_addend`` of one entry."""
        base = self.image.section_by_name(section)
        assert base is not None, section
        offset, fmt = RELOCATION_FIELDS[field]
        return self._put(base.sh_offset + base.sh_entsize * entry + offset, fmt, value)

    def to_rela(self, section: str) -> Mutable:
        """Rewrite a REL section as RELA, its addends read from the target, appended to the file.

        i386 toolchains only emit REL; this gives the parser a real RELA table
        with the same meaning to check against the oracle.
        """
        table = next(t for t in self.image.reloc_tables if t.section.name == section)
        assert not table.is_rela and table.target is not None
        target = bytes(self.image.section_bytes(table.target))
        entries = bytearray()
        for k in range(table.count):
            addend = struct.unpack_from("<i", target, table.r_offset[k])[0]
            info = table.r_sym[k] << 8 | table.r_type[k]
            entries += struct.pack("<IIi", table.r_offset[k], info, addend)
        while len(self.data) % 4:
            self.data.append(0)
        where = len(self.data)
        self.data += entries
        self.section(section, "sh_type", c.SHT_RELA).section(section, "sh_entsize", c.RELA_SIZE)
        return self.section(section, "sh_offset", where).section(section, "sh_size", len(entries))

    # -- program headers ------------------------------------------------------
    def segment(self, index: int, field: str, value: int) -> Mutable:
        """Set a field of program header ``index``."""
        phoff = struct.unpack_from("<I", self.data, 28)[0]
        offset, fmt = SEGMENT_FIELDS[field]
        return self._put(phoff + c.PHDR_SIZE * index + offset, fmt, value)
