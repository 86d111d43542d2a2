"""Sleeping and deferral as Linux 6.1 exports them: wait queues, ``schedule*`` and tasklets.

There is one task here (``current_task``), so a task that sleeps cannot
give the CPU to another task; it gives it to the world instead. While it
sleeps, the clock moves to the next tick something waits for (timers,
delayed work, IRQ 0 handlers) and delivers it, grace periods pass (RCU
callbacks), kworkers run queued work and tasklets run, until the task is
woken (``try_to_wake_up`` sets its ``__state`` back to TASK_RUNNING) or its
timeout passes. The guest's own ``wait_event*`` loop then re-checks its
condition, exactly as on Linux:

    init_wait_entry(&e, 0);
    for (;;) { prepare_to_wait_event(&wq, &e, state); if (cond) break; schedule(); }
    finish_wait(&wq, &e);

A sleep that nothing pending can ever end is a :class:`ServiceError` naming
the waiter (module and symbol), not a hang.

Wait queues keep Linux's layout (``struct wait_queue_head``: lock, list
head; ``struct wait_queue_entry``: flags, private, func, entry), so inline
``waitqueue_active()`` and a module's own wake functions (poll tables) work:
``__wake_up`` walks the guest list and calls each entry's ``func`` — in
Python for the kernel's own ``autoremove_wake_function`` /
``default_wake_function``, in the guest otherwise.

Tasklets (``struct tasklet_struct``: next, state, count, func/callback,
data) run in softirq context: after the handlers of the IRQ line that
scheduled them, on the next timer tick, when the task sleeps, or when the
host calls :func:`run_tasklets`. A tasklet still scheduled when its module
unloads is reported and dropped.

All offsets come from the generated layout table (:mod:`.layout`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault, ServiceError
from sandbox.services import service

from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE = 0, 1, 2
TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE
TASK_KILLABLE = 0x100 | TASK_UNINTERRUPTIBLE  # TASK_WAKEKILL | TASK_UNINTERRUPTIBLE
TASK_IDLE = 0x400 | TASK_UNINTERRUPTIBLE      # TASK_NOLOAD | TASK_UNINTERRUPTIBLE
STATE_NAMES = {TASK_INTERRUPTIBLE: "TASK_INTERRUPTIBLE", TASK_UNINTERRUPTIBLE: "TASK_UNINTERRUPTIBLE",
               TASK_KILLABLE: "TASK_KILLABLE", TASK_IDLE: "TASK_IDLE"}
WQ_FLAG_EXCLUSIVE = 0x01
WF_SYNC = 0x10
MAX_SCHEDULE_TIMEOUT = 0x7FFFFFFF
TASKLET_STATE_SCHED, TASKLET_STATE_RUN = 1, 2  # bits 0 and 1 of tasklet_struct.state
MAX_STEPS = 1_000_000    # deliveries one sleep may cause: a guest cannot make the host spin
MAX_QUEUE_WALK = 100_000  # entries one wake-up may visit: more is a corrupt (cyclic) list
MAX_TASKLET_RUNS = 100_000

TASK_STATE = offset("task_struct", "__state")
WQH_HEAD = offset("wait_queue_head", "head")
WQE_ENTRY = offset("wait_queue_entry", "entry")
WQE_FUNC = offset("wait_queue_entry", "func")
WQE_FLAGS = offset("wait_queue_entry", "flags")
WQE_PRIVATE = offset("wait_queue_entry", "private")


# -- the current task -------------------------------------------------------------
def current(k: Kernel) -> int:
    """The address of the running task's ``task_struct`` (what ``current`` reads)."""
    return k.memory.read_u32(k.export_address("current_task"))


def task_state(k: Kernel, task: int) -> int:
    """``task->__state``."""
    return k.memory.read_u32(task + TASK_STATE)


def set_task_state(k: Kernel, task: int, state: int) -> None:
    """``task->__state = state`` (set_current_state() for the current task)."""
    k.memory.write_u32(task + TASK_STATE, state)


