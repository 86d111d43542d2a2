"""Kernel threads as cooperative tasks: ``kthread_create_on_node``, ``kthread_stop`` and friends.

Each kthread has its own ``task_struct`` (``__state``, ``comm``, ``pid``
at the generated layout's offsets), its own guest stack, and runs its
``threadfn(data)`` when the world advances — whenever the running task
sleeps (``schedule*``, ``msleep``, a wait, a contended lock), or the host
moves time (``k.tick``/``run_for``) — not at ``wake_up_process`` itself.
``current`` (the ``current_task`` variable) is the thread's task while it
runs.

A thread gives the CPU back when it sleeps: the sleeping service asks the
CPU to suspend the call running the thread (``Cpu.request_suspend``), its
registers are kept, and once its wake condition holds (woken to
TASK_RUNNING, its timeout passed, the lock free) it continues after that
call with the service's result. So a thread loops as on Linux::

    while (!kthread_should_stop()) { do_work(); schedule_timeout_interruptible(HZ); }

and ``kthread_stop`` sets the stop flag, wakes it and sleeps until the
thread function returns, giving back its result (-EINTR if it never ran).
A thread that never sleeps ends in the budget error, naming the thread.
A sleep from deeper inside the thread (a callback the thread's service
called back into the guest) cannot park the thread; it lets the world run
nested instead, as the main task's sleeps do.

There is no freezer (no suspend to RAM here): ``freezer_active`` stays
off, so the inline ``try_to_freeze()`` returns false, as on a running
system; ``set_freezable`` marks the task freezable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel_stubs.memory import allocate, release
from sandbox.errors import BudgetExceeded, GuestFault, ServiceError
from sandbox.machine.cpu import TaskSuspended
from sandbox.services import kernel_variable, service
from sandbox.services.varargs import VarArgs

from .layout import Fields, member, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EINTR, ENOSYS = 4, 38
TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE = 0, 1, 2
TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE
TASK_PARKED = 0x40
PF_KTHREAD, PF_NOFREEZE = 0x00200000, 0x00008000
THREAD_STACK = 16 * 1024  # THREAD_SIZE is 8 KiB on i386; room for the sandbox's own frames too
STACK_GAP = 64
MAX_PASSES = 64  # rounds of ready threads one advance of the world runs


@dataclass(slots=True)
class Kthread:
    """One kernel thread and where it is."""

    task: int
    fn: int
    data: int
    name: str
    stack: int
    owner: str
    created_at: int
    started: bool = False
    done: bool = False
    result: int = 0
    should_stop: bool = False
    should_park: bool = False
    parked: bool = False
    freezable: bool = False
    suspended: TaskSuspended | None = None
    ready: Callable[[], bool] | None = None      # the wake condition while suspended
    deadline: int | None = None                  # tick at which a timed sleep ends
    resume_value: Callable[[], int] | None = None
    depth: int = 0                               # CPU call depth of the thread's own services

    def describe(self, k: Kernel) -> str:
        """``name`` (threadfn) for messages."""
        return f"kthread {self.name!r} ({k.symbolizer.short(self.fn)})"


@dataclass
class Kthreads:
    """Every kernel thread of one kernel, and the ones running now (innermost last)."""

    threads: dict[int, Kthread] = field(default_factory=dict)
    running: list[Kthread] = field(default_factory=list)
    # Exited threads whose task_struct a module still holds a reference on.
    reaped: dict[int, Kthread] = field(default_factory=dict)
    next_pid: int = 2  # pid 1 is init, the task modules are loaded from

    def boot(self, k: Any) -> None:
        """A timed sleep of a thread is a tick something waits for (as its process_timeout timer)."""
        k.add_irq_hook(0, lambda: _wake_expired(k), due=lambda: self.next_due(k))

    def next_due(self, k: Any) -> int | None:
        """The next tick with thread work: the next one if a thread is ready to run, else the
        earliest a sleeping thread's timeout ends at; None if no thread waits for time."""
        if any_ready(k):
            return k.clock.ticks + 1
        deadlines = [t.deadline for t in self.threads.values()
                     if t.deadline is not None and not t.done and t not in self.running]
        return min(deadlines) if deadlines else None

    def clone(self) -> Kthreads:
        """A copy for snapshots (saved registers are immutable once taken)."""
        twin = Kthreads({a: Kthread(**{f: getattr(t, f) for f in Kthread.__slots__})  # type: ignore[attr-defined]
                         for a, t in self.threads.items()}, [], dict(self.reaped), self.next_pid)
        return twin

    def release_module(self, k: Any, module: Module) -> list[str]:
        """Threads of ``module`` still alive (never kthread_stop'd): reported and dropped."""
        leaks = []
        for t in list(self.threads.values()):
            if t.owner == module.name or k.module_at(t.fn) is module:
                if not t.done:
                    leaks.append(f"{t.describe(k)} still running (created without kthread_stop)")
                _free_thread(k, self, t)
        for t in list(self.reaped.values()):
            if t.owner == module.name:
                leaks.append(f"task_struct of {t.describe(k)} still referenced (get_task_struct without put)")
                self.reaped.pop(t.task)
                _free_thread(k, self, t)
        return leaks


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def thread_of(k: Kernel, task: int) -> Kthread | None:
    """The kthread whose task_struct is ``task``, if any."""
    return k.subsystem(Kthreads).threads.get(task)


