"""Wait queues, schedule*() and tasklets (kernel_stubs/linux/waits.py) under Linux 6.1 i386 modules.

The compiled module uses them as the kernel headers' inline code does
(``wait_event*`` loops, ``tasklet_schedule``'s SCHED bit, ``set_current_state``
through ``current_task``), compiled with ``-mregparm=3`` as Debian's 686 modules
are. (The small real modules that import these services reach them only from
file operations, bus probes or subsystems not emulated yet.)
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.layout import offset
from kernel_stubs.linux.waits import Tasklets, run_tasklets
from sandbox import Kernel, SandboxError

IRQ = 7

WAITS = r"""
typedef _Bool bool;
struct list_head { struct list_head *next, *prev; };
struct wait_queue_head { unsigned int lock; struct list_head head; };
struct wait_queue_entry;
typedef int (*wait_func)(struct wait_queue_entry *, unsigned int, int, void *);
struct wait_queue_entry { unsigned int flags; void *private; wait_func func; struct list_head entry; };
struct timer_list { struct list_head entry; unsigned long expires; void (*function)(struct timer_list *);
                    unsigned int flags; };
struct tasklet_struct { struct tasklet_struct *next; unsigned long state; int count; bool use_callback;
                        void (*callback)(struct tasklet_struct *); unsigned long data; };

extern volatile unsigned long jiffies;
extern char *current_task;
extern void __init_waitqueue_head(struct wait_queue_head *, const char *, void *);
extern void init_wait_entry(struct wait_queue_entry *, int);
extern long prepare_to_wait_event(struct wait_queue_head *, struct wait_queue_entry *, int);
extern void finish_wait(struct wait_queue_head *, struct wait_queue_entry *);
extern void add_wait_queue(struct wait_queue_head *, struct wait_queue_entry *);
extern void remove_wait_queue(struct wait_queue_head *, struct wait_queue_entry *);
extern void __wake_up(struct wait_queue_head *, unsigned int, int, void *);
extern void schedule(void);
extern long schedule_timeout(long);
extern void init_timer_key(struct timer_list *, void (*)(struct timer_list *), unsigned int, const char *, void *);
extern int mod_timer(struct timer_list *, unsigned long);
extern void tasklet_setup(struct tasklet_struct *, void (*)(struct tasklet_struct *));
extern void tasklet_init(struct tasklet_struct *, void (*)(unsigned long), unsigned long);
extern void __tasklet_schedule(struct tasklet_struct *);
extern void __tasklet_hi_schedule(struct tasklet_struct *);
extern void tasklet_kill(struct tasklet_struct *);
extern int request_threaded_irq(unsigned int, int (*)(int, void *), void *, unsigned long, const char *, void *);
extern const void *free_irq(unsigned int, void *);
extern int _printk(const char *, ...);

#define TASK_UNINTERRUPTIBLE 2
#define TASK_NORMAL 3
#define set_current_state(s) (*(volatile unsigned int *)(current_task + 16) = (s))
#define wake_up(wq) __wake_up(wq, TASK_NORMAL, 1, 0)

/* include/linux/wait.h, as it expands */
#define ___wait_cond_timeout(condition) ({ bool __cond = (condition); if (__cond && !__ret) __ret = 1; \
                                           __cond || !__ret; })
#define wait_event(wq, condition) do { struct wait_queue_entry __e; init_wait_entry(&__e, 0); \
    for (;;) { prepare_to_wait_event(&(wq), &__e, TASK_UNINTERRUPTIBLE); if (condition) break; schedule(); } \
    finish_wait(&(wq), &__e); } while (0)
#define wait_event_timeout(wq, condition, timeout) ({ long __ret = (timeout); struct wait_queue_entry __e; \
    init_wait_entry(&__e, 0); \
    for (;;) { prepare_to_wait_event(&(wq), &__e, TASK_UNINTERRUPTIBLE); \
               if (___wait_cond_timeout(condition)) break; __ret = schedule_timeout(__ret); } \
    finish_wait(&(wq), &__e); __ret; })

static struct wait_queue_head wq;
static struct timer_list timer;
static struct tasklet_struct tl, hi_tl, old_style;
static int dev;
volatile int fired, done_by_tasklet, tasklet_runs, hi_runs, old_runs, irq_hits, kill_on_exit = 1;
unsigned long waited, old_data;
int custom_calls[3];

