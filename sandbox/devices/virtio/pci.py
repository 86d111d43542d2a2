"""The virtio-pci transport, modern interface (virtio 1.x, 4.1): a PCI function in front of a device model.

``VirtioPci(model)`` is a :class:`~sandbox.devices.pci.PciFunction` with
vendor 0x1AF4 and device 0x1040 + the model's device id (a non-transitional
device, revision 1), subsystem ids as QEMU gives them, and one 16 KiB memory
BAR holding the four structures the vendor-specific capabilities (cap id
0x09) point at:

=========  ======  ==================================================
cfg_type   offset  what
=========  ======  ==================================================
COMMON     0x0000  struct virtio_pci_common_cfg (features, status, queues)
ISR        0x1000  the ISR status byte (reading it clears it)
DEVICE     0x2000  the model's configuration space
NOTIFY     0x3000  queue notifications, ``queue_notify_off * 4`` apart
=========  ======  ==================================================

There is no MSI-X capability, so a driver falls back to INTx (Linux's
``vp_find_vqs_intx``): interrupts go through the ISR byte and the
function's INTA line. DMA is bus-master gated as for any PCI function, and
checked against the driver's mappings once VIRTIO_F_ACCESS_PLATFORM is
negotiated.
"""

from __future__ import annotations

import struct

from ...errors import GuestFault
from ..pci import Bar, DmaError, PciFunction
from . import constants as c
from .carrier import CarriesModel
from .device import VirtioDevice

VIRTIO_PCI_VENDOR = 0x1AF4
MODERN_DEVICE_BASE = 0x1040
CAP_ID_VENDOR = 0x09
CAP_POINTER, STATUS_CAP_LIST = 0x34, 0x10
CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE = 1, 2, 3, 4
COMMON_OFFSET, ISR_OFFSET, DEVICE_OFFSET, NOTIFY_OFFSET = 0x0000, 0x1000, 0x2000, 0x3000
NOTIFY_MULTIPLIER = 4
BAR_SIZE = 0x4000
NO_VECTOR = 0xFFFF
# Device class codes (PCI ids) by virtio device id: network, mass storage, input, other.
_CLASSES = {c.ID_NET: 0x020000, c.ID_BLOCK: 0x010000, c.ID_INPUT: 0x098000}

# struct virtio_pci_common_cfg offsets
(DFSELECT, DF, GFSELECT, GF, MSIX_CONFIG, NUM_QUEUES, STATUS, CFG_GENERATION, Q_SELECT, Q_SIZE, Q_MSIX_VECTOR,
 Q_ENABLE, Q_NOTIFY_OFF, Q_DESC, Q_AVAIL, Q_USED, Q_NOTIFY_DATA, Q_RESET) = (
    0, 4, 8, 12, 16, 18, 20, 21, 22, 24, 26, 28, 30, 32, 40, 48, 56, 58)