def running_thread(k: Kernel) -> Kthread | None:
    """The kthread running now (None: the main task, or an interrupt)."""
    state = k.subsystem(Kthreads)
    return state.running[-1] if state.running and not k.cpu.in_irq else None


def _task_state(k: Kernel, task: int) -> int:
    return k.memory.read_u32(task + offset("task_struct", "__state"))


def _set_task_state(k: Kernel, task: int, value: int) -> None:
    k.memory.write_u32(task + offset("task_struct", "__state"), value)


# -- parking the running thread --------------------------------------------------------
def can_suspend(k: Kernel) -> bool:
    """Whether the running task is a kthread whose sleep can park it (called from its own code)."""
    t = running_thread(k)
    return t is not None and k.cpu.depth == t.depth


def suspend(k: Kernel, ready: Callable[[], bool], deadline: int | None, resume_value: Callable[[], int],
            rerun: bool = False) -> int:
    """Park the running kthread until ``ready()`` or tick ``deadline``; once it runs again the
    service it called returns ``resume_value()`` (with ``rerun``: the service is called again,
    its first argument ``resume_value()``). Returns at once (the value is not used)."""
    t = running_thread(k)
    assert t is not None and k.cpu.depth == t.depth
    t.ready, t.deadline, t.resume_value = ready, deadline, resume_value
    k.cpu.request_suspend(rerun)
    return resume_value() if rerun else 0


def is_ready(k: Kernel, t: Kthread) -> bool:
    """Whether ``t`` can run now."""
    if t.done or t in k.subsystem(Kthreads).running:
        return False
    if not t.started:
        return _task_state(k, t.task) == TASK_RUNNING or t.should_stop
    if t.ready is not None and t.ready():
        return True
    return t.deadline is not None and k.clock.ticks >= t.deadline


def any_ready(k: Kernel) -> bool:
    """Whether some kthread could run now (a sleeper must not be called stuck while one can)."""
    state = k.subsystem(Kthreads)
    return any(is_ready(k, t) for t in state.threads.values())


def _wake_expired(k: Kernel) -> None:
    """On the tick: a thread whose timed sleep ended is runnable (process_timeout); at the top
    level (the host moved time) the runnable threads run now."""
    state = k.subsystem(Kthreads)
    for t in state.threads.values():
        if t.deadline is not None and k.clock.ticks >= t.deadline and not t.done:
            _set_task_state(k, t.task, TASK_RUNNING)
    if k.cpu.depth == 0 and any_ready(k):
        address = k.export_address("__sandbox_kthreadd")
        if address is not None:
            k.kernel.call(address)


