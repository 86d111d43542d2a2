"""Bus driver registration (pci, usb, i2c, spi, platform, hid, ...), Linux 6.1 names.

Most real modules' init does one thing: register a driver with its bus. The
sandbox has no devices on those buses, so, as on a machine without such
hardware, registration succeeds and no probe is called. The registration is
recorded (bus, driver struct, owning module) so tests can find the driver's
callbacks, and one still registered at unload is reported as a leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

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


def _registrar(prototype: str, bus: str, driver_arg: int, provided_by: str | None = None) -> Callable[..., int]:
    """A registration service: argument ``driver_arg`` is the driver struct."""

    def register(k: Kernel, *args: int) -> int:
        return _register(k, bus, args[driver_arg])

    register.__doc__ = f"{bus} driver registration: no {bus} devices here, so no probe."
    return service(prototype, provided_by=provided_by)(register)


def _unregistrar(prototype: str, provided_by: str | None = None) -> Callable[..., None]:
    """The matching unregister service: its only argument is the driver struct."""

    def unregister(k: Kernel, drv: int) -> None:
        _unregister(k, drv)

    unregister.__doc__ = "Undo the registration."
    return service(prototype, provided_by=provided_by)(unregister)


# One row per bus: the C prototypes Linux 6.1 exports, and where the driver is.
# usbcore.ko and hid.ko export their bus's calls themselves: these stand in
# for them until the real module is loaded.
# PCI drivers bind to the emulated bus's functions: pci.py.
usb_register_driver = _registrar(
    "int usb_register_driver(struct usb_driver *drv, struct module *owner, const char *mod_name)", "usb", 0, "usbcore")
usb_deregister = _unregistrar("void usb_deregister(struct usb_driver *drv)", "usbcore")
# I2C drivers bind to the host's and modules' adapters' clients: i2c.py.
# SPI drivers bind to the host's controllers' devices through the driver core: spi.py.
# Platform drivers bind to real (emulated) devices: platform_bus.py.
__hid_register_driver = _registrar(
    "int __hid_register_driver(struct hid_driver *drv, struct module *owner, const char *mod_name)", "hid", 0, "hid")
hid_unregister_driver = _unregistrar("void hid_unregister_driver(struct hid_driver *drv)", "hid")


def unregister_embedded(k: Kernel, drv: int) -> None:
    """driver_unregister of a driver registered here (spi_unregister_driver and others inline to it).

    Bus drivers embed ``struct device_driver``; it is not always at offset 0
    of the registered struct, so the nearest registration at or below is taken.
    """
    drivers = k.subsystem(BusDrivers).registered
    below = [a for a in drivers if a <= drv]
    _unregister(k, max(below) if below else drv)


# pcmcia.ko exports its bus's calls; pnp is built into Debian's kernel (serio: serio.py).
pcmcia_register_driver = _registrar("int pcmcia_register_driver(struct pcmcia_driver *driver)", "pcmcia", 0, "pcmcia")
pcmcia_unregister_driver = _unregistrar("void pcmcia_unregister_driver(struct pcmcia_driver *driver)", "pcmcia")
pnp_register_driver = _registrar("int pnp_register_driver(struct pnp_driver *drv)", "pnp", 0)
pnp_unregister_driver = _unregistrar("void pnp_unregister_driver(struct pnp_driver *drv)")

# The emulated PC has no firmware, so no ACPI tables: Linux boots with ACPI
# disabled, and acpi_bus_register_driver() then refuses with -ENODEV.
acpi_disabled = kernel_variable("acpi_disabled", 4, 1)


@service("int acpi_bus_register_driver(struct acpi_driver *driver)")
def acpi_bus_register_driver(k: Kernel, driver: int) -> int:
    """ACPI driver registration: -ENODEV, as on any machine booted without ACPI."""
    return -19  # -ENODEV (drivers/acpi/bus.c: if (acpi_disabled) return -ENODEV)


@service("void acpi_bus_unregister_driver(struct acpi_driver *driver)")
def acpi_bus_unregister_driver(k: Kernel, driver: int) -> None:
    """Nothing was registered (see acpi_bus_register_driver)."""


# -- PHY drivers (libphy.ko): struct phy_driver is 240 bytes on 6.1 i386, its
# name at 84 after struct mdio_driver_common (checked against realtek.ko).
PHY_DRIVER_SIZE = 240


@service("int phy_driver_register(struct phy_driver *new_driver, struct module *owner)", provided_by="libphy")
def phy_driver_register(k: Kernel, new_driver: int, owner: int) -> int:
    """Register one PHY driver on the MDIO bus; no PHYs here, so no probe."""
    return _register(k, "mdio", new_driver)


@service("int phy_drivers_register(struct phy_driver *new_driver, int n, struct module *owner)", provided_by="libphy")
def phy_drivers_register(k: Kernel, new_driver: int, n: int, owner: int) -> int:
    """Register an array of ``n`` PHY drivers; all or nothing, as Linux."""
    drivers = k.memory.array(new_driver, n, PHY_DRIVER_SIZE, "PHY driver array")
    for i, address in enumerate(drivers):
        result = _register(k, "mdio", address)
        if result:
            for earlier in drivers[:i]:
                _unregister(k, earlier)
            return result
    return 0


@service("void phy_driver_unregister(struct phy_driver *drv)", provided_by="libphy")
def phy_driver_unregister(k: Kernel, drv: int) -> None:
    """Unregister one PHY driver."""
    _unregister(k, drv)


@service("void phy_drivers_unregister(struct phy_driver *drv, int n)", provided_by="libphy")
def phy_drivers_unregister(k: Kernel, drv: int, n: int) -> None:
    """Unregister an array of PHY drivers."""
    for address in k.memory.array(drv, n, PHY_DRIVER_SIZE, "PHY driver array"):
        _unregister(k, address)


pnp_register_card_driver = _registrar("int pnp_register_card_driver(struct pnp_card_driver *drv)", "pnp card", 0)
pnp_unregister_card_driver = _unregistrar("void pnp_unregister_card_driver(struct pnp_card_driver *drv)")


# Buses whose core is a module in Debian (the services stand in for it until it is loaded).
__parport_register_driver = _registrar(
    "int __parport_register_driver(struct parport_driver *drv, struct module *owner, const char *mod_name)",
    "parport", 0, "parport")
parport_unregister_driver = _unregistrar("void parport_unregister_driver(struct parport_driver *drv)", "parport")
__gameport_register_driver = _registrar(
    "int __gameport_register_driver(struct gameport_driver *drv, struct module *owner, const char *mod_name)",
    "gameport", 0, "gameport")
gameport_unregister_driver = _unregistrar("void gameport_unregister_driver(struct gameport_driver *drv)", "gameport")
__hda_codec_driver_register = _registrar(
    "int __hda_codec_driver_register(struct hda_codec_driver *drv, const char *name, struct module *owner)",
    "hdaudio", 0, "snd_hda_codec")
hda_codec_driver_unregister = _unregistrar("void hda_codec_driver_unregister(struct hda_codec_driver *drv)",
                                           "snd_hda_codec")
__sdw_register_driver = _registrar("int __sdw_register_driver(struct sdw_driver *drv, struct module *owner)",
                                   "soundwire", 0, "soundwire_bus")
sdw_unregister_driver = _unregistrar("void sdw_unregister_driver(struct sdw_driver *drv)", "soundwire_bus")


@service("int usb_disabled(void)", provided_by="usbcore")
def usb_disabled(k: Kernel) -> int:
    """usbcore's "nousb" parameter: not given, so USB is enabled (0)."""
    return 0


@service("bool drm_firmware_drivers_only(void)", provided_by="drm")
def drm_firmware_drivers_only(k: Kernel) -> int:
    """Whether the kernel was booted with nomodeset: it was not (false)."""
    return 0


# EDAC core (built in): how error reporting works, until a driver picks one (EDAC_OPSTATE_INVAL).
edac_op_state = kernel_variable("edac_op_state", 4, (-1) & 0xFFFFFFFF)
register_virtio_driver = _registrar("int register_virtio_driver(struct virtio_driver *drv)", "virtio", 0, "virtio")
unregister_virtio_driver = _unregistrar("void unregister_virtio_driver(struct virtio_driver *drv)", "virtio")
sdio_register_driver = _registrar("int sdio_register_driver(struct sdio_driver *drv)", "sdio", 0, "mmc_core")
sdio_unregister_driver = _unregistrar("void sdio_unregister_driver(struct sdio_driver *drv)", "mmc_core")
