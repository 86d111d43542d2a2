"""The kernel headers and the sample-driver build (drivers/build.py).

Headers: each one compiles on its own, warning-free, with gcc and clang, with
and without -fPIC; the values and layouts drivers rely on are checked at
compile time; every KAPI declaration sits on one line in prototype form.

Build: every driver in every toolchain × format is a 32-bit EM_386 ELF of the
right type, carrying what the loader reads (.modinfo, init_module aliases,
__ksymtab entries, __param entries, GOT relocations, kept relocations in
executables, undefined kernel symbols). pyelftools is the oracle here.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from drivers import build
from drivers.build import FORMATS, BuildError, build_all, build_one, driver_sources, find_toolchain
from sandbox.services.prototype import parse_prototype

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "kernel_stubs" / "include"
HEADERS = sorted(INCLUDE.glob("*.h"))
E_TYPE = {"obj": "ET_REL", "rel": "ET_REL", "pic": "ET_REL", "shared": "ET_DYN", "exec": "ET_EXEC", "linux": "ET_REL"}
HAS_CLANG = shutil.which("clang") is not None
# Every way a driver is compiled: (compiler argv, name)
COMPILERS = [(["gcc", "-m32"], "gcc")]
if HAS_CLANG:
    COMPILERS += [(["clang", "--target=i386-pc-none-elf", "-march=i686"], "clang-none-elf"),
                  (["clang", "-target", "i386-unknown-none"], "clang-unknown-none"),
                  (["clang", "-m32"], "clang-m32")]
STRICT = ["-ffreestanding", "-nostdinc", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(INCLUDE)]


# ---------------------------------------------------------------- helpers


def _compile(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


def _parallel(argvs: list[list[str]]) -> list[tuple[list[str], subprocess.CompletedProcess[str]]]:
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 4)) as pool:
        return list(zip(argvs, pool.map(_compile, argvs)))


def _failures(results: list[tuple[list[str], subprocess.CompletedProcess[str]]]) -> list[str]:
    return [f"{' '.join(argv)}\n{r.stderr}" for argv, r in results if r.returncode != 0 or r.stderr.strip()]


class Elf:
    """An ELF file read whole, with the lookups these tests need."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream = open(path, "rb")  # noqa: SIM115 - closed by the fixture
        self.elf = ELFFile(self.stream)

    def close(self) -> None:
        self.stream.close()

    def section(self, name: str):  # type: ignore[no-untyped-def]
        return self.elf.get_section_by_name(name)

    def symbols(self, table: str = ".symtab") -> list:  # type: ignore[type-arg]
        section = self.section(table)
        assert isinstance(section, SymbolTableSection), f"{self.path}: no {table}"
        return list(section.iter_symbols())

    def symbol(self, name: str, table: str = ".symtab"):  # type: ignore[no-untyped-def]
        found = [s for s in self.symbols(table) if s.name == name]
        return found[0] if found else None

    def rel_sections_for(self, target_index: int) -> list[RelocationSection]:
        return [s for s in self.elf.iter_sections() if isinstance(s, RelocationSection)
                and s["sh_type"] in ("SHT_REL", "SHT_RELA") and s["sh_info"] == target_index
                and not s["sh_flags"] & SH_FLAGS.SHF_ALLOC]

    def section_at(self, address: int):  # type: ignore[no-untyped-def]
        for section in self.elf.iter_sections():
            if (section["sh_flags"] & SH_FLAGS.SHF_ALLOC and section["sh_size"]
                    and section["sh_addr"] <= address < section["sh_addr"] + section["sh_size"]):
                return section
        return None

    def pointer(self, section_name: str, offset: int) -> tuple[str, int]:
        """Where the 32-bit pointer at section+offset points: (section name, offset).

        Relocatable files: through the section's relocation (REL: addend in
        place). Linked files: the linked address in place, or for a shared
        object a dynamic relocation against a named symbol.
        """
        section = self.section(section_name)
        (in_place,) = struct.unpack_from("<I", section.data(), offset)
        if self.elf["e_type"] == "ET_REL":
            index = self.elf.get_section_index(section_name)
            for rel_section in self.rel_sections_for(index):
                symtab = self.elf.get_section(rel_section["sh_link"])
                for rel in rel_section.iter_relocations():
                    if rel["r_offset"] != offset:
                        continue
                    assert rel["r_info_type"] == 1, f"{self.path}: {section_name}+{offset:#x} not R_386_32"
                    addend = rel["r_addend"] if rel.is_RELA() else in_place
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    assert sym["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS", "SHN_COMMON")
                    return self.elf.get_section(sym["st_shndx"]).name, sym["st_value"] + addend
            raise AssertionError(f"{self.path}: no relocation at {section_name}+{offset:#x}")
        address = section["sh_addr"] + offset
        dynrel = [s for s in self.elf.iter_sections() if isinstance(s, RelocationSection) and s["sh_flags"] & SH_FLAGS.SHF_ALLOC]
        for rel_section in dynrel:
            symtab = self.elf.get_section(rel_section["sh_link"])
            for rel in rel_section.iter_relocations():
                if rel["r_offset"] == address and rel["r_info_sym"]:
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    target = self.section_at(sym["st_value"])
                    return target.name, sym["st_value"] - target["sh_addr"] + in_place
        target = self.section_at(in_place)
        assert target is not None, f"{self.path}: {section_name}+{offset:#x} = {in_place:#x} points nowhere"
        return target.name, in_place - target["sh_addr"]

    def cstring(self, where: tuple[str, int]) -> bytes:
        data = self.section(where[0]).data()
        return data[where[1]:data.index(b"\0", where[1])]

    def symbol_location(self, name: str) -> tuple[str, int]:
        sym = self.symbol(name)
        assert sym is not None and sym["st_shndx"] != "SHN_UNDEF", f"{self.path}: {name} not defined"
        section = self.elf.get_section(sym["st_shndx"])
        return section.name, sym["st_value"] - (section["sh_addr"] if self.elf["e_type"] != "ET_REL" else 0)


