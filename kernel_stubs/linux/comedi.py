"""comedi's driver registry (drivers/comedi/drivers.c, comedi_pci.c, ...), Linux 6.1 i386.

A comedi board driver registers a ``struct comedi_driver`` with comedi
core and, for a PCI/USB/PCMCIA board, its bus driver too; the bus driver's
probe would auto-attach the comedi device. No such boards here, so only
the registrations are recorded. comedi.ko and comedi_pci.ko/comedi_usb.ko/
comedi_pcmcia.ko export these themselves: the services stand in for them.

``struct comedi_driver`` (6.1 i386): next 0, driver_name 4, module 8,
attach 12, detach 16, auto_attach 20, num_names 24, board_name 28, offset 32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import drivers
from .registrations import Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

DRIVER_NAME, ATTACH, DETACH, AUTO_ATTACH, NUM_NAMES = 4, 12, 16, 20, 24


class ComediDrivers(Registry):
    """Registered ``struct comedi_driver``s."""


@service("int comedi_driver_register(struct comedi_driver *driver)", provided_by="comedi")
def comedi_driver_register(k: Kernel, driver: int) -> int:
    """Put a comedi driver on comedi core's list (never fails in Linux)."""
    mem = k.memory
    k.subsystem(ComediDrivers).add(
        k, "comedi driver", driver, guest_string(k, mem.read_u32(driver + DRIVER_NAME)),
        attach=mem.read_u32(driver + ATTACH), detach=mem.read_u32(driver + DETACH),
        auto_attach=mem.read_u32(driver + AUTO_ATTACH), num_names=mem.read_u32(driver + NUM_NAMES))
    return 0


@service("void comedi_driver_unregister(struct comedi_driver *driver)", provided_by="comedi")
def comedi_driver_unregister(k: Kernel, driver: int) -> None:
    """Take a comedi driver off the list (no devices are attached to detach)."""
    k.subsystem(ComediDrivers).remove(k, driver, "comedi driver")


def _with_bus(k: Kernel, comedi_driver: int, bus: str, bus_driver: int) -> int:
    """comedi_<bus>_driver_register(): the comedi driver, then the bus driver, undone on failure."""
    result = comedi_driver_register(k, comedi_driver)
    if result < 0:
        return result
    result = drivers._register(k, bus, bus_driver)
    if result < 0:
        comedi_driver_unregister(k, comedi_driver)
    return result


def _without_bus(k: Kernel, comedi_driver: int, bus_driver: int) -> None:
    drivers._unregister(k, bus_driver)
    comedi_driver_unregister(k, comedi_driver)


@service("int comedi_pci_driver_register(struct comedi_driver *comedi_driver, struct pci_driver *pci_driver)",
         provided_by="comedi_pci")
def comedi_pci_driver_register(k: Kernel, comedi_driver: int, pci_driver: int) -> int:
    """Register a PCI comedi driver and its pci_driver."""
    return _with_bus(k, comedi_driver, "pci", pci_driver)


@service("void comedi_pci_driver_unregister(struct comedi_driver *comedi_driver, struct pci_driver *pci_driver)",
         provided_by="comedi_pci")
def comedi_pci_driver_unregister(k: Kernel, comedi_driver: int, pci_driver: int) -> None:
    """Undo comedi_pci_driver_register (bus driver first, as Linux)."""
    _without_bus(k, comedi_driver, pci_driver)


@service("int comedi_usb_driver_register(struct comedi_driver *comedi_driver, struct usb_driver *usb_driver)",
         provided_by="comedi_usb")
def comedi_usb_driver_register(k: Kernel, comedi_driver: int, usb_driver: int) -> int:
    """Register a USB comedi driver and its usb_driver."""
    return _with_bus(k, comedi_driver, "usb", usb_driver)


@service("void comedi_usb_driver_unregister(struct comedi_driver *comedi_driver, struct usb_driver *usb_driver)",
         provided_by="comedi_usb")
def comedi_usb_driver_unregister(k: Kernel, comedi_driver: int, usb_driver: int) -> None:
    """Undo comedi_usb_driver_register."""
    _without_bus(k, comedi_driver, usb_driver)


@service("int comedi_pcmcia_driver_register(struct comedi_driver *comedi_driver, struct pcmcia_driver *pcmcia_driver)",
         provided_by="comedi_pcmcia")
def comedi_pcmcia_driver_register(k: Kernel, comedi_driver: int, pcmcia_driver: int) -> int:
    """Register a PCMCIA comedi driver and its pcmcia_driver."""
    return _with_bus(k, comedi_driver, "pcmcia", pcmcia_driver)


@service("void comedi_pcmcia_driver_unregister(struct comedi_driver *comedi_driver, struct pcmcia_driver *pcmcia_driver)",
         provided_by="comedi_pcmcia")
def comedi_pcmcia_driver_unregister(k: Kernel, comedi_driver: int, pcmcia_driver: int) -> None:
    """Undo comedi_pcmcia_driver_register."""
    _without_bus(k, comedi_driver, pcmcia_driver)
