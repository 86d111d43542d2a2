"""The base class of emulated hardware: a name, an IRQ line, register names.

A device answers port I/O (``port_read``/``port_write``), MMIO
(``mmio_read``/``mmio_write``), or both. It says which port ranges and MMIO
windows it occupies; :meth:`Device.attach` claims them on the host's buses.
A device sees only its :class:`~sandbox.devices.host.DeviceHost` (buses,
interrupt lines, guest memory), never the Kernel.
``registers`` names the registers (offset from ``port_base`` for ports, from
the window base for MMIO) so traces read ``[com1 LSR]`` rather than a bare
port number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .host import DeviceHost

# A register that means different things when read and written (THR/RBR)
# is named by a (read name, write name) pair.
RegisterName = str | tuple[str, str]


class Device:
    """Emulated hardware a driver talks to. Subclass and override the accessors."""

    name: str = "device"
    irq: int | None = None
    port_ranges: tuple[tuple[int, int], ...] = ()  # (first port, count) claimed on attach
    port_base: int = 0  # register offsets in ``registers`` are relative to this port
    mmio_windows: tuple[tuple[int, int], ...] = ()  # (base, size) mapped on attach
    registers: Mapping[int, RegisterName] = {}

    def __init__(self, name: str | None = None, irq: int | None = None) -> None:
        if name is not None:
            self.name = name
        if irq is not None:
            self.irq = irq
        self.host: DeviceHost | None = None

    # -- life on a kernel ------------------------------------------------
    def attach(self, host: DeviceHost) -> None:
        """Claim this device's ports and map its MMIO windows on ``host``."""
        self.host = host
        try:
            for first, count in self.port_ranges:
                host.ports.claim(first, count, self)
            for base, size in self.mmio_windows:
                host.mmio.map(base, size, self)
        except BaseException:
            self.detach()
            raise

    def detach(self) -> None:
        """Give back every port range and MMIO window."""
        host = self.host
        if host is None:
            return
        host.ports.release(self)
        host.mmio.unmap_device(self)
        self.host = None

    # -- interrupts --------------------------------------------------------
    def raise_irq(self) -> list[Any]:
        """Ask the host to deliver this device's IRQ line.

        Delivery is immediate unless the guest is running with interrupts
        disabled; then the line is pending until they are enabled again.
        Returns the handlers' results (empty if pending, detached or no line).
        """
        if self.host is None or self.irq is None:
            return []
        return self.host.raise_irq(self.irq)

    # -- naming --------------------------------------------------------------
    def register_name(self, offset: int, write: bool) -> str | None:
        """Name of the register at ``offset`` for a read or a write, if known."""
        name = self.registers.get(offset)
        if isinstance(name, tuple):
            return name[1] if write else name[0]
        return name

    # -- accessors (defaults: an empty bus slot) ------------------------------
    def port_read(self, port: int, width: int) -> int:
        """Value of an ``in``; a device with no such register floats high."""
        return (1 << (8 * width)) - 1

    def port_write(self, port: int, width: int, value: int) -> None:
        """An ``out`` to one of the device's ports; ignored by default."""

    def mmio_read(self, offset: int, width: int) -> int:
        """A load from the device's MMIO window (``offset`` from its base)."""
        return (1 << (8 * width)) - 1

    def mmio_write(self, offset: int, width: int, value: int) -> None:
        """A store to the device's MMIO window; ignored by default."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} irq={self.irq}>"