@service("void __sandbox_kthreadd(void)")
def __sandbox_kthreadd(k: Kernel) -> None:
    """The sandbox's kthreadd: runs the kthreads that are ready, from the host's advance of time
    (they need a guest call to run nested in). Not a Linux export; modules do not import it."""
    run_kthreads(k)


def run_kthreads(k: Kernel) -> int:
    """Run each ready kthread until it sleeps or returns, a few rounds; how many steps ran.

    Needs a guest call in progress (a service's context): at depth 0 the
    host calls go through ``__sandbox_kthreadd``.
    """
    state = k.subsystem(Kthreads)
    if k.cpu.depth == 0:
        if any_ready(k):
            address = k.export_address("__sandbox_kthreadd")
            if address is not None:
                k.kernel.call(address)
        return 0
    steps = 0
    for _ in range(MAX_PASSES):
        ready = [t for t in list(state.threads.values()) if is_ready(k, t)]
        if not ready:
            break
        for t in ready:
            if is_ready(k, t):
                _step(k, state, t)
                steps += 1
    return steps


def _step(k: Kernel, state: Kthreads, t: Kthread) -> None:
    """Run ``t`` until it sleeps (parked again) or its function returns (it exits)."""
    current_var = k.export_address("current_task")
    previous = k.memory.read_u32(current_var)
    caller = k.current_caller
    state.running.append(t)
    k.memory.write_u32(current_var, t.task)
    t.depth = k.cpu.depth + 1
    eax_register = k.convention.registers[0]
    try:
        if not t.started:
            t.started = True
            if t.should_stop:  # kthread(): stopped before it ever ran
                _exit(k, t, -EINTR)
                return
            k.trace.add("note", "kthread start", fields={"thread": t.name, "function": k.symbolizer.short(t.fn)})
            eax, _ = k.cpu.call(t.fn, {eax_register: t.data}, [], "task",
                                stack_top=t.stack + THREAD_STACK - STACK_GAP)
        else:
            assert t.suspended is not None and t.resume_value is not None
            resume, value = t.suspended, t.resume_value()
            t.suspended, t.ready, t.deadline, t.resume_value = None, None, None, None
            eax, _ = k.cpu.call(0, {eax_register: value & 0xFFFFFFFF}, [], "task", resume=resume)
        _exit(k, t, _signed(eax))
    except TaskSuspended as parked:
        if t.done:  # kthread_complete_and_exit() and the like: the thread is gone
            return
        t.suspended = parked
    except BudgetExceeded as fault:
        fault.args = (f"{t.describe(k)} never sleeps: {fault.args[0]}",)
        fault.report = f"{fault.args[0]}\n\n{getattr(fault, 'report', '')}"
        raise
    finally:
        state.running.pop()
        k.memory.write_u32(current_var, previous)
        k.current_caller = caller


def _exit(k: Kernel, t: Kthread, result: int) -> None:
    t.done, t.result, t.suspended, t.ready, t.deadline = True, result, None, None, None
    _set_task_state(k, t.task, 0x80)  # EXIT_DEAD
    k.trace.add("note", "kthread exit", fields={"thread": t.name, "result": result})


def _free_thread(k: Kernel, state: Kthreads, t: Kthread) -> None:
    state.threads.pop(t.task, None)
    release(k, t.stack)
    release(k, t.task)


def _put_task(k: Kernel, state: Kthreads, t: Kthread) -> None:
    """The scheduler's reference on a reaped thread goes: freed now unless the module holds
    one (get_task_struct); its put_task_struct then ends in __put_task_struct."""
    usage = t.task + offset("task_struct", "usage")
    count = k.memory.read_u32(usage)
    if count <= 1:
        _free_thread(k, state, t)
        return
    k.memory.write_u32(usage, count - 1)
    state.threads.pop(t.task, None)
    state.reaped[t.task] = t


