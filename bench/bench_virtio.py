"""virtio benchmarks: the real Debian virtio stack on the Python models against a bare memory hook.

Run: ``python bench/bench_virtio.py`` (needs the Debian corpus). The guest
work is the same in both runs: ``virtio.ko``, ``virtio_ring.ko``,
``virtio_mmio.ko`` and ``virtio-rng.ko`` serving ``/dev/hwrng`` reads
(the hw_random core refills its 64-byte buffer through ``virtio_read``:
add the buffer to the ring, map it, kick, take the interrupt, get the
buffer back, unmap it, complete). In the model run the virtio-mmio window
is the :class:`~sandbox.devices.virtio.VirtioMmio` transport in front of a
:class:`~sandbox.devices.virtio.VirtioRng` (register decoding, the split
ring read through checked DMA, interrupt status) on the kernel's MMIO bus.
In the baseline the same window is a bare Unicorn ``mmio_map`` hook that
answers a notify by writing the used ring straight into memory and raising
the line: the least a device can do. Two figures, each a ratio:

- a 1 MiB read of ``/dev/hwrng`` (16 384 refills, one Python->guest call each);
- one virtqueue round trip: a 64-byte read, one refill (driver, device, IRQ).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import best_of, report  # noqa: E402
from sandbox import Kernel  # noqa: E402
from sandbox.devices.chardev import O_RDONLY  # noqa: E402
from sandbox.devices.virtio import VirtioRng, add_virtio_mmio  # noqa: E402
from sandbox.devices.virtio import constants as c  # noqa: E402
from tests.linux_corpus import KDIR  # noqa: E402

STACK = ("drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio_mmio.ko",
         "drivers/char/hw_random/virtio-rng.ko")
MIB = 1 << 20
ROUND_TRIPS = 2000
IRQ = 5
PAGE_OFFSET = 0xC0000000


class BareHook:
    """The baseline device: raw Unicorn MMIO callbacks doing only what a refill needs."""

    def __init__(self, k: Kernel, model: VirtioRng, base: int) -> None:
        queue = model.virtqueues[0]
        self.uc, self.k = k.cpu.uc, k
        self.desc, self.avail, self.used, self.num = (queue.desc + PAGE_OFFSET, queue.avail + PAGE_OFFSET,
                                                      queue.used + PAGE_OFFSET, queue.num)
        self.last_avail, self.used_idx, self.isr = queue.last_avail, queue.used_idx, 0
        self.base = base

    def on_read(self, uc, offset, size, data):  # type: ignore[no-untyped-def]
        return self.isr if offset == c.MMIO_INTERRUPT_STATUS else 0

    def on_write(self, uc, offset, size, value, data):  # type: ignore[no-untyped-def]
        if offset == c.MMIO_INTERRUPT_ACK:
            self.isr &= ~value
        elif offset == c.MMIO_QUEUE_NOTIFY:
            avail_idx = struct.unpack("<H", uc.mem_read(self.avail + 2, 2))[0]
            while self.last_avail != avail_idx:
                head = struct.unpack("<H", uc.mem_read(self.avail + 4 + 2 * (self.last_avail % self.num), 2))[0]
                address, length, _, _ = struct.unpack("<QIHH", uc.mem_read(self.desc + 16 * head, 16))
                uc.mem_write(address + PAGE_OFFSET, bytes(length))
                uc.mem_write(self.used + 4 + 8 * (self.used_idx % self.num), struct.pack("<II", head, length))
                self.last_avail = (self.last_avail + 1) & 0xFFFF
                self.used_idx = (self.used_idx + 1) & 0xFFFF
                uc.mem_write(self.used + 2, struct.pack("<H", self.used_idx))
                uc.mem_write(self.used + 4 + 8 * self.num, struct.pack("<H", self.last_avail))  # avail_event
            self.isr |= c.INT_USED_BUFFER
            self.k.raise_irq(IRQ)


def boot() -> tuple[Kernel, VirtioRng]:
    k = Kernel("linux", budget_seconds=600, trace=False)
    rng = VirtioRng(lambda n: bytes(n), keep=0)
    add_virtio_mmio(k.platform, rng, irq=IRQ)
    for path in STACK:
        k.load(str(KDIR / path))
    return k, rng


def main() -> None:
    if KDIR is None:
        print("bench_virtio: the Debian corpus is not fetched (tools/fetch-linux-modules)")
        return
    k, rng = boot()
    base = rng.transport.base
    hwrng = k.open("/dev/hwrng", O_RDONLY)
    assert len(hwrng.read(4096)) == 4096

    def swap_to_bare() -> BareHook:
        bare = BareHook(k, rng, base)
        k.mmio.unmap(base)
        k.cpu.uc.mmio_map(base, 0x1000, bare.on_read, None, bare.on_write, None)
        return bare

    def swap_to_model(bare: BareHook) -> None:
        k.cpu.uc.mem_unmap(base, 0x1000)
        queue = rng.virtqueues[0]
        queue.last_avail, queue.used_idx = bare.last_avail, bare.used_idx
        k.mmio.map(base, 0x1000, rng.transport)

    def measure(run) -> dict[str, float]:  # type: ignore[no-untyped-def]
        best = {"model": float("inf"), "bare": float("inf")}
        for _ in range(3):  # rounds interleave the two so a noisy neighbour hits both alike
            best["model"] = min(best["model"], best_of(1, run))
            bare = swap_to_bare()
            best["bare"] = min(best["bare"], best_of(1, run))
            swap_to_model(bare)
        return best

    mib = measure(lambda: hwrng.read(MIB))
    report("/dev/hwrng 1 MiB via virtio-rng", mib["model"], mib["bare"], "s", "model vs bare MMIO hook")
    trips = measure(lambda: [hwrng.read(64) for _ in range(ROUND_TRIPS)])
    per = {key: value / ROUND_TRIPS * 1e6 for key, value in trips.items()}
    report("virtqueue round trip (64-byte refill)", per["model"], per["bare"], "us", "model vs bare MMIO hook")
    hwrng.close()


if __name__ == "__main__":
    main()
