"""Kernel timers (kernel/time/timer.c) as Linux 6.1 exports them, on the linux profile's clock.

``struct timer_list`` (i386, no lockdep): entry.next 0, entry.pprev 4,
expires 8, function 12, flags 16. The kernel keeps the armed set and sets
``entry.pprev`` non-NULL while a timer is armed so the inline
``timer_pending()`` works. Timers fire when the linux clock moves
(``time.advance``: msleep, udelay, schedule_timeout, or the host calling
it) on the first jiffy at or after ``expires``, earliest first, in
interrupt context. A timer still armed when its module unloads is
disarmed and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

PPREV, EXPIRES, FUNCTION, FLAGS = 4, 8, 12, 16


@dataclass(slots=True)
class Armed:
    """One armed timer."""

    address: int
    function: int
    expires: int
    site: int
    order: int


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


class LinuxTimers:
    """The armed timers of one kernel."""

    def __init__(self) -> None:
        self.armed: dict[int, Armed] = {}
        self.order = 0
        self.running = False
        self.fired = 0

    def clone(self) -> LinuxTimers:
        """A copy for snapshots (Armed records are replaced, never changed)."""
        twin = LinuxTimers()
        twin.armed, twin.order, twin.fired = dict(self.armed), self.order, self.fired
        return twin

    def arm(self, k: Kernel, timer: int, expires: int) -> bool:
        """Arm or re-arm; True if it was armed before."""
        function = k.memory.read_u32(timer + FUNCTION)
        if not function:
            raise GuestFault("timer-error", f"timer {k.symbolizer.short(timer)} armed at "
                             f"{k.symbolizer.short(k.current_caller)} has no function (timer_setup missing, "
                             "or shut down)", pc=k.current_caller, address=timer)
        was = self.disarm(k, timer)
        self.order += 1
        self.armed[timer] = Armed(timer, function, expires & 0xFFFFFFFF, k.current_caller, self.order)
        k.memory.write_u32(timer + EXPIRES, expires & 0xFFFFFFFF)
        k.memory.write_u32(timer + PPREV, timer)  # non-NULL: timer_pending()
        return was

    def disarm(self, k: Kernel, timer: int) -> bool:
        """Disarm; True if it was armed."""
        if self.armed.pop(timer, None) is None:
            return False
        k.memory.write_u32(timer + PPREV, 0)
        return True

    def run_due(self, k: Kernel, now: int) -> None:
        """Fire the timers due at jiffies ``now`` (called as the clock moves)."""
        if self.running or k.cpu.in_irq or not k.irqs_enabled or not self.armed:
            # A callback that delays does not re-enter; with interrupts off or in
            # an interrupt the timer softirq waits for the next move of the clock.
            return
        self.running = True
        try:
            while True:
                due = [t for t in self.armed.values() if _signed(now - t.expires) >= 0]
                if not due:
                    return
                timer = min(due, key=lambda t: (_signed(t.expires - now), t.order))
                self.disarm(k, timer.address)
                self.fired += 1
                k.trace.add("timer", "fire", context="irq", depth=k.cpu.depth, fields={
                    "timer": k.symbolizer.short(timer.address), "function": k.symbolizer.short(timer.function),
                    "expires": timer.expires, "jiffies": now})
                k.call_function_pointer(timer.function, timer.address, context="irq")
        finally:
            self.running = False

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Timers still armed whose callback or struct is in ``module``."""
        leaks = []
        for timer in list(self.armed.values()):
            if k.module_at(timer.function) is module or k.module_at(timer.address) is module:
                leaks.append(f"timer {k.symbolizer.short(timer.address)} still armed (function "
                             f"{k.symbolizer.short(timer.function)}, armed at {k.symbolizer.short(timer.site)})")
                self.disarm(k, timer.address)
        return leaks


def _jiffies(k: Kernel) -> int:
    address = k.export_address("jiffies")
    return k.memory.read_u32(address) if address is not None else 0


@service("void init_timer_key(struct timer_list *timer, void (*func)(struct timer_list *), unsigned int flags, "
         "const char *name, struct lock_class_key *key)")
