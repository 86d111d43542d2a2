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
