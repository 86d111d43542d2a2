"""Build every sample driver in every toolchain × format.

Formats (how the field builds driver modules):

- ``obj``: ``cc -fno-pic -c``, a relocatable object (``obj/x.o``)
- ``rel``: ``obj`` then ``ld -r``, a Linux-style module (``rel/x.ko``)
- ``pic``: ``cc -fPIC -c``, a relocatable object using the GOT (``pic/x.o``)
- ``shared``: ``pic`` then ``ld -shared``, a shared object (``shared/x.so``)
- ``exec``: ``obj`` then ``ld -q`` at base 0, an executable that keeps its
  relocations and leaves kernel symbols undefined (``exec/x.elf``)

Toolchains: ``gcc`` (gcc -m32 and GNU ld) and ``clang`` (Debian clang and
ld.lld, else the ``ziglang`` PyPI package's ``zig cc``/``zig ld.lld``). A
toolchain that is not installed is skipped with a reason, never an error.

Linux (``linux``, built by default): the drivers in ``drivers/linux/`` for
the ``linux`` profile, compiled as Linux 6.1 i386 builds modules
(``-mregparm=3``, non-PIC, ``kernel_stubs/linux/include`` for their
declarations) and linked with ``ld -r`` into ``linux/x.ko``.

PE (``pe``, opt-in for :func:`build_all`, built by the script by default):
a PE32 DLL (``pe/x.dll``) per driver, by the toolchain's PE sibling —
mingw-w64 (``i686-w64-mingw32-gcc``, Debian gcc-mingw-w64-i686) for ``gcc``,
``clang --target=i686-pc-windows-msvc`` with ``lld-link`` for ``clang`` —
linked against an import library of the kernel's services (``kernel.sys``,
made from the headers' KAPI lines), entry point ``init_module``. The sample
drivers plus the PE-only ones in ``drivers/pe/``, and the NT-style ones in
``drivers/nt/`` (``x.sys``: ``kernel_stubs/nt/include``, ntoskrnl.exe and
hal.dll import libraries, entry ``DriverEntry``, ``lld-link /driver``). A
missing PE toolchain is skipped with a reason. Comment lines in a PE
driver's source steer its link: ``// pe-imports: DLL...`` (import libraries
of other PE drivers), ``// pe-export-ordinal: NAME N``, ``// pe-forward:
NAME=DLL.TARGET``, ``// pe-delayload: DLL``.

Usable as a script (``python drivers/build.py [--out DIR] [--toolchain
gcc,clang] [--format obj,rel,...]``) or from Python (``build_all()``).
Outputs go to ``<out>/<toolchain>/<format>/`` (default ``build/drivers``)
and are rebuilt only when a source, a header or this script is newer. Each
output is written under a temporary name and renamed into place, so
concurrent builds of the same tree never see half-written files.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = Path(__file__).resolve().parent
INCLUDE = ROOT / "kernel_stubs" / "include"
DEFAULT_OUT = ROOT / "build" / "drivers"

COMMON_FLAGS = ["-ffreestanding", "-nostdinc", "-O2", "-g", "-Wall", "-Wextra", "-fno-stack-protector",
                "-fno-asynchronous-unwind-tables", "-fno-common", "-I", str(INCLUDE)]
FORMATS = ("obj", "rel", "pic", "shared", "exec")
PE_FORMATS = ("pe",)
LINUX_FORMATS = ("linux",)
ALL_FORMATS = FORMATS + LINUX_FORMATS + PE_FORMATS
TOOLCHAINS = ("gcc", "clang")
EXTENSIONS = {"obj": ".o", "rel": ".ko", "pic": ".o", "shared": ".so", "exec": ".elf", "pe": ".dll", "linux": ".ko"}
PE_DRIVERS = DRIVERS / "pe"
# NT-style drivers (the nt profile): its headers, ntoskrnl.exe and hal.dll import libraries, entry DriverEntry.
NT_DRIVERS = DRIVERS / "nt"
NT_STUBS = ROOT / "kernel_stubs" / "nt"
NT_LIBRARIES = ("ntoskrnl", "hal")
# The DLL name the generic profile's services answer to in PE imports.
KERNEL_DLL = "kernel.sys"
# Kernel data a PE driver imports (through the IAT, declared dllimport in the headers).
KERNEL_DATA = ("jiffies", "jiffies_64")
# Linux-profile drivers: their own directory and headers, Linux's calling convention.
LINUX_DRIVERS = DRIVERS / "linux"
LINUX_INCLUDE = ROOT / "kernel_stubs" / "linux" / "include"
LINUX_FLAGS = ["-ffreestanding", "-nostdinc", "-O2", "-g", "-Wall", "-Wextra", "-fno-stack-protector",
               "-fno-asynchronous-unwind-tables", "-fno-common", "-fno-pic", "-mregparm=3", "-I", str(LINUX_INCLUDE)]
# The compiled object each linked format starts from.
LINK_INPUT = {"rel": "obj", "exec": "obj", "shared": "pic"}


class BuildError(RuntimeError):
    """A compiler or linker failed; the message carries the command and its output."""


@dataclass(frozen=True)
class Toolchain:
    """A C compiler and a linker able to produce i386 ELF."""

    name: str
    cc: tuple[str, ...]
    ld: tuple[str, ...]
    lld: bool  # ld.lld flavour (else GNU ld)
    origin: str

    def link_args(self, fmt: str) -> list[str]:
        """Linker options (after ``ld -m elf_i386``) for a linked format."""
        if fmt == "rel":
            return ["-r"]
        if fmt == "shared":
            return ["-shared", "--hash-style=sysv"]
        if fmt == "exec":
            # Linked at base 0 (text at 0), relocations kept (-q is
            # --emit-relocs), kernel symbols left undefined in .symtab for
            # the loader to bind; no entry point.
            base = ["--image-base=0"] if self.lld else ["-Ttext-segment=0"]
            return ["--emit-relocs", "-e", "0", *base, "--unresolved-symbols=ignore-all"]
        raise ValueError(f"{fmt} is not a linked format")


@dataclass(frozen=True)
class PeToolchain:
    """A compiler and linker producing PE32 i386 DLLs, and the tool that makes import libraries."""

    name: str
    cc: tuple[str, ...]
    origin: str

    @property
    def mingw(self) -> bool:
        """GNU flavour (mingw-w64 gcc, ld, dlltool), else MSVC flavour (clang, lld-link, llvm-dlltool)."""
        return self.name == "gcc"

    def import_library(self, definition: Path, output: Path) -> list[str]:
        """argv making an import library from a .def file (``-k``: stdcall names imported undecorated)."""
        tool = "i686-w64-mingw32-dlltool" if self.mingw else "llvm-dlltool"
        return [tool, "-k", "-m", "i386", "-d", str(definition), "-l", str(output)]

    def link(self, objects: list[Path], libraries: list[Path], output: Path, entry: str | None,
             driver: bool = False) -> list[str]:
        """argv linking ``objects`` into a DLL, or with ``driver`` a native .sys (``entry``: None for none)."""
        if self.mingw:
            start = ["-Wl,-e,_" + entry] if entry else ["-Wl,-e,0"]
            kind = ["-Wl,--subsystem,native"] if driver else []
            # --kill-at: a __stdcall export is named without its @N, as NT's are (and the
            # import library ld writes beside the DLL maps _f@N to that name).
            return ["i686-w64-mingw32-gcc", "-nostdlib", "-shared", "-Wl,--kill-at", *kind, *start, "-o", str(output),
                    *map(str, objects), *map(str, libraries), "-lgcc"]
        start = [f"/entry:{entry.split('@')[0]}"] if entry else ["/noentry"]
        # /debug:symtab keeps a COFF symbol table, as mingw does: the symbolizer and
        # the well-known names read it. /driver: not a DLL, based at 0x400000.
        kind = ["/driver", "/subsystem:native"] if driver else ["/dll"]
        return ["lld-link", *kind, "/nodefaultlib", "/machine:x86", "/debug:symtab", *start, f"/out:{output}",
                *map(str, objects), *map(str, libraries)]


def find_pe_toolchain(name: str) -> tuple[PeToolchain | None, str]:
    """(PE toolchain, where it comes from) or (None, why it is unavailable)."""
    if name == "gcc":
        tools = ("i686-w64-mingw32-gcc", "i686-w64-mingw32-dlltool")
        missing = [t for t in tools if shutil.which(t) is None]
        if missing:
            return None, f"not installed: {' and '.join(missing)} (Debian: gcc-mingw-w64-i686)"
        return PeToolchain("gcc", ("i686-w64-mingw32-gcc",), "mingw-w64 gcc + GNU ld"), "mingw-w64 gcc + GNU ld"
    if name == "clang":
        missing = [t for t in ("clang", "lld-link", "llvm-dlltool") if shutil.which(t) is None]
        if missing:
            return None, f"not installed: {' and '.join(missing)} (Debian: clang lld llvm)"
        return (PeToolchain("clang", ("clang", "--target=i686-pc-windows-msvc"), "clang + lld-link"),
                "clang + lld-link")
    raise ValueError(f"unknown toolchain {name!r} (known: {', '.join(TOOLCHAINS)})")


def pe_driver_sources() -> list[Path]:
    """The drivers built as PE: every sample driver, the PE-only ones in ``drivers/pe/``, the NT ones in ``drivers/nt/``."""
    return [*driver_sources(), *sorted(PE_DRIVERS.glob("*.c")), *sorted(NT_DRIVERS.glob("*.c"))]


def _nt_import_libraries(toolchain: PeToolchain, out_dir: Path, force: bool) -> list[Path]:
    target_dir = out_dir / toolchain.name / "pe"
    target_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for name in NT_LIBRARIES:
        definition = NT_STUBS / "lib" / f"{name}.def"
        library = target_dir / (f"lib{name}.a" if toolchain.mingw else f"{name}.lib")
        if force or _stale(library, [Path(__file__), definition]):
            _make_import_library(toolchain, definition, library)
        made.append(library)
    return made


def kernel_definition(dll: str = KERNEL_DLL) -> str:
    """A module-definition (.def) file of every function the headers declare (KAPI lines), and the kernel data."""
    names: list[str] = []
    for header in _headers():
        for line in header.read_text(errors="replace").splitlines():
            if line.startswith("KAPI ") and "(" in line:
                name = line.split("(", 1)[0].replace("*", " ").split()[-1]
                if name not in names:
                    names.append(name)
    return f"LIBRARY {dll}\nEXPORTS\n" + "".join(f"  {n}\n" for n in names) + "".join(f"  {n} DATA\n" for n in KERNEL_DATA)


def _kernel_import_library(toolchain: PeToolchain, out_dir: Path, force: bool) -> Path:
    target_dir = out_dir / toolchain.name / "pe"
    target_dir.mkdir(parents=True, exist_ok=True)
    library = target_dir / ("libkernel.a" if toolchain.mingw else "kernel.lib")
    if force or _stale(library, [Path(__file__), *_headers()]):
        definition = target_dir / "kernel.def"
        temporary_def = _temporary(definition)
        temporary_def.write_text(kernel_definition())
        os.replace(temporary_def, definition)
        _make_import_library(toolchain, definition, library)
    return library


def _make_import_library(toolchain: PeToolchain, definition: Path, library: Path) -> None:
    """Build ``library`` from a .def file under a temporary name and rename it into place."""
    temporary = _temporary(library)
    try:
        _run(toolchain.import_library(definition, temporary))
        os.replace(temporary, library)
    finally:
        temporary.unlink(missing_ok=True)


def pe_link_libraries(source: Path, out_dir: Path) -> list[Path]:
    """Import libraries of other PE drivers a PE-only driver names with ``// pe-imports: a b`` lines."""
    wanted: list[str] = []
    for line in source.read_text(errors="replace").splitlines():
        if line.startswith("// pe-imports:"):
            wanted.extend(line.split(":", 1)[1].split())
    return [out_dir / f"{name}.lib" for name in wanted]