@service("void __put_task_struct(struct task_struct *t)")
def __put_task_struct(k: Kernel, t: int) -> None:
    """The last reference on a task went (the inline put_task_struct reached 0): free it."""
    state = k.subsystem(Kthreads)
    thread = state.reaped.pop(t, None) or state.threads.get(t)
    if thread is None:
        raise GuestFault("bad-argument", f"__put_task_struct({t:#x}) from {k.symbolizer.short(k.current_caller)}: "
                         "not a task this kernel made", pc=k.current_caller, address=t)
    if not thread.done:
        raise GuestFault("use-after-free", f"__put_task_struct of {thread.describe(k)} from "
                         f"{k.symbolizer.short(k.current_caller)} while it still runs (one put_task_struct "
                         "too many)", pc=k.current_caller, address=t)
    _free_thread(k, state, thread)


# -- creating and stopping --------------------------------------------------------------
def create(k: Kernel, fn: int, data: int, name: str) -> int:
    """A new kthread (not running until woken): its task_struct address, or ERR_PTR(-ENOMEM)."""
    state = k.subsystem(Kthreads)
    task = allocate(k, size("task_struct"), owner="kernel")
    stack = allocate(k, THREAD_STACK, owner="kernel")
    if not task or not stack:
        return -12 & 0xFFFFFFFF
    k.memory.write(task, bytes(size("task_struct")))
    _set_task_state(k, task, TASK_UNINTERRUPTIBLE)  # kthread() sleeps until the first wake-up
    comm_at, comm_size = member("task_struct", "comm")
    k.memory.write(task + comm_at, name.encode("latin-1", "replace")[:comm_size - 1].ljust(comm_size, b"\0"))
    k.memory.write_u32(task + offset("task_struct", "pid"), state.next_pid)
    k.memory.write_u32(task + offset("task_struct", "tgid"), state.next_pid)
    k.memory.write_u32(task + offset("task_struct", "flags"), PF_KTHREAD | PF_NOFREEZE)
    k.memory.write_u32(task + offset("task_struct", "stack"), stack)
    k.memory.write_u32(task + offset("task_struct", "usage"), 1)
    k.memory.write_u32(task + offset("task_struct", "rcu_users"), 2)
    state.next_pid += 1
    module = k.caller_module()
    state.threads[task] = Kthread(task, fn, data, name, stack, module.name if module else "kernel", k.current_caller)
    k.trace.add("note", "kthread create", fields={"thread": name, "function": k.symbolizer.short(fn), "pid": state.next_pid - 1})
    return task


@service("struct task_struct *kthread_create_on_node(int (*threadfn)(void *data), void *data, int node, "
         "const char namefmt[], ...)")
def kthread_create_on_node(k: Kernel, threadfn: int, data: int, node: int, namefmt: int, args: VarArgs) -> int:
    """Create a stopped kthread named by ``namefmt``; ``kthread_run`` then wakes it (wake_up_process)."""
    from .printk import format_guest

    name = format_guest(k, namefmt, args).decode("latin-1")
    return create(k, threadfn, data, name)


def _thread(k: Kernel, task: int, what: str) -> Kthread:
    t = thread_of(k, task)
    if t is None:
        raise GuestFault("bad-argument", f"{what}({task:#x}) from {k.symbolizer.short(k.current_caller)}: not a "
                         "kthread made by kthread_create", pc=k.current_caller, address=task)
    return t


def _current_thread(k: Kernel, what: str) -> Kthread | None:
    t = running_thread(k)
    if t is None:
        k.warn(f"{what}() from {k.symbolizer.short(k.current_caller)} outside a kthread")
    return t


@service("bool kthread_should_stop(void)")
def kthread_should_stop(k: Kernel) -> int:
    """Whether kthread_stop() was called for the running thread."""
    t = _current_thread(k, "kthread_should_stop")
    return int(t is not None and t.should_stop)


@service("bool kthread_should_park(void)")
def kthread_should_park(k: Kernel) -> int:
    """Whether kthread_park() was called for the running thread."""
    t = _current_thread(k, "kthread_should_park")
    return int(t is not None and t.should_park)


