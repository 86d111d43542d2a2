"""The linux profile's time is the kernel's one clock: HZ=250, jiffies from
INITIAL_JIFFIES, moved alike by the host (``k.tick``/``run_for``) and by the
module's own sleeps, with real modules' timers firing on its ticks.

The hangcheck-timer tests need Debian's modules (tools/fetch-linux-modules);
the compiled module does not.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.timers import Timers
from kernel_stubs.profiles import LINUX
from sandbox import Kernel, SandboxError

from .linux_corpus import ko, needs_corpus

HZ = 250
INITIAL_JIFFIES = 0xFFFEDB08  # (unsigned int)(-300 * 250), Linux's boot value
HANGCHECK_TICK = 180 * HZ  # hangcheck_tick defaults to 180 s

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
extern unsigned long volatile jiffies;
extern unsigned long long jiffies_64;
extern void msleep(unsigned int ms);
extern void __const_udelay(unsigned long xloops);
extern long schedule_timeout_uninterruptible(long timeout);

unsigned long now(void) { return jiffies; }
unsigned long long now64(void) { return jiffies_64; }
unsigned long slept(unsigned int ms) { unsigned long a = jiffies; msleep(ms); return jiffies - a; }
unsigned long delayed(unsigned long us) { unsigned long a = jiffies; __const_udelay(us * 0x10c7); return jiffies - a; }
unsigned long timed_out(long t) { unsigned long a = jiffies; schedule_timeout_uninterruptible(t); return jiffies - a; }
/* The classic wrap bug: a plain comparison instead of time_after(). */
int naive_expired(unsigned long deadline) { return jiffies > deadline; }
"""


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", unresolved="trap", budget_seconds=10)


@pytest.fixture
def clockmod(lk: Kernel, compile_c):
    return lk.load(compile_c(SOURCE, "clockmod", "-mregparm=3"))


def read_jiffies(k: Kernel) -> tuple[int, int]:
    j = k.memory.read_u32(k.export_address("jiffies"))
    j64 = int.from_bytes(k.memory.read(k.export_address("jiffies_64"), 8), "little")
    return j, j64


def test_profile_states_hz_and_initial_jiffies(lk: Kernel) -> None:
    assert (LINUX.hz, LINUX.initial_jiffies) == (HZ, INITIAL_JIFFIES)
    assert lk.clock.hz == HZ and lk.clock.tick_ns == 4_000_000
    # jiffies_64 is the same constant zero-extended, as Linux's (unsigned long)(unsigned int) cast makes it.
    assert read_jiffies(lk) == (INITIAL_JIFFIES, INITIAL_JIFFIES) and lk.jiffies == INITIAL_JIFFIES


def test_host_ticks_move_the_jiffies_a_module_reads(lk: Kernel, clockmod) -> None:
    assert clockmod.call("now", returns="uint") == INITIAL_JIFFIES
    lk.tick(3)
    assert clockmod.call("now", returns="uint") == INITIAL_JIFFIES + 3
    lk.run_for(HZ)  # one second
    assert clockmod.call("now", returns="uint") == INITIAL_JIFFIES + 3 + HZ
    # Five minutes after boot the 32-bit jiffies wraps; jiffies_64 carries on.
    lk.run_for(300 * HZ - 3 - HZ)
    assert clockmod.call("now", returns="uint") == 0 and clockmod.call("now64", returns="u64") == 1 << 32
    assert read_jiffies(lk) == (0, 1 << 32)


def test_wrap_bugs_show(lk: Kernel, clockmod) -> None:
    deadline = (INITIAL_JIFFIES + 300 * HZ + 10) & 0xFFFFFFFF  # 10 jiffies after the wrap
    assert clockmod.call("naive_expired", deadline) == 1  # "expired" 5 minutes early, as on Linux


