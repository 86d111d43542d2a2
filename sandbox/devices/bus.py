"""The kernel's set of attached devices: ``k.devices["com1"]``.

Devices are attached (ports claimed, MMIO windows mapped) when added and
detached when removed. ``default_devices()`` is the PC-like set a Kernel gets
unless told otherwise. The set saves and restores itself for snapshots:
which devices are attached and each model's state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..machine.frozen import Frozen
from .device import Device
from .host import DeviceHost


def default_devices() -> list[Device]:
    """A PC's: a 16550 UART as com1 (0x3F8, IRQ 4), an i8042 keyboard controller (0x60/0x64, IRQ 1),
    an 8254 timer with the speaker gate (0x40-0x43, 0x61), PCI bus 0 (configuration ports 0xCF8-0xCFF,
    a host bridge at 00:00.0), the platform bus (devices described from Python, no registers), and the
    i2c and SPI buses (host adapters and controllers, none until added)."""
    from .i2c import I2cBus
    from .i8042 import I8042
    from .pci import PciBus
    from .pit8254 import Pit8254
    from .platform import PlatformBus
    from .spi import SpiBus
    from .uart16550 import Uart16550

    return [Uart16550("com1", port=0x3F8, irq=4), I8042("kbd", irq=1), Pit8254("pit"), PciBus(), PlatformBus(),
            I2cBus(), SpiBus()]


class DeviceSet(Mapping[str, Device]):
    """Attached devices by name."""

    def __init__(self, host: DeviceHost) -> None:
        self._host = host
        self._devices: dict[str, Device] = {}
        # One thawed copy of the last restored snapshot's states, never handed
        # to a device: what :meth:`_unchanged` compares against.
        self._reference: dict[int, dict[str, dict[str, Any]]] = {}
        self._reference_keep: Frozen | None = None

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

    def save(self) -> tuple[dict[str, Device], Frozen]:
        """Each attached device, and a frozen deep copy of every device's state (the host
        they see and the devices they refer to are shared, not copied)."""
        shared = self._shared()
        return dict(self._devices), Frozen({name: dict(vars(d)) for name, d in self._devices.items()}, shared)

    def restore(self, saved: tuple[dict[str, Device], Frozen]) -> None:
        """Back to the saved set: devices attached since are forgotten, those removed since come back,
        and every model's state is put back into the same object (hooks and users hold it).

        Run after the port and MMIO buses are restored: they hold the claims,
        so this only sets which devices the set (and each device) knows.
        """
        devices, frozen = saved
        if self._unchanged(devices, frozen):
            return
        for name in [n for n in self._devices if n not in devices]:
            self._devices.pop(name).host = None
        states = frozen.thaw([self._host, *devices.values()])
        for name, device in devices.items():
            vars(device).update(states[name])
            device.host = self._host
            self._devices[name] = device

    def _unchanged(self, devices: dict[str, Device], frozen: Frozen) -> bool:
        """Whether the set and every model's state equal the saved ones (then a restore has nothing to do).

        A fuzz case that never touches a device is the common case, and a
        comparison (in C, ``==`` on each model's attributes against one
        thawed reference copy) costs a fraction of thawing. Attributes that
        compare by identity (objects without ``__eq__`` that were copied)
        never match, so such a model is always thawed: the check can only
        skip a restore whose result would be equal.
        """
        if self._devices != devices:
            return False
        reference = self._reference.get(id(frozen))
        if reference is None:
            reference = frozen.thaw([self._host, *devices.values()])
            self._reference = {id(frozen): reference}  # one snapshot at a time: the fuzzer's
            self._reference_keep = frozen  # keeps id(frozen) from being reused
        return all(vars(device) == reference[name] for name, device in devices.items())

    def _shared(self) -> list[Any]:
        # Devices refer to the host and to each other (a bus to its functions):
        # those references are kept, only each device's own state is copied.
        return [self._host, *self._devices.values()]

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