def _module_init_functions(source: Path) -> tuple[str | None, str | None]:
    text = source.read_text()
    init = re.search(r"^module_init\((\w+)\);", text, re.M)
    exit_ = re.search(r"^module_exit\((\w+)\);", text, re.M)
    return (init[1] if init else None), (exit_[1] if exit_ else None)


def _calls_printk(source: Path) -> bool:
    return re.search(r"\b(printk|pr_\w+)\(", source.read_text()) is not None


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def outputs() -> build.BuildResult:
    """Every driver × toolchain × format, in the default build directory."""
    return build_all()


@pytest.fixture(scope="session")
def elves(outputs: build.BuildResult) -> Iterator[dict[tuple[str, str, str], Elf]]:
    opened = {key: Elf(path) for key, path in outputs.items()}
    yield opened
    for elf in opened.values():
        elf.close()


def _each(elves: dict[tuple[str, str, str], Elf], *formats: str) -> Iterator[tuple[tuple[str, str, str], Elf]]:
    for key, elf in sorted(elves.items()):
        if key[1] in formats:
            yield key, elf


# ---------------------------------------------------------------- headers


def test_every_header_compiles_alone_warning_free() -> None:
    argvs = []
    for header in HEADERS:
        for cc, _ in COMPILERS:
            for pic in ("-fno-pic", "-fPIC"):
                argvs.append([*cc, *STRICT, pic, "-fsyntax-only", "-x", "c", "-include", str(header), "/dev/null"])
    assert not _failures(_parallel(argvs))


def test_every_driver_compiles_warning_free_everywhere() -> None:
    argvs = [[*cc, *STRICT, pic, "-fsyntax-only", str(source)]
             for source in driver_sources() for cc, _ in COMPILERS for pic in ("-fno-pic", "-fPIC")]
    assert not _failures(_parallel(argvs))


