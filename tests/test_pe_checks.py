"""docs/pe-checklist.md, case by case: each a mutated copy of a real PE driver, refused with a LoadError naming the check.

The kernel is left as it was (no module, nothing of the module area taken).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError
from sandbox.formats.pe.image import PeImage
from sandbox.fuzz import fuzz

from .pe_mutate import PeFields
from .test_pe import pe_built  # noqa: F401 - the session fixture

TOOLCHAINS = ("gcc", "clang")


def refused(path: Path, data: bytes | bytearray) -> LoadError:
    """Load ``data`` as ``path``; it must be refused and leave the kernel as it was."""
    k = Kernel()
    with pytest.raises(LoadError) as info:
        k.load_bytes(bytes(data), str(path))
    assert not k.modules and k.module_table.area.allocate(0x1000) == 0xD0000000
    assert str(path) in str(info.value)
    return info.value


def mutated(pe_built, toolchain: str, name: str = "pelib") -> tuple[Path, PeFields]:  # noqa: F811
    path = pe_built[(toolchain, "pe", name)]
    return path, PeFields(bytearray(path.read_bytes()))


def _truncated_dos(f: PeFields) -> bytes:
    return bytes(f.data[:40])


def _truncated_pe_header(f: PeFields) -> bytes:
    return bytes(f.data[: f.lfanew + 12])


def _lfanew_past_end(f: PeFields) -> None:
    f.put32(0x3C, len(f.data) + 0x100)


def _bad_signature(f: PeFields) -> None:
    f.data[f.lfanew : f.lfanew + 4] = b"PX\0\0"


def _amd64(f: PeFields) -> None:
    f.put16(f.machine, 0x8664)


def _arm(f: PeFields) -> None:
    f.put16(f.machine, 0x01C4)


def _pe32_plus(f: PeFields) -> None:
    f.put16(f.optional, 0x20B)


def _optional_too_small(f: PeFields) -> None:
    f.put16(f.coff + 16, 0x40)


def _optional_past_end(f: PeFields) -> None:
    f.put16(f.coff + 16, 0xFFF0)


def _too_many_directories(f: PeFields) -> None:
    f.put32(f.optional_field(92), 17)


def _directories_overflow_optional(f: PeFields) -> None:
    f.put16(f.coff + 16, 96 + 8 * 4)  # room for 4 directories, 16 declared


def _section_table_past_end(f: PeFields) -> None:
    f.put16(f.coff + 2, 96)
    del f.data[f.u32(f.optional_field(60)) :]  # the file ends with its headers: 96 section headers do not fit


def _too_many_sections(f: PeFields) -> None:
    f.put16(f.coff + 2, 200)


def _raw_data_past_end(f: PeFields) -> None:
    f.put32(f.section(1) + 20, len(f.data))


def _virtual_size_overflow(f: PeFields) -> None:
    f.put32(f.section(1) + 8, 0xFFFFF000)


def _sections_overlap(f: PeFields) -> None:
    f.put32(f.section(2) + 12, f.u32(f.section(1) + 12))


def _section_over_headers(f: PeFields) -> None:
    f.put32(f.section(1) + 12, 0)


def _absurd_size_of_image(f: PeFields) -> None:
    f.put32(f.optional_field(56), 0x7FFFF000)


def _size_of_image_beyond_sections(f: PeFields) -> None:
    f.put32(f.optional_field(56), f.u32(f.optional_field(56)) + 0x400000)


def _section_alignment(f: PeFields) -> None:
    f.put32(f.optional_field(32), 0x1234)


def _entry_past_image(f: PeFields) -> None:
    f.put32(f.optional_field(16), 0x7FFFFFF0)


def _directory_past_image(f: PeFields) -> None:
    f.put32(f.directory(1) + 4, 0x7FFFFFF0)


def _tls(f: PeFields) -> None:
    f.put32(f.directory(9), f.u32(f.directory(1)))
    f.put32(f.directory(9) + 4, 24)


def _clr(f: PeFields) -> None:
    f.put32(f.directory(14), f.u32(f.directory(1)))
    f.put32(f.directory(14) + 4, 72)


def _writable_text(f: PeFields) -> None:
    at = f.section(f.section_named(".text")) + 36
    f.put32(at, f.u32(at) | 0x80000000)


def _relocs_stripped(f: PeFields) -> None:
    f.put16(f.characteristics, f.u16(f.characteristics) | 1)
    f.put32(f.directory(5), 0)
    f.put32(f.directory(5) + 4, 0)


def _reloc_block_past_table(f: PeFields) -> None:
    f.put32(f.file_offset(f.u32(f.directory(5))) + 4, 0x10000)


def _reloc_target_outside(f: PeFields) -> None:
    f.put32(f.file_offset(f.u32(f.directory(5))), 0x7FFF0000)


def _reloc_type(f: PeFields) -> None:
    at = f.file_offset(f.u32(f.directory(5))) + 8
    f.put16(at, 0xA000 | (f.u16(at) & 0xFFF))


def _import_directory_in_headers(f: PeFields) -> None:
    f.put32(f.directory(1), 0x40)


def _import_thunks_outside(f: PeFields) -> None:
    descriptor = f.file_offset(f.u32(f.directory(1)))
    f.put32(descriptor, 0x40)  # OriginalFirstThunk into the headers


def _import_name_outside(f: PeFields) -> None:
    descriptor = f.file_offset(f.u32(f.directory(1)))
    lookup = f.u32(descriptor) or f.u32(descriptor + 16)
    f.put32(f.file_offset(lookup), 0x7FFFFF00)  # a hint/name RVA past the image


def _import_dll_name_outside(f: PeFields) -> None:
    descriptor = f.file_offset(f.u32(f.directory(1)))
    f.put32(descriptor + 12, 0x7FFFFF00)


def _export_functions_outside(f: PeFields) -> None:
    f.put32(f.file_offset(f.u32(f.directory(0))) + 28, 0x40)


def _export_rva_outside(f: PeFields) -> None:
    functions = f.u32(f.file_offset(f.u32(f.directory(0))) + 28)
    first = f.file_offset(functions)
    count = f.u32(f.file_offset(f.u32(f.directory(0))) + 20)
    slot = next(i for i in range(count) if f.u32(first + 4 * i))
    f.put32(first + 4 * slot, 0x10)


def _export_ordinal_past_functions(f: PeFields) -> None:
    ordinals = f.u32(f.file_offset(f.u32(f.directory(0))) + 36)
    f.put16(f.file_offset(ordinals), 0xFFF0)


def _export_count_absurd(f: PeFields) -> None:
    f.put32(f.file_offset(f.u32(f.directory(0))) + 20, 0x40000000)


def _forwarder_loop(f: PeFields) -> None:
    """pelib_add forwards to pelib.#<its own ordinal>: written over the export DLL name, inside the directory."""
    directory = f.file_offset(f.u32(f.directory(0)))
    name_rva = f.u32(directory + 12)
    base, count, names = f.u32(directory + 16), f.u32(directory + 24), f.u32(directory + 32)
    ordinals, functions = f.u32(directory + 36), f.u32(directory + 28)
    for i in range(count):
        name_at = f.file_offset(f.u32(f.file_offset(names) + 4 * i))
        if f.data[name_at : name_at + 10] == b"pelib_add\0":
            index = f.u16(f.file_offset(ordinals) + 2 * i)
            break
    target = f"pelib.#{base + index}".encode() + b"\0"
    at = f.file_offset(name_rva)
    f.data[at : at + len(target)] = target
    f.put32(f.file_offset(functions) + 4 * index, name_rva)