def test_module_sleeps_and_delays_move_the_same_clock(lk: Kernel, clockmod) -> None:
    # msleep is msecs_to_jiffies(40) + 1 = 11 ticks at HZ=250, as Linux's (the current tick is under way).
    assert clockmod.call("slept", 40) == 11
    assert clockmod.call("delayed", 8000) == 2
    assert clockmod.call("timed_out", 7) == 7
    assert lk.clock.ticks == 20 and lk.clock.ns == 20 * 4_000_000
    assert clockmod.call("now", returns="uint") == INITIAL_JIFFIES + 20


def test_sleeping_until_woken_with_nothing_to_wake_it_is_an_error(lk: Kernel, clockmod) -> None:
    # schedule_timeout(MAX_SCHEDULE_TIMEOUT) in a sleeping state, nothing pending: Linux would hang.
    with pytest.raises(SandboxError, match=r"schedule_timeout\(\) from clockmod:timed_out\+0x\w+ "
                       r"\(TASK_UNINTERRUPTIBLE\) waits forever"):
        clockmod.call("timed_out", 0x7FFFFFFF)
    assert lk.clock.ticks == 0


@needs_corpus
def test_real_module_arms_from_initial_jiffies(lk: Kernel) -> None:
    m = lk.load(ko("drivers/char/hangcheck-timer.ko"))
    (armed,) = lk.subsystem(Timers).armed.values()
    assert lk.module_at(armed.function) is m
    assert armed.expires == (INITIAL_JIFFIES + HANGCHECK_TICK) & 0xFFFFFFFF  # jiffies + tick * HZ
    assert lk.unload(m).clean


@needs_corpus
def test_host_run_for_fires_a_real_modules_timer(lk: Kernel) -> None:
    m = lk.load(ko("drivers/char/hangcheck-timer.ko"))
    timers = lk.subsystem(Timers)
    (armed,) = timers.armed.values()
    lk.run_for(HANGCHECK_TICK - 1)
    assert timers.fired == 0
    lk.tick()
    assert timers.fired == 1
    (rearmed,) = timers.armed.values()
    # The callback re-armed from the jiffies it read: those the host's ticks moved, past the wrap.
    assert rearmed.address == armed.address
    assert rearmed.expires == (INITIAL_JIFFIES + 2 * HANGCHECK_TICK) & 0xFFFFFFFF == 15000
    lk.run_for(HANGCHECK_TICK)
    assert timers.fired == 2
    fires = lk.trace.of_kind("timer")
    assert [e.fields["jiffies"] for e in fires] == [(INITIAL_JIFFIES + n * HANGCHECK_TICK) & 0xFFFFFFFF
                                                   for n in (1, 2)]
    assert all(e.context == "irq" for e in fires)
    assert lk.unload(m).clean and not timers.armed


@needs_corpus
def test_a_sleep_fires_a_real_modules_timer(lk: Kernel) -> None:
    m = lk.load(ko("drivers/char/hangcheck-timer.ko"))
    timers = lk.subsystem(Timers)
    lk.call(lk.export_address("msleep"), 180_000)  # the task sleeps 180 s (and the tick under way)
    assert timers.fired == 1 and lk.clock.ticks == HANGCHECK_TICK + 1
    assert lk.unload(m).clean


@needs_corpus
def test_snapshot_restores_the_clock_and_the_armed_timer(lk: Kernel) -> None:
    m = lk.load(ko("drivers/char/hangcheck-timer.ko"))
    snap = lk.snapshot()
    lk.run_for(HANGCHECK_TICK)
    assert lk.subsystem(Timers).fired == 1
    lk.restore(snap)
    assert read_jiffies(lk) == (INITIAL_JIFFIES, INITIAL_JIFFIES) and lk.clock.ticks == 0
    timers = lk.subsystem(Timers)
    (armed,) = timers.armed.values()
    assert timers.fired == 0 and armed.expires == (INITIAL_JIFFIES + HANGCHECK_TICK) & 0xFFFFFFFF
    lk.run_for(HANGCHECK_TICK)
    assert timers.fired == 1 and len(lk.trace.of_kind("timer")) == 1  # once: the restored state fires it
    assert lk.unload(m).clean