def try_to_wake_up(k: Kernel, task: int, mode: int) -> int:
    """Wake ``task`` if its state is one of ``mode``: 1 if it was woken, 0 if it was not sleeping so."""
    if not task_state(k, task) & mode:
        return 0
    set_task_state(k, task, TASK_RUNNING)
    k.trace.add("note", "wake", fields={"task": k.symbolizer.short(task), "by": k.symbolizer.short(k.current_caller)})
    return 1


def waiter(k: Kernel) -> str:
    """Who sleeps: the calling function, or for a tail call the function the run entered."""
    caller = k.symbolizer.short(k.current_caller)
    if caller == "<host call>" and k.cpu.entries:
        return f"{k.symbolizer.short(k.cpu.entries[-1])} (tail call)"
    return caller


def let_world_run(k: Kernel) -> None:
    """What runs while the task does not: softirqs (tasklets), RCU callbacks, kworkers, kthreads."""
    from .kthread import run_kthreads
    from .rcu import run_callbacks
    from .workqueue import run_while_sleeping

    run_tasklets(k)
    run_callbacks(k)
    run_while_sleeping(k)
    run_kthreads(k)


def sleep_until(k: Kernel, woken: Callable[[], bool], timeout: int | None, what: Callable[[], str],
                then: Callable[[int], int] | None = None) -> int:
    """Let the world run until ``woken()`` or ``timeout`` ticks have passed (None: no limit).

    The result is the ticks left (at least 1) if woken, 0 on timeout, passed
    through ``then`` when given. With no timeout and nothing pending that
    could wake it, raises ServiceError with ``what()`` (who waits for what).

    Called by a kthread's own code, the thread is parked instead (see
    :mod:`.kthread`) and this returns at once: the service must return this
    call's value and do nothing after it — whatever follows the sleep
    belongs in ``then``, which runs when the thread is resumed and gives
    the service's result.
    """
    from .kthread import any_ready, can_suspend, suspend

    start = k.clock.ticks
    if can_suspend(k):
        deadline = None if timeout is None else start + timeout

        def resumed() -> int:
            left = 1 if deadline is None else deadline - k.clock.ticks
            # A timeout that passed is a timeout (its process_timeout() set TASK_RUNNING too).
            result = max(1, left) if left > 0 and woken() else 0
            return then(result) if then is not None else result

        return suspend(k, woken, deadline, resumed)
    for _ in range(MAX_STEPS):
        let_world_run(k)
        left = None if timeout is None else timeout - (k.clock.ticks - start)
        if woken():
            result = 1 if left is None else max(1, left)
            return then(result) if then is not None else result
        if left is not None and left <= 0:
            return then(0) if then is not None else 0
        due = k.clock.next_due()
        if due is None:
            if any_ready(k):
                continue  # a kthread can run (it yielded): let it, before calling this stuck
            if left is None:
                raise ServiceError(f"{what()} waits forever: nothing pending (no timer, work, tasklet, kthread "
                                   "or interrupt handler) can wake it")
            k.tick(left)
            continue
        step = max(1, due - k.clock.ticks)
        k.tick(step if left is None else min(step, left))
    raise ServiceError(f"{what()} still asleep after {MAX_STEPS} deliveries")


def _sleep_current(k: Kernel, timeout: int | None, service_name: str,
                   then: Callable[[int], int] | None = None) -> int:
    """The current task, in a sleeping state, sleeps until woken or ``timeout``; it runs again after
    (its state TASK_RUNNING, as a timeout's process_timeout() leaves it too)."""
    task = current(k)
    state = task_state(k, task)

    def awake(left: int) -> int:
        set_task_state(k, task, TASK_RUNNING)
        return then(left) if then is not None else left

    try:
        return sleep_until(
            k, lambda: task_state(k, task) == TASK_RUNNING, timeout,
            lambda: f"{service_name}() from {waiter(k)} ({STATE_NAMES.get(state, hex(state))})", awake)
    except BaseException:
        set_task_state(k, task, TASK_RUNNING)
        raise


