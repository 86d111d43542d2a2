"""RCU (kernel/rcu), Linux 6.1 with CONFIG_PREEMPT_RCU, on one CPU with one task.

``rcu_read_lock()`` calls ``__rcu_read_lock``, which counts read-side
nesting. A grace period ends when no reader is inside a read-side section,
so on this machine deferred frees (``kfree_rcu`` → ``kvfree_call_rcu``)
happen as soon as the nesting count is zero. ``call_rcu`` callbacks run in
softirq context in Linux at some later point: here at ``rcu_barrier``,
``synchronize_rcu``, or when the task sleeps. Callbacks still pending when
their module unloads are reported: the module should have called
``rcu_barrier()`` in its exit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .memory import release

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


class Rcu:
    """Read-side nesting, queued callbacks and deferred frees."""

    def __init__(self) -> None:
        self.nesting = 0
        self.callbacks: list[tuple[int, int]] = []  # (rcu_head, func)
        self.frees: list[int] = []  # blocks to free once no reader remains

    def clone(self) -> Rcu:
        """A copy for snapshots."""
        twin = Rcu()
        twin.nesting, twin.callbacks, twin.frees = self.nesting, list(self.callbacks), list(self.frees)
        return twin

    def unbalanced(self, k: Kernel) -> list[str]:
        """A top-level call that returned inside a read-side section: reported, and the count reset."""
        if self.nesting <= 0:
            return []
        problem = [f"rcu_read_lock() nesting {self.nesting} left at the end of the call"]
        self.nesting = 0
        return problem

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Callbacks into the module still waiting for a grace period."""
        leaks = []
        for head, func in list(self.callbacks):
            if k.module_at(func) is module:
                leaks.append(f"call_rcu callback {k.symbolizer.short(func)} for {k.symbolizer.short(head)} still pending "
                             "(rcu_barrier() missing in exit)")
                self.callbacks.remove((head, func))
        return leaks


def grace_period(k: Kernel) -> None:
    """Free what waits for readers to finish, if none is reading."""
    rcu = k.subsystem(Rcu)
    if rcu.nesting == 0:
        frees, rcu.frees = rcu.frees, []
        for block in frees:
            release(k, block)


def run_callbacks(k: Kernel) -> int:
    """Run queued call_rcu callbacks (in softirq context), oldest first; returns how many ran."""
    rcu = k.subsystem(Rcu)
    if rcu.nesting or k.cpu.in_irq:
        return 0
    ran = 0
    while rcu.callbacks:
        head, func = rcu.callbacks.pop(0)
        k.call_function_pointer(func, head, context="irq")
        ran += 1
    grace_period(k)
    return ran


@service("void __rcu_read_lock(void)")
def __rcu_read_lock(k: Kernel) -> None:
    """Enter a read-side critical section."""
    k.subsystem(Rcu).nesting += 1


@service("void __rcu_read_unlock(void)")
def __rcu_read_unlock(k: Kernel) -> None:
    """Leave it; the outermost unlock ends the grace period on this CPU."""
    rcu = k.subsystem(Rcu)
    if rcu.nesting <= 0:
        k.warn(f"rcu_read_unlock() without rcu_read_lock() at {k.symbolizer.short(k.current_caller)}")
        return
    rcu.nesting -= 1
    grace_period(k)


@service("void call_rcu(struct rcu_head *head, rcu_callback_t func)")
def call_rcu(k: Kernel, head: int, func: int) -> None:
    """Run ``func(head)`` after a grace period."""
    k.subsystem(Rcu).callbacks.append((head, func))


@service("void kvfree_call_rcu(struct rcu_head *head, rcu_callback_t func)")
def kvfree_call_rcu(k: Kernel, head: int, func: int) -> None:
    """kfree_rcu(): ``func`` is the rcu_head's offset in the object (or, head NULL, the object)."""
    block = head - func if head else func
    k.subsystem(Rcu).frees.append(block)
    grace_period(k)


@service("void synchronize_rcu(void)")
def synchronize_rcu(k: Kernel) -> None:
    """Wait for a grace period: callbacks queued so far may run."""
    run_callbacks(k)


@service("void synchronize_rcu_expedited(void)")
def synchronize_rcu_expedited(k: Kernel) -> None:
    """synchronize_rcu, faster in Linux; the same here."""
    run_callbacks(k)


@service("void rcu_barrier(void)")
def rcu_barrier(k: Kernel) -> None:
    """Wait until every queued callback has run."""
    run_callbacks(k)
