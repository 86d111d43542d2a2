"""Systematic fault injection at an entry point: every distinct failing call stack, once."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from sandbox import Kernel
from sandbox.faultinject import explore_failures

STATS = (1 << 30) | (64 << 16) | (ord("b") << 8) | 5


def stats_ioctl(k: Kernel) -> None:
    f = k.open("/dev/buggy")
    assert f.ioctl(STATS, struct.pack("<II56s", 4, 0, b"\x01\x02\x02\x03")) in (2, -12, -14)
    f.close()


def test_each_failure_point_of_an_ioctl_is_tried_once_and_classified(driver: Callable[..., Path]) -> None:
    k = Kernel(memcheck=True)
    k.load(driver("buggy"))
    points = explore_failures(k, stats_ioctl)
    # (service, function) -> outcomes in the order of the call sites in that function
    found: dict[tuple[str, str], list[str]] = {}
    for p in sorted(points, key=lambda p: (p.stack[0].split("+")[0], int(p.stack[0].split("+")[1], 16))):
        found.setdefault((p.service, p.stack[0].split("+")[0]), []).append(p.outcome)
    assert found == {
        ("kzalloc", "buggy:buggy_open"): ["handled"],  # open returns -ENOMEM
        ("kmalloc", "buggy:buggy_open"): ["handled"],  # frees the session, -ENOMEM
        ("copy_from_user", "buggy:buggy_ioctl"): ["handled"],  # -EFAULT
        ("kzalloc", "buggy:buggy_stats"): ["handled"],
        # the planted leak of the histogram, then the unchecked third allocation
        ("kmalloc", "buggy:buggy_stats"): ["leaked", "crashed"],
    }, found
    leak = next(p for p in points if p.outcome == "leaked")
    assert "allocated at buggy:buggy_stats+0x14" in leak.leaks[0]
    crash = next(p for p in points if p.outcome == "crashed")
    assert crash.detail.startswith("NULL pointer dereference: write of 4 bytes")
    # the kernel is back where it was: the ioctl works and nothing is injected
    stats_ioctl(k)
    assert not k.injections.plan