# -- schedule ---------------------------------------------------------------------
@service("void schedule(void)")
def schedule(k: Kernel) -> None:
    """Give up the CPU. A task still TASK_RUNNING comes back at once (after what was ready
    ran); a sleeping one sleeps until woken — forever is an error naming it."""
    if task_state(k, current(k)) == TASK_RUNNING:
        from .kthread import can_suspend, suspend

        if can_suspend(k):  # a kthread yields: the others (and the waker) run first
            suspend(k, lambda: True, None, lambda: 0)
            return
        let_world_run(k)
        return
    _sleep_current(k, None, "schedule")


@service("long schedule_timeout(long timeout)")
def schedule_timeout(k: Kernel, timeout: int) -> int:
    """Sleep until woken or ``timeout`` jiffies pass: the jiffies left (>= 1) if woken, 0 on timeout.

    As on Linux, a task still TASK_RUNNING does not sleep: it returns the
    timeout less the one tick let pass here (so a loop that polls with a
    forgotten set_current_state() still sees time move in deterministic
    mode). MAX_SCHEDULE_TIMEOUT sleeps without limit, as schedule().
    """
    return schedule_timeout_then(k, timeout)


def schedule_timeout_then(k: Kernel, timeout: int, then: Callable[[int], int] | None = None,
                          state: int | None = None) -> int:
    """schedule_timeout() (in ``state`` when given) whose result goes through ``then``: what a
    service built on it returns, also when a kthread is parked in it (see :func:`sleep_until`)."""
    task = current(k)
    if state is not None:
        set_task_state(k, task, state)

    def result(value: int) -> int:
        return then(value) if then is not None else value

    if timeout < 0:
        k.warn(f"schedule_timeout: wrong timeout value {timeout:#x} from {waiter(k)}")
        set_task_state(k, task, TASK_RUNNING)
        return result(0)
    if task_state(k, task) == TASK_RUNNING:
        k.tick(1)
        from .kthread import can_suspend, suspend

        if can_suspend(k):  # a kthread yields: the others (and the waker) run first
            return suspend(k, lambda: True, None, lambda: result(max(0, timeout - 1)))
        let_world_run(k)
        return result(max(0, timeout - 1))
    if timeout >= MAX_SCHEDULE_TIMEOUT:
        return _sleep_current(k, None, "schedule_timeout", lambda _: result(MAX_SCHEDULE_TIMEOUT))
    return _sleep_current(k, timeout, "schedule_timeout", then)


def _schedule_timeout_in(k: Kernel, state: int, timeout: int) -> int:
    return schedule_timeout_then(k, timeout, state=state)


@service("long schedule_timeout_interruptible(long timeout)")
def schedule_timeout_interruptible(k: Kernel, timeout: int) -> int:
    """schedule_timeout() in TASK_INTERRUPTIBLE (no signals arrive here)."""
    return _schedule_timeout_in(k, TASK_INTERRUPTIBLE, timeout)


@service("long schedule_timeout_uninterruptible(long timeout)")
def schedule_timeout_uninterruptible(k: Kernel, timeout: int) -> int:
    """schedule_timeout() in TASK_UNINTERRUPTIBLE."""
    return _schedule_timeout_in(k, TASK_UNINTERRUPTIBLE, timeout)


@service("long schedule_timeout_killable(long timeout)")
def schedule_timeout_killable(k: Kernel, timeout: int) -> int:
    """schedule_timeout() in TASK_KILLABLE (nothing kills the task here)."""
    return _schedule_timeout_in(k, TASK_KILLABLE, timeout)


@service("long schedule_timeout_idle(long timeout)")
def schedule_timeout_idle(k: Kernel, timeout: int) -> int:
    """schedule_timeout() in TASK_IDLE."""
    return _schedule_timeout_in(k, TASK_IDLE, timeout)


@service("int wake_up_process(struct task_struct *p)")
def wake_up_process(k: Kernel, p: int) -> int:
    """Wake ``p`` from any normal sleep: 1 if it was sleeping."""
    return try_to_wake_up(k, p, TASK_NORMAL)


