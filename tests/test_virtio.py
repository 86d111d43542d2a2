"""The real Debian virtio stack (virtio.ko, virtio_ring.ko, virtio_mmio.ko, virtio-rng.ko) on Python models.

A virtio-rng model sits behind a virtio-mmio window on the platform bus; the
real drivers negotiate features, set up the split ring in coherent DMA
memory, map each entropy buffer with the streaming DMA API and register
with the hw_random core, and ``/dev/hwrng`` read from Python returns the
model's bytes.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux import hwrng
from kernel_stubs.linux.pci import Dma
from sandbox import Kernel
from sandbox.devices.chardev import O_NONBLOCK, O_RDONLY
from sandbox.devices.virtio import VirtioRng, add_virtio_mmio
from sandbox.devices.virtio import constants as c
from sandbox.errors import DeviceError

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

STACK = ("drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio_mmio.ko",
         "drivers/char/hw_random/virtio-rng.ko")
EARLY = 32  # what the hwrng core takes at registration (add_early_randomness)
KERNEL_DATA_BUS = 0x01000000  # the kernel's exported variables (0xC1000000): no buffer of any driver


def boot(model: VirtioRng, irq: int = 5) -> Kernel:
    k = Kernel("linux")
    add_virtio_mmio(k.platform, model, irq=irq)
    for path in STACK:
        k.load(ko(path))
    return k


def test_dev_hwrng_returns_the_models_bytes() -> None:
    rng = VirtioRng(bytes(range(256)) * 16)
    k = boot(rng)
    assert rng.status == c.STATUS_ACKNOWLEDGE | c.STATUS_DRIVER | c.STATUS_FEATURES_OK | c.STATUS_DRIVER_OK
    assert rng.negotiated(c.F_VERSION_1) and rng.negotiated(c.F_ACCESS_PLATFORM)
    assert rng.negotiated(c.F_RING_EVENT_IDX) and rng.negotiated(c.F_RING_INDIRECT_DESC)
    assert hwrng.available(k) == ["virtio_rng.0"] and hwrng.current_name(k) == "virtio_rng.0"
    with k.open("/dev/hwrng", O_RDONLY) as f:
        data = f.read(1024)
    assert data == bytes(rng.produced[EARLY:EARLY + 1024])              # every byte, in order, from the model
    assert rng.virtqueues[0].used_idx >= 1024 // 64                       # one 64-byte buffer per refill
    # each buffer the device answered was unmapped when the driver took it back (virtqueue_get_buf)
    assert not [r for r in k.subsystem(Dma).ranges if r.kind == "streaming"]
    assert not rng.errors and not [w for w in k.warnings if "DMA" in w]


def test_a_callable_source_blocking_and_non_blocking_reads() -> None:
    handed: list[int] = []
    pool = bytearray(b"0123456789abcdef" * 8)  # 128 bytes, then nothing until fed

    def source(n: int) -> bytes:
        chunk = bytes(pool[:n])
        del pool[:n]
        handed.append(len(chunk))
        return chunk

    rng = VirtioRng(source)
    k = boot(rng)
    with k.open("/dev/hwrng", O_RDONLY | O_NONBLOCK) as f:
        first = f.read(128)                                              # what was there, without waiting
        assert first == bytes(rng.produced[EARLY:EARLY + len(first)]) and len(first) == 128 - EARLY
        with pytest.raises(DeviceError) as empty:
            f.read(16)
        assert empty.value.errno == 11                                   # -EAGAIN: the device has no entropy
    assert rng.virtqueues[0].held                                        # the driver's buffer waits at the device
    pool.extend(b"X" * 64)
    rng.serve(rng.virtqueues[0], rng._fill)                              # the device finds entropy: used + IRQ
    with k.open("/dev/hwrng", O_RDONLY) as f:
        assert f.read(64) == b"X" * 64


def test_a_device_dma_outside_the_drivers_mappings_is_reported() -> None:
    class Stray(VirtioRng):
        """A buggy device: it writes into kernel data (bus 0x01000000 = 0xC1000000), which no driver mapped."""

        def _fill(self, chain):  # type: ignore[no-untyped-def]
            self.dma_write(KERNEL_DATA_BUS, b"oops")
            return super()._fill(chain)

    rng = Stray(bytes(256))
    k = boot(rng)
    assert rng.errors and "no driver mapped that range for DMA" in rng.errors[0]
    assert rng.status & c.STATUS_DEVICE_NEEDS_RESET
    assert k.memory.read(0xC0000000 + KERNEL_DATA_BUS, 4) != b"oops"     # stopped before it wrote


def test_the_dma_check_names_the_device_in_the_kernel_warnings() -> None:
    class Stray(VirtioRng):
        def _fill(self, chain):  # type: ignore[no-untyped-def]
            self.dma_write(KERNEL_DATA_BUS, b"oops")
            return super()._fill(chain)

    rng = Stray(bytes(256))
    k = boot(rng)
    assert any("DMA by virtio-mmio.0 of 4 bytes" in w and "no driver mapped" in w for w in k.warnings)


def test_a_snapshot_restores_the_driver_and_the_device_together() -> None:
    rng = VirtioRng(bytes(range(256)) * 8)
    k = boot(rng)
    snap = k.snapshot()
    with k.open("/dev/hwrng", O_RDONLY) as f:
        before = f.read(256)
    used = rng.virtqueues[0].used_idx
    k.restore(snap)
    assert rng.virtqueues[0].used_idx < used and len(rng.produced) == 64  # the probe's one buffer
    with k.open("/dev/hwrng", O_RDONLY) as f:
        assert f.read(256) == before                                     # the same bytes again, from the same model


def test_unloading_virtio_rng_resets_the_device_and_unregisters_the_rng() -> None:
    rng = VirtioRng(bytes(1024))
    k = boot(rng)
    report = k.unload("virtio_rng")
    assert report.clean, report
    assert hwrng.available(k) == []                                      # remove: hwrng_unregister
    # the driver reset the device and deleted its queue; the virtio core acknowledged the device again
    assert rng.status == c.STATUS_ACKNOWLEDGE and not rng.virtqueues[0].ready
    assert not [r for r in k.subsystem(Dma).ranges if r.kind == "streaming"]
    with k.open("/dev/hwrng", O_RDONLY) as f, pytest.raises(DeviceError) as gone:
        f.read(8)
    assert gone.value.errno == 19


def test_a_device_without_virtio_1_is_refused_by_virtio_mmio() -> None:
    legacy = VirtioRng(bytes(64), features=1 << c.F_RING_INDIRECT_DESC)
    k = boot(legacy)
    assert "must provide VIRTIO_F_VERSION_1" in k.console
    assert hwrng.available(k) == [] and legacy.status & c.STATUS_FAILED


def test_the_whole_stack_unloads_clean() -> None:
    rng = VirtioRng(bytes(1024))
    k = boot(rng)
    for name in ("virtio_rng", "virtio_mmio", "virtio_ring", "virtio"):
        report = k.unload(name)
        assert report.clean, report
    assert not k.subsystem(Dma).ranges                                   # ring and buffers given back
    assert not [w for w in k.warnings if "hwrng" in w]                   # the rng's last reference went at unregister
    assert rng.status == c.STATUS_ACKNOWLEDGE


PCI_STACK = ("drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
             "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci.ko",
             "drivers/char/hw_random/virtio-rng.ko")


def test_virtio_pci_drives_the_same_model_over_the_pci_bus() -> None:
    from sandbox.devices.virtio import VirtioPci

    k = Kernel("linux")
    rng = VirtioRng(bytes(range(256)) * 8)
    function = k.pci.add(VirtioPci(rng))
    for path in PCI_STACK:
        k.load(ko(path))
    assert rng.status == 0x0F and rng.negotiated(c.F_VERSION_1)
    assert function.bus_master                                           # vp_modern_probe: pci_set_master
    assert [a.name for a in k.irqs.actions(function.irq)]                # no MSI-X: the shared INTx handler
    with k.open("/dev/hwrng", O_RDONLY) as f:
        assert f.read(512) == bytes(rng.produced[EARLY:EARLY + 512])
    for name in ("virtio_rng", "virtio_pci", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_ring", "virtio"):
        report = k.unload(name)
        assert report.clean, report
    assert not k.subsystem(Dma).ranges and not k.irqs.actions(function.irq)


def test_devices_added_after_the_drivers_and_removed_again() -> None:
    k = Kernel("linux")
    for path in STACK:
        k.load(ko(path))
    first = VirtioRng(bytes(range(256)) * 4)
    add_virtio_mmio(k.platform, first, irq=5)                            # hot-plugged: virtio_mmio probes now
    second = VirtioRng(bytes(range(255, -1, -1)) * 4, name="second")
    add_virtio_mmio(k.platform, second, irq=6)
    assert hwrng.available(k) == ["virtio_rng.0", "virtio_rng.1"] and hwrng.current_name(k) == "virtio_rng.0"
    k.platform.remove("virtio-mmio.0")                                   # unplugged: the other rng takes over
    assert hwrng.available(k) == ["virtio_rng.1"] and hwrng.current_name(k) == "virtio_rng.1"
    assert "virtio-rng" not in k.devices and first.transport is not None
    with k.open("/dev/hwrng", O_RDONLY) as f:
        # add_early_randomness ran twice on it: at registration (it has no init) and on becoming current
        assert f.read(64) == bytes(second.produced[2 * EARLY:2 * EARLY + 64])
