"""The ELF layer (sandbox.elf): good files parse as the oracles read them; bad files are refused.

Good inputs are built by the real toolchains at test time (gcc + GNU ld, and
clang + ld.lld when installed) in every module format: object, ``ld -r``,
PIC object, shared object, ``ld -q`` executable, and a Linux-style .ko. Their
parse is compared with pyelftools and ``readelf -rW`` (differential oracles).

Then every parse-time item of ELF-CHECKLIST.md gets a case: mutate one field
of a good file and assert the LoadError's check name, that it names the file,
and that it names the offending section, symbol or relocation. A seeded
mutation fuzz run asserts nothing but a clean parse or a LoadError comes out.

The last section keeps the link-time items (20-28), checked through the kernel.
"""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from sandbox import Kernel, LoadError
from sandbox.elf import ElfImage, RelocTable, Section, Segment, SymbolTable
from sandbox.elf import constants as c
from sandbox.lifecycle import load_bytes

from .elf_mutate import Mutable

# -- good inputs, built by the real toolchains ----------------------------------

MODULE_C = r"""
extern int printk(const char *fmt, ...);
int counter = 3;
int table[64];
static int hidden;
static const char greeting[] = "hello";
__attribute__((section(".modinfo"), used)) static const char license[] = "license=GPL";
__attribute__((section(".modinfo"), used)) static const char author[] = "author=Sandbox";
int *where = &counter;
static int bump(int x) { hidden += x; table[x & 63] = hidden; return hidden; }
int hello_greet(const char *who) { return printk("%s %s\n", greeting, who) + bump(1); }
int init_module(void) { return hello_greet("world") + *where; }
void cleanup_module(void) { printk("bye\n"); }
"""

LINUX_KO_C = r"""
struct module { char name[56]; int (*init)(void); };
extern int printk(const char *fmt, ...);
int init_module(void) { return printk("hi\n"); }
__attribute__((section(".gnu.linkonce.this_module"), used))
struct module __this_module = { "linuxmod", init_module };
__attribute__((section(".modinfo"), used)) static const char vermagic[] = "vermagic=6.1.0 SMP mod_unload 686 ";
__attribute__((section(".modinfo"), used)) static const char name[] = "name=linuxmod";
struct modversion_info { unsigned long crc; char name[60]; };
__attribute__((section("__versions"), used)) static const struct modversion_info versions[] = {
    { 0x12345678, "module_layout" }, { 0x9abcdef0, "printk" } };
__attribute__((section("__version_ext_crcs"), used)) static const unsigned int ext_crcs[] = { 1, 2 };
__attribute__((section("__version_ext_names"), used)) static const char ext_names[] = "a_long_symbol_name\0another";
"""

