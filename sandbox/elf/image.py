"""ElfImage: a checked, decoded view of one ELF file.

The constructor runs every parse-time check of ELF-CHECKLIST.md (header,
section table, names, symbol and string tables, relocation tables, program
headers, ``.modinfo`` and ``__versions``) and raises a LoadError naming the
file, the check and the offending item. Link-time rules (unknown relocation
types, unresolved symbols, W^X...) belong to ``sandbox.link``.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import LoadError
from . import constants as c
from .errors import Refuser, refuser_for
from .modinfo import check_versions, parse_modinfo
from .relocations import RelocTable
from .sections import Section, read_section_headers
from .segments import Segment, read_segments
from .symbols import SymbolTable

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
_TYPES = {c.ET_REL: "ET_REL", c.ET_EXEC: "ET_EXEC", c.ET_DYN: "ET_DYN"}
THIS_MODULE = ".gnu.linkonce.this_module"


class ElfImage:
    """A parsed and checked 32-bit little-endian i386 ELF file."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.data = bytes(data)
        refuse = refuser_for(name)
        try:
            self._parse(refuse)
        except LoadError:
            raise
        except (struct.error, IndexError, ValueError, OverflowError, MemoryError) as error:
            # Every specific check above should have fired first; this is the
            # net that keeps a truncated or twisted file from escaping as a
            # host exception.
            raise LoadError(name, "malformed", f"inconsistent ELF structure ({type(error).__name__}: {error})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> ElfImage:
        """Read and check the file at ``path``."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise LoadError(str(path), "read", error.strerror or str(error)) from None
        return cls(data, str(path))

    # ------------------------------------------------------------------
    def _parse(self, refuse: Refuser) -> None:
        data = self.data
        if len(data) < c.EHDR_SIZE:
            refuse("file-size", f"{len(data)} bytes is shorter than an ELF header ({c.EHDR_SIZE})")
        fields = _EHDR.unpack_from(data, 0)
        ident = fields[0]
        if ident[:4] != c.ELFMAG:
            refuse("magic", f"not an ELF file (starts with {ident[:4]!r})")
        if ident[4] != c.ELFCLASS32:
            refuse("ei-class", f"EI_CLASS is {ident[4]}, only ELFCLASS32 (1) is supported")
        if ident[5] != c.ELFDATA2LSB:
            refuse("ei-data", f"EI_DATA is {ident[5]}, only little-endian (1) is supported")
        if ident[6] != c.EV_CURRENT or fields[3] != c.EV_CURRENT:
            refuse("ei-version", f"ELF version {ident[6]}/{fields[3]} is not EV_CURRENT (1)")
        (self.e_type, self.e_machine, _, self.e_entry, e_phoff, e_shoff, self.e_flags,
         _ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = fields[1:]
        if self.e_type not in _TYPES:
            refuse("e_type", f"e_type {self.e_type} is not a module (ET_REL, ET_DYN or ET_EXEC)")
        if self.e_machine != c.EM_386:
            refuse("e_machine", f"e_machine {self.e_machine} is not EM_386 (3)")
        if e_shnum and e_shentsize != c.SHDR_SIZE:
            refuse("e_shentsize", f"section header size {e_shentsize}, expected {c.SHDR_SIZE}")
        if e_shoff > len(data) or e_shoff + e_shnum * c.SHDR_SIZE > len(data):
            refuse("e_shoff", f"section header table at {e_shoff:#x} ({e_shnum} entries) runs past the end of the file ({len(data):#x})")
        if e_shnum == 0 and self.e_type == c.ET_REL:
            refuse("e_shnum", "a relocatable object without section headers")
        self.sections: list[Section] = read_section_headers(data, e_shoff, e_shnum, e_shstrndx, refuse) if e_shnum else []
        self.segments: list[Segment] = read_segments(data, e_phoff, e_phnum, e_phentsize, refuse)
        self._by_name: dict[str, Section] = {}
        for section in self.sections:
            self._by_name.setdefault(section.name, section)
        self._check_special_sections(refuse)
        self._read_symbols(refuse)
        self.reloc_tables: list[RelocTable] = [
            RelocTable(s, data, self.sections, self._symtabs, self.e_type, refuse)
            for s in self.sections
            if s.sh_type in (c.SHT_REL, c.SHT_RELA)
        ]

    def _check_special_sections(self, refuse: Refuser) -> None:
        modinfos = [s for s in self.sections if s.name == ".modinfo"]
        if len(modinfos) > 1:
            refuse("modinfo-duplicate", f"{len(modinfos)} .modinfo sections: " + ", ".join(s.label() for s in modinfos))
        self.modinfo: list[tuple[str, str]] = parse_modinfo(modinfos[0], self.data, refuse) if modinfos else []
        this = [s for s in self.sections if s.name == THIS_MODULE]
        self.has_linux_this_module = bool(this)
        if len(this) > 1:
            refuse("this-module", f"{THIS_MODULE} appears {len(this)} times")
        if this and (this[0].is_nobits or not this[0].is_alloc):
            refuse("this-module", f"{this[0].label()} must be SHF_ALLOC with contents")
        crcs, names = self.section_by_name("__version_ext_crcs"), self.section_by_name("__version_ext_names")
        if (crcs is None) != (names is None):
            refuse("version-ext", "only one of __version_ext_crcs / __version_ext_names is present")
        if crcs is not None and names is not None:
            count = self.data[names.sh_offset : names.sh_offset + names.sh_size].count(b"\0")
            if count < crcs.sh_size // 4:
                refuse("version-ext", f"__version_ext_names has {count} names for {crcs.sh_size // 4} CRCs")
        versions = self.section_by_name("__versions")
        if versions is not None:
            check_versions(versions, self.data, refuse)

    def _read_symbols(self, refuse: Refuser) -> None:
        self._symtabs: dict[int, SymbolTable] = {}
        symtabs = [s for s in self.sections if s.sh_type == c.SHT_SYMTAB]
        if len(symtabs) > 1:
            refuse("symtab-count", f"{len(symtabs)} SHT_SYMTAB sections")
        if not symtabs and self.e_type == c.ET_REL:
            refuse("symtab-count", "no symbols, stripped? (no SHT_SYMTAB section)")
        self.symtab: SymbolTable | None = None
        self.dynsym: SymbolTable | None = None
        for section in self.sections:
            if section.sh_type in (c.SHT_SYMTAB, c.SHT_DYNSYM):
                table = SymbolTable(section, self.data, self.sections, refuse)
                self._symtabs[section.index] = table
                if section.sh_type == c.SHT_SYMTAB:
                    self.symtab = table
                elif self.dynsym is None:
                    self.dynsym = table

    # ------------------------------------------------------------------
    def section_by_name(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        return self._by_name.get(name)

    def section_bytes(self, section: Section) -> memoryview:
        """The file bytes of ``section`` (empty for NOBITS)."""
        if section.is_nobits:
            return memoryview(b"")
        return memoryview(self.data)[section.sh_offset : section.sh_offset + section.sh_size]

    @property
    def kind(self) -> str:
        """``"ET_REL"``, ``"ET_DYN"`` or ``"ET_EXEC"``."""
        return _TYPES[self.e_type]
