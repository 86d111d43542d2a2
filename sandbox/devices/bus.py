"""The kernel's set of attached devices: ``k.devices["com1"]``.

Devices are attached (ports claimed, MMIO windows mapped) when added and
detached when removed. ``default_devices()`` is the PC-like set a Kernel gets
unless told otherwise. The set saves and restores itself for snapshots:
which devices are attached and each model's state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from .device import Device
from .host import DeviceHost


def default_devices() -> list[Device]:
    """A PC's: a 16550 UART as com1 (0x3F8, IRQ 4), an i8042 keyboard controller (0x60/0x64, IRQ 1)
    PCI bus 0 (configuration ports 0xCF8-0xCFF, a host bridge at 00:00.0), and the platform bus
    (devices described from Python, no registers)."""
    from .i8042 import I8042
    from .pci import PciBus
    from .platform import PlatformBus
    from .uart16550 import Uart16550

    return [Uart16550("com1", port=0x3F8, irq=4), I8042("kbd", irq=1), PciBus(), PlatformBus()]


class DeviceSet(Mapping[str, Device]):
    """Attached devices by name."""

    def __init__(self, host: DeviceHost) -> None:
        self._host = host
        self._devices: dict[str, Device] = {}

    def add(self, device: Device) -> Device:
        """Attach ``device``; names are unique."""
        if device.name in self._devices:
            raise ValueError(f"a device named {device.name!r} is already attached")
        device.attach(self._host)
        self._devices[device.name] = device
        return device

    def remove(self, name: str) -> Device:
        """Detach and forget the device called ``name``."""
        device = self._devices.pop(name)
        device.detach()
        return device

    def save(self) -> dict[str, tuple[Device, dict[str, Any]]]:
        """Each attached device with a deep copy of its state (the host it sees is shared, not copied)."""
        memo = self._memo()
        return {name: (device, copy.deepcopy(dict(vars(device)), dict(memo))) for name, device in self._devices.items()}

    def restore(self, saved: dict[str, tuple[Device, dict[str, Any]]]) -> None:
        """Back to the saved set: devices attached since are forgotten, those removed since come back,
        and every model's state is put back into the same object (hooks and users hold it).

        Run after the port and MMIO buses are restored: they hold the claims,
        so this only sets which devices the set (and each device) knows.
        """
        for name in [n for n in self._devices if n not in saved]:
            self._devices.pop(name).host = None
        memo = self._memo()
        memo.update({id(device): device for device, _ in saved.values()})
        for name, (device, state) in saved.items():
            vars(device).update(copy.deepcopy(state, dict(memo)))
            device.host = self._host
            self._devices[name] = device

    def _memo(self) -> dict[int, Any]:
        # Devices refer to the host and to each other (a bus to its functions):
        # those references are kept, only each device's own state is copied.
        memo: dict[int, Any] = {id(self._host): self._host}
        memo.update({id(device): device for device in self._devices.values()})
        return memo

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
