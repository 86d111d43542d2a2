"""Machine time: nanoseconds since boot and the periodic tick (HZ per second).

Time only moves when someone moves it: the host (``Kernel.tick``) or a
service that waits (``msleep``, ``udelay``). Each tick boundary crossed calls
``on_tick`` once, in order, which is how the kernel's timer interrupt (IRQ 0,
``jiffies``) is driven. Nothing depends on wall-clock time, so runs are
reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

HZ = 100
NS_PER_SECOND = 1_000_000_000


class Clock:
    """Monotonic emulated time with a tick every ``1/hz`` seconds."""

    def __init__(self, hz: int = HZ) -> None:
        self.hz = hz
        self.tick_ns = NS_PER_SECOND // hz
        self.ns = 0
        self.ticks = 0  # ticks delivered so far (the kernel's jiffies)
        self.on_tick: Callable[[], None] = lambda: None

    def advance_ns(self, ns: int) -> None:
        """Move time forward by ``ns``, delivering every tick crossed on the way."""
        target = self.ns + max(ns, 0)
        while (self.ticks + 1) * self.tick_ns <= target:
            self.ticks += 1
            self.ns = self.ticks * self.tick_ns
            self.on_tick()
        self.ns = max(self.ns, target)

    def advance_ticks(self, count: int) -> None:
        """Move time forward to ``count`` tick boundaries from the current tick."""
        self.advance_ns((self.ticks + count) * self.tick_ns - self.ns)
