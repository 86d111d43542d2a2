"""Linux's interrupt API in the linux profile: request_threaded_irq, thread functions, free_irq.

A small module compiled here as Linux builds modules (-mregparm=3) uses the
6.1 export names; the sandbox raises its line and the module's own counters
tell what ran, in which context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
typedef int irqreturn_t;
typedef irqreturn_t (*irq_handler_t)(int, void *);
extern int request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn,
                                unsigned long flags, const char *name, void *dev);
extern const void *free_irq(unsigned int irq, void *dev);
extern void disable_irq(unsigned int irq);
extern void enable_irq(unsigned int irq);

struct dev { int hard, thread, pending; } dev;
static const char name[] = "threaded";

static irqreturn_t hard(int irq, void *d) {
    struct dev *p = d;
    p->hard++;
    p->pending = irq;
    return 2; /* IRQ_WAKE_THREAD */
}
static irqreturn_t thread(int irq, void *d) {
    struct dev *p = d;
    p->thread += p->pending == irq ? 1 : 100;   /* 100: ran without the hard half */
    p->pending = 0;
    return 1; /* IRQ_HANDLED */
}

int setup(int irq) { return request_threaded_irq(irq, hard, thread, 0, name, &dev); }
int setup_oneshot(int irq, unsigned long flags) { return request_threaded_irq(irq, 0, thread, flags, name, &dev); }
int teardown(int irq) { return free_irq(irq, &dev) == name; }
int hard_count(void) { return dev.hard; }
int thread_count(void) { return dev.thread; }
void mask(int irq) { disable_irq(irq); }
void unmask(int irq) { enable_irq(irq); }
"""


@pytest.fixture
def threaded(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux", unresolved="trap", budget_seconds=10)
    return k, k.load(compile_c(SOURCE, "threaded", "-mregparm=3"))


def test_hard_handler_wakes_its_thread(threaded) -> None:  # type: ignore[no-untyped-def]
    k, m = threaded
    assert m.call("setup", 7) == 0
    results = k.raise_irq(7)
    assert [r.result for r in results] == [2]  # IRQ_WAKE_THREAD
    assert m.call("hard_count") == 1 and m.call("thread_count") == 1
    thread_events = [e for e in k.trace if e.kind == "irq" and e.name == "thread"]
    assert len(thread_events) == 1 and thread_events[0].context == "task" and thread_events[0].result == 1
    k.raise_irq(7)
    assert m.call("thread_count") == 2
    assert m.call("teardown", 7) == 1  # free_irq gives back the name pointer it was requested with
    k.raise_irq(7)
    assert m.call("hard_count") == 2


def test_default_primary_handler_needs_oneshot(threaded) -> None:  # type: ignore[no-untyped-def]
    k, m = threaded
    assert m.call("setup_oneshot", 9, 0) == -22  # -EINVAL, as Linux without IRQF_ONESHOT
    assert m.call("setup_oneshot", 9, 0x2000) == 0
    k.raise_irq(9)
    # No hard half of the module's own: the thread saw no pending mark from it.
    assert m.call("hard_count") == 0 and m.call("thread_count") == 100


def test_masked_line_runs_nothing_until_it_is_unmasked(threaded) -> None:  # type: ignore[no-untyped-def]
    """disable_irq holds an interrupt back; enable_irq resends it (check_irq_resend), once."""
    k, m = threaded
    assert m.call("setup", 4) == 0
    m.call("mask", 4)
    assert k.raise_irq(4) == [] and k.raise_irq(4) == []
    assert m.call("hard_count") == 0
    m.call("unmask", 4)
    assert m.call("hard_count") == 1 and m.call("thread_count") == 1
    k.raise_irq(4)
    assert m.call("hard_count") == 2


PERNET_SOURCE = VERMAGIC + r"""
struct list_head { void *next, *prev; };
struct net;
struct pernet_operations {
    struct list_head list;
    int (*init)(struct net *net);
    void (*pre_exit)(struct net *net);
    void (*exit)(struct net *net);
    void (*exit_batch)(struct list_head *net_exit_list);
    void (*exit_batch_rtnl)(struct list_head *net_exit_list, struct list_head *dev_kill_list);
    unsigned int *id;
    unsigned int size;
};
extern int register_pernet_subsys(struct pernet_operations *ops);
extern void *__kmalloc(unsigned int size, unsigned int flags);
extern void kfree(const void *p);
static unsigned int my_id;
static struct pernet_operations ops = { .id = &my_id, .size = 24 };
int init_module(void) {
    kfree(__kmalloc(8, 0));   /* the heap is in use before pernet data is allocated */
    return register_pernet_subsys(&ops);   /* no exit: never unregistered */
}
/* register_pernet_subsys is EXPORT_SYMBOL_GPL: Linux refuses it to a module without a GPL license. */
static const char license[] __attribute__((used, section(".modinfo"))) = "license=GPL";
"""


def test_pernet_data_is_the_kernels_not_a_module_leak(compile_c: Callable[..., Path]) -> None:
    # The kernel allocates ops->size bytes per namespace on the module's behalf
    # and frees them itself; a module that never unregisters leaks the
    # registration, not that memory (which once was freed twice under memcheck).
    k = Kernel("linux", unresolved="trap", memcheck=True)
    m = k.load(compile_c(PERNET_SOURCE, "pernetleak", "-mregparm=3"))
    leaks = k.unload(m).leaks
    assert len(leaks) == 1 and "still registered" in leaks[0], leaks
