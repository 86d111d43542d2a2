"""The device side of a split virtqueue (virtio 1.x, 2.7): descriptor chains in, used elements out.

The driver owns three areas in guest memory, given to the device by bus
address: the descriptor table (16 bytes each: addr u64, len u32, flags u16,
next u16), the available ring (flags, idx, ring[num], used_event) and the
used ring (flags, idx, ring[num] of {id u32, len u32}, avail_event). The
device takes the heads the driver made available (:meth:`SplitVirtqueue.pop`),
reads the chain's device-readable buffers and fills its device-writable ones
(:class:`Chain`), and returns the head with the bytes written
(:meth:`SplitVirtqueue.push`). Indirect descriptors (``VIRTQ_DESC_F_INDIRECT``)
are followed when the feature was negotiated; with ``VIRTIO_F_EVENT_IDX``
the device publishes ``avail_event`` and interrupts only when the driver's
``used_event`` asks for it, else it honours ``VIRTQ_AVAIL_F_NO_INTERRUPT``.

Every guest access goes through a :class:`DmaPort` (the transport), which
turns bus addresses into guest memory and applies the profile's DMA check,
so a device touching memory the driver never handed it is reported there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol

from .constants import AVAIL_F_NO_INTERRUPT, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, DESC_SIZE, USED_ELEM_SIZE


class DmaPort(Protocol):
    """Guest memory as a bus-mastering device reaches it: by bus address, checked."""

    def dma_read(self, bus_address: int, size: int) -> bytes: ...

    def dma_write(self, bus_address: int, data: bytes) -> None: ...


class VirtqueueError(Exception):
    """The driver broke the ring (a descriptor loop, an index out of range, a bad indirect table)."""


@dataclass(slots=True)
class Chain:
    """One descriptor chain the driver made available: its head and its buffers, in order.

    ``readable``/``writable`` are (bus address, length) pairs: what the device
    may read (the request) and what it may write (the reply).
    """

    head: int
    readable: list[tuple[int, int]] = field(default_factory=list)
    writable: list[tuple[int, int]] = field(default_factory=list)

    @property
    def readable_size(self) -> int:
        """Total bytes of the device-readable part."""
        return sum(n for _, n in self.readable)

    @property
    def writable_size(self) -> int:
        """Total bytes the device may write."""
        return sum(n for _, n in self.writable)

    def read(self, port: DmaPort) -> bytes:
        """The device-readable buffers, concatenated."""
        return b"".join(port.dma_read(address, n) for address, n in self.readable)

    def write(self, port: DmaPort, data: bytes) -> int:
        """Fill the device-writable buffers from ``data`` in order; returns the bytes written."""
        written = 0
        for address, n in self.writable:
            if written >= len(data):
                break
            piece = data[written:written + n]
            port.dma_write(address, piece)
            written += len(piece)
        return written


_U16 = struct.Struct("<H")
_DESC = struct.Struct("<QIHH")
_USED = struct.Struct("<II")


@dataclass(slots=True)
class SplitVirtqueue:
    """One split virtqueue as the device keeps it: where the rings are and how far it has got."""

    index: int
    num_max: int
    num: int = 0
    ready: bool = False
    desc: int = 0
    avail: int = 0
    used: int = 0
    last_avail: int = 0  # the device's next available-ring slot (free-running 16-bit)
    used_idx: int = 0  # the used index the device last published
    event_idx: bool = False  # VIRTIO_F_EVENT_IDX negotiated
    indirect: bool = False  # VIRTIO_F_INDIRECT_DESC negotiated
    held: list[Chain] = field(default_factory=list)  # taken from the ring, not yet given back

    def reset(self) -> None:
        """Back to the state after a device reset: not ready, no rings."""
        self.num, self.ready, self.desc, self.avail, self.used = 0, False, 0, 0, 0
        self.last_avail = self.used_idx = 0
        self.held.clear()

    # -- the available ring ---------------------------------------------------------------
    def avail_idx(self, port: DmaPort) -> int:
        """The driver's available index."""
        return _U16.unpack(port.dma_read(self.avail + 2, 2))[0]

    def has_available(self, port: DmaPort) -> bool:
        """Whether the driver made a chain available that the device has not taken."""
        return self.ready and self.num > 0 and self.avail_idx(port) != self.last_avail

    def pop(self, port: DmaPort) -> Chain | None:
        """Take the next available chain (None if there is none); it is held until :meth:`push`."""
        if not self.ready or not self.num:
            return None
        avail_idx = self.avail_idx(port)
        if avail_idx == self.last_avail:
            return None
        if (avail_idx - self.last_avail) & 0xFFFF > self.num:
            raise VirtqueueError(f"queue {self.index}: available index {avail_idx} is more than {self.num} "
                                 f"ahead of the device's {self.last_avail}")
        slot = self.avail + 4 + 2 * (self.last_avail % self.num)
        head = _U16.unpack(port.dma_read(slot, 2))[0]
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        if self.event_idx:  # avail_event: "notify me once you pass this"
            port.dma_write(self.used + 4 + USED_ELEM_SIZE * self.num, _U16.pack(self.last_avail))
        chain = self._walk(port, head)
        self.held.append(chain)
        return chain

    def _walk(self, port: DmaPort, head: int) -> Chain:
        chain = Chain(head)
        table, count, index = self.desc, self.num, head
        in_indirect = False
        steps = 0  # descriptors visited in the current table: more than it holds is a loop
        total = 0  # descriptors in the chain: the spec allows at most the queue size
        while steps <= count:
            steps += 1
            total += 1
            if total > max(self.num, 1) + 1:  # + 1: the indirect descriptor itself
                raise VirtqueueError(f"queue {self.index}: the chain of head {head} is longer than the queue "
                                     f"size {self.num}")
            if index >= count:
                raise VirtqueueError(f"queue {self.index}: descriptor {index} is outside the "
                                     f"{'indirect table' if in_indirect else 'table'} of {count}")
            address, length, flags, nxt = _DESC.unpack(port.dma_read(table + DESC_SIZE * index, DESC_SIZE))
            if flags & DESC_F_INDIRECT:
                if not self.indirect:
                    raise VirtqueueError(f"queue {self.index}: an indirect descriptor, but VIRTIO_F_INDIRECT_DESC "
                                         "was not negotiated")
                if in_indirect or flags & DESC_F_NEXT:
                    raise VirtqueueError(f"queue {self.index}: an indirect descriptor inside an indirect table "
                                         "or chained to another")
                if not length or length % DESC_SIZE:
                    raise VirtqueueError(f"queue {self.index}: indirect table of {length} bytes "
                                         f"(not a multiple of {DESC_SIZE})")
                table, count, index, in_indirect, steps = address, length // DESC_SIZE, 0, True, 0
                continue
            if flags & DESC_F_WRITE:
                chain.writable.append((address, length))
            elif chain.writable:
                raise VirtqueueError(f"queue {self.index}: a device-readable descriptor after a writable one "
                                     f"in the chain of head {head}")
            else:
                chain.readable.append((address, length))
            if not flags & DESC_F_NEXT:
                return chain
            index = nxt
        raise VirtqueueError(f"queue {self.index}: the chain of head {head} loops")

    # -- the used ring -----------------------------------------------------------------------
    def push(self, port: DmaPort, chain: Chain, written: int) -> None:
        """Give ``chain`` back to the driver with ``written`` bytes in its writable buffers."""
        if chain in self.held:
            self.held.remove(chain)
        slot = self.used + 4 + USED_ELEM_SIZE * (self.used_idx % self.num)
        port.dma_write(slot, _USED.pack(chain.head, written))
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        port.dma_write(self.used + 2, _U16.pack(self.used_idx))  # after the element: the driver reads idx first

    def should_interrupt(self, port: DmaPort, old_used_idx: int) -> bool:
        """Whether the driver wants an interrupt for the elements pushed since ``old_used_idx``."""
        if self.used_idx == old_used_idx:
            return False
        if self.event_idx:
            used_event = _U16.unpack(port.dma_read(self.avail + 4 + 2 * self.num, 2))[0]
            # vring_need_event(): the driver's event index lies in (old, new].
            return (self.used_idx - used_event - 1) & 0xFFFF < (self.used_idx - old_used_idx) & 0xFFFF
        flags = _U16.unpack(port.dma_read(self.avail, 2))[0]
        return not flags & AVAIL_F_NO_INTERRUPT