@service("bool kthread_freezable_should_stop(bool *was_frozen)")
def kthread_freezable_should_stop(k: Kernel, was_frozen: int) -> int:
    """kthread_should_stop() for freezable threads; nothing freezes here (``*was_frozen`` = false)."""
    if was_frozen:
        k.memory.write(was_frozen, b"\0")
    return kthread_should_stop(k)


def _wait_for(k: Kernel, done: Callable[[], bool], what: str, then: Callable[[int], int]) -> int:
    from .waits import sleep_until, waiter

    return sleep_until(k, done, None, lambda: f"{what} from {waiter(k)}", then=then)


@service("int kthread_stop(struct task_struct *k)")
def kthread_stop(k: Kernel, task: int) -> int:
    """Ask the thread to stop, wake it, sleep until its function returns: its result (then freed)."""
    t = _thread(k, task, "kthread_stop")
    t.should_stop = True
    t.should_park = False
    t.parked = False
    if not t.done and _task_state(k, task) & (TASK_NORMAL | TASK_PARKED):
        _set_task_state(k, task, TASK_RUNNING)
    state = k.subsystem(Kthreads)

    def finished(_: int) -> int:
        _put_task(k, state, t)
        k.trace.add("note", "kthread stop", fields={"thread": t.name, "result": t.result})
        return t.result & 0xFFFFFFFF

    return _wait_for(k, lambda: t.done, f"kthread_stop({t.describe(k)})", finished)


@service("int kthread_park(struct task_struct *k)")
def kthread_park(k: Kernel, task: int) -> int:
    """Ask the thread to park and sleep until it does (kthread_parkme): 0; -ENOSYS if it exited."""
    t = _thread(k, task, "kthread_park")
    if t.done:
        return -ENOSYS
    t.should_park = True
    if t.parked or running_thread(k) is t:
        return 0
    if _task_state(k, task) & TASK_NORMAL:
        _set_task_state(k, task, TASK_RUNNING)
    return _wait_for(k, lambda: t.parked or t.done, f"kthread_park({t.describe(k)})", lambda _: 0)


@service("void kthread_unpark(struct task_struct *k)")
def kthread_unpark(k: Kernel, task: int) -> None:
    """Let a parked thread go on."""
    t = _thread(k, task, "kthread_unpark")
    t.should_park = False
    if t.parked:
        t.parked = False
        _set_task_state(k, task, TASK_RUNNING)


@service("void kthread_parkme(void)")
def kthread_parkme(k: Kernel) -> None:
    """The running thread parks (TASK_PARKED) until kthread_unpark or kthread_stop."""
    from .waits import sleep_until, waiter

    t = _current_thread(k, "kthread_parkme")
    if t is None or not t.should_park:
        return
    t.parked = True
    _set_task_state(k, t.task, TASK_PARKED)

    def unparked(_: int) -> int:
        t.parked = False
        _set_task_state(k, t.task, TASK_RUNNING)
        return 0

    sleep_until(k, lambda: not t.should_park, None, lambda: f"kthread_parkme() of {waiter(k)}", then=unparked)


@service("void kthread_bind(struct task_struct *k, unsigned int cpu)")
def kthread_bind(k: Kernel, task: int, cpu: int) -> None:
    """Bind a not yet running thread to ``cpu``: there is only CPU 0 (another is Linux's WARN)."""
    _thread(k, task, "kthread_bind")
    if cpu:
        k.warn(f"kthread_bind to CPU {cpu} from {k.symbolizer.short(k.current_caller)}: only CPU 0 exists")


@service("void *kthread_data(struct task_struct *k)")
def kthread_data(k: Kernel, task: int) -> int:
    """The ``data`` the thread was created with."""
    return _thread(k, task, "kthread_data").data


@service("void *kthread_func(struct task_struct *k)")
def kthread_func(k: Kernel, task: int) -> int:
    """The thread's function (NULL for a task that is not a kthread)."""
    t = thread_of(k, task)
    return t.fn if t is not None else 0


