"""Reading and checking a PE32 (i386) image: headers, sections, directories.

Every malformed input is a LoadError naming the file, the check (a short
stable name, listed in ``docs/pe-checklist.md``) and the offending item, and
the reader never allocates more than the image's own declared size (itself
bounded by :data:`~.constants.MAX_IMAGE_SIZE` and by what the sections need).

The checked image is also laid out once as it will be in memory (headers at
RVA 0, each section at its RVA, uninitialised parts zero): every later
structure (imports, exports, base relocations) is read from that view by RVA,
so a reference to bytes no section covers is caught in one place.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

from ...errors import LoadError
from ...machine.memory import R, W, X
from . import constants as pc

_COFF = struct.Struct("<HHIIIHH")
_OPTIONAL = struct.Struct("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII")
_SECTION = struct.Struct("<8sIIIIIIHHI")
_IMPORT_DESCRIPTOR = struct.Struct("<IIIII")
_DELAY_DESCRIPTOR = struct.Struct("<IIIIIIII")
_EXPORT_DIRECTORY = struct.Struct("<IIHHIIIIIII")
_SYMBOL = struct.Struct("<8sIhHBB")


class PeSection(NamedTuple):
    """One section of the image (``index`` 0 is the headers, as COFF numbers sections from 1).

    The ``sh_*`` names and ``is_*`` properties mirror the ELF section, so the
    symbolizer and coverage read both alike.
    """

    index: int
    name: str
    virtual_address: int  # RVA
    virtual_size: int  # bytes in memory (VirtualSize, or SizeOfRawData when the linker left it 0)
    raw_offset: int
    raw_size: int
    characteristics: int

    @property
    def sh_addr(self) -> int:
        """The section's RVA (its link-time address relative to the image base)."""
        return self.virtual_address

    @property
    def sh_size(self) -> int:
        """Bytes the section occupies in memory."""
        return self.virtual_size

    @property
    def is_alloc(self) -> bool:
        """Every PE section is mapped."""
        return True

    @property
    def is_exec(self) -> bool:
        """IMAGE_SCN_MEM_EXECUTE (or code contents)."""
        return bool(self.characteristics & (pc.SCN_MEM_EXECUTE | pc.SCN_CNT_CODE))

    @property
    def is_write(self) -> bool:
        """IMAGE_SCN_MEM_WRITE."""
        return bool(self.characteristics & pc.SCN_MEM_WRITE)

    @property
    def is_nobits(self) -> bool:
        """No bytes in the file (all of it zero-filled, as ``.bss``)."""
        return self.raw_size == 0

    @property
    def perms(self) -> int:
        """Page permissions: R always, W and X as the characteristics say."""
        return R | (W if self.is_write else 0) | (X if self.is_exec else 0)

    def flags_text(self) -> str:
        """``R-X``-style characteristics, as ``info`` shows them."""
        return "R" + ("W" if self.is_write else "-") + ("X" if self.is_exec else "-") + \
            (" discardable" if self.characteristics & pc.SCN_MEM_DISCARDABLE else "")

    def label(self) -> str:
        """``[1] .text``: how messages name a section."""
        return f"[{self.index}] {self.name or '<unnamed>'}"


@dataclass(slots=True)
class ImportedDll:
    """One import descriptor: the DLL, and per IAT slot a name (with hint) or an ordinal."""

    dll: str
    iat_rva: int
    names: list[str | None]
    ordinals: list[int | None]
    hints: list[int]
    delayed: bool = False

    def label(self, slot: int) -> str:
        """``DLL!name`` or ``DLL!#ordinal``: how messages name an import."""
        name = self.names[slot]
        return f"{self.dll}!{name}" if name is not None else f"{self.dll}!#{self.ordinals[slot]}"


