"""Build every sample driver in every toolchain × format.

Formats (how the field builds driver modules):

- ``obj``: ``cc -c``, a relocatable object
- ``rel``: ``obj`` then ``ld -r``, a Linux-style ``.ko``
- ``pic``: ``cc -fPIC -c``, a relocatable object using the GOT
- ``shared``: ``cc -fPIC`` then ``ld -shared``, a position-independent shared object
- ``exec``: ``cc -c`` then ``ld -q`` at base 0, an executable that keeps its relocations

Toolchains: ``gcc`` (GNU ld) and ``clang`` (ld.lld). Usable as a script
(``python drivers/build.py``) or from Python (``build_all()``). Outputs go
to ``build/drivers/<toolchain>/<format>/`` and are rebuilt only when a
source or header is newer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = Path(__file__).resolve().parent
INCLUDE = ROOT / "kernel_stubs" / "include"
DEFAULT_OUT = ROOT / "build" / "drivers"

COMMON_FLAGS = ["-ffreestanding", "-nostdinc", "-O2", "-g", "-Wall", "-Wextra", "-fno-stack-protector",
                "-fno-asynchronous-unwind-tables", "-I", str(INCLUDE)]
FORMATS = ("obj", "rel", "pic", "shared", "exec")
EXTENSIONS = {"obj": ".o", "rel": ".ko", "pic": ".o", "shared": ".so", "exec": ".elf"}


class BuildError(RuntimeError):
    """A compiler or linker failed; the message carries its output."""


def driver_sources() -> list[Path]:
    """Every sample driver source."""
    return sorted(DRIVERS.glob("*.c"))


def toolchain_commands(toolchain: str) -> tuple[list[str], list[str]] | None:
    """(compiler argv prefix, linker argv prefix) or None if not installed."""
    if toolchain == "gcc":
        if shutil.which("gcc") and shutil.which("ld"):
            return ["gcc", "-m32"], ["ld", "-m", "elf_i386"]
        return None
    if toolchain == "clang":
        if shutil.which("clang") and shutil.which("ld.lld"):
            return ["clang", "--target=i386-pc-none-elf", "-march=i686"], ["ld.lld", "-m", "elf_i386"]
        return None
    raise ValueError(f"unknown toolchain {toolchain!r}")


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(argv)}\n{result.stdout}{result.stderr}")


def _stale(output: Path, inputs: Iterable[Path]) -> bool:
    if not output.exists():
        return True
    built = output.stat().st_mtime
    return any(p.stat().st_mtime > built for p in inputs)


def build_one(source: Path, toolchain: str, fmt: str, out_dir: Path = DEFAULT_OUT) -> Path:
    """Build ``source`` in one toolchain and format; returns the output path."""
    commands = toolchain_commands(toolchain)
    if commands is None:
        raise BuildError(f"toolchain {toolchain} is not installed")
    cc, ld = commands
    target_dir = out_dir / toolchain / fmt
    target_dir.mkdir(parents=True, exist_ok=True)
    output = target_dir / (source.stem + EXTENSIONS[fmt])
    inputs = [source, Path(__file__), *INCLUDE.rglob("*.h")]
    if not _stale(output, inputs):
        return output
    pic = fmt in ("pic", "shared")
    # Build under names unique to this process and rename into place, so
    # parallel test workers building the same target never see a half file.
    partial = target_dir / f"{output.name}.{os.getpid()}.partial"
    obj = partial if fmt in ("obj", "pic") else target_dir / f"{source.stem}.{os.getpid()}.tmp.o"
    try:
        _run([*cc, *COMMON_FLAGS, "-fPIC" if pic else "-fno-pic", "-c", str(source), "-o", str(obj)])
        if fmt == "rel":
            _run([*ld, "-r", str(obj), "-o", str(partial)])
        elif fmt == "shared":
            _run([*ld, "-shared", "--hash-style=sysv", str(obj), "-o", str(partial)])
        elif fmt == "exec":
            # Linked at base 0 with --emit-relocs; kernel symbols stay undefined
            # for the loader to bind.
            _run([*ld, "-q", "-e", "0", "--image-base=0" if toolchain == "clang" else "-Ttext-segment=0",
                  "--unresolved-symbols=ignore-all", str(obj), "-o", str(partial)])
        os.replace(partial, output)
    finally:
        for leftover in (obj, partial):
            leftover.unlink(missing_ok=True)
    return output


def build_all(
    out_dir: Path = DEFAULT_OUT,
    toolchains: Iterable[str] = ("gcc", "clang"),
    formats: Iterable[str] = FORMATS,
) -> dict[tuple[str, str, str], Path]:
    """Build everything available; maps (toolchain, format, driver) to the output."""
    built: dict[tuple[str, str, str], Path] = {}
    for toolchain in toolchains:
        if toolchain_commands(toolchain) is None:
            continue
        for fmt in formats:
            for source in driver_sources():
                built[(toolchain, fmt, source.stem)] = build_one(source, toolchain, fmt, out_dir)
    return built


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--toolchain", default="gcc,clang", help="comma-separated: gcc,clang")
    parser.add_argument("--format", default=",".join(FORMATS), help="comma-separated: " + ",".join(FORMATS))
    args = parser.parse_args(argv)
    try:
        built = build_all(args.out, args.toolchain.split(","), args.format.split(","))
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    missing = [t for t in args.toolchain.split(",") if toolchain_commands(t) is None]
    print(f"built {len(built)} module files into {args.out}" + (f" (not installed: {', '.join(missing)})" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
