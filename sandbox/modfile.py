"""Reading a module file and the checks that need only the file: compression, vermagic."""

from __future__ import annotations

import os

from .elf.image import ElfImage
from .errors import LoadError


def read_module_file(path: str) -> bytes:
    """The bytes of a module file; ``.xz`` and ``.gz`` compressed files are decompressed."""
    try:
        data = _read_whole(path)
    except OSError as error:
        raise LoadError(path, "read", error.strerror or str(error)) from None
    try:
        if data[:6] == b"\xfd7zXZ\x00":
            import lzma

            return lzma.decompress(data)
        if data[:2] == b"\x1f\x8b":
            import gzip

            return gzip.decompress(data)
    except (OSError, EOFError, ValueError) as error:  # lzma.LZMAError is an OSError
        raise LoadError(path, "decompress", f"cannot decompress: {error}") from None
    return data


def _read_whole(path: str) -> bytes:
    """The file's bytes with one read of its known size (half the cost of ``Path.read_bytes``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size)
        while len(data) < size:  # a short read (network file systems): go on until the end
            more = os.read(fd, size - len(data))
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


def check_vermagic(image: ElfImage, expected: str) -> None:
    """ELF-CHECKLIST 26: the module's vermagic must match the kernel's.

    As Linux's ``same_magic``: with symbol versions (``__versions``), only
    the part after the release (the first space) is compared.
    """
    values = [v for k, v in image.modinfo if k == "vermagic"]
    if not values:
        raise LoadError(image.name, "vermagic", f"no vermagic in .modinfo (the kernel expects {expected!r})")
    found = values[-1]
    mine, theirs = found, expected
    if image.section_by_name("__versions") is not None:
        mine, theirs = found[found.find(" ") + 1:] if " " in found else "", expected[expected.find(" ") + 1:]
    if mine.strip() != theirs.strip():
        raise LoadError(image.name, "vermagic", f"vermagic {found!r} does not match the kernel's {expected!r}")