def _build_pe(source: Path, toolchain: PeToolchain, out_dir: Path, force: bool, warnings: dict[Path, str]) -> Path:
    """Compile and link one driver into ``<out>/<toolchain>/pe/<name>.dll`` (and its import library)."""
    nt = source.parent == NT_DRIVERS
    libraries = _nt_import_libraries(toolchain, out_dir, force) if nt else [_kernel_import_library(toolchain, out_dir, force)]
    target_dir = out_dir / toolchain.name / "pe"
    output = target_dir / (source.stem + (".sys" if nt else ".dll"))
    text = source.read_text(errors="replace")
    others = pe_link_libraries(source, target_dir)
    headers = sorted((NT_STUBS / "include").glob("*.h")) if nt else _headers()
    inputs = [source, Path(__file__), *headers, *libraries, *others]
    if not force and not _stale(output, inputs):
        return output
    # Everything is made in a private directory (concurrent builds of one tree never
    # see each other's half-written files) and the DLL is linked under its final
    # name there: the linker writes the file name into the export directory.
    scratch = _temporary(target_dir / source.stem)
    scratch.mkdir()
    try:
        return _build_pe_in(source, toolchain, target_dir, scratch, output, nt, libraries, others, text, warnings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build_pe_in(source: Path, toolchain: PeToolchain, target_dir: Path, scratch: Path, output: Path, nt: bool,
                 libraries: list[Path], others: list[Path], text: str, warnings: dict[Path, str]) -> Path:
    obj = scratch / (source.stem + ".obj")
    flags = [*COMMON_FLAGS[: COMMON_FLAGS.index("-I")], "-I", str(NT_STUBS / "include")] if nt else COMMON_FLAGS
    said = _run([*toolchain.cc, *flags, "-c", str(source), "-o", str(obj)])
    entry = "DriverEntry@8" if nt else "init_module" if "module_init(" in text else None
    if not nt:
        # What the object leaves undefined beyond the headers (a test's own services, say)
        # is the kernel's too, as the ELF loader binds any undefined symbol: a second
        # import library of kernel.sys, searched last.
        extra = _undefined_beyond_headers(toolchain, obj)
        if extra:
            definition = scratch / f"{source.stem}.kernel-extra.def"
            definition.write_text(f"LIBRARY {KERNEL_DLL}\nEXPORTS\n" + "".join(f"  {n}\n" for n in extra))
            extra_library = scratch / (f"lib{source.stem}-kernel-extra.a" if toolchain.mingw else f"{source.stem}-kernel-extra.lib")
            _run(toolchain.import_library(definition, extra_library))
            libraries = [*libraries, extra_library]
    for line in text.splitlines():
        if line.startswith("// pe-entry:"):
            entry = line.split(":", 1)[1].strip() or None
    linked, implib = scratch / output.name, scratch / f"{source.stem}.lib"
    argv = toolchain.link([obj], [*others, *libraries], linked, entry, driver=nt)
    # "// pe-delayload: NAME" imports NAME.dll through a delay-load table (lld-link /delayload).
    if not toolchain.mingw:
        argv += [f"/delayload:{name}.dll" for line in text.splitlines() if line.startswith("// pe-delayload:")
                 for name in line.split(":", 1)[1].split()]
    # "// pe-export-ordinal: NAME N" exports NAME by ordinal N only (NONAME).
    ordinal_only = [line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("// pe-export-ordinal:")]
    # "// pe-forward: NAME=DLL.TARGET" exports NAME as a forwarder to DLL's TARGET.
    forwards = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("// pe-forward:")]
    if (ordinal_only or forwards) and toolchain.mingw:
        definition = scratch / f"{source.stem}.def"
        definition.write_text("EXPORTS\n" + "".join(f"  {name} @{number} NONAME\n" for name, number in ordinal_only)
                              + "".join(f"  {forward.replace('=', ' = ', 1)}\n" for forward in forwards))
        argv.append(str(definition))
    elif ordinal_only or forwards:
        argv += [f"/export:{name},@{number},NONAME" for name, number in ordinal_only]
        argv += [f"/export:{forward}" for forward in forwards]
    # Each DLL gets an import library beside it, for drivers that import from it.
    exports_def = scratch / f"{source.stem}.exports.def"
    argv += [f"-Wl,--output-def,{exports_def}"] if toolchain.mingw else [f"/implib:{implib}"]
    said += _run(argv)
    if toolchain.mingw and exports_def.exists():
        _mingw_import_library(toolchain, exports_def, output.name, implib)
    if implib.exists():  # a driver exporting nothing has none
        os.replace(implib, target_dir / implib.name)
    os.replace(linked, output)
    if said.strip():
        warnings[output] = said
    return output