GCC = ["gcc", "-m32", "-ffreestanding", "-nostdinc", "-O2", "-g", "-fno-stack-protector", "-fno-asynchronous-unwind-tables"]
CLANG = ["clang", "--target=i386-pc-none-elf", "-march=i686", "-ffreestanding", "-nostdinc", "-O2", "-g"]
GNU_LD = ["ld", "-m", "elf_i386"]
LLD = ["ld.lld", "-m", "elf_i386"]
EXEC_FLAGS = ["-q", "-e", "0", "--unresolved-symbols=ignore-all"]


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True)


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of every good input, built once per session."""
    d = tmp_path_factory.mktemp("elf_samples")
    (d / "mod.c").write_text(MODULE_C)
    (d / "linux.c").write_text(LINUX_KO_C)
    out = {name: d / name for name in ("mod.o", "mod.ko", "pic.o", "mod.so", "mod.elf", "linux.o", "linux.ko")}
    _run(*GCC, "-fno-pic", "-c", d / "mod.c", "-o", out["mod.o"])
    _run(*GNU_LD, "-r", out["mod.o"], "-o", out["mod.ko"])
    _run(*GCC, "-fPIC", "-c", d / "mod.c", "-o", out["pic.o"])
    _run(*GNU_LD, "-shared", "--hash-style=sysv", out["pic.o"], "-o", out["mod.so"])
    _run(*GNU_LD, *EXEC_FLAGS, "-Ttext-segment=0", out["mod.o"], "-o", out["mod.elf"])
    _run(*GCC, "-fno-pic", "-c", d / "linux.c", "-o", out["linux.o"])
    _run(*GNU_LD, "-r", out["linux.o"], "-o", out["linux.ko"])
    del out["linux.o"]
    if shutil.which("clang") and shutil.which("ld.lld"):
        for name in ("clang-mod.o", "clang-pic.o", "clang-mod.so", "clang-mod.elf"):
            out[name] = d / name
        _run(*CLANG, "-fno-pic", "-c", d / "mod.c", "-o", out["clang-mod.o"])
        _run(*CLANG, "-fPIC", "-c", d / "mod.c", "-o", out["clang-pic.o"])
        _run(*LLD, "-shared", out["clang-pic.o"], "-o", out["clang-mod.so"])
        _run(*LLD, *EXEC_FLAGS, "--image-base=0", out["clang-mod.o"], "-o", out["clang-mod.elf"])
    # i386 toolchains emit only REL: a RELA twin of the object covers the RELA decoding.
    out["rela.o"] = d / "rela.o"
    out["rela.o"].write_bytes(Mutable(out["mod.o"].read_bytes()).to_rela(".rel.text").to_rela(".rel.data").bytes())
    return out


ALL_SAMPLES = ["mod.o", "mod.ko", "pic.o", "mod.so", "mod.elf", "linux.ko", "rela.o",
               "clang-mod.o", "clang-pic.o", "clang-mod.so", "clang-mod.elf"]


@pytest.fixture(params=ALL_SAMPLES)
def sample(request: pytest.FixtureRequest, samples: dict[str, Path]) -> Path:
    """Each good input in turn (clang ones skipped when clang is not installed)."""
    if request.param not in samples:
        pytest.skip(f"{request.param}: toolchain not installed")
    return samples[request.param]


def _image(samples: dict[str, Path], name: str) -> ElfImage:
    return ElfImage.from_file(samples[name])


# -- good files: what the parse says ----------------------------------------------


def test_object_parse(samples: dict[str, Path]) -> None:
    image = _image(samples, "mod.o")
    assert (image.e_type, image.e_machine, image.kind) == (c.ET_REL, c.EM_386, "ET_REL")
    assert image.name == str(samples["mod.o"]) and image.data == samples["mod.o"].read_bytes()
    assert image.segments == [] and image.dynsym is None and not image.has_linux_this_module
    # In file order (gcc emits these two in reverse source order).
    raw = bytes(image.section_bytes(image.section_by_name(".modinfo")))
    assert image.modinfo == [tuple(s.decode().split("=")) for s in raw.split(b"\0") if s]
    assert sorted(image.modinfo) == [("author", "Sandbox"), ("license", "GPL")]
    assert all(isinstance(s, Section) for s in image.sections)
    assert [s.index for s in image.sections] == list(range(len(image.sections)))
    symtab = image.symtab
    assert isinstance(symtab, SymbolTable) and symtab.section.name == ".symtab"
    assert symtab.count == len(symtab.names) == len(symtab.st_value) == len(symtab.st_shndx)
    printk = symtab.index_of("printk")
    assert printk is not None and symtab.st_shndx[printk] == c.SHN_UNDEF and symtab.bind(printk) == c.STB_GLOBAL
    greet = symtab.names.index("hello_greet")
    assert symtab.type(greet) == c.STT_FUNC and image.sections[symtab.st_shndx[greet]].name == ".text"
    hidden = symtab.names.index("hidden")
    assert symtab.bind(hidden) == c.STB_LOCAL and image.sections[symtab.st_shndx[hidden]].is_nobits
    counter = symtab.names.index("counter")
    assert symtab.type(counter) == c.STT_OBJECT and symtab.st_size[counter] == 4


def test_object_relocation_tables(samples: dict[str, Path]) -> None:
    image = _image(samples, "mod.o")
    by_name = {t.section.name: t for t in image.reloc_tables}
    text = by_name[".rel.text"]
    assert isinstance(text, RelocTable) and not text.is_rela and text.r_addend is None
    assert text.target is image.section_by_name(".text") and text.target_is_alloc and text.symtab is image.symtab
    assert text.count == len(text.r_offset) == len(text.r_type) == len(text.r_sym)
    calls = {image.symtab.names[text.r_sym[k]]: text.r_type[k] for k in range(text.count)}
    assert calls["printk"] in (c.R_386_PC32, c.R_386_PLT32)
    # Relocations of debug info patch sections that are never loaded: marked, not refused.
    debug = by_name[".rel.debug_info"]
    assert debug.target is not None and not debug.target.is_alloc and not debug.target_is_alloc
    assert [t.section.index for t in image.reloc_tables] == sorted(t.section.index for t in image.reloc_tables)


def test_rela_table(samples: dict[str, Path]) -> None:
    rel = {t.section.name: t for t in _image(samples, "mod.o").reloc_tables}[".rel.text"]
    rela = {t.section.name: t for t in _image(samples, "rela.o").reloc_tables}[".rel.text"]
    assert rela.is_rela and rela.section.sh_type == c.SHT_RELA and rela.r_addend is not None
    assert (list(rela.r_offset), list(rela.r_type), list(rela.r_sym)) == (list(rel.r_offset), list(rel.r_type), list(rel.r_sym))
    assert -4 in rela.r_addend  # a PC-relative call's implicit addend, now explicit


def test_section_bytes(samples: dict[str, Path]) -> None:
    image = _image(samples, "mod.o")
    text, bss = image.section_by_name(".text"), image.section_by_name(".bss")
    assert text is not None and bss is not None and image.section_by_name(".nope") is None
    assert bytes(image.section_bytes(text)) == image.data[text.sh_offset : text.sh_offset + text.sh_size]
    assert text.is_alloc and text.is_exec and not text.is_write
    assert bss.is_nobits and bss.is_write and bss.sh_size > 0 and bytes(image.section_bytes(bss)) == b""
    assert bytes(image.section_bytes(image.sections[0])) == b""


def test_shared_object_parse(samples: dict[str, Path]) -> None:
    image = _image(samples, "mod.so")
    assert image.e_type == c.ET_DYN and image.dynsym is not None and image.symtab is not None
    assert all(isinstance(s, Segment) for s in image.segments)
    assert any(s.p_type == c.PT_LOAD for s in image.segments)
    dyn = {t.section.name: t for t in image.reloc_tables}[".rel.dyn"]
    assert dyn.target is None and dyn.symtab is image.dynsym and not dyn.target_is_alloc
    assert "printk" in image.dynsym.names


def test_executable_parse(samples: dict[str, Path]) -> None:
    image = _image(samples, "mod.elf")
    assert image.e_type == c.ET_EXEC and image.e_entry == 0
    loads = [s for s in image.segments if s.p_type == c.PT_LOAD]
    assert loads and all(s.p_filesz <= s.p_memsz for s in loads)
    text = {t.section.name: t for t in image.reloc_tables}[".rel.text"]
    assert text.symtab is image.symtab and text.target is not None and text.target_is_alloc
    # Kept relocations of a linked file hold link-time addresses inside their target.
    start = text.target.sh_addr
    assert all(start <= o < start + text.target.sh_size for o in text.r_offset)


def test_linux_style_module(samples: dict[str, Path]) -> None:
    image = _image(samples, "linux.ko")
    assert image.has_linux_this_module
    assert sorted(image.modinfo) == [("name", "linuxmod"), ("vermagic", "6.1.0 SMP mod_unload 686 ")]
    assert image.section_by_name("__versions") is not None and image.section_by_name("__version_ext_crcs") is not None


def test_from_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        ElfImage.from_file(tmp_path / "missing.ko")
    assert info.value.check == "read" and str(tmp_path / "missing.ko") in str(info.value)


def test_host_errors_become_load_errors(samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: a host exception a missing check would let through is still a LoadError."""
    from sandbox.elf import image as image_module

    def broken(*args: object) -> list[Segment]:
        raise struct.error("unpack requires a buffer of 32 bytes")

    monkeypatch.setattr(image_module, "read_segments", broken)
    with pytest.raises(LoadError) as info:
        ElfImage(samples["mod.o"].read_bytes(), "net.o")
    assert info.value.check == "malformed" and "struct.error" in str(info.value) and info.value.path == "net.o"


