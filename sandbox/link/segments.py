"""Linking images that were already linked: shared objects and ``ld -q`` executables.

Both are mapped whole (their PT_LOAD segments, with the segments'
permissions) at a base chosen from the module area, then:

- a shared object (ET_DYN) gets its *dynamic* relocations applied:
  RELATIVE, 32, PC32, GLOB_DAT, JMP_SLOT (REL or RELA), its undefined dynamic
  symbols bound to kernel services and loaded modules, its DT_NEEDED entries
  checked against the loaded modules;
- an executable linked at base 0 with ``--emit-relocs`` (ET_EXEC) is rebased:
  a relocation against one of its own symbols moves only if it is absolute
  (PC-relative references between its sections are already final); one
  against an undefined kernel symbol gets that symbol's address, corrected for
  the move when PC-relative.
"""

from __future__ import annotations

import struct

from ..elf import constants as c
from ..elf.image import ElfImage
from ..elf.relocations import RelocTable
from ..elf.symbols import SymbolTable
from ..errors import LoadError
from ..machine.address_map import PAGE_SIZE, page_align_up
from ..machine.memory import R, W, X
from .layout import Extent, Layout
from .plan import BatchRelocator, LinkPlan, Resolver
from .reloc_types import reloc_type_name

_ABSOLUTE = {c.R_386_32: 4, c.R_386_16: 2, c.R_386_8: 1}
_PC_RELATIVE = {c.R_386_PC32: 4, c.R_386_PLT32: 4, c.R_386_PC16: 2, c.R_386_PC8: 1}
# Relocations between the image's own parts, final wherever it is mapped.
_POSITION_FREE = {c.R_386_NONE, c.R_386_GOTPC, c.R_386_GOTOFF, c.R_386_GOT32, c.R_386_GOT32X}
_FORMATS = {1: "<b", 2: "<h", 4: "<i"}
_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}


def _page_perms(p_flags: int) -> int:
    return (R if p_flags & c.PF_R else 0) | (W if p_flags & c.PF_W else 0) | (X if p_flags & c.PF_X else 0)