def _undefined_beyond_headers(toolchain: PeToolchain, obj: Path) -> list[str]:
    """Undefined symbols of ``obj`` that the headers' KAPI functions do not name.

    Names as a .def file spells them: cdecl plain, stdcall ``f@N``, fastcall ``@f@N``.
    """
    nm = "i686-w64-mingw32-nm" if toolchain.mingw else "llvm-nm"
    if shutil.which(nm) is None:
        return []
    declared = {line.split()[0] for line in kernel_definition().splitlines()[2:] if line.strip()}
    # A pe-imports DLL's import library comes first on the link line: names it
    # provides never pull this library's members.
    names = []
    for line in _run([nm, "-u", str(obj)]).splitlines():
        symbol = line.split()[-1] if line.strip() else ""
        if not symbol or symbol.startswith("__imp_"):
            continue
        name = symbol[1:] if symbol.startswith("_") else symbol
        plain = name.lstrip("@").split("@")[0]
        if plain in declared:
            continue
        names.append(name)
    return names


def _mingw_import_library(toolchain: PeToolchain, exports_def: Path, dll: str, implib: Path) -> None:
    """The import library matching a ``--kill-at`` DLL: importers' ``_f@N`` bound to the export ``f``.

    ld's ``--out-implib`` of a ``--kill-at`` link names the killed symbol, so a
    consumer's decorated reference would not link; dlltool ``-k`` over the
    decorated names (``f = f@N`` in ld's ``--output-def`` becomes ``f@N``) does.
    """
    lines = []
    for line in exports_def.read_text().splitlines():
        name, equals, rest = line.strip().partition(" = ")
        lines.append(f"    {rest}" if equals and rest.split()[0].startswith(name + "@") else line)
    fixed = exports_def.with_suffix(".implib.def")
    fixed.write_text(f"LIBRARY {dll}\n" + "\n".join(lines) + "\n")
    _run(toolchain.import_library(fixed, implib))


