"""The virtio-mmio transport (virtio 1.x, 4.2), version 2: a register window in front of a device model.

``VirtioMmio(model, base=..., irq=...)`` is the device a platform bus
describes (Linux's ``virtio_mmio`` driver binds to "virtio-mmio" platform
devices): magic "virt", version 2, the model's device and vendor ids, 64
feature bits read and written 32 at a time through the select registers,
per-queue setup (QueueSel, QueueNumMax, QueueNum, the three ring addresses
in low/high halves, QueueReady), QueueNotify, InterruptStatus/ACK, Status,
ConfigGeneration, and the model's configuration space from 0x100.
Shared memory regions are absent (SHMLen reads all ones, as the driver
expects for "no such region").

Guest memory is reached by bus address: ``dma_offset`` turns one into the
guest address (the profile sets it: Linux i386 lowmem is bus + PAGE_OFFSET),
and ``dma_check``, set by the profile's DMA layer, says whether the driver
mapped that range. It applies once VIRTIO_F_ACCESS_PLATFORM is negotiated,
as then the driver must hand every buffer through its DMA API; without it
the driver gives physical addresses directly (no IOMMU, as virtio allows).

:func:`add_virtio_mmio` describes one on a platform bus in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import GuestFault
from ..device import Device
from ..pci import DmaError
from . import constants as c
from .carrier import CarriesModel
from .device import VirtioDevice

if TYPE_CHECKING:
    from ..platform import PlatformBus


class VirtioMmio(CarriesModel, Device):
    """A virtio-mmio register window (version 2) for ``model`` at ``base``, interrupting on ``irq``."""

    name = "virtio-mmio"
    version = 2
    registers = c.MMIO_REGISTER_NAMES

    def __init__(self, model: VirtioDevice, *, base: int, irq: int | None = None, name: str | None = None) -> None:
        super().__init__(name, irq)
        if base % 0x1000:
            raise ValueError(f"a virtio-mmio window must start on a page boundary, not {base:#x}")
        self.base = base
        self.mmio_windows = ((base, 0x1000),)
        self.model = model
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.queue_sel = 0
        self.interrupt_status = 0
        self.dma_offset = 0  # guest address = bus address + dma_offset (set by the profile)
        self.dma_check: Callable[[int, int], str | None] | None = None
        self.attached_model = False  # whether attach put the model on the host (detach takes it off)

    # -- registers ------------------------------------------------------------------------------
    def _queue(self):  # type: ignore[no-untyped-def]
        queues = self.model.virtqueues
        return queues[self.queue_sel] if self.queue_sel < len(queues) else None

    def mmio_read(self, offset: int, width: int) -> int:
        model = self.model
        if offset >= c.MMIO_CONFIG:
            return model.config_read(offset - c.MMIO_CONFIG, width)
        queue = self._queue()
        if offset == c.MMIO_MAGIC_VALUE:
            return c.MMIO_MAGIC
        if offset == c.MMIO_VERSION:
            return self.version
        if offset == c.MMIO_DEVICE_ID:
            return model.device_id
        if offset == c.MMIO_VENDOR_ID:
            return model.vendor_id
        if offset == c.MMIO_DEVICE_FEATURES:
            return model.features >> (32 * self.device_features_sel) & 0xFFFFFFFF if self.device_features_sel < 2 else 0
        if offset == c.MMIO_QUEUE_NUM_MAX:
            return queue.num_max if queue is not None else 0
        if offset == c.MMIO_QUEUE_READY:
            return int(queue.ready) if queue is not None else 0
        if offset == c.MMIO_INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == c.MMIO_STATUS:
            return model.status
        if offset == c.MMIO_CONFIG_GENERATION:
            return model.config_generation
        if c.MMIO_SHM_LEN_LOW <= offset <= c.MMIO_SHM_BASE_HIGH:
            return 0xFFFFFFFF  # no shared memory regions
        return 0

    def mmio_write(self, offset: int, width: int, value: int) -> None:
        model = self.model
        if offset >= c.MMIO_CONFIG:
            model.config_write(offset - c.MMIO_CONFIG, width, value)
            return
        queue = self._queue()
        if offset == c.MMIO_DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == c.MMIO_DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == c.MMIO_DRIVER_FEATURES:
            if self.driver_features_sel < 2:
                shift = 32 * self.driver_features_sel
                model.write_driver_features(model.driver_features & ~(0xFFFFFFFF << shift) | value << shift)
        elif offset == c.MMIO_QUEUE_SEL:
            self.queue_sel = value
        elif offset == c.MMIO_QUEUE_NOTIFY:
            model.notify(value & 0xFFFF)
        elif offset == c.MMIO_INTERRUPT_ACK:
            self.interrupt_status &= ~value
        elif offset == c.MMIO_STATUS:
            model.set_status(value)
            if value == 0:
                self.interrupt_status = 0
                self.queue_sel = self.device_features_sel = self.driver_features_sel = 0
        elif queue is not None:
            self._queue_write(queue, offset, value)

    @staticmethod
    def _queue_write(queue, offset: int, value: int) -> None:  # type: ignore[no-untyped-def]
        if offset == c.MMIO_QUEUE_NUM:
            if value <= queue.num_max:
                queue.num = value
        elif offset == c.MMIO_QUEUE_READY:
            queue.ready = bool(value & 1) and queue.num > 0
        elif offset == c.MMIO_QUEUE_RESET and value & 1:
            queue.reset()
        else:
            halves = {c.MMIO_QUEUE_DESC_LOW: ("desc", 0), c.MMIO_QUEUE_DESC_HIGH: ("desc", 32),
                      c.MMIO_QUEUE_AVAIL_LOW: ("avail", 0), c.MMIO_QUEUE_AVAIL_HIGH: ("avail", 32),
                      c.MMIO_QUEUE_USED_LOW: ("used", 0), c.MMIO_QUEUE_USED_HIGH: ("used", 32)}
            if offset in halves:
                field, shift = halves[offset]
                setattr(queue, field, getattr(queue, field) & ~(0xFFFFFFFF << shift) | value << shift)

    def register_name(self, offset: int, write: bool) -> str | None:
        if offset >= c.MMIO_CONFIG:
            return f"config+{offset - c.MMIO_CONFIG:#x}"
        return super().register_name(offset, write)

    # -- interrupts and DMA ---------------------------------------------------------------------
    def interrupt(self, reason: int) -> None:
        """Set ``reason`` in InterruptStatus and raise the line (the driver reads it and acks)."""
        self.interrupt_status |= reason
        self.raise_irq()

    def _checked(self, verb: str, bus_address: int, size: int) -> int:
        if self.host is None:
            raise DmaError(f"{self.name}: DMA {verb} of {size} bytes at {bus_address:#x} while not attached")
        if self.dma_check is not None and self.model.negotiated(c.F_ACCESS_PLATFORM):
            why = self.dma_check(bus_address, size)
            if why is not None:
                raise DmaError(f"{self.model.name}: DMA {verb} of {size} bytes at bus address {bus_address:#x}: {why}")
        return bus_address + self.dma_offset

    def dma_read(self, bus_address: int, size: int) -> bytes:
        """Read guest memory at a bus address, as the device's DMA would."""
        address = self._checked("read", bus_address, size)
        try:
            return self.host.memory.read(address, size)  # type: ignore[union-attr]
        except GuestFault as fault:
            raise DmaError(f"{self.model.name}: DMA read of {size} bytes at bus address {bus_address:#x}: "
                           f"no memory there ({fault})") from None

    def dma_write(self, bus_address: int, data: bytes) -> None:
        """Write guest memory at a bus address, as the device's DMA would."""
        address = self._checked("write", bus_address, len(data))
        try:
            self.host.memory.write(address, data)  # type: ignore[union-attr]
        except GuestFault as fault:
            raise DmaError(f"{self.model.name}: DMA write of {len(data)} bytes at bus address {bus_address:#x}: "
                           f"no memory there ({fault})") from None


def add_virtio_mmio(platform: PlatformBus, model: VirtioDevice, *, irq: int, base: int | None = None,
                    id: int | None = None) -> VirtioMmio:
    """Describe a virtio-mmio device for ``model`` on ``platform`` (as a device tree or the
    ``virtio_mmio.device=`` command line would): a 0x200-byte MEM resource at ``base`` (the
    first free page of the MMIO area if None), IRQ ``irq``, platform id ``id`` (the next free one)."""
    if platform.host is None:
        raise ValueError("the platform bus is not attached to a machine")
    if base is None:
        base = platform.host.mmio.free_base(0x1000)
    taken = {spec.id for spec in platform.specs if spec.name == "virtio-mmio"}
    if id is None:
        id = next(i for i in range(len(taken) + 1) if i not in taken)
    transport = VirtioMmio(model, base=base, irq=irq, name=f"virtio-mmio.{id}")
    platform.add("virtio-mmio", id, mem=[(base, c.MMIO_WINDOW)], irq=[irq], model=transport)
    return transport
