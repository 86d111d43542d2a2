"""Machine time: nanoseconds since boot and the periodic tick (HZ per second).

Time only moves when someone moves it: the host (``Kernel.tick``) or a
service that waits (``msleep``, ``udelay``). Each tick boundary crossed calls
``on_tick`` once, in order, which is how the kernel's timer interrupt (IRQ 0,
``jiffies``) is driven. Nothing depends on wall-clock time, so runs are
reproducible.

The profile says how fast the tick is (``hz``) and what ``jiffies`` reads at
boot (``initial_jiffies``: Linux starts 5 minutes before the 32-bit wrap so
that wrap bugs show early). ``ticks`` counts ticks since boot; ``jiffies`` is
the 64-bit count the kernel exports (``initial_jiffies + ticks``).
"""

from __future__ import annotations

from collections.abc import Callable

HZ = 100  # the generic profiles' tick rate
NS_PER_SECOND = 1_000_000_000
JIFFIES64_MASK = (1 << 64) - 1


class Clock:
    """Monotonic emulated time with a tick every ``1/hz`` seconds."""

    def __init__(self, hz: int = HZ, initial_jiffies: int = 0) -> None:
        self.hz = hz
        self.tick_ns = NS_PER_SECOND // hz
        self.initial_jiffies = initial_jiffies & JIFFIES64_MASK
        self.ns = 0
        self.ticks = 0  # ticks delivered so far since boot
        self.on_tick: Callable[[], None] = lambda: None
        # The tick (counted since boot) at which something next has work, or
        # None if nothing waits. Ticks before it are passed in one step, so a
        # long sleep (schedule_timeout(MAX_SCHEDULE_TIMEOUT)) is not billions
        # of deliveries. By default every tick is delivered.
        self.next_due: Callable[[], int | None] = lambda: self.ticks + 1

    @property
    def jiffies(self) -> int:
        """The 64-bit jiffies count: ``initial_jiffies`` plus the ticks since boot."""
        return (self.initial_jiffies + self.ticks) & JIFFIES64_MASK

    def advance_ns(self, ns: int) -> None:
        """Move time forward by ``ns``, delivering the ticks crossed on the way.

        Every tick someone waits for (``next_due``) is delivered on its own;
        a run of ticks nobody waits for is delivered as its last tick.
        """
        target = self.ns + max(ns, 0)
        last = target // self.tick_ns
        while self.ticks < last:
            due = self.next_due()
            step = last if due is None or due > last else max(due, self.ticks + 1)
            self.ticks = step
            self.ns = step * self.tick_ns
            self.on_tick()
        self.ns = max(self.ns, target)

    def save(self) -> tuple[int, int]:
        """The time, for :meth:`restore`."""
        return self.ns, self.ticks

    def restore(self, state: tuple[int, int]) -> None:
        """Go back to a saved time (snapshots only: time never runs backwards otherwise)."""
        self.ns, self.ticks = state

    def advance_ticks(self, count: int) -> None:
        """Move time forward to ``count`` tick boundaries from the current tick."""
        self.advance_ns((self.ticks + count) * self.tick_ns - self.ns)
