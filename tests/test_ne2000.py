"""The NE2000 model (sandbox/devices/ne2000.py) alone, and under the real 8390.ko + ne2k-pci.ko.

Without the corpus, the DP8390 is driven through its ports as a driver
would (PROM by remote DMA, the receive ring, transmit, the interrupt line);
with it, the real Debian drivers probe the RTL8029 on the PCI bus, and
frames cross both ways byte for byte.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.skbuff import Skbs
from sandbox import Kernel
from sandbox.devices.ne2000 import ISR_PRX, ISR_PTX, ISR_RDC, ISR_RST, Ne2000Isa, Ne2000Pci, multicast_bit

from .linux_corpus import KDIR, ko

MAC = bytes.fromhex("525400123456")
PEER = bytes.fromhex("02aabbccdd01")


class Ports:
    """outb/inb on an ISA card at 0x300, as a driver's code would do them."""

    def __init__(self, card: Ne2000Isa) -> None:
        self.card = card

    def out(self, reg: int, value: int, width: int = 1) -> None:
        self.card.port_write(0x300 + reg, width, value)

    def inp(self, reg: int, width: int = 1) -> int:
        return self.card.port_read(0x300 + reg, width)


def _started_isa() -> tuple[Kernel, Ne2000Isa, Ports]:
    k = Kernel("linux")
    card = k.devices.add(Ne2000Isa(mac=MAC))
    p = Ports(card)
    p.inp(0x1F)  # reset
    assert p.inp(0x07) & ISR_RST
    p.out(0x00, 0x21)          # page 0, no DMA, stop
    p.out(0x0E, 0x49)          # word-wide DMA
    p.out(0x01, 0x46)          # PSTART
    p.out(0x02, 0x80)          # PSTOP
    p.out(0x03, 0x7F)          # BNRY
    p.out(0x07, 0xFF)
    p.out(0x00, 0x61)          # page 1
    for i, byte in enumerate(MAC):
        p.out(0x01 + i, byte)
    p.out(0x07, 0x46)          # CURR
    p.out(0x00, 0x22)          # page 0, start
    p.out(0x0C, 0x04)          # accept broadcast
    p.out(0x0D, 0x00)          # normal transmit
    return k, card, p


def test_the_prom_reads_back_the_station_address_by_remote_dma() -> None:
    _, _card, p = _started_isa()
    p.out(0x0A, 12)
    p.out(0x0B, 0)
    p.out(0x08, 0)
    p.out(0x09, 0)
    p.out(0x00, 0x0A)  # remote read, start
    words = [p.inp(0x10, 2) for _ in range(6)]
    assert bytes(w & 0xFF for w in words) == MAC  # each PROM byte doubled, as word-wide cards give it
    assert p.inp(0x07) & ISR_RDC


def test_a_received_frame_lands_in_the_ring_behind_its_header() -> None:
    _, card, p = _started_isa()
    frame = b"\xff" * 6 + PEER + b"\x08\x06" + bytes(range(50))
    assert card.receive(frame)
    assert p.inp(0x07) & ISR_PRX
    ring = card.memory[0x4600:0x4600 + 4 + len(frame)]
    assert bytes(ring[:4]) == bytes([0x21, 0x47, len(frame) + 4, 0])  # RSR PRX|PHY, next page, count
    assert bytes(ring[4:]) == frame
    p.out(0x00, 0x62)
    assert p.inp(0x07) == 0x47  # CURR moved one page


