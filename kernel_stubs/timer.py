"""jiffies, kernel timers and the waits that move emulated time.

Timers live in guest memory (``struct timer_list``, kernel_stubs/include/
timer.h, the same layout as Linux 6.1 i386: entry.next 0, entry.pprev 4,
expires 8, function 12, flags 16); the kernel keeps which ones are armed and
sets ``entry.pprev`` non-NULL while a timer is armed so the inline
``timer_pending()`` works. :class:`Timers` is shared with the linux profile
(``kernel_stubs/linux/timers.py`` adds Linux's own services on top).

They are run by a kernel hook on IRQ 0, so they fire as the kernel's one
clock delivers ticks: from ``Kernel.tick`` / ``run_for`` on the host, or from
``msleep``/``udelay`` (Linux: ``schedule_timeout``, ...) while a driver
waits. Each fires on the first tick at or after its ``expires`` (wrap-safe),
earliest first, in interrupt context (IRQ stack), with interrupts enabled as
in a Linux softirq. A timer still armed when its module unloads is reported
as a leak.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.interrupts import TIMER_IRQ
from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

jiffies = kernel_variable("jiffies", 4, 0)
jiffies_64 = kernel_variable("jiffies_64", 8, 0)

# struct timer_list field offsets (timer.h; Linux 6.1 i386 without lockdep):
# entry.next, entry.pprev, expires, function, flags
PPREV, EXPIRES, FUNCTION, FLAGS = 4, 8, 12, 16
NS_PER_US = 1000
# __const_udelay's argument is usecs * 0x10C7 (2**32 / 10**6, rounded up): Linux's udelay macro.
UDELAY_MULT = 0x10C7

# Kernels whose IRQ 0 runs the timers. Kept apart from the Timers state, which
# snapshots copy and restore: the hook belongs to the kernel and must neither be
# lost nor added twice when a snapshot from before the first timer is restored.
_HOOKED: weakref.WeakSet[Kernel] = weakref.WeakSet()


@dataclass(slots=True)
class Timer:
    """An armed timer: where it lives, what it calls, when, who armed it."""

    address: int
    function: int
    expires: int
    site: int  # call site of the mod_timer/add_timer that armed it
    order: int  # arming order, to fire timers due on the same tick in order


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def now_jiffies(k: Kernel) -> int:
    """The 32-bit jiffies of the kernel's clock (what timers' ``expires`` compare with)."""
    return k.clock.jiffies & 0xFFFFFFFF


class Timers:
    """The armed timers of one kernel, run from the tick."""

    def __init__(self) -> None:
        self.armed: dict[int, Timer] = {}
        self.fired = 0
        self.running = False  # a callback is running (the timer softirq does not re-enter)
        self._order = 0

    def clone(self) -> Timers:
        """A copy for snapshots (Timer records are replaced, never changed)."""
        twin = Timers()
        twin.armed, twin.fired, twin._order = dict(self.armed), self.fired, self._order
        return twin

    @staticmethod
    def attach(k: Kernel) -> None:
        """Hook IRQ 0 the first time a driver of ``k`` uses a timer."""
        k = k.service_context  # one key per kernel, whether a service or the host asks
        if k not in _HOOKED:
            _HOOKED.add(k)
            k.add_irq_hook(TIMER_IRQ, lambda: k.subsystem(Timers).run_due(k),
                           due=lambda: k.subsystem(Timers).next_due(k))

    def arm(self, k: Kernel, address: int, expires: int) -> bool:
        """Arm (or re-arm) the timer at ``address``; True if it was armed already."""
        function = k.memory.read_u32(address + FUNCTION)
        if function == 0:
            raise GuestFault("timer-error", f"timer {k.symbolizer.short(address)} armed at "
                             f"{k.symbolizer.short(k.current_caller)} has no function (timer_setup missing, "
                             "or shut down)", pc=k.current_caller, address=address)
        self.attach(k)
        was_armed = self.disarm(k, address)
        self._order += 1
        self.armed[address] = Timer(address, function, expires & 0xFFFFFFFF, k.current_caller, self._order)
        k.memory.write_u32(address + EXPIRES, expires & 0xFFFFFFFF)
        k.memory.write_u32(address + PPREV, address)  # non-NULL: timer_pending() reads it
        return was_armed

    def disarm(self, k: Kernel, address: int) -> bool:
        """Disarm; True if it was armed."""
        if self.armed.pop(address, None) is None:
            return False
        k.memory.write_u32(address + PPREV, 0)
        return True

    def next_due(self, k: Kernel) -> int | None:
        """The tick (``clock.ticks``) at which the next timer falls due; None if none
        can fire (none armed, or a callback is running: its caller fires the rest)."""
        if not self.armed or self.running:
            return None
        now = now_jiffies(k)
        soonest = min(_signed32(t.expires - now) for t in self.armed.values())
        return k.clock.ticks + max(soonest, 1)

    def run_due(self, k: Kernel) -> None:
        """Fire every armed timer whose expiry has come, earliest first (IRQ 0's hook).

        A callback that waits moves the clock, and the ticks it crosses are
        delivered; timers falling due meanwhile fire here after it returns,
        not nested inside it, as Linux's timer softirq does not re-enter.
        """
        if self.running:
            return
        self.running = True
        # Only timers armed before this run: one a callback re-arms for "now"
        # fires on the next tick, as Linux adds it to a later wheel bucket.
        last_order = self._order
        try:
            while True:
                now = now_jiffies(k)
                due = [t for t in self.armed.values()
                       if t.order <= last_order and _signed32(now - t.expires) >= 0]
                if not due:
                    return
                timer = min(due, key=lambda t: (_signed32(t.expires - now), t.order))
                self.disarm(k, timer.address)
                self.fired += 1
                k.trace.add("timer", "fire", context="irq", depth=k.cpu.depth, fields={
                    "timer": k.symbolizer.short(timer.address), "function": k.symbolizer.short(timer.function),
                    "expires": timer.expires, "jiffies": now,
                })
                k.call_function_pointer(timer.function, timer.address, context="irq")
        finally:
            self.running = False

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Timers still armed whose callback or struct is in ``module``: disarmed and reported."""
        leaks = []
        for timer in list(self.armed.values()):
            if k.module_at(timer.function) is module or k.module_at(timer.address) is module:
                leaks.append(f"timer {k.symbolizer.short(timer.address)} still armed (function "
                             f"{k.symbolizer.short(timer.function)}, expires at jiffies {timer.expires}, "
                             f"armed at {k.symbolizer.short(timer.site)})")
                self.disarm(k, timer.address)
        return leaks


# -- timers ----------------------------------------------------------------
@service("void timer_setup(struct timer_list *timer, void (*callback)(struct timer_list *), unsigned int flags)")
def timer_setup(k: Kernel, timer: int, callback: int, flags: int) -> None:
    """Initialise a timer: not armed, calling ``callback`` when it fires."""
    k.subsystem(Timers).disarm(k, timer)
    k.memory.write(timer, bytes(20))
    k.memory.write_u32(timer + FUNCTION, callback)
    k.memory.write_u32(timer + FLAGS, flags)


@service("int mod_timer(struct timer_list *timer, unsigned long expires)")
def mod_timer(k: Kernel, timer: int, expires: int) -> int:
    """Arm the timer to fire at jiffies ``expires``; 1 if it was armed, else 0."""
    return int(k.subsystem(Timers).arm(k, timer, expires))


@service("void add_timer(struct timer_list *timer)")
def add_timer(k: Kernel, timer: int) -> None:
    """Arm the timer at its ``expires`` field."""
    k.subsystem(Timers).arm(k, timer, k.memory.read_u32(timer + EXPIRES))


def disarm_timer(k: Kernel, timer: int) -> int:
    """What every del_timer flavour does: disarm; 1 if it was armed, else 0."""
    return int(k.subsystem(Timers).disarm(k, timer))


@service("int del_timer(struct timer_list *timer)")
def del_timer(k: Kernel, timer: int) -> int:
    """Disarm; 1 if it was armed, else 0."""
    return disarm_timer(k, timer)


@service("int del_timer_sync(struct timer_list *timer)")
def del_timer_sync(k: Kernel, timer: int) -> int:
    """Disarm (one CPU: a callback is never running concurrently)."""
    return disarm_timer(k, timer)


@service("int timer_delete(struct timer_list *timer)")
def timer_delete(k: Kernel, timer: int) -> int:
    """Newer name of del_timer."""
    return disarm_timer(k, timer)


@service("int timer_delete_sync(struct timer_list *timer)")
def timer_delete_sync(k: Kernel, timer: int) -> int:
    """Newer name of del_timer_sync."""
    return disarm_timer(k, timer)


@service("u64 get_jiffies_64(void)")
def get_jiffies_64(k: Kernel) -> int:
    """The 64-bit jiffies count (``jiffies_64`` as the clock has it)."""
    return k.clock.jiffies


# -- waiting -----------------------------------------------------------------
def _note_atomic_sleep(k: Kernel, what: str) -> None:
    """Sleeping with interrupts off or in an interrupt is a bug Linux reports as such."""
    if k.cpu.in_irq or not k.irqs_enabled:
        k.trace.add("note", "sleep-in-atomic", caller=k.current_caller, fields={
            "warning": f"{what} called from {'interrupt' if k.cpu.in_irq else 'interrupts-off'} context "
                       f"at {k.symbolizer.short(k.current_caller)} (BUG: scheduling while atomic)"})


def _sleep_ticks(k: Kernel, msecs: int) -> int:
    return (msecs + 1000 // k.clock.hz - 1) // (1000 // k.clock.hz)


@service("void msleep(unsigned int msecs)")
def msleep(k: Kernel, msecs: int) -> None:
    """Sleep: advance time by msecs_to_jiffies(msecs) whole ticks, running what falls due."""
    _note_atomic_sleep(k, "msleep")
    k.tick(_sleep_ticks(k, msecs))


@service("unsigned long msleep_interruptible(unsigned int msecs)")
def msleep_interruptible(k: Kernel, msecs: int) -> int:
    """msleep; no signal ever interrupts it here, so 0 ms remain."""
    msleep(k, msecs)
    return 0


@service("void usleep_range(unsigned long min, unsigned long max)")
def usleep_range(k: Kernel, low: int, high: int) -> None:
    """Sleep ``min`` microseconds (the shortest the caller allows)."""
    _note_atomic_sleep(k, "usleep_range")
    k.advance_time(low * NS_PER_US)


@service("void udelay(unsigned long usecs)")
def udelay(k: Kernel, usecs: int) -> None:
    """Busy-wait: time advances exactly ``usecs``; fine with interrupts off."""
    k.advance_time(usecs * NS_PER_US)


@service("void ndelay(unsigned long nsecs)")
def ndelay(k: Kernel, nsecs: int) -> None:
    """Busy-wait ``nsecs``."""
    k.advance_time(nsecs)


@service("void mdelay(unsigned long msecs)")
def mdelay(k: Kernel, msecs: int) -> None:
    """Busy-wait ``msecs`` milliseconds."""
    k.advance_time(msecs * 1000 * NS_PER_US)


@service("void __const_udelay(unsigned long xloops)")
def __const_udelay(k: Kernel, xloops: int) -> None:
    """What Linux's udelay(n) macro calls with n * 0x10C7."""
    k.advance_time(-(-xloops // UDELAY_MULT) * NS_PER_US)
