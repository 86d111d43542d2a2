"""The ISA bus (drivers/base/isa.c), Linux 6.1 i386.

ISA cannot be enumerated, so ``isa_register_driver(drv, ndev)`` makes
``ndev`` candidate devices ("<driver name>.<id>") and asks the driver's own
``match(dev, id)`` about each — which typically checks module parameters
and probes I/O ports, where this PC has nothing. A device whose match
declines is dropped; one that matches is kept and ``probe(dev, id)`` runs
(a failing probe leaves it registered but unbound, as Linux). No device at
all: the driver is unregistered and -ENODEV returned.

``struct isa_driver``: match 0, probe 4, remove 8, shutdown 12, suspend 16,
resume 20, ``struct device_driver driver`` 24 (name first), devices 100.
The candidate ``struct device`` is zeroed kernel memory with the fields
drivers touch: kobj.name 0 (``dev_name``), parent 36, platform_data 60
(the isa_driver, as Linux sets it), driver_data 64 (``dev_get_drvdata``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import ENODEV, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

MATCH, PROBE, REMOVE, DRIVER_NAME = 0, 4, 8, 24
DEVICE_SIZE = 1024  # more than struct device needs on 6.1 i386
DEV_NAME, DEV_PLATFORM_DATA = 0, 60


@dataclass(slots=True)
class IsaDevice:
    """A device kept for a driver: its struct, id, name block and whether probe bound it."""

    device: int
    id: int
    name_block: int
    bound: bool


@dataclass(slots=True)
class IsaDriver:
    """A registered isa_driver and its devices."""

    address: int
    name: str
    owner: str
    devices: list[IsaDevice] = field(default_factory=list)


class IsaBus:
    """Registered ISA drivers."""

    def __init__(self) -> None:
        self.drivers: dict[int, IsaDriver] = {}

    def clone(self) -> IsaBus:
        """A copy for snapshots."""
        twin = IsaBus()
        twin.drivers = {a: IsaDriver(d.address, d.name, d.owner, list(d.devices)) for a, d in self.drivers.items()}
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers the module left registered (their devices are freed)."""
        leaks = []
        for address, driver in list(self.drivers.items()):
            if driver.owner == module.name:
                leaks.append(f"isa driver {driver.name!r} still registered with {len(driver.devices)} devices")
                _free_devices(k, driver)
                del self.drivers[address]
        return leaks


def _new_device(k: Kernel, drv: int, name: str, ident: int) -> tuple[int, int]:
    device = k.memory.alloc(DEVICE_SIZE)
    label = f"{name}.{ident}".encode() + b"\0"
    block = k.memory.alloc(len(label))
    k.memory.write(block, label)
    k.memory.write_u32(device + DEV_NAME, block)
    k.memory.write_u32(device + DEV_PLATFORM_DATA, drv)
    return device, block


def _free_devices(k: Kernel, driver: IsaDriver) -> None:
    for dev in driver.devices:
        k.memory.free(dev.device)
        k.memory.free(dev.name_block)
    driver.devices.clear()


@service("int isa_register_driver(struct isa_driver *isa_driver, unsigned int ndev)")
def isa_register_driver(k: Kernel, drv: int, ndev: int) -> int:
    """Register the driver and try ``ndev`` devices through its match and probe."""
    mem = k.memory
    name = guest_string(k, mem.read_u32(drv + DRIVER_NAME), 64)
    module = k.caller_module()
    driver = IsaDriver(drv, name, module.name if module else "kernel")
    bus = k.subsystem(IsaBus)
    if drv in bus.drivers:
        return -16  # -EBUSY
    bus.drivers[drv] = driver
    match, probe = mem.read_u32(drv + MATCH), mem.read_u32(drv + PROBE)
    for ident in range(ndev):
        device, block = _new_device(k, drv, name, ident)
        if match and not k.call(match, device, ident):
            k.memory.free(device)
            k.memory.free(block)
            continue
        bound = True
        if probe:
            bound = k.call(probe, device, ident) == 0
        driver.devices.append(IsaDevice(device, ident, block, bound))
    if not driver.devices:
        del bus.drivers[drv]
        return -ENODEV
    return 0


@service("void isa_unregister_driver(struct isa_driver *isa_driver)")
def isa_unregister_driver(k: Kernel, drv: int) -> None:
    """Unregister: remove(dev, id) for each bound device, then free them."""
    driver = k.subsystem(IsaBus).drivers.pop(drv, None)
    if driver is None:
        k.trace.add("note", "unregister", caller=k.current_caller, fields={"warning": f"isa driver {drv:#x} was not registered"})
        return
    remove = k.memory.read_u32(drv + REMOVE)
    for dev in driver.devices:
        if dev.bound and remove:
            k.call(remove, dev.device, dev.id)
    _free_devices(k, driver)