# -- wait queues ------------------------------------------------------------------
def _list_init(k: Kernel, node: int) -> None:
    k.memory.write_u32(node, node)
    k.memory.write_u32(node + 4, node)


def _list_empty(k: Kernel, node: int) -> bool:
    return k.memory.read_u32(node) == node


def _list_add(k: Kernel, new: int, prev: int, nxt: int) -> None:
    k.memory.write_u32(nxt + 4, new)
    k.memory.write_u32(new, nxt)
    k.memory.write_u32(new + 4, prev)
    k.memory.write_u32(prev, new)


def _list_del_init(k: Kernel, node: int) -> None:
    nxt, prev = k.memory.read_u32(node), k.memory.read_u32(node + 4)
    k.memory.write_u32(nxt + 4, prev)
    k.memory.write_u32(prev, nxt)
    _list_init(k, node)


@service("void __init_waitqueue_head(struct wait_queue_head *wq_head, const char *name, struct lock_class_key *key)")
def __init_waitqueue_head(k: Kernel, wq_head: int, name: int, key: int) -> None:
    """init_waitqueue_head(): unlocked, empty list."""
    k.memory.write(wq_head, bytes(size("wait_queue_head")))
    _list_init(k, wq_head + WQH_HEAD)


@service("void init_wait_entry(struct wait_queue_entry *wq_entry, int flags)")
def init_wait_entry(k: Kernel, wq_entry: int, flags: int) -> None:
    """An entry for the current task, woken by autoremove_wake_function, on no queue yet."""
    entry = Fields(k.memory, "wait_queue_entry", wq_entry)
    entry["flags"] = flags
    entry["private"] = current(k)
    entry["func"] = k.export_address("autoremove_wake_function") or 0
    _list_init(k, wq_entry + WQE_ENTRY)


def _enqueue(k: Kernel, wq_head: int, wq_entry: int) -> None:
    """Queue the entry if it is not queued: exclusive waiters at the tail, others at the head."""
    node, head = wq_entry + WQE_ENTRY, wq_head + WQH_HEAD
    if not _list_empty(k, node):
        return
    if k.memory.read_u32(wq_entry + WQE_FLAGS) & WQ_FLAG_EXCLUSIVE:
        _list_add(k, node, k.memory.read_u32(head + 4), head)
    else:
        _list_add(k, node, head, k.memory.read_u32(head))


@service("long prepare_to_wait_event(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry, int state)")
def prepare_to_wait_event(k: Kernel, wq_head: int, wq_entry: int, state: int) -> int:
    """Queue the entry and set the task's sleeping state; 0 (no signal is ever pending here)."""
    _enqueue(k, wq_head, wq_entry)
    set_task_state(k, current(k), state)
    return 0


@service("void prepare_to_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry, int state)")
def prepare_to_wait(k: Kernel, wq_head: int, wq_entry: int, state: int) -> None:
    """Queue a non-exclusive entry and set the sleeping state."""
    k.memory.write_u32(wq_entry + WQE_FLAGS, k.memory.read_u32(wq_entry + WQE_FLAGS) & ~WQ_FLAG_EXCLUSIVE)
    prepare_to_wait_event(k, wq_head, wq_entry, state)


@service("bool prepare_to_wait_exclusive(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry, "
         "int state)")
def prepare_to_wait_exclusive(k: Kernel, wq_head: int, wq_entry: int, state: int) -> int:
    """Queue an exclusive entry (at the tail) and set the sleeping state; whether the queue was empty."""
    was_empty = _list_empty(k, wq_head + WQH_HEAD)
    k.memory.write_u32(wq_entry + WQE_FLAGS, k.memory.read_u32(wq_entry + WQE_FLAGS) | WQ_FLAG_EXCLUSIVE)
    prepare_to_wait_event(k, wq_head, wq_entry, state)
    return int(was_empty)


@service("void finish_wait(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)")
def finish_wait(k: Kernel, wq_head: int, wq_entry: int) -> None:
    """The task runs again and its entry leaves the queue (if a wake-up did not take it off already)."""
    set_task_state(k, current(k), TASK_RUNNING)
    node = wq_entry + WQE_ENTRY
    if not _list_empty(k, node):
        _list_del_init(k, node)