def _has_ziglang() -> bool:
    try:
        return importlib.util.find_spec("ziglang") is not None
    except (ImportError, ValueError):
        return False


def find_toolchain(name: str) -> tuple[Toolchain | None, str]:
    """(toolchain, where it comes from) or (None, why it is unavailable)."""
    if name == "gcc":
        missing = [tool for tool in ("gcc", "ld") if shutil.which(tool) is None]
        if missing:
            return None, f"not installed: {' and '.join(missing)} (Debian: gcc binutils)"
        return Toolchain("gcc", ("gcc", "-m32"), ("ld", "-m", "elf_i386"), False, "gcc + GNU ld"), "gcc + GNU ld"
    if name == "clang":
        if shutil.which("clang") and shutil.which("ld.lld"):
            return (Toolchain("clang", ("clang", "--target=i386-pc-none-elf", "-march=i686"),
                              ("ld.lld", "-m", "elf_i386"), True, "clang + ld.lld"), "clang + ld.lld")
        if _has_ziglang():
            zig = (sys.executable, "-m", "ziglang")
            return (Toolchain("clang", (*zig, "cc", "-target", "x86-freestanding-none", "-mcpu=i686",
                                        "-fno-sanitize=all"),
                              (*zig, "ld.lld", "-m", "elf_i386"), True, "zig cc + zig ld.lld (ziglang)"),
                    "zig cc + zig ld.lld (ziglang)")
        return None, "not installed: clang and ld.lld (Debian: clang lld), nor the ziglang Python package"
    raise ValueError(f"unknown toolchain {name!r} (known: {', '.join(TOOLCHAINS)})")


