"""Bus driver registration (pci, usb, i2c, spi, platform, hid, ...), Linux 6.1 names.

Most real modules' init does one thing: register a driver with its bus. The
sandbox has no devices on those buses, so, as on a machine without such
hardware, registration succeeds and no probe is called. The registration is
recorded (bus, driver struct, owning module) so tests can find the driver's
callbacks, and one still registered at unload is reported as a leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


@dataclass(frozen=True, slots=True)
class DriverRegistration:
    """A driver struct a module handed to a bus."""

    bus: str
    driver: int
    owner: str


class BusDrivers:
    """Registered bus drivers, keyed by driver struct address."""

    def __init__(self) -> None:
        self.registered: dict[int, DriverRegistration] = {}

    def clone(self) -> BusDrivers:
        """A copy for snapshots."""
        twin = BusDrivers()
        twin.registered = dict(self.registered)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers the module left registered."""
        leaks = []
        for address, reg in list(self.registered.items()):
            if reg.owner == module.name:
                leaks.append(f"{reg.bus} driver {k.symbolizer.short(address)} still registered")
                del self.registered[address]
        return leaks


def _register(k: Kernel, bus: str, driver: int) -> int:
    if not driver:
        return -22  # -EINVAL
    drivers = k.subsystem(BusDrivers)
    if driver in drivers.registered:
        return -16  # -EBUSY: registered twice
    module = k.caller_module()
    drivers.registered[driver] = DriverRegistration(bus, driver, module.name if module else "kernel")
    return 0


def _unregister(k: Kernel, driver: int) -> None:
    if k.subsystem(BusDrivers).registered.pop(driver, None) is None:
        k.trace.add("note", "unregister", caller=k.current_caller,
                    fields={"warning": f"driver {driver:#x} was not registered"})


@service("int __pci_register_driver(struct pci_driver *drv, struct module *owner, const char *mod_name)")
def __pci_register_driver(k: Kernel, drv: int, owner: int, mod_name: int) -> int:
    """pci_register_driver(): no PCI devices here, so no probe."""
    return _register(k, "pci", drv)


@service("void pci_unregister_driver(struct pci_driver *drv)")
def pci_unregister_driver(k: Kernel, drv: int) -> None:
    """Undo pci_register_driver."""
    _unregister(k, drv)


@service("int usb_register_driver(struct usb_driver *drv, struct module *owner, const char *mod_name)")
def usb_register_driver(k: Kernel, drv: int, owner: int, mod_name: int) -> int:
    """usb_register(): no USB devices here."""
    return _register(k, "usb", drv)


@service("void usb_deregister(struct usb_driver *drv)")
def usb_deregister(k: Kernel, drv: int) -> None:
    """Undo usb_register."""
    _unregister(k, drv)


@service("int i2c_register_driver(struct module *owner, struct i2c_driver *drv)")
def i2c_register_driver(k: Kernel, owner: int, drv: int) -> int:
    """i2c_add_driver(): no I2C adapters here."""
    return _register(k, "i2c", drv)


@service("void i2c_del_driver(struct i2c_driver *drv)")
def i2c_del_driver(k: Kernel, drv: int) -> None:
    """Undo i2c_add_driver."""
    _unregister(k, drv)


@service("int __spi_register_driver(struct module *owner, struct spi_driver *drv)")
def __spi_register_driver(k: Kernel, owner: int, drv: int) -> int:
    """spi_register_driver(): no SPI controllers here."""
    return _register(k, "spi", drv)


@service("int __platform_driver_register(struct platform_driver *drv, struct module *owner)")
def __platform_driver_register(k: Kernel, drv: int, owner: int) -> int:
    """platform_driver_register(): no platform devices here."""
    return _register(k, "platform", drv)


@service("void platform_driver_unregister(struct platform_driver *drv)")
def platform_driver_unregister(k: Kernel, drv: int) -> None:
    """Undo platform_driver_register."""
    _unregister(k, drv)


@service("int __hid_register_driver(struct hid_driver *drv, struct module *owner, const char *mod_name)")
def __hid_register_driver(k: Kernel, drv: int, owner: int, mod_name: int) -> int:
    """hid_register_driver(): no HID devices here."""
    return _register(k, "hid", drv)


@service("void hid_unregister_driver(struct hid_driver *drv)")
def hid_unregister_driver(k: Kernel, drv: int) -> None:
    """Undo hid_register_driver."""
    _unregister(k, drv)


@service("void driver_unregister(struct device_driver *drv)")
def driver_unregister(k: Kernel, drv: int) -> None:
    """The generic unregister (spi_unregister_driver and others inline to it).

    Bus drivers embed ``struct device_driver``; it is not always at offset 0
    of the registered struct, so the nearest registration at or below is taken.
    """
    drivers = k.subsystem(BusDrivers).registered
    below = [a for a in drivers if a <= drv]
    _unregister(k, max(below) if below else drv)
