"""Build the myos drivers once per test session, with gcc (and clang when present).

netdrv is a relocatable object (``cc -c``), blinker a shared object
(``cc -fPIC -c`` then ``ld -shared``). Each pytest worker builds into its own
temporary folder, so ``pytest -n 2`` never races on the outputs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FLAGS = ["-ffreestanding", "-nostdinc", "-O2", "-g", "-Wall", "-Wextra", "-fno-stack-protector",
         "-fno-asynchronous-unwind-tables", "-I", str(HERE / "include")]
TOOLCHAINS = {
    "gcc": (["gcc", "-m32"], ["ld", "-m", "elf_i386"]),
    "clang": (["clang", "--target=i386-pc-none-elf", "-march=i686"], ["ld.lld", "-m", "elf_i386"]),
}


def available_toolchains() -> list[str]:
    """gcc always (the example needs it); clang when clang and ld.lld are installed."""
    return [name for name, (cc, ld) in TOOLCHAINS.items() if shutil.which(cc[0]) and shutil.which(ld[0])]


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr}")


def build(toolchain: str, out: Path) -> dict[str, Path]:
    """netdrv.o and blinker.so built by ``toolchain`` into ``out``."""
    cc, ld = TOOLCHAINS[toolchain]
    out.mkdir(parents=True, exist_ok=True)
    netdrv = out / "netdrv.o"
    _run([*cc, *FLAGS, "-fno-pic", "-c", str(HERE / "drivers" / "netdrv.c"), "-o", str(netdrv)])
    pic = out / "blinker.pic.o"
    _run([*cc, *FLAGS, "-fPIC", "-c", str(HERE / "drivers" / "blinker.c"), "-o", str(pic)])
    blinker = out / "blinker.so"
    _run([*ld, "-shared", "--hash-style=sysv", str(pic), "-o", str(blinker)])
    return {"netdrv": netdrv, "blinker": blinker}


@pytest.fixture(scope="session")
def myos_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """toolchain -> {"netdrv": path, "blinker": path}."""
    base = tmp_path_factory.mktemp("myos")
    return {name: build(name, base / name) for name in available_toolchains()}


@pytest.fixture(params=available_toolchains())
def myos_drivers(request: pytest.FixtureRequest, myos_builds: dict[str, dict[str, Path]]) -> dict[str, Path]:
    """The drivers of one toolchain (the tests run once per toolchain)."""
    return myos_builds[request.param]