class VirtioPci(CarriesModel, PciFunction):
    """A modern virtio PCI function for ``model`` (see the module docstring)."""

    vendor_id = VIRTIO_PCI_VENDOR
    revision = 1
    subsystem_vendor_id = VIRTIO_PCI_VENDOR
    bars = (Bar("mem", BAR_SIZE),)

    def __init__(self, model: VirtioDevice, name: str | None = None) -> None:
        self.device_id = MODERN_DEVICE_BASE + model.device_id
        self.subsystem_id = MODERN_DEVICE_BASE
        self.class_code = _CLASSES.get(model.device_id, 0x00FF00)
        self.model = model
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.queue_sel = 0
        self.isr = 0
        self.config_vector = NO_VECTOR
        self.queue_vectors = [NO_VECTOR] * len(model.virtqueues)
        self.attached_model = False
        super().__init__(name or f"virtio-pci-{model.name}")

    # -- configuration space: the capability list -------------------------------------------
    def _reset_config(self) -> None:
        super()._reset_config()
        config = self.config
        config[0x06] |= STATUS_CAP_LIST
        caps = [(CFG_COMMON, COMMON_OFFSET, 0x40, b""), (CFG_NOTIFY, NOTIFY_OFFSET, 0x1000,
                struct.pack("<I", NOTIFY_MULTIPLIER)), (CFG_ISR, ISR_OFFSET, 4, b""), (CFG_DEVICE, DEVICE_OFFSET, 0x1000, b"")]
        position = 0x40
        config[CAP_POINTER] = position
        for index, (cfg_type, where, length, extra) in enumerate(caps):
            size = 16 + len(extra)
            nxt = position + size if index + 1 < len(caps) else 0
            config[position:position + size] = struct.pack("<BBBBBBHII", CAP_ID_VENDOR, nxt, size, cfg_type, 0, 0, 0,
                                                           where, length) + extra
            position = nxt

    # -- the BAR --------------------------------------------------------------------------------
    def bar_read(self, bar: int, offset: int, width: int) -> int:
        model = self.model
        if DEVICE_OFFSET <= offset < NOTIFY_OFFSET:
            return model.config_read(offset - DEVICE_OFFSET, width)
        if ISR_OFFSET <= offset < DEVICE_OFFSET:
            value, self.isr = self.isr, 0  # reading the ISR acknowledges it
            return value
        if offset >= NOTIFY_OFFSET:
            return 0
        queue = model.virtqueues[self.queue_sel] if self.queue_sel < len(model.virtqueues) else None
        if offset == DF:
            return model.features >> (32 * self.device_features_sel) & 0xFFFFFFFF if self.device_features_sel < 2 else 0
        if offset == DFSELECT:
            return self.device_features_sel
        if offset == GFSELECT:
            return self.driver_features_sel
        if offset == GF:
            return model.driver_features >> (32 * self.driver_features_sel) & 0xFFFFFFFF
        if offset == MSIX_CONFIG:
            return NO_VECTOR  # no MSI-X: a vector write reads back NO_VECTOR
        if offset == NUM_QUEUES:
            return len(model.virtqueues)
        if offset == STATUS:
            return model.status
        if offset == CFG_GENERATION:
            return model.config_generation & 0xFF
        if offset == Q_SELECT:
            return self.queue_sel
        if queue is None:
            return 0
        if offset == Q_SIZE:
            return queue.num or queue.num_max
        if offset == Q_MSIX_VECTOR:
            return NO_VECTOR
        if offset == Q_ENABLE:
            return int(queue.ready)
        if offset == Q_NOTIFY_OFF:
            return queue.index
        for base, field in ((Q_DESC, "desc"), (Q_AVAIL, "avail"), (Q_USED, "used")):
            if base <= offset < base + 8:
                return getattr(queue, field) >> (8 * (offset - base)) & ((1 << (8 * width)) - 1)
        return 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        model = self.model
        if DEVICE_OFFSET <= offset < NOTIFY_OFFSET:
            model.config_write(offset - DEVICE_OFFSET, width, value)
            return
        if offset >= NOTIFY_OFFSET:
            model.notify((offset - NOTIFY_OFFSET) // NOTIFY_MULTIPLIER)
            return
        queue = model.virtqueues[self.queue_sel] if self.queue_sel < len(model.virtqueues) else None
        if offset == DFSELECT:
            self.device_features_sel = value
        elif offset == GFSELECT:
            self.driver_features_sel = value
        elif offset == GF and self.driver_features_sel < 2:
            shift = 32 * self.driver_features_sel
            model.write_driver_features(model.driver_features & ~(0xFFFFFFFF << shift) | value << shift)
        elif offset == STATUS:
            model.set_status(value)
            if value == 0:
                self.isr = 0
        elif offset == Q_SELECT:
            self.queue_sel = value
        elif queue is None:
            return
        elif offset == Q_SIZE:
            if value <= queue.num_max:
                queue.num = value
        elif offset == Q_ENABLE:
            queue.ready = bool(value & 1) and queue.num > 0
        elif offset == Q_RESET and value & 1:
            queue.reset()
        else:
            for base, field in ((Q_DESC, "desc"), (Q_AVAIL, "avail"), (Q_USED, "used")):
                if base <= offset < base + 8:
                    shift = 8 * (offset - base)
                    mask = ((1 << (8 * width)) - 1) << shift
                    setattr(queue, field, getattr(queue, field) & ~mask | (value << shift) & mask)

    # -- interrupts and DMA ---------------------------------------------------------------------
    def interrupt(self, reason: int) -> None:
        """Set ``reason`` in the ISR byte and raise INTA (the driver reads the ISR, which clears it)."""
        self.isr |= reason
        self.raise_irq()

    def dma_read(self, bus_address: int, size: int) -> bytes:
        """As PciFunction.dma_read; the mapping check only once the driver agreed to map (ACCESS_PLATFORM)."""
        try:
            return self._dma_memory("read", bus_address, size).read(bus_address + self.dma_offset, size)
        except GuestFault as fault:
            raise DmaError(f"{self.model.name}: DMA read of {size} bytes at bus address {bus_address:#x}: "
                           f"no memory there ({fault})") from None

    def dma_write(self, bus_address: int, data: bytes) -> None:
        """As PciFunction.dma_write; the mapping check only once the driver agreed to map (ACCESS_PLATFORM)."""
        try:
            self._dma_memory("write", bus_address, len(data)).write(bus_address + self.dma_offset, data)
        except GuestFault as fault:
            raise DmaError(f"{self.model.name}: DMA write of {len(data)} bytes at bus address {bus_address:#x}: "
                           f"no memory there ({fault})") from None

    def _dma_memory(self, verb: str, bus_address: int, size: int):  # type: ignore[no-untyped-def]
        check = self.dma_check
        if not self.model.negotiated(c.F_ACCESS_PLATFORM):
            self.dma_check = None  # physical addresses straight from the driver: nothing to check against
        try:
            return super()._dma_memory(verb, bus_address, size)
        finally:
            self.dma_check = check