class SegmentPlan(LinkPlan):
    """A LinkPlan whose image is mapped by segments instead of by sections."""

    vmin: int = 0
    needed: list[str]

    @property
    def delta(self) -> int:
        """How far the image moved from its link-time addresses."""
        return self.bases["core"] - self.vmin

    def place(self, bases: dict[str, int]) -> None:
        """Copy each PT_LOAD segment's file bytes to its place; the rest stays zero."""
        self.bases = dict(bases)
        buf = bytearray(self.layout.sizes["core"])
        for seg in loaded_segments(self.image):
            if seg.p_filesz:
                start = seg.p_vaddr - self.vmin
                buf[start : start + seg.p_filesz] = self.image.data[seg.p_offset : seg.p_offset + seg.p_filesz]
        self.memory = {"core": buf}

    def _addresses(self, table: SymbolTable, resolve: Resolver, missing: list[str],
                   used: set[int] | None = None) -> list[int]:
        """Run-time address of each symbol; undefined ones are bound (only those in ``used``, if given)."""
        delta = self.delta
        addresses = [0] * table.count
        for i in range(1, table.count):
            shndx = table.st_shndx[i]
            if shndx == c.SHN_ABS:
                addresses[i] = table.st_value[i]
            elif shndx != c.SHN_UNDEF:
                addresses[i] = table.st_value[i] + delta
            elif used is not None and i not in used:
                # Undefined but used by no relocation: ld's default entry
                # symbol `_start` after `ld -q -Ttext=0` without `-e`. Nothing
                # refers to it, so there is nothing to bind (and nothing to blame).
                continue
            elif table.name(i):
                address = self.bind_undefined(table.name(i), table.st_info[i] >> 4 == c.STB_WEAK, resolve, missing)
                if address is not None:
                    addresses[i] = address
        return addresses

    def bind(self, resolve: Resolver) -> None:
        """Bind the symbols the relocations use (dynsym for ET_DYN, symtab for ET_EXEC)."""
        missing: list[str] = []
        self._reloc_addresses: dict[int, list[int]] = {}
        relocs = self._tables()
        tables = {t.symtab.section.index: t.symtab for t in relocs}
        for index, table in tables.items():
            used = None
            if self.image.e_type == c.ET_EXEC:
                used = set()
                for reloc in relocs:
                    if reloc.symtab is table:
                        used.update(reloc.r_sym)
            self._reloc_addresses[index] = self._addresses(table, resolve, missing, used)
        named = self.named_symbols
        if named is not None:
            key = named.section.index
            self.symbol_addresses = self._reloc_addresses.get(key) or self._addresses(named, lambda name: 0, [])
        self.refuse_missing(missing)

    def _tables(self) -> list[RelocTable]:
        if self.image.e_type == c.ET_DYN:
            dynsym = self.image.dynsym
            return [t for t in self.image.reloc_tables if dynsym is not None and t.symtab is dynsym]
        return [t for t in self.image.reloc_tables if t.target_is_alloc and t.symtab is self.image.symtab]

    def relocate(self, batch: BatchRelocator | None = None) -> None:
        """Apply dynamic relocations (ET_DYN) or rebase (ET_EXEC), here in Python (``batch`` is not used)."""
        for table in self._tables():
            if self.image.e_type == c.ET_DYN:
                self._apply_dynamic(table)
            else:
                self._apply_rebase(table)
            self.relocation_count += table.count

    def _field(self, table: RelocTable, k: int, width: int) -> int:
        """Offset into the image of entry ``k``'s field, checked to lie inside it."""
        where = table.r_offset[k] - self.vmin
        if not 0 <= where <= len(self.memory["core"]) - width:
            raise self.error(
                "relocation-offset",
                f"{table.section.label()} entry {k} patches {table.r_offset[k]:#x}, outside the mapped image",
            )
        return where

    def _apply_dynamic(self, table: RelocTable) -> None:
        buf = self.memory["core"]
        addresses = self._reloc_addresses[table.symtab.section.index]
        delta = self.delta
        for k in range(table.count):
            rtype = table.r_type[k]
            if rtype == c.R_386_NONE:
                continue
            where = self._field(table, k, 4)
            addend = table.r_addend[k] if table.r_addend is not None else struct.unpack_from("<i", buf, where)[0]
            symbol = addresses[table.r_sym[k]]
            if rtype == c.R_386_RELATIVE:
                value = delta + addend  # B + A
            elif rtype == c.R_386_32:
                value = symbol + addend  # S + A
            elif rtype == c.R_386_PC32:
                value = symbol + addend - (where + self.bases["core"])  # S + A - P
            elif rtype in (c.R_386_GLOB_DAT, c.R_386_JMP_SLOT):
                value = symbol  # S
            else:
                raise self.error(
                    "relocation-type",
                    f"unsupported dynamic relocation {reloc_type_name(rtype)} in {table.section.label()} entry {k} "
                    f"at {table.r_offset[k]:#x}",
                )
            struct.pack_into("<I", buf, where, value & 0xFFFFFFFF)

    def _apply_rebase(self, table: RelocTable) -> None:
        buf = self.memory["core"]
        symtab = table.symtab
        addresses = self._reloc_addresses[symtab.section.index]
        delta = self.delta
        for k in range(table.count):
            rtype = table.r_type[k]
            if rtype in _POSITION_FREE:
                continue
            sym = table.r_sym[k]
            shndx = symtab.st_shndx[sym]
            if rtype in _ABSOLUTE:
                width = _ABSOLUTE[rtype]
                # ld stored S + A with S = 0 for undefined symbols.
                shift = addresses[sym] if shndx == c.SHN_UNDEF else 0 if shndx == c.SHN_ABS else delta
            elif rtype in _PC_RELATIVE:
                width = _PC_RELATIVE[rtype]
                # Final between the image's own parts; against anything outside
                # it, the place moved by delta while the target did not.
                shift = 0 if shndx not in (c.SHN_UNDEF, c.SHN_ABS) else addresses[sym] - delta
            else:
                raise self.error(
                    "relocation-type",
                    f"cannot rebase {reloc_type_name(rtype)} in {table.section.label()} entry {k} at {table.r_offset[k]:#x}",
                )
            if shift == 0:
                continue
            where = self._field(table, k, width)
            value = struct.unpack_from(_FORMATS[width], buf, where)[0] + shift
            if width < 4 and not -(1 << (8 * width - 1)) <= value < (1 << (8 * width)):
                raise self.error(
                    "relocation-overflow",
                    f"{reloc_type_name(rtype)} at {table.r_offset[k]:#x} overflows {width} byte(s) after rebasing",
                )
            struct.pack_into(_FORMATS[width].upper(), buf, where, value & _MASKS[width])

    def read_exports(self):  # type: ignore[no-untyped-def]
        """``__ksymtab`` exports, or for a shared object without one, its global dynamic symbols.

        Those are the defined STB_GLOBAL functions and objects of ``.dynsym``
        (default or protected visibility; hidden ones never reach it). The
        loader then drops the names the profile's entry conventions consume.
        """
        exports = super().read_exports()
        if exports or self.image.e_type != c.ET_DYN or self.image.dynsym is None:
            return exports
        from .plan import ExportEntry

        dynsym = self.image.dynsym
        addresses = self._reloc_addresses.get(dynsym.section.index) or self._addresses(dynsym, lambda name: 0, [])
        for i in range(1, dynsym.count):
            if dynsym.st_shndx[i] not in (c.SHN_UNDEF, c.SHN_ABS) and dynsym.st_info[i] >> 4 == c.STB_GLOBAL \
                    and dynsym.st_info[i] & 0xF in (c.STT_FUNC, c.STT_OBJECT):
                exports.append(ExportEntry(dynsym.names[i], addresses[i], False))
        return exports


