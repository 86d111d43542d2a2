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
