"""Mutexes, raw spinlocks and wait queues as Linux 6.1 exports them.

Linux 6.1 with CONFIG_PREEMPT does not inline spin_lock(): modules call
``_raw_spin_lock`` and friends. One CPU and one task: taking a held lock is
the deadlock the machine would hang in, reported with both sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.irq import restore, save_and_disable
from kernel_stubs.spinlock import Locks, acquire, release, try_acquire
from sandbox.errors import GuestFault
from sandbox.machine.memory import W
from sandbox.services import service

from .lib import FAKE_TASK

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

# What mutex->owner holds while a mutex is taken: a stand-in task pointer.
CURRENT_TASK = FAKE_TASK


@service("void __raw_spin_lock_init(raw_spinlock_t *lock, const char *name, struct lock_class_key *key, short inner)")
def __raw_spin_lock_init(k: Kernel, lock: int, name: int, key: int, inner: int) -> None:
    """spin_lock_init() with lockdep."""
    k.memory.write_u32(lock, 0)
    k.subsystem(Locks).held.pop(lock, None)


@service("void _raw_spin_lock(raw_spinlock_t *lock)")
def _raw_spin_lock(k: Kernel, lock: int) -> None:
    """spin_lock()."""
    acquire(k, lock)


@service("void _raw_spin_lock_bh(raw_spinlock_t *lock)")
def _raw_spin_lock_bh(k: Kernel, lock: int) -> None:
    """spin_lock_bh()."""
    acquire(k, lock)


@service("void _raw_spin_unlock(raw_spinlock_t *lock)")
def _raw_spin_unlock(k: Kernel, lock: int) -> None:
    """spin_unlock()."""
    release(k, lock)


@service("void _raw_spin_unlock_bh(raw_spinlock_t *lock)")
def _raw_spin_unlock_bh(k: Kernel, lock: int) -> None:
    """spin_unlock_bh()."""
    release(k, lock)


@service("int _raw_spin_trylock(raw_spinlock_t *lock)")
def _raw_spin_trylock(k: Kernel, lock: int) -> int:
    """spin_trylock(): 1 if taken."""
    return try_acquire(k, lock)


@service("unsigned long _raw_spin_lock_irqsave(raw_spinlock_t *lock)")
def _raw_spin_lock_irqsave(k: Kernel, lock: int) -> int:
    """spin_lock_irqsave(): the saved flags are the return value."""
    flags = save_and_disable(k)
    acquire(k, lock)
    return flags


@service("void _raw_spin_unlock_irqrestore(raw_spinlock_t *lock, unsigned long flags)")
def _raw_spin_unlock_irqrestore(k: Kernel, lock: int, flags: int) -> None:
    """spin_unlock_irqrestore()."""
    release(k, lock)
    restore(k, flags)


@service("void _raw_spin_lock_irq(raw_spinlock_t *lock)")
def _raw_spin_lock_irq(k: Kernel, lock: int) -> None:
    """spin_lock_irq()."""
    save_and_disable(k)
    acquire(k, lock)


@service("void _raw_spin_unlock_irq(raw_spinlock_t *lock)")
def _raw_spin_unlock_irq(k: Kernel, lock: int) -> None:
    """spin_unlock_irq()."""
    release(k, lock)
    k.irqs_enabled = True


class Mutexes:
    """Which mutexes are held, and where they were taken."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Mutexes the module still holds."""
        leaks = []
        for lock, site in list(self.held.items()):
            if k.module_at(site) is module:
                leaks.append(f"mutex {k.symbolizer.short(lock)} still held (taken at {k.symbolizer.short(site)})")
                del self.held[lock]
        return leaks


@service("void __mutex_init(struct mutex *lock, const char *name, struct lock_class_key *key)")
def __mutex_init(k: Kernel, lock: int, name: int, key: int) -> None:
    """mutex_init(): owner 0, wait list empty (points at itself)."""
    # struct mutex (i386, no debug): atomic_long_t owner; raw_spinlock_t wait_lock;
    # struct optimistic_spin_queue osq; struct list_head wait_list.
    k.memory.check(lock, 20, W, "__mutex_init")
    k.memory.write(lock, bytes(12) + (lock + 12).to_bytes(4, "little") + (lock + 12).to_bytes(4, "little"))
    k.subsystem(Mutexes).held.pop(lock, None)


def _mutex_take(k: Kernel, lock: int) -> None:
    mutexes = k.subsystem(Mutexes)
    if lock in mutexes.held:
        raise GuestFault(
            "deadlock",
            f"mutex_lock of {k.symbolizer.short(lock)} at {k.symbolizer.short(k.current_caller)}: already held "
            f"(taken at {k.symbolizer.short(mutexes.held[lock])}); the only task would sleep forever",
            pc=k.current_caller, address=lock,
        )
    if k.cpu.in_irq:
        raise GuestFault("sleep-in-irq", f"mutex_lock at {k.symbolizer.short(k.current_caller)} in interrupt context",
                         pc=k.current_caller, address=lock)
    k.memory.write_u32(lock, CURRENT_TASK)
    mutexes.held[lock] = k.current_caller


@service("void mutex_lock(struct mutex *lock)")
def mutex_lock(k: Kernel, lock: int) -> None:
    """Take the mutex."""
    _mutex_take(k, lock)


@service("int mutex_lock_interruptible(struct mutex *lock)")
def mutex_lock_interruptible(k: Kernel, lock: int) -> int:
    """Take the mutex (no signals here): 0."""
    _mutex_take(k, lock)
    return 0


@service("int mutex_lock_killable(struct mutex *lock)")
def mutex_lock_killable(k: Kernel, lock: int) -> int:
    """Take the mutex: 0."""
    _mutex_take(k, lock)
    return 0


@service("int mutex_trylock(struct mutex *lock)")
def mutex_trylock(k: Kernel, lock: int) -> int:
    """1 if taken, 0 if already held."""
    if lock in k.subsystem(Mutexes).held:
        return 0
    _mutex_take(k, lock)
    return 1


@service("void mutex_unlock(struct mutex *lock)")
def mutex_unlock(k: Kernel, lock: int) -> None:
    """Release the mutex; releasing a free one is reported."""
    if k.subsystem(Mutexes).held.pop(lock, None) is None:
        raise GuestFault("lock-error", f"mutex_unlock of {k.symbolizer.short(lock)} at "
                         f"{k.symbolizer.short(k.current_caller)}: mutex is not held", pc=k.current_caller, address=lock)
    k.memory.write_u32(lock, 0)


@service("void __local_bh_enable_ip(unsigned long ip, unsigned int cnt)")
def __local_bh_enable_ip(k: Kernel, ip: int, cnt: int) -> None:
    """local_bh_enable(): undo the inline local_bh_disable's add of ``cnt`` to the preempt count."""
    address = k.export_address("__preempt_count")
    if address is not None:
        k.memory.write_u32(address, (k.memory.read_u32(address) - cnt) & 0xFFFFFFFF)


@service("void __init_swait_queue_head(struct swait_queue_head *q, const char *name, struct lock_class_key *key)")
def __init_swait_queue_head(k: Kernel, q: int, name: int, key: int) -> None:
    """A simple wait queue (raw_spinlock_t lock at 0, list_head task_list at 4): unlocked, empty list."""
    k.memory.write_u32(q, 0)
    k.memory.write_u32(q + 4, q + 4)
    k.memory.write_u32(q + 8, q + 4)