def _exit_running(k: Kernel, code: int, what: str) -> int:
    t = running_thread(k)
    if t is None or not can_suspend(k):
        raise ServiceError(f"{what} from {k.symbolizer.short(k.current_caller)} outside a kthread's own code")
    _exit(k, t, code)
    k.cpu.request_suspend()
    return 0


@service("void kthread_complete_and_exit(struct completion *comp, long code)")
def kthread_complete_and_exit(k: Kernel, comp: int, code: int) -> None:
    """complete(comp), then the running thread exits with ``code`` (it never returns)."""
    from .completion import complete

    if comp:
        complete(k, comp)
    _exit_running(k, code, "kthread_complete_and_exit")


@service("void kthread_exit(long result)")
def kthread_exit(k: Kernel, result: int) -> None:
    """The running thread exits with ``result`` (kthread_stop returns it)."""
    _exit_running(k, result, "kthread_exit")


@service("void __module_put_and_kthread_exit(struct module *mod, long code)")
def __module_put_and_kthread_exit(k: Kernel, mod: int, code: int) -> None:
    """module_put(mod), then the running thread exits with ``code``."""
    from .lib import module_put

    module_put(k, mod)
    _exit_running(k, code, "__module_put_and_kthread_exit")


# -- the freezer: never active here ---------------------------------------------------------
freezer_active = kernel_variable("freezer_active", 4, 0)  # struct static_key_false: disabled


@service("bool set_freezable(void)")
def set_freezable(k: Kernel) -> int:
    """The running kthread may be frozen from now on (clears PF_NOFREEZE): true."""
    t = running_thread(k)
    if t is None:
        return 0
    t.freezable = True
    flags_at = t.task + offset("task_struct", "flags")
    k.memory.write_u32(flags_at, k.memory.read_u32(flags_at) & ~PF_NOFREEZE)
    return 1


@service("bool freezing_slow_path(struct task_struct *p)")
def freezing_slow_path(k: Kernel, p: int) -> int:
    """Whether ``p`` should freeze now: no system sleep is in progress, so false."""
    return 0


@service("bool __refrigerator(bool check_kthr_stop)")
def __refrigerator(k: Kernel, check_kthr_stop: int) -> int:
    """Enter the refrigerator: nothing is freezing, so the task leaves at once; false (not frozen)."""
    return 0


# -- kthread workers (kernel/kthread.c): a thread running queued kthread_work items in order ------
def _list_init(k: Kernel, node: int) -> None:
    k.memory.write_u32(node, node)
    k.memory.write_u32(node + 4, node)


def _list_empty(k: Kernel, node: int) -> bool:
    return k.memory.read_u32(node) == node


def _list_del_init(k: Kernel, node: int) -> None:
    nxt, prev = k.memory.read_u32(node), k.memory.read_u32(node + 4)
    k.memory.write_u32(nxt + 4, prev)
    k.memory.write_u32(prev, nxt)
    _list_init(k, node)


def _list_add_tail(k: Kernel, new: int, head: int) -> None:
    prev = k.memory.read_u32(head + 4)
    k.memory.write_u32(new, head)
    k.memory.write_u32(new + 4, prev)
    k.memory.write_u32(prev, new)
    k.memory.write_u32(head + 4, new)


def _worker(k: Kernel, worker: int) -> Fields:
    return Fields(k.memory, "kthread_worker", worker)


@service("void __kthread_init_worker(struct kthread_worker *worker, const char *name, struct lock_class_key *key)")
def __kthread_init_worker(k: Kernel, worker: int, name: int, key: int) -> None:
    """kthread_init_worker(): no task yet, empty work lists."""
    k.memory.write(worker, bytes(size("kthread_worker")))
    _list_init(k, worker + offset("kthread_worker", "work_list"))
    _list_init(k, worker + offset("kthread_worker", "delayed_work_list"))


