"""Where the fields of a PE32 file are, read with struct alone (not the loader's reader), for mutation tests."""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass
class PeFields:
    """File offsets of the headers' fields and the RVA -> file offset mapping of one PE32 image."""

    data: bytearray

    def __post_init__(self) -> None:
        self.lfanew = struct.unpack_from("<I", self.data, 0x3C)[0]
        self.coff = self.lfanew + 4
        self.optional = self.coff + 20
        self.optional_size = self.u16(self.coff + 16)
        self.sections = self.optional + self.optional_size
        self.section_count = self.u16(self.coff + 2)

    # -- raw access ----------------------------------------------------------
    def u16(self, at: int) -> int:
        return struct.unpack_from("<H", self.data, at)[0]

    def u32(self, at: int) -> int:
        return struct.unpack_from("<I", self.data, at)[0]

    def put16(self, at: int, value: int) -> None:
        struct.pack_into("<H", self.data, at, value)

    def put32(self, at: int, value: int) -> None:
        struct.pack_into("<I", self.data, at, value & 0xFFFFFFFF)

    # -- named places ----------------------------------------------------------
    @property
    def machine(self) -> int:
        return self.coff

    @property
    def characteristics(self) -> int:
        return self.coff + 18

    def optional_field(self, offset: int) -> int:
        """File offset of the optional header field at ``offset`` (e.g. 56 = SizeOfImage)."""
        return self.optional + offset

    def directory(self, index: int) -> int:
        """File offset of data directory ``index``'s RVA (its size follows)."""
        return self.optional + 96 + 8 * index

    def section(self, index: int) -> int:
        """File offset of the 1-based section header ``index``."""
        return self.sections + 40 * (index - 1)

    def section_named(self, name: str) -> int:
        for index in range(1, self.section_count + 1):
            at = self.section(index)
            if self.data[at : at + 8].rstrip(b"\0") == name.encode():
                return index
        raise KeyError(name)

    def file_offset(self, rva: int) -> int:
        """Where the byte at ``rva`` is in the file."""
        for index in range(1, self.section_count + 1):
            at = self.section(index)
            vsize, va, raw_size, raw = struct.unpack_from("<IIII", self.data, at + 8)
            if va <= rva < va + max(vsize, raw_size):
                return raw + rva - va
        raise KeyError(hex(rva))