LAYOUT_CHECKS = r"""
#include <kernel.h>
#define CHECK(x) _Static_assert(x, #x)
CHECK(sizeof(u8) == 1 && sizeof(u16) == 2 && sizeof(u32) == 4 && sizeof(u64) == 8);
CHECK(sizeof(s8) == 1 && sizeof(s16) == 2 && sizeof(s32) == 4 && sizeof(s64) == 8);
CHECK(sizeof(size_t) == 4 && sizeof(ssize_t) == 4 && sizeof(uintptr_t) == 4 && sizeof(loff_t) == 8);
CHECK((size_t)-1 > 0 && (ssize_t)-1 < 0 && (gfp_t)-1 > 0 && sizeof(bool) == 1 && true == 1 && false == 0);
CHECK(GFP_KERNEL == 0xcc0 && GFP_ATOMIC == 0x820 && __GFP_ZERO == 0x100);
CHECK(EPERM == 1 && ENOENT == 2 && EIO == 5 && ENOMEM == 12 && EFAULT == 14 && EBUSY == 16);
CHECK(ENODEV == 19 && EINVAL == 22 && ENOTTY == 25 && ERANGE == 34 && ENOSYS == 38);
CHECK(IRQ_NONE == 0 && IRQ_HANDLED == 1 && IRQ_WAKE_THREAD == 2 && IRQF_SHARED == 0x80);
CHECK(sizeof(struct kernel_symbol) == 12 && offsetof(struct kernel_symbol, name) == 4);
CHECK(offsetof(struct kernel_symbol, namespace) == 8);
CHECK(sizeof(struct kernel_param) == 16 && offsetof(struct kernel_param, type_code) == 8);
CHECK(offsetof(struct kernel_param, perm) == 12);
CHECK(PARAM_TYPE_BYTE == 1 && PARAM_TYPE_SHORT == 2 && PARAM_TYPE_USHORT == 3 && PARAM_TYPE_INT == 4);
CHECK(PARAM_TYPE_UINT == 5 && PARAM_TYPE_LONG == 6 && PARAM_TYPE_ULONG == 7 && PARAM_TYPE_BOOL == 8);
CHECK(PARAM_TYPE_CHARP == 9);
CHECK(sizeof(spinlock_t) == 4 && sizeof(va_list) == 4 && sizeof(irqreturn_t) == 4);
CHECK(INT_MIN == -2147483647 - 1 && INT_MAX == 2147483647);
const char levels[] = KERN_EMERG KERN_ALERT KERN_CRIT KERN_ERR KERN_WARNING KERN_NOTICE KERN_INFO KERN_DEBUG
	KERN_DEFAULT KERN_CONT;
"""


@pytest.mark.parametrize("cc", [c for c, _ in COMPILERS[:2]], ids=[n for _, n in COMPILERS[:2]])
def test_values_and_layouts(tmp_path: Path, cc: list[str]) -> None:
    source = tmp_path / "layout.c"
    source.write_text(LAYOUT_CHECKS)
    obj = tmp_path / "layout.o"
    result = _compile([*cc, *STRICT, "-fno-pic", "-c", str(source), "-o", str(obj)])
    assert result.returncode == 0 and not result.stderr, result.stderr
    elf = Elf(obj)
    try:
        sym = elf.symbol("levels")
        data = elf.elf.get_section(sym["st_shndx"]).data()[sym["st_value"]:sym["st_value"] + sym["st_size"]]
    finally:
        elf.close()
    assert data == b"\x010\x011\x012\x013\x014\x015\x016\x017\x01d\x01c\0"


REQUIRED_SERVICES = {
    "printk.h": "printk vprintk snprintf vsnprintf sprintf",
    "slab.h": "kmalloc kzalloc kcalloc krealloc kfree ksize",
    "string.h": "memcpy memset memcmp memmove strlen strnlen strcmp strncmp strcpy strncpy strcat strchr strrchr "
                "strstr strscpy",
    "interrupt.h": "request_irq free_irq disable_irq enable_irq arch_local_irq_save arch_local_irq_restore "
                   "arch_local_irq_disable arch_local_irq_enable",
    "spinlock.h": "spin_lock_init spin_lock spin_unlock spin_trylock _spin_lock_irqsave spin_unlock_irqrestore "
                  "spin_lock_irq spin_unlock_irq",
    "testing.h": "sandbox_unimplemented_service",
}


def test_kapi_declarations_are_one_line_prototypes_with_names() -> None:
    declared: dict[str, set[str]] = {}
    for header in HEADERS:
        for number, line in enumerate(header.read_text().splitlines(), 1):
            if "KAPI" not in line or line.startswith(("#define KAPI", " *", "/*")):
                continue
            # The sandbox's own prototype parser is the judge: it is what reads these lines.
            assert line.startswith("KAPI ") and line.rstrip().endswith(";"), f"{header.name}:{number}: {line!r}"
            proto = parse_prototype(line)
            for param in proto.params:
                assert not re.fullmatch(r"arg\d+", param.name), f"{header.name}:{number}: unnamed parameter in {line!r}"
            declared.setdefault(header.name, set()).add(proto.name)
    for header, names in REQUIRED_SERVICES.items():
        assert set(names.split()) <= declared.get(header, set()), header
    assert declared.get("io.h", set()) <= {"ioremap", "iounmap"}  # port and MMIO access are inline instructions


