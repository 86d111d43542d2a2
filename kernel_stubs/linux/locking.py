"""Mutexes, raw spinlocks and wait queues as Linux 6.1 exports them.

Linux 6.1 with CONFIG_PREEMPT does not inline spin_lock(): modules call
``_raw_spin_lock`` and friends. One CPU and one task: taking a held lock is
the deadlock the machine would hang in, reported with both sites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kernel_stubs.irq import restore, save_and_disable
from kernel_stubs.spinlock import Locks, acquire, release, try_acquire
from sandbox.errors import GuestFault
from sandbox.machine.memory import W
from sandbox.services import service

from .layout import Fields, offset, size
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


# -- rw_semaphores, semaphores and rwlocks, with contention among the cooperative tasks ---------
# struct rw_semaphore (generated layout): count (RWSEM_WRITER_LOCKED bit 0, readers counted from
# bit 8), owner (the writer's task, or the last reader's task | RWSEM_READER_OWNED), wait_list.
RWSEM_WRITER_LOCKED, RWSEM_READER_BIAS, RWSEM_READER_OWNED = 1, 1 << 8, 1
EINTR, ETIME = 4, 62


def _current(k: Kernel) -> int:
    return k.memory.read_u32(k.export_address("current_task"))


def _block_until(k: Kernel, free: Callable[[], bool], what: str, take: Callable[[int], int],
                 timeout: int | None = None, holder: int = 0) -> int:
    """Sleep until ``free()`` (another task releases), then ``take``; a wait on oneself is a deadlock."""
    from .waits import sleep_until, waiter

    if holder and holder == _current(k):
        raise GuestFault("deadlock", f"{what} at {k.symbolizer.short(k.current_caller)}: already held by this "
                         "task; it would sleep forever", pc=k.current_caller)
    if k.cpu.in_irq:
        raise GuestFault("sleep-in-irq", f"{what} at {k.symbolizer.short(k.current_caller)} in interrupt context",
                         pc=k.current_caller)
    return sleep_until(k, free, timeout, lambda: f"{what} from {waiter(k)}", then=take)


def _rwsem(k: Kernel, sem: int) -> Fields:
    return Fields(k.memory, "rw_semaphore", sem)


@service("void __init_rwsem(struct rw_semaphore *sem, const char *name, struct lock_class_key *key)")
def __init_rwsem(k: Kernel, sem: int, name: int, key: int) -> None:
    """init_rwsem(): unlocked, no owner, empty wait list."""
    k.memory.write(sem, bytes(size("rw_semaphore")))
    wait = sem + offset("rw_semaphore", "wait_list")
    k.memory.write_u32(wait, wait)
    k.memory.write_u32(wait + 4, wait)


def _read_free(k: Kernel, sem: int) -> bool:
    return not _rwsem(k, sem)["count"] & RWSEM_WRITER_LOCKED


def _write_free(k: Kernel, sem: int) -> bool:
    return _rwsem(k, sem)["count"] == 0


def _take_read(k: Kernel, sem: int) -> int:
    s = _rwsem(k, sem)
    s["count"] = s["count"] + RWSEM_READER_BIAS
    s["owner"] = _current(k) | RWSEM_READER_OWNED
    return 0


def _take_write(k: Kernel, sem: int) -> int:
    s = _rwsem(k, sem)
    s["count"] = s["count"] | RWSEM_WRITER_LOCKED
    s["owner"] = _current(k)
    return 0


def _writer(k: Kernel, sem: int) -> int:
    s = _rwsem(k, sem)
    return s["owner"] if s["count"] & RWSEM_WRITER_LOCKED else 0


def _down_read(k: Kernel, sem: int, what: str, result: int = 0) -> int:
    if _read_free(k, sem):
        _take_read(k, sem)
        return result
    return _block_until(k, lambda: _read_free(k, sem), f"{what}({k.symbolizer.short(sem)})",
                        lambda _: _take_read(k, sem) or result, holder=_writer(k, sem))


def _down_write(k: Kernel, sem: int, what: str, result: int = 0) -> int:
    if _write_free(k, sem):
        _take_write(k, sem)
        return result
    s = _rwsem(k, sem)
    holder = _writer(k, sem) or (s["owner"] & ~RWSEM_READER_OWNED if s["count"] == RWSEM_READER_BIAS else 0)
    return _block_until(k, lambda: _write_free(k, sem), f"{what}({k.symbolizer.short(sem)})",
                        lambda _: _take_write(k, sem) or result, holder=holder)


@service("void down_read(struct rw_semaphore *sem)")
def down_read(k: Kernel, sem: int) -> None:
    """Take for reading; sleeps while a writer (another task) holds it."""
    _down_read(k, sem, "down_read")


@service("int down_read_killable(struct rw_semaphore *sem)")
def down_read_killable(k: Kernel, sem: int) -> int:
    """down_read(): 0 (nothing kills the task here)."""
    return _down_read(k, sem, "down_read_killable")


@service("int down_read_interruptible(struct rw_semaphore *sem)")
def down_read_interruptible(k: Kernel, sem: int) -> int:
    """down_read(): 0 (no signals arrive here)."""
    return _down_read(k, sem, "down_read_interruptible")


@service("int down_read_trylock(struct rw_semaphore *sem)")
def down_read_trylock(k: Kernel, sem: int) -> int:
    """1 if taken for reading (no writer), else 0."""
    if not _read_free(k, sem):
        return 0
    _take_read(k, sem)
    return 1


@service("void down_write(struct rw_semaphore *sem)")
def down_write(k: Kernel, sem: int) -> None:
    """Take for writing; sleeps while other tasks hold it."""
    _down_write(k, sem, "down_write")


@service("int down_write_killable(struct rw_semaphore *sem)")
def down_write_killable(k: Kernel, sem: int) -> int:
    """down_write(): 0."""
    return _down_write(k, sem, "down_write_killable")


@service("int down_write_trylock(struct rw_semaphore *sem)")
def down_write_trylock(k: Kernel, sem: int) -> int:
    """1 if taken for writing (nobody held it), else 0."""
    if not _write_free(k, sem):
        return 0
    _take_write(k, sem)
    return 1


@service("void up_read(struct rw_semaphore *sem)")
def up_read(k: Kernel, sem: int) -> None:
    """Release a read hold; one more up_read than down_read is reported."""
    s = _rwsem(k, sem)
    if s["count"] < RWSEM_READER_BIAS:
        raise GuestFault("lock-error", f"up_read of {k.symbolizer.short(sem)} at {k.symbolizer.short(k.current_caller)}"
                         ": not held for reading", pc=k.current_caller, address=sem)
    s["count"] = s["count"] - RWSEM_READER_BIAS
    if s["count"] < RWSEM_READER_BIAS:
        s["owner"] = s["owner"] & RWSEM_READER_OWNED  # rwsem_clear_reader_owned keeps only the flag bits


@service("void up_write(struct rw_semaphore *sem)")
def up_write(k: Kernel, sem: int) -> None:
    """Release the write hold (by its owner: another task's is reported)."""
    s = _rwsem(k, sem)
    if not s["count"] & RWSEM_WRITER_LOCKED:
        raise GuestFault("lock-error", f"up_write of {k.symbolizer.short(sem)} at "
                         f"{k.symbolizer.short(k.current_caller)}: not held for writing", pc=k.current_caller, address=sem)
    s["owner"] = 0
    s["count"] = s["count"] & ~RWSEM_WRITER_LOCKED


@service("void downgrade_write(struct rw_semaphore *sem)")
def downgrade_write(k: Kernel, sem: int) -> None:
    """The writer keeps the semaphore as a reader (other readers may join)."""
    s = _rwsem(k, sem)
    s["count"] = (s["count"] & ~RWSEM_WRITER_LOCKED) + RWSEM_READER_BIAS
    s["owner"] = _current(k) | RWSEM_READER_OWNED


# struct semaphore: raw_spinlock_t lock, unsigned int count, struct list_head wait_list (generated layout).
def _sem_count(k: Kernel, sem: int) -> int:
    return k.memory.read_u32(sem + offset("semaphore", "count"))


def _sem_take(k: Kernel, sem: int, result: int) -> int:
    k.memory.write_u32(sem + offset("semaphore", "count"), _sem_count(k, sem) - 1)
    return result


def _down(k: Kernel, sem: int, what: str, timeout: int | None = None) -> int:
    if _sem_count(k, sem) > 0:
        return _sem_take(k, sem, 0)
    return _block_until(k, lambda: _sem_count(k, sem) > 0, f"{what}({k.symbolizer.short(sem)})",
                        lambda left: _sem_take(k, sem, 0) if left or _sem_count(k, sem) > 0 else -ETIME, timeout)


@service("void down(struct semaphore *sem)")
def down(k: Kernel, sem: int) -> None:
    """Take one count; sleeps until another task's up() if none is left."""
    _down(k, sem, "down")


@service("int down_interruptible(struct semaphore *sem)")
def down_interruptible(k: Kernel, sem: int) -> int:
    """down(): 0 (no signals arrive here)."""
    return _down(k, sem, "down_interruptible")


@service("int down_killable(struct semaphore *sem)")
def down_killable(k: Kernel, sem: int) -> int:
    """down(): 0."""
    return _down(k, sem, "down_killable")


@service("int down_trylock(struct semaphore *sem)")
def down_trylock(k: Kernel, sem: int) -> int:
    """0 if a count was taken, 1 if none was left (note: the reverse of mutex_trylock)."""
    if _sem_count(k, sem) > 0:
        return _sem_take(k, sem, 0)
    return 1


@service("int down_timeout(struct semaphore *sem, long timeout)")
def down_timeout(k: Kernel, sem: int, timeout: int) -> int:
    """down() for at most ``timeout`` jiffies: 0, or -ETIME."""
    return _down(k, sem, "down_timeout", max(timeout, 0))


@service("void up(struct semaphore *sem)")
def up(k: Kernel, sem: int) -> None:
    """Give a count back (a sleeper in down() then takes it)."""
    k.memory.write_u32(sem + offset("semaphore", "count"), _sem_count(k, sem) + 1)


# rwlock_t (struct qrwlock): cnts (writer 0xff in the low byte, readers counted from bit 9), wait_lock.
QW_LOCKED, QR_BIAS = 0xFF, 1 << 9


def _rwlock(k: Kernel, lock: int, write: bool, what: str) -> None:
    cnts = k.memory.read_u32(lock)
    if (write and cnts) or (not write and cnts & QW_LOCKED):
        raise GuestFault("deadlock", f"{what} of {k.symbolizer.short(lock)} at {k.symbolizer.short(k.current_caller)}: "
                         f"held ({'a writer' if cnts & QW_LOCKED else f'{cnts >> 9} reader(s)'}); the only CPU "
                         "would spin forever", pc=k.current_caller, address=lock)
    k.memory.write_u32(lock, cnts | QW_LOCKED if write else cnts + QR_BIAS)


def _rwunlock(k: Kernel, lock: int, write: bool, what: str) -> None:
    cnts = k.memory.read_u32(lock)
    if (write and not cnts & QW_LOCKED) or (not write and cnts < QR_BIAS):
        raise GuestFault("lock-error", f"{what} of {k.symbolizer.short(lock)} at {k.symbolizer.short(k.current_caller)}:"
                         " not held", pc=k.current_caller, address=lock)
    k.memory.write_u32(lock, cnts & ~QW_LOCKED if write else cnts - QR_BIAS)


def _rwlock_services() -> list[object]:
    made: list[object] = []
    for kind in ("read", "write"):
        write = kind == "write"
        for suffix, saves in (("", False), ("_bh", False), ("_irq", True)):
            def lock_fn(k: Kernel, lock: int, _w: bool = write, _irq: bool = saves, _n: str = f"{kind}_lock{suffix}") -> None:
                if _irq:
                    save_and_disable(k)
                _rwlock(k, lock, _w, _n)

            def unlock_fn(k: Kernel, lock: int, _w: bool = write, _irq: bool = saves, _n: str = f"{kind}_unlock{suffix}") -> None:
                _rwunlock(k, lock, _w, _n)
                if _irq:
                    k.irqs_enabled = True

            lock_fn.__doc__ = f"{kind}_lock{suffix}()."
            unlock_fn.__doc__ = f"{kind}_unlock{suffix}()."
            made.append(service(f"void _raw_{kind}_lock{suffix}(rwlock_t *lock)")(lock_fn))
            made.append(service(f"void _raw_{kind}_unlock{suffix}(rwlock_t *lock)")(unlock_fn))

        def irqsave(k: Kernel, lock: int, _w: bool = write, _n: str = f"{kind}_lock_irqsave") -> int:
            flags = save_and_disable(k)
            _rwlock(k, lock, _w, _n)
            return flags

        def irqrestore(k: Kernel, lock: int, flags: int, _w: bool = write, _n: str = f"{kind}_unlock_irqrestore") -> None:
            _rwunlock(k, lock, _w, _n)
            restore(k, flags)

        def trylock(k: Kernel, lock: int, _w: bool = write) -> int:
            cnts = k.memory.read_u32(lock)
            if (_w and cnts) or (not _w and cnts & QW_LOCKED):
                return 0
            k.memory.write_u32(lock, cnts | QW_LOCKED if _w else cnts + QR_BIAS)
            return 1

        irqsave.__doc__ = f"{kind}_lock_irqsave(): the saved flags."
        irqrestore.__doc__ = f"{kind}_unlock_irqrestore()."
        trylock.__doc__ = f"{kind}_trylock(): 1 if taken."
        made.append(service(f"unsigned long _raw_{kind}_lock_irqsave(rwlock_t *lock)")(irqsave))
        made.append(service(f"void _raw_{kind}_unlock_irqrestore(rwlock_t *lock, unsigned long flags)")(irqrestore))
        made.append(service(f"int _raw_{kind}_trylock(rwlock_t *lock)")(trylock))
    return made


# Module-level names, so the profile finds each service (it looks at module attributes).
for _fn in _rwlock_services():
    globals()[_fn.__sandbox_service__.name] = _fn  # type: ignore[attr-defined]


@service("void __rwlock_init(rwlock_t *lock, const char *name, struct lock_class_key *key)")
def __rwlock_init(k: Kernel, lock: int, name: int, key: int) -> None:
    """rwlock_init() with lockdep: unlocked."""
    k.memory.write(lock, bytes(size("qrwlock")))


@service("bool mutex_is_locked(struct mutex *lock)")
def mutex_is_locked(k: Kernel, lock: int) -> int:
    """Whether the mutex has an owner."""
    return int(bool(k.memory.read_u32(lock) & ~7))
