"""serdev drivers on the serial device bus: the real Surface System Aggregator Module core.

surface_aggregator's init registers its serial hub driver with
``serdev_device_driver_register``; it waits on the serial bus for a
controller ACPI would describe (none on this PC), and its dependents load.
"""

from __future__ import annotations

from kernel_stubs.linux.layout import Fields
from kernel_stubs.linux.serdev import PROBE_PREFER_ASYNCHRONOUS, SDRV_DRIVER
from sandbox import Kernel
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus


def test_surface_serial_hub_driver_waits_on_the_serial_bus() -> None:
    k = Kernel("linux", unresolved="trap")
    (sam,) = k.modprobe("surface_aggregator", KDIR)
    assert k.sysfs.ls("/sys/bus/serial/drivers") == ["surface_serial_hub"]
    sdrv = next(e.args[0] for e in k.trace if e.kind == "service" and e.name == "__serdev_device_driver_register")
    drv = Fields(k.memory, "device_driver", sdrv + SDRV_DRIVER)
    assert drv["probe_type"] == PROBE_PREFER_ASYNCHRONOUS
    assert k.module_at(drv["owner"]) is sam
    assert k.unload(sam).leaks == []
    assert k.sysfs.ls("/sys/bus/serial/drivers") == []


def test_surface_keyboard_loads_on_its_aggregator_chain() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("surface_kbd", KDIR)
    assert [m.name for m in modules][-3:] == ["surface_aggregator", "surface_hid_core", "surface_kbd"]
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