@dataclass(slots=True)
class ExportDirectory:
    """The export directory: the DLL name, ordinals to RVAs or forwarder strings, names to ordinals."""

    dll_name: str
    ordinal_base: int
    functions: dict[int, int] = field(default_factory=dict)  # ordinal -> RVA (not forwarders)
    forwarders: dict[int, str] = field(default_factory=dict)  # ordinal -> "DLL.name" / "DLL.#n"
    names: dict[str, int] = field(default_factory=dict)  # name -> ordinal


@dataclass(slots=True)
class CoffSymbol:
    """A COFF symbol of a section (mingw keeps the table in images unless stripped)."""

    name: str
    section: int  # 1-based section number
    value: int  # offset in the section
    storage_class: int
    is_function: bool


class PeImage:
    """A parsed and checked PE32 i386 image (a ``.sys``, ``.dll`` or ``.exe``)."""

    # What the engine's trap resolver and ELF-minded helpers look for: a PE
    # image has no ELF symbol table or relocation sections.
    symtab = None
    dynsym = None
    reloc_tables: list = []  # noqa: RUF012 - a shared, never-mutated empty list
    e_type = None

    def __init__(self, data: bytes, name: str = "<module>") -> None:
        self.name = name
        self.data = data
        self._header()
        self._optional_header()
        self._section_table()
        self._map()
        self._refuse_unsupported()
        self.relocations = self._base_relocations()
        self.imports = self._imports(pc.DIR_IMPORT, delayed=False) + self._imports(pc.DIR_DELAY_IMPORT, delayed=True)
        self.exports = self._exports()
        self.coff_symbols = self._coff_symbols()
        self.modinfo = self._modinfo()

    # -- errors and views ----------------------------------------------------
    def error(self, check: str, detail: str) -> LoadError:
        """A LoadError about this file."""
        return LoadError(self.name, check, detail)

    def section_at(self, rva: int, size: int = 1) -> PeSection | None:
        """The section whose memory holds [rva, rva + size), None if no one section does."""
        for section in self.sections[1:]:
            start = section.virtual_address
            if start <= rva and rva + size <= start + section.virtual_size:
                return section
        return None

    def _in_section(self, rva: int, size: int, check: str, what: str) -> PeSection:
        section = self.section_at(rva, size)
        if section is None:
            raise self.error(check, f"{what} at RVA {rva:#x} (+{size:#x}) is outside every section")
        return section

    def read_rva(self, rva: int, size: int, check: str, what: str) -> bytes:
        """``size`` bytes at ``rva``, which must lie inside one section."""
        self._in_section(rva, size, check, what)
        return bytes(self.mapped[rva : rva + size])

    def cstring_at(self, rva: int, check: str, what: str) -> str:
        """A NUL-terminated string at ``rva``, ending inside the section it starts in."""
        section = self._in_section(rva, 1, check, what)
        end = self.mapped.find(0, rva, section.virtual_address + section.virtual_size)
        if end < 0:
            raise self.error(check, f"{what} at RVA {rva:#x} is not NUL-terminated inside {section.label()}")
        return self.mapped[rva:end].decode("utf-8", "replace")

    def section_by_name(self, name: str) -> PeSection | None:
        """The first section called ``name`` (headers excluded)."""
        return next((s for s in self.sections[1:] if s.name == name), None)

    def directory(self, index: int) -> tuple[int, int]:
        """(RVA, size) of data directory ``index``; (0, 0) when absent."""
        return self.directories[index] if index < len(self.directories) else (0, 0)

    @property
    def is_dll(self) -> bool:
        """IMAGE_FILE_DLL set (``lld-link /driver`` and native drivers leave it clear)."""
        return bool(self.characteristics & pc.FILE_DLL)

    @property
    def e_entry(self) -> int:
        """The entry point's link-time address (ImageBase + AddressOfEntryPoint); 0 for none."""
        return (self.image_base + self.entry_rva) & 0xFFFFFFFF if self.entry_rva else 0

    # -- headers -------------------------------------------------------------
    def _header(self) -> None:
        data = self.data
        if len(data) < pc.DOS_HEADER_SIZE:
            raise self.error("dos-header", f"file is {len(data)} bytes, shorter than the 64-byte MZ header")
        if data[:2] != pc.MZ_MAGIC:
            raise self.error("dos-header", f"no MZ signature (starts with {bytes(data[:2])!r})")
        (lfanew,) = struct.unpack_from("<I", data, 0x3C)
        if lfanew + 4 + pc.COFF_HEADER_SIZE > len(data):
            raise self.error("e_lfanew", f"e_lfanew {lfanew:#x} puts the PE header past the end of the file ({len(data):#x} bytes)")
        if data[lfanew : lfanew + 4] != pc.PE_SIGNATURE:
            raise self.error("pe-signature", f"no PE\\0\\0 signature at e_lfanew {lfanew:#x}")
        (self.machine, self.section_count, self.timestamp, self.symbol_table_offset, self.symbol_count,
         self.optional_size, self.characteristics) = _COFF.unpack_from(data, lfanew + 4)
        if self.machine == pc.MACHINE_AMD64:
            raise self.error("machine", "x86-64 PE is not supported yet (machine 0x8664); build for i386")
        if self.machine != pc.MACHINE_I386:
            name = pc.MACHINE_NAMES.get(self.machine, "unknown")
            raise self.error("machine", f"machine {self.machine:#06x} ({name}) is not i386 (0x14c)")
        if not self.characteristics & pc.FILE_EXECUTABLE_IMAGE:
            raise self.error("characteristics", "not an executable image (IMAGE_FILE_EXECUTABLE_IMAGE is clear): "
                             "link the object into a .sys or .dll first")
        self.optional_offset = lfanew + 4 + pc.COFF_HEADER_SIZE

    def _optional_header(self) -> None:
        data, start, size = self.data, self.optional_offset, self.optional_size
        if size < 2 or start + 2 > len(data):
            raise self.error("optional-header", f"SizeOfOptionalHeader is {size}: a PE32 image needs at least "
                             f"{pc.OPTIONAL_STANDARD_SIZE}")
        (magic,) = struct.unpack_from("<H", data, start)
        if magic == pc.OPTIONAL_MAGIC_PE32_PLUS:
            raise self.error("machine", "x86-64 PE is not supported yet (PE32+ optional header)")
        if magic != pc.OPTIONAL_MAGIC_PE32:
            raise self.error("optional-header", f"optional header magic {magic:#x} is not PE32 (0x10b)")
        if size < pc.OPTIONAL_STANDARD_SIZE:
            raise self.error("optional-header", f"SizeOfOptionalHeader {size} is smaller than the "
                             f"{pc.OPTIONAL_STANDARD_SIZE} bytes of a PE32 header without directories")
        if start + size > len(data):
            raise self.error("optional-header", f"the {size}-byte optional header runs past the end of the file")
        fields = _OPTIONAL.unpack_from(data, start)
        (_magic, _major, _minor, _code, _idata, _udata, self.entry_rva, _code_base, _data_base, self.image_base,
         self.section_alignment, self.file_alignment, *_versions, _win32, self.size_of_image, self.size_of_headers,
         _checksum, self.subsystem, self.dll_characteristics, _sr, _sc, _hr, _hc, _loader, count) = fields
        if count > pc.MAX_DIRECTORIES:
            raise self.error("optional-header", f"NumberOfRvaAndSizes {count} is more than {pc.MAX_DIRECTORIES}")
        if pc.OPTIONAL_STANDARD_SIZE + count * pc.DIRECTORY_ENTRY_SIZE > size:
            raise self.error("optional-header", f"{count} data directories do not fit in SizeOfOptionalHeader {size}")
        at = start + pc.OPTIONAL_STANDARD_SIZE
        self.directories = [struct.unpack_from("<II", data, at + 8 * i) for i in range(count)]
        if not self.size_of_image or self.size_of_image > pc.MAX_IMAGE_SIZE:
            raise self.error("size-of-image", f"SizeOfImage {self.size_of_image:#x} is absurd "
                             f"(0, or more than {pc.MAX_IMAGE_SIZE:#x})")
        alignment = self.section_alignment
        if alignment == 0 or alignment & (alignment - 1):
            raise self.error("section-alignment", f"SectionAlignment {alignment:#x} is not a power of two")
        if self.size_of_headers > self.size_of_image or self.size_of_headers > len(data):
            raise self.error("size-of-headers", f"SizeOfHeaders {self.size_of_headers:#x} is larger than the image "
                             f"({self.size_of_image:#x}) or the file ({len(data):#x})")
        if self.entry_rva >= self.size_of_image:
            raise self.error("entry-point", f"AddressOfEntryPoint {self.entry_rva:#x} is past SizeOfImage "
                             f"{self.size_of_image:#x}")

    def _section_table(self) -> None:
        data = self.data
        count = self.section_count
        table = self.optional_offset + self.optional_size
        if count > pc.MAX_SECTIONS:
            raise self.error("section-table", f"{count} sections is more than the {pc.MAX_SECTIONS} an image may have")
        if table + count * pc.SECTION_HEADER_SIZE > len(data):
            raise self.error("section-table", f"the table of {count} section headers at {table:#x} runs past the end of the file")
        strings = self._string_table()
        headers = PeSection(0, "<headers>", 0, max(self.size_of_headers, 1), 0, self.size_of_headers,
                            pc.SCN_MEM_READ | pc.SCN_CNT_INITIALIZED_DATA)
        self.sections = [headers]
        for index in range(1, count + 1):
            (raw_name, vsize, rva, raw_size, raw_offset, *_coff, characteristics) = \
                _SECTION.unpack_from(data, table + (index - 1) * pc.SECTION_HEADER_SIZE)
            name = self._section_name(raw_name, strings, index)
            label = f"[{index}] {name}"
            if raw_size and raw_offset + raw_size > len(data):
                raise self.error("section-raw-data", f"section {label}: raw data {raw_offset:#x}+{raw_size:#x} runs "
                                 f"past the end of the file ({len(data):#x} bytes)")
            memory = vsize or raw_size
            if rva + memory > self.size_of_image:
                raise self.error("section-virtual", f"section {label}: RVA {rva:#x} + size {memory:#x} passes "
                                 f"SizeOfImage {self.size_of_image:#x}")
            if rva < self.size_of_headers and memory:
                raise self.error("section-virtual", f"section {label} at RVA {rva:#x} overlaps the headers "
                                 f"(SizeOfHeaders {self.size_of_headers:#x})")
            self.sections.append(PeSection(index, name, rva, memory, raw_offset, raw_size, characteristics))
        ordered = sorted((s for s in self.sections[1:] if s.virtual_size), key=lambda s: s.virtual_address)
        for before, after in pairwise(ordered):
            if before.virtual_address + before.virtual_size > after.virtual_address:
                raise self.error("section-virtual", f"sections {before.label()} and {after.label()} overlap in memory "
                                 f"(RVA {before.virtual_address:#x}+{before.virtual_size:#x} and {after.virtual_address:#x})")
        needed = max([s.virtual_address + s.virtual_size for s in ordered] + [self.size_of_headers])
        slack = max(self.section_alignment, 0x1000)
        if self.size_of_image > (needed + 2 * slack - 1) // slack * slack:
            raise self.error("size-of-image", f"SizeOfImage {self.size_of_image:#x} is far larger than the sections "
                             f"need ({needed:#x})")

    def _string_table(self) -> bytes:
        """The COFF string table after the symbol table (long section and symbol names), or b''."""
        if not self.symbol_table_offset:
            return b""
        end = self.symbol_table_offset + self.symbol_count * pc.COFF_SYMBOL_SIZE
        if end + 4 > len(self.data):
            raise self.error("symbol-table", f"COFF symbol table at {self.symbol_table_offset:#x} with "
                             f"{self.symbol_count} symbols runs past the end of the file")
        (size,) = struct.unpack_from("<I", self.data, end)
        if size < 4 or end + size > len(self.data):
            raise self.error("symbol-table", f"COFF string table size {size:#x} at {end:#x} runs past the end of the file")
        return bytes(self.data[end : end + size])

    def _section_name(self, raw: bytes, strings: bytes, index: int) -> str:
        name = raw.rstrip(b"\0")
        if name.startswith(b"/") and name[1:].isdigit():
            offset = int(name[1:])
            end = strings.find(b"\0", offset) if 4 <= offset < len(strings) else -1
            if end < 0:
                raise self.error("section-name", f"section [{index}] long name offset {offset} is outside the string table")
            name = strings[offset:end]
        return name.decode("utf-8", "replace")

    def _map(self) -> None:
        """Lay the image out as in memory: headers at 0, sections at their RVAs, the rest zero."""
        mapped = bytearray(self.size_of_image)
        data = memoryview(self.data)
        mapped[: self.size_of_headers] = data[: self.size_of_headers]
        for section in self.sections[1:]:
            count = min(section.raw_size, section.virtual_size)
            if count:
                at = section.virtual_address
                mapped[at : at + count] = data[section.raw_offset : section.raw_offset + count]
        self.mapped = mapped
        for index, (rva, size) in enumerate(self.directories):
            if index == pc.DIR_SECURITY or not (rva or size):
                continue  # the security directory holds a file offset, and the loader never reads it
            if rva + size > self.size_of_image:
                raise self.error("directory", f"{pc.DIRECTORY_NAMES[index]} directory RVA {rva:#x}+{size:#x} passes "
                                 f"SizeOfImage {self.size_of_image:#x}")

    def _refuse_unsupported(self) -> None:
        if self.directory(pc.DIR_TLS)[0]:
            raise self.error("tls", "thread-local storage (a TLS directory) is not supported in kernel modules")
        if self.directory(pc.DIR_CLR)[0]:
            raise self.error("clr", "a .NET (CLR runtime header) image is not a native driver")

    # -- base relocations ------------------------------------------------------
    def _base_relocations(self) -> array:
        """The RVAs of every HIGHLOW field, in table order; any other type but ABSOLUTE is refused by name."""
        rva, size = self.directory(pc.DIR_BASERELOC)
        targets = array("I")
        if not size:
            return targets
        self._in_section(rva, size, "relocation-table", "base relocation table")
        table = self.mapped
        at, end = rva, rva + size
        limit = self.size_of_image - 4
        while at + 8 <= end:
            page, block = struct.unpack_from("<II", table, at)
            if block < 8 or block % 2 or at + block > end:
                raise self.error("relocation-block", f"base relocation block at RVA {at:#x} (page {page:#x}) has size "
                                 f"{block:#x}: less than 8, odd, or past the table's end (RVA {end:#x})")
            count = (block - 8) // 2
            entries = struct.unpack_from(f"<{count}H", table, at + 8)
            for number, entry in enumerate(entries):
                kind = entry >> 12
                if kind == pc.REL_BASED_HIGHLOW:
                    target = page + (entry & 0xFFF)
                    if target > limit:
                        raise self.error("relocation-target", f"HIGHLOW relocation {number} of the block for page "
                                         f"{page:#x} patches RVA {target:#x}, outside the image")
                    targets.append(target)
                elif kind != pc.REL_BASED_ABSOLUTE:
                    name = pc.BASE_RELOCATION_NAMES.get(kind, f"type {kind}")
                    raise self.error("relocation-type", f"unsupported base relocation {name} (entry {number} of the "
                                     f"block for page {page:#x}); i386 images use HIGHLOW only")
            at += block
        return targets

    # -- imports ----------------------------------------------------------------
    def _imports(self, directory: int, delayed: bool) -> list[ImportedDll]:
        rva, _size = self.directory(directory)  # the size is often wrong: a zero descriptor ends the table
        if not rva:
            return []
        what = "delay-import descriptor" if delayed else "import descriptor"
        check = "delay-import" if delayed else "import-descriptor"
        layout = _DELAY_DESCRIPTOR if delayed else _IMPORT_DESCRIPTOR
        found: list[ImportedDll] = []
        at = rva
        while True:
            fields = layout.unpack(self.read_rva(at, layout.size, check, what))
            if not any(fields):
                return found
            if delayed:
                attributes, name_rva, _handle, iat, lookup = fields[:5]
                if not attributes & 1:  # version 1 descriptors hold VAs, not RVAs
                    name_rva, iat, lookup = (v - self.image_base if v else 0 for v in (name_rva, iat, lookup))
            else:
                lookup, _stamp, _chain, name_rva, iat = fields
            dll = self.cstring_at(name_rva, check, f"DLL name of the {what} at RVA {at:#x}")
            found.append(self._thunks(dll, lookup or iat, iat, delayed))
            at += layout.size

    def _thunks(self, dll: str, lookup: int, iat: int, delayed: bool) -> ImportedDll:
        section = self._in_section(lookup, 4, "import-thunk", f"import lookup table of {dll}")
        end = section.virtual_address + section.virtual_size
        names: list[str | None] = []
        ordinals: list[int | None] = []
        hints: list[int] = []
        at = lookup
        while True:
            if at + 4 > end:
                raise self.error("import-thunk", f"import lookup table of {dll} at RVA {lookup:#x} runs past the end "
                                 f"of {section.label()} without a terminating 0")
            (thunk,) = struct.unpack_from("<I", self.mapped, at)
            if thunk == 0:
                break
            if thunk & pc.ORDINAL_FLAG:
                names.append(None)
                ordinals.append(thunk & 0xFFFF)
                hints.append(0)
            else:
                hint_rva = thunk & 0x7FFFFFFF
                (hint,) = struct.unpack("<H", self.read_rva(hint_rva, 2, "import-name", f"hint/name of {dll} import {len(names)}"))
                names.append(self.cstring_at(hint_rva + 2, "import-name", f"name of {dll} import {len(names)}"))
                ordinals.append(None)
                hints.append(hint)
            at += 4
        self._in_section(iat, 4 * (len(names) + 1), "import-thunk", f"import address table of {dll} ({len(names)} slots)")
        return ImportedDll(dll, iat, names, ordinals, hints, delayed)

    # -- exports ------------------------------------------------------------------
    def _exports(self) -> ExportDirectory | None:
        rva, size = self.directory(pc.DIR_EXPORT)
        if not rva:
            return None
        (_flags, _stamp, _major, _minor, name_rva, base, function_count, name_count, functions_rva, names_rva,
         ordinals_rva) = _EXPORT_DIRECTORY.unpack(self.read_rva(rva, _EXPORT_DIRECTORY.size, "export-directory", "export directory"))
        dll = self.cstring_at(name_rva, "export-directory", "export DLL name") if name_rva else ""
        directory = ExportDirectory(dll, base)
        limit = self.size_of_image // 4
        if function_count > limit or name_count > limit:
            raise self.error("export-directory", f"{function_count} functions / {name_count} names cannot fit in an image "
                             f"of {self.size_of_image:#x} bytes")
        functions = struct.unpack(f"<{function_count}I", self.read_rva(functions_rva, 4 * function_count, "export-rva",
                                                                        "export address table"))
        for index, target in enumerate(functions):
            if target == 0:
                continue  # an unused ordinal (lld-link leaves slot 0 empty)
            ordinal = base + index
            if rva <= target < rva + size:
                directory.forwarders[ordinal] = self.cstring_at(target, "export-forwarder", f"forwarder of ordinal {ordinal}")
            elif self.section_at(target) is None:
                raise self.error("export-rva", f"export ordinal {ordinal} points at RVA {target:#x}, outside every section")
            else:
                directory.functions[ordinal] = target
        if name_count:
            name_rvas = struct.unpack(f"<{name_count}I", self.read_rva(names_rva, 4 * name_count, "export-name", "export name table"))
            indexes = struct.unpack(f"<{name_count}H", self.read_rva(ordinals_rva, 2 * name_count, "export-ordinal",
                                                                     "export ordinal table"))
            for number, (name_at, index) in enumerate(zip(name_rvas, indexes)):
                name = self.cstring_at(name_at, "export-name", f"export name {number}")
                if index >= function_count:
                    raise self.error("export-ordinal", f"export {name} has ordinal index {index}, past "
                                     f"NumberOfFunctions {function_count}")
                if functions[index] == 0:
                    raise self.error("export-ordinal", f"export {name} names ordinal {base + index}, an empty slot")
                directory.names[name] = base + index
        return directory

    # -- COFF symbols and metadata ---------------------------------------------------
    def _coff_symbols(self) -> list[CoffSymbol]:
        if not self.symbol_table_offset or not self.symbol_count:
            return []
        strings = self._string_table()
        symbols: list[CoffSymbol] = []
        start = self.symbol_table_offset
        data = self.data
        index, count = 0, self.symbol_count
        while index < count:
            raw, value, section, kind, storage, aux = _SYMBOL.unpack_from(data, start + index * pc.COFF_SYMBOL_SIZE)
            index += 1 + aux
            if section <= 0 or section >= len(self.sections) or storage not in (pc.SYM_CLASS_EXTERNAL, pc.SYM_CLASS_STATIC,
                                                                                 pc.SYM_CLASS_LABEL):
                continue
            if raw[:4] == b"\0\0\0\0":
                (offset,) = struct.unpack_from("<I", raw, 4)
                end = strings.find(b"\0", offset) if 4 <= offset < len(strings) else -1
                if end < 0:
                    raise self.error("symbol-table", f"COFF symbol {index - 1 - aux} names string offset {offset}, "
                                     "outside the string table")
                name_bytes = strings[offset:end]
            else:
                name_bytes = raw.rstrip(b"\0")
            name = name_bytes.decode("utf-8", "replace")
            if not name or name.startswith(".") or (storage == pc.SYM_CLASS_STATIC and aux and kind == 0):
                continue  # section symbols and compiler labels
            is_function = kind & 0xF0 == pc.SYM_TYPE_FUNCTION
            symbols.append(CoffSymbol(c_name(name), section, value, storage, is_function))
        return symbols

    def _modinfo(self) -> list[tuple[str, str]]:
        section = self.section_by_name(".modinfo")
        if section is None:
            return []
        raw = bytes(self.mapped[section.virtual_address : section.virtual_address + section.virtual_size])
        pairs = []
        for item in raw.split(b"\0"):
            if b"=" in item:
                key, _, value = item.decode("utf-8", "replace").partition("=")
                pairs.append((key, value))
        return pairs


def c_name(symbol: str) -> str:
    """A COFF i386 symbol as C names the function: cdecl's ``_``, stdcall's ``_...@N``, fastcall's ``@...@N`` dropped.

    ``_init_module`` -> ``init_module``, ``_sample_ioctl@8`` -> ``sample_ioctl``,
    ``@KfAcquireSpinLock@4`` -> ``KfAcquireSpinLock``. (Exports keep the names
    the export directory gives them: mingw exports ``DriverEntry@8``.)
    """
    if symbol.startswith(("_", "@")):
        name, at, size = symbol[1:].rpartition("@")
        if at and name and size.isdigit():
            return name
        return symbol[1:] if symbol.startswith("_") else symbol
    return symbol
