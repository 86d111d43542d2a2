"""A compiled PCI driver on a function with an MSI capability: vectors, saved state, MWI, BAR helpers.

``drivers/linux/msidemo.c`` asks ``pci_alloc_irq_vectors(pdev, 1, 4, MSI |
LEGACY)``, requests a handler on every vector and rings the model's
doorbell once per vector. The model signals each vector by the MSI message
the core programmed; without an MSI capability the driver gets its INTx line.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.pci_irq import MsiLines
from sandbox import Kernel
from sandbox.devices.pci import (
    CACHE_LINE_SIZE,
    COMMAND,
    COMMAND_INTX_DISABLE,
    COMMAND_INVALIDATE,
    MSI_ADDRESS,
    MSI_DATA,
    MSI_FLAGS,
    Bar,
    DmaError,
    PciFunction,
)


class MsiDemo(PciFunction):
    """Register 0: doorbell (signal the vector written); 4: the driver's acknowledgement."""

    vendor_id, device_id = 0x1234, 0x11E5
    bars = (Bar("mem", 4096),)
    msi_vectors = 4

    def __init__(self, vectors: int = 4) -> None:
        self.msi_vectors = vectors
        super().__init__("msidemo")
        self.acked: list[int] = []

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset == 0:
            self.raise_irq(value if self.msi_enabled else 0)
        elif offset == 4:
            self.acked.append(value)


def _load(built, toolchain: str, vectors: int = 4) -> tuple[Kernel, MsiDemo]:
    k = Kernel("linux")
    card = k.pci.add(MsiDemo(vectors))
    k.load(built[(toolchain, "linux", "msidemo")])
    return k, card


def _counts(k: Kernel) -> list[int]:
    """struct msidemo's count[] (after regs, vectors and irq[4])."""
    demo = k.module("msidemo").address_of("demo")
    return [k.memory.read_u32(demo + 24 + 4 * i) for i in range(4)]


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
def test_four_msi_vectors_each_reach_their_handler(built, toolchain: str) -> None:
    k, card = _load(built, toolchain)
    assert "msidemo: 4 vector(s), first IRQ 32" in k.console
    assert card.msi_enabled and card.command & COMMAND_INTX_DISABLE  # INTx off while MSI is on
    address, data = card.config_read(MSI_ADDRESS, 4), card.config_read(MSI_DATA, 2)
    assert (address, data) == (0xFEE00000, 32)
    assert (card.config_read(MSI_FLAGS, 2) >> 4) & 7 == 2  # Multiple Message Enable: 4 vectors
    assert card.msi_message(3) == (0xFEE00000, 35)
    assert _counts(k) == [1, 1, 1, 1] and card.acked == [0, 1, 2, 3]
    assert k.memory.read(k.module("msidemo").address_of("msi_cap_offset"), 1)[0] == 0x50
    handlers = [e.fields["line"] for e in k.trace.of_kind("irq") if e.name == "handler"]
    assert handlers == [32, 33, 34, 35]


def test_two_vectors_when_the_function_has_two(built) -> None:
    k, card = _load(built, "gcc", vectors=2)
    assert "msidemo: 2 vector(s), first IRQ 32" in k.console
    assert _counts(k)[:2] == [1, 1]
    with pytest.raises(ValueError, match="MSI vector 2 not enabled"):
        card.msi_message(2)


def test_without_msi_the_driver_gets_its_intx_line(built) -> None:
    k, card = _load(built, "gcc", vectors=0)
    assert f"msidemo: 1 vector(s), first IRQ {card.irq}" in k.console
    assert not card.msi_enabled and not card.command & COMMAND_INTX_DISABLE
    assert _counts(k)[0] == 1
    assert k.memory.read(k.module("msidemo").address_of("msi_cap_offset"), 1)[0] == 0


def test_unload_frees_the_vectors_and_gives_intx_back(built) -> None:
    k, card = _load(built, "gcc")
    report = k.unload("msidemo")
    assert report.clean, report.leaks
    assert not card.msi_enabled and not card.command & COMMAND_INTX_DISABLE
    assert k.subsystem(MsiLines).blocks == {}
    assert all(k.irqs.actions(line) == [] for line in range(32, 36))


def test_an_msi_to_a_non_apic_address_is_reported(built) -> None:
    _, card = _load(built, "gcc")
    card.config_write(MSI_ADDRESS, 4, 0x12340000)
    with pytest.raises(DmaError, match="MSI write of 0x20 to 0x12340000, outside the local APIC window"):
        card.raise_irq(0)


def test_msi_state_is_part_of_a_snapshot(built) -> None:
    k, card = _load(built, "gcc")
    snap = k.snapshot()
    k.unload("msidemo")
    assert not card.msi_enabled
    k.restore(snap)
    assert card.msi_enabled and [b.first for b in k.subsystem(MsiLines).blocks.values()] == [32]
    card.raise_irq(1)
    assert _counts(k)[1] == 2


def _u32(k: Kernel, name: str) -> int:
    return k.memory.read_u32(k.module("msidemo").address_of(name))


def test_probe_selects_maps_and_sets_mwi(built) -> None:
    k, card = _load(built, "gcc")
    assert _u32(k, "mem_bars") == 0b1  # BAR 0 is the only memory BAR
    assert _u32(k, "bar0_ioremapped") == card.bar_address(0)
    assert _u32(k, "mwi_result") == 0
    assert card.config_read(CACHE_LINE_SIZE, 1) == 16 and card.command & COMMAND_INVALIDATE
    k.unload("msidemo")
    assert not card.command & COMMAND_INVALIDATE  # remove cleared it


class NoCacheLine(MsiDemo):
    """A function whose cache line size register is read-only zero."""

    def config_write(self, offset: int, width: int, value: int) -> None:
        if offset <= CACHE_LINE_SIZE < offset + width:
            keep = self.config[CACHE_LINE_SIZE]
            super().config_write(offset, width, value)
            self.config[CACHE_LINE_SIZE] = keep
            return
        super().config_write(offset, width, value)


def test_mwi_refused_where_the_cache_line_register_does_not_hold() -> None:
    from drivers.build import LINUX_DRIVERS, build_one

    k = Kernel("linux")
    card = k.pci.add(NoCacheLine())
    k.load(build_one(LINUX_DRIVERS / "msidemo.c", "gcc", "linux"))
    assert _u32(k, "mwi_result") == (-22 & 0xFFFFFFFF)
    assert "pci 0000:00:01.0: cache line size of 64 is not supported" in k.console
    assert not card.command & COMMAND_INVALIDATE


def test_saved_configuration_comes_back_after_a_reset(built) -> None:
    k, card = _load(built, "gcc")
    m = k.module("msidemo")
    assert m.call("msidemo_save") == 0
    before = bytes(card.config[:64])
    card.config_write(0x10, 4, 0)  # a reset: BAR and command cleared, MSI off
    card.config_write(COMMAND, 2, 0)
    card.config_write(MSI_FLAGS, 2, 0)
    assert not card.msi_enabled and card.bar_address(0) == 0
    m.call("msidemo_restore")
    assert bytes(card.config[:64]) == before and card.msi_enabled
    card.raise_irq(2)  # the restored MSI message reaches the driver again
    assert _counts(k)[2] == 2