@service("void add_wait_queue(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)")
def add_wait_queue(k: Kernel, wq_head: int, wq_entry: int) -> None:
    """Queue a non-exclusive entry at the head."""
    k.memory.write_u32(wq_entry + WQE_FLAGS, k.memory.read_u32(wq_entry + WQE_FLAGS) & ~WQ_FLAG_EXCLUSIVE)
    head = wq_head + WQH_HEAD
    _list_add(k, wq_entry + WQE_ENTRY, head, k.memory.read_u32(head))


@service("void remove_wait_queue(struct wait_queue_head *wq_head, struct wait_queue_entry *wq_entry)")
def remove_wait_queue(k: Kernel, wq_head: int, wq_entry: int) -> None:
    """Take the entry off its queue."""
    _list_del_init(k, wq_entry + WQE_ENTRY)


@service("int default_wake_function(struct wait_queue_entry *curr, unsigned int mode, int wake_flags, void *key)")
def default_wake_function(k: Kernel, curr: int, mode: int, wake_flags: int, key: int) -> int:
    """Wake the entry's task: 1 if it was sleeping in one of ``mode``."""
    return try_to_wake_up(k, k.memory.read_u32(curr + WQE_PRIVATE), mode)


@service("int autoremove_wake_function(struct wait_queue_entry *wq_entry, unsigned int mode, int sync, void *key)")
def autoremove_wake_function(k: Kernel, wq_entry: int, mode: int, sync: int, key: int) -> int:
    """default_wake_function(), and the woken entry leaves the queue."""
    woke = default_wake_function(k, wq_entry, mode, sync, key)
    if woke:
        _list_del_init(k, wq_entry + WQE_ENTRY)
    return woke


def wake_up_common(k: Kernel, wq_head: int, mode: int, nr_exclusive: int, wake_flags: int, key: int) -> int:
    """__wake_up_common(): call each entry's wake function in queue order, stopping after
    ``nr_exclusive`` exclusive waiters were woken (0: all) or when one returns < 0."""
    native = {k.export_address("autoremove_wake_function"): autoremove_wake_function,
              k.export_address("default_wake_function"): default_wake_function}
    head = wq_head + WQH_HEAD
    node = k.memory.read_u32(head)
    for _ in range(MAX_QUEUE_WALK):
        if node == head:
            return nr_exclusive
        following = k.memory.read_u32(node)  # the entry may leave the queue when woken
        entry = node - WQE_ENTRY
        flags = k.memory.read_u32(entry + WQE_FLAGS)
        func = k.memory.read_u32(entry + WQE_FUNC)
        python = native.get(func)
        if python is not None:
            ret = python(k, entry, mode, wake_flags, key)
        else:
            ret = k.call_function_pointer(func, entry, mode, wake_flags, key)
            ret = ret - (1 << 32) if ret >> 31 else ret
        if ret < 0:
            return nr_exclusive
        if ret and flags & WQ_FLAG_EXCLUSIVE:
            nr_exclusive -= 1
            if nr_exclusive == 0:
                return 0
        node = following
    raise GuestFault("list-corrupt", f"wait queue {k.symbolizer.short(wq_head)} woken at "
                     f"{k.symbolizer.short(k.current_caller)} has more than {MAX_QUEUE_WALK} entries: its list "
                     "is corrupt (cyclic)", pc=k.current_caller, address=wq_head)


@service("void __wake_up(struct wait_queue_head *wq_head, unsigned int mode, int nr_exclusive, void *key)")
def __wake_up(k: Kernel, wq_head: int, mode: int, nr_exclusive: int, key: int) -> None:
    """wake_up*(): wake the queue's waiters (all non-exclusive ones, ``nr_exclusive`` exclusive ones)."""
    wake_up_common(k, wq_head, mode, nr_exclusive, 0, key)


