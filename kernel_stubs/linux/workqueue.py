"""Workqueues (kernel/workqueue.c) as Linux 6.1 exports them.

Work really runs. Queued work waits, FIFO, until a kworker would get the
CPU: when something flushes it (``flush_work``, ``__flush_workqueue``,
``drain_workqueue``, ``destroy_workqueue``, ``flush_delayed_work``), when
the task sleeps (``msleep``, ``schedule_timeout``, ... — only while it holds
no mutex or spinlock, since a worker that then blocked on one would wait
for the sleeper rather than deadlock), or when the host calls
:func:`run_work`. Each item runs in task context with the ``work_struct``
as argument, after its PENDING bit is cleared, as Linux does, so it may
requeue itself.

Delayed work arms its embedded timer with ``delayed_work_timer_fn``; when
the timer fires (the linux clock moving, see ``timers.py``) the work is
queued.

Layouts (6.1 i386): ``struct work_struct`` data 0 (bit 0 = PENDING),
entry 4, func 12; ``struct delayed_work`` work 0, timer 16, wq 36, cpu 40.
``struct workqueue_struct`` is opaque to modules: a handle here.
Workqueues a module allocated and did not destroy, and work of a module
still queued at its unload, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.spinlock import Locks
from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.services import kernel_variable, service
from sandbox.services.varargs import VarArgs

from .locking import Mutexes
from .printk import format_guest
from .timers import FUNCTION, Timers, _jiffies

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

WORK_DATA, WORK_FUNC = 0, 12
PENDING = 1
DWORK_TIMER, DWORK_WQ, DWORK_CPU = 16, 36, 40
WQ_HANDLE_SIZE = 64
MAX_RUNS = 100_000  # per flush: more is a work item that requeues itself forever

# The system workqueues exist from boot: their handles sit in a reserved
# corner of kernel data (below the fake task at -0x4000), as fixed addresses
# the exported pointer variables can hold.
SYSTEM_WQ_BASE = amap.KDATA_BASE + amap.KDATA_SIZE - 0x6000
SYSTEM_QUEUES = ("system_wq", "system_highpri_wq", "system_long_wq", "system_unbound_wq", "system_freezable_wq",
                 "system_power_efficient_wq", "system_freezable_power_efficient_wq")
system_queue_pointers = [kernel_variable(name, 4, SYSTEM_WQ_BASE + WQ_HANDLE_SIZE * i)
                         for i, name in enumerate(SYSTEM_QUEUES)]


@dataclass(slots=True)
class Workqueue:
    """One workqueue: its name, who made it, and its queued work in order."""

    name: str
    flags: int
    max_active: int
    owner: str
    queued: list[int] = field(default_factory=list)
    runs: int = 0  # work items run so far


class Workqueues:
    """All workqueues of one kernel, keyed by handle."""

    def __init__(self) -> None:
        self.queues: dict[int, Workqueue] = {SYSTEM_WQ_BASE + WQ_HANDLE_SIZE * i: Workqueue(name, 0, 0, "kernel")
                                             for i, name in enumerate(SYSTEM_QUEUES)}
        self.running: list[int] = []  # work items being run (nesting: a flush from inside work)

    def clone(self) -> Workqueues:
        """A copy for snapshots."""
        twin = Workqueues()
        twin.queues = {h: Workqueue(q.name, q.flags, q.max_active, q.owner, list(q.queued), q.runs)
                       for h, q in self.queues.items()}
        return twin

    def queue_of(self, work: int) -> int | None:
        """The handle of the queue holding ``work``, if it is queued."""
        for handle, wq in self.queues.items():
            if work in wq.queued:
                return handle
        return None

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Queues the module did not destroy, and its work still queued anywhere."""
        leaks = []
        for handle, wq in list(self.queues.items()):
            for work in list(wq.queued):
                func = k.memory.read_u32(work + WORK_FUNC)
                if k.module_at(work) is module or k.module_at(func) is module:
                    leaks.append(f"work {k.symbolizer.short(work)} ({k.symbolizer.short(func)}) still queued on {wq.name}")
                    wq.queued.remove(work)
                    _clear_pending(k, work)
            if wq.owner == module.name:
                leaks.append(f"workqueue {wq.name!r} not destroyed"
                             + (f" ({len(wq.queued)} work items dropped)" if wq.queued else ""))
                del self.queues[handle]
                k.memory.free(handle)
        return leaks