EXERCISE = r"""
#define pr_fmt(fmt) "exercise: " fmt
#include <kernel.h>
static int i_param = 1; module_param(i_param, int, 0644);
static unsigned int u_param; module_param(u_param, uint, 0);
static long l_param; module_param(l_param, long, 0);
static unsigned long ul_param; module_param(ul_param, ulong, 0);
static short s_param; module_param(s_param, short, 0);
static unsigned short us_param; module_param(us_param, ushort, 0);
static bool b_param; module_param(b_param, bool, 0444);
static char *c_param = "x"; module_param(c_param, charp, 0);
static unsigned char y_param; module_param(y_param, byte, 0);
MODULE_PARM_DESC(i_param, "an int");
static DEFINE_SPINLOCK(lock);
int table[4] __initdata = { 1, 2, 3, 4 };
const char banner[] __initconst = "banner";
int exercise_gpl(void) { return 7; }
EXPORT_SYMBOL_GPL(exercise_gpl);
int exercise_plain(void) { return 8; }
EXPORT_SYMBOL(exercise_plain);
static irqreturn_t handler(int irq, void *dev) { (void)dev; return IRQ_RETVAL(irq); }
static int __init exercise_init(void)
{
	unsigned long flags;
	u8 buf[4];
	local_irq_save(flags);
	spin_lock(&lock);
	spin_unlock(&lock);
	local_irq_restore(flags);
	spin_lock_irqsave(&lock, flags);
	spin_unlock_irqrestore(&lock, flags);
	outb(inb(0x60), 0x61); outw(inw(0x62), 0x63); outl(inl(0x64), 0x65);
	insb(0x60, buf, 4); insw(0x60, buf, 2); insl(0x60, buf, 1);
	outsb(0x60, buf, 4); outsw(0x60, buf, 2); outsl(0x60, buf, 1);
	pr_info("%d %u %ld %lu %d %u %d %s %u %d %s\n", i_param, u_param, l_param, ul_param, s_param, us_param,
		b_param, c_param, y_param, table[0], banner);
	pr_cont("more\n");
	return request_irq(5, handler, IRQF_SHARED, "exercise", THIS_MODULE);
}
static void __exit exercise_exit(void) { free_irq(5, THIS_MODULE); }
module_init(exercise_init);
module_exit(exercise_exit);
MODULE_LICENSE("GPL v2");
MODULE_AUTHOR("me");
MODULE_DESCRIPTION("every macro once");
MODULE_ALIAS("exercise-alias");
MODULE_VERSION("1.2");
"""


@pytest.mark.parametrize("cc", [c for c, _ in COMPILERS[:2]], ids=[n for _, n in COMPILERS[:2]])
def test_every_macro_once(tmp_path: Path, cc: list[str]) -> None:
    source = tmp_path / "exercise.c"
    source.write_text(EXERCISE)
    obj = tmp_path / "exercise.o"
    result = _compile([*cc, *STRICT, "-fno-pic", "-c", str(source), "-o", str(obj)])
    assert result.returncode == 0 and not result.stderr, result.stderr
    elf = Elf(obj)
    try:
        modinfo = elf.section(".modinfo").data().split(b"\0")
        assert set(modinfo) >= {b"license=GPL v2", b"author=me", b"description=every macro once",
                                b"alias=exercise-alias", b"version=1.2", b"parmtype=i_param:int",
                                b"parmtype=c_param:charp", b"parmtype=y_param:byte", b"parm=i_param:an int"}
        for name in ("__ksymtab", "__ksymtab_gpl", "__ksymtab_strings", "__param", ".modinfo"):
            assert elf.section(name)["sh_flags"] & SH_FLAGS.SHF_ALLOC, name
        assert elf.cstring(elf.pointer("__ksymtab_gpl", 4)) == b"exercise_gpl"
        assert elf.pointer("__ksymtab_gpl", 0) == elf.symbol_location("exercise_gpl")
        assert elf.cstring(elf.pointer("__ksymtab", 4)) == b"exercise_plain"
        assert elf.section("__ksymtab").data()[8:12] == b"\0\0\0\0"  # no namespace
        params = elf.section("__param")
        assert params["sh_size"] == 9 * 16
        codes = {}
        for entry in range(9):
            name = elf.cstring(elf.pointer("__param", entry * 16)).decode()
            code, perm = struct.unpack_from("<IH", params.data(), entry * 16 + 8)
            codes[name] = (code, perm)
            assert elf.pointer("__param", entry * 16 + 4) == elf.symbol_location(name)
        assert codes == {"i_param": (4, 0o644), "u_param": (5, 0), "l_param": (6, 0), "ul_param": (7, 0),
                         "s_param": (2, 0), "us_param": (3, 0), "b_param": (8, 0o444), "c_param": (9, 0),
                         "y_param": (1, 0)}
        assert elf.symbol_location("table")[0] == ".init.data"
        assert elf.symbol_location("banner")[0] == ".init.rodata"
        assert elf.symbol_location("init_module")[0] == ".init.text"
        assert elf.symbol_location("cleanup_module")[0] == ".exit.text"
        if cc[0] == "gcc":  # clang emits a static aliasee under the alias name only
            assert elf.symbol_location("init_module") == elf.symbol_location("exercise_init")
            assert elf.symbol_location("cleanup_module") == elf.symbol_location("exercise_exit")
        strings = b"".join(s.data() for s in elf.elf.iter_sections() if s.name.startswith(".rodata"))
        assert b"\x016exercise: %d %u" in strings  # KERN_INFO, then pr_fmt's prefix
    finally:
        elf.close()