static void fire(struct timer_list *t) { fired = 1; _printk("timer fired\n"); wake_up(&wq); }
static void run_tl(struct tasklet_struct *t) {
	tasklet_runs++; done_by_tasklet = 1; _printk("tasklet %d\n", tasklet_runs); wake_up(&wq);
}
extern void complete(void *);
extern void wait_for_completion(void *);
static struct { unsigned int done; unsigned int swait[3]; } hi_done;
static void run_hi(struct tasklet_struct *t) { hi_runs++; _printk("hi tasklet\n"); complete(&hi_done); }
void wait_for_hi_tasklet(void) {
	if (!(hi_tl.state & 1)) { hi_tl.state |= 1; __tasklet_hi_schedule(&hi_tl); }
	wait_for_completion(&hi_done);
}
static void run_old(unsigned long data) { old_runs++; old_data = data; }
static void schedule_tl(struct tasklet_struct *t) {   /* tasklet_schedule(): only if not already scheduled */
	if (!(t->state & 1)) { t->state |= 1; __tasklet_schedule(t); }
}
static int handler(int irq, void *id) {
	irq_hits++; _printk("irq %d\n", irq_hits); schedule_tl(&tl);
	if (!(hi_tl.state & 1)) { hi_tl.state |= 1; __tasklet_hi_schedule(&hi_tl); }
	return 1;
}

int init_module(void) {
	__init_waitqueue_head(&wq, "wq", 0);
	init_timer_key(&timer, fire, 0, "timer", 0);
	tasklet_setup(&tl, run_tl);
	tasklet_setup(&hi_tl, run_hi);
	tasklet_init(&old_style, run_old, 0x1234);
	return request_threaded_irq(7, handler, 0, 0, "waits", &dev);
}
void cleanup_module(void) { free_irq(7, &dev); if (kill_on_exit) tasklet_kill(&tl); }

/* Sleeps until the timer (armed ``delay`` ticks ahead) wakes it; the jiffies left of ``timeout``. */
long wait_for_timer(unsigned long delay, long timeout) {
	unsigned long start = jiffies;
	fired = 0;
	mod_timer(&timer, jiffies + delay);
	long left = wait_event_timeout(wq, fired, timeout);
	waited = jiffies - start;
	return left;
}
long wait_for_nothing(long timeout) { return wait_event_timeout(wq, 0, timeout); }
void wait_forever(void) { wait_event(wq, fired == 42); }
void wait_for_tasklet(void) { done_by_tasklet = 0; wait_event(wq, done_by_tasklet); }
long sleep_unqueued(long t) { set_current_state(TASK_UNINTERRUPTIBLE); return schedule_timeout(t); }
long sleep_running(long t) { return schedule_timeout(t); }
void kick(void) { schedule_tl(&tl); }
void kick_old(void) { old_style.state |= 1; __tasklet_schedule(&old_style); }
void kill(void) { tasklet_kill(&tl); }
unsigned long tl_state(void) { return tl.state; }

