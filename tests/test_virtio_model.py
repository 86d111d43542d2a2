"""The virtio device models on their own: the mmio register layout, negotiation, split rings, DMA checks.

Python plays the driver here, writing descriptors and rings into guest
memory and registers through the kernel's MMIO path, so every ring feature
(chains, indirect tables, event index, interrupt suppression) is pinned
down byte for byte; test_virtio.py drives the same models with the real
Debian modules.
"""

from __future__ import annotations

import struct

import pytest

from sandbox import Kernel
from sandbox.devices.virtio import VirtioDevice, VirtioRng, add_virtio_mmio
from sandbox.devices.virtio import constants as c

NUM = 8


class Driver:
    """Just enough of a virtio driver, in Python, to exercise a model's queue 0."""

    def __init__(self, k: Kernel, model: VirtioDevice, irq: int = 5, features: int | None = None) -> None:
        self.k, self.model = k, model
        self.transport = add_virtio_mmio(k.platform, model, irq=irq)
        self.write(c.MMIO_STATUS, c.STATUS_ACKNOWLEDGE | c.STATUS_DRIVER)
        offered = self.features()
        accept = offered if features is None else features
        self.write(c.MMIO_DRIVER_FEATURES_SEL, 0)
        self.write(c.MMIO_DRIVER_FEATURES, accept & 0xFFFFFFFF)
        self.write(c.MMIO_DRIVER_FEATURES_SEL, 1)
        self.write(c.MMIO_DRIVER_FEATURES, accept >> 32)
        self.write(c.MMIO_STATUS, c.STATUS_ACKNOWLEDGE | c.STATUS_DRIVER | c.STATUS_FEATURES_OK)
        self.features_ok = bool(self.read(c.MMIO_STATUS) & c.STATUS_FEATURES_OK)
        memory = k.memory
        self.ring = memory.alloc(0x3000)
        self.desc = self.ring
        self.avail = self.ring + 16 * NUM
        self.used = self.ring + 0x1000
        self.write(c.MMIO_QUEUE_SEL, 0)
        self.write(c.MMIO_QUEUE_NUM, NUM)
        for low, value in ((c.MMIO_QUEUE_DESC_LOW, self.desc), (c.MMIO_QUEUE_AVAIL_LOW, self.avail),
                           (c.MMIO_QUEUE_USED_LOW, self.used)):
            self.write(low, value)
            self.write(low + 4, 0)
        self.write(c.MMIO_QUEUE_READY, 1)
        self.write(c.MMIO_STATUS, c.STATUS_ACKNOWLEDGE | c.STATUS_DRIVER | c.STATUS_FEATURES_OK | c.STATUS_DRIVER_OK)
        self.avail_idx = 0

    def read(self, register: int) -> int:
        return self.k.mmio_access("read", self.transport.base + register, 4)

    def write(self, register: int, value: int) -> None:
        self.k.mmio_access("write", self.transport.base + register, 4, value)

    def features(self) -> int:
        self.write(c.MMIO_DEVICE_FEATURES_SEL, 1)
        high = self.read(c.MMIO_DEVICE_FEATURES)
        self.write(c.MMIO_DEVICE_FEATURES_SEL, 0)
        return high << 32 | self.read(c.MMIO_DEVICE_FEATURES)

    def descriptor(self, index: int, address: int, length: int, flags: int = 0, nxt: int = 0, table: int = 0) -> None:
        self.k.memory.write((table or self.desc) + 16 * index, struct.pack("<QIHH", address, length, flags, nxt))

    def offer(self, head: int, notify: bool = True) -> None:
        self.k.memory.write(self.avail + 4 + 2 * (self.avail_idx % NUM), struct.pack("<H", head))
        self.avail_idx += 1
        self.k.memory.write(self.avail + 2, struct.pack("<H", self.avail_idx))
        if notify:
            self.write(c.MMIO_QUEUE_NOTIFY, 0)

    def used_entries(self) -> list[tuple[int, int]]:
        idx = struct.unpack("<H", self.k.memory.read(self.used + 2, 2))[0]
        return [struct.unpack("<II", self.k.memory.read(self.used + 4 + 8 * i, 8)) for i in range(idx)]