def toolchain_commands(toolchain: str) -> tuple[list[str], list[str]] | None:
    """(compiler argv prefix, linker argv prefix) or None if not installed."""
    found, _ = find_toolchain(toolchain)
    return None if found is None else (list(found.cc), list(found.ld))


def driver_sources() -> list[Path]:
    """Every sample driver source."""
    return sorted(DRIVERS.glob("*.c"))


def linux_driver_sources() -> list[Path]:
    """Every Linux-profile sample driver source (``drivers/linux/*.c``)."""
    return sorted(LINUX_DRIVERS.glob("*.c"))


def _headers() -> list[Path]:
    # The kernel's headers and the drivers' own (callconv.h).
    return sorted([*INCLUDE.rglob("*.h"), *DRIVERS.glob("*.h")])


def _build_linux(source: Path, toolchain: Toolchain, out_dir: Path, force: bool, warnings: dict[Path, str]) -> Path:
    """``linux/x.ko``: compiled with Linux's flags, then ``ld -r`` as kbuild links a module."""
    target_dir = out_dir / toolchain.name / "linux"
    target_dir.mkdir(parents=True, exist_ok=True)
    output = target_dir / (source.stem + ".ko")
    headers = sorted([*LINUX_INCLUDE.rglob("*.h"), *LINUX_DRIVERS.glob("*.h")])
    if not force and not _stale(output, [source, Path(__file__), *headers]):
        return output
    obj, temporary = _temporary(target_dir / (source.stem + ".o")), _temporary(output)
    try:
        said = _run([*toolchain.cc, *LINUX_FLAGS, "-c", str(source), "-o", str(obj)])
        said += _run([*toolchain.ld, "-r", str(obj), "-o", str(temporary)])
        os.replace(temporary, output)
    finally:
        obj.unlink(missing_ok=True)
        temporary.unlink(missing_ok=True)
    if said.strip():
        warnings[output] = said
    return output