def test_the_address_filter_and_ring_overflow() -> None:
    _, card, p = _started_isa()
    assert not card.receive(bytes.fromhex("020000000077") + PEER + b"\x08\x00" + bytes(50))  # not our address
    assert card.lost[-1][0] == "filtered"
    assert card.receive(MAC + PEER + b"\x08\x00" + bytes(50))
    group = bytes.fromhex("01005e000001")
    assert not card.receive(group + PEER + b"\x08\x00" + bytes(50))
    p.out(0x0C, 0x0C)  # accept multicast too: only the groups whose hash bit is set
    p.out(0x00, 0x62)
    p.out(0x08 + multicast_bit(group) // 8, 1 << multicast_bit(group) % 8)
    p.out(0x00, 0x22)
    assert card.receive(group + PEER + b"\x08\x00" + bytes(50))
    for _ in range(100):
        card.receive(MAC + PEER + b"\x08\x00" + bytes(1500))
    assert card.lost[-1][0] == "overflow" and p.inp(0x07) & 0x10  # ISR.OVW: the host never moved BNRY


def test_transmit_puts_tbcr_bytes_from_tpsr_on_the_wire_and_raises_the_irq() -> None:
    k, card, p = _started_isa()
    seen: list[int] = []
    k.add_irq_hook(9, lambda: seen.append(card.isr))
    frame = b"\xff" * 6 + MAC + b"\x08\x06" + bytes(46)
    p.out(0x0F, ISR_PTX)               # IMR: transmit done
    p.out(0x0A, len(frame))
    p.out(0x0B, 0)
    p.out(0x08, 0)
    p.out(0x09, 0x40)
    p.out(0x00, 0x12)                  # remote write, start
    for i in range(0, len(frame), 2):
        p.out(0x10, int.from_bytes(frame[i:i + 2], "little"), 2)
    p.out(0x04, 0x40)
    p.out(0x05, len(frame))
    p.out(0x06, 0)
    p.out(0x00, 0x26)                  # transmit
    assert card.wire == [frame] and p.inp(0x04) == 1 and seen == [ISR_PTX | ISR_RDC]


def test_model_state_goes_into_a_snapshot() -> None:
    k, card, _ = _started_isa()
    snap = k.snapshot()
    card.receive(b"\xff" * 6 + PEER + b"\x08\x06" + bytes(50))
    assert card.curr == 0x47
    k.restore(snap)
    assert card.curr == 0x46 and bytes(card.memory[0x4600:0x4604]) == bytes(4)


# -- the real drivers --------------------------------------------------------------------------

needs_corpus = pytest.mark.skipif(KDIR is None, reason="Linux 6.1 686 modules not fetched (tools/fetch-linux-modules)")


def _ne2k() -> tuple[Kernel, Ne2000Pci]:
    k = Kernel("linux")
    card = k.pci.add(Ne2000Pci(mac=MAC))
    k.load(ko("drivers/net/ethernet/8390/8390.ko"))
    k.load(ko("drivers/net/ethernet/8390/ne2k-pci.ko"))
    return k, card


@needs_corpus
def test_ne2k_pci_probes_the_rtl8029_and_reads_its_prom() -> None:
    k, card = _ne2k()
    assert f"ne2k-pci 0000:00:01.0 eth0: RealTek RTL-8029(AS) found at {card.bar_address(0):#x}, IRQ {card.irq}, " \
           "52:54:00:12:34:56." in k.console
    eth = k.net["eth0"]
    assert eth.mac == MAC and not eth.is_up


@needs_corpus
def test_frames_cross_the_real_driver_byte_for_byte_both_ways() -> None:
    k, card = _ne2k()
    eth = k.net["eth0"]
    eth.up()
    assert bytes(card.par) == MAC and card.started and card.imr == 0x3F
    arp = b"\xff" * 6 + MAC + b"\x08\x06" + bytes(range(28))
    assert eth.send(arp) == 0
    assert card.wire == [arp + bytes(60 - len(arp))]  # ei_start_xmit pads to ETH_ZLEN with zeros
    ip = MAC + PEER + b"\x08\x00" + bytes(range(256)) * 5
    assert card.receive(ip)
    assert eth.received[-1].data == ip and eth.received[-1].via == "netif_rx"
    assert eth.received[-1].protocol == 0x0800 and eth.received[-1].pkt_type == "host"
    stats = eth.stats()
    assert (stats["tx_packets"], stats["tx_bytes"], stats["rx_packets"], stats["rx_bytes"]) == (1, 60, 1, len(ip))
    assert k.subsystem(Skbs).live == {}


@needs_corpus
def test_many_frames_wrap_the_ring_and_all_arrive_in_order() -> None:
    k, card = _ne2k()
    eth = k.net["eth0"]
    eth.up()
    frames = [MAC + PEER + b"\x08\x00" + bytes([i]) * (60 + 36 * i) for i in range(40)]
    for frame in frames:
        assert card.receive(frame)
    assert eth.receive() == frames
    sent = [b"\xff" * 6 + MAC + b"\x88\xb5" + bytes([i]) * 200 for i in range(20)]
    for frame in sent:
        assert eth.send(frame) == 0
    assert card.wire == sent


@needs_corpus
def test_promiscuous_mode_and_multicast_reach_the_chip() -> None:
    k, card = _ne2k()
    eth = k.net["eth0"]
    eth.up()
    stranger = bytes.fromhex("020000000077") + PEER + b"\x08\x00" + bytes(50)
    assert not card.receive(stranger)
    eth.set_promiscuous()
    assert card.rcr & 0x10  # RCR.PRO, written by the driver's ndo_set_rx_mode
    assert card.receive(stranger) and eth.received[-1].pkt_type == "otherhost"


@needs_corpus
def test_down_and_unload_leave_nothing_behind() -> None:
    k, card = _ne2k()
    eth = k.net["eth0"]
    eth.up()
    eth.send(b"\xff" * 6 + MAC + b"\x08\x06" + bytes(46))
    eth.down()
    assert not eth.is_up and k.irqs.actions(card.irq) == []
    report = k.unload("ne2k_pci")
    assert report.clean, report.leaks
    assert list(k.net) == []
    assert k.unload("8390").clean


def _ne(params: dict[str, object]) -> tuple[Kernel, Ne2000Isa]:
    k = Kernel("linux")
    card = k.devices.add(Ne2000Isa(port=0x300, irq=9, mac=MAC))
    k.load(ko("drivers/net/ethernet/8390/8390p.ko"))
    k.load(ko("drivers/net/ethernet/8390/ne.ko"), params=params)
    return k, card


@needs_corpus
def test_ne_finds_the_isa_card_at_its_io_parameter_and_passes_frames() -> None:
    k, card = _ne({"io": [0x300], "irq": [9]})
    assert "ne ne.0 eth0: NE2000 found at 0x300, using IRQ 9." in k.console
    eth = k.net["eth0"]
    eth.up()
    frame = b"\xff" * 6 + MAC + b"\x08\x06" + bytes(range(46))
    assert eth.send(frame) == 0 and card.wire == [frame]
    reply = MAC + PEER + b"\x08\x00" + bytes(range(200))
    assert card.receive(reply) and eth.receive() == [reply]
    assert k.unload("ne").clean


@needs_corpus
def test_ne_autoprobes_the_irq_by_making_the_card_interrupt() -> None:
    k, _ = _ne({"io": [0x300]})  # no irq=: probe_irq_on, the card's RDC interrupt, probe_irq_off
    assert "ne ne.0 eth0: NE2000 found at 0x300, using IRQ 9." in k.console


@needs_corpus
def test_ne_without_io_finds_no_card() -> None:
    k = Kernel("linux")
    k.load(ko("drivers/net/ethernet/8390/8390p.ko"))
    with pytest.raises(Exception, match=r"-19|ENODEV|No such device"):
        k.load(ko("drivers/net/ethernet/8390/ne.ko"))
    assert 'ne.c: You must supply "io=0xNNN" value(s) for ISA cards.' in k.console
