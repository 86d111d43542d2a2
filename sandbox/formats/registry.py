"""The format registry: which reader takes a file, by its magic."""

from __future__ import annotations

from typing import Any

from ..errors import LoadError
from ..modfile import read_module_file
from .base import ModuleFormat

_FORMATS: list[ModuleFormat] = []


def register_format(fmt: ModuleFormat) -> ModuleFormat:
    """Add ``fmt`` to the formats files are tried against (later registrations are tried first)."""
    _FORMATS.insert(0, fmt)
    return fmt


def formats() -> list[ModuleFormat]:
    """The registered formats, in the order files are tried against them."""
    _ensure_builtin()
    return list(_FORMATS)


def format_of(data: bytes, path: str) -> ModuleFormat:
    """The format whose magic ``data`` starts with; LoadError ``format`` naming the known ones otherwise."""
    for fmt in formats():
        if fmt.matches(data):
            return fmt
    known = ", ".join(f"{f.name} ({f.magic_hint})" if f.magic_hint else f.name for f in formats())
    raise LoadError(path, "format", f"not a module file of a known format (starts with {bytes(data[:4])!r}; known: {known})")


def open_image(data: bytes, path: str) -> tuple[ModuleFormat, Any]:
    """Parse and check module bytes: ``(format, image)``."""
    fmt = format_of(data, path)
    return fmt, fmt.open(data, path)


def open_file(path: str) -> tuple[ModuleFormat, Any]:
    """Read a module file (``.xz``/``.gz`` decompressed) and parse it: the one file reader of the engine."""
    return open_image(read_module_file(path), path)


def _ensure_builtin() -> None:
    if not any(f.name == "ELF" for f in _FORMATS):
        from .elf import ELF_FORMAT

        _FORMATS.append(ELF_FORMAT)
    if not any(f.name == "PE" for f in _FORMATS):
        from .pe import PE_FORMAT

        _FORMATS.append(PE_FORMAT)