def init_timer_key(k: Kernel, timer: int, func: int, flags: int, name: int, key: int) -> None:
    """timer_setup(): not armed, calling ``func`` when it fires."""
    k.subsystem(LinuxTimers).disarm(k, timer)
    k.memory.write_u32(timer + PPREV, 0)
    k.memory.write_u32(timer + FUNCTION, func)
    k.memory.write_u32(timer + FLAGS, flags)


@service("int mod_timer(struct timer_list *timer, unsigned long expires)")
def mod_timer(k: Kernel, timer: int, expires: int) -> int:
    """(Re)arm for ``expires``: 1 if it was pending."""
    return int(k.subsystem(LinuxTimers).arm(k, timer, expires))


@service("int mod_timer_pending(struct timer_list *timer, unsigned long expires)")
def mod_timer_pending(k: Kernel, timer: int, expires: int) -> int:
    """Re-arm only a pending timer: 1 if it was pending."""
    timers = k.subsystem(LinuxTimers)
    return int(timers.arm(k, timer, expires)) if timer in timers.armed else 0


@service("int timer_reduce(struct timer_list *timer, unsigned long expires)")
def timer_reduce(k: Kernel, timer: int, expires: int) -> int:
    """Arm, or bring an armed timer's expiry earlier."""
    timers = k.subsystem(LinuxTimers)
    armed = timers.armed.get(timer)
    if armed is not None and _signed(expires - armed.expires) >= 0:
        return 1
    return int(timers.arm(k, timer, expires))


@service("void add_timer(struct timer_list *timer)")
def add_timer(k: Kernel, timer: int) -> None:
    """Arm at ``timer->expires``; arming a pending timer is a BUG in Linux."""
    timers = k.subsystem(LinuxTimers)
    if timer in timers.armed:
        raise GuestFault("timer-error", f"add_timer of pending timer {k.symbolizer.short(timer)} at "
                         f"{k.symbolizer.short(k.current_caller)}", pc=k.current_caller, address=timer)
    timers.arm(k, timer, k.memory.read_u32(timer + EXPIRES))


@service("void add_timer_on(struct timer_list *timer, int cpu)")
def add_timer_on(k: Kernel, timer: int, cpu: int) -> None:
    """add_timer on a given CPU (there is one)."""
    add_timer(k, timer)


def _delete(k: Kernel, timer: int) -> int:
    return int(k.subsystem(LinuxTimers).disarm(k, timer))


@service("int del_timer(struct timer_list *timer)")
def del_timer(k: Kernel, timer: int) -> int:
    """Disarm: 1 if it was pending."""
    return _delete(k, timer)


@service("int del_timer_sync(struct timer_list *timer)")
def del_timer_sync(k: Kernel, timer: int) -> int:
    """Disarm and wait for a running callback (none can run concurrently here)."""
    return _delete(k, timer)


@service("int try_to_del_timer_sync(struct timer_list *timer)")
def try_to_del_timer_sync(k: Kernel, timer: int) -> int:
    """Disarm unless the callback is running: 1 if it was pending, 0 if not."""
    return _delete(k, timer)


@service("int timer_delete(struct timer_list *timer)")
def timer_delete(k: Kernel, timer: int) -> int:
    """The newer name of del_timer (backported to Debian's 6.1)."""
    return _delete(k, timer)


@service("int timer_delete_sync(struct timer_list *timer)")
def timer_delete_sync(k: Kernel, timer: int) -> int:
    """The newer name of del_timer_sync."""
    return _delete(k, timer)


@service("int timer_shutdown(struct timer_list *timer)")
def timer_shutdown(k: Kernel, timer: int) -> int:
    """Disarm for good: the function is cleared so re-arming is refused."""
    result = _delete(k, timer)
    k.memory.write_u32(timer + FUNCTION, 0)
    return result


@service("int timer_shutdown_sync(struct timer_list *timer)")
def timer_shutdown_sync(k: Kernel, timer: int) -> int:
    """timer_shutdown, waiting for a running callback (none here)."""
    return timer_shutdown(k, timer)