def test_string_table_names_in_one_pass() -> None:
    """Names at string starts, at shared suffixes, in UTF-8; an offset past the table is reported."""
    from sandbox.elf.strings import names_at

    table = b"\0my_foo\0bar\0\xc3\xa9t\xc3\xa9\0"
    assert names_at(table, [0, 1, 4, 8, 12, 3]) == (["", "my_foo", "foo", "bar", "\u00e9t\u00e9", "_foo"], None)
    assert names_at(table, [1, 2, len(table)]) == ([], 2)
    assert names_at(b"\0\xff\0", [1]) == (["\ufffd"], None)


def test_bounds_check_of_relocation_arrays() -> None:
    """first_at_or_above agrees with a plain scan, including values and limits beyond U+10FFFF."""
    from array import array

    from sandbox.elf.arrays import first_at_or_above

    rng = random.Random(7)
    for _ in range(2000):
        values = array("I", [rng.choice((0, 5, 0xD800, 0xFFFF, 0x10FFFF, 0x110000, rng.getrandbits(32)))
                             for _ in range(rng.randrange(8))])
        limit = rng.choice((1, 6, 0xD800, 0x10000, 0x10FFFF, 0x110000, 0x200000, rng.getrandbits(32)))
        assert first_at_or_above(values, limit) == next((i for i, v in enumerate(values) if v >= limit), None)


# -- differential oracles -----------------------------------------------------------


def _oracle_shndx(value: int | str) -> int:
    special = {"SHN_UNDEF": c.SHN_UNDEF, "SHN_ABS": c.SHN_ABS, "SHN_COMMON": c.SHN_COMMON}
    return special[value] if isinstance(value, str) else value


def _compare_symbols(ours: SymbolTable | None, theirs) -> None:  # type: ignore[no-untyped-def]
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    symbols = list(theirs.iter_symbols())
    assert ours.count == len(symbols)
    assert ours.names == [s.name for s in symbols]
    assert list(ours.st_value) == [s["st_value"] for s in symbols]
    assert list(ours.st_size) == [s["st_size"] for s in symbols]
    assert [ours.bind(i) for i in range(ours.count)] == [_BIND[s["st_info"]["bind"]] for s in symbols]
    assert [ours.type(i) for i in range(ours.count)] == [_TYPE.get(s["st_info"]["type"], -1) for s in symbols]
    assert list(ours.st_other) == [_VISIBILITY[s["st_other"]["visibility"]] for s in symbols]
    assert list(ours.st_shndx) == [_oracle_shndx(s["st_shndx"]) for s in symbols]


_BIND = {"STB_LOCAL": 0, "STB_GLOBAL": 1, "STB_WEAK": 2}
_TYPE = {"STT_NOTYPE": 0, "STT_OBJECT": 1, "STT_FUNC": 2, "STT_SECTION": 3, "STT_FILE": 4}
_VISIBILITY = {"STV_DEFAULT": 0, "STV_INTERNAL": 1, "STV_HIDDEN": 2, "STV_PROTECTED": 3}


def test_parse_agrees_with_pyelftools(sample: Path) -> None:
    """Sections, symbols, relocations and segments exactly as pyelftools reads them."""
    image = ElfImage.from_file(sample)
    with sample.open("rb") as handle:
        oracle = ELFFile(handle)
        assert (image.e_type, image.e_machine, image.e_entry, image.e_flags) == (
            getattr(c, oracle["e_type"]), c.EM_386, oracle["e_entry"], oracle["e_flags"])
        theirs = list(oracle.iter_sections())
        fields = ("sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link", "sh_info", "sh_addralign", "sh_entsize")
        assert [s.name for s in image.sections] == [s.name for s in theirs]
        for ours, other in zip(image.sections, theirs, strict=True):
            want = [other[f] for f in fields]
            if isinstance(want[0], str):
                want[0] = getattr(c, want[0])  # pyelftools names the types it knows
            assert [getattr(ours, f) for f in fields] == want, ours.label()
        _compare_symbols(image.symtab, oracle.get_section_by_name(".symtab"))
        _compare_symbols(image.dynsym, oracle.get_section_by_name(".dynsym"))
        assert [t.section.index for t in image.reloc_tables] == [
            i for i, s in enumerate(theirs) if s["sh_type"] in ("SHT_REL", "SHT_RELA")]
        for table in image.reloc_tables:
            entries = list(oracle.get_section(table.section.index).iter_relocations())
            assert list(table.r_offset) == [r["r_offset"] for r in entries]
            assert list(table.r_type) == [r["r_info_type"] for r in entries]
            assert list(table.r_sym) == [r["r_info_sym"] for r in entries]
            if table.is_rela:
                assert list(table.r_addend) == [r["r_addend"] for r in entries]
        seg_fields = ("p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags", "p_align")
        assert [[getattr(s, f) for f in seg_fields] for s in image.segments] == [
            [seg[f] for f in seg_fields] for seg in oracle.iter_segments()]


def test_relocation_counts_agree_with_readelf(sample: Path) -> None:
    listing = subprocess.run(["readelf", "-rW", str(sample)], check=True, capture_output=True, text=True).stdout
    theirs = {(name, int(offset, 16)): int(count) for name, offset, count in
              re.findall(r"Relocation section '([^']+)' at offset 0x([0-9a-f]+) contains (\d+) entr", listing)}
    ours = {(t.section.name, t.section.sh_offset): t.count for t in ElfImage.from_file(sample).reloc_tables}
    assert ours == theirs and ours


