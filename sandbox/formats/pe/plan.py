"""From a checked PeImage to a relocated, bound image: the PE plan the life cycle maps.

The plan offers what :mod:`sandbox.lifecycle` uses of the ELF plans
(``layout``, ``place``, ``bind``, ``relocate``, ``read_exports``, the symbol
queries), so a PE module is loaded, traced and unloaded by the same steps:

1. :func:`plan_image` lays the image out as one ``core`` allocation of
   SizeOfImage, with page permissions from the section characteristics
   (a page both writable and executable is refused, as for ELF);
2. :meth:`PePlan.place` copies the laid-out image (uninitialised data zero);
3. :meth:`PePlan.bind` fills every import address table slot, the normal and
   the delay-load ones alike (delay-load imports are bound at load, so the
   image's own delay helper never runs), through the profile's DLL map
   (:mod:`.dlls`): ``DLL!name`` and ``DLL!#ordinal`` nothing provides fail
   together, or become traps under ``Kernel(unresolved="trap")``; export
   forwarders are resolved here too;
4. :meth:`PePlan.relocate` adds the move to every HIGHLOW field;
5. :meth:`PePlan.read_exports` gives the named exports to the kernel's export
   table; ordinals stay with the plan for PE importers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from ...errors import LoadError
from ...link.layout import Extent, Layout
from ...link.plan import ExportEntry
from ...machine.address_map import PAGE_SIZE, page_align_up
from ...machine.memory import R, W, X
from . import constants as pc
from .dlls import DllMap
from .image import PeImage, PeSection

# Entry points the generic profile finds by export name: never published as exports
# (every module has them), as for ELF shared objects.
ENTRY_NAMES = frozenset({"init_module", "cleanup_module"})
_U32 = struct.Struct("<I")
_MAX_FORWARD_HOPS = 16


@dataclass
class PePlan:
    """Everything known about a PE module between parsing and mapping."""

    image: PeImage
    name: str
    layout: Layout
    bases: dict[str, int] = field(default_factory=dict)
    memory: dict[str, bytearray] = field(default_factory=dict)
    imports: dict[str, int] = field(default_factory=dict)  # name (or DLL!#n) -> bound address
    needed: list[str] = field(default_factory=list)  # PE names its providers per import: see used_modules
    used_modules: set[str] = field(default_factory=set)  # loaded modules whose exports the imports bound to
    ordinal_exports: dict[int, int] = field(default_factory=dict)  # ordinal -> address, once bound
    named_exports: dict[str, int] = field(default_factory=dict)  # every export name -> address, once bound
    trapped: list[str] = field(default_factory=list)  # DLL!name imports bound to traps
    weak_unresolved: list[str] = field(default_factory=list)
    skipped_relocations: list[str] = field(default_factory=list)
    relocation_count: int = 0
    symbol_addresses: list[int] = field(default_factory=list)
    _slots: dict[int, int] = field(default_factory=dict)  # IAT offset -> bound address

    # -- helpers -------------------------------------------------------------
    def error(self, check: str, detail: str) -> LoadError:
        """A LoadError about this module's file."""
        return LoadError(self.image.name, check, detail)

    @property
    def base(self) -> int:
        """Where the image (its RVA 0) is mapped."""
        return self.bases["core"]

    @property
    def delta(self) -> int:
        """How far the image moved from its ImageBase (what ``ImageEntry``-style finders add to e_entry)."""
        return (self.bases["core"] - self.image.image_base) & 0xFFFFFFFF

    @property
    def entry_address(self) -> int | None:
        """Run-time address of AddressOfEntryPoint, None if the image has none."""
        return self.base + self.image.entry_rva if self.image.entry_rva and self.bases else None

    def section_address(self, section: PeSection) -> int | None:
        """Run-time address of a mapped section, None before placing or if it is not mapped (``.reloc``, DWARF)."""
        if not self.bases or section.index not in self.layout.placements:
            return None
        return self.bases["core"] + section.virtual_address

    def entry_table(self, name: str, entry_size: int) -> tuple[int, bytes] | None:
        """Linux's loader tables (``__ex_table``, ``__jump_table``) are ELF sections: a PE image has none."""
        return None

    def read(self, address: int, size: int) -> bytes:
        """Bytes of the module image at a run-time address."""
        offset = address - self.bases["core"]
        buf = self.memory["core"]
        if not 0 <= offset <= len(buf) - size:
            raise self.error("address", f"{address:#x} is outside the module image")
        return bytes(buf[offset : offset + size])

    def read_cstring(self, address: int) -> str:
        """A NUL-terminated string in the module image."""
        offset = address - self.bases["core"]
        buf = self.memory["core"]
        end = buf.find(0, offset) if 0 <= offset < len(buf) else -1
        if end < 0:
            raise self.error("string", f"no NUL-terminated string at {address:#x}")
        return buf[offset:end].decode("utf-8", "replace")

    # -- step 2 --------------------------------------------------------------
    def place(self, bases: dict[str, int]) -> None:
        """Fix the base and copy the laid-out image (headers, sections, zeroes for bss)."""
        self.bases = dict(bases)
        buf = bytearray(self.layout.sizes["core"])
        buf[: len(self.image.mapped)] = self.image.mapped
        self.memory = {"core": buf}

    # -- step 3 --------------------------------------------------------------
    def bind(self, resolver: Any) -> None:
        """Fill every IAT slot and resolve export forwarders; what nothing provides fails together.

        ``resolver`` is the life cycle's (it knows the kernel: its ``kernel``
        attribute); the DLL map says which DLL names are the kernel's.
        """
        kernel = resolver.kernel
        dlls = DllMap(kernel)
        unbound: list[tuple[int, str, str]] = []  # (IAT offset, DLL!name label, why) of every slot nothing fills
        pending: list[tuple[int, str, str]] = []  # (IAT offset, name, label) asked of the kernel at once
        for imported in self.image.imports:
            provider = dlls.provider(imported.dll)
            for slot, (name, ordinal) in enumerate(zip(imported.names, imported.ordinals)):
                where = imported.iat_rva + 4 * slot
                label = imported.label(slot)
                if provider == "kernel":
                    if name is None:
                        unbound.append((where, label, f"{label} (the kernel exports no ordinals)"))
                    else:
                        pending.append((where, name, label))
                    continue
                address = None if provider is None else dlls.module_export(provider, name, ordinal)
                if address is None:
                    unbound.append((where, label, label))
                    continue
                self.used_modules.add(provider.name)
                self.imports[name if name is not None else label] = address
                self._fill(where, address)
        if pending:
            found = resolver.many([name for _, name, _ in pending])
            for (where, name, label), address in zip(pending, found):
                if address is None:
                    unbound.append((where, label, label))
                    continue
                self.imports[name] = address
                self._fill(where, address)
        missing = [why for _, _, why in unbound] if kernel.unresolved != "trap" else []
        if unbound and kernel.unresolved == "trap":
            self._trap(kernel, unbound)
        self._bind_exports(dlls, missing)  # a forwarder nothing provides fails even under traps
        if missing:
            unique = sorted(set(missing))
            raise self.error("unresolved-imports", f"{len(unique)} import(s) that neither the kernel nor any loaded module "
                             "provides: " + ", ".join(unique))

    def _fill(self, where: int, address: int) -> None:
        """Write an IAT slot (and remember it: a delay-load slot is also a base relocation's target)."""
        self._slots[where] = address & 0xFFFFFFFF
        _U32.pack_into(self.memory["core"], where, address & 0xFFFFFFFF)

    def _trap(self, kernel: Any, unbound: list[tuple[int, str, str]]) -> None:
        """Bind each unfilled slot to a trap named ``DLL!name``.

        A data trap (a never-mapped address): the import table does not say
        whether an import is a function or a variable, and a call to it and a
        read through it both fault naming the import, where a function stub
        would silently read as a variable's value.
        """
        for where, label, _ in unbound:
            address = kernel.traps.data_trap(label)
            kernel.traps.note_trapped(label)
            self.trapped.append(label)
            self.imports[label] = address
            self._fill(where, address)

    def _bind_exports(self, dlls: DllMap, missing: list[str]) -> None:
        """Addresses of the exports, forwarders followed (to this module or a provider)."""
        exports = self.image.exports
        if exports is None:
            return
        base = self.base
        self.ordinal_exports = {ordinal: base + rva for ordinal, rva in exports.functions.items()}
        for ordinal in exports.forwarders:
            address = self._forward(ordinal, dlls, missing)
            if address is not None:
                self.ordinal_exports[ordinal] = address
        self.named_exports = {name: self.ordinal_exports[o] for name, o in exports.names.items() if o in self.ordinal_exports}

    def _forward(self, ordinal: int, dlls: DllMap, missing: list[str]) -> int | None:
        """Follow ordinal's forwarder: to this module's own exports (a chain, loops refused) or a provider's."""
        exports = self.image.exports
        assert exports is not None
        own = {self.name.lower(), exports.dll_name.lower(), exports.dll_name.lower().rsplit(".", 1)[0]}
        chain = [exports.forwarders[ordinal]]
        while True:
            target = chain[-1]
            dll, dot, item = target.rpartition(".")
            if not dot or not dll or not item:
                raise self.error("export-forwarder", f"export ordinal {ordinal} forwards to {target!r}, not DLL.name or DLL.#n")
            by_ordinal = int(item[1:]) if item.startswith("#") and item[1:].isdigit() else None
            if dll.lower() not in own:
                break
            hop = by_ordinal if by_ordinal is not None else exports.names.get(item)
            if hop in exports.functions:
                return self.base + exports.functions[hop]
            if hop not in exports.forwarders:
                missing.append(f"{target} (forwarded from ordinal {ordinal}: {self.name} has no such export)")
                return None
            if exports.forwarders[hop] in chain or len(chain) >= _MAX_FORWARD_HOPS:
                raise self.error("export-forwarder", "export forwarders loop: " + " -> ".join([*chain, exports.forwarders[hop]]))
            chain.append(exports.forwarders[hop])
        provider = dlls.provider(dll)
        if provider == "kernel":
            address = None if by_ordinal is not None else dlls.kernel.resolve(item)
        elif provider is None:
            address = None
        else:
            address = dlls.module_export(provider, None if by_ordinal is not None else item, by_ordinal)
            if address is not None:
                self.used_modules.add(provider.name)
        if address is None:
            missing.append(f"{dll}!{item} (forwarded from ordinal {ordinal})")
        return address

    # -- step 4 --------------------------------------------------------------
    def relocate(self, batch: Any = None) -> None:
        """Add the move (base - ImageBase) to every HIGHLOW field (``batch`` is for ELF's loop; not used)."""
        targets = self.image.relocations
        self.relocation_count = len(targets)
        delta = self.delta
        if not delta:
            return
        buf = self.memory["core"]
        unpack_from, pack_into = _U32.unpack_from, _U32.pack_into
        for where in targets:
            pack_into(buf, where, (unpack_from(buf, where)[0] + delta) & 0xFFFFFFFF)
        # A delay-load IAT holds the image's own thunk addresses, which the base
        # relocations move; the loader bound those slots already, so they stay bound.
        for where, address in self._slots.items():
            pack_into(buf, where, address)

    # -- step 5 --------------------------------------------------------------
    def read_exports(self) -> list[ExportEntry]:
        """The named exports, published while the module is live (entry names kept to the module)."""
        return [ExportEntry(name, address, False) for name, address in self.named_exports.items() if name not in ENTRY_NAMES]

    def dwarf(self) -> tuple[Any, list[tuple[int, int, int]]] | None:
        """DWARF info and code moves, for line coverage (see :func:`dwarf_of`)."""
        return dwarf_of(self)

    # -- symbols for Python and the symbolizer -----------------------------------
    def _coff_addresses(self) -> list[tuple[str, int, bool, bool]]:
        """(name, address, global, function) of every COFF symbol of a mapped section."""
        sections = self.image.sections
        base = self.base
        return [(s.name, base + sections[s.section].virtual_address + s.value, s.storage_class == pc.SYM_CLASS_EXTERNAL,
                 s.is_function) for s in self.image.coff_symbols]

    def defined_symbols(self) -> dict[str, int]:
        """name -> address of every export and COFF symbol; globals and exports win over locals."""
        result: dict[str, int] = {}
        for name, address, is_global, _ in self._coff_addresses():
            if is_global:
                result[name] = address
            else:
                result.setdefault(name, address)
        result.update(self.named_exports)
        return result

    def find_symbol(self, name: str, globals_only: bool = False) -> int | None:
        """Address of export or COFF symbol ``name`` (``globals_only`` skips static symbols)."""
        if name in self.named_exports:
            return self.named_exports[name]
        local = None
        for symbol, address, is_global, _ in self._coff_addresses():
            if symbol == name:
                if is_global:
                    return address
                if local is None:
                    local = address
        return None if globals_only else local

    def global_symbol_names(self) -> set[str]:
        """Names of the exports and external COFF symbols."""
        return set(self.named_exports) | {n for n, _, g, _ in self._coff_addresses() if g}

    def section_symbols(self) -> dict[int, list[tuple[int, int, str]]]:
        """Per section index: sorted (address, size, name); a symbol runs to the next one or the section's end."""
        by_address: dict[int, str] = {}
        for name, address, _, _ in self._coff_addresses():
            by_address.setdefault(address, name)
        for name, address in self.named_exports.items():
            by_address[address] = name  # the export name is what other modules call it
        out: dict[int, list[tuple[int, int, str]]] = {}
        for address in sorted(by_address):
            section = self.image.section_at(address - self.base)
            if section is not None:
                out.setdefault(section.index, []).append((address, 0, by_address[address]))
        for index, entries in out.items():
            section = self.image.sections[index]
            end = self.base + section.virtual_address + section.virtual_size
            ends = [e[0] for e in entries[1:]] + [end]
            out[index] = [(address, stop - address, name) for (address, _, name), stop in zip(entries, ends)]
        return out