def test_module_param_rejects_a_mismatched_variable(tmp_path: Path) -> None:
    source = tmp_path / "bad.c"
    source.write_text("#include <kernel.h>\nstatic long wrong;\nmodule_param(wrong, int, 0);\n")
    result = _compile(["gcc", "-m32", *STRICT, "-fsyntax-only", str(source)])
    assert result.returncode != 0 and "incompatible" in result.stderr


# ---------------------------------------------------------------- the build


def test_build_all_covers_every_toolchain_format_and_driver(outputs: build.BuildResult) -> None:
    drivers = {source.stem for source in driver_sources()}
    assert {"hello", "irqcount", "memlist", "faulty", "portio", "fmt"} <= drivers
    toolchains = {"gcc", "clang"} - set(outputs.skipped)
    assert "gcc" in toolchains
    if HAS_CLANG:
        assert "clang" in toolchains
    linux = {source.stem for source in build.linux_driver_sources()}
    assert set(outputs) == {(t, f, d) for t in toolchains for f in FORMATS for d in drivers} | {
        (t, "linux", d) for t in toolchains for d in linux}
    for (toolchain, fmt, driver), path in outputs.items():
        assert path == build.DEFAULT_OUT / toolchain / fmt / (driver + build.EXTENSIONS[fmt])
        assert path.is_file()
    assert not outputs.warnings


def test_every_output_is_an_i386_elf_of_its_type(elves: dict[tuple[str, str, str], Elf]) -> None:
    for (_, fmt, _), elf in elves.items():
        header = elf.elf.header
        assert (elf.elf.elfclass, elf.elf.little_endian, header["e_machine"]) == (32, True, "EM_386"), elf.path
        assert header["e_type"] == E_TYPE[fmt], elf.path
        modinfo = elf.section(".modinfo")
        assert modinfo is not None and modinfo["sh_flags"] & SH_FLAGS.SHF_ALLOC, elf.path
        assert b"license=GPL" in modinfo.data().split(b"\0"), elf.path


