"""The USB serial core's driver registration (drivers/usb/serial/usb-serial.c), Linux 6.1.

``usb_serial_register_drivers`` makes one USB interface driver named after
the module and registers each ``struct usb_serial_driver`` of a NULL-ended
array with it, printing what usbcore and usbserial print. No USB devices
here, so nothing probes. usbserial.ko exports these: the services stand in
for it until it is loaded.

``struct usb_serial_driver`` (6.1 i386): description 0, id_table 4,
driver_list 8, then ``struct device_driver driver`` at 16 (its name first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .printk import log
from .registrations import EINVAL, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

DESCRIPTION, ID_TABLE, DRIVER_NAME = 0, 4, 16
MAX_DRIVERS = 64  # a guard against an array missing its NULL end


class UsbSerial(Registry):
    """The interface driver made for each array ("usb driver") and each serial driver."""


def _drivers(k: Kernel, array: int) -> list[int]:
    found = []
    for i in range(MAX_DRIVERS):
        driver = k.memory.read_u32(array + 4 * i)
        if not driver:
            break
        found.append(driver)
    return found


@service("int usb_serial_register_drivers(struct usb_serial_driver **serial_drivers, const char *name, "
         "const struct usb_device_id *id_table)", provided_by="usbserial")
def usb_serial_register_drivers(k: Kernel, serial_drivers: int, name: int, id_table: int) -> int:
    """Register the interface driver ``name``, then each serial driver of the array."""
    registry = k.subsystem(UsbSerial)
    if serial_drivers in registry.entries:
        return -16  # -EBUSY: usb_register of a driver name already registered
    drivers = _drivers(k, serial_drivers)
    text = guest_string(k, name)
    registry.add(k, "usb driver", serial_drivers, text, id_table=id_table, count=len(drivers))
    log(k, b"\x016usbcore: registered new interface driver %s\n" % text.encode())
    for driver in drivers:
        description = k.memory.read_u32(driver + DESCRIPTION)
        if not description:  # usb_serial_register(): the description defaults to the driver name
            description = k.memory.read_u32(driver + DRIVER_NAME)
            k.memory.write_u32(driver + DESCRIPTION, description)
        if not description:
            usb_serial_deregister_drivers(k, serial_drivers)
            return -EINVAL
        desc = guest_string(k, description)
        registry.add(k, "usb-serial driver", driver, desc, id_table=k.memory.read_u32(driver + ID_TABLE))
        log(k, b"\x016usbserial: USB Serial support registered for %s\n" % desc.encode())
    return 0


@service("void usb_serial_deregister_drivers(struct usb_serial_driver **serial_drivers)", provided_by="usbserial")
def usb_serial_deregister_drivers(k: Kernel, serial_drivers: int) -> None:
    """Deregister each serial driver, then the interface driver."""
    registry = k.subsystem(UsbSerial)
    for driver in _drivers(k, serial_drivers):
        entry = registry.entries.pop(driver, None)
        if entry is not None:
            log(k, b"\x016usbserial: USB Serial deregistering driver %s\n" % entry.name.encode())
    entry = registry.remove(k, serial_drivers, "usb driver")
    if entry is not None:
        log(k, b"\x016usbcore: deregistering interface driver %s\n" % entry.name.encode())
