"""Budget trials: runaways of every shape, each stopped by its budget, every time.

Run as ``python -m tests.budget_trials OBJDIR TRIALS`` with the trial drivers
already compiled into OBJDIR (test_budgets.py does both, in a subprocess
under a CPU-time limit, so a budget that does not hold fails the test
instead of hanging it). Prints one ``SCENARIO KIND`` line per trial.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox import Kernel
from sandbox.errors import GuestFault

BUDGET = 0.3

# name -> (C source, function to call, kernel options)
SOURCES = {
    # A task sleeping in a loop while a timer re-arms itself every tick: each
    # msleep runs the timer (a nested guest call) and returns.
    "sleep-loop-with-timer": r"""
#include <kernel.h>
static struct timer_list timer;
static unsigned int fired;
static void tick(struct timer_list *t) { fired++; mod_timer(t, jiffies + 1); }
int run(void) {
	timer_setup(&timer, tick, 0);
	mod_timer(&timer, jiffies + 1);
	for (;;)
		msleep(1);
	return 0;
}
""",
    # A timer callback that never returns: the runaway is nested inside a service.
    "spin-in-timer": r"""
#include <kernel.h>
static struct timer_list timer;
static void spin(struct timer_list *t) { (void)t; for (;;) __asm__ volatile(""); }
int run(void) {
	timer_setup(&timer, spin, 0);
	mod_timer(&timer, jiffies + 1);
	msleep(10);
	return 0;
}
""",
    # An IRQ handler that makes the UART raise its line again on every delivery.
    "irq-storm": r"""
#include <kernel.h>
static unsigned int count;
static irqreturn_t storm(int irq, void *dev) {
	(void)irq; (void)dev;
	count++;
	outb('x', 0x3F8);
	return IRQ_HANDLED;
}
int run(void) {
	request_irq(4, storm, 0, "storm", &count);
	outb(0x08, 0x3FC);
	outb(0x02, 0x3F9);
	return 0;
}
""",
    # A plain loop calling a cheap service: the stop lands inside the hook.
    "service-loop": r"""
#include <kernel.h>
int run(void) { volatile unsigned int n = 0; for (;;) n += strlen("runaway"); return 0; }
""",
    # The first delay is past the budget already: time, not instructions, runs out.
    "busy-delay": r"""
#include <kernel.h>
int run(void) { for (;;) mdelay(1000); return 0; }
""",
}


def trial(objdir: Path, name: str) -> str:
    kernel = Kernel(budget_seconds=BUDGET)
    module = kernel.load(objdir / f"{name}.o")
    try:
        module.call("run")
    except GuestFault as fault:
        kind = fault.kind
    else:
        kind = "returned"
    # The kernel is usable afterwards: another driver loads and runs.
    other = kernel.load(objdir / "innocent.o")
    assert other.call("twice", 21) == 42
    return kind


INNOCENT = "int twice(int x) { return 2 * x; }\n"


def main() -> None:
    objdir = Path(sys.argv[1])
    trials = int(sys.argv[2])
    for _ in range(trials):
        for name in SOURCES:
            print(name, trial(objdir, name), flush=True)


if __name__ == "__main__":
    main()