@service("int kthread_worker_fn(void *worker_ptr)")
def kthread_worker_fn(k: Kernel, worker_ptr: int) -> int:
    """The worker thread's function: run the queued works one by one, sleep while none is queued,
    return 0 once kthread_stop asks. (Parked between works, it is called again, as Linux's loop.)"""
    t = running_thread(k)
    if t is None or not can_suspend(k):
        raise ServiceError(f"kthread_worker_fn({worker_ptr:#x}) called from {k.symbolizer.short(k.current_caller)} "
                           "outside a kthread's own code")
    w = _worker(k, worker_ptr)
    if not w["task"]:
        w["task"] = t.task
    _set_task_state(k, t.task, TASK_RUNNING)  # running again: woken, or a first call
    head = worker_ptr + offset("kthread_worker", "work_list")
    for _ in range(1 << 16):
        if t.should_stop:
            w["task"] = 0
            return 0
        if _list_empty(k, head):
            break
        work = k.memory.read_u32(head)  # the node is the first member of struct kthread_work
        _list_del_init(k, work)
        w["current_work"] = work
        func = k.memory.read_u32(work + offset("kthread_work", "func"))
        k.trace.add("note", "kthread work", fields={"worker": t.name, "function": k.symbolizer.short(func)})
        k.call_function_pointer(func, work)
        w["current_work"] = 0
    _set_task_state(k, t.task, TASK_INTERRUPTIBLE)

    def woken() -> bool:
        return t.should_stop or not _list_empty(k, head) or _task_state(k, t.task) == TASK_RUNNING

    def again() -> int:
        # No side effect: suspend() also calls this at once, while the thread is going to sleep.
        return worker_ptr

    return suspend(k, woken, None, again, rerun=True)


@service("struct kthread_worker *kthread_create_worker(unsigned int flags, const char namefmt[], ...)")
def kthread_create_worker(k: Kernel, flags: int, namefmt: int, args: VarArgs) -> int:
    """A worker and its thread (running kthread_worker_fn, woken): the worker, or ERR_PTR(-ENOMEM)."""
    from .printk import format_guest

    worker = allocate(k, size("kthread_worker"))
    if not worker:
        return -12 & 0xFFFFFFFF
    __kthread_init_worker(k, worker, 0, 0)
    _worker(k, worker)["flags"] = flags
    fn = k.export_address("kthread_worker_fn") or 0
    task = create(k, fn, worker, format_guest(k, namefmt, args).decode("latin-1"))
    if task >= 0xFFFFF001:
        release(k, worker)
        return task
    _worker(k, worker)["task"] = task
    _set_task_state(k, task, TASK_RUNNING)  # wake_up_process()
    return worker


@service("bool kthread_queue_work(struct kthread_worker *worker, struct kthread_work *work)")
def kthread_queue_work(k: Kernel, worker: int, work: int) -> int:
    """Queue ``work`` at the tail unless it is already queued: whether it was queued now."""
    if not _list_empty(k, work + offset("kthread_work", "node")):
        return 0
    _list_add_tail(k, work + offset("kthread_work", "node"), worker + offset("kthread_worker", "work_list"))
    k.memory.write_u32(work + offset("kthread_work", "worker"), worker)
    task = _worker(k, worker)["task"]
    if task and _task_state(k, task) & TASK_NORMAL:
        _set_task_state(k, task, TASK_RUNNING)
    return 1


def _work_busy(k: Kernel, work: int) -> bool:
    worker = k.memory.read_u32(work + offset("kthread_work", "worker"))
    return bool(worker) and (not _list_empty(k, work + offset("kthread_work", "node"))
                             or _worker(k, worker)["current_work"] == work)


@service("void kthread_flush_work(struct kthread_work *work)")
def kthread_flush_work(k: Kernel, work: int) -> None:
    """Sleep until ``work`` is neither queued nor running."""
    if _work_busy(k, work):
        _wait_for(k, lambda: not _work_busy(k, work), f"kthread_flush_work({k.symbolizer.short(work)})", lambda _: 0)


