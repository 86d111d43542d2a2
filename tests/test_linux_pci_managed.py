"""Managed PCI, devres I/O and a module's own devres as Linux 6.1: a compiled driver that releases nothing by hand.

``drivers/linux/pcimdemo.c`` takes the function with pcim_enable_device,
pcim_iomap_regions, devm_ioremap_resource, __devm_request_region,
devm_ioport_map, MSI vectors, a managed IRQ handler, dmam_alloc_attrs and
devm_kmalloc, and has no remove: unbinding (or a failed probe) must give
every one of them back, newest first.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.devres import table as devres_table
from kernel_stubs.linux.pci import Dma, PciCore
from kernel_stubs.linux.pci_irq import MsiLines
from kernel_stubs.linux.pci_managed import ManagedPciDevices
from kernel_stubs.linux.platform import Resources
from sandbox import Kernel
from sandbox.devices.pci import COMMAND, Bar, PciFunction


class Card(PciFunction):
    """I/O BAR 0, memory BARs 1 and 2, two MSI vectors; remembers the last write to BAR 1."""

    vendor_id, device_id = 0x1234, 0x5678
    bars = (Bar("io", 32), Bar("mem", 4096), Bar("mem", 4096))
    msi_vectors = 2

    def __init__(self) -> None:
        super().__init__("pcimcard")
        self.written: list[int] = []

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if bar == 1:
            self.written.append(value)


def _u32(k: Kernel, name: str) -> int:
    return k.memory.read_u32(k.module("pcimdemo").address_of(name))


def _regions(k: Kernel) -> list[str]:
    return sorted(r.name for r in k.subsystem(Resources).regions if r.owner == "pcimdemo")


@pytest.fixture(params=["gcc", "clang"])
def loaded(request, built) -> tuple[Kernel, Card]:
    k = Kernel("linux")
    card = k.pci.add(Card())
    k.load(built[(request.param, "linux", "pcimdemo")])
    return k, card


def test_probe_takes_everything_managed(loaded) -> None:
    k, card = loaded
    assert _u32(k, "io_cookie") == 0x10000 + card.bar_address(0)  # a port cookie for the I/O BAR
    assert _u32(k, "mem_cookie") == card.bar_address(1) and card.written == [0x600D]
    assert _u32(k, "second_map_error") == (-16 & 0xFFFFFFFF)  # BAR 1 is requested already: -EBUSY
    assert _u32(k, "bar2_mapped") == card.bar_address(2)
    assert "can't request region for resource [mem" in k.console
    assert _regions(k) == ["0000:00:01.0", "pcimdemo", "pcimdemo", "pcimdemo-extra"]
    assert _u32(k, "vectors") == 2 and card.msi_enabled
    card.raise_irq(0)
    assert _u32(k, "irq_seen") == 32
    pdev = next(r.pdev for r in k.subsystem(PciCore).devices.values() if r.function is card)
    kinds = [e.kind for e in devres_table(k).of(pdev + 136)]
    assert kinds == ["pcim", "pcim-iomap-table", "region", "ioremap", "region", "ioport_map", "pcim-msi", "irq",
                     "dma-coherent", "kmalloc", "devres", "devres"]
    assert _u32(k, "found_second") == 1 and _u32(k, "early_release") == 0
    assert _u32(k, "nreleased") == 1 and _u32(k, "released") == 2  # devres_release ran tag 2's release now


def test_unbinding_gives_everything_back(loaded) -> None:
    k, card = loaded
    report = k.unload("pcimdemo")
    assert report.clean, report.leaks
    assert not [r for r in k.subsystem(Resources).regions if r.name.startswith(("pcimdemo", "0000:00:01.0"))]
    assert not card.msi_enabled and k.subsystem(MsiLines).blocks == {}
    assert k.irqs.actions(32) == []
    assert k.subsystem(Dma).ranges == []
    assert k.subsystem(ManagedPciDevices).devices == {} and k.subsystem(ManagedPciDevices).tables == {}
    assert not card.command & 0x4  # pcim_release disabled the device: bus mastering off
    assert devres_table(k).entries == {}


def test_own_devres_blocks_are_released_newest_first(built) -> None:
    k = Kernel("linux")
    card = k.pci.add(Card())
    m = k.load(built[("gcc", "linux", "pcimdemo")])
    k.pci.remove(card)  # hot-unplug: the driver unbinds, its devres go
    order = [k.memory.read_u32(m.address_of("released") + 4 * i) for i in range(3)]
    assert order == [2, 3, 1]  # tag 2 early, then 3 and 1 newest first
    assert k.unload(m).clean


def test_restart_handler_claims_the_restart_and_is_a_leak_if_left(built) -> None:
    from kernel_stubs.linux.restart import kernel_restart

    k = Kernel("linux")
    m = k.load(built[("gcc", "linux", "pcimdemo")])
    assert kernel_restart(k, b"now") and _u32(k, "restarts") == 1
    k.memory.write_u32(m.address_of("keep_restart_handler"), 1)
    report = k.unload(m)
    assert report.leaks == ["restart handler pcimdemo:restart_nb still registered"]
    assert not kernel_restart(k)


def test_a_failed_probe_releases_what_it_took(built) -> None:
    k = Kernel("linux")
    m = k.load(built[("gcc", "linux", "pcimdemo")])
    k.memory.write_u32(m.address_of("fail_probe"), 1)
    card = k.pci.add(Card())  # hotplug: probe runs now, takes everything, returns -EIO
    assert "pcimdemo: probe of 0000:00:01.0 failed with error -5" in k.console
    assert not [r for r in k.subsystem(Resources).regions if r.owner == "pcimdemo"]
    assert not card.msi_enabled and k.subsystem(Dma).ranges == [] and devres_table(k).entries == {}
    assert card.config_read(COMMAND, 2) & 0x4 == 0
    assert k.unload(m).clean
