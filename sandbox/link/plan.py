"""From a checked ElfImage to relocated bytes: the steps of loading a module.

The steps mirror Linux's ``load_module`` and run in order, each with one job:

1. :func:`link_module` checks link-time rules and lays out sections
   (:mod:`.layout`), reserving blocks for the GOT and COMMON symbols;
2. :meth:`LinkPlan.place` takes the base of each allocation;
3. :meth:`LinkPlan.bind` gives every symbol its address, undefined ones via
   the kernel's resolver, reporting every missing name in one error;
4. :meth:`LinkPlan.relocate` applies every relocation into the section bytes;
5. :meth:`LinkPlan.read_exports` reads ``__ksymtab*``.

No step touches the emulator; the kernel maps the result. Defined symbols are
always bound by symbol index, never by name (a local and a global may share
a name).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress
from operator import add

from ..elf import constants as c
from ..elf.image import ElfImage, RelocTable, Section
from ..elf.symbols import SymbolTable
from ..errors import LoadError
from .layout import Layout, plan_layout
from .reloc_types import GOT_TYPES, RECIPES, fits, reloc_type_name

GOT_SYMBOL = "_GLOBAL_OFFSET_TABLE_"
_SIGNED_READ = {1: "<b", 2: "<h", 4: "<i"}
_UNSIGNED_WRITE = {1: "<B", 2: "<H", 4: "<I"}
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}
_SYMBOL_TYPES = (c.STT_FUNC, c.STT_OBJECT, c.STT_NOTYPE)
# Special section indexes whose symbols' st_value already is the address.
_VALUE_IS_ADDRESS = frozenset({c.SHN_ABS})
# What an exported symbol's name may be (C identifiers, plus the dots and
# dollars compilers put in local clones).
_IDENTIFIER = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")

Resolver = Callable[[str], int | None]


@dataclass(slots=True)
class ExportEntry:
    """One exported symbol of a module."""

    name: str
    address: int
    gpl_only: bool


@dataclass
class LinkPlan:
    """Everything known about a module between parsing and mapping."""

    image: ElfImage
    name: str
    layout: Layout
    got_slots: dict[int, int]  # symbol index -> GOT slot
    common_offsets: dict[int, int]  # symbol index -> offset in the common block
    bases: dict[str, int] = field(default_factory=dict)
    memory: dict[str, bytearray] = field(default_factory=dict)
    symbol_addresses: list[int] = field(default_factory=list)
    imports: dict[str, int] = field(default_factory=dict)
    weak_unresolved: list[str] = field(default_factory=list)
    skipped_relocations: list[str] = field(default_factory=list)
    relocation_count: int = 0

    # -- helpers -----------------------------------------------------------
    def error(self, check: str, detail: str) -> LoadError:
        """A LoadError about this module's file."""
        return LoadError(self.image.name, check, detail)

    def section_address(self, section: Section) -> int | None:
        """Run-time address of an allocated section, None if not loaded."""
        placed = self.layout.placements.get(section.index)
        if placed is None or not self.bases:
            return None
        return self.bases[placed[0]] + placed[1]

    def block_address(self, block: str) -> int:
        """Run-time address of a synthetic block (``got``, ``common``)."""
        allocation, offset = self.layout.blocks[block]
        return self.bases[allocation] + offset

    def read(self, address: int, size: int) -> bytes:
        """Bytes of the module image at a run-time address."""
        for allocation, base in self.bases.items():
            buf = self.memory[allocation]
            if base <= address and address + size <= base + len(buf):
                return bytes(buf[address - base : address - base + size])
        raise self.error("address", f"{address:#x} is outside the module image")

    def entry_table(self, name: str, entry_size: int) -> tuple[int, bytes] | None:
        """(address, bytes) of the loaded section ``name`` made of ``entry_size``-byte entries
        (``__ex_table``, ``__jump_table``, ...); None if the module has none; LoadError naming the
        section if its size is not a whole number of entries."""
        section = self.image.section_by_name(name)
        if section is None or section.sh_size < entry_size:
            return None
        base = self.section_address(section)
        if base is None:
            return None
        if section.sh_size % entry_size:
            raise self.error(name, f"size {section.sh_size:#x} is not a multiple of {entry_size}")
        return base, self.read(base, section.sh_size)

    def read_cstring(self, address: int) -> str:
        """A NUL-terminated string in the module image."""
        for allocation, base in self.bases.items():
            buf = self.memory[allocation]
            if base <= address < base + len(buf):
                end = buf.find(0, address - base)
                if end < 0:
                    break
                return buf[address - base : end].decode("utf-8", "replace")
        raise self.error("string", f"no NUL-terminated string at {address:#x}")

    # -- step 2 --------------------------------------------------------------
    def place(self, bases: dict[str, int]) -> None:
        """Fix each allocation's base and copy section contents into place."""
        self.bases = dict(bases)
        self.memory = {name: bytearray(size) for name, size in self.layout.sizes.items()}
        sections, data = self.image.sections, memoryview(self.image.data)
        for index, (allocation, offset) in self.layout.placements.items():
            section = sections[index]
            if section.sh_type != c.SHT_NOBITS:  # .bss stays the zeroes bytearray() gave
                self.memory[allocation][offset : offset + section.sh_size] = \
                    data[section.sh_offset : section.sh_offset + section.sh_size]

    # -- step 3 --------------------------------------------------------------
    def bind(self, resolve: Resolver) -> None:
        """Give every symbol its run-time address; unresolved ones fail together.

        Whole columns are computed at once (``map`` over the symbol arrays
        runs in C); Python runs once per undefined symbol only. A module has
        thousands of symbols and a corpus millions.
        """
        symtab = self.image.symtab
        if symtab is None:
            self.symbol_addresses = []
            return
        shndxs, values = symtab.st_shndx, symtab.st_value
        # Address of byte 0 of each section index that occurs: placed
        # sections their base; SHN_ABS 0 (the value is the address);
        # everything else 0 for now and fixed below.
        section_bases = dict.fromkeys(set(shndxs), 0)
        for index, (allocation, offset) in self.layout.placements.items():
            if index in section_bases:
                section_bases[index] = self.bases[allocation] + offset
        addresses = list(map(add, map(section_bases.__getitem__, shndxs), values))
        addresses[0] = 0
        unplaced = {s for s in section_bases if s not in self.layout.placements and s not in _VALUE_IS_ADDRESS}
        if unplaced:
            # Undefined symbols, COMMON ones and those of sections that are not
            # loaded (debug info: they keep address 0).
            for i in compress(range(symtab.count), map(unplaced.__contains__, shndxs)):
                addresses[i] = 0
            self._refuse_relocations_to_unloaded(unplaced - {c.SHN_UNDEF, c.SHN_COMMON})
        if c.SHN_COMMON in section_bases:
            common_base = self.block_address("common")
            for i, offset in self.common_offsets.items():
                addresses[i] = common_base + offset
        if c.SHN_UNDEF in section_bases:
            self._bind_undefined_all(symtab, addresses, resolve)
        self.symbol_addresses = addresses

    def _refuse_relocations_to_unloaded(self, unloaded: set[int]) -> None:
        """ELF-CHECKLIST G3: loaded code or data relocated against a symbol of a section
        that is not loaded (it would silently bind to 0) is refused, naming the symbol."""
        if not unloaded:
            return
        symtab = self.image.symtab
        assert symtab is not None
        doomed = set(compress(range(symtab.count), map(unloaded.__contains__, symtab.st_shndx)))
        for table in self.image.reloc_tables:
            if table.target is None or not table.target_is_alloc or table.symtab is not symtab:
                continue
            hit = doomed.intersection(table.r_sym)
            if hit:
                sym = min(hit)
                section = self.image.sections[symtab.st_shndx[sym]] if symtab.st_shndx[sym] < len(self.image.sections) else None
                where = f"[{section.index}] {section.name}" if section is not None else f"index {symtab.st_shndx[sym]}"
                name = symtab.names_of([sym])[0] or (section.name if section is not None else f"#{sym}")
                raise self.error("relocation-to-unloaded",
                                 f"{table.section.name} relocates against {name}, defined in section {where} "
                                 "which is not loaded (no SHF_ALLOC): it would bind to 0")

    def _bind_undefined_all(self, symtab: SymbolTable, addresses: list[int], resolve: Resolver) -> None:
        got = self.block_address("got") if "got" in self.layout.blocks else 0
        undefined = [i for i in compress(range(1, symtab.count), map((c.SHN_UNDEF).__eq__, symtab.st_shndx[1:]))
                     if symtab.st_name[i]]
        names = symtab.names_of(undefined)
        if got and GOT_SYMBOL in names:  # the loader's own GOT, never asked of the kernel
            for i in [i for i, name in zip(undefined, names) if name == GOT_SYMBOL]:
                addresses[i] = got
            kept = [k for k, name in enumerate(names) if name != GOT_SYMBOL]
            undefined, names = [undefined[k] for k in kept], [names[k] for k in kept]
        # A resolver may take every name at once (the kernel's: lookups in C).
        many = getattr(resolve, "many", None)
        resolved = many(names) if many is not None else list(map(resolve, names))
        missing: list[str] = []
        for i, name, address in zip(undefined, names, resolved):
            if address is not None:
                self.imports[name] = addresses[i] = address
            elif symtab.st_info[i] >> 4 == c.STB_WEAK:
                self.weak_unresolved.append(name)
            else:
                missing.append(name)
        self.refuse_missing(missing)

    def bind_undefined(self, name: str, weak: bool, resolve: Resolver, missing: list[str]) -> int | None:
        """Address for an undefined symbol: resolved, 0 if weak, else noted in ``missing`` (None)."""
        address = resolve(name)
        if address is not None:
            self.imports[name] = address
            return address
        if weak:
            self.weak_unresolved.append(name)
            return 0
        missing.append(name)
        return None

    def refuse_missing(self, missing: list[str]) -> None:
        """One LoadError listing every unresolved name, if there are any."""
        if missing:
            unique = sorted(set(missing))
            hint = ""
            if "_start" in unique:
                hint = ("; _start is the linker's default entry point, not a kernel symbol: link with -e 0 "
                        "(and --unresolved-symbols=ignore-all for kernel symbols), or define _start")
            raise self.error(
                "unresolved-symbols",
                f"{len(unique)} undefined symbol(s) not exported by the kernel or any loaded module: "
                + ", ".join(unique) + hint,
            )

    # -- step 4 --------------------------------------------------------------
    def relocate(self, batch: BatchRelocator | None = None) -> None:
        """Apply every relocation whose target section is loaded.

        When every table is the Linux ``.ko`` case (REL, R_386_32/R_386_PC32
        only, every field inside its section: all checked here) the whole
        module goes to ``batch`` in one piece, if given: the kernel passes its
        relocation loop running on the emulated CPU. Otherwise, and without
        ``batch``, each table is applied here in order.
        """
        got = self.block_address("got") if "got" in self.layout.blocks else 0
        if got:
            allocation, offset = self.layout.blocks["got"]
            for sym, slot in self.got_slots.items():
                # A garbage st_value can put a symbol past 4 GiB; addresses wrap, as the CPU's would.
                struct.pack_into("<I", self.memory[allocation], offset + 4 * slot, self.symbol_addresses[sym] & 0xFFFFFFFF)
        applied: list[tuple[RelocTable, Section]] = []
        for table in self.image.reloc_tables:
            target = table.target
            if target is None or target.index not in self.layout.placements:
                name = table.section.name
                self.skipped_relocations.append(name)
                continue
            if target.is_nobits:
                raise self.error(
                    "relocation-target", f"{table.section.name} relocates {target.name}, which has no file contents"
                )
            applied.append((table, target))
        if batch is not None and applied and all(_is_abs_pc_only(t, target) for t, target in applied):
            work = []
            for table, target in applied:
                allocation, section_offset = self.layout.placements[target.index]
                work.append(BatchTable(self.image.section_bytes(table.section), table.count, allocation,
                                       section_offset, self.bases[allocation] + section_offset))
            batch(work, self.symbol_addresses, self.memory)
            self.relocation_count += sum(t.count for t, _ in applied)
            return
        for table, target in applied:
            self._apply_table(table, target, got)

    def _apply_table(self, table, target: Section, got: int) -> None:  # type: ignore[no-untyped-def]
        allocation, section_offset = self.layout.placements[target.index]
        buf = self.memory[allocation]
        section_base = self.bases[allocation] + section_offset
        addresses = self.symbol_addresses
        offsets, types, syms = table.r_offset, table.r_type, table.r_sym
        addends = table.r_addend
        size = target.sh_size
        if _is_abs_pc_only(table, target):
            # The Linux .ko case: REL with R_386_32 / R_386_PC32 only, every
            # field inside the section. Same arithmetic, applied in order (so
            # two relocations of one word compose), without per-entry recipe
            # lookups; 32-bit fields wrap, so nothing can overflow.
            _apply_abs_pc(buf, section_offset, section_base, offsets, types, syms, addresses)
            self.relocation_count += table.count
            return
        got_slots = self.got_slots
        for k in range(table.count):
            rtype = types[k]
            recipe = RECIPES.get(rtype)
            r_offset = offsets[k]
            if recipe is None:
                raise self.error(
                    "relocation-type",
                    f"unsupported relocation type {reloc_type_name(rtype)} in {table.section.name} "
                    f"entry {k} at {target.name}+{r_offset:#x}",
                )
            width = recipe.width
            if width == 0:
                continue
            if r_offset + width > size:
                raise self.error(
                    "relocation-offset",
                    f"{table.section.name} entry {k}: {recipe.name} at {target.name}+{r_offset:#x} "
                    f"runs past the section's end ({size:#x} bytes)",
                )
            where = section_offset + r_offset
            sym = syms[k]
            if addends is not None:
                addend = addends[k]
            else:
                addend = struct.unpack_from(_SIGNED_READ[width], buf, where)[0]
            place = section_base + r_offset
            got_offset = 4 * got_slots[sym] if recipe.uses_got else 0
            value = recipe.compute(addresses[sym], addend, place, got_offset, got)
            if rtype in GOT_TYPES and _no_base_register(buf, where):
                value = got + got_offset + addend
            if not fits(value, width, recipe.signed):
                raise self.error(
                    "relocation-overflow",
                    f"{recipe.name} at {target.name}+{r_offset:#x} against "
                    f"{self.image.symtab.names[sym] or 'section'}: value {value:#x} does not fit in {width} byte(s)",
                )
            struct.pack_into(_UNSIGNED_WRITE[width], buf, where, value & _MASK[width])
        self.relocation_count += table.count

    # -- step 5 ----------------------------------------------------------------
    def read_exports(self) -> list[ExportEntry]:
        """The module's exports from ``__ksymtab`` and ``__ksymtab_gpl``.

        Both layouts are 12 bytes on i386: absolute pointers (value, name,
        namespace) or, with PREL32 relocations as Linux 6.1 builds, offsets
        from each field. The relocations against the table tell which.
        """
        exports: list[ExportEntry] = []
        for section_name, gpl in (("__ksymtab", False), ("__ksymtab_gpl", True)):
            section = self.image.section_by_name(section_name)
            if section is None or section.sh_size == 0:
                continue
            base = self.section_address(section)
            if base is None:
                continue
            relative = any(
                c.R_386_PC32 in t.r_type
                for t in self.image.reloc_tables
                if t.target is not None and t.target.index == section.index
            )
            if section.sh_size % 12:
                raise self.error("ksymtab", f"{section_name} size {section.sh_size:#x} is not a multiple of 12")
            for entry in range(base, base + section.sh_size, 12):
                value, name_ref = struct.unpack("<ii", self.read(entry, 8))
                if relative:
                    address, name_address = (entry + value) & 0xFFFFFFFF, (entry + 4 + name_ref) & 0xFFFFFFFF
                else:
                    address, name_address = value & 0xFFFFFFFF, name_ref & 0xFFFFFFFF
                name = self._export_name(section_name, (entry - base) // 12, name_address)
                if not self._in_image(address):
                    raise self.error("ksymtab-address", f"export {name} ({section_name} entry {(entry - base) // 12}) "
                                     f"points at {address:#x}, outside the module's loaded sections")
                exports.append(ExportEntry(name, address, gpl))
        return exports

    def _export_name(self, table: str, index: int, address: int) -> str:
        """An export's name: NUL-terminated inside ``__ksymtab_strings`` (when there is one), an identifier."""
        strings = self.image.section_by_name("__ksymtab_strings")
        low = self.section_address(strings) if strings is not None else None
        if low is not None and strings is not None:
            high = low + strings.sh_size
            if not low <= address < high:
                raise self.error("ksymtab-name", f"{table} entry {index}: name at {address:#x} is outside "
                                 f"__ksymtab_strings [{low:#x}, {high:#x})")
            raw = self.read(address, high - address)
            end = raw.find(0)
            if end < 0:
                raise self.error("ksymtab-name", f"{table} entry {index}: name {raw[:40]!r} is not NUL-terminated "
                                 "inside __ksymtab_strings")
            name = raw[:end].decode("utf-8", "replace")
        else:
            name = self.read_cstring(address)
        if not _IDENTIFIER.fullmatch(name):
            raise self.error("ksymtab-name", f"{table} entry {index}: name {name[:40]!r} is not a symbol name")
        return name

    def _in_image(self, address: int) -> bool:
        return any(base <= address < base + len(self.memory[allocation]) for allocation, base in self.bases.items())

    # -- symbols for Python and the symbolizer ---------------------------------
    @property
    def named_symbols(self) -> SymbolTable | None:
        """The table ``symbol_addresses`` describes: .symtab, or .dynsym if stripped."""
        return self.image.symtab or self.image.dynsym

    def defined_symbols(self) -> dict[str, int]:
        """name -> address of every defined symbol; globals win over locals."""
        symtab = self.named_symbols
        result: dict[str, int] = {}
        if symtab is None:
            return result
        for i in range(1, symtab.count):
            name = symtab.names[i]
            if not name or symtab.st_shndx[i] == c.SHN_UNDEF:
                continue
            if symtab.st_info[i] & 0xF not in _SYMBOL_TYPES:
                continue
            if symtab.st_info[i] >> 4 == c.STB_LOCAL:
                result.setdefault(name, self.symbol_addresses[i])
            else:
                result[name] = self.symbol_addresses[i]
        return result

    def find_symbol(self, name: str, globals_only: bool = False) -> int | None:
        """Address of the defined symbol ``name`` as :meth:`defined_symbols` would give it, or None.

        For the few names the loader asks about (init_module, well-known entry
        points) without building the whole dict. ``globals_only`` ignores
        local symbols.
        """
        symtab = self.named_symbols
        if symtab is None:
            return None
        local: int | None = None
        last_global: int | None = None
        for i in symtab.indices_named(name):
            if i == 0 or symtab.st_shndx[i] == c.SHN_UNDEF or symtab.st_info[i] & 0xF not in _SYMBOL_TYPES:
                continue
            if symtab.st_info[i] >> 4 != c.STB_LOCAL:
                last_global = i
            elif local is None:
                local = i
        chosen = last_global if last_global is not None or globals_only else local
        return None if chosen is None else self.symbol_addresses[chosen]

    def global_symbol_names(self) -> set[str]:
        """Names of defined GLOBAL or WEAK symbols."""
        symtab = self.named_symbols
        if symtab is None:
            return set()
        return {
            symtab.names[i] for i in range(1, symtab.count)
            if symtab.st_shndx[i] != c.SHN_UNDEF and symtab.st_info[i] >> 4 != c.STB_LOCAL and symtab.names[i]
        }

    def section_symbols(self) -> dict[int, list[tuple[int, int, str]]]:
        """Per loaded section index: sorted (address, size, name) of its symbols."""
        symtab = self.named_symbols
        out: dict[int, list[tuple[int, int, str]]] = {}
        if symtab is None:
            return out
        for i in range(1, symtab.count):
            shndx = symtab.st_shndx[i]
            name = symtab.names[i]
            if shndx not in self.layout.placements or not name or name.startswith(".L"):
                continue
            if symtab.st_info[i] & 0xF not in _SYMBOL_TYPES:
                continue
            out.setdefault(shndx, []).append((self.symbol_addresses[i], symtab.st_size[i], name))
        for entries in out.values():
            entries.sort()
        return out


_ABS_PC_ONLY = frozenset({c.R_386_32, c.R_386_PC32})


def _is_abs_pc_only(table: RelocTable, target: Section) -> bool:
    """The Linux .ko case: REL, only R_386_32/R_386_PC32, every 4-byte field inside the section."""
    return (table.r_addend is None and table.count > 0 and table.max_offset + 4 <= target.sh_size
            and _ABS_PC_ONLY.issuperset(table.types))


@dataclass(slots=True)
class BatchTable:
    """One relocation table handed to a batch relocator, already checked.

    ``entries`` are the raw Elf32_Rel entries from the file; the fields lie
    ``section_offset`` bytes into ``allocation``'s image, and the section runs
    at ``section_base``.
    """

    entries: memoryview
    count: int
    allocation: str
    section_offset: int
    section_base: int


# (tables, symbol addresses by index, allocation images) -> None; patches the images.
BatchRelocator = Callable[[list[BatchTable], list[int], dict[str, bytearray]], None]
_U32 = struct.Struct("<I")


def _apply_abs_pc(buf: bytearray, section_offset: int, section_base: int, offsets, types, syms, addresses) -> None:  # type: ignore[no-untyped-def]
    """R_386_32 (S + A) and R_386_PC32 (S + A - P) with implicit addends, in table order."""
    unpack_from, pack_into = _U32.unpack_from, _U32.pack_into
    pc32 = c.R_386_PC32
    for r_offset, rtype, sym in zip(offsets, types, syms):
        where = section_offset + r_offset
        value = addresses[sym] + unpack_from(buf, where)[0]
        if rtype == pc32:
            value -= section_base + r_offset
        pack_into(buf, where, value & 0xFFFFFFFF)


def _no_base_register(buf: bytearray, where: int) -> bool:
    """True if the ModRM byte before the field encodes disp32 with no base."""
    if where < 1:
        return False
    modrm = buf[where - 1]
    return modrm >> 6 == 0 and modrm & 7 == 5


def module_name(image: ElfImage) -> str:
    """The module's name: ``.modinfo`` ``name=`` or the file's stem, Linux-style."""
    from ..formats.base import module_name_from

    return module_name_from(image)


def check_link_rules(image: ElfImage) -> None:
    """Rules every format shares: no W+X section, not both .ctors and .init_array."""
    names = {s.name for s in image.sections}
    if ".ctors" in names and ".init_array" in names:
        raise LoadError(image.name, "ctors-and-init-array", "module has both .ctors and .init_array")
    for section in image.sections:
        if section.is_alloc and section.is_write and section.is_exec:
            raise LoadError(
                image.name,
                "writable-executable",
                f"section [{section.index}] {section.name} is both writable and executable (refused: W^X)",
            )


def link_module(image: ElfImage) -> LinkPlan:
    """Step 1: check link rules and lay the module out, by its ELF type."""
    if image.e_type != c.ET_REL:
        from .segments import link_segments

        check_link_rules(image)
        return link_segments(image)
    if image.symtab is None:
        raise LoadError(image.name, "symtab", "no symbol table (stripped?)")
    check_link_rules(image)
    symtab = image.symtab
    got_slots: dict[int, int] = {}
    for table in image.reloc_tables:
        # isdisjoint walks the type array in C: most tables have no GOT type.
        if table.target is None or not table.target.is_alloc or GOT_TYPES.isdisjoint(table.types):
            continue
        for k in range(table.count):
            if table.r_type[k] in GOT_TYPES:
                got_slots.setdefault(table.r_sym[k], len(got_slots))
    common_offsets: dict[int, int] = {}
    common_size = 0
    common_align = 4
    common = compress(range(symtab.count), map((c.SHN_COMMON).__eq__, symtab.st_shndx)) if c.SHN_COMMON in symtab.st_shndx else ()
    for i in common:
        align = max(1, symtab.st_value[i])
        common_size = (common_size + align - 1) // align * align
        common_offsets[i] = common_size
        common_size += symtab.st_size[i]
        common_align = max(common_align, align)
    extra: dict[str, tuple[str, int, int]] = {}
    uses_got_base = got_slots or symtab.indices_named(GOT_SYMBOL)
    if uses_got_base:
        extra["got"] = ("rodata", 4 * max(1, len(got_slots)), 4)
    if common_offsets:
        extra["common"] = ("data", common_size, common_align)
    layout = plan_layout(image, extra)
    return LinkPlan(image, module_name(image), layout, got_slots, common_offsets)