def _clear_pending(k: Kernel, work: int) -> None:
    k.memory.write_u32(work + WORK_DATA, k.memory.read_u32(work + WORK_DATA) & ~PENDING & 0xFFFFFFFF)


def _queue(k: Kernel, wq: int) -> Workqueue:
    queue = k.subsystem(Workqueues).queues.get(wq)
    if queue is None:
        raise GuestFault("invalid-workqueue", f"{wq:#x} used at {k.symbolizer.short(k.current_caller)} is not a "
                         "workqueue (destroyed, or never allocated)", pc=k.current_caller, address=wq)
    return queue


def _test_and_set_pending(k: Kernel, work: int) -> bool:
    data = k.memory.read_u32(work + WORK_DATA)
    k.memory.write_u32(work + WORK_DATA, data | PENDING)
    return bool(data & PENDING)


def _run_one(k: Kernel, wq: Workqueue, work: int) -> None:
    wq.queued.remove(work)
    _clear_pending(k, work)
    func = k.memory.read_u32(work + WORK_FUNC)
    wq.runs += 1
    k.trace.add("note", "work", depth=k.cpu.depth, fields={
        "workqueue": wq.name, "work": k.symbolizer.short(work), "function": k.symbolizer.short(func)})
    state = k.subsystem(Workqueues)
    state.running.append(work)
    try:
        k.call_function_pointer(func, work)
    finally:
        state.running.pop()


def run_queue(k: Kernel, handle: int, until: int | None = None) -> int:
    """Run ``handle``'s queued work in order (and what it queues there) until empty, or
    until the work item ``until`` has run. Returns how many items ran."""
    wq = _queue(k, handle)
    ran = 0
    while wq.queued:
        work = wq.queued[0]
        _run_one(k, wq, work)
        ran += 1
        if work == until:
            break
        if ran >= MAX_RUNS:
            raise GuestFault("work-storm", f"{MAX_RUNS} work items run flushing {wq.name}: work requeues itself "
                             "forever", pc=k.current_caller)
    return ran


def run_work(k: Kernel) -> int:
    """Let the kworkers run: every queue's work until all are empty. Returns how many items ran."""
    state = k.subsystem(Workqueues)
    ran = 0
    while True:
        busy = [h for h, q in state.queues.items() if q.queued]
        if not busy:
            return ran
        for handle in busy:
            if handle in state.queues:
                ran += run_queue(k, handle)
        if ran >= MAX_RUNS:
            raise GuestFault("work-storm", f"{MAX_RUNS} work items run: work requeues itself forever")


def run_while_sleeping(k: Kernel) -> None:
    """The task sleeps: run queued work, unless it holds a lock a worker might need, or is not a task."""
    state = k.subsystem(Workqueues)
    if (k.cpu.in_irq or state.running or k.subsystem(Mutexes).held or k.subsystem(Locks).held
            or not any(q.queued for q in state.queues.values())):
        return
    run_work(k)


# -- allocation -------------------------------------------------------------------
@service("struct workqueue_struct *alloc_workqueue(const char *fmt, unsigned int flags, int max_active, ...)")
def alloc_workqueue(k: Kernel, fmt: int, flags: int, max_active: int, args: VarArgs) -> int:
    """A new workqueue named by printf(``fmt``, ...)."""
    handle = k.memory.alloc(WQ_HANDLE_SIZE)
    if not handle:
        return 0
    name = format_guest(k, fmt, args).decode("utf-8", "replace")
    module = k.caller_module()
    k.subsystem(Workqueues).queues[handle] = Workqueue(name, flags, max_active, module.name if module else "kernel")
    return handle


