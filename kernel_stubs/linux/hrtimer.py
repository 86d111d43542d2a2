"""High-resolution timers (kernel/time/hrtimer.c) as Linux 6.1 exports them, on the tick.

The sandbox's clock delivers time tick by tick, so hrtimers run as on a
Linux without high-resolution mode: ``hrtimer_resolution`` is one tick
(4 ms at HZ=250) and an hrtimer fires on the first tick at or after its
expiry, in interrupt context, earliest first; ``ktime_get()`` inside the
callback is the tick's time. ``struct hrtimer`` keeps Linux's layout
(generated table): ``node.expires`` and ``_softexpires`` hold the expiry,
``state`` HRTIMER_STATE_ENQUEUED while armed, ``base`` points at a
``struct hrtimer_clock_base`` whose ``get_time`` is the clock's service, so
the inline ``hrtimer_cb_get_time`` / ``hrtimer_get_expires`` /
``hrtimer_is_queued`` work. A callback returning HRTIMER_RESTART after
moving the expiry (``hrtimer_forward``) is queued again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate
from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service

from .layout import Fields, size
from .time import NSEC_PER_JIFFY, realtime_ns

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

HRTIMER_MODE_REL = 0x1
HRTIMER_STATE_INACTIVE, HRTIMER_STATE_ENQUEUED = 0, 1
HRTIMER_NORESTART, HRTIMER_RESTART = 0, 1
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI = 0, 1, 7, 11
KTIME_MAX = (1 << 63) - 1
MAX_FIRES = 100_000  # expiries one tick may run: a callback that never moves its expiry is a bug

hrtimer_resolution = kernel_variable("hrtimer_resolution", 4, NSEC_PER_JIFFY)


def _s64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


@dataclass
class HrTimers:
    """The armed hrtimers (guest addresses), the clock bases, and the one whose callback runs."""

    armed: set[int] = field(default_factory=set)
    bases: dict[int, int] = field(default_factory=dict)  # clockid -> struct hrtimer_clock_base
    running: int = 0

    def boot(self, k: Kernel) -> None:
        """Expiries are ticks something waits for; each tick runs the expired timers."""
        k.add_irq_hook(0, lambda: run_expired(k), due=lambda: self.next_due(k))

    def next_due(self, k: Kernel) -> int | None:
        """The tick at which the earliest armed timer expires (its clock's offset from the
        monotonic one taken out), or None."""
        if not self.armed:
            return None
        ticks = []
        for t in self.armed:
            mono = _expires(k, t) - (_now(k, _clockid(k, t, self)) - k.clock.ns)
            ticks.append(-(-mono // k.clock.tick_ns))
        return max(k.clock.ticks + 1, min(ticks))

    def clone(self) -> HrTimers:
        """A copy for snapshots."""
        return HrTimers(set(self.armed), dict(self.bases), 0)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Timers of ``module`` still armed at unload: reported and disarmed."""
        leaks = []
        for t in sorted(self.armed):
            fn = Fields(k.memory, "hrtimer", t)["function"]
            if k.module_at(t) is module or k.module_at(fn) is module:
                leaks.append(f"hrtimer {k.symbolizer.short(t)} ({k.symbolizer.short(fn)}) still armed")
                self.armed.discard(t)
                Fields(k.memory, "hrtimer", t)["state"] = HRTIMER_STATE_INACTIVE
        return leaks


def _now(k: Kernel, clockid: int) -> int:
    if clockid == CLOCK_REALTIME:
        return realtime_ns(k)
    if clockid == CLOCK_TAI:
        return realtime_ns(k) + 37 * 1_000_000_000
    return k.clock.ns


def _expires(k: Kernel, t: int) -> int:
    return _s64(Fields(k.memory, "hrtimer", t)["node.expires"])


def _clockid(k: Kernel, t: int, state: HrTimers) -> int:
    base = Fields(k.memory, "hrtimer", t)["base"]
    return next((c for c, b in state.bases.items() if b == base), CLOCK_MONOTONIC)


def _base(k: Kernel, state: HrTimers, clockid: int) -> int:
    if clockid not in state.bases:
        base = allocate(k, size("hrtimer_clock_base"), owner="kernel")
        k.memory.write(base, bytes(size("hrtimer_clock_base")))
        b = Fields(k.memory, "hrtimer_clock_base", base)
        b["clockid"] = clockid
        b["index"] = len(state.bases)
        getter = "ktime_get_real" if clockid == CLOCK_REALTIME else "ktime_get"
        b["get_time"] = k.export_address(getter) or 0
        state.bases[clockid] = base
    return state.bases[clockid]


@service("u64 ktime_get_real(void)")
def ktime_get_real(k: Kernel) -> int:
    """CLOCK_REALTIME in ns: what a CLOCK_REALTIME hrtimer base's get_time returns."""
    return realtime_ns(k)


@service("void hrtimer_init(struct hrtimer *timer, clockid_t clock_id, enum hrtimer_mode mode)")
def hrtimer_init(k: Kernel, timer: int, clock_id: int, mode: int) -> None:
    """A zeroed, inactive timer on ``clock_id``'s base (BOOTTIME/TAI/REALTIME/MONOTONIC)."""
    state = k.subsystem(HrTimers)
    state.armed.discard(timer)
    k.memory.write(timer, bytes(size("hrtimer")))
    t = Fields(k.memory, "hrtimer", timer)
    t["base"] = _base(k, state, clock_id)
    t["is_soft"] = int(bool(mode & 0x4))
    t["is_hard"] = int(bool(mode & 0x8))
    node = timer  # RB_CLEAR_NODE: the node's parent is itself
    k.memory.write_u32(node, node)


