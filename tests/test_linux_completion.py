"""Completions: waiting advances the world (timers fire) until done or timed out; an endless wait is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel, ServiceError

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
struct hlist_node { void *next, **pprev; };
struct timer_list { struct hlist_node entry; unsigned long expires; void (*function)(struct timer_list *); unsigned int flags; };
struct swait_queue_head { unsigned int lock; struct { void *next, *prev; } task_list; };
struct completion { unsigned int done; struct swait_queue_head wait; };
extern volatile unsigned long jiffies;
void init_timer_key(struct timer_list *t, void (*f)(struct timer_list *), unsigned int flags, const char *n, void *k);
int mod_timer(struct timer_list *t, unsigned long expires);
void __init_swait_queue_head(struct swait_queue_head *q, const char *name, void *key);
void complete(struct completion *x);
void wait_for_completion(struct completion *x);
unsigned long wait_for_completion_timeout(struct completion *x, unsigned long timeout);

static struct completion done;
static struct timer_list timer;
static void fire(struct timer_list *t) { complete(&done); }
static void setup(void) { done.done = 0; __init_swait_queue_head(&done.wait, "done", 0); init_timer_key(&timer, fire, 0, "t", 0); }

/* the timer completes after 10 ticks; the wait ends then, with the rest of its 50 */
unsigned long timed(void) { setup(); mod_timer(&timer, jiffies + 10); return wait_for_completion_timeout(&done, 50); }
unsigned long too_short(void) { setup(); mod_timer(&timer, jiffies + 100); return wait_for_completion_timeout(&done, 20); }
unsigned long forever(void) { setup(); mod_timer(&timer, jiffies + 7); wait_for_completion(&done); return jiffies; }
void nobody(void) { setup(); wait_for_completion(&done); }
"""


@pytest.fixture
def waiter(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "compl", "-mregparm=3"))


def test_wait_ends_when_the_timer_completes(waiter) -> None:  # type: ignore[no-untyped-def]
    k, m = waiter
    start = k.clock.ticks
    assert m.call("timed", returns="uint") == 40
    assert k.clock.ticks - start == 10


def test_wait_times_out(waiter) -> None:  # type: ignore[no-untyped-def]
    k, m = waiter
    start = k.clock.ticks
    assert m.call("too_short", returns="uint") == 0
    assert k.clock.ticks - start == 20


def test_untimed_wait_runs_the_world_until_done(waiter) -> None:  # type: ignore[no-untyped-def]
    k, m = waiter
    before = k.jiffies
    assert (m.call("forever", returns="uint") - before) & 0xFFFFFFFF == 7


def test_a_wait_nothing_can_satisfy_is_named(waiter) -> None:  # type: ignore[no-untyped-def]
    _k, m = waiter
    with pytest.raises(ServiceError, match=r"wait_for_completion\(compl:done\) from compl:nobody\S* (\(tail call\) )?waits forever"):
        m.call("nobody")