_DWARF_SECTIONS = (
    "debug_info", "debug_aranges", "debug_abbrev", "debug_frame", "eh_frame", "debug_str", "debug_loc",
    "debug_ranges", "debug_line", "debug_pubtypes", "debug_pubnames", "debug_addr", "debug_str_offsets",
    "debug_line_str", "debug_loclists", "debug_rnglists", "debug_sup", "gnu_debugaltlink", "debug_types",
)


def dwarf_of(plan: PePlan) -> tuple[Any, list[tuple[int, int, int]]] | None:
    """The DWARF mingw links into the image (pyelftools over the sections' bytes), and the code moves; None without."""
    import io

    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

    image = plan.image
    sections = {s.name: s for s in image.sections[1:] if s.name.startswith(".debug_")}
    if ".debug_info" not in sections or ".debug_line" not in sections:
        return None

    def descriptor(name: str) -> Any:
        section = sections.get("." + name)
        if section is None:
            return None
        raw = bytes(image.mapped[section.virtual_address : section.virtual_address + section.virtual_size])
        return DebugSectionDescriptor(io.BytesIO(raw), "." + name, 0, len(raw), 0)

    dwarf = DWARFInfo(DwarfConfig(True, "x86", 4), *(descriptor(name) for name in _DWARF_SECTIONS))
    moves = [(image.image_base + s.virtual_address, image.image_base + s.virtual_address + s.virtual_size, plan.delta)
             for s in image.sections[1:] if s.is_exec and s.virtual_size]
    return dwarf, moves


