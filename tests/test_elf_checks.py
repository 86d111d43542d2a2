"""ELF-CHECKLIST.md: every malformed input is a LoadError naming file, check and item.

Each case mutates a good driver built by the real compiler, loads it into a
kernel that already holds a module, and checks the exact error and that the
kernel is exactly as before.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from sandbox import Kernel, LoadError, SandboxError
from sandbox.elf import ElfImage
from sandbox.elf import constants as c
from sandbox.fuzz import fuzz

from .elf_mutate import Mutable


@pytest.fixture(scope="module")
def good(built) -> bytes:
    return built[("gcc", "obj", "hello")].read_bytes()


def _strtab_offset(m: Mutable, name: str) -> int:
    """Offset of ``name`` within the section-name table."""
    shstr = m.image.sections[struct.unpack_from("<H", m.data, 50)[0]]
    return m.data[shstr.sh_offset : shstr.sh_offset + shstr.sh_size].index(name.encode() + b"\0")


def _last_byte(m: Mutable, section: str) -> int:
    """File offset of the last byte of ``section``."""
    return m.section_field(section, "sh_offset") + m.section_field(section, "sh_size") - 1


CASES: list[tuple[str, Callable[[Mutable], Mutable | bytes], str, str]] = [
    ("1 short file", lambda m: m.bytes()[:40], "file-size", "shorter than an ELF header"),
    ("2 magic", lambda m: m.byte(3, ord("G")), "magic", "not an ELF file"),
    ("3 e_type", lambda m: m.header("e_type", c.ET_CORE), "e_type", "e_type 4"),
    ("4 e_machine", lambda m: m.header("e_machine", 62), "e_machine", "e_machine 62"),
    ("5 class", lambda m: m.byte(4, 2), "ei-class", "ELFCLASS32"),
    ("5 data", lambda m: m.byte(5, 2), "ei-data", "little-endian"),
    ("5 version", lambda m: m.byte(6, 0), "ei-version", "EV_CURRENT"),
    ("6 e_shentsize", lambda m: m.header("e_shentsize", 44), "e_shentsize", "44"),
    ("7 e_shoff past end", lambda m: m.header("e_shoff", len(m.data) - 8), "e_shoff", "past the end"),
    ("7 e_shnum overflow", lambda m: m.header("e_shnum", 0xFFFF), "e_shoff", "65535 entries"),
    ("8 section 0", lambda m: m.section(0, "sh_type", c.SHT_PROGBITS), "section-0", "SHT_NULL"),
    ("9 section bounds", lambda m: m.section(".text", "sh_size", 0x7FFFFFF0), "section-bounds", "past the end of the file"),
    ("10 e_shstrndx 0", lambda m: m.header("e_shstrndx", 0), "e_shstrndx", "index 0"),
    ("10 e_shstrndx too big", lambda m: m.header("e_shstrndx", 200), "e_shstrndx", "index 200"),
    ("11 empty names", lambda m: m.section(".shstrtab", "sh_size", 0), "shstrtab", "is empty"),
    ("12 names without NUL", lambda m: m.byte(_last_byte(m, ".shstrtab"), 0x41),
     "shstrtab", "does not end in NUL"),
    ("13 sh_name past table", lambda m: m.section(".text", "sh_name", 0xFFFF), "sh_name", "0xffff"),
    ("14 two .modinfo", lambda m: m.section(".comment", "sh_name", _strtab_offset(m, ".modinfo")), "modinfo-duplicate", "2 .modinfo"),
    ("16 no symtab", lambda m: m.section(".symtab", "sh_type", c.SHT_PROGBITS), "symtab-count", "no symbols, stripped?"),
    ("16 two symtabs", lambda m: m.section(".strtab", "sh_type", c.SHT_SYMTAB), "symtab-count", "2 SHT_SYMTAB"),
    ("17 symtab link 0", lambda m: m.section(".symtab", "sh_link", 0), "symtab-link", "[0]"),
    ("17 symtab link out of range", lambda m: m.section(".symtab", "sh_link", 99), "symtab-link", "[99]"),
    ("G4 symtab link not STRTAB", lambda m: m.section(".symtab", "sh_link", m.section_index(".text")), "symtab-link", "not SHT_STRTAB"),
    ("G4 names not STRTAB", lambda m: m.section(".shstrtab", "sh_type", c.SHT_PROGBITS), "shstrtab", "not SHT_STRTAB"),
    ("19 strtab empty", lambda m: m.section(".strtab", "sh_size", 0), "strtab", "is empty"),
    ("19 strtab leading NUL", lambda m: m.byte(m.section_field(".strtab", "sh_offset"), 0x41), "strtab", "leading NUL"),
    ("19 strtab trailing NUL", lambda m: m.byte(_last_byte(m, ".strtab"), 0x41),
     "strtab", "not NUL-terminated"),
    ("19 st_name past strtab", lambda m: m.symbol(m.symbol_named("hello_greet"), "st_name", 0xFFFFF), "st_name", "0xfffff"),
    ("G1 st_shndx out of range", lambda m: m.symbol(m.symbol_named("hello_greet"), "st_shndx", 0x1234), "st_shndx", "hello_greet"),
    ("G1 SHN_XINDEX", lambda m: m.symbol(m.symbol_named("hello_greet"), "st_shndx", c.SHN_XINDEX), "shn-xindex", "SHN_XINDEX"),
    ("G2 reloc symbol", lambda m: m.relocation(".rel.text", 0, "r_info", (0xFFFF << 8) | 2), "reloc-symbol", "symbol 65535"),
    ("G2 reloc offset", lambda m: m.relocation(".rel.text", 0, "r_offset", 0xFFFFF), "reloc-offset", "0xfffff"),
    ("G3 reloc link", lambda m: m.section(".rel.text", "sh_link", m.section_index(".text")), "reloc-link", "not a symbol table"),
    ("G3 reloc info", lambda m: m.section(".rel.text", "sh_info", 99), "reloc-info", "[99]"),
    ("G5 symtab entsize", lambda m: m.section(".symtab", "sh_entsize", 17), "sh_entsize", "entry size 17"),
    ("G5 rel entsize", lambda m: m.section(".rel.text", "sh_entsize", 12), "sh_entsize", "entry size 12"),
    ("G5 alignment", lambda m: m.section(".text", "sh_addralign", 3), "sh_addralign", "not a power of two"),
    ("G5 huge bss", lambda m: m.section(".bss", "sh_size", 0x20000000), "section-size", "larger than the module area"),
    ("G7 modinfo NUL", lambda m: m.byte(_last_byte(m, ".modinfo"), 0x41),
     "modinfo-nul", "unterminated"),
    ("20 W+X", lambda m: m.section(".text", "sh_flags", c.SHF_ALLOC | c.SHF_EXECINSTR | c.SHF_WRITE), "writable-executable", ".text"),
    ("24 relocation type", lambda m: m.relocation(".rel.text", 0, "r_info", (m.image.reloc_tables[0].r_sym[0] << 8) | c.R_386_TLS_TPOFF),
     "relocation-type", "R_386_TLS_TPOFF"),
]


@pytest.mark.parametrize(("mutate", "check", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_malformed_file_is_refused(tmp_path: Path, good: bytes, driver, mutate, check: str, fragment: str) -> None:
    kernel = Kernel()
    resident = kernel.load(driver("irqcount"))
    before = ([(r.start, r.end, r.perms) for r in kernel.memory.regions()], kernel._module_area.snapshot(),
              dict(kernel._exports), len(kernel.trace))
    result = mutate(Mutable(good))
    path = tmp_path / "bad.ko"
    path.write_bytes(result if isinstance(result, bytes) else result.bytes())
    with pytest.raises(LoadError) as info:
        kernel.load(path)
    error = info.value
    assert error.check == check
    assert str(path) in str(error) and fragment in str(error)
    after = ([(r.start, r.end, r.perms) for r in kernel.memory.regions()], kernel._module_area.snapshot(),
             dict(kernel._exports), len(kernel.trace))
    assert after == before and kernel.modules == [resident]


def test_relocation_past_section_end_for_its_width(tmp_path: Path, good: bytes) -> None:
    m = Mutable(good)
    text_size = m.section_field(".text", "sh_size")
    info = m.image.reloc_tables[0]
    assert info.section.name == ".rel.text" and info.r_type[0] in (c.R_386_PC32, c.R_386_PLT32, c.R_386_32)
    m.relocation(".rel.text", 0, "r_offset", text_size - 2)  # in range, but 4 bytes do not fit
    path = tmp_path / "bad.ko"
    path.write_bytes(m.bytes())
    with pytest.raises(LoadError) as error:
        Kernel().load(path)
    assert error.value.check == "relocation-offset" and "past the section's end" in str(error.value)


def _compile(compile_c, source: str, name: str) -> Path:
    return compile_c("#include <kernel.h>\n" + source, name)


def test_this_module_checks(compile_c, tmp_path: Path) -> None:
    path = _compile(compile_c, 'struct { int x; } __this_module __section(".gnu.linkonce.this_module") = { 1 };', "thismod")
    assert ElfImage.from_file(path).has_linux_this_module
    m = Mutable(path.read_bytes())
    m.section(".gnu.linkonce.this_module", "sh_type", c.SHT_NOBITS)
    with pytest.raises(LoadError, match="this-module"):
        ElfImage(m.bytes(), "nobits.ko")
    m = Mutable(path.read_bytes())
    m.section(".comment", "sh_name", _strtab_offset(m, ".gnu.linkonce.this_module"))
    with pytest.raises(LoadError, match="appears 2 times"):
        ElfImage(m.bytes(), "twice.ko")


def test_version_ext_pairing_and_versions_names(compile_c) -> None:
    only_crcs = _compile(compile_c, 'const unsigned int crcs[2] __section("__version_ext_crcs") = {1, 2};', "vext")
    with pytest.raises(LoadError) as info:
        Kernel().load(only_crcs)
    assert info.value.check == "version-ext"
    unterminated = _compile(compile_c, 'const char v[64] __section("__versions") = '
                            '"\\1\\2\\3\\4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";', "vers")
    with pytest.raises(LoadError) as info:
        Kernel().load(unterminated)
    assert info.value.check == "versions-nul"


def test_ctors_and_init_array_together(compile_c) -> None:
    path = _compile(compile_c, 'static void f(void) {}\nvoid (*a)(void) __section(".ctors") = f;\n'
                    'void (*b)(void) __section(".init_array") = f;', "ctors")
    with pytest.raises(LoadError) as info:
        Kernel().load(path)
    assert info.value.check == "ctors-and-init-array"


def test_duplicate_module_and_duplicate_export(compile_c, driver) -> None:
    kernel = Kernel()
    kernel.load(driver("hello"))
    with pytest.raises(LoadError) as info:
        kernel.load(driver("hello"))
    assert info.value.check == "duplicate-module" and "hello" in str(info.value)
    rival = _compile(compile_c, "int hello_greet(const char *w) { return 0; }\nEXPORT_SYMBOL(hello_greet);", "rival")
    with pytest.raises(LoadError) as info:
        kernel.load(rival)
    assert info.value.check == "duplicate-export"
    assert "rival exports hello_greet, which hello already exports" in str(info.value)
    assert [m.name for m in kernel.modules] == ["hello"]


def test_good_files_agree_with_pyelftools(built) -> None:
    """Differential oracle: our parse of every built driver matches pyelftools."""
    for path in built.values():
        image = ElfImage.from_file(path)
        with open(path, "rb") as handle:
            oracle = ELFFile(handle)
            assert [s.name for s in image.sections] == [s.name for s in oracle.iter_sections()]
            assert [s.sh_size for s in image.sections] == [s["sh_size"] for s in oracle.iter_sections()]
            symtab = oracle.get_section_by_name(".symtab")
            if symtab is not None:
                ours = image.symtab
                theirs = list(symtab.iter_symbols())
                assert ours.names == [s.name for s in theirs]
                assert list(ours.st_value) == [s["st_value"] for s in theirs]
            for table in image.reloc_tables:
                reloc = oracle.get_section(table.section.index)
                entries = list(reloc.iter_relocations())
                assert list(table.r_offset) == [r["r_offset"] for r in entries]
                assert table.r_type == [r["r_info_type"] for r in entries]
                assert table.r_sym == [r["r_info_sym"] for r in entries]


def test_mutation_fuzz_gives_clean_load_or_load_error(built) -> None:
    """Seeded mutations of every driver file: a clean load or a LoadError, nothing else."""
    seeds = [p.read_bytes() for (tool, fmt, _), p in sorted(built.items()) if tool == "gcc"]
    result = fuzz(seeds, 1500, seed=1234)
    assert result.findings == []
    assert result.refused > 100 and result.loaded > 10


def test_fuzz_regressions_stay_fixed() -> None:
    """Inputs the long fuzz run (tools/fuzz-loader) once broke the loader with."""
    for path in sorted((Path(__file__).parent / "fuzz_regressions").glob("*.ko")):
        with contextlib.suppress(SandboxError):  # refusing is fine; a host exception is not
            Kernel(budget_seconds=0.5)._load_bytes(path.read_bytes(), str(path))
