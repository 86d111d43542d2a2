"""The real UIO core (uio.ko, its cdev from cdev_alloc) under a real UIO driver (uio_cif.ko).

uio's init takes a dynamic major for 256 minors and adds a cdev it got from
``cdev_alloc``; uio_cif binds a Hilscher CIF card (PLX 9030 bridge), whose
device appears as /sys/class/uio/uio0 with its maps, and /dev/uio0 reads
the interrupt count once the card interrupts — the handler acknowledges by
clearing INT1's enable bit in the PLX INTCSR register, as uio_cif does.
"""

from __future__ import annotations

from kernel_stubs.linux.chrdev import CDEV_LIST
from sandbox import Kernel
from sandbox.devices.pci import Bar, PciFunction
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus

INTCSR = 0x4C
INT1_ENABLE, INT1_STATUS = 0x01, 0x04


class CifCard(PciFunction):
    """A CIF Profibus card: BAR0 the PLX 9030's registers, BAR2 the dual-port memory."""

    vendor_id, device_id = 0x10B5, 0x9030
    subsystem_vendor_id, subsystem_id = 0x1518, 0x430
    bars = (Bar("mem", 128), None, Bar("mem", 8192))

    def __init__(self) -> None:
        super().__init__("cif")
        self.intcsr = INT1_ENABLE

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        return self.intcsr if (bar, offset) == (0, INTCSR) else 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if (bar, offset) == (0, INTCSR):
            self.intcsr = value


def test_uio_core_allocates_its_cdev_and_frees_it_at_exit() -> None:
    k = Kernel("linux", unresolved="trap")
    (uio,) = k.modprobe("uio", KDIR)
    calls = [(e.name, e.result) for e in k.trace if e.kind == "service"]
    assert ("cdev_add", 0) in calls
    cdev = next(result for name, result in calls if name == "cdev_alloc")
    assert k.memory.read_u32(cdev + CDEV_LIST) == cdev + CDEV_LIST  # INIT_LIST_HEAD(&p->list)
    assert k.unload(uio).leaks == []  # cdev_del dropped the cdev's last reference: kfree'd


def test_uio_cif_device_counts_interrupts_through_dev_uio0() -> None:
    k = Kernel("linux", unresolved="trap")
    card = k.pci.add(CifCard())
    modules = k.modprobe("uio_cif", KDIR)
    assert k.sysfs.ls("/sys/class/uio") == ["uio0"]
    assert k.sysfs.read("/sys/class/uio/uio0/name") == "CIF_Profibus\n"
    assert k.sysfs.read("/sys/class/uio/uio0/version") == "0.0.1\n"
    assert k.sysfs.read("/sys/class/uio/uio0/maps/map0/size") == "0x00000080\n"
    assert k.sysfs.read("/sys/class/uio/uio0/maps/map1/size") == "0x00002000\n"
    f = k.open("/dev/uio0")
    card.intcsr = INT1_ENABLE | INT1_STATUS
    card.raise_irq()
    assert f.read(4) == (1).to_bytes(4, "little")  # one interrupt since open
    assert card.intcsr == INT1_STATUS  # cif_handler masked INT1
    f.close()
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