@service("void destroy_workqueue(struct workqueue_struct *wq)")
def destroy_workqueue(k: Kernel, wq: int) -> None:
    """Drain (run everything queued), then free the queue."""
    queue = _queue(k, wq)
    run_queue(k, wq)
    armed = [d for d, target in _armed_delayed(k).items() if target == wq]
    if armed:
        k.console_write(f"destroy_workqueue: {queue.name} has {len(armed)} delayed work items still armed\n", 4)
    del k.subsystem(Workqueues).queues[wq]
    k.memory.free(wq)


@service("void __flush_workqueue(struct workqueue_struct *wq)")
def __flush_workqueue(k: Kernel, wq: int) -> None:
    """flush_workqueue(): run everything queued on ``wq`` so far (and what that queues)."""
    run_queue(k, wq)


@service("void drain_workqueue(struct workqueue_struct *wq)")
def drain_workqueue(k: Kernel, wq: int) -> None:
    """Run the queue until it stays empty."""
    run_queue(k, wq)


@service("bool workqueue_congested(int cpu, struct workqueue_struct *wq)")
def workqueue_congested(k: Kernel, cpu: int, wq: int) -> int:
    """Whether work is waiting on ``wq``."""
    return int(bool(_queue(k, wq).queued))


# -- work ---------------------------------------------------------------------------
@service("bool queue_work_on(int cpu, struct workqueue_struct *wq, struct work_struct *work)")
def queue_work_on(k: Kernel, cpu: int, wq: int, work: int) -> int:
    """Queue ``work`` unless it is pending already: true if it was queued."""
    queue = _queue(k, wq)
    if _test_and_set_pending(k, work):
        return 0
    queue.queued.append(work)
    return 1


@service("bool queue_work_node(int node, struct workqueue_struct *wq, struct work_struct *work)")
def queue_work_node(k: Kernel, node: int, wq: int, work: int) -> int:
    """queue_work_on with a NUMA node hint (one node)."""
    return queue_work_on(k, 0, wq, work)


@service("bool flush_work(struct work_struct *work)")
def flush_work(k: Kernel, work: int) -> int:
    """Run ``work`` (and what is queued before it) if pending: true if it had to wait."""
    handle = k.subsystem(Workqueues).queue_of(work)
    if handle is None:
        return 0
    run_queue(k, handle, until=work)
    return 1


def _cancel(k: Kernel, work: int) -> bool:
    state = k.subsystem(Workqueues)
    handle = state.queue_of(work)
    if handle is not None:
        state.queues[handle].queued.remove(work)
    data = k.memory.read_u32(work + WORK_DATA)
    _clear_pending(k, work)
    return bool(data & PENDING)


@service("bool cancel_work_sync(struct work_struct *work)")
def cancel_work_sync(k: Kernel, work: int) -> int:
    """Take ``work`` off its queue: true if it was pending. Nothing runs concurrently to wait for."""
    return int(_cancel(k, work))


@service("bool cancel_work(struct work_struct *work)")
def cancel_work(k: Kernel, work: int) -> int:
    """cancel_work_sync without waiting."""
    return int(_cancel(k, work))


@service("unsigned int work_busy(struct work_struct *work)")
def work_busy(k: Kernel, work: int) -> int:
    """WORK_BUSY_PENDING (1) | WORK_BUSY_RUNNING (2)."""
    pending = bool(k.memory.read_u32(work + WORK_DATA) & PENDING)
    return int(pending) | (2 if work in k.subsystem(Workqueues).running else 0)


@service("struct work_struct *current_work(void)")
def current_work(k: Kernel) -> int:
    """The work item the current worker runs, or NULL."""
    running = k.subsystem(Workqueues).running
    return running[-1] if running else 0