def _run(argv: list[str]) -> str:
    """Run a tool; its stderr (warnings) on success, BuildError on failure."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except OSError as error:
        raise BuildError(f"{' '.join(argv)}\n{error}") from error
    if result.returncode != 0:
        raise BuildError(f"{' '.join(argv)}\nexit status {result.returncode}\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def _stale(output: Path, inputs: Iterable[Path]) -> bool:
    try:
        built = output.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    return any(p.stat().st_mtime_ns > built for p in inputs)


def _temporary(output: Path) -> Path:
    return output.with_name(f".{output.name}.{os.getpid()}.{threading.get_ident()}.tmp")


class BuildResult(dict[tuple[str, str, str], Path]):
    """(toolchain, format, driver) -> output path, plus what was skipped and said.

    ``skipped`` maps an unavailable toolchain to the reason; ``warnings``
    maps an output built in this run to the compiler's or linker's warnings.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}
        self.warnings: dict[Path, str] = {}
        self.toolchains: dict[str, Toolchain] = {}
        self.pe_toolchains: dict[str, PeToolchain] = {}


def _build(source: Path, toolchain: Toolchain, fmt: str, out_dir: Path, force: bool,
           warnings: dict[Path, str]) -> Path:
    target_dir = out_dir / toolchain.name / fmt
    target_dir.mkdir(parents=True, exist_ok=True)
    output = target_dir / (source.stem + EXTENSIONS[fmt])
    if fmt in LINK_INPUT:
        obj = _build(source, toolchain, LINK_INPUT[fmt], out_dir, force, warnings)
        inputs = [obj, Path(__file__)]
        argv = [*toolchain.ld, *toolchain.link_args(fmt), str(obj), "-o"]
    else:
        inputs = [source, Path(__file__), *_headers()]
        pic = "-fPIC" if fmt == "pic" else "-fno-pic"
        argv = [*toolchain.cc, *COMMON_FLAGS, pic, "-c", str(source), "-o"]
    if not force and not _stale(output, inputs):
        return output
    temporary = _temporary(output)
    try:
        said = _run([*argv, str(temporary)])
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    if said.strip():
        warnings[output] = said
    return output


def build_one(source: Path, toolchain: str, fmt: str, out_dir: Path = DEFAULT_OUT, force: bool = False) -> Path:
    """Build ``source`` in one toolchain and format; returns the output path."""
    if fmt == "pe":
        pe, reason = find_pe_toolchain(toolchain)
        if pe is None:
            raise BuildError(f"PE toolchain {toolchain} is unavailable: {reason}")
        return _build_pe(Path(source), pe, Path(out_dir), force, {})
    if fmt not in FORMATS + LINUX_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(ALL_FORMATS)})")
    found, reason = find_toolchain(toolchain)
    if found is None:
        raise BuildError(f"toolchain {toolchain} is unavailable: {reason}")
    if fmt == "linux":
        return _build_linux(Path(source), found, Path(out_dir), force, {})
    return _build(Path(source), found, fmt, Path(out_dir), force, {})