def test_init_module_aliases_the_init_function(elves: dict[tuple[str, str, str], Elf]) -> None:
    checked = 0
    for (toolchain, _, driver), elf in _each(elves, "obj", "rel", "pic", "exec"):
        init, exit_ = _module_init_functions(build.DRIVERS / f"{driver}.c")
        for alias, function, section in (("init_module", init, ".init.text"), ("cleanup_module", exit_, ".exit.text")):
            if function is None:
                assert elf.symbol(alias) is None, elf.path
                continue
            symbol = elf.symbol(alias)
            assert symbol["st_info"]["bind"] == "STB_GLOBAL" and symbol["st_info"]["type"] == "STT_FUNC", elf.path
            assert symbol["st_size"] > 0 and elf.symbol_location(alias)[0] == section, elf.path
            # gcc keeps the static function's own (local) symbol beside the
            # alias; clang emits the function under the alias name only.
            if toolchain == "gcc" or elf.symbol(function) is not None:
                assert elf.symbol_location(alias) == elf.symbol_location(function), elf.path
            checked += 1
    assert checked >= 4 * 2 * 4  # hello and irqcount at least, both entries, 4 formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_irqcount_ksymtab_names_its_exports(elves: dict[tuple[str, str, str], Elf], fmt: str) -> None:
    for (_, _, driver), elf in _each(elves, fmt):
        if driver != "irqcount":
            continue
        ksymtab = elf.section("__ksymtab")
        assert ksymtab["sh_flags"] & SH_FLAGS.SHF_ALLOC and ksymtab["sh_size"] == 2 * 12, elf.path
        assert elf.section("__ksymtab_strings")["sh_flags"] & SH_FLAGS.SHF_ALLOC, elf.path
        entries = {}
        for offset in range(0, ksymtab["sh_size"], 12):
            name = elf.cstring(elf.pointer("__ksymtab", offset + 4)).decode()
            entries[name] = elf.pointer("__ksymtab", offset)
            assert ksymtab.data()[offset + 8:offset + 12] == b"\0\0\0\0"
        assert set(entries) == {"irqcount_get", "irqcount_reset"}, elf.path
        for name, value in entries.items():
            assert value == elf.symbol_location(name), (elf.path, name)


def test_hello_module_params(elves: dict[tuple[str, str, str], Elf]) -> None:
    for _, elf in _each(elves, "obj", "rel", "pic", "shared", "exec"):
        if elf.path.stem != "hello":
            continue
        modinfo = set(elf.section(".modinfo").data().split(b"\0"))
        assert {b"parmtype=answer:int", b"parmtype=greeting:charp", b"parmtype=loud:bool",
                b"parm=answer:The number printed at load", b"author=module-sandbox"} <= modinfo, elf.path
        params = elf.section("__param")
        assert params["sh_size"] == 3 * 16, elf.path
        names = {elf.cstring(elf.pointer("__param", off)) for off in range(0, 48, 16)}
        assert names == {b"answer", b"greeting", b"loud"}, elf.path


def test_pic_objects_use_the_got(elves: dict[tuple[str, str, str], Elf]) -> None:
    seen: dict[str, set[str]] = {}
    for (toolchain, _, _), elf in _each(elves, "pic"):
        kinds = set()
        undefined_refs = set()
        text_index = elf.elf.get_section_index(".text")
        for rel_section in elf.rel_sections_for(text_index) + [
                s for s in elf.rel_sections_for(elf.elf.get_section_index(".init.text") or -1)]:
            symtab = elf.elf.get_section(rel_section["sh_link"])
            for rel in rel_section.iter_relocations():
                kind = {1: "32", 2: "PC32", 3: "GOT32", 4: "PLT32", 9: "GOTOFF", 10: "GOTPC", 43: "GOT32X"}.get(
                    rel["r_info_type"], str(rel["r_info_type"]))
                kinds.add(kind)
                sym = symtab.get_symbol(rel["r_info_sym"])
                if sym["st_shndx"] == "SHN_UNDEF" and sym.name != "_GLOBAL_OFFSET_TABLE_":
                    undefined_refs.add((sym.name, kind))
        # Code never refers to a kernel symbol absolutely or PC-relatively: only via the PLT or GOT.
        assert all(kind in ("PLT32", "GOT32", "GOT32X") for _, kind in undefined_refs), (elf.path, undefined_refs)
        assert "32" not in kinds, elf.path
        if kinds:
            assert "GOTPC" in kinds and kinds & {"GOTOFF", "GOT32X", "GOT32"}, (elf.path, kinds)
        seen.setdefault(toolchain, set()).update(kinds)
    for toolchain, kinds in seen.items():
        assert {"GOTPC", "GOTOFF", "GOT32X", "PLT32"} <= kinds, toolchain


