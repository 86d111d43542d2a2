"""The port I/O bus: `in`/`out` instructions reach Python devices.

Devices claim port ranges. A port nobody claims reads as all ones (as on a
PC's ISA bus) and writes to it go nowhere; both are still traced, because an
access to a port no device answers is usually exactly what the user wants to
see.
"""

from __future__ import annotations

import bisect
from typing import Protocol


class PortDevice(Protocol):
    """What a device offers the port bus."""

    name: str

    def port_read(self, port: int, width: int) -> int: ...

    def port_write(self, port: int, width: int, value: int) -> None: ...


class PortBus:
    """Maps port ranges to devices."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._entries: list[tuple[int, int, PortDevice]] = []
        # port -> device for every claimed port: the hot path is one dict
        # lookup (claims are a few ports each; 64 Ki ports at most).
        self.lookup: dict[int, PortDevice] = {}

    def claim(self, first: int, count: int, device: PortDevice) -> None:
        """Give ports [first, first+count) to ``device``; overlaps are refused."""
        end = first + count
        for start, stop, other in self._entries:
            if first < stop and start < end:
                raise ValueError(f"ports {first:#x}-{end - 1:#x} overlap {other.name} at {start:#x}-{stop - 1:#x}")
        i = bisect.bisect_left(self._starts, first)
        self._starts.insert(i, first)
        self._entries.insert(i, (first, end, device))
        for port in range(first, end):
            self.lookup[port] = device

    def release(self, device: PortDevice) -> None:
        """Remove every range ``device`` claimed."""
        self._entries = [e for e in self._entries if e[2] is not device]
        self._starts = [e[0] for e in self._entries]
        for port in [p for p, d in self.lookup.items() if d is device]:
            del self.lookup[port]  # in place: the kernel's port hooks hold this dict

    def save(self) -> list[tuple[int, int, PortDevice]]:
        """The claims, for :meth:`restore`."""
        return list(self._entries)

    def restore(self, saved: list[tuple[int, int, PortDevice]]) -> None:
        """Go back to exactly the saved claims; the lookup dict is rebuilt in place (the port hooks hold it)."""
        if self._entries == saved:
            return  # no claim came or went (the lookup is kept in step with the entries)
        self._entries = list(saved)
        self._starts = [e[0] for e in self._entries]
        self.lookup.clear()
        for first, end, device in self._entries:
            for port in range(first, end):
                self.lookup[port] = device

    def device_at(self, port: int) -> PortDevice | None:
        """The device claiming ``port``, or None."""
        return self.lookup.get(port)

    def read(self, port: int, width: int) -> tuple[int, PortDevice | None]:
        """Read ``width`` bytes from ``port``; unclaimed ports float high."""
        device = self.device_at(port)
        if device is None:
            return (1 << (8 * width)) - 1, None
        return device.port_read(port, width) & ((1 << (8 * width)) - 1), device

    def write(self, port: int, width: int, value: int) -> PortDevice | None:
        """Write to ``port``; returns the device that took it, if any."""
        device = self.device_at(port)
        if device is not None:
            device.port_write(port, width, value)
        return device