def is_mapped(section: PeSection) -> bool:
    """Whether the section is mapped: all but the discardable ones nothing runs from or reads.

    ``.reloc`` is spent once the image is rebased, and DWARF (``.debug_*``, which
    mingw links into the image) is for tools; both stay in the plan's bytes for
    them. Other discardable sections (an NT driver's ``INIT`` code) are mapped.
    """
    discardable = section.characteristics & pc.SCN_MEM_DISCARDABLE
    return not (discardable and (section.name == ".reloc" or section.name.startswith(".debug")))


def _page_extents(image: PeImage, size: int) -> list[Extent]:
    """One extent per run of pages with the same permissions; a page both W and X is refused."""
    pages: dict[int, tuple[int, list[str]]] = {}
    for section in image.sections:
        if not section.virtual_size or not is_mapped(section):
            continue
        first = section.virtual_address // PAGE_SIZE
        last = (section.virtual_address + section.virtual_size - 1) // PAGE_SIZE
        for page in range(first, last + 1):
            perms, owners = pages.get(page, (0, []))
            pages[page] = (perms | section.perms, [*owners, section.label()])
    extents: list[Extent] = []
    for page in sorted(pages):
        perms, owners = pages[page]
        if perms & W and perms & X:
            what = f"section {owners[0]} is" if len(owners) == 1 else f"page RVA {page * PAGE_SIZE:#x} ({', '.join(owners)}) is"
            raise LoadError(image.name, "writable-executable", f"{what} both writable and executable (refused: W^X)")
        last = extents[-1] if extents else None
        if last is not None and last.perms == perms and last.offset + last.size == page * PAGE_SIZE:
            last.size += PAGE_SIZE
        else:
            label = {R | X: "text", R: "rodata", R | W: "data"}.get(perms, "section")
            extents.append(Extent("core", page * PAGE_SIZE, PAGE_SIZE, perms, label))
    return [e for e in extents if e.offset < size]


def plan_image(image: PeImage, name: str) -> PePlan:
    """Step 1: check what the loader supports and lay the image out in pages."""
    for section in image.sections[1:]:
        if section.is_write and section.is_exec:
            raise LoadError(image.name, "writable-executable",
                            f"section {section.label()} is both writable and executable (refused: W^X)")
    if image.characteristics & pc.FILE_RELOCS_STRIPPED and image.relocations.buffer_info()[1] == 0:
        raise LoadError(image.name, "relocs-stripped", f"relocations were stripped: the image can only run at its "
                        f"ImageBase {image.image_base:#x}, outside the module area (link with relocations: "
                        "--dynamicbase / /fixed:no)")
    size = page_align_up(image.size_of_image)
    layout = Layout(sizes={"core": size}, extents=_page_extents(image, size))
    for section in image.sections:
        if is_mapped(section):
            layout.placements[section.index] = ("core", section.virtual_address)
    return PePlan(image, name, layout)
