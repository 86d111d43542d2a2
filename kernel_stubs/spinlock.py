"""Spinlocks on a uniprocessor: a second acquire is a deadlock, reported.

The lock word lives in guest memory (drivers may look at it); the kernel also
remembers who holds each lock, so a deadlock, a stray unlock and a lock still
held at unload can each be named with the sites involved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .irq import restore, save_and_disable

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


class Locks:
    """Which spinlocks are held, and where they were taken."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}  # lock address -> acquiring call site

    def clone(self) -> Locks:
        """A copy for snapshots."""
        twin = Locks()
        twin.held = dict(self.held)
        return twin

    def unbalanced(self, k: Kernel) -> list[str]:
        """Locks still held when control returns to the kernel (then released, to carry on)."""
        problems = [
            f"spinlock {k.symbolizer.short(lock)} still held (taken at {k.symbolizer.short(site)})"
            for lock, site in self.held.items()
        ]
        for lock in self.held:
            k.memory.write_raw(lock, bytes(4))
        self.held.clear()
        return problems

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Locks the module still holds (reported, then forgotten)."""
        leaks = []
        for lock, site in list(self.held.items()):
            owner = k.module_at(site)
            if owner is module:
                leaks.append(f"spinlock {k.symbolizer.short(lock)} still held (taken at {k.symbolizer.short(site)})")
                del self.held[lock]
        return leaks


def acquire(k: Kernel, lock: int) -> None:
    """Take ``lock`` or report the deadlock a uniprocessor would hang in."""
    locks = k.subsystem(Locks)
    if lock in locks.held:
        raise GuestFault(
            "deadlock",
            f"spin_lock of {k.symbolizer.short(lock)} at {k.symbolizer.short(k.current_caller)}: "
            f"already held (taken at {k.symbolizer.short(locks.held[lock])}); this CPU would spin forever",
            pc=k.current_caller, address=lock,
        )
    k.memory.write_u32(lock, 1)
    locks.held[lock] = k.current_caller


def release(k: Kernel, lock: int) -> None:
    """Drop ``lock``; unlocking a free lock is a bug, reported."""
    locks = k.subsystem(Locks)
    if locks.held.pop(lock, None) is None:
        raise GuestFault(
            "lock-error",
            f"spin_unlock of {k.symbolizer.short(lock)} at {k.symbolizer.short(k.current_caller)}: lock is not held",
            pc=k.current_caller, address=lock,
        )
    k.memory.write_u32(lock, 0)


def try_acquire(k: Kernel, lock: int) -> int:
    """spin_trylock semantics: take a free lock and return 1, else 0."""
    if lock in k.subsystem(Locks).held:
        return 0
    acquire(k, lock)
    return 1


@service("void spin_lock_init(spinlock_t *lock)")
def spin_lock_init(k: Kernel, lock: int) -> None:
    """Initialise a lock to unlocked."""
    k.memory.write_u32(lock, 0)
    k.subsystem(Locks).held.pop(lock, None)


@service("void spin_lock(spinlock_t *lock)")
def spin_lock(k: Kernel, lock: int) -> None:
    """Acquire."""
    acquire(k, lock)


@service("void spin_unlock(spinlock_t *lock)")
def spin_unlock(k: Kernel, lock: int) -> None:
    """Release."""
    release(k, lock)


@service("int spin_trylock(spinlock_t *lock)")
def spin_trylock(k: Kernel, lock: int) -> int:
    """Acquire if free: 1, else 0."""
    return try_acquire(k, lock)


@service("unsigned long _spin_lock_irqsave(spinlock_t *lock)")
def _spin_lock_irqsave(k: Kernel, lock: int) -> int:
    """Disable interrupts, acquire, and return the saved interrupt state."""
    flags = save_and_disable(k)
    acquire(k, lock)
    return flags


@service("void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)")
def spin_unlock_irqrestore(k: Kernel, lock: int, flags: int) -> None:
    """Release and restore the interrupt state."""
    release(k, lock)
    restore(k, flags)


@service("void spin_lock_irq(spinlock_t *lock)")
def spin_lock_irq(k: Kernel, lock: int) -> None:
    """Disable interrupts and acquire."""
    save_and_disable(k)
    acquire(k, lock)


@service("void spin_unlock_irq(spinlock_t *lock)")
def spin_unlock_irq(k: Kernel, lock: int) -> None:
    """Release and enable interrupts."""
    release(k, lock)
    k.irqs_enabled = True
