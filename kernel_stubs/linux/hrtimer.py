"""High-resolution timers as Linux 6.1 runs them on a machine in low-resolution mode.

``struct hrtimer`` (40 bytes on i386) lives in guest memory: ``node.expires``
and ``_softexpires`` hold the expiry (ktime, ns on the timer's clock),
``function`` the callback, ``state`` bit 0 says "enqueued" (the inline
``hrtimer_is_queued`` reads it). Without a high-resolution clock event
device Linux expires hrtimers from the tick (``hrtimer_run_queues``), which
is what happens here: on each tick the timers whose expiry has passed fire,
earliest first, in softirq or hard-IRQ context as the mode says; a callback
returning ``HRTIMER_RESTART`` is queued again at the expiry it set
(``hrtimer_forward``). CLOCK_MONOTONIC and CLOCK_BOOTTIME are the kernel's
clock, CLOCK_REALTIME and CLOCK_TAI add the wall-clock offsets of
:mod:`.time`; relative modes add the clock's now.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .layout import Fields, size
from .time import REALTIME_AT_BOOT_NS

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI = 0, 1, 7, 11
HRTIMER_MODE_REL, HRTIMER_MODE_PINNED, HRTIMER_MODE_SOFT, HRTIMER_MODE_HARD = 0x01, 0x02, 0x04, 0x08
HRTIMER_NORESTART, HRTIMER_RESTART = 0, 1
HRTIMER_STATE_ENQUEUED = 0x01
TAI_OFFSET_NS = 37 * 1_000_000_000
KTIME_MAX = (1 << 63) - 1
HRTIMER_SIZE = size("hrtimer")
_HOOKED: weakref.WeakSet[Kernel] = weakref.WeakSet()  # kernels whose tick runs hrtimers (see timer.py)


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def clock_now(k: Kernel, clock: int) -> int:
    """Now on ``clock``, in ns."""
    if clock == CLOCK_REALTIME:
        return REALTIME_AT_BOOT_NS + k.clock.ns
    if clock == CLOCK_TAI:
        return REALTIME_AT_BOOT_NS + TAI_OFFSET_NS + k.clock.ns
    return k.clock.ns


@dataclass(slots=True)
class HrTimer:
    """A timer the kernel knows: its clock and mode from hrtimer_init, where it was armed."""

    address: int
    clock: int
    mode: int
    site: int = 0
    order: int = 0


class HrTimers:
    """The initialized and the queued hrtimers of one kernel."""

    def __init__(self) -> None:
        self.known: dict[int, HrTimer] = {}
        self.queued: dict[int, int] = {}  # address -> arming order
        self.running: int = 0  # the timer whose callback runs now
        self._order = 0

    def clone(self) -> HrTimers:
        twin = HrTimers()
        twin.known = {a: HrTimer(t.address, t.clock, t.mode, t.site, t.order) for a, t in self.known.items()}
        twin.queued, twin.running, twin._order = dict(self.queued), self.running, self._order
        return twin

    @staticmethod
    def attach(k: Kernel) -> None:
        """Run hrtimers from IRQ 0 the first time a driver of ``k`` arms one."""
        k = k.service_context
        if k not in _HOOKED:
            _HOOKED.add(k)
            k.add_irq_hook(0, lambda: k.subsystem(HrTimers).run_due(k), due=lambda: k.subsystem(HrTimers).next_due(k))

    def expiry(self, k: Kernel, address: int) -> int:
        return _signed64(Fields(k.memory, "hrtimer", address)["node.expires"])

    def enqueue(self, k: Kernel, record: HrTimer, expires: int) -> None:
        fields = Fields(k.memory, "hrtimer", record.address)
        fields["node.expires"] = expires
        fields["_softexpires"] = expires
        fields["state"] = fields["state"] | HRTIMER_STATE_ENQUEUED
        self._order += 1
        record.order = self._order
        self.queued[record.address] = self._order
        self.attach(k)

    def dequeue(self, k: Kernel, address: int) -> bool:
        if self.queued.pop(address, None) is None:
            return False
        fields = Fields(k.memory, "hrtimer", address)
        fields["state"] = fields["state"] & ~HRTIMER_STATE_ENQUEUED
        return True

    def next_due(self, k: Kernel) -> int | None:
        """The tick at which the earliest queued timer expires; None if none is queued."""
        if not self.queued or self.running:
            return None
        tick = k.clock.tick_ns
        soonest = None
        for address in self.queued:
            record = self.known[address]
            left = self.expiry(k, address) - clock_now(k, record.clock)
            due = k.clock.ticks + max(1, -(-left // tick))
            soonest = due if soonest is None else min(soonest, due)
        return soonest

    def run_due(self, k: Kernel) -> None:
        """hrtimer_run_queues: fire each expired timer, earliest first, restarting those that ask."""
        if self.running:
            return
        last = self._order
        while True:
            expired = [(self.expiry(k, a) - clock_now(k, self.known[a].clock), order, a)
                       for a, order in self.queued.items() if order <= last
                       and self.expiry(k, a) <= clock_now(k, self.known[a].clock)]
            if not expired:
                return
            _, _, address = min(expired)
            record = self.known[address]
            self.dequeue(k, address)
            function = Fields(k.memory, "hrtimer", address)["function"]
            if not function:
                raise GuestFault("timer-error", f"hrtimer {k.symbolizer.short(address)} expired with no function",
                                 pc=record.site, address=address)
            self.running = address
            context = "irq" if record.mode & HRTIMER_MODE_HARD else "softirq"
            k.trace.add("timer", "hrtimer", context=context, depth=k.cpu.depth, fields={
                "timer": k.symbolizer.short(address), "function": k.symbolizer.short(function)})
            try:
                result = k.call_function_pointer(function, address, context="irq")
            finally:
                self.running = 0
            if result == HRTIMER_RESTART and address not in self.queued:
                self.enqueue(k, record, self.expiry(k, address))  # the callback forwarded node.expires

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """hrtimers still queued whose struct or callback is in the module: cancelled and reported."""
        leaks = []
        for address in list(self.queued):
            function = Fields(k.memory, "hrtimer", address)["function"]
            if k.module_at(address) is module or k.module_at(function) is module:
                leaks.append(f"hrtimer {k.symbolizer.short(address)} still queued (function "
                             f"{k.symbolizer.short(function)}, armed at {k.symbolizer.short(self.known[address].site)})")
                self.dequeue(k, address)
        for address in [a for a in self.known if k.module_at(a) is module]:
            del self.known[address]
        return leaks


def _timers(k: Kernel) -> HrTimers:
    return k.subsystem(HrTimers)


@service("void hrtimer_init(struct hrtimer *timer, clockid_t which_clock, enum hrtimer_mode mode)")
def hrtimer_init(k: Kernel, timer: int, which_clock: int, mode: int) -> None:
    """Zero the timer and bind it to a clock (CLOCK_MONOTONIC, _REALTIME, _BOOTTIME, _TAI)."""
    timers = _timers(k)
    timers.dequeue(k, timer)
    k.memory.write(timer, bytes(HRTIMER_SIZE))
    fields = Fields(k.memory, "hrtimer", timer)
    fields["is_rel"] = 1 if mode & HRTIMER_MODE_REL else 0
    fields["is_soft"] = 1 if mode & HRTIMER_MODE_SOFT else 0
    fields["is_hard"] = 1 if mode & HRTIMER_MODE_HARD else 0
    timers.known[timer] = HrTimer(timer, which_clock, mode, k.current_caller)


def _record(k: Kernel, timer: int) -> HrTimer:
    record = _timers(k).known.get(timer)
    if record is None:
        raise GuestFault("timer-error", f"hrtimer {k.symbolizer.short(timer)} used at "
                         f"{k.symbolizer.short(k.current_caller)} without hrtimer_init", pc=k.current_caller,
                         address=timer)
    return record


@service("void hrtimer_start_range_ns(struct hrtimer *timer, ktime_t tim, u64 range_ns, "
         "const enum hrtimer_mode mode)")
def hrtimer_start_range_ns(k: Kernel, timer: int, tim: int, range_ns: int, mode: int) -> None:
    """(Re)queue the timer at ``tim`` (absolute, or from now with a relative mode); the slack is not used."""
    record = _record(k, timer)
    timers = _timers(k)
    timers.dequeue(k, timer)
    expires = _signed64(tim)
    if mode & HRTIMER_MODE_REL:
        expires = min(KTIME_MAX, clock_now(k, record.clock) + max(expires, 0))
    record.mode = (record.mode & (HRTIMER_MODE_SOFT | HRTIMER_MODE_HARD)) | (mode & ~HRTIMER_MODE_REL)
    record.site = k.current_caller
    timers.enqueue(k, record, expires)


@service("int hrtimer_try_to_cancel(struct hrtimer *timer)")
def hrtimer_try_to_cancel(k: Kernel, timer: int) -> int:
    """1 if it was queued (and now is not), 0 if it was not, -1 if its callback is running."""
    timers = _timers(k)
    if timers.running == timer:
        return -1
    return 1 if timers.dequeue(k, timer) else 0


@service("int hrtimer_cancel(struct hrtimer *timer)")
def hrtimer_cancel(k: Kernel, timer: int) -> int:
    """Cancel and wait for a running callback (one CPU: none can be running elsewhere); 1 if it was queued."""
    return 1 if _timers(k).dequeue(k, timer) else 0


@service("bool hrtimer_active(const struct hrtimer *timer)")
def hrtimer_active(k: Kernel, timer: int) -> int:
    """Queued, or its callback running."""
    timers = _timers(k)
    return int(timer in timers.queued or timers.running == timer)


@service("u64 hrtimer_forward(struct hrtimer *timer, ktime_t now, ktime_t interval)")
def hrtimer_forward(k: Kernel, timer: int, now: int, interval: int) -> int:
    """Move the expiry past ``now`` in steps of ``interval``; how many steps (overruns)."""
    fields = Fields(k.memory, "hrtimer", timer)
    expires, now, interval = _signed64(fields["node.expires"]), _signed64(now), _signed64(interval)
    delta = now - expires
    if delta < 0 or interval <= 0:
        return 0
    overruns = delta // interval + 1
    expires += overruns * interval
    fields["node.expires"] = expires
    fields["_softexpires"] = expires
    return overruns


@service("ktime_t __hrtimer_get_remaining(const struct hrtimer *timer, bool adjust)")
def __hrtimer_get_remaining(k: Kernel, timer: int, adjust: int) -> int:
    """Expiry minus now on the timer's clock (negative once it has passed)."""
    record = _record(k, timer)
    return (_timers(k).expiry(k, timer) - clock_now(k, record.clock)) & ((1 << 64) - 1)

