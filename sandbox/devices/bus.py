"""The kernel's set of attached devices: ``k.devices["com1"]``.

Devices are attached (ports claimed, MMIO windows mapped) when added and
detached when removed. ``default_devices()`` is the PC-like set a Kernel gets
unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .device import Device

if TYPE_CHECKING:
    from ..kernel import Kernel


def default_devices() -> list[Device]:
    """A 16550 UART as com1 (0x3F8, IRQ 4) and an i8042 keyboard controller (0x60/0x64, IRQ 1)."""
    from .i8042 import I8042
    from .uart16550 import Uart16550

    return [Uart16550("com1", port=0x3F8, irq=4), I8042("kbd", irq=1)]


class DeviceSet(Mapping[str, Device]):
    """Attached devices by name."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._devices: dict[str, Device] = {}

    def add(self, device: Device) -> Device:
        """Attach ``device``; names are unique."""
        if device.name in self._devices:
            raise ValueError(f"a device named {device.name!r} is already attached")
        device.attach(self._kernel)
        self._devices[device.name] = device
        return device

    def remove(self, name: str) -> Device:
        """Detach and forget the device called ``name``."""
        device = self._devices.pop(name)
        device.detach()
        return device

    def __getitem__(self, name: str) -> Device:
        try:
            return self._devices[name]
        except KeyError:
            known = ", ".join(sorted(self._devices)) or "none"
            raise KeyError(f"no device {name!r} (attached: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._devices)

    def __len__(self) -> int:
        return len(self._devices)
