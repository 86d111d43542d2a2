"""Linux's PCI core over the emulated bus, with the real wdt_pci.ko and a PCI-WDT501 card model.

Enumeration makes a struct pci_dev per function (ids, IRQ, BAR resources,
as drivers' inline accessors read them); the driver's id table matches the
card, probe enables it, claims BAR 2, takes the IRQ and registers
/dev/watchdog; Python then drives the watchdog, and the card's interrupt
reaches the driver's handler.
"""

from __future__ import annotations

import struct

import pytest

from sandbox import Kernel
from sandbox.devices.wdt501 import SR_WCCR, Wdt501

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

WDIOC_GETSUPPORT, WDIOC_SETTIMEOUT = 0x80285700, 0xC0045706


def _kernel() -> tuple[Kernel, Wdt501]:
    k = Kernel("linux")
    card = k.pci.add(Wdt501())
    k.load(ko("drivers/watchdog/wdt_pci.ko"))
    return k, card


def test_probe_finds_the_card_by_its_id_table() -> None:
    k, card = _kernel()
    io = card.bar_address(2)
    assert k.console.splitlines() == [
        f"wdt_pci: PCI-WDT500/501 (PCI-WDG-CSM) driver 0.10 at {io:#x} (Interrupt {card.irq})",
        "wdt_pci: initialized. heartbeat=60 sec (nowayout=0)",
    ]
    probes = [e.fields for e in k.trace.of_kind("note") if e.name == "probe"]
    assert probes == [{"driver": "wdt_pci", "device": "0000:00:01.0", "result": 0}]
    assert card.command & 0x1  # pci_enable_device turned I/O decoding on
    from kernel_stubs.linux.platform import Resources

    assert any(r.start == io and r.name == "wdt_pci" for r in k.subsystem(Resources).regions)


def test_dev_watchdog_arms_reloads_and_stops_the_card() -> None:
    k, card = _kernel()
    dog = k.open("/dev/watchdog")
    assert card.armed and card.heartbeat_ticks == 6000 and card.counts[0] == 20833  # 100 Hz from 2.0833 MHz
    info = bytearray(40)
    assert dog.ioctl(WDIOC_GETSUPPORT, info) == 0
    assert info[8:].split(b"\0")[0] == b"PCI-WDT500/501"
    timeout = bytearray(struct.pack("<i", 30))
    assert dog.ioctl(WDIOC_SETTIMEOUT, timeout) == 0 and card.heartbeat_ticks == 3000
    dog.write(b"V")
    dog.close()
    assert not card.enabled and card.counts[2] == 0


def test_the_cards_interrupt_reaches_the_driver() -> None:
    k, card = _kernel()
    card.alarm(SR_WCCR)
    assert "wdt_pci: Reset in 5ms" in k.console
    handlers = [e for e in k.trace.of_kind("irq") if e.name == "handler"]
    assert handlers and handlers[-1].fields["line"] == card.irq and handlers[-1].fields["result_name"] == "IRQ_HANDLED"


def test_unload_removes_the_driver_from_the_card() -> None:
    k, card = _kernel()
    report = k.unload("wdt_pci")
    assert report.clean, report.leaks
    assert k.irqs.actions(card.irq) == []
    from kernel_stubs.linux.pci import PciCore

    assert k.subsystem(PciCore).drivers == {}
    assert all(not d.driver for d in k.subsystem(PciCore).devices.values())


def test_no_card_no_probe() -> None:
    k = Kernel("linux")
    k.load(ko("drivers/watchdog/wdt_pci.ko"))  # a PCI driver's init succeeds without hardware, as on Linux
    assert k.console == "" and [e for e in k.trace.of_kind("note") if e.name == "probe"] == []
    with pytest.raises(Exception, match="no device /dev/watchdog"):
        k.open("/dev/watchdog")


def test_a_card_hot_plugged_after_the_driver_is_probed() -> None:
    k = Kernel("linux")
    k.load(ko("drivers/watchdog/wdt_pci.ko"))
    card = k.pci.add(Wdt501())
    assert "wdt_pci: initialized. heartbeat=60 sec (nowayout=0)" in k.console
    k.pci.remove(card)                       # unplugged: the driver's remove runs first
    assert k.irqs.actions(card.irq) == []
    assert k.unload("wdt_pci").clean
