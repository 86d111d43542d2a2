"""Completions (kernel/sched/completion.c): ``struct completion { unsigned int done; struct swait_queue_head wait; }``.

There is one task here, so a waiter cannot block while others run: waiting
advances the world instead (:func:`.waits.sleep_until`) — the clock moves to
the next tick something waits for (timers, delayed work, IRQ 0 handlers),
delivering it, and RCU callbacks, tasklets and work run, until ``done`` is
non-zero or the timeout passes. A wait that nothing pending can
ever satisfy is a :class:`ServiceError` naming the waiter and the
completion, not a hang.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .waits import sleep_until, waiter

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

UINT_MAX = 0xFFFFFFFF
MAX_SCHEDULE_TIMEOUT = 0x7FFFFFFF


def _done(k: Kernel, x: int) -> int:
    return k.memory.read_u32(x)


def wait(k: Kernel, x: int, timeout: int | None, what: str, result: int | None = None) -> int:
    """Wait for ``x``: the ticks left (at least 1) once done, 0 after ``timeout`` ticks (None: no limit);
    ``result`` instead, when given, once the wait is over.

    The task sleeps as every sleeper does (:func:`.waits.sleep_until`): ticks,
    RCU callbacks, tasklets, work and kthreads run until ``done`` is non-zero.
    """

    def consume(left: int) -> int:
        if left:
            done = _done(k, x)
            if done != UINT_MAX:  # complete_all leaves it done for everyone
                k.memory.write_u32(x, done - 1)
        return left if result is None else result

    return sleep_until(k, lambda: _done(k, x) != 0, timeout,
                       lambda: f"{what}({k.symbolizer.short(x)}) from {waiter(k)}", consume)


@service("void complete(struct completion *x)")
def complete(k: Kernel, x: int) -> None:
    """One waiter (now or later) may go on."""
    done = _done(k, x)
    if done != UINT_MAX:
        k.memory.write_u32(x, done + 1)


@service("void complete_all(struct completion *x)")
def complete_all(k: Kernel, x: int) -> None:
    """Every waiter, now and later, may go on (until reinit_completion)."""
    k.memory.write_u32(x, UINT_MAX)


@service("bool completion_done(struct completion *x)")
def completion_done(k: Kernel, x: int) -> int:
    """Whether a wait would not sleep."""
    return int(_done(k, x) != 0)


@service("bool try_wait_for_completion(struct completion *x)")
def try_wait_for_completion(k: Kernel, x: int) -> int:
    """Consume a completion without waiting: 1 if there was one."""
    done = _done(k, x)
    if not done:
        return 0
    if done != UINT_MAX:
        k.memory.write_u32(x, done - 1)
    return 1


@service("void wait_for_completion(struct completion *x)")
def wait_for_completion(k: Kernel, x: int) -> None:
    """Wait until ``x`` is completed, advancing the world; an endless wait is an error naming the waiter."""
    wait(k, x, None, "wait_for_completion")


@service("unsigned long wait_for_completion_timeout(struct completion *x, unsigned long timeout)")
def wait_for_completion_timeout(k: Kernel, x: int, timeout: int) -> int:
    """Wait at most ``timeout`` jiffies: the jiffies left (>= 1) if completed, 0 if timed out."""
    return wait(k, x, None if timeout >= MAX_SCHEDULE_TIMEOUT else timeout, "wait_for_completion_timeout")


@service("int wait_for_completion_interruptible(struct completion *x)")
def wait_for_completion_interruptible(k: Kernel, x: int) -> int:
    """As wait_for_completion (no signals arrive here): 0."""
    return wait(k, x, None, "wait_for_completion_interruptible", result=0)


@service("long wait_for_completion_interruptible_timeout(struct completion *x, unsigned long timeout)")
def wait_for_completion_interruptible_timeout(k: Kernel, x: int, timeout: int) -> int:
    """As wait_for_completion_timeout (no signals arrive here)."""
    return wait(k, x, None if timeout >= MAX_SCHEDULE_TIMEOUT else timeout, "wait_for_completion_interruptible_timeout")


@service("long wait_for_completion_killable_timeout(struct completion *x, unsigned long timeout)")
def wait_for_completion_killable_timeout(k: Kernel, x: int, timeout: int) -> int:
    """As wait_for_completion_timeout (nothing kills the task here)."""
    return wait(k, x, None if timeout >= MAX_SCHEDULE_TIMEOUT else timeout, "wait_for_completion_killable_timeout")


@service("int wait_for_completion_killable(struct completion *x)")
def wait_for_completion_killable(k: Kernel, x: int) -> int:
    """As wait_for_completion (nothing kills the task here): 0 once completed."""
    wait(k, x, None, "wait_for_completion_killable")
    return 0