@service("void __wake_up_locked(struct wait_queue_head *wq_head, unsigned int mode, int nr)")
def __wake_up_locked(k: Kernel, wq_head: int, mode: int, nr: int) -> None:
    """wake_up_locked(): as __wake_up, the queue's lock already held by the caller."""
    wake_up_common(k, wq_head, mode, nr, 0, 0)


@service("void __wake_up_locked_key(struct wait_queue_head *wq_head, unsigned int mode, void *key)")
def __wake_up_locked_key(k: Kernel, wq_head: int, mode: int, key: int) -> None:
    """wake_up_locked_poll(): every waiter, with ``key``."""
    wake_up_common(k, wq_head, mode, 0, 0, key)


@service("void __wake_up_sync(struct wait_queue_head *wq_head, unsigned int mode)")
def __wake_up_sync(k: Kernel, wq_head: int, mode: int) -> None:
    """wake_up_interruptible_sync(): one exclusive waiter, the waker about to sleep (WF_SYNC)."""
    wake_up_common(k, wq_head, mode, 1, WF_SYNC, 0)


@service("void __wake_up_sync_key(struct wait_queue_head *wq_head, unsigned int mode, void *key)")
def __wake_up_sync_key(k: Kernel, wq_head: int, mode: int, key: int) -> None:
    """wake_up_interruptible_sync_poll(): one exclusive waiter, with ``key``."""
    wake_up_common(k, wq_head, mode, 1, WF_SYNC, key)


