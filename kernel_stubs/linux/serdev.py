"""The serial device bus (drivers/tty/serdev/core.c), Linux 6.1 i386: serdev drivers register on it.

serdev puts a device behind a UART (a Bluetooth chip, the Surface
aggregator) on the ``serial`` bus; its devices come from serdev
controllers that ACPI or the device tree describe below a serial port,
and this PC describes none. ``__serdev_device_driver_register`` does what
6.1 does — the driver goes on the serial bus with its owner, probing
asynchronously (PROBE_PREFER_ASYNCHRONOUS, so I/O may run in probe) — and
the driver shows under /sys/bus/serial/drivers until its module's
``serdev_device_driver_unregister`` (an inline ``driver_unregister``).
The bus matches a device to a driver by ``of_match_table`` or
``acpi_match_table``: with neither firmware description, nothing matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from ..memory import allocate
from . import driver_core
from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

PROBE_PREFER_ASYNCHRONOUS = 1  # enum probe_type
GPL_ONLY = frozenset({"__serdev_device_driver_register"})  # EXPORT_SYMBOL_GPL in serdev/core.c
SDRV_DRIVER = offset("serdev_device_driver", "driver")


class SerdevBus:
    """The kernel's serdev_bus_type ("serial"), registered at boot by serdev_init (here on first use)."""

    def __init__(self) -> None:
        self.bus = 0


def _no_match(k: Kernel, dev: int, drv: int) -> int:
    """serdev_device_match: of_driver_match_device or acpi_driver_match_device; no firmware nodes here."""
    return 0


def serdev_bus(k: Kernel) -> int:
    """The struct bus_type of the serial device bus."""
    state = k.subsystem(SerdevBus)
    if not state.bus:
        bus = allocate(k, size("bus_type"), owner="kernel")
        name = allocate(k, 8, owner="kernel")
        k.memory.write(name, b"serial\0")
        k.memory.write_u32(bus + offset("bus_type", "name"), name)
        driver_core.register_bus(k, bus, driver_core.NativeBus(match=_no_match), owner="kernel")
        state.bus = bus
    return state.bus


@service("int __serdev_device_driver_register(struct serdev_device_driver *sdrv, struct module *owner)")
def __serdev_device_driver_register(k: Kernel, sdrv: int, owner: int) -> int:
    """Register a serdev driver on the serial bus: 0 or driver_register's error."""
    drv = sdrv + SDRV_DRIVER
    f = Fields(k.memory, "device_driver", drv)
    f["bus"], f["owner"] = serdev_bus(k), owner
    f["probe_type"] = PROBE_PREFER_ASYNCHRONOUS
    return driver_core.register_driver(k, drv)
