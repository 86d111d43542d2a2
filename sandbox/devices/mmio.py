"""MMIO windows: loads and stores in a device's address range reach Python.

Each window is a Unicorn ``mmio_map`` region, so only accesses inside a
window call back into Python; ordinary guest code and memory run hook-free.
Windows live in the MMIO area of the address map, page aligned, and never
overlap each other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from unicorn import Uc

from ..machine import address_map as amap


class MmioDevice(Protocol):
    """What a device offers the MMIO bus."""

    name: str

    def mmio_read(self, offset: int, width: int) -> int: ...

    def mmio_write(self, offset: int, width: int, value: int) -> None: ...


# (direction "read"/"write", address, offset, width in bytes, value, device)
MmioTracer = Callable[[str, int, int, int, int, MmioDevice], None]


@dataclass(slots=True)
class MmioWindow:
    """One mapped window."""

    base: int
    size: int
    device: MmioDevice


def _loose_devices(windows: list[MmioWindow]) -> list[object]:
    """Window devices no device set holds (mapped with ``k.mmio.map`` alone), each once."""
    found: dict[int, object] = {}
    for window in windows:
        device = window.device
        if getattr(device, "host", None) is None and hasattr(device, "__dict__"):
            found.setdefault(id(device), device)
    return list(found.values())


class MmioBus:
    """Maps device windows into the guest address space."""

    def __init__(self, uc: Uc, tracer: MmioTracer) -> None:
        self._uc = uc
        self._trace = tracer
        self.windows: list[MmioWindow] = []

    def map(self, base: int, size: int, device: MmioDevice) -> MmioWindow:
        """Give [base, base+size) to ``device``; base and size must be page multiples."""
        if base % amap.PAGE_SIZE or size % amap.PAGE_SIZE or size <= 0:
            raise ValueError(f"MMIO window {base:#x}+{size:#x} must be page aligned and a page multiple")
        end = base + size
        if not (base >= amap.MMIO_BASE and end <= amap.MMIO_BASE + amap.MMIO_SIZE):
            raise ValueError(
                f"MMIO window {base:#x}-{end - 1:#x} is outside the MMIO area "
                f"{amap.MMIO_BASE:#x}-{amap.MMIO_BASE + amap.MMIO_SIZE - 1:#x}"
            )
        for other in self.windows:
            if base < other.base + other.size and other.base < end:
                raise ValueError(f"MMIO window {base:#x}-{end - 1:#x} overlaps {other.device.name} at {other.base:#x}")
        trace = self._trace

        # Unicorn hands the offset from the window base, which is exactly what
        # a device's register map is written against.
        def on_read(uc: Uc, offset: int, width: int, data: object) -> int:
            value = device.mmio_read(offset, width) & ((1 << (8 * width)) - 1)
            trace("read", base + offset, offset, width, value, device)
            return value

        def on_write(uc: Uc, offset: int, width: int, value: int, data: object) -> None:
            trace("write", base + offset, offset, width, value, device)  # first: what it causes follows
            device.mmio_write(offset, width, value)

        self._uc.mmio_map(base, size, on_read, None, on_write, None)
        window = MmioWindow(base, size, device)
        self.windows.append(window)
        return window

    def unmap(self, base: int) -> None:
        """Remove the window starting at ``base``."""
        for window in self.windows:
            if window.base == base:
                self._uc.mem_unmap(window.base, window.size)
                self.windows.remove(window)
                return
        raise ValueError(f"no MMIO window at {base:#x}")

    def unmap_device(self, device: MmioDevice) -> None:
        """Remove every window of ``device``."""
        for window in [w for w in self.windows if w.device is device]:
            self.unmap(window.base)

    def save(self) -> tuple[list[MmioWindow], list[tuple[object, dict]]]:  # type: ignore[type-arg]
        """The mapped windows, for :meth:`restore`, and the state of the devices mapped
        straight with ``k.mmio.map`` (attached devices are saved by the device set)."""
        loose = _loose_devices(self.windows)
        memo = {id(device): device for device in loose}
        return list(self.windows), [(device, copy.deepcopy(dict(vars(device)), dict(memo))) for device in loose]

    def restore(self, state: tuple[list[MmioWindow], list[tuple[object, dict]]]) -> None:  # type: ignore[type-arg]
        """Map exactly the saved windows again: unmap those added since, re-map those removed;
        put the loose devices' state back into the same objects."""
        saved, loose = state
        memo = {id(device): device for device, _ in loose}
        for device, values in loose:
            vars(device).update(copy.deepcopy(values, dict(memo)))
        keep = {(w.base, w.size, id(w.device)) for w in saved}
        for window in [w for w in self.windows if (w.base, w.size, id(w.device)) not in keep]:
            self.unmap(window.base)
        present = {(w.base, w.size, id(w.device)) for w in self.windows}
        for window in saved:
            if (window.base, window.size, id(window.device)) not in present:
                self.map(window.base, window.size, window.device)

    def window_at(self, address: int) -> MmioWindow | None:
        """The window containing ``address``, or None."""
        for window in self.windows:
            if window.base <= address < window.base + window.size:
                return window
        return None

    def free_base(self, size: int) -> int:
        """The lowest page-aligned base in the MMIO area where ``size`` bytes fit."""
        size = amap.page_align_up(size)
        cursor = amap.MMIO_BASE
        for window in sorted(self.windows, key=lambda w: w.base):
            if cursor + size <= window.base:
                break
            cursor = max(cursor, window.base + window.size)
        if cursor + size > amap.MMIO_BASE + amap.MMIO_SIZE:
            raise ValueError(f"no room for a {size:#x}-byte MMIO window")
        return cursor