# -- every parse-time checklist item: mutate a good file, expect the exact refusal ----

Fragment = str | Callable[[Mutable], str]
Mutation = Callable[[Mutable], Mutable | bytes]


def _label(name: str) -> Callable[[Mutable], str]:
    """The message label of section ``name`` in the good file: ``[1] .text``."""
    return lambda m: m.image.sections[m.section_index(name)].label()


def _symbol(name: str, table: str = ".symtab") -> Callable[[Mutable], str]:
    return lambda m: f"symbol {m.symbol_named(name, table)} {name!r}"


def _load_index(m: Mutable, nth: int) -> int:
    """Program header index of the ``nth`` PT_LOAD segment."""
    return [i for i, s in enumerate(m.image.segments) if s.p_type == c.PT_LOAD][nth]


def _fill_version_name(m: Mutable, entry: int) -> Mutable:
    start = m.section_field("__versions", "sh_offset") + 64 * entry + 4
    m.data[start : start + 60] = b"A" * 60
    return m


THIS_MODULE = ".gnu.linkonce.this_module"

CASES: list[tuple[str, str, Mutation, str, list[Fragment]]] = [
    # Header
    ("1 shorter than a header", "mod.o", lambda m: m.bytes()[:51], "file-size", ["51 bytes"]),
    ("1 empty file", "mod.o", lambda m: b"", "file-size", ["0 bytes"]),
    ("2 magic", "mod.o", lambda m: m.byte(1, ord("X")), "magic", ["not an ELF file", "XLF"]),
    ("3 e_type ET_CORE", "mod.o", lambda m: m.header("e_type", c.ET_CORE), "e_type", ["e_type 4 (ET_CORE)"]),
    ("3 e_type ET_NONE", "mod.o", lambda m: m.header("e_type", c.ET_NONE), "e_type", ["e_type 0"]),
    ("4 e_machine", "mod.o", lambda m: m.header("e_machine", 62), "e_machine", ["e_machine 62", "EM_386"]),
    ("5 EI_CLASS", "mod.o", lambda m: m.header("EI_CLASS", c.ELFCLASS64), "ei-class", ["EI_CLASS is 2"]),
    ("5 EI_DATA", "mod.o", lambda m: m.header("EI_DATA", c.ELFDATA2MSB), "ei-data", ["EI_DATA is 2"]),
    ("5 EI_VERSION", "mod.o", lambda m: m.header("EI_VERSION", 0), "ei-version", ["0/1"]),
    ("5 e_version", "mod.o", lambda m: m.header("e_version", 2), "ei-version", ["1/2"]),
    # Section header table
    ("6 e_shentsize", "mod.o", lambda m: m.header("e_shentsize", 44), "e_shentsize", ["44", "expected 40"]),
    ("7 e_shoff past the end", "mod.o", lambda m: m.header("e_shoff", len(m.data)), "e_shoff", ["past the end of the file"]),
    ("7 e_shoff wraps 32 bits", "mod.o", lambda m: m.header("e_shoff", 0xFFFFFFF0), "e_shoff", ["0xfffffff0"]),
    ("7 e_shnum past the end", "mod.o", lambda m: m.header("e_shnum", 0xFFFF), "e_shoff", ["65535 entries"]),
    ("7 extended numbering", "mod.o", lambda m: m.header("e_shnum", 0), "e_shnum", ["extended section numbering"]),
    ("7 object without sections", "mod.o", lambda m: m.header("e_shnum", 0).header("e_shoff", 0), "e_shnum",
     ["without section headers"]),
    ("8 section 0 type", "mod.o", lambda m: m.section(0, "sh_type", c.SHT_PROGBITS), "section-0", ["SHT_NULL", "type 1"]),
    ("8 section 0 size", "mod.o", lambda m: m.section(0, "sh_size", 16), "section-0", ["size 0x10"]),
    ("8 section 0 address", "mod.o", lambda m: m.section(0, "sh_addr", 0x1000), "section-0", ["address 0x1000"]),
    ("9 section past the end", "mod.o", lambda m: m.section(".text", "sh_size", 0x7FFFFFF0), "section-bounds",
     [_label(".text"), "past the end of the file"]),
    ("9 section offset+size wraps", "mod.o",
     lambda m: m.section(".comment", "sh_offset", 0xFFFFFFF0).section(".comment", "sh_size", 0x20), "section-bounds",
     [_label(".comment"), "0xfffffff0+0x20"]),
    # Section names
    ("10 e_shstrndx 0", "mod.o", lambda m: m.header("e_shstrndx", 0), "e_shstrndx", ["index 0"]),
    ("10 e_shstrndx too big", "mod.o", lambda m: m.header("e_shstrndx", len(m.image.sections)), "e_shstrndx",
     [lambda m: f"index {len(m.image.sections)} is not within 1..{len(m.image.sections) - 1}"]),
    ("11 empty name table", "mod.o", lambda m: m.section(".shstrtab", "sh_size", 0), "shstrtab",
     [lambda m: f"[{m.section_index('.shstrtab')}] is empty"]),
    ("12 name table without final NUL", "mod.o", lambda m: m.byte(m.last_byte(".shstrtab"), 0x41), "shstrtab",
     ["does not end in NUL"]),
    ("G4 name table not STRTAB", "mod.o", lambda m: m.section(".shstrtab", "sh_type", c.SHT_PROGBITS), "shstrtab",
     ["not SHT_STRTAB"]),
    ("13 sh_name past the name table", "mod.o", lambda m: m.section(".text", "sh_name", 0xFFFF), "sh_name",
     [lambda m: f"section [{m.section_index('.text')}] name offset 0xffff"]),
    # Required sections
    ("14 two .modinfo", "mod.o", lambda m: m.rename(".comment", ".modinfo"), "modinfo-duplicate",
     ["2 .modinfo sections", _label(".modinfo"), lambda m: f"[{m.section_index('.comment')}] .modinfo"]),
    ("15 this_module NOBITS", "linux.ko", lambda m: m.section(THIS_MODULE, "sh_type", c.SHT_NOBITS), "this-module",
     [_label(THIS_MODULE), "SHF_ALLOC with contents"]),
    ("15 this_module not ALLOC", "linux.ko", lambda m: m.section(THIS_MODULE, "sh_flags", c.SHF_WRITE), "this-module",
     [_label(THIS_MODULE)]),
    ("15 this_module twice", "linux.ko", lambda m: m.rename(".comment", THIS_MODULE), "this-module",
     ["appears 2 times", _label(THIS_MODULE)]),
    ("16 stripped object", "mod.o", lambda m: m.section(".symtab", "sh_type", c.SHT_PROGBITS), "symtab-count",
     ["no symbols, stripped?"]),
    ("16 two symbol tables", "mod.o", lambda m: m.section(".strtab", "sh_type", c.SHT_SYMTAB), "symtab-count",
     ["2 SHT_SYMTAB sections", _label(".symtab"), _label(".strtab")]),
    ("16 two dynamic symbol tables", "mod.so", lambda m: m.section(".dynstr", "sh_type", c.SHT_DYNSYM), "dynsym-count",
     ["2 SHT_DYNSYM sections", _label(".dynstr")]),
    ("17 symtab link 0", "mod.o", lambda m: m.section(".symtab", "sh_link", 0), "symtab-link", [_label(".symtab"), "[0]"]),
    ("17 symtab link out of range", "mod.o", lambda m: m.section(".symtab", "sh_link", 999), "symtab-link",
     [_label(".symtab"), "[999], which does not exist"]),
    ("G4 symtab link not STRTAB", "mod.o", lambda m: m.section(".symtab", "sh_link", m.section_index(".text")),
     "symtab-link", [_label(".text"), "not SHT_STRTAB"]),
    ("G4 dynsym link not STRTAB", "mod.so", lambda m: m.section(".dynsym", "sh_link", m.section_index(".text")),
     "symtab-link", [_label(".dynsym"), _label(".text")]),
    ("18 CRCs without names", "linux.ko", lambda m: m.rename("__version_ext_names", ".comment"), "version-ext",
     ["__version_ext_crcs is present without __version_ext_names"]),
    ("18 names without CRCs", "linux.ko", lambda m: m.rename("__version_ext_crcs", ".comment"), "version-ext",
     ["__version_ext_names is present without __version_ext_crcs"]),
    ("18 fewer names than CRCs", "linux.ko", lambda m: m.section("__version_ext_names", "sh_size", 19), "version-ext",
     ["1 names for 2 CRCs", _label("__version_ext_names"), _label("__version_ext_crcs")]),
    # Symbol string table
    ("19 string table empty", "mod.o", lambda m: m.section(".strtab", "sh_size", 0), "strtab", [_label(".strtab"), "is empty"]),
    ("19 string table without leading NUL", "mod.o", lambda m: m.byte(m.section_field(".strtab", "sh_offset"), 0x41),
     "strtab", [_label(".strtab"), "leading NUL"]),
    ("19 string table without final NUL", "mod.o", lambda m: m.byte(m.last_byte(".strtab"), 0x41), "strtab",
     [_label(".strtab"), "not NUL-terminated"]),
    ("19 st_name past the string table", "mod.o", lambda m: m.symbol("hello_greet", "st_name", 0xFFFFF), "st_name",
     [lambda m: f"symbol {m.symbol_named('hello_greet')} in", "0xfffff", _label(".strtab")]),
    ("19 dynsym st_name past its table", "mod.so", lambda m: m.symbol("printk", "st_name", 0xFFFFF, ".dynsym"), "st_name",
     [lambda m: f"symbol {m.symbol_named('printk', '.dynsym')} in", _label(".dynstr")]),
    # G1: symbol section indices
    ("G1 st_shndx out of range", "mod.o", lambda m: m.symbol("hello_greet", "st_shndx", 0x1234), "st_shndx",
     [_symbol("hello_greet"), "0x1234"]),
    ("G1 SHN_XINDEX", "mod.o", lambda m: m.symbol("hello_greet", "st_shndx", c.SHN_XINDEX), "shn-xindex",
     [_symbol("hello_greet"), "SHN_XINDEX"]),
    ("G1 dynsym st_shndx", "mod.so", lambda m: m.symbol("hello_greet", "st_shndx", 0x999, ".dynsym"), "st_shndx",
     [_symbol("hello_greet", ".dynsym"), _label(".dynsym")]),
    # G2: relocation entries
    ("G2 relocation symbol out of range", "mod.o", lambda m: m.relocation(".rel.text", 0, "r_info", 0xFFFF << 8 | c.R_386_32),
     "reloc-symbol", [_label(".rel.text"), "entry 0 (r_offset 0x", "symbol 65535", _label(".symtab")]),
    ("G2 relocation offset past its target", "mod.o", lambda m: m.relocation(".rel.text", 1, "r_offset", 0xFFFFF),
     "reloc-offset", [_label(".rel.text"), "entry 1 (r_offset 0xfffff)", _label(".text")]),
    ("G2 RELA offset past its target", "rela.o", lambda m: m.relocation(".rel.text", 2, "r_offset", 0xFFFFF),
     "reloc-offset", ["entry 2 (r_offset 0xfffff)"]),
    ("G2 kept relocation outside its target", "mod.elf", lambda m: m.relocation(".rel.text", 0, "r_offset", 0xFFFFFFF0),
     "reloc-offset", [_label(".rel.text"), "entry 0 (r_offset 0xfffffff0)", _label(".text")]),
    ("G2 dynamic relocation symbol", "mod.so", lambda m: m.relocation(".rel.dyn", 0, "r_info", 0x7777 << 8 | c.R_386_32),
     "reloc-symbol", [_label(".rel.dyn"), "symbol 30583", _label(".dynsym")]),
    # G3: relocation section links
    ("G3 relocation link not a symbol table", "mod.o", lambda m: m.section(".rel.text", "sh_link", m.section_index(".text")),
     "reloc-link", [_label(".rel.text"), lambda m: f"{_label('.text')(m)} (SHT_PROGBITS)", "SHT_SYMTAB"]),
    ("G3 relocation link out of range", "mod.o", lambda m: m.section(".rel.text", "sh_link", 999), "reloc-link",
     [_label(".rel.text"), "[999], which does not exist"]),
    ("G3 dynamic table linked to .symtab", "mod.so", lambda m: m.section(".rel.dyn", "sh_link", m.section_index(".symtab")),
     "reloc-link", [_label(".rel.dyn"), "SHT_DYNSYM"]),
    ("G3 relocation target out of range", "mod.o", lambda m: m.section(".rel.text", "sh_info", 999), "reloc-info",
     [_label(".rel.text"), "[999]"]),
    ("G3 object relocation without a target", "mod.o", lambda m: m.section(".rel.text", "sh_info", 0), "reloc-info",
     [_label(".rel.text"), "sh_info 0"]),
    # G5: sizes and alignment
    ("G5 symtab entry size", "mod.o", lambda m: m.section(".symtab", "sh_entsize", 17), "sh_entsize",
     [_label(".symtab"), "entry size 17"]),
    ("G5 symtab size", "mod.o", lambda m: m.section(".symtab", "sh_size", m.section_field(".symtab", "sh_size") - 8),
     "sh_entsize", [_label(".symtab"), "not a multiple"]),
    ("G5 dynsym entry size", "mod.so", lambda m: m.section(".dynsym", "sh_entsize", 8), "sh_entsize", [_label(".dynsym")]),
    ("G5 REL entry size", "mod.o", lambda m: m.section(".rel.text", "sh_entsize", 12), "sh_entsize",
     [_label(".rel.text"), "entry size 12, expected 8"]),
    ("G5 REL size", "mod.o", lambda m: m.section(".rel.text", "sh_size", m.section_field(".rel.text", "sh_size") - 4),
     "sh_entsize", [_label(".rel.text"), "not a multiple"]),
    ("G5 RELA entry size", "rela.o", lambda m: m.section(".rel.text", "sh_entsize", 8), "sh_entsize",
     [_label(".rel.text"), "expected 12"]),
    ("G5 alignment not a power of two", "mod.o", lambda m: m.section(".text", "sh_addralign", 3), "sh_addralign",
     [_label(".text"), "alignment 3"]),
    ("G5 section larger than the module area", "mod.o", lambda m: m.section(".bss", "sh_size", 0x10000001), "section-size",
     [_label(".bss"), "0x10000001"]),
    ("G5 sections together larger than the module area", "mod.o",
     lambda m: m.section(".bss", "sh_size", 0x0C000000).section(".data", "sh_type", c.SHT_NOBITS).section(".data", "sh_size", 0x0C000000),
     "section-size", ["allocated sections total"]),
    # G7: unterminated strings
    ("G7 last .modinfo string", "mod.o", lambda m: m.byte(m.last_byte(".modinfo"), 0x41), "modinfo-nul",
     [_label(".modinfo"), "unterminated"]),
    ("G7 __versions name", "linux.ko", lambda m: _fill_version_name(m, 1), "versions-nul",
     [_label("__versions"), "entry 1"]),
    ("G7 __versions size", "linux.ko", lambda m: m.section("__versions", "sh_size", 0x70), "versions",
     [_label("__versions"), "not a multiple of 64"]),
    # Bounds on work: tables are decoded once each, from their own bytes
    ("tables sharing file bytes", "mod.o",
     lambda m: m.section(".rel.data", "sh_offset", m.section_field(".rel.text", "sh_offset")), "table-overlap",
     [_label(".rel.text"), _label(".rel.data"), "overlap in the file"]),
    # Program headers
    ("PH e_phentsize", "mod.elf", lambda m: m.header("e_phentsize", 40), "e_phentsize", ["40", "expected 32"]),
    ("PH e_phoff past the end", "mod.elf", lambda m: m.header("e_phoff", len(m.data) - 16), "e_phoff",
     ["past the end of the file"]),
    ("PH e_phnum past the end", "mod.elf", lambda m: m.header("e_phnum", 0xFFFF), "e_phoff", ["65535 entries"]),
    ("PH filesz > memsz", "mod.elf", lambda m: m.segment(_load_index(m, 0), "p_memsz", 1), "segment-size",
     [lambda m: f"PT_LOAD segment {_load_index(m, 0)} has p_filesz", "> p_memsz 0x1"]),
    ("PH segment past the end of the file", "mod.elf", lambda m: m.segment(_load_index(m, 1), "p_filesz", 0x100000),
     "segment-bounds", [lambda m: f"PT_LOAD segment {_load_index(m, 1)} spans"]),
    ("PH segment larger than the module area", "mod.elf", lambda m: m.segment(_load_index(m, -1), "p_memsz", 0x20000000),
     "segment-size", [lambda m: f"PT_LOAD segment {_load_index(m, -1)} of 0x20000000 bytes"]),
    ("PH overlapping PT_LOAD", "mod.elf",
     lambda m: m.segment(_load_index(m, 1), "p_vaddr", m.image.segments[_load_index(m, 0)].p_vaddr), "segment-overlap",
     [lambda m: f"PT_LOAD segments {_load_index(m, 0)} and {_load_index(m, 1)} overlap"]),
    ("PH alignment not a power of two", "mod.elf", lambda m: m.segment(_load_index(m, 1), "p_align", 0x1800), "segment-align",
     [lambda m: f"PT_LOAD segment {_load_index(m, 1)} p_align 0x1800"]),
    ("PH vaddr and offset incongruent", "mod.elf",
     lambda m: m.segment(_load_index(m, 1), "p_vaddr", m.image.segments[_load_index(m, 1)].p_vaddr + 4), "segment-align",
     [lambda m: f"PT_LOAD segment {_load_index(m, 1)}", "differ modulo"]),
]