def test_the_register_window_reads_as_virtio_mmio_version_2() -> None:
    k = Kernel()
    rng = VirtioRng(b"")
    driver = Driver(k, rng)
    assert driver.read(c.MMIO_MAGIC_VALUE) == 0x74726976
    assert (driver.read(c.MMIO_VERSION), driver.read(c.MMIO_DEVICE_ID)) == (2, c.ID_RNG)
    assert driver.features() >> c.F_VERSION_1 & 1 and driver.features() >> c.F_ACCESS_PLATFORM & 1
    assert driver.features_ok and rng.status == 0x0F
    assert driver.read(c.MMIO_QUEUE_NUM_MAX) == 64 and driver.read(c.MMIO_QUEUE_READY) == 1
    assert driver.read(c.MMIO_SHM_LEN_LOW) == 0xFFFFFFFF             # no shared memory region
    spec = next(s for s in k.platform.specs if s.name == "virtio-mmio")
    assert (spec.device_name, spec.resources[0].size) == ("virtio-mmio.0", 0x200)
    driver.write(c.MMIO_STATUS, 0)                                   # reset
    assert rng.status == 0 and not rng.virtqueues[0].ready and rng.driver_features == 0


def test_features_it_does_not_offer_or_a_legacy_driver_are_refused() -> None:
    k = Kernel()
    assert not Driver(k, VirtioRng(name="a"), features=1 << 3 | 1 << c.F_VERSION_1).features_ok  # bit 3 not offered
    assert not Driver(k, VirtioRng(name="b"), irq=6, features=0).features_ok  # no VERSION_1: a legacy driver


def test_a_chain_is_filled_and_returned_with_the_bytes_written() -> None:
    k = Kernel()
    rng = VirtioRng(bytes(range(100)))
    driver = Driver(k, rng)
    buf = k.memory.alloc(64)
    driver.descriptor(0, buf, 40, c.DESC_F_WRITE | c.DESC_F_NEXT, 1)
    driver.descriptor(1, buf + 40, 24, c.DESC_F_WRITE)
    driver.offer(0)
    assert driver.used_entries() == [(0, 64)]
    assert k.memory.read(buf, 64) == bytes(range(64))
    assert driver.read(c.MMIO_INTERRUPT_STATUS) == c.INT_USED_BUFFER
    driver.write(c.MMIO_INTERRUPT_ACK, c.INT_USED_BUFFER)
    assert driver.read(c.MMIO_INTERRUPT_STATUS) == 0
    driver.offer(0)                                                   # only 36 bytes left
    assert driver.used_entries()[1] == (0, 36) and rng.produced == bytes(range(100))
    driver.offer(0)                                                   # none left: the buffer waits
    assert len(driver.used_entries()) == 2 and len(rng.virtqueues[0].held) == 1
    assert rng.feed(b"more") == 1                                     # fed: the held buffer comes back
    assert driver.used_entries()[2] == (0, 4) and k.memory.read(buf, 4) == b"more"


def test_indirect_tables_and_the_event_index() -> None:
    k = Kernel()
    rng = VirtioRng(bytes(200))
    driver = Driver(k, rng)
    assert rng.virtqueues[0].indirect and rng.virtqueues[0].event_idx
    table, buf = k.memory.alloc(32), k.memory.alloc(48)
    driver.descriptor(0, buf, 16, c.DESC_F_WRITE | c.DESC_F_NEXT, 1, table=table)
    driver.descriptor(1, buf + 16, 32, c.DESC_F_WRITE, table=table)
    driver.descriptor(0, table, 32, c.DESC_F_INDIRECT)
    # used_event = 1: "interrupt me once the used index passes 1", not for the first buffer
    k.memory.write(driver.avail + 4 + 2 * NUM, struct.pack("<H", 1))
    driver.offer(0)
    assert driver.used_entries() == [(0, 48)]
    assert driver.read(c.MMIO_INTERRUPT_STATUS) == 0                  # suppressed by the event index
    avail_event = struct.unpack("<H", k.memory.read(driver.used + 4 + 8 * NUM, 2))[0]
    assert avail_event == 1                                           # the device says how far it read
    driver.offer(0)
    assert driver.read(c.MMIO_INTERRUPT_STATUS) == c.INT_USED_BUFFER  # used index 2 passed event 1


