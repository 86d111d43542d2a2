"""The base of virtio device models: features, status, config space, queues and their handlers.

A :class:`VirtioDevice` is what a virtio driver talks to whatever the
transport (virtio-mmio here, virtio-pci next to it): a device id, the
feature bits it offers, a configuration space, and its virtqueues. The
transport (:class:`~sandbox.devices.virtio.mmio.VirtioMmio`) turns register
accesses into calls on it — feature negotiation, status writes, queue
setup, notifications — and delivers its interrupts.

A model subclasses it, names its queues (``queues = (("input", 64),)``) and
writes one handler per queue, ``handle_<name>(queue)``, called when the
driver notifies that queue; :meth:`VirtioDevice.serve` takes the available
chains and gives each back with the bytes the reply wrote, interrupting the
driver as the ring asks. Its configuration space is ``config`` (bytes the
driver reads at offset 0x100 of the mmio window); :meth:`update_config`
changes it as a device does (generation counter, config-change interrupt).

The model is a :class:`~sandbox.devices.device.Device` with no registers of
its own: its transport attaches it next to itself, so its state (status,
features, queues, what it holds) is saved and restored with snapshots, and
the object a user keeps stays the live one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..device import Device
from ..pci import DmaError
from .constants import (
    F_ACCESS_PLATFORM,
    F_RING_EVENT_IDX,
    F_RING_INDIRECT_DESC,
    F_VERSION_1,
    INT_CONFIG_CHANGE,
    INT_USED_BUFFER,
    STATUS_DEVICE_NEEDS_RESET,
    STATUS_DRIVER_OK,
    STATUS_FAILED,
    STATUS_FEATURES_OK,
)
from .virtqueue import Chain, SplitVirtqueue, VirtqueueError


class Transport(Protocol):
    """What a device model needs of its transport."""

    def interrupt(self, reason: int) -> None: ...

    def dma_read(self, bus_address: int, size: int) -> bytes: ...

    def dma_write(self, bus_address: int, data: bytes) -> None: ...


# Ring features every model supports (the queue implements them).
RING_FEATURES = 1 << F_RING_INDIRECT_DESC | 1 << F_RING_EVENT_IDX
# What a modern device offers besides its own bits: virtio 1.x, and "use the platform's DMA API"
# (so Linux maps every buffer, and a model's access outside those mappings is caught).
TRANSPORT_FEATURES = 1 << F_VERSION_1 | 1 << F_ACCESS_PLATFORM


class VirtioDevice(Device):
    """A virtio device model (see the module docstring). Subclass: set ``device_id``,
    ``queues``, ``device_features``, ``config``; write ``handle_<queue name>``."""

    name = "virtio"
    device_id: int = 0
    vendor_id: int = 0x1AF4  # the virtio vendor id (Red Hat's PCI id, which QEMU's devices carry)
    #: (name, maximum size) of each virtqueue, by queue index.
    queues: tuple[tuple[str, int], ...] = ()
    #: the device-specific feature bits (bit 0-23 and above 41), offered besides the ring and transport ones.
    device_features: int = 0

    def __init__(self, name: str | None = None, *, features: int | None = None, config: bytes = b"") -> None:
        super().__init__(name)
        #: every bit the device offers (VIRTIO_F_* and the device's own); a test may take bits away.
        self.features = (self.device_features | RING_FEATURES | TRANSPORT_FEATURES) if features is None else features
        self.config = bytearray(config)
        self.config_generation = 0
        self.status = 0
        self.driver_features = 0
        self.virtqueues = [SplitVirtqueue(i, size) for i, (_, size) in enumerate(self.queues)]
        self.transport: Transport | None = None
        #: what went wrong on the device side (a DMA outside the driver's mappings, a broken ring).
        self.errors: list[str] = []
        self.notifications = 0

    # -- features and status --------------------------------------------------------------------
    def negotiated(self, bit: int) -> bool:
        """Whether feature ``bit`` was offered and accepted by the driver."""
        return bool(self.driver_features >> bit & 1)

    def write_driver_features(self, value: int) -> None:
        """What the driver accepts (only while FEATURES_OK is not yet set, as the spec says)."""
        if not self.status & STATUS_FEATURES_OK:
            self.driver_features = value

    def set_status(self, value: int) -> None:
        """A status write: 0 resets the device; FEATURES_OK is kept only for features it can honour."""
        value &= 0xFF
        if value == 0:
            self.reset()
            return
        before = self.status
        if value & STATUS_FEATURES_OK and not before & STATUS_FEATURES_OK and not self.accept_features():
            value &= ~STATUS_FEATURES_OK  # the driver reads it back and gives up ("device refuses features")
        self.status = value | (before & STATUS_DEVICE_NEEDS_RESET)
        if value & STATUS_FEATURES_OK and not before & STATUS_FEATURES_OK:
            for queue in self.virtqueues:
                queue.event_idx = self.negotiated(F_RING_EVENT_IDX)
                queue.indirect = self.negotiated(F_RING_INDIRECT_DESC)
        if value & STATUS_DRIVER_OK and not before & STATUS_DRIVER_OK:
            self.driver_ok()

    def accept_features(self) -> bool:
        """Whether the driver's features are a subset of the offer (and include VERSION_1: a modern device)."""
        return not self.driver_features & ~self.features and self.negotiated(F_VERSION_1)

    def reset(self) -> None:
        """Device reset: status, features, queues and interrupt state back to power-on."""
        self.status = 0
        self.driver_features = 0
        for queue in self.virtqueues:
            queue.reset()
        self.on_reset()

    # -- hooks a model may override -------------------------------------------------------------
    def on_reset(self) -> None:
        """The driver reset the device."""

    def driver_ok(self) -> None:
        """The driver set DRIVER_OK: the device is live."""

    def config_read(self, offset: int, width: int) -> int:
        """A read of the configuration space (bytes past ``config`` read as 0)."""
        return int.from_bytes(bytes(self.config[offset:offset + width]).ljust(width, b"\0"), "little")

    def config_write(self, offset: int, width: int, value: int) -> None:
        """A driver write to the configuration space (stored where the space has room)."""
        data = value.to_bytes(width, "little")[:max(0, len(self.config) - offset)]
        self.config[offset:offset + len(data)] = data

    # -- what the device does ---------------------------------------------------------------------
    def update_config(self, offset: int, data: bytes) -> None:
        """Change the configuration space as the device would: new generation, config-change interrupt."""
        end = offset + len(data)
        if end > len(self.config):
            self.config.extend(bytes(end - len(self.config)))
        self.config[offset:end] = data
        self.config_generation = (self.config_generation + 1) & 0xFFFFFFFF
        if self.status & STATUS_DRIVER_OK:
            self.interrupt(INT_CONFIG_CHANGE)

    def notify(self, index: int) -> None:
        """The driver notified queue ``index``: its handler runs."""
        self.notifications += 1
        if index >= len(self.virtqueues) or (not self.status & STATUS_DRIVER_OK and not self.virtqueues[index].ready):
            return
        handler = getattr(self, f"handle_{self.queues[index][0]}", None)
        if handler is not None:
            handler(self.virtqueues[index])

    def serve(self, queue: SplitVirtqueue, reply: Callable[[Chain], int | None]) -> int:
        """Answer the chains the driver made available on ``queue``, oldest held ones first.

        ``reply(chain)`` returns the bytes it wrote into the chain's writable
        buffers, or None to keep the chain (no data yet: it is offered again
        by the next ``serve``). One interrupt covers the batch, when the
        ring asks for one. Returns how many chains were given back. A broken
        ring or a refused DMA marks the device DEVICE_NEEDS_RESET.
        """
        if self.status & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED) or not queue.ready:
            return 0
        old = queue.used_idx
        answered = 0
        try:
            while True:
                chain = queue.held[0] if queue.held else queue.pop(self)
                if chain is None:
                    break
                written = reply(chain)
                if written is None:
                    break
                queue.push(self, chain, written)
                answered += 1
            if queue.should_interrupt(self, old):
                self.interrupt(INT_USED_BUFFER)
        except (DmaError, VirtqueueError) as error:
            self.fail(str(error))
        return answered

    def fail(self, why: str) -> None:
        """Something the driver did cannot be served: DEVICE_NEEDS_RESET, and the driver is told."""
        self.errors.append(why)
        self.status |= STATUS_DEVICE_NEEDS_RESET
        if self.status & STATUS_DRIVER_OK:
            self.interrupt(INT_CONFIG_CHANGE)

    def interrupt(self, reason: int) -> None:
        """Ask the transport to interrupt the driver (INT_USED_BUFFER / INT_CONFIG_CHANGE)."""
        if self.transport is not None:
            self.transport.interrupt(reason)

    # -- DMA, through the transport -----------------------------------------------------------------
    def dma_read(self, bus_address: int, size: int) -> bytes:
        """Read guest memory at a bus address the driver gave (checked by the transport)."""
        if self.transport is None:
            raise DmaError(f"{self.name}: DMA read at {bus_address:#x} with no transport")
        return self.transport.dma_read(bus_address, size)

    def dma_write(self, bus_address: int, data: bytes) -> None:
        """Write guest memory at a bus address the driver gave (checked by the transport)."""
        if self.transport is None:
            raise DmaError(f"{self.name}: DMA write at {bus_address:#x} with no transport")
        self.transport.dma_write(bus_address, data)

    def queue(self, name: str) -> SplitVirtqueue:
        """The virtqueue called ``name``."""
        for index, (queue_name, _) in enumerate(self.queues):
            if queue_name == name:
                return self.virtqueues[index]
        raise KeyError(f"{self.name} has no queue {name!r} (queues: {', '.join(n for n, _ in self.queues)})")

    def describe(self) -> dict[str, Any]:
        """Status, features and queue positions, for tests and reports."""
        return {"status": self.status, "driver_features": self.driver_features, "errors": list(self.errors),
                "queues": {n: (q.num, q.ready, q.last_avail, q.used_idx) for (n, _), q in zip(self.queues, self.virtqueues)}}
