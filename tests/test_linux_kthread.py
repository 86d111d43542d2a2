"""Kernel threads as cooperative tasks and seq_file /proc files, on Linux's own pktgen.ko.

pktgen's init creates one ``kpktgend_0`` thread per CPU, wakes it and
waits for its ``start_done`` completion; the thread then loops on
``wait_event_interruptible_timeout(..., HZ/10)`` until ``kthread_stop`` at
unload. Its /proc files are seq_files (``single_open``, ``seq_read``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import BudgetExceeded, Kernel
from tests.linux_corpus import ko, needs_corpus

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SPINNER = VERMAGIC + r"""
struct task_struct;
struct task_struct *kthread_create_on_node(int (*fn)(void *), void *data, int node, const char *fmt, ...);
int wake_up_process(struct task_struct *p);
int kthread_stop(struct task_struct *k);
_Bool kthread_should_stop(void);
long schedule_timeout_interruptible(long timeout);
void msleep(unsigned int ms);
static volatile int rounds;
static int sleeper(void *data) {
    while (!kthread_should_stop()) { rounds++; schedule_timeout_interruptible(10); }
    return 42 + (int)(long)data;
}
static int spinner(void *data) { for (;;) rounds++; return 0; }
static struct task_struct *t;
int start(int spin) {
    t = kthread_create_on_node(spin ? spinner : sleeper, (void *)1, -1, "worker/%d", 7);
    wake_up_process(t);
    return 0;
}
int stop(void) { return kthread_stop(t); }
int nap(void) { msleep(100); return rounds; }
int count(void) { return rounds; }

struct list_head { struct list_head *next, *prev; };
struct kthread_work { struct list_head node; void (*func)(struct kthread_work *); void *worker; int canceling; };
struct kthread_worker;
struct kthread_worker *kthread_create_worker(unsigned int flags, const char *fmt, ...);
_Bool kthread_queue_work(struct kthread_worker *w, struct kthread_work *work);
void kthread_flush_worker(struct kthread_worker *w);
_Bool kthread_cancel_work_sync(struct kthread_work *work);
void kthread_destroy_worker(struct kthread_worker *w);
static int order;
static void first(struct kthread_work *w) { order = order * 10 + 1; }
static void second(struct kthread_work *w) { order = order * 10 + 2; msleep(10); }
static struct kthread_work w1 = { { &w1.node, &w1.node }, first }, w2 = { { &w2.node, &w2.node }, second };
static struct kthread_worker *worker;
int workers(void) {
    int queued, again, cancelled;
    worker = kthread_create_worker(0, "kworker/%s", "test");
    queued = kthread_queue_work(worker, &w1) + kthread_queue_work(worker, &w2);
    again = kthread_queue_work(worker, &w1);            /* already queued: false */
    kthread_flush_worker(worker);                       /* both ran, in order */
    kthread_queue_work(worker, &w2);
    cancelled = kthread_cancel_work_sync(&w2);          /* still pending: taken off, true */
    kthread_destroy_worker(worker);
    return order * 1000 + queued * 100 + again * 10 + cancelled;
}
"""


def _events(k: Kernel, name: str) -> list[dict[str, object]]:
    return [e.fields for e in k.trace if e.kind == "note" and e.name == name]


@pytest.fixture
def threads(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SPINNER, "kthr", "-mregparm=3"))


def test_a_thread_runs_while_the_creator_sleeps_and_stop_returns_its_result(threads) -> None:  # type: ignore[no-untyped-def]
    k, m = threads
    m.call("start", 0)
    assert m.call("count") == 0  # woken, but it runs when the world advances
    start = k.clock.ticks
    rounds = m.call("nap")  # msleep(100) = 26 ticks: the thread wakes every 10
    assert k.clock.ticks - start == 26
    assert rounds == 3
    assert m.call("stop") == 43  # kthread_stop wakes it; it sees should_stop and returns 42 + data
    assert _events(k, "kthread create")[0]["thread"] == "worker/7"
    assert _events(k, "kthread stop")[0]["result"] == 43


def test_the_host_moving_time_runs_the_thread(threads) -> None:  # type: ignore[no-untyped-def]
    k, m = threads
    m.call("start", 0)
    k.run_for(25)
    assert m.call("count") == 3  # at 0, after 10 and after 20 ticks
    assert m.call("stop") == 43


def test_a_thread_that_never_sleeps_is_named(threads) -> None:  # type: ignore[no-untyped-def]
    k, m = threads
    k.cpu.budget_seconds = 0.5
    m.call("start", 1)
    with pytest.raises(BudgetExceeded, match=r"kthread 'worker/7' \(kthr:spinner\) never sleeps"):
        m.call("nap")


def test_kthread_worker_runs_queued_work_in_order(threads) -> None:  # type: ignore[no-untyped-def]
    k, m = threads
    assert m.call("workers") == 12 * 1000 + 2 * 100 + 0 * 10 + 1
    assert [e["function"] for e in _events(k, "kthread work")] == ["kthr:first", "kthr:second"]
    assert _events(k, "kthread stop")[0]["thread"] == "kworker/test"


@needs_corpus
def test_watchdog_core_makes_its_worker_thread() -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(ko("drivers/watchdog/watchdog.ko"))  # watchdog_dev_init: kthread_create_worker, sched_set_fifo
    assert _events(k, "kthread create")[0]["thread"] == "watchdogd"
    assert k.unload(m).leaks == []
    assert _events(k, "kthread stop")[0]["thread"] == "watchdogd"


@needs_corpus
def test_pktgen_thread_starts_runs_and_stops() -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(ko("net/core/pktgen.ko"))
    assert "pktgen: Packet Generator for packet performance testing. Version: 2.75" in k.console
    # init waited for the thread's complete(&t->start_done): the thread ran inside that wait
    names = [(e.kind, e.name) for e in k.trace]
    started = names.index(("note", "kthread start"))
    assert names.index(("service", "wait_for_completion")) < started < names.index(("service", "complete"))
    assert _events(k, "kthread create")[0]["thread"] == "kpktgend_0"
    report = k.unload(m)
    assert report.leaks == []
    assert _events(k, "kthread stop") == [{"thread": "kpktgend_0", "result": 0}]


@needs_corpus
def test_pktgen_proc_files_are_seq_files() -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(ko("net/core/pktgen.ko"))
    # pktgen makes its directory in init_net's proc_net: /proc/net/pktgen
    with k.open("/proc/net/pktgen/pgctrl") as f:
        assert f.read(4096) == b"Packet Generator for packet performance testing. Version: 2.75\n"
        assert f.read(4096) == b""
    with k.open("/proc/net/pktgen/kpktgend_0") as f:  # single_open: pktgen_thread_show
        head = f.read(5)
        assert head + f.read(100) == b"Running: \nStopped: \nResult: NA\n"
        assert f.llseek(9) == 9  # seq_lseek: traverse() to byte 9
        assert f.read(9) == b"\nStopped:"
    assert k.unload(m).leaks == []