/* Poll-table style entries with the module's own wake function. */
static int custom_wake(struct wait_queue_entry *e, unsigned int mode, int sync, void *key) {
	custom_calls[(int)e->private]++; return 1;
}
static struct wait_queue_entry custom[3];
int wake_custom(int nr) {
	for (int i = 0; i < 3; i++) {
		custom[i].private = (void *)i; custom[i].func = custom_wake;
		add_wait_queue(&wq, &custom[i]);
		custom[i].flags = i ? 1 : 0;   /* 1 and 2 exclusive (add_wait_queue put them at the head) */
	}
	__wake_up(&wq, TASK_NORMAL, nr, 0);
	for (int i = 0; i < 3; i++) remove_wait_queue(&wq, &custom[i]);
	return wq.head.next == &wq.head;
}
"""


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", unresolved="trap", budget_seconds=20, check_vermagic=False)


@pytest.fixture
def waits(lk: Kernel, compile_c):
    return lk.load(compile_c(WAITS, "waits", "-mregparm=3"))


def read(k: Kernel, m, name: str) -> int:
    return k.memory.read_u32(m.address_of(name))


def test_layouts_come_from_the_generated_table() -> None:
    assert offset("task_struct", "__state") == 16
    assert offset("wait_queue_entry", "entry") == 12 and offset("wait_queue_head", "head") == 4
    assert offset("tasklet_struct", "callback") == 16 and offset("tasklet_struct", "data") == 20


def test_wait_event_sleeps_until_the_timer_wakes_it(lk: Kernel, waits) -> None:
    left = waits.call("wait_for_timer", 30, 100)
    assert read(lk, waits, "waited") == 30 and left == 70          # woken at the timer's tick: 70 of 100 left
    assert "timer fired\n" in lk.console
    assert lk.memory.read_u32(lk.memory.read_u32(lk.export_address("current_task")) + 16) == 0  # running again


def test_a_far_timer_is_reached_in_few_steps(lk: Kernel, waits) -> None:
    assert waits.call("wait_for_timer", 1_000_000, 0x7FFFFFFE) == 0x7FFFFFFE - 1_000_000
    assert read(lk, waits, "waited") == 1_000_000


def test_wait_event_timeout_times_out(lk: Kernel, waits) -> None:
    assert waits.call("wait_for_nothing", 25) == 0
    assert lk.clock.ticks == 25
    assert waits.call("wait_for_timer", 50, 10) == 0                # timer too late: timed out, 0
    assert read(lk, waits, "waited") == 10


def test_a_wait_nothing_can_end_names_the_waiter(lk: Kernel, waits) -> None:
    with pytest.raises(SandboxError, match=r"schedule\(\) from waits:wait_forever\+0x\w+ \(TASK_UNINTERRUPTIBLE\) "
                       r"waits forever: nothing pending"):
        waits.call("wait_forever")


def test_schedule_timeout_in_a_sleeping_state_sleeps_and_running_returns(lk: Kernel, waits) -> None:
    assert waits.call("sleep_unqueued", 12) == 0 and lk.clock.ticks == 12
    # TASK_RUNNING: Linux does not sleep; one tick passes here so polling loops see time move.
    assert waits.call("sleep_running", 12) == 11 and lk.clock.ticks == 13


def test_tasklets_run_after_the_irq_handlers_hi_first(lk: Kernel, waits) -> None:
    lk.raise_irq(IRQ)
    assert read(lk, waits, "irq_hits") == 1 and read(lk, waits, "tasklet_runs") == 1
    assert read(lk, waits, "hi_runs") == 1
    lines = [line for line in lk.console.splitlines() if line]
    assert lines[-3:] == ["irq 1", "hi tasklet", "tasklet 1"]
    assert waits.call("tl_state") == 0                             # SCHED and RUN bits cleared
    assert [e.fields["function"] for e in lk.trace.events if e.kind == "note" and e.name == "tasklet"] == [
        "waits:run_hi", "waits:run_tl"]


def test_a_sleeping_task_lets_a_scheduled_tasklet_run_and_wake_it(lk: Kernel, waits) -> None:
    waits.call("kick")                                              # scheduled from task context
    assert read(lk, waits, "tasklet_runs") == 0
    waits.call("wait_for_tasklet")
    assert read(lk, waits, "tasklet_runs") == 1


def test_task_context_tasklets_run_on_the_next_tick_and_old_style_get_data(lk: Kernel, waits) -> None:
    waits.call("kick")
    waits.call("kick")                                              # already scheduled: once
    waits.call("kick_old")
    assert lk.subsystem(Tasklets).normal != []
    lk.tick(1)
    assert read(lk, waits, "tasklet_runs") == 1
    assert read(lk, waits, "old_runs") == 1 and read(lk, waits, "old_data") == 0x1234
    assert run_tasklets(lk) == 0


def test_tasklet_kill_runs_a_scheduled_tasklet(lk: Kernel, waits) -> None:
    waits.call("kick")
    waits.call("kill")
    assert read(lk, waits, "tasklet_runs") == 1 and waits.call("tl_state") == 0
    assert lk.unload(waits).clean


def test_a_tasklet_left_scheduled_at_unload_is_reported(lk: Kernel, waits) -> None:
    lk.memory.write_u32(waits.address_of("kill_on_exit"), 0)
    waits.call("kick")
    report = lk.unload(waits)
    assert any("tasklet waits:tl" in leak and "still scheduled" in leak for leak in report.leaks), report.leaks
    assert lk.subsystem(Tasklets).normal == []


@pytest.mark.parametrize(("nr", "expected"), [(1, [0, 0, 1]), (2, [0, 1, 1]), (0, [1, 1, 1])])
def test_wake_up_calls_guest_wake_functions_and_counts_exclusive_waiters(lk: Kernel, waits, nr, expected) -> None:
    # Queue order: entry 2, entry 1 (exclusive, added at the head), entry 0.
    assert waits.call("wake_custom", nr) == 1                      # removed again: the queue is empty
    got = [lk.memory.read_u32(waits.address_of("custom_calls") + 4 * i) for i in range(3)]
    assert got == expected


def test_a_completion_waiter_lets_the_tasklet_that_completes_it_run(lk: Kernel, waits) -> None:
    waits.call("wait_for_hi_tasklet")
    assert read(lk, waits, "hi_runs") == 1 and read(lk, waits, "hi_done") == 0  # consumed by the waiter
