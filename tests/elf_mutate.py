"""Patch fields of a good ELF file by name, to build malformed inputs."""

from __future__ import annotations

import struct

from sandbox.elf import ElfImage

HEADER_FIELDS = {  # name: (offset, format)
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"), "e_phoff": (28, "<I"),
    "e_shoff": (32, "<I"), "e_phentsize": (42, "<H"), "e_phnum": (44, "<H"), "e_shentsize": (46, "<H"),
    "e_shnum": (48, "<H"), "e_shstrndx": (50, "<H"),
}
SECTION_FIELDS = {name: (4 * i, "<I") for i, name in enumerate(
    ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link", "sh_info", "sh_addralign", "sh_entsize"))}
SYMBOL_FIELDS = {"st_name": (0, "<I"), "st_value": (4, "<I"), "st_size": (8, "<I"), "st_info": (12, "<B"),
                 "st_other": (13, "<B"), "st_shndx": (14, "<H")}
PHDR_FIELDS = {name: (4 * i, "<I") for i, name in enumerate(
    ("p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags", "p_align"))}


class Mutable:
    """A good file's bytes plus its parsed layout, for surgical edits."""

    def __init__(self, data: bytes, name: str = "good.o") -> None:
        self.image = ElfImage(data, name)
        self.data = bytearray(data)

    def _put(self, offset: int, fmt: str, value: int) -> Mutable:
        struct.pack_into(fmt, self.data, offset, value)
        return self

    def header(self, field: str, value: int) -> Mutable:
        """Set an ELF header field."""
        offset, fmt = HEADER_FIELDS[field]
        return self._put(offset, fmt, value)

    def section_index(self, name: str) -> int:
        """Index of the section called ``name``."""
        section = self.image.section_by_name(name)
        assert section is not None, name
        return section.index

    def section(self, which: int | str, field: str, value: int) -> Mutable:
        """Set a section header field of section ``which`` (index or name)."""
        index = which if isinstance(which, int) else self.section_index(which)
        shoff = struct.unpack_from("<I", self.data, 32)[0]
        offset, fmt = SECTION_FIELDS[field]
        return self._put(shoff + 40 * index + offset, fmt, value)

    def section_field(self, which: int | str, field: str) -> int:
        """Current value of a section header field."""
        index = which if isinstance(which, int) else self.section_index(which)
        return getattr(self.image.sections[index], field)

    def symbol(self, index: int, field: str, value: int) -> Mutable:
        """Set a field of symbol ``index`` in .symtab."""
        symtab = self.image.symtab
        assert symtab is not None
        offset, fmt = SYMBOL_FIELDS[field]
        return self._put(symtab.section.sh_offset + 16 * index + offset, fmt, value)

    def symbol_named(self, name: str) -> int:
        """Index of the symbol called ``name``."""
        symtab = self.image.symtab
        assert symtab is not None
        return symtab.names.index(name)

    def relocation(self, section: str, entry: int, field: str, value: int) -> Mutable:
        """Set r_offset or r_info of an entry of a REL section."""
        base = self.image.section_by_name(section)
        assert base is not None
        return self._put(base.sh_offset + 8 * entry + (0 if field == "r_offset" else 4), "<I", value)

    def segment(self, index: int, field: str, value: int) -> Mutable:
        """Set a program header field."""
        phoff = struct.unpack_from("<I", self.data, 28)[0]
        offset, fmt = PHDR_FIELDS[field]
        return self._put(phoff + 32 * index + offset, fmt, value)

    def byte(self, offset: int, value: int) -> Mutable:
        """Set one byte."""
        self.data[offset] = value
        return self

    def bytes(self) -> bytes:
        """The mutated file."""
        return bytes(self.data)
