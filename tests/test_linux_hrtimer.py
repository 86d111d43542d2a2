"""High-resolution timers from the tick, as Linux 6.1 in low-resolution mode: a compiled driver.

``drivers/linux/hrtick.c`` runs a 3 ms periodic timer that forwards itself
with hrtimer_forward and a one-shot timer 10 ms out in absolute mode.
With HZ=250 (4 ms ticks) the periodic one fires on every tick and counts
the periods it missed; the one-shot fires on the first tick at or after its
expiry.
"""

from __future__ import annotations

import pytest

from sandbox import Kernel

PERIOD, TICK = 3_000_000, 4_000_000


def _read(k: Kernel, name: str, width: int = 4) -> int:
    return int.from_bytes(k.memory.read(k.module("hrtick").address_of(name), width), "little")


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
def test_periodic_timer_fires_each_tick_and_forwards(built, toolchain: str) -> None:
    k = Kernel("linux")
    start = k.clock.ns
    k.load(built[(toolchain, "linux", "hrtick")])
    assert k.module("hrtick").call("hrtick_queued") == 1
    ticks_before = k.clock.ticks
    k.advance_time(100_000_000)
    crossed = k.clock.ticks - ticks_before
    assert _read(k, "ticks") == crossed  # a 3 ms period is shorter than a tick: one expiry per tick
    overruns = _read(k, "overruns", 8)
    next_expiry = start + PERIOD * (1 + overruns)
    assert k.clock.ns < next_expiry <= k.clock.ns + PERIOD + TICK
    assert k.module("hrtick").call("hrtick_stop") == 1 and k.module("hrtick").call("hrtick_queued") == 0
    fired = _read(k, "ticks")
    k.advance_time(20_000_000)
    assert _read(k, "ticks") == fired  # cancelled: no more callbacks


def test_one_shot_absolute_timer(built) -> None:
    k = Kernel("linux")
    k.load(built[("gcc", "linux", "hrtick")])
    m = k.module("hrtick")
    start = k.clock.ns
    remaining = m.call("oneshot_remaining", returns="s64")
    assert 0 < remaining <= 10_000_000
    assert m.call("oneshot_queued") == 1
    k.advance_time(8_000_000)
    assert _read(k, "oneshot_fired") == 0
    k.advance_time(8_000_000)
    assert _read(k, "oneshot_fired") == 1 and m.call("oneshot_queued") == 0
    fired_at = _read(k, "oneshot_at", 8)
    assert start + 8_000_000 < fired_at <= start + 16_000_000 and fired_at % TICK == 0
    events = [e.fields["function"] for e in k.trace.of_kind("timer") if e.name == "hrtimer"]
    assert "hrtick:oneshot_fn" in events


def test_unloading_with_a_queued_timer_is_a_leak(built) -> None:
    k = Kernel("linux")
    m = k.load(built[("gcc", "linux", "hrtick")])
    k.memory.write(m.address_of("forget_to_cancel"), b"\1\0\0\0")
    report = k.unload(m)
    assert len(report.leaks) == 2 and all("still queued" in leak for leak in report.leaks)
    assert "hrtimer hrtick:periodic still queued (function hrtick:periodic_fn" in report.leaks[0]
    k.advance_time(20_000_000)  # nothing fires into the unloaded module