@pytest.mark.parametrize(("sample_name", "mutate", "check", "fragments"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_malformed_file_is_refused(samples: dict[str, Path], sample_name: str, mutate: Mutation, check: str,
                                   fragments: list[Fragment]) -> None:
    good = Mutable(samples[sample_name].read_bytes(), sample_name)
    result = mutate(good)
    bad = result if isinstance(result, bytes) else result.bytes()
    name = f"/modules/bad-{sample_name}"
    with pytest.raises(LoadError) as info:
        ElfImage(bad, name)
    error = info.value
    assert (error.check, error.path) == (check, name), str(error)
    assert str(error).startswith(f"{name}: {check}: ")
    pristine = Mutable(samples[sample_name].read_bytes(), sample_name)
    for fragment in fragments:
        text = fragment if isinstance(fragment, str) else fragment(pristine)
        assert text in error.detail, f"{text!r} not in {error.detail!r}"


def test_names_at_mid_string_offsets_have_a_budget(samples: dict[str, Path]) -> None:
    """20,000 symbols named at distinct offsets into one long string would decode gigabytes: refused at once."""
    m = Mutable(samples["mod.o"].read_bytes())
    strtab = b"\0" + b"A" * 100_000 + b"\0"
    symbols = b"".join(struct.pack("<IIIBBH", 1 + i, 0, 0, 0, 0, 0) for i in range(20_000))
    m.data += bytes(-len(m.data) % 4)
    strtab_offset = len(m.data)
    m.data += strtab + bytes(-len(strtab) % 4)
    symtab_offset = len(m.data)
    m.data += symbols
    m.section(".strtab", "sh_offset", strtab_offset).section(".strtab", "sh_size", len(strtab))
    m.section(".symtab", "sh_offset", symtab_offset).section(".symtab", "sh_size", len(symbols))
    for table in m.image.reloc_tables:  # they name symbols of the old table
        m.section(table.section.index, "sh_size", 0)
    # Names are decoded when first needed: binding the (undefined) symbols
    # is where the budget runs out, and the load is refused there.
    with pytest.raises(LoadError) as info:
        load_bytes(Kernel(unresolved="trap"), m.bytes(), "long-names.o")
    assert info.value.check == "strtab" and "mid-string offsets" in info.value.detail
    assert info.value.path == "long-names.o"
    with pytest.raises(LoadError, match="mid-string offsets"):
        ElfImage(m.bytes(), "long-names.o").symtab.names  # noqa: B018 (the decode is the point)
    assert m.image.sections[m.section_index(".strtab")].label() in info.value.detail


def test_every_check_has_a_case() -> None:
    """Each check the ELF layer can raise is exercised by a case above (or a test of its own)."""
    source = "".join(p.read_text() for p in Path(c.__file__).parent.glob("*.py"))
    raised = set(re.findall(r'refuse\(\s*"([a-z0-9_-]+)"', source))
    covered = {case[3] for case in CASES} | {"read", "malformed"}
    assert raised <= covered, raised - covered


# -- fuzzing ---------------------------------------------------------------------------

_INTERESTING = (0, 1, 2, 3, 4, 7, 8, 12, 16, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _fuzz_value(rng: random.Random, old: int) -> int:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(_INTERESTING)
    if roll < 0.7:
        return (old + rng.randint(-16, 16)) & 0xFFFFFFFF
    return rng.getrandbits(rng.choice((8, 16, 32)))


def _fuzz_field(rng: random.Random, m: Mutable) -> None:
    """Set one named field of the header, a section, a symbol, a relocation or a segment.

    Positions come from the good file's parse (``m.image``), so earlier
    mutations of the same round cannot move them.
    """
    from .elf_mutate import HEADER_FIELDS, RELOCATION_FIELDS, SECTION_FIELDS, SEGMENT_FIELDS, SYMBOL_FIELDS

    image = m.image
    kind = rng.randrange(5)
    if kind == 0:
        offset, fmt = HEADER_FIELDS[rng.choice(list(HEADER_FIELDS))]
    elif kind == 1 and image.sections:
        offset, fmt = SECTION_FIELDS[rng.choice(list(SECTION_FIELDS))]
        offset += struct.unpack_from("<I", image.data, 32)[0] + c.SHDR_SIZE * rng.randrange(len(image.sections))
    elif kind == 2 and image.symtab is not None:
        offset, fmt = SYMBOL_FIELDS[rng.choice(list(SYMBOL_FIELDS))]
        offset += image.symtab.section.sh_offset + c.SYM_SIZE * rng.randrange(image.symtab.count)
    elif kind == 3 and any(t.count for t in image.reloc_tables):
        table = rng.choice([t for t in image.reloc_tables if t.count])
        offset, fmt = RELOCATION_FIELDS[rng.choice([f for f in RELOCATION_FIELDS if f != "r_addend" or table.is_rela])]
        offset += table.section.sh_offset + table.section.sh_entsize * rng.randrange(table.count)
    elif kind == 4 and image.segments:
        offset, fmt = SEGMENT_FIELDS[rng.choice(list(SEGMENT_FIELDS))]
        offset += struct.unpack_from("<I", image.data, 28)[0] + c.PHDR_SIZE * rng.randrange(len(image.segments))
    else:
        return
    if offset + struct.calcsize(fmt) > len(m.data):
        return  # the file was truncated by an earlier mutation of this round
    value = _fuzz_value(rng, struct.unpack_from(fmt.upper(), m.data, offset)[0])
    struct.pack_into(fmt.upper(), m.data, offset, value & ((1 << (8 * struct.calcsize(fmt))) - 1))


def _assert_invariants(image: ElfImage) -> None:
    """What a clean parse promises the linker, whatever the bytes were."""
    size = len(image.data)
    for section in image.sections:
        view = image.section_bytes(section)
        if section.has_file_bytes:
            assert len(view) == section.sh_size and section.sh_offset + section.sh_size <= size
        else:
            assert len(view) == 0
    for table in (image.symtab, image.dynsym):
        if table is not None:
            assert len(table.names) == len(table.st_shndx) == table.count
            assert all(s < len(image.sections) or s in (c.SHN_ABS, c.SHN_COMMON) for s in table.st_shndx)
    for table in image.reloc_tables:
        assert all(s < table.symtab.count for s in table.r_sym)
        if image.e_type == c.ET_REL:
            assert table.target is not None and all(o < table.target.sh_size for o in table.r_offset)


def test_mutation_fuzz_gives_clean_parse_or_load_error(samples: dict[str, Path]) -> None:
    """Seeded byte and field mutations of every good file: a clean parse or a LoadError, nothing else."""
    rng = random.Random(20240607)
    goods = [Mutable(path.read_bytes(), name) for name, path in sorted(samples.items())]
    outcomes: dict[str, int] = {}
    for round_ in range(3000):
        good = rng.choice(goods)
        m = good.fresh()
        for _ in range(rng.randint(1, 3)):
            strategy = rng.random()
            if strategy < 0.45:
                _fuzz_field(rng, m)
            elif strategy < 0.6:
                m.data[rng.randrange(min(len(m.data), c.EHDR_SIZE))] = rng.randrange(256)
            elif strategy < 0.95:
                m.data[rng.randrange(len(m.data))] = rng.randrange(256)
            else:
                del m.data[rng.randrange(len(m.data)) :]
                if not m.data:
                    break
        try:
            image = ElfImage(bytes(m.data), f"fuzz-{round_}.o")
        except LoadError as error:
            assert error.path == f"fuzz-{round_}.o" and error.check and error.detail
            outcomes[error.check] = outcomes.get(error.check, 0) + 1
            continue
        _assert_invariants(image)
        outcomes["parsed"] = outcomes.get("parsed", 0) + 1
    assert outcomes.get("parsed", 0) > 300 and sum(outcomes.values()) == 3000
    assert len(outcomes) > 25, outcomes  # the mutations reach deep checks, not only the header


# -- link-time items (20-28), checked through the kernel --------------------------------
# These are the linker's checks; they live here with the rest of ELF-CHECKLIST.md.


@pytest.fixture(scope="module")
def good_driver(built) -> bytes:  # type: ignore[no-untyped-def]
    return built[("gcc", "obj", "hello")].read_bytes()


def _kernel_state(kernel: Kernel) -> tuple:
    return ([(r.start, r.end, r.perms) for r in kernel.memory.regions()], kernel.module_table.area.snapshot(),
            kernel.exports.save(), len(kernel.trace), kernel.dispatcher.save(), kernel.traps.save())


KERNEL_CASES: list[tuple[str, Mutation, str, str]] = [
    ("parse-time refusal", lambda m: m.section(".symtab", "sh_link", 0), "symtab-link", ".symtab"),
    ("20 W+X", lambda m: m.section(".text", "sh_flags", c.SHF_ALLOC | c.SHF_EXECINSTR | c.SHF_WRITE), "writable-executable", ".text"),
    ("24 relocation type", lambda m: m.relocation(".rel.text", 0, "r_type", c.R_386_TLS_TPOFF), "relocation-type", "R_386_TLS_TPOFF"),
]


@pytest.mark.parametrize(("mutate", "check", "fragment"), [case[1:] for case in KERNEL_CASES], ids=[case[0] for case in KERNEL_CASES])
def test_refused_load_leaves_the_kernel_unchanged(tmp_path: Path, good_driver: bytes, driver, mutate: Mutation,  # type: ignore[no-untyped-def]
                                                  check: str, fragment: str) -> None:
    kernel = Kernel()
    resident = kernel.load(driver("irqcount"))
    before = _kernel_state(kernel)
    result = mutate(Mutable(good_driver))
    path = tmp_path / "bad.ko"
    path.write_bytes(result if isinstance(result, bytes) else result.bytes())
    with pytest.raises(LoadError) as info:
        kernel.load(path)
    assert info.value.check == check and str(path) in str(info.value) and fragment in str(info.value)
    assert _kernel_state(kernel) == before and kernel.modules == [resident]


def test_relocation_past_section_end_for_its_width(tmp_path: Path, good_driver: bytes) -> None:
    m = Mutable(good_driver)
    table = m.image.reloc_tables[0]
    assert table.section.name == ".rel.text" and table.r_type[0] in (c.R_386_PC32, c.R_386_PLT32, c.R_386_32)
    m.relocation(".rel.text", 0, "r_offset", m.section_field(".text", "sh_size") - 2)  # in range, but 4 bytes do not fit
    path = tmp_path / "bad.ko"
    path.write_bytes(m.bytes())
    with pytest.raises(LoadError) as error:
        Kernel().load(path)
    assert error.value.check == "relocation-offset" and "past the section's end" in str(error.value)


def _compile(compile_c, source: str, name: str) -> Path:  # type: ignore[no-untyped-def]
    return compile_c("#include <kernel.h>\n" + source, name)


def test_ctors_and_init_array_together(compile_c) -> None:  # type: ignore[no-untyped-def]
    path = _compile(compile_c, 'static void f(void) {}\nvoid (*a)(void) __section(".ctors") = f;\n'
                    'void (*b)(void) __section(".init_array") = f;', "ctors")
    with pytest.raises(LoadError) as info:
        Kernel().load(path)
    assert info.value.check == "ctors-and-init-array"


def test_duplicate_module_and_duplicate_export(compile_c, driver) -> None:  # type: ignore[no-untyped-def]
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
