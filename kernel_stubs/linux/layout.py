"""Struct layouts of Linux 6.1 i386, from the generated table (:mod:`kernel_stubs.linux.layouts`).

``offset("platform_device", "dev.driver_data")`` and ``size("device")``
read the table ``tools/gen-linux-layouts`` writes from the kernel's own
DWARF, so a service's idea of a structure can be checked against the
kernel drivers were built for. ``Fields`` reads and writes named members of
one struct in guest memory.
"""

from __future__ import annotations

from typing import Any

from .layouts import LAYOUTS


def size(struct: str) -> int:
    """sizeof(struct ``struct``) on Linux 6.1 i386; KeyError naming it if the table lacks it."""
    try:
        return LAYOUTS[struct]["size"]
    except KeyError:
        raise KeyError(f"struct {struct} is not in the generated layout table (tools/layouts_from_dwarf.py)") from None


def member(struct: str, path: str) -> tuple[int, int]:
    """(offset, size) of ``path`` ("dev.kobj.name") in ``struct``; bit-fields are refused."""
    try:
        entry = LAYOUTS[struct]["fields"][path]
    except KeyError:
        raise KeyError(f"struct {struct} has no member {path!r} in the generated layout table") from None
    if len(entry) != 2:
        raise KeyError(f"{struct}.{path} is a bit-field; read its storage unit instead")
    return entry[0], entry[1]


def offset(struct: str, path: str) -> int:
    """Offset of member ``path`` in ``struct``."""
    return member(struct, path)[0]


def bit_field(struct: str, path: str) -> tuple[int, int, int, int] | None:
    """(storage offset, storage size, first bit, bit count) if ``path`` is a bit-field, else None."""
    entry = LAYOUTS.get(struct, {}).get("fields", {}).get(path)
    return tuple(entry) if entry is not None and len(entry) == 4 else None  # type: ignore[return-value]


class Fields:
    """Named members of one struct instance in guest memory (little-endian integers and pointers).

    A bit-field member (``pci_dev.msi_enabled``) reads and writes only its
    bits of the storage unit, counted from the least significant bit as
    i386's ABI allocates them.
    """

    def __init__(self, memory: Any, struct: str, address: int) -> None:
        self.memory = memory
        self.struct = struct
        self.address = address

    def __getitem__(self, path: str) -> int:
        bits = bit_field(self.struct, path)
        if bits is not None:
            where, width, first, count = bits
            unit = int.from_bytes(self.memory.read(self.address + where, width), "little")
            return (unit >> first) & ((1 << count) - 1)
        where, width = member(self.struct, path)
        return int.from_bytes(self.memory.read(self.address + where, width), "little")

    def __setitem__(self, path: str, value: int) -> None:
        bits = bit_field(self.struct, path)
        if bits is not None:
            where, width, first, count = bits
            mask = ((1 << count) - 1) << first
            unit = int.from_bytes(self.memory.read(self.address + where, width), "little")
            unit = (unit & ~mask) | ((value << first) & mask)
            self.memory.write(self.address + where, unit.to_bytes(width, "little"))
            return
        where, width = member(self.struct, path)
        self.memory.write(self.address + where, (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))

    def address_of(self, path: str) -> int:
        """The guest address of member ``path``."""
        return self.address + offset(self.struct, path)
