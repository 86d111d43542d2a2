"""Network benchmark: frames through the real 8390.ko + ne2k-pci.ko and the NE2000 model, against a bare port hook.

Run: ``python bench/bench_net.py`` (needs the Linux corpus). The workload
sends and receives FRAMES frames through ``k.net["eth0"]``: ndo_start_xmit,
the driver's remote-DMA upload, the card's transmit interrupt; the card's
receive interrupt, the driver's ring read, netif_rx and the softirq that
delivers to the stack.

The baseline is the same guest work with the model replaced by a bare port
hook: a first run records every value the model returned to the driver's
port reads and where it raised its interrupt; the baseline kernel's card
replays that log (a list index per read, no DP8390 logic) while the guest
runs exactly the same instructions and services. The ratio is what the
Python model costs on top of everything else a frame does; the received
frames are checked to be the same in both runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import best_of, report  # noqa: E402
from sandbox import Kernel  # noqa: E402
from sandbox.devices.ne2000 import Ne2000Pci  # noqa: E402
from sandbox.devices.pci import Bar, PciFunction  # noqa: E402
from tests.linux_corpus import KDIR, ko  # noqa: E402

FRAMES = 200
MAC = bytes.fromhex("525400123456")
PEER = bytes.fromhex("02aabbccdd01")
OUT = b"\xff" * 6 + MAC + b"\x08\x00" + bytes(range(256)) * 2
IN = MAC + PEER + b"\x08\x00" + bytes(range(256)) * 2


class Recording(Ne2000Pci):
    """The model, logging what it answers and when it interrupts."""

    def __init__(self) -> None:
        super().__init__(mac=MAC)
        self.log: list[int | None] = []  # a read's value, or None: the IRQ was raised here

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        value = super().bar_read(bar, offset, width)
        self.log.append(value)
        return value

    def raise_irq(self):  # type: ignore[no-untyped-def]
        self.log.append(None)
        return super().raise_irq()


class Replay(PciFunction):
    """A bare port hook in the model's place: each read returns the next logged value."""

    vendor_id, device_id, class_code = Ne2000Pci.vendor_id, Ne2000Pci.device_id, Ne2000Pci.class_code
    subsystem_vendor_id, subsystem_id = Ne2000Pci.subsystem_vendor_id, Ne2000Pci.subsystem_id
    bars = (Bar("io", 32),)

    def __init__(self, log: list[int | None]) -> None:
        super().__init__("ne2k-replay")
        self.log = log
        self.at = 0

    def _irqs(self) -> None:
        while self.at < len(self.log) and self.log[self.at] is None:
            self.at += 1
            self.raise_irq()

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        value = self.log[self.at]
        self.at += 1
        self._irqs()
        return value  # type: ignore[return-value]

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        self._irqs()

    def receive(self, frame: bytes) -> bool:
        self._irqs()  # the model would raise its receive interrupt now
        return True


def _kernel(card: PciFunction) -> Kernel:
    k = Kernel("linux")
    k.pci.add(card)
    k.load(ko("drivers/net/ethernet/8390/8390.ko"))
    k.load(ko("drivers/net/ethernet/8390/ne2k-pci.ko"))
    k.net["eth0"].up()
    return k


def _workload(k: Kernel, card) -> list[bytes]:  # type: ignore[no-untyped-def]
    eth = k.net["eth0"]
    for _ in range(FRAMES):
        eth.send(OUT)
        card.receive(IN)
    return eth.receive()


def main() -> None:
    if KDIR is None:
        print("bench_net: skipped (the Linux 6.1 corpus is not fetched: tools/fetch-linux-modules)")
        return
    recorder = Recording()
    k = _kernel(recorder)
    reference = _workload(k, recorder)
    assert reference == [IN] * FRAMES
    log = recorder.log

    def with_model() -> None:
        card = Ne2000Pci(mac=MAC)
        kernel = _kernel(card)
        with_model.elapsed = best_of(1, lambda: _workload(kernel, card))  # type: ignore[attr-defined]

    def with_hook() -> None:
        card = Replay(log)
        kernel = _kernel(card)
        frames: list[bytes] = []
        with_hook.elapsed = best_of(1, lambda: frames.extend(_workload(kernel, card)))  # type: ignore[attr-defined]
        assert frames == reference and card.at == len(log), "the replayed run did different guest work"

    model_t = hook_t = float("inf")
    for _ in range(3):
        with_model()
        with_hook()
        model_t = min(model_t, with_model.elapsed)  # type: ignore[attr-defined]
        hook_t = min(hook_t, with_hook.elapsed)  # type: ignore[attr-defined]
    per_frame = 1e6 / FRAMES
    report("ne2k-pci frame out + in (NE2000 model)", model_t * per_frame, hook_t * per_frame, "us",
           "the model's cost over a bare port hook; no target set")


if __name__ == "__main__":
    main()