def build_all(
    out_dir: Path = DEFAULT_OUT,
    toolchains: Iterable[str] = TOOLCHAINS,
    formats: Iterable[str] = FORMATS + LINUX_FORMATS,
    sources: Iterable[Path] | None = None,
    force: bool = False,
    jobs: int | None = None,
) -> BuildResult:
    """Build everything available; maps (toolchain, format, driver) to the output.

    Unavailable toolchains are left out, their reason in ``result.skipped``.
    Raises BuildError (with the tool's output) when a compile or link fails.
    """
    formats = list(formats)
    for fmt in formats:
        if fmt not in ALL_FORMATS:
            raise ValueError(f"unknown format {fmt!r} (known: {', '.join(ALL_FORMATS)})")
    pe_wanted, linux_wanted = "pe" in formats, "linux" in formats
    formats = [f for f in formats if f in FORMATS]
    pe_sources = pe_driver_sources() if sources is None else [Path(s) for s in sources]
    linux_sources = linux_driver_sources() if sources is None else []
    sources = driver_sources() if sources is None else [Path(s) for s in sources]
    out_dir = Path(out_dir)
    result = BuildResult()
    for name in toolchains:
        found, reason = find_toolchain(name)
        if found is None:
            result.skipped[name] = reason
        else:
            result.toolchains[name] = found

    def chain(toolchain: Toolchain, source: Path) -> list[tuple[tuple[str, str, str], Path, dict[Path, str]]]:
        said: dict[Path, str] = {}
        done = [((toolchain.name, fmt, source.stem), _build(source, toolchain, fmt, out_dir, force, said), said)
                for fmt in formats]
        return done

    def linux(toolchain: Toolchain, source: Path) -> list[tuple[tuple[str, str, str], Path, dict[Path, str]]]:
        said: dict[Path, str] = {}
        return [((toolchain.name, "linux", source.stem), _build_linux(source, toolchain, out_dir, force, said), said)]

    work = [(chain, toolchain, source) for toolchain in result.toolchains.values() for source in sources] if formats else []
    if linux_wanted:
        work += [(linux, toolchain, source) for toolchain in result.toolchains.values() for source in linux_sources]
    with ThreadPoolExecutor(max_workers=jobs or min(16, os.cpu_count() or 4)) as pool:
        for done in pool.map(lambda item: item[0](*item[1:]), work):
            for key, path, said in done:
                result[key] = path
                result.warnings.update(said)
    if pe_wanted:
        _build_all_pe(result, out_dir, toolchains, pe_sources, force)
    return result


def _build_all_pe(result: BuildResult, out_dir: Path, toolchains: Iterable[str], sources: list[Path], force: bool) -> None:
    """The PE builds, in order: a driver listed in another's ``pe-imports`` is built (with its import library) first."""
    order = sorted(sources, key=lambda source: bool(pe_link_libraries(source, out_dir)))
    for name in toolchains:
        found, reason = find_pe_toolchain(name)
        if found is None:
            result.skipped[f"{name}/pe"] = reason
            continue
        result.pe_toolchains[name] = found
        said: dict[Path, str] = {}
        for source in order:
            result[(name, "pe", source.stem)] = _build_pe(source, found, out_dir, force, said)
        result.warnings.update(said)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: build/drivers)")
    parser.add_argument("--toolchain", default=",".join(TOOLCHAINS), help="comma-separated: gcc,clang")
    parser.add_argument("--format", default=",".join(ALL_FORMATS), help="comma-separated: " + ",".join(ALL_FORMATS))
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    parser.add_argument("--werror", action="store_true", help="fail if a compiler or linker printed anything")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="parallel builds")
    parser.add_argument("drivers", nargs="*", help="driver names or .c files (default: every drivers/*.c)")
    args = parser.parse_args(argv)
    sources = None
    if args.drivers:
        sources = [Path(d) if d.endswith(".c") else next((where / f"{d}.c" for where in (DRIVERS, PE_DRIVERS, NT_DRIVERS)
                                                          if (where / f"{d}.c").exists()), DRIVERS / f"{d}.c")
                   for d in args.drivers]
    try:
        built = build_all(args.out, [t for t in args.toolchain.split(",") if t],
                          [f for f in args.format.split(",") if f], sources, args.force, args.jobs)
    except (BuildError, ValueError) as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    for path, said in sorted(built.warnings.items()):
        print(f"{path}:\n{said}", file=sys.stderr)
    for name, reason in built.skipped.items():
        print(f"skipped toolchain {name}: {reason}", file=sys.stderr)
    used = ", ".join([f"{name}: {t.origin}" for name, t in built.toolchains.items()]
                     + [f"{name} PE: {t.origin}" for name, t in built.pe_toolchains.items()])
    print(f"built {len(built)} module files into {args.out}" + (f" ({used})" if used else ""))
    if args.werror and built.warnings:
        return 1
    return 0 if built.toolchains or built.pe_toolchains else 1


if __name__ == "__main__":
    sys.exit(main())
