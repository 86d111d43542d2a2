"""Kernel text and data: where the kernel's raw-code exports and variables are placed.

Both areas are bump-allocated at boot (and for exception-table fixups);
everything placed is named in the symbolizer so traces and faults can say
``jiffies`` or ``__get_user_4`` instead of an address.
"""

from __future__ import annotations

from ..errors import SandboxError
from ..symbolizer import Symbolizer, SymbolRange
from . import address_map as amap
from .memory import GuestMemory


class KernelSpace:
    """Places code in kernel text and variables in kernel data."""

    def __init__(self, memory: GuestMemory, symbolizer: Symbolizer) -> None:
        self._memory = memory
        self._symbolizer = symbolizer
        self._text_cursor = amap.KTEXT_BASE
        self._data_cursor = amap.KDATA_BASE
        self._rodata_cursor = amap.KRODATA_BASE

    def place_code(self, code: bytes, name: str) -> int:
        """Copy ``code`` into kernel text (16-byte aligned) under ``name``; returns its address."""
        address = (self._text_cursor + 15) & ~15
        if address + len(code) > amap.KTEXT_BASE + amap.KTEXT_SIZE:
            raise SandboxError(f"kernel text full: cannot place {name}")
        self._text_cursor = address + len(code)
        self._memory.write_raw(address, code)
        self._symbolizer.add_range(SymbolRange(address, address + max(len(code), 1), "kernel", name, True,
                                               [address], [name], [address + len(code)]))
        return address

    def place_variable(self, size: int, initial: bytes, name: str, read_only: bool = False) -> int:
        """Reserve ``size`` bytes of kernel data (4-byte aligned) holding ``initial``; returns the address.

        ``read_only`` places it page-aligned in the read-only area instead,
        where a guest write faults (the kernel maps such pages read-only).
        """
        if read_only:
            address = amap.page_align_up(self._rodata_cursor)
            if address + size > amap.KRODATA_BASE + amap.KRODATA_SIZE:
                raise SandboxError(f"kernel read-only data full: cannot place {name} ({size} bytes)")
            self._rodata_cursor = address + size
        else:
            address = (self._data_cursor + 3) & ~3
            if address + size > amap.KDATA_BASE + amap.KDATA_SIZE:
                raise SandboxError(f"kernel data full: cannot place {name} ({size} bytes)")
            self._data_cursor = address + size
        self._memory.write_raw(address, initial)
        self._symbolizer.add_range(SymbolRange(address, address + max(size, 1), "kernel", name, False,
                                               [address], [name], [address + size]))
        return address

    def save(self) -> tuple[int, int, int]:
        """The cursors, for :meth:`restore`."""
        return self._text_cursor, self._data_cursor, self._rodata_cursor

    def restore(self, state: tuple[int, int, int]) -> None:
        """Put the cursors back."""
        self._text_cursor, self._data_cursor, self._rodata_cursor = state