# -- tasklets ---------------------------------------------------------------------
@dataclass(slots=True)
class Tasklets:
    """The scheduled tasklets of one kernel (HI_SOFTIRQ's queue runs before TASKLET_SOFTIRQ's)."""

    hi: list[int] = field(default_factory=list)
    normal: list[int] = field(default_factory=list)
    hooked_lines: set[int] = field(default_factory=set)
    running: bool = False
    runs: int = 0

    def boot(self, k: Kernel) -> None:
        """Softirqs run after every timer tick; a tick is due while something is scheduled."""
        k.add_irq_hook(0, lambda: run_tasklets(k), due=lambda: k.clock.ticks + 1 if _pending(k) else None)

    def clone(self) -> Tasklets:
        """A copy for snapshots."""
        return Tasklets(list(self.hi), list(self.normal), set(self.hooked_lines), False, self.runs)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Tasklets of ``module`` (the struct or its function) still scheduled: reported and dropped."""
        leaks = []
        for queue in (self.hi, self.normal):
            for t in list(queue):
                func = k.memory.read_u32(t + offset("tasklet_struct", "func"))
                if k.module_at(t) is module or k.module_at(func) is module:
                    leaks.append(f"tasklet {k.symbolizer.short(t)} ({k.symbolizer.short(func)}) still scheduled")
                    queue.remove(t)
        return leaks


def _pending(k: Kernel) -> bool:
    state = k.subsystem(Tasklets)
    return bool(state.hi or state.normal)


@service("void tasklet_setup(struct tasklet_struct *t, void (*callback)(struct tasklet_struct *))")
def tasklet_setup(k: Kernel, t: int, callback: int) -> None:
    """A tasklet whose callback receives the tasklet itself."""
    k.memory.write(t, bytes(size("tasklet_struct")))
    fields = Fields(k.memory, "tasklet_struct", t)
    fields["callback"] = callback
    fields["use_callback"] = 1


@service("void tasklet_init(struct tasklet_struct *t, void (*func)(unsigned long), unsigned long data)")
def tasklet_init(k: Kernel, t: int, func: int, data: int) -> None:
    """A tasklet whose function receives ``data``."""
    k.memory.write(t, bytes(size("tasklet_struct")))
    fields = Fields(k.memory, "tasklet_struct", t)
    fields["func"] = func
    fields["data"] = data


def _schedule(k: Kernel, t: int, hi: bool) -> None:
    """Queue ``t`` (the inline tasklet_schedule() already set its SCHED bit) and raise the softirq."""
    state = k.subsystem(Tasklets)
    queue = state.hi if hi else state.normal
    if t not in queue:
        queue.append(t)
    in_service = k.kernel.interrupts.in_service
    if in_service and in_service[-1] not in state.hooked_lines:
        # Raised from a hard handler: the softirq runs as that interrupt exits.
        line = in_service[-1]
        state.hooked_lines.add(line)
        k.add_irq_hook(line, lambda: run_tasklets(k), due=lambda: None)


@service("void __tasklet_schedule(struct tasklet_struct *t)")
def __tasklet_schedule(k: Kernel, t: int) -> None:
    """Schedule ``t`` on TASKLET_SOFTIRQ."""
    _schedule(k, t, hi=False)


@service("void __tasklet_hi_schedule(struct tasklet_struct *t)")
def __tasklet_hi_schedule(k: Kernel, t: int) -> None:
    """Schedule ``t`` on HI_SOFTIRQ (runs before the normal tasklets)."""
    _schedule(k, t, hi=True)


def _run_one(k: Kernel, t: int) -> bool:
    """tasklet_action_common() for one tasklet: run it unless disabled; False if it stays queued."""
    fields = Fields(k.memory, "tasklet_struct", t)
    if fields["count"]:
        return False  # tasklet_disable()d: it stays scheduled until enabled
    st = fields["state"]
    if not st & TASKLET_STATE_SCHED:
        raise GuestFault("tasklet-state", f"tasklet {k.symbolizer.short(t)} queued without its SCHED bit "
                         "(scheduled other than by tasklet_schedule?)", address=t)
    fields["state"] = (st & ~TASKLET_STATE_SCHED) | TASKLET_STATE_RUN
    function = fields["callback"]
    k.trace.add("note", "tasklet", depth=k.cpu.depth,
                fields={"tasklet": k.symbolizer.short(t), "function": k.symbolizer.short(function)})
    try:
        k.call_function_pointer(function, t if fields["use_callback"] & 0xFF else fields["data"], context="irq")
    finally:
        fields["state"] = fields["state"] & ~TASKLET_STATE_RUN
    return True


def run_tasklets(k: Kernel) -> int:
    """Run the scheduled tasklets (HI first), and those they schedule, as softirq context does.

    Disabled tasklets stay scheduled. Returns how many ran. Softirqs do not
    nest: called from inside a tasklet, it returns 0.
    """
    state = k.subsystem(Tasklets)
    if state.running or not (state.hi or state.normal):
        return 0
    state.running = True
    ran = 0
    try:
        for queue in (state.hi, state.normal):
            held: list[int] = []
            while queue:
                t = queue.pop(0)
                if _run_one(k, t):
                    ran += 1
                    state.runs += 1
                else:
                    held.append(t)
                if ran >= MAX_TASKLET_RUNS:
                    raise GuestFault("tasklet-storm", f"{MAX_TASKLET_RUNS} tasklets run in one softirq: a "
                                     "tasklet reschedules itself forever")
            queue.extend(held)
    finally:
        state.running = False
    return ran


@service("void tasklet_kill(struct tasklet_struct *t)")
def tasklet_kill(k: Kernel, t: int) -> None:
    """Wait until ``t`` is neither scheduled nor running (running it if it is scheduled), then
    leave it unscheduled. A scheduled but disabled tasklet would wait forever: an error."""
    state = k.subsystem(Tasklets)
    fields = Fields(k.memory, "tasklet_struct", t)
    for queue in (state.hi, state.normal):
        if t in queue:
            if fields["count"]:
                raise ServiceError(f"tasklet_kill({k.symbolizer.short(t)}) from {waiter(k)} waits forever: the "
                                   "tasklet is scheduled but disabled (tasklet_disable without tasklet_enable)")
            queue.remove(t)
            _run_one(k, t)
    if fields["state"] & TASKLET_STATE_RUN:
        raise ServiceError(f"tasklet_kill({k.symbolizer.short(t)}) from {waiter(k)} inside the tasklet itself "
                           "waits forever for it to finish")
    fields["state"] = fields["state"] & ~TASKLET_STATE_SCHED