def test_exec_files_keep_relocations_and_undefined_kernel_symbols(elves: dict[tuple[str, str, str], Elf]) -> None:
    for (_, _, driver), elf in _each(elves, "exec"):
        assert elf.elf.header["e_type"] == "ET_EXEC"
        loads = [seg for seg in elf.elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        assert loads and min(seg["p_vaddr"] for seg in loads) == 0, elf.path  # linked at base 0
        assert elf.section(".dynamic") is None and elf.section(".interp") is None, elf.path
        kept = [rs for rs in elf.elf.iter_sections() if isinstance(rs, RelocationSection)
                and rs.name.startswith(".rel.") and "debug" not in rs.name]
        if driver == "portio":
            continue  # nothing in its code needs relocating
        assert kept, f"{elf.path}: no kept relocations (--emit-relocs)"
        if _calls_printk(build.DRIVERS / f"{driver}.c"):
            printk = elf.symbol("printk")
            assert printk is not None and printk["st_shndx"] == "SHN_UNDEF", elf.path
            assert printk["st_info"]["bind"] == "STB_GLOBAL", elf.path
            index = [s.name for s in elf.symbols()].index("printk")
            targets = {rel["r_info_sym"] for rs in elf.elf.iter_sections() if isinstance(rs, RelocationSection)
                       and rs.name.startswith(".rel.") and "debug" not in rs.name for rel in rs.iter_relocations()}
            assert index in targets, f"{elf.path}: no kept relocation against printk"


def test_shared_objects_import_kernel_symbols_dynamically(elves: dict[tuple[str, str, str], Elf]) -> None:
    for (_, _, driver), elf in _each(elves, "shared"):
        assert elf.section(".dynamic") is not None, elf.path
        assert any(seg["p_type"] == "PT_DYNAMIC" for seg in elf.elf.iter_segments()), elf.path
        if _calls_printk(build.DRIVERS / f"{driver}.c"):
            printk = elf.symbol("printk", ".dynsym")
            assert printk is not None and printk["st_shndx"] == "SHN_UNDEF", elf.path


def test_incremental_rebuild_and_temporary_files(tmp_path: Path) -> None:
    source = tmp_path / "tiny.c"
    source.write_text('#include <kernel.h>\nint tiny(void) { return printk("tiny\\n"); }\nMODULE_LICENSE("GPL");\n')
    first = build_all(tmp_path / "out", ["gcc"], ["obj", "rel", "exec"], [source])
    stamps = {key: path.stat().st_mtime_ns for key, path in first.items()}
    again = build_all(tmp_path / "out", ["gcc"], ["rel", "exec"], [source])
    assert {key: path.stat().st_mtime_ns for key, path in again.items()} == {
        key: stamps[key] for key in again}
    newer = max(stamps.values()) + 1_000_000
    os.utime(source, ns=(newer, newer))
    third = build_all(tmp_path / "out", ["gcc"], ["exec"], [source])
    assert third[("gcc", "exec", "tiny")].stat().st_mtime_ns > stamps[("gcc", "exec", "tiny")]
    assert (tmp_path / "out" / "gcc" / "obj" / "tiny.o").stat().st_mtime_ns > stamps[("gcc", "obj", "tiny")]
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_compile_error_is_reported_with_the_compiler_output(tmp_path: Path) -> None:
    source = tmp_path / "broken.c"
    source.write_text("#include <kernel.h>\nint broken(void) { return undeclared_thing; }\n")
    with pytest.raises(BuildError) as info:
        build_one(source, "gcc", "obj", tmp_path / "out")
    assert "undeclared_thing" in str(info.value) and "broken.c" in str(info.value)
    assert not list((tmp_path / "out").rglob("*.o")) and not list((tmp_path / "out").rglob("*.tmp"))


def test_missing_toolchain_is_skipped_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    monkeypatch.setattr(build, "_has_ziglang", lambda: False)
    result = build_all(tmp_path / "out", ["gcc", "clang"])
    assert dict(result) == {} and set(result.skipped) == {"gcc", "clang"}
    assert "clang" in result.skipped["clang"] and "ziglang" in result.skipped["clang"]
    assert find_toolchain("clang")[0] is None
    with pytest.raises(BuildError, match="unavailable"):
        build_one(build.DRIVERS / "hello.c", "clang", "obj", tmp_path / "out")


def test_command_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(build.DRIVERS / "build.py"), "--out", str(tmp_path),
                             "--toolchain", "gcc", "--format", "obj,rel", "hello"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "built 2 module files" in result.stdout
    assert (tmp_path / "gcc" / "rel" / "hello.ko").is_file()
    bad = subprocess.run([sys.executable, str(build.DRIVERS / "build.py"), "--out", str(tmp_path), "--format", "zip"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown format" in bad.stderr