@service("bool kthread_cancel_work_sync(struct kthread_work *work)")
def kthread_cancel_work_sync(k: Kernel, work: int) -> int:
    """Take ``work`` off its queue (true if it was pending) and wait until it is not running."""
    node = work + offset("kthread_work", "node")
    pending = not _list_empty(k, node)
    if pending:
        _list_del_init(k, node)
    if _work_busy(k, work):
        return _wait_for(k, lambda: not _work_busy(k, work), f"kthread_cancel_work_sync({k.symbolizer.short(work)})",
                         lambda _: int(pending))
    return int(pending)


def _worker_idle(k: Kernel, worker: int) -> bool:
    return _list_empty(k, worker + offset("kthread_worker", "work_list")) and not _worker(k, worker)["current_work"]


@service("void kthread_flush_worker(struct kthread_worker *worker)")
def kthread_flush_worker(k: Kernel, worker: int) -> None:
    """Sleep until every work queued so far has run."""
    if not _worker_idle(k, worker):
        _wait_for(k, lambda: _worker_idle(k, worker), f"kthread_flush_worker({k.symbolizer.short(worker)})",
                  lambda _: 0)


@service("void kthread_destroy_worker(struct kthread_worker *worker)")
def kthread_destroy_worker(k: Kernel, worker: int) -> None:
    """Flush the worker, stop its thread, free it."""
    task = _worker(k, worker)["task"]
    if not task:
        return
    if not _worker_idle(k, worker):
        from .waits import sleep_until, waiter

        sleep_until(k, lambda: _worker_idle(k, worker), None,
                    lambda: f"kthread_destroy_worker({k.symbolizer.short(worker)}) from {waiter(k)}")
    kthread_stop(k, task)
    release(k, worker)


# -- scheduling policy -----------------------------------------------------------------------------
SCHED_NORMAL, SCHED_FIFO = 0, 1
MAX_RT_PRIO = 100


def _set_policy(k: Kernel, task: int, policy: int, rt_priority: int) -> None:
    k.memory.write_u32(task + offset("task_struct", "policy"), policy)
    k.memory.write_u32(task + offset("task_struct", "rt_priority"), rt_priority)
    k.memory.write_u32(task + offset("task_struct", "prio"), MAX_RT_PRIO - 1 - rt_priority if policy else 120)


@service("void sched_set_fifo(struct task_struct *p)")
def sched_set_fifo(k: Kernel, p: int) -> None:
    """SCHED_FIFO at MAX_RT_PRIO/2 (one CPU and cooperative tasks: the order of running is unchanged)."""
    _set_policy(k, p, SCHED_FIFO, MAX_RT_PRIO // 2)


@service("void sched_set_fifo_low(struct task_struct *p)")
def sched_set_fifo_low(k: Kernel, p: int) -> None:
    """SCHED_FIFO at priority 1."""
    _set_policy(k, p, SCHED_FIFO, 1)


@service("void sched_set_normal(struct task_struct *p, int nice)")
def sched_set_normal(k: Kernel, p: int, nice: int) -> None:
    """SCHED_NORMAL at ``nice``."""
    _set_policy(k, p, SCHED_NORMAL, 0)
    k.memory.write_u32(p + offset("task_struct", "static_prio"), 120 + nice)


@service("void set_user_nice(struct task_struct *p, long nice)")
def set_user_nice(k: Kernel, p: int, nice: int) -> None:
    """The task's nice value (static_prio = 120 + nice, clamped to -20..19)."""
    nice = max(-20, min(19, nice))
    k.memory.write_u32(p + offset("task_struct", "static_prio"), 120 + nice)


@service("void yield(void)")
def yield_(k: Kernel) -> None:
    """Give the CPU to whoever else can run: a kthread lets the others go first; the task lets the world run."""
    from .waits import let_world_run

    if can_suspend(k):
        suspend(k, lambda: True, None, lambda: 0)
        return
    let_world_run(k)
