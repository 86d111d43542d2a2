"""Restoring by dirty pages puts a kernel back byte for byte, like a fresh one."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from sandbox import Kernel
from sandbox.machine.dirty import DirtyPages

SET_NAME, AVERAGE, KEEP, SUM = ((1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4))


def memory_image(k: Kernel) -> dict[tuple[int, int, int], bytes]:
    return {(r.start, r.end, r.perms): bytes(k.cpu.uc.mem_read(r.start, r.end - r.start)) for r in k.memory.regions()}


def differing(a: dict[tuple[int, int, int], bytes], b: dict[tuple[int, int, int], bytes]) -> set[int]:
    """Addresses whose bytes differ (every region must exist in both)."""
    assert a.keys() == b.keys()
    return {key[0] + i for key in a if a[key] != b[key] for i, (x, y) in enumerate(zip(a[key], b[key])) if x != y}


def booted(path: Path, tracked: bool) -> Kernel:
    k = Kernel()
    if tracked:
        DirtyPages.attach(k.cpu)
    k.load(path)
    return k


def test_dirty_page_restore_equals_a_fresh_kernel(driver: Callable[..., Path]) -> None:
    k = booted(driver("buggy"), tracked=True)
    snap = k.snapshot()
    fresh = booted(driver("buggy"), tracked=False)
    # Each kernel draws its own random stack-protector canary (the per-CPU
    # word and __stack_chk_guard): the only bytes two fresh kernels differ in.
    random_bytes = differing(memory_image(k), memory_image(fresh))
    assert 0 < len(random_bytes) <= 8
    for round_ in range(3):
        f = k.open("/dev/buggy")
        # Dirty the heap, the module's data, the stacks; grow the heap by a new chunk; open more files.
        assert f.ioctl(SUM, struct.pack("<II56s", 3, 0, bytes([round_, 2, 3]))) == round_ + 5
        assert f.ioctl(KEEP, struct.pack("<II56s", 0, 7, b"")) == 0
        k.memory.alloc(3 << 20)
        k.open("/dev/buggy")
        assert k.cpu.dirty.pages  # type: ignore[union-attr]
        k.restore(snap)
        assert differing(memory_image(k), memory_image(fresh)) == random_bytes
        assert k.console == fresh.console
    # the restored kernel works like the fresh one
    g = k.open("/dev/buggy")
    assert g.ioctl(SUM, struct.pack("<II56s", 2, 0, b"\x05\x06")) == 11


def test_restore_copies_only_written_pages(driver: Callable[..., Path]) -> None:
    k = booted(driver("buggy"), tracked=True)
    snap = k.snapshot()
    f = k.open("/dev/buggy")
    dirty = k.cpu.dirty
    assert dirty is not None
    f.ioctl(SUM, struct.pack("<II56s", 1, 0, b"\x01"))
    written = dirty.pages - set(range(0xF0000000, 0xF0100000, 0x1000))
    assert 0 < len(written) < 8  # a heap page or two, the module's data page
    assert dirty.pages & set(range(0xF0000000, 0xF0100000, 0x1000))  # and the stack
    mapped = sum(r.end - r.start for r in k.memory.regions()) // 0x1000
    assert len(dirty.pages) < mapped // 20
    k.restore(snap)
    assert k.open("/dev/buggy").ioctl(SUM, struct.pack("<II56s", 1, 0, b"\x09")) == 9


def test_a_file_open_at_the_snapshot_is_open_again_with_its_session(driver: Callable[..., Path]) -> None:
    k = booted(driver("buggy"), tracked=True)
    f = k.open("/dev/buggy")
    ioctl = f.prepare_ioctl(64)  # the user buffer is mapped before the snapshot: part of it
    snap = k.snapshot()
    image = memory_image(k)
    for round_ in range(3):
        assert ioctl(SUM, struct.pack("<II", 2, 0) + bytes([round_, 4])) == round_ + 4
        assert k.memory.read(ioctl.buffer, 10) == struct.pack("<II", 2, 0) + bytes([round_, 4])
        assert f.close() == 0  # release frees the session ...
        k.open("/dev/buggy")  # ... and a file opened since the snapshot
        k.restore(snap)
        assert not f.closed  # ... comes back open, its session back in guest memory
        assert differing(memory_image(k), image) == set()
        assert k.device_nodes.open_files == {f}
    with k.open("/dev/buggy") as g:  # the kernel still opens files as before
        assert g.ioctl(SUM, struct.pack("<II56s", 1, 0, b"\x07")) == 7


def test_restore_puts_back_device_state_changed_in_a_case(driver: Callable[..., Path]) -> None:
    k = booted(driver("buggy"), tracked=True)
    uart = k.devices["com1"]
    snap = k.snapshot()
    scratch = uart.scr
    k.ports.write(0x3F8 + 7, 1, scratch ^ 0x5A)  # the 16550's scratch register, as a driver would write it
    assert uart.scr == scratch ^ 0x5A
    k.restore(snap)
    assert uart.scr == scratch  # changed: thawed from the snapshot
    k.restore(snap)
    assert uart.scr == scratch  # unchanged: the comparison skips the thaw, the state is the same


def test_a_mapping_made_in_a_case_is_gone_after_restore_and_later_restores_stay_by_pages(
        driver: Callable[..., Path]) -> None:
    k = booted(driver("buggy"), tracked=True)
    snap = k.snapshot()
    regions = [(r.start, r.end, r.perms) for r in k.memory.regions()]
    extra = k.memory.alloc(3 << 20)  # a new heap chunk: the mapped set changes
    k.memory.write(extra, b"case")
    k.restore(snap)
    assert [(r.start, r.end, r.perms) for r in k.memory.regions()] == regions
    assert snap.layout_version == k.memory.layout_version  # the next restore copies pages only
    f = k.open("/dev/buggy")
    f.ioctl(SUM, struct.pack("<II56s", 1, 0, b"\x01"))
    k.restore(snap)
    fresh = booted(driver("buggy"), tracked=False)
    assert len(differing(memory_image(k), memory_image(fresh))) <= 8  # the random canaries only


def test_a_block_freed_after_the_snapshot_is_live_again_with_no_free_site() -> None:
    k = Kernel(memcheck=True)
    block = k.memory.alloc(16)
    snap = k.snapshot()
    k.memory.free(block, site=0xD0001234)
    assert block in k.memory.heap.quarantine  # type: ignore[union-attr]
    k.restore(snap)
    live = k.memory.heap.blocks[block]  # type: ignore[union-attr]
    assert live.free_site == 0  # a report on it must not say "freed at" a later case's kfree
