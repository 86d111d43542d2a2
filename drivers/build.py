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
TOOLCHAINS = ("gcc", "clang")
EXTENSIONS = {"obj": ".o", "rel": ".ko", "pic": ".o", "shared": ".so", "exec": ".elf"}
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


def _headers() -> list[Path]:
    # The kernel's headers and the drivers' own (callconv.h).
    return sorted([*INCLUDE.rglob("*.h"), *DRIVERS.glob("*.h")])


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
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    found, reason = find_toolchain(toolchain)
    if found is None:
        raise BuildError(f"toolchain {toolchain} is unavailable: {reason}")
    return _build(Path(source), found, fmt, Path(out_dir), force, {})


def build_all(
    out_dir: Path = DEFAULT_OUT,
    toolchains: Iterable[str] = TOOLCHAINS,
    formats: Iterable[str] = FORMATS,
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
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
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

    work = [(toolchain, source) for toolchain in result.toolchains.values() for source in sources]
    with ThreadPoolExecutor(max_workers=jobs or min(16, os.cpu_count() or 4)) as pool:
        for done in pool.map(lambda item: chain(*item), work):
            for key, path, said in done:
                result[key] = path
                result.warnings.update(said)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: build/drivers)")
    parser.add_argument("--toolchain", default=",".join(TOOLCHAINS), help="comma-separated: gcc,clang")
    parser.add_argument("--format", default=",".join(FORMATS), help="comma-separated: " + ",".join(FORMATS))
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")
    parser.add_argument("--werror", action="store_true", help="fail if a compiler or linker printed anything")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="parallel builds")
    parser.add_argument("drivers", nargs="*", help="driver names or .c files (default: every drivers/*.c)")
    args = parser.parse_args(argv)
    sources = None
    if args.drivers:
        sources = [Path(d) if d.endswith(".c") else DRIVERS / f"{d}.c" for d in args.drivers]
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
    used = ", ".join(f"{name}: {t.origin}" for name, t in built.toolchains.items())
    print(f"built {len(built)} module files into {args.out}" + (f" ({used})" if used else ""))
    if args.werror and built.warnings:
        return 1
    return 0 if built.toolchains else 1


if __name__ == "__main__":
    sys.exit(main())