def test_a_broken_ring_or_a_stray_dma_needs_a_reset() -> None:
    k = Kernel()
    rng = VirtioRng(bytes(64))
    driver = Driver(k, rng)
    driver.descriptor(0, 0x1000, 16, c.DESC_F_WRITE | c.DESC_F_NEXT, 0)  # loops onto itself
    driver.offer(0)
    assert rng.status & c.STATUS_DEVICE_NEEDS_RESET and "loops" in rng.errors[0]
    assert driver.read(c.MMIO_INTERRUPT_STATUS) & c.INT_CONFIG_CHANGE
    driver.write(c.MMIO_STATUS, 0)
    assert rng.status == 0
    rng2 = VirtioRng(bytes(64), name="rng2")
    driver2 = Driver(k, rng2, irq=6)
    driver2.transport.dma_check = lambda bus, n: "not mapped by the driver"  # what the profile's DMA layer says
    buf = k.memory.alloc(16)
    driver2.descriptor(0, buf, 16, c.DESC_F_WRITE)
    driver2.offer(0)
    assert rng2.errors and "not mapped by the driver" in rng2.errors[0]
    assert driver2.used_entries() == []


def test_config_space_generation_and_change_interrupt() -> None:
    class Thing(VirtioDevice):
        name, device_id, queues = "thing", 0x99, (("q", 4),)

    k = Kernel()
    thing = Thing(config=b"\x01\x02\x03\x04")
    driver = Driver(k, thing)
    assert k.mmio_access("read", driver.transport.base + c.MMIO_CONFIG + 1, 2) == 0x0302
    generation = driver.read(c.MMIO_CONFIG_GENERATION)
    thing.update_config(0, b"\xAA")
    assert driver.read(c.MMIO_CONFIG_GENERATION) == generation + 1
    assert driver.read(c.MMIO_INTERRUPT_STATUS) == c.INT_CONFIG_CHANGE
    assert k.mmio_access("read", driver.transport.base + c.MMIO_CONFIG, 1) == 0xAA


def test_model_state_is_saved_and_restored_with_the_kernel() -> None:
    k = Kernel()
    rng = VirtioRng(bytes(range(256)))
    driver = Driver(k, rng)
    buf = k.memory.alloc(16)
    driver.descriptor(0, buf, 16, c.DESC_F_WRITE)
    driver.offer(0)
    snap = k.snapshot()
    driver.offer(0)
    driver.offer(0)
    assert rng.virtqueues[0].used_idx == 3 and len(rng.pool) == 256 - 48
    k.restore(snap)
    assert rng.virtqueues[0].used_idx == 1 and len(rng.pool) == 256 - 16   # the same object, back in time
    assert k.devices["virtio-rng"] is rng and rng.transport is k.devices["virtio-mmio.0"]
    driver.avail_idx = 1
    driver.offer(0)
    assert k.memory.read(buf, 16) == bytes(range(16, 32))              # the bytes after the snapshot's, again


@pytest.mark.parametrize("base", [0xF8000800])
def test_a_window_off_a_page_boundary_is_refused(base: int) -> None:
    from sandbox.devices.virtio import VirtioMmio

    with pytest.raises(ValueError, match="page boundary"):
        VirtioMmio(VirtioRng(), base=base)


