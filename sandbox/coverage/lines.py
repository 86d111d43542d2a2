"""Source lines of a loaded module: its DWARF line table at run-time addresses.

For a relocatable object (ET_REL, what ``cc -c`` and ``ld -r`` make) the
line table's ``DW_LNE_set_address`` operands are relocations against code
sections, which all start at 0 in the file. pyelftools can apply them
(``relocate_dwarf_sections=True``), but with section symbols worth 0 every
section's rows would land at the same offsets. So we apply
``.rel.debug_line`` ourselves with the run-time address the module's
LinkPlan gave each symbol: the rows then carry the addresses the code runs
at. Relocations against sections that are not loaded (``.debug_line_str``
file names) keep their in-place addend, which is the right file offset.
For ET_DYN/ET_EXEC the rows hold link-time addresses, moved by each code
section's displacement.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

from ..elf import constants as c
from ..link.plan import LinkPlan

_R_386_32 = 1


@dataclass(frozen=True, slots=True)
class LineRow:
    """One row of the line table: the instruction at ``address`` comes from ``path:line``."""

    address: int
    path: str
    line: int


def _relocated_debug_line(plan: LinkPlan, elf: ELFFile, data: bytearray) -> None:
    """Apply ``.rel.debug_line`` in ``data`` (a copy of the file) with run-time symbol addresses."""
    debug_line = elf.get_section_by_name(".debug_line")
    for rel_name in (".rel.debug_line", ".rela.debug_line"):
        rel = elf.get_section_by_name(rel_name)
        if rel is None or debug_line is None:
            continue
        symtab = elf.get_section(rel["sh_link"])
        base = debug_line["sh_offset"]
        for entry in rel.iter_relocations():
            if entry["r_info_type"] != _R_386_32:
                continue
            index = entry["r_info_sym"]
            symbol = symtab.get_symbol(index)
            shndx = symbol["st_shndx"]
            if not isinstance(shndx, int) or shndx not in plan.layout.placements:
                continue  # not code or data we loaded: keep the in-place value
            value = plan.symbol_addresses[index] if index < len(plan.symbol_addresses) else 0
            where = base + entry["r_offset"]
            addend = entry["r_addend"] if entry.is_RELA() else struct.unpack_from("<I", data, where)[0]
            struct.pack_into("<I", data, where, (value + addend) & 0xFFFFFFFF)


def _displacements(plan: LinkPlan) -> list[tuple[int, int, int]]:
    """(link start, link end, run-time minus link address) of each loaded code section."""
    out = []
    for section in plan.image.sections:
        address = plan.section_address(section)
        if address is not None and section.is_exec and section.sh_size:
            out.append((section.sh_addr, section.sh_addr + section.sh_size, address - section.sh_addr))
    return out


def _file_paths(lineprog, comp_dir: str) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """File index -> absolute normalized path, for DWARF 2-5 line program headers."""
    header = lineprog.header
    version = header["version"]
    dirs = [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in header["include_directory"]]
    paths: dict[int, str] = {}
    for i, entry in enumerate(header["file_entry"]):
        name = entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else str(entry.name)
        if version >= 5:
            index = i  # DWARF 5: 0-based files, directory 0 is the compilation directory
            directory = dirs[entry.dir_index] if entry.dir_index < len(dirs) else comp_dir
        else:
            index = i + 1
            directory = comp_dir if entry.dir_index == 0 else dirs[entry.dir_index - 1]
        path = os.path.join(directory, name)
        if not os.path.isabs(path):
            path = os.path.join(comp_dir, path)
        paths[index] = os.path.normpath(path)
    return paths


@dataclass
class LineInfo:
    """Line rows at run-time addresses, and where each named function is declared."""

    rows: list[LineRow]
    declared: dict[str, tuple[str, int]]  # function name -> (path, line) of its DW_TAG_subprogram


def line_info(plan: LinkPlan) -> LineInfo | None:
    """The module's line-table rows at run-time addresses, or None without DWARF lines."""
    own_dwarf = getattr(plan, "dwarf", None)  # a format that is not ELF reads its DWARF itself (PE)
    if own_dwarf is not None:
        found = own_dwarf()
        return None if found is None else _line_rows(*found)
    data = bytearray(plan.image.data)
    elf = ELFFile(io.BytesIO(bytes(data)))
    if elf.get_section_by_name(".debug_line") is None or elf.get_section_by_name(".debug_info") is None:
        return None
    relocatable = plan.image.e_type == c.ET_REL
    if relocatable:
        _relocated_debug_line(plan, elf, data)
        elf = ELFFile(io.BytesIO(bytes(data)))
    moves = [] if relocatable else _displacements(plan)
    return _line_rows(elf.get_dwarf_info(relocate_dwarf_sections=False), moves)


def _line_rows(dwarf, moves: list[tuple[int, int, int]]) -> LineInfo:  # type: ignore[no-untyped-def]
    """Rows and declarations of a DWARF info; ``moves`` map link-time code ranges to run time (empty: as is)."""
    rows: list[LineRow] = []
    declared: dict[str, tuple[str, int]] = {}
    for cu in dwarf.iter_CUs():
        lineprog = dwarf.line_program_for_CU(cu)
        if lineprog is None:
            continue
        top = cu.get_top_DIE()
        comp_dir_attr = top.attributes.get("DW_AT_comp_dir")
        comp_dir = comp_dir_attr.value.decode("utf-8", "replace") if comp_dir_attr else os.getcwd()
        paths = _file_paths(lineprog, comp_dir)
        for die in cu.iter_DIEs():
            if die.tag != "DW_TAG_subprogram":
                continue
            attrs = die.attributes
            if "DW_AT_name" in attrs and "DW_AT_decl_line" in attrs and "DW_AT_decl_file" in attrs:
                name = attrs["DW_AT_name"].value.decode("utf-8", "replace")
                where = paths.get(attrs["DW_AT_decl_file"].value)
                if where is not None:
                    declared.setdefault(name, (where, attrs["DW_AT_decl_line"].value))
        for entry in lineprog.get_entries():
            state = entry.state
            if state is None or state.end_sequence or state.line == 0:
                continue
            address = state.address
            if moves:
                for low, high, delta in moves:
                    if low <= address < high:
                        address += delta
                        break
                else:
                    continue
            rows.append(LineRow(address, paths.get(state.file, f"<file {state.file}>"), state.line))
    return LineInfo(rows, declared)
