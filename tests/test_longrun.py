"""A long run stays within a stated bound of trace and console memory.

A million timer ticks (a driver timer firing every 100 ticks and logging a
line each time) with the trace capped at 5,000 events and the log at 64 KiB:
what is kept stays at the caps, what went is counted, and the Python memory
the run leaves behind (tracemalloc) stays under 16 MiB. The bound is a
memory bound, not a time.
"""

from __future__ import annotations

import tracemalloc

from sandbox import Kernel

TICKER = r"""
#include <kernel.h>
static struct timer_list timer;
static unsigned int fired;
static void tick(struct timer_list *t) {
	fired++;
	printk(KERN_INFO "ticker: fired %u at %lu\n", fired, jiffies);
	mod_timer(t, jiffies + 100);
}
int init_module(void) { timer_setup(&timer, tick, 0); mod_timer(&timer, jiffies + 100); return 0; }
void cleanup_module(void) { del_timer_sync(&timer); }
unsigned int fired_count(void) { return fired; }
"""

TRACE_LIMIT = 5000
CONSOLE_LIMIT = 64 << 10
MEMORY_BOUND = 16 << 20


def test_a_million_ticks_stay_within_the_trace_and_console_caps(compile_c) -> None:
    kernel = Kernel(trace_limit=TRACE_LIMIT, console_limit=CONSOLE_LIMIT)
    module = kernel.load(compile_c(TICKER, "ticker"))
    streamed: list[int] = []
    kernel.trace.sink = lambda event: streamed.append(event.seq)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kernel.tick(1_000_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert module.call("fired_count") == 10_000
    kept = kernel.trace.events
    assert TRACE_LIMIT <= len(kept) <= TRACE_LIMIT * 5 // 4
    assert kernel.trace.dropped == len(streamed) and streamed == list(range(len(streamed)))
    assert len(kernel.trace) == kernel.trace.dropped + len(kept) and kept[0].seq == kernel.trace.dropped
    assert kernel.log.dropped_chars > 0
    assert kernel.console.startswith(f"[... {kernel.log.dropped_chars} characters of older log dropped ...]\n")
    assert kernel.console.endswith("\n") and "ticker: fired 10000 at " in kernel.console
    assert len(kernel.console) <= CONSOLE_LIMIT * 5 // 4 + 100
    assert grown < MEMORY_BOUND
    kernel.unload(module)
