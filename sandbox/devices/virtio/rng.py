"""virtio-rng (virtio 1.x, 5.4): one queue of device-writable buffers the device fills with entropy.

The entropy comes from the user: ``VirtioRng(b"...")`` hands out those bytes
in order and then has none (buffers wait until :meth:`VirtioRng.feed` adds
more), ``VirtioRng(source)`` calls ``source(n)`` for up to ``n`` bytes each
time the driver offers a buffer (returning b"" means none yet). Every byte
handed out is kept in ``produced`` (up to ``keep`` bytes) so a test can
compare what the driver returned with what the device produced.
"""

from __future__ import annotations

from collections.abc import Callable

from .constants import ID_RNG
from .device import VirtioDevice
from .virtqueue import Chain, SplitVirtqueue

EntropySource = Callable[[int], bytes]


class VirtioRng(VirtioDevice):
    """An entropy device fed by bytes or by a callable."""

    name = "virtio-rng"
    device_id = ID_RNG
    queues = (("input", 64),)

    def __init__(self, source: bytes | EntropySource = b"", name: str | None = None, *, keep: int = 1 << 20,
                 features: int | None = None) -> None:
        super().__init__(name, features=features)
        self.source: EntropySource | None = None if isinstance(source, (bytes, bytearray)) else source
        self.pool = bytearray(source) if isinstance(source, (bytes, bytearray)) else bytearray()
        self.keep = keep
        #: the most one buffer gets (a real device hands out what it has; the driver takes any length)
        self.max_fill = 1 << 16
        self.produced = bytearray()
        self.produced_total = 0

    def _take(self, n: int) -> bytes:
        if self.source is not None:
            data = bytes(self.source(n))[:n]
        else:
            data = bytes(self.pool[:n])
            del self.pool[:n]
        self.produced_total += len(data)
        if len(self.produced) < self.keep:
            self.produced += data[:self.keep - len(self.produced)]
        return data

    def _fill(self, chain: Chain) -> int | None:
        data = self._take(min(chain.writable_size, self.max_fill))
        if not data:
            return None  # no entropy yet: the buffer waits
        return chain.write(self, data)

    def handle_input(self, queue: SplitVirtqueue) -> None:
        """The driver offered buffers: fill as many as there is entropy for."""
        self.serve(queue, self._fill)

    def feed(self, data: bytes) -> int:
        """More entropy for a bytes-fed device; buffers the driver left waiting are filled now.
        Returns how many buffers were given back."""
        self.pool += data
        return self.serve(self.virtqueues[0], self._fill)
