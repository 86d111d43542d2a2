"""Kernel timers (kernel/time/timer.c) as Linux 6.1 exports them, on the kernel's one clock.

Linux 6.1 i386 ``struct timer_list`` (no lockdep): entry.next 0, entry.pprev
4, expires 8, function 12, flags 16 — the layout of the generic profile's
timer.h, so the armed set, the IRQ-0 hook that fires timers and the services
both kernels export alike (``mod_timer``, ``del_timer``, ``del_timer_sync``,
``timer_delete(_sync)``, ``get_jiffies_64``) are ``kernel_stubs/timer.py``'s.
Here are the services only Linux has, or where Linux is stricter
(``add_timer`` of a pending timer is a BUG). Timers fire as the clock's ticks
are delivered, whether msleep/udelay/schedule_timeout or the host's
``k.tick()``/``run_for()`` moved it, on the first jiffy at or after
``expires``, earliest first, in interrupt context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.timer import (  # noqa: F401 -- re-exported: the linux profile's services
    EXPIRES,
    FLAGS,
    FUNCTION,
    PPREV,
    Timers,
    _signed32,
    del_timer,
    del_timer_sync,
    disarm_timer,
    get_jiffies_64,
    mod_timer,
    timer_delete,
    timer_delete_sync,
)
from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def _jiffies(k: Kernel) -> int:
    """``jiffies`` as the module reads it from kernel data."""
    address = k.export_address("jiffies")
    return k.memory.read_u32(address) if address is not None else 0


@service("void init_timer_key(struct timer_list *timer, void (*func)(struct timer_list *), unsigned int flags, "
         "const char *name, struct lock_class_key *key)")
def init_timer_key(k: Kernel, timer: int, func: int, flags: int, name: int, key: int) -> None:
    """timer_setup(): not armed, calling ``func`` when it fires."""
    k.subsystem(Timers).disarm(k, timer)
    k.memory.write_u32(timer + PPREV, 0)
    k.memory.write_u32(timer + FUNCTION, func)
    k.memory.write_u32(timer + FLAGS, flags)


@service("int mod_timer_pending(struct timer_list *timer, unsigned long expires)")
def mod_timer_pending(k: Kernel, timer: int, expires: int) -> int:
    """Re-arm only a pending timer: 1 if it was pending."""
    timers = k.subsystem(Timers)
    return int(timers.arm(k, timer, expires)) if timer in timers.armed else 0


@service("int timer_reduce(struct timer_list *timer, unsigned long expires)")
def timer_reduce(k: Kernel, timer: int, expires: int) -> int:
    """Arm, or bring an armed timer's expiry earlier."""
    timers = k.subsystem(Timers)
    armed = timers.armed.get(timer)
    if armed is not None and _signed32(expires - armed.expires) >= 0:
        return 1
    return int(timers.arm(k, timer, expires))


@service("void add_timer(struct timer_list *timer)")
def add_timer(k: Kernel, timer: int) -> None:
    """Arm at ``timer->expires``; arming a pending timer is a BUG in Linux."""
    timers = k.subsystem(Timers)
    if timer in timers.armed:
        raise GuestFault("timer-error", f"add_timer of pending timer {k.symbolizer.short(timer)} at "
                         f"{k.symbolizer.short(k.current_caller)}", pc=k.current_caller, address=timer)
    timers.arm(k, timer, k.memory.read_u32(timer + EXPIRES))


@service("void add_timer_on(struct timer_list *timer, int cpu)")
def add_timer_on(k: Kernel, timer: int, cpu: int) -> None:
    """add_timer on a given CPU (there is one)."""
    add_timer(k, timer)


@service("int try_to_del_timer_sync(struct timer_list *timer)")
def try_to_del_timer_sync(k: Kernel, timer: int) -> int:
    """Disarm unless the callback is running: 1 if it was pending, 0 if not."""
    return disarm_timer(k, timer)


@service("int timer_shutdown(struct timer_list *timer)")
def timer_shutdown(k: Kernel, timer: int) -> int:
    """Disarm for good: the function is cleared so re-arming is refused."""
    result = disarm_timer(k, timer)
    k.memory.write_u32(timer + FUNCTION, 0)
    return result


@service("int timer_shutdown_sync(struct timer_list *timer)")
def timer_shutdown_sync(k: Kernel, timer: int) -> int:
    """timer_shutdown, waiting for a running callback (none here)."""
    return timer_shutdown(k, timer)