def test_the_pci_transport_describes_itself_with_vendor_capabilities() -> None:
    from sandbox.devices.pci import COMMAND, COMMAND_MASTER, COMMAND_MEMORY
    from sandbox.devices.virtio import VirtioPci
    from sandbox.devices.virtio import pci as vp

    k = Kernel()
    rng = VirtioRng(bytes(range(64)))
    function = k.pci.add(VirtioPci(rng))
    assert (function.config_read(0, 2), function.config_read(2, 2)) == (0x1AF4, 0x1044)
    assert function.config_read(0x06, 2) & 0x10                       # a capability list
    caps, position = [], function.config_read(vp.CAP_POINTER, 1)
    while position:
        assert function.config_read(position, 1) == vp.CAP_ID_VENDOR
        caps.append((function.config_read(position + 3, 1), function.config_read(position + 8, 4)))
        position = function.config_read(position + 1, 1)
    assert caps == [(1, 0x0000), (2, 0x3000), (3, 0x1000), (4, 0x2000)]
    function.config_write(COMMAND, 2, COMMAND_MEMORY | COMMAND_MASTER)
    bar = function.bar_address(0)
    rd = lambda off, w=4: k.mmio_access("read", bar + off, w)  # noqa: E731
    wr = lambda off, v, w=4: k.mmio_access("write", bar + off, w, v)  # noqa: E731
    wr(vp.STATUS, 3, 1)
    wr(vp.GFSELECT, 1)
    wr(vp.GF, 1)                                                      # VERSION_1
    wr(vp.STATUS, 11, 1)
    assert rd(vp.STATUS, 1) == 11 and rd(vp.NUM_QUEUES, 2) == 1
    ring, buf = k.memory.alloc(0x3000), k.memory.alloc(32)
    wr(vp.Q_SELECT, 0, 2)
    wr(vp.Q_SIZE, NUM, 2)
    for field, value in ((vp.Q_DESC, ring), (vp.Q_AVAIL, ring + 16 * NUM), (vp.Q_USED, ring + 0x1000)):
        wr(field, value)
    wr(vp.Q_ENABLE, 1, 2)
    wr(vp.STATUS, 15, 1)
    k.memory.write(ring, struct.pack("<QIHH", buf, 32, c.DESC_F_WRITE, 0))
    k.memory.write(ring + 16 * NUM, struct.pack("<HHH", 0, 1, 0))
    wr(vp.NOTIFY_OFFSET + vp.NOTIFY_MULTIPLIER * rd(vp.Q_NOTIFY_OFF, 2), 0, 2)
    assert k.memory.read(buf, 32) == bytes(range(32))
    assert rd(vp.ISR_OFFSET, 1) == 1 and rd(vp.ISR_OFFSET, 1) == 0   # reading the ISR clears it


def test_a_hostile_ring_cannot_make_the_device_spin_or_allocate_without_bound() -> None:
    k = Kernel()
    rng = VirtioRng(lambda n: bytes(n))
    driver = Driver(k, rng)
    table = k.memory.alloc(16 * 64)
    for i in range(64):                                               # an indirect chain of 64 > queue size 8
        driver.descriptor(i, 0x1000, 16, c.DESC_F_WRITE | c.DESC_F_NEXT, i + 1, table=table)
    driver.descriptor(0, table, 16 * 64, c.DESC_F_INDIRECT)
    driver.offer(0)
    assert "longer than the queue size" in rng.errors[0]
    driver.write(c.MMIO_STATUS, 0)
    rng2 = VirtioRng(lambda n: bytes(n), name="rng2")
    driver2 = Driver(k, rng2, irq=6)
    buf = k.memory.alloc(16)
    driver2.descriptor(0, buf, 0xFFFFFFFF, c.DESC_F_WRITE)           # "4 GiB" of buffer
    driver2.offer(0)
    assert rng2.produced_total == rng2.max_fill                      # what one buffer gets, at most
    assert driver2.used_entries() == [(0, rng2.max_fill)]            # the driver learns how much it got