def _dynamic_needed(image: ElfImage) -> list[str]:
    """DT_NEEDED names from the .dynamic section (checked against the file)."""
    dynamic = next((s for s in image.sections if s.sh_type == c.SHT_DYNAMIC), None)
    if dynamic is None:
        return []
    strtab_index = dynamic.sh_link
    if not 0 < strtab_index < len(image.sections):
        raise LoadError(image.name, "dynamic", f"{dynamic.label()} links to no string table")
    strtab = bytes(image.section_bytes(image.sections[strtab_index]))
    needed = []
    for tag, value in struct.iter_unpack("<iI", bytes(image.section_bytes(dynamic))[: dynamic.sh_size // 8 * 8]):
        if tag == c.DT_NULL:
            break
        if tag == c.DT_NEEDED:
            if value >= len(strtab):
                raise LoadError(image.name, "dynamic", f"DT_NEEDED name offset {value:#x} is outside the dynamic string table")
            needed.append(strtab[value : strtab.index(b"\0", value)].decode("utf-8", "replace"))
    return needed


def loaded_segments(image: ElfImage) -> list:  # type: ignore[type-arg]
    """The PT_LOAD segments to map: those holding at least one allocated section.

    ld.lld puts the ELF header and program headers in a PT_LOAD of their own
    (at 0x400000 when text is at 0): nothing refers to it, and mapping it
    would reserve 4 MiB for a three-page driver.
    """
    loads = [s for s in image.segments if s.p_type == c.PT_LOAD and s.p_memsz]
    spans = [(s.sh_addr, s.sh_addr + max(s.sh_size, 1)) for s in image.sections if s.is_alloc and s.sh_size]
    if not spans:
        return loads
    kept = [seg for seg in loads if any(seg.p_vaddr <= lo and hi <= seg.p_vaddr + seg.p_memsz for lo, hi in spans)]
    return kept or loads


def _segment_label(image: ElfImage, number: int) -> str:
    """``segment 2 (RW-: .data .bss)``: a segment by its flags and the sections in it."""
    seg = image.segments[number]
    flags = "".join(f if seg.p_flags & bit else "-" for f, bit in (("R", c.PF_R), ("W", c.PF_W), ("X", c.PF_X)))
    names = [s.name for s in image.sections
             if s.is_alloc and s.sh_size and seg.p_vaddr <= s.sh_addr < seg.p_vaddr + seg.p_memsz]
    return f"segment {number} ({flags}{': ' + ' '.join(names) if names else ''})"


_ALIGN_HINT = ("in the linker script, put `. = ALIGN(4096);` before .rodata and before .data, "
               "so code, read-only data and writable data each start a page of their own")


def _writable_executable(image: ElfImage, page: int, owners: list[int]) -> LoadError:
    """The refusal of a page that would need to be both writable and executable, saying why."""
    both = [n for n in owners if image.segments[n].p_flags & c.PF_W and image.segments[n].p_flags & c.PF_X]
    if both:
        detail = (f"{_segment_label(image, both[0])} is both writable and executable: the linker put code and "
                  f"data in one segment (GNU ld warns: 'LOAD segment with RWX permissions'); {_ALIGN_HINT}")
    else:
        shown = ", ".join(_segment_label(image, n) for n in owners)
        detail = (f"page {page:#x} holds {shown}: no segment is writable and executable, but they share a page "
                  f"and a page has one set of permissions, so it would have to be both; {_ALIGN_HINT}")
        return LoadError(image.name, "segments-share-page", detail)
    return LoadError(image.name, "writable-executable", detail)


def _page_layout(image: ElfImage) -> tuple[int, int, list[Extent]]:
    loads = loaded_segments(image)
    if not loads:
        raise LoadError(image.name, "segments", f"{image.kind} file has no PT_LOAD segment to map")
    vmin = min(s.p_vaddr for s in loads) & ~(PAGE_SIZE - 1)
    vmax = page_align_up(max(s.p_vaddr + s.p_memsz for s in loads))
    pages: dict[int, tuple[int, list[int]]] = {}
    for number, seg in enumerate(image.segments):
        if not any(seg is kept for kept in loads):
            continue
        first = (seg.p_vaddr - vmin) // PAGE_SIZE
        last = (seg.p_vaddr + seg.p_memsz - 1 - vmin) // PAGE_SIZE
        for page in range(first, last + 1):
            perms, owners = pages.get(page, (0, []))
            pages[page] = (perms | _page_perms(seg.p_flags), [*owners, number])
    extents: list[Extent] = []
    for page in sorted(pages):
        perms, owners = pages[page]
        if perms & W and perms & X:
            raise _writable_executable(image, vmin + page * PAGE_SIZE, owners)
        last = extents[-1] if extents else None
        if last is not None and last.perms == perms and last.offset + last.size == page * PAGE_SIZE:
            last.size += PAGE_SIZE
        else:
            label = {R | X: "text", R: "rodata", R | W: "data"}.get(perms, "segment")
            extents.append(Extent("core", page * PAGE_SIZE, PAGE_SIZE, perms, label))
    return vmin, vmax, extents


def link_segments(image: ElfImage) -> SegmentPlan:
    """Step 1 for ET_DYN / ET_EXEC: check what the loader supports and lay out pages."""
    from .plan import module_name

    if any(s.p_type == c.PT_TLS for s in image.segments) or any(s.sh_flags & c.SHF_TLS for s in image.sections):
        raise LoadError(image.name, "tls", "thread-local storage (PT_TLS / SHF_TLS) is not supported in kernel modules")
    if image.e_type == c.ET_EXEC:
        if image.symtab is None:
            raise LoadError(image.name, "symtab-count", "executable without a symbol table cannot be rebased")
        if not any(t.target_is_alloc for t in image.reloc_tables):
            raise LoadError(image.name, "e_type", "ET_EXEC without kept relocations: link it with -q (--emit-relocs)")
    if image.e_type == c.ET_DYN and image.dynsym is None and image.symtab is None:
        raise LoadError(image.name, "symtab-count", "shared object without .dynsym or .symtab")
    vmin, vmax, extents = _page_layout(image)
    layout = Layout(sizes={"core": vmax - vmin}, extents=extents)
    for section in image.sections:
        if section.is_alloc and vmin <= section.sh_addr and section.sh_addr + section.sh_size <= vmax:
            layout.placements[section.index] = ("core", section.sh_addr - vmin)
    plan = SegmentPlan(image, module_name(image), layout, {}, {})
    plan.vmin = vmin
    plan.needed = _dynamic_needed(image) if image.e_type == c.ET_DYN else []
    return plan
