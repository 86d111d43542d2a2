"""Reading a module file and the checks that need only the file: compression, vermagic."""

from __future__ import annotations

import os
import stat
from typing import Any

from .elf.image import ElfImage
from .errors import LoadError
from .machine.address_map import MODULE_AREA_SIZE

# No module can be larger than the area modules are placed in; a compressed
# file that expands past it (a decompression bomb) is refused while it is
# being expanded, before it costs that much host memory.
MAX_MODULE_BYTES = MODULE_AREA_SIZE


def read_module_file(path: str, limit: int | None = None) -> bytes:
    """The bytes of a module file; ``.xz`` and ``.gz`` compressed files are decompressed.

    A file (or its decompressed contents) larger than ``limit`` bytes is a
    LoadError naming the limit (default MAX_MODULE_BYTES); so is anything but a regular file.
    """
    if limit is None:
        limit = MAX_MODULE_BYTES
    try:
        data = _read_whole(path, limit)
    except OSError as error:
        raise LoadError(path, "read", error.strerror or str(error)) from None
    try:
        if data[:6] == b"\xfd7zXZ\x00":
            import lzma

            return _expand(path, data, lzma.LZMADecompressor, limit)
        if data[:2] == b"\x1f\x8b":
            import zlib

            return _expand(path, data, lambda: zlib.decompressobj(wbits=31), limit)
    except (OSError, EOFError, ValueError) as error:  # lzma.LZMAError is an OSError; zlib.error a ValueError
        raise LoadError(path, "decompress", f"cannot decompress: {error}") from None
    return data


def _expand(path: str, data: bytes, decompressor: Any, limit: int) -> bytes:
    """Decompress every stream of ``data`` without ever holding more than ``limit`` + 1 bytes of output."""
    out = bytearray()
    rest = data
    while rest:
        stream = decompressor()
        out += stream.decompress(rest, limit + 1 - len(out))
        if len(out) > limit:
            raise LoadError(path, "decompressed-size", f"decompresses to more than {limit >> 20} MiB "
                            f"(the module area's size); refused")
        if not stream.eof:  # output stayed under the limit, so the input ran out
            raise EOFError("compressed data ends before the end of its stream")
        rest = stream.unused_data
        if rest.strip(b"\0") == b"":
            break  # padding after the last stream (xz allows it)
    return bytes(out)


def _read_whole(path: str, limit: int) -> bytes:
    """The file's bytes with one read of its known size (half the cost of ``Path.read_bytes``)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(path, "read", "not a regular file")
        size = info.st_size
        if size > limit:
            raise LoadError(path, "file-size", f"{size} bytes is more than {limit >> 20} MiB (the module area's size)")
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
