"""Host-paced time: the timer interrupt preempts running guest code (``Kernel(time="host")``).

Busy-waits on jiffies end and Linux's own boot-time benchmarks (raid6_pq,
xor) finish, while the default deterministic mode keeps time still during a
guest run. No assertion here depends on how fast the host is: only that
time moved, that waits ended, and that nothing ran twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import BudgetExceeded, Kernel
from tests.linux_corpus import ko, needs_corpus

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
extern volatile unsigned long jiffies;
unsigned long get_random_u32(void);
/* raid6_pq's calibration loop: wait for the next tick. */
unsigned long wait_next_tick(void) {
    unsigned long j0 = jiffies, j1;
    while ((j1 = jiffies) == j0)
        asm volatile("rep; nop");
    return j1 - j0;
}
/* Read-modify-write stores between service calls, while ticks fall due: each must happen once. */
unsigned int words[4096];
unsigned int add_rounds(unsigned int rounds) {
    unsigned int r, i, sum = 0;
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < 4096; i++)
            asm volatile("addl %1, %0" : "+m"(words[i]) : "r"(1u));
        sum += get_random_u32() & 0;  /* a service call: where due ticks are taken */
    }
    for (i = 0; i < 4096; i++)
        sum += words[i];
    return sum;
}
/* A service called in a loop while ticks preempt it: each call must happen once. */
unsigned long call_many(int n) {
    unsigned long sum = 0;
    for (int i = 0; i < n; i++)
        sum += get_random_u32() & 0;
    return sum + n;
}
"""


@pytest.fixture
def waiter(compile_c: Callable[..., Path]) -> Path:
    return compile_c(SOURCE, "waiter", "-mregparm=3")


def test_busy_wait_on_jiffies_ends_with_host_time(waiter: Path) -> None:
    k = Kernel("linux", time="host")
    m = k.load(waiter)
    before = k.clock.ticks
    assert m.call("wait_next_tick") >= 1
    assert k.clock.ticks > before


def test_deterministic_mode_keeps_time_still_during_a_run(waiter: Path) -> None:
    k = Kernel("linux", budget_seconds=0.3)
    m = k.load(waiter)
    before = k.jiffies
    with pytest.raises(BudgetExceeded):
        m.call("wait_next_tick")
    assert k.jiffies == before
    k.use_host_time()
    assert m.call("wait_next_tick") >= 1  # the same kernel, switched over


def test_preempted_service_calls_run_exactly_once(waiter: Path) -> None:
    k = Kernel("linux", time="host")
    m = k.load(waiter)
    k.cpu.tick_period = 0.0005  # many more preemptions than HZ gives
    k.trace.clear()
    assert m.call("call_many", 20000) == 20000
    calls = sum(1 for e in k.trace if e.kind == "service" and e.name == "get_random_u32")
    assert calls == 20000


@needs_corpus
@pytest.mark.parametrize(("module", "line"), [
    ("lib/raid6/raid6_pq.ko", "raid6: using algorithm "),
    ("crypto/xor.ko", "xor: using function: "),
])
def test_linux_calibration_inits_return(module: str, line: str) -> None:
    k = Kernel("linux", unresolved="trap", time="host", budget_seconds=60)
    m = k.load(ko(module))
    assert m.init_ran and line in k.console
    assert k.clock.ticks > 0


def test_ticks_never_make_an_instruction_run_twice(waiter: Path) -> None:
    """Unicorn's asynchronous emu_stop can leave registers older than memory, so a stopped and resumed
    ``add [mem], reg`` may run twice (the CPU was stopped that way once: 1,690 extra additions in 4,300
    stops). Ticks are now taken at service calls and when the call returns, never by stopping the CPU."""
    k = Kernel("linux", time="host", budget_seconds=60)
    m = k.load(waiter)
    k.cpu.tick_period = 0.0002  # a tick due at almost every round
    before = k.clock.ticks
    assert m.call("add_rounds", 400, returns="uint") == 400 * 4096
    assert k.clock.ticks > before