# -- delayed work -------------------------------------------------------------------
def _armed_delayed(k: Kernel) -> dict[int, int]:
    """Armed delayed work: dwork -> target queue, read back from the guest structs."""
    timers = k.subsystem(Timers)
    fn = k.export_address("delayed_work_timer_fn")
    return {t - DWORK_TIMER: k.memory.read_u32(t - DWORK_TIMER + DWORK_WQ)
            for t, armed in timers.armed.items() if armed.function == fn}


def _queue_delayed(k: Kernel, wq: int, dwork: int, delay: int) -> None:
    queue = _queue(k, wq)
    if delay == 0:
        queue.queued.append(dwork)
        return
    timer = dwork + DWORK_TIMER
    fn = k.export_address("delayed_work_timer_fn")
    if k.memory.read_u32(timer + FUNCTION) != fn:
        # Linux: WARN_ON_ONCE(timer->function != delayed_work_timer_fn) — INIT_DELAYED_WORK was skipped.
        k.warn(f"delayed work {k.symbolizer.short(dwork)} queued at {k.symbolizer.short(k.current_caller)} "
               "without INIT_DELAYED_WORK")
        k.memory.write_u32(timer + FUNCTION, fn or 0)
    k.memory.write_u32(dwork + DWORK_WQ, wq)
    k.memory.write_u32(dwork + DWORK_CPU, 0)
    k.subsystem(Timers).arm(k, timer, _jiffies(k) + delay)


@service("bool queue_delayed_work_on(int cpu, struct workqueue_struct *wq, struct delayed_work *dwork, "
         "unsigned long delay)")
def queue_delayed_work_on(k: Kernel, cpu: int, wq: int, dwork: int, delay: int) -> int:
    """Queue ``dwork`` after ``delay`` jiffies unless pending: true if it was queued."""
    _queue(k, wq)
    if _test_and_set_pending(k, dwork):
        return 0
    _queue_delayed(k, wq, dwork, delay)
    return 1


@service("bool mod_delayed_work_on(int cpu, struct workqueue_struct *wq, struct delayed_work *dwork, "
         "unsigned long delay)")
def mod_delayed_work_on(k: Kernel, cpu: int, wq: int, dwork: int, delay: int) -> int:
    """(Re)queue after ``delay``: true if it was pending before."""
    was = _cancel_delayed(k, dwork)
    _test_and_set_pending(k, dwork)
    _queue_delayed(k, wq, dwork, delay)
    return int(was)


def _cancel_delayed(k: Kernel, dwork: int) -> bool:
    armed = k.subsystem(Timers).disarm(k, dwork + DWORK_TIMER)
    return _cancel(k, dwork) or armed


@service("bool cancel_delayed_work(struct delayed_work *dwork)")
def cancel_delayed_work(k: Kernel, dwork: int) -> int:
    """Disarm the timer / take the work off its queue: true if it was pending."""
    return int(_cancel_delayed(k, dwork))


@service("bool cancel_delayed_work_sync(struct delayed_work *dwork)")
def cancel_delayed_work_sync(k: Kernel, dwork: int) -> int:
    """cancel_delayed_work; nothing runs concurrently to wait for."""
    return int(_cancel_delayed(k, dwork))


@service("bool flush_delayed_work(struct delayed_work *dwork)")
def flush_delayed_work(k: Kernel, dwork: int) -> int:
    """Queue an armed delayed work at once, then flush it."""
    if k.subsystem(Timers).disarm(k, dwork + DWORK_TIMER):
        _queue(k, k.memory.read_u32(dwork + DWORK_WQ)).queued.append(dwork)
    return flush_work(k, dwork)


@service("void delayed_work_timer_fn(struct timer_list *t)")
def delayed_work_timer_fn(k: Kernel, t: int) -> None:
    """The timer of a delayed work fired: queue the work on its workqueue."""
    dwork = t - DWORK_TIMER
    _queue(k, k.memory.read_u32(dwork + DWORK_WQ)).queued.append(dwork)
