"""The RTL8139 model (sandbox/devices/rtl8139.py) under the real mii.ko + 8139too.ko: a bus-mastering NIC.

The driver reads the station address from the model's serial EEPROM,
allocates its receive ring and transmit buffers with dma_alloc_attrs, and
the card DMAs frames in and out of them; receiving goes through NAPI
(netif_receive_skb from the poll the IRQ handler scheduled).
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.pci import Dma
from kernel_stubs.linux.skbuff import Skbs
from sandbox import Kernel
from sandbox.devices.pci import DmaError
from sandbox.devices.rtl8139 import Rtl8139

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

MAC = bytes.fromhex("525400abcdef")
PEER = bytes.fromhex("02aabbccdd01")


def _kernel() -> tuple[Kernel, Rtl8139]:
    k = Kernel("linux")
    card = k.pci.add(Rtl8139(mac=MAC))
    k.load(ko("drivers/net/mii.ko"))
    k.load(ko("drivers/net/ethernet/realtek/8139too.ko"))
    return k, card


def test_probe_reads_the_address_from_the_eeprom() -> None:
    k, card = _kernel()
    lines = k.console.splitlines()
    assert lines[0] == "8139too: 8139too Fast Ethernet driver 0.9.28"
    assert lines[1].startswith("8139too 0000:00:01.0 eth0: RealTek RTL8139 at ")
    assert lines[1].endswith(f", 52:54:00:ab:cd:ef, IRQ {card.irq}")
    assert k.net["eth0"].mac == MAC
    assert card.bus_master


def test_up_allocates_the_rings_and_mii_reports_the_link() -> None:
    k, _ = _kernel()
    eth = k.net["eth0"]
    eth.up()
    assert "8139too 0000:00:01.0 eth0: link up, 100Mbps, full-duplex, lpa 0x45E1" in k.console
    assert eth.carrier and eth.is_up
    kinds = sorted(r.size for r in k.subsystem(Dma).ranges)
    assert kinds == [4 * 1792, 32768 + 16 + 2048]  # TX_BUF_TOT_LEN; RX_BUF_TOT_LEN (32 KiB ring, pad, wrap room)


def test_frames_cross_by_dma_byte_for_byte_both_ways() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    out = [b"\xff" * 6 + MAC + b"\x08\x06" + bytes(range(28)), PEER + MAC + b"\x08\x00" + bytes(range(256)) * 5]
    for frame in out:
        assert eth.send(frame) == 0
    assert card.wire == [out[0] + bytes(18), out[1]]  # the driver pads short frames to ETH_ZLEN
    inbound = MAC + PEER + b"\x08\x00" + bytes(range(200))
    assert card.receive(inbound)
    assert eth.received == [eth.received[0]] and eth.received[0].data == inbound
    assert eth.received[0].via == "netif_receive_skb"
    polls = [e for e in k.trace.of_kind("note") if e.name == "napi poll"]
    assert polls and polls[-1].fields["weight"] == 64
    stats = eth.stats()
    assert (stats["tx_packets"], stats["rx_packets"], stats["rx_bytes"]) == (2, 1, len(inbound))
    assert k.subsystem(Skbs).live == {}


def test_the_receive_ring_wraps_and_every_frame_arrives_in_order() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    frames = [MAC + PEER + b"\x08\x00" + bytes([i]) * (600 + 13 * i) for i in range(60)]  # ~60 KiB through 32 KiB
    for frame in frames:
        assert card.receive(frame)
    assert eth.receive() == frames


def test_the_transmit_ring_of_four_descriptors_cycles() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    sent = [b"\xff" * 6 + MAC + b"\x88\xb5" + bytes([i]) * 100 for i in range(10)]
    for frame in sent:
        assert eth.send(frame) == 0
    assert card.wire == sent and not eth.queue_stopped


def test_broadcast_multicast_and_promiscuous_filtering() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    stranger = bytes.fromhex("020000000077") + PEER + b"\x08\x00" + bytes(50)
    assert card.receive(b"\xff" * 6 + PEER + b"\x08\x06" + bytes(50))
    assert not card.receive(stranger)
    eth.set_promiscuous()
    assert card.receive(stranger)
    assert [f.pkt_type for f in eth.received] == ["broadcast", "otherhost"]


def test_unplugging_the_cable_turns_the_carrier_off() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    card.set_link(False)
    assert not eth.carrier and "eth0: link down" in k.console
    card.set_link(True)
    assert eth.carrier


def test_unload_frees_the_dma_buffers_and_the_card_cannot_dma_any_more() -> None:
    k, card = _kernel()
    eth = k.net["eth0"]
    eth.up()
    ring = card._r32(0x30)
    eth.down()
    assert k.subsystem(Dma).ranges == []
    with pytest.raises(DmaError, match="no driver mapped that range"):
        card.dma_write(ring, b"late frame")
    assert k.unload("8139too").clean
    assert k.unload("mii").clean