def _symbol_table_past_end(f: PeFields) -> None:
    f.put32(f.coff + 8, len(f.data) - 8)
    f.put32(f.coff + 12, 1000)


# (mutation, expected check, words the message must contain)
CASES: dict[str, tuple[Callable[[PeFields], bytes | None], str, str]] = {
    "truncated-dos-header": (_truncated_dos, "dos-header", "shorter than the 64-byte MZ header"),
    "truncated-pe-header": (_truncated_pe_header, "e_lfanew", "past the end of the file"),
    "e_lfanew-past-end": (_lfanew_past_end, "e_lfanew", "past the end of the file"),
    "pe-signature": (_bad_signature, "pe-signature", "no PE"),
    "machine-amd64": (_amd64, "machine", "x86-64 PE is not supported yet"),
    "machine-arm": (_arm, "machine", "is not i386"),
    "pe32-plus": (_pe32_plus, "machine", "x86-64 PE is not supported yet"),
    "optional-header-too-small": (_optional_too_small, "optional-header", "smaller than the 96 bytes"),
    "optional-header-past-end": (_optional_past_end, "optional-header", "past the end of the file"),
    "too-many-directories": (_too_many_directories, "optional-header", "NumberOfRvaAndSizes 17"),
    "directories-past-optional-header": (_directories_overflow_optional, "optional-header", "do not fit"),
    "section-table-past-end": (_section_table_past_end, "section-table", "past the end of the file"),
    "too-many-sections": (_too_many_sections, "section-table", "200 sections"),
    "section-raw-data-past-end": (_raw_data_past_end, "section-raw-data", "past the end of the file"),
    "section-virtual-size-overflow": (_virtual_size_overflow, "section-virtual", "passes SizeOfImage"),
    "sections-overlap": (_sections_overlap, "section-virtual", "overlap in memory"),
    "section-over-headers": (_section_over_headers, "section-virtual", "overlaps the headers"),
    "absurd-size-of-image": (_absurd_size_of_image, "size-of-image", "absurd"),
    "size-of-image-beyond-sections": (_size_of_image_beyond_sections, "size-of-image", "far larger than the sections need"),
    "section-alignment": (_section_alignment, "section-alignment", "not a power of two"),
    "entry-point-past-image": (_entry_past_image, "entry-point", "past SizeOfImage"),
    "directory-past-image": (_directory_past_image, "directory", "import directory"),
    "tls": (_tls, "tls", "thread-local storage"),
    "clr": (_clr, "clr", ".NET"),
    "writable-executable": (_writable_text, "writable-executable", ".text is both writable and executable"),
    "relocations-stripped": (_relocs_stripped, "relocs-stripped", "ImageBase"),
    "relocation-block-past-table": (_reloc_block_past_table, "relocation-block", "past the table's end"),
    "relocation-target-outside-image": (_reloc_target_outside, "relocation-target", "outside the image"),
    "relocation-type": (_reloc_type, "relocation-type", "IMAGE_REL_BASED_DIR64"),
    "import-descriptor-outside-sections": (_import_directory_in_headers, "import-descriptor", "outside every section"),
    "import-thunks-outside-sections": (_import_thunks_outside, "import-thunk", "outside every section"),
    "import-name-outside-sections": (_import_name_outside, "import-name", "outside every section"),
    "import-dll-name-outside-sections": (_import_dll_name_outside, "import-descriptor", "DLL name"),
    "export-table-outside-sections": (_export_functions_outside, "export-rva", "export address table"),
    "export-rva-out-of-range": (_export_rva_outside, "export-rva", "outside every section"),
    "export-ordinal-past-functions": (_export_ordinal_past_functions, "export-ordinal", "past NumberOfFunctions"),
    "export-count-absurd": (_export_count_absurd, "export-directory", "cannot fit"),
    "forwarder-loop": (_forwarder_loop, "export-forwarder", "loop"),
    "symbol-table-past-end": (_symbol_table_past_end, "symbol-table", "past the end of the file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_checklist_case_is_refused_by_name(pe_built, toolchain: str, case: str) -> None:  # noqa: F811
    mutation, check, words = CASES[case]
    path, fields = mutated(pe_built, toolchain)
    replaced = mutation(fields)
    error = refused(path, fields.data if replaced is None else replaced)
    assert error.check == check and words in error.detail, str(error)


def test_checklist_document_lists_every_case() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "pe-checklist.md").read_text()
    for case, (_, check, _) in CASES.items():
        assert f"`{case}`" in text and f"`{check}`" in text, case


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_unresolved_kernel_import_and_ordinal_from_the_kernel(pe_built, toolchain: str, tmp_path) -> None:  # noqa: F811
    """Rename the hello driver's printk import: one error lists kernel.sys!<name>; an ordinal import too."""
    path, fields = mutated(pe_built, toolchain, "hello")
    at = fields.data.find(b"printk\0", fields.file_offset(fields.u32(fields.directory(1))))
    fields.data[at : at + 6] = b"prontk"
    error = refused(path, fields.data)
    assert error.check == "unresolved-imports" and "kernel.sys!prontk" in error.detail
    descriptor = fields.file_offset(fields.u32(fields.directory(1)))
    for thunk_array in {fields.u32(descriptor), fields.u32(descriptor + 16)} - {0}:
        fields.put32(fields.file_offset(thunk_array), 0x80000003)
    error = refused(path, fields.data)
    assert "kernel.sys!#3 (the kernel exports no ordinals)" in error.detail


def test_pe_reader_never_allocates_past_the_declared_image(pe_built) -> None:  # noqa: F811
    image = PeImage(pe_built[("gcc", "pe", "pelib")].read_bytes(), "pelib.dll")
    assert len(image.mapped) == image.size_of_image <= 0x100000


def test_loader_fuzz_on_pe_inputs(pe_built) -> None:  # noqa: F811
    """Mutated PE drivers of both toolchains: a clean load or a LoadError, never a host exception or a hang."""
    seeds = [p.read_bytes() for (tool, fmt, name), p in sorted(pe_built.items())
             if fmt == "pe" and name in ("hello", "pelib", "memlist", "fmt", "irqcount", "uart")]
    result = fuzz(seeds, 800, seed=15)
    assert result.findings == []
    assert result.refused > 50 and result.loaded > 10


def test_struct_offsets_helper_agrees_with_the_reader(pe_built) -> None:  # noqa: F811
    path, fields = mutated(pe_built, "clang")
    image = PeImage(bytes(fields.data), str(path))
    assert fields.u32(fields.optional_field(56)) == image.size_of_image
    assert struct.unpack_from("<I", fields.data, fields.directory(5))[0] == image.directory(5)[0]
