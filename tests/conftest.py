"""Shared fixtures: the built sample drivers, fresh kernels, a C compiler."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _plugin_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.value == "sandbox.pytest_plugin" for ep in entry_points(group="pytest11"))


# The package's pytest plugin provides the `kernel` and `load_driver`
# fixtures; when the package is installed, its entry point already loaded it.
pytest_plugins = ["pytester"] if _plugin_installed() else ["pytester", "sandbox.pytest_plugin"]
INCLUDE = ROOT / "kernel_stubs" / "include"
CFLAGS = ["-m32", "-ffreestanding", "-nostdinc", "-O2", "-g", "-Wall", "-I", str(INCLUDE)]


@pytest.fixture(scope="session")
def built() -> dict[tuple[str, str, str], Path]:
    """Every sample driver in every available toolchain × format (built once)."""
    from drivers.build import build_all

    return build_all()


@pytest.fixture
def driver(built: dict[tuple[str, str, str], Path]) -> Callable[..., Path]:
    """``driver("hello")`` -> path of the gcc relocatable object (or another format)."""

    def find(name: str, toolchain: str = "gcc", fmt: str = "obj") -> Path:
        return built[(toolchain, fmt, name)]

    return find


@pytest.fixture
def compile_c(tmp_path: Path) -> Callable[..., Path]:
    """Compile C source text into an i386 object: ``compile_c(src, name, *flags)``."""

    def build(source: str, name: str = "testmod", *flags: str, link: list[str] | None = None) -> Path:
        c_file = tmp_path / f"{name}.c"
        c_file.write_text(source)
        obj = tmp_path / f"{name}.o"
        pic = [] if "-fPIC" in flags else ["-fno-pic"]
        subprocess.run(["gcc", *CFLAGS, *pic, *flags, "-c", str(c_file), "-o", str(obj)], check=True,
                       capture_output=True, text=True)
        if link is not None:
            out = tmp_path / f"{name}.ko"
            subprocess.run(["ld", "-m", "elf_i386", *link, str(obj), "-o", str(out)], check=True)
            return out
        return obj

    return build