@service("void hrtimer_start_range_ns(struct hrtimer *timer, ktime_t tim, u64 range_ns, const enum hrtimer_mode mode)")
def hrtimer_start_range_ns(k: Kernel, timer: int, tim: int, range_ns: int, mode: int) -> None:
    """(Re)arm: expiry ``tim`` (relative to now with HRTIMER_MODE_REL), soft expiry at ``tim``,
    hard at ``tim + range_ns``."""
    state = k.subsystem(HrTimers)
    t = Fields(k.memory, "hrtimer", timer)
    tim = _s64(tim)
    if mode & HRTIMER_MODE_REL:
        tim += _now(k, _clockid(k, timer, state))
    soft = min(tim, KTIME_MAX)
    t["_softexpires"] = soft & ((1 << 64) - 1)
    t["node.expires"] = min(soft + range_ns, KTIME_MAX) & ((1 << 64) - 1)
    t["is_rel"] = int(bool(mode & HRTIMER_MODE_REL))
    t["state"] = HRTIMER_STATE_ENQUEUED
    state.armed.add(timer)


@service("int hrtimer_try_to_cancel(struct hrtimer *timer)")
def hrtimer_try_to_cancel(k: Kernel, timer: int) -> int:
    """Disarm: 1 if it was armed, 0 if not, -1 if its callback is running now."""
    state = k.subsystem(HrTimers)
    if state.running == timer:
        return -1
    if timer in state.armed:
        state.armed.discard(timer)
        Fields(k.memory, "hrtimer", timer)["state"] = HRTIMER_STATE_INACTIVE
        return 1
    return 0


@service("int hrtimer_cancel(struct hrtimer *timer)")
def hrtimer_cancel(k: Kernel, timer: int) -> int:
    """Disarm and wait for a running callback: 1 if it was armed. Called from the callback itself
    it would wait forever (Linux deadlocks): an error naming the timer."""
    result = hrtimer_try_to_cancel(k, timer)
    if result < 0:
        raise GuestFault("deadlock", f"hrtimer_cancel({k.symbolizer.short(timer)}) from its own callback "
                         f"{k.symbolizer.short(k.current_caller)} waits forever", pc=k.current_caller, address=timer)
    return result


@service("bool hrtimer_active(const struct hrtimer *timer)")
def hrtimer_active(k: Kernel, timer: int) -> int:
    """Armed, or its callback is running."""
    state = k.subsystem(HrTimers)
    return int(timer in state.armed or state.running == timer)


@service("u64 hrtimer_forward(struct hrtimer *timer, ktime_t now, ktime_t interval)")
def hrtimer_forward(k: Kernel, timer: int, now: int, interval: int) -> int:
    """Move the expiry past ``now`` in steps of ``interval``: how many steps (overruns); 0 if it
    had not expired yet (or is armed: Linux's WARN)."""
    t = Fields(k.memory, "hrtimer", timer)
    now, interval = _s64(now), _s64(interval)
    delta = now - _s64(t["node.expires"])
    if delta < 0:
        return 0
    if timer in k.subsystem(HrTimers).armed:
        k.warn(f"hrtimer_forward of the armed {k.symbolizer.short(timer)} at {k.symbolizer.short(k.current_caller)}")
        return 0
    interval = max(interval, NSEC_PER_JIFFY)

    def add(ns: int) -> None:  # hrtimer_add_expires_ns(): both expiries move
        t["node.expires"] = (_s64(t["node.expires"]) + ns) & ((1 << 64) - 1)
        t["_softexpires"] = (_s64(t["_softexpires"]) + ns) & ((1 << 64) - 1)

    overruns = 1
    if delta >= interval:
        overruns = delta // interval
        add(interval * overruns)
        if _s64(t["node.expires"]) > now:
            return overruns
        overruns += 1
    add(interval)
    return overruns


@service("ktime_t __hrtimer_get_remaining(const struct hrtimer *timer, bool adjust)")
def __hrtimer_get_remaining(k: Kernel, timer: int, adjust: int) -> int:
    """Expiry minus now, on the timer's clock (negative once passed)."""
    state = k.subsystem(HrTimers)
    return (_expires(k, timer) - _now(k, _clockid(k, timer, state))) & ((1 << 64) - 1)


def run_expired(k: Kernel) -> int:
    """On the tick: run every armed timer whose expiry has come, earliest first; a callback that
    returns HRTIMER_RESTART is armed again at its (moved) expiry. How many ran."""
    state = k.subsystem(HrTimers)
    for ran in range(MAX_FIRES):
        due = [t for t in state.armed if _expires(k, t) <= _now(k, _clockid(k, t, state))]
        if not due:
            return ran
        timer = min(due, key=lambda t: (_expires(k, t), t))
        t = Fields(k.memory, "hrtimer", timer)
        state.armed.discard(timer)
        t["state"] = HRTIMER_STATE_INACTIVE
        state.running = timer
        k.trace.add("note", "hrtimer", fields={"timer": k.symbolizer.short(timer),
                                               "function": k.symbolizer.short(t["function"])})
        try:
            restart = k.call_function_pointer(t["function"], timer, context="irq")
        finally:
            state.running = 0
        if restart != HRTIMER_NORESTART and not t["state"] & HRTIMER_STATE_ENQUEUED:
            t["state"] = HRTIMER_STATE_ENQUEUED
            state.armed.add(timer)
    raise GuestFault("hrtimer-storm", f"{MAX_FIRES} hrtimer expiries in one tick: a callback restarts without "
                     "moving its expiry forward")
