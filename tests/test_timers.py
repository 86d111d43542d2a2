"""Time: jiffies, the IRQ 0 tick, kernel timers, msleep and the busy-waits."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel

TIMERS = r"""
#include <kernel.h>

unsigned long now(void) { return jiffies; }
unsigned long long now64(void) { return get_jiffies_64(); }
void sleep_ms(unsigned int ms) { msleep(ms); }
void delay_us(unsigned long us) { udelay(us); }
void delay_ms(unsigned long ms) { mdelay(ms); }
void delay_const(unsigned long us) { __const_udelay(us * 0x10C7); }
unsigned int to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }
unsigned int to_msecs(unsigned int j) { return jiffies_to_msecs(j); }

static struct timer_list t;
static unsigned int fired;
static unsigned long fired_at;
static void on_timer(struct timer_list *timer) { fired++; fired_at = jiffies; (void)timer; }
void setup(void) { timer_setup(&t, on_timer, 0); }
int arm(unsigned long delay) { return mod_timer(&t, jiffies + delay); }
void arm_add(unsigned long delay) { t.expires = jiffies + delay; add_timer(&t); }
int disarm(void) { return del_timer(&t); }
int pending(void) { return timer_pending(&t); }
unsigned int fired_count(void) { return fired; }
unsigned long fired_jiffies(void) { return fired_at; }

static struct timer_list bare;
int arm_without_setup(void) { return mod_timer(&bare, jiffies + 1); }

static unsigned int ticks_seen;
static irqreturn_t on_tick(int irq, void *d) { (void)irq; (void)d; ticks_seen++; return IRQ_HANDLED; }
int hook_tick(void) { return request_irq(0, on_tick, 0, "tick", &ticks_seen); }
void unhook_tick(void) { free_irq(0, &ticks_seen); }
unsigned int tick_count(void) { return ticks_seen; }

/* Busy-wait with interrupts off: the tick must wait for the restore. */
unsigned int delay_locked(unsigned long us)
{
	unsigned long flags;
	unsigned int before;

	local_irq_save(flags);
	udelay(us);
	before = fired;
	local_irq_restore(flags);
	return before * 10 + fired;
}

/* jiffies seen inside (tens) and after (units) an interrupts-off busy-wait. */
unsigned long jiffies_locked(unsigned long us)
{
	unsigned long flags, inside;

	local_irq_save(flags);
	udelay(us);
	inside = jiffies;
	local_irq_restore(flags);
	return inside * 10 + jiffies;
}
"""


@pytest.fixture
def timers(kernel: Kernel, compile_c):
    return kernel.load(compile_c(TIMERS, "timers"))


def test_heartbeat_beats_every_tenth_of_a_second(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("heartbeat"))
    kernel.run_for(100)
    assert m.call("heartbeat_beats") == 10 and kernel.jiffies == 100
    kernel.tick(9)
    assert m.call("heartbeat_beats") == 10
    kernel.tick()
    assert m.call("heartbeat_beats") == 11
    fires = kernel.trace.of_kind("timer")
    assert len(fires) == 11 and all(e.context == "irq" for e in fires)
    assert fires[0].fields["function"].startswith("heartbeat:heartbeat_tick")
    report = kernel.unload(m)
    assert report.clean and "heartbeat: 11 beat(s)" in kernel.console
    kernel.run_for(50)  # the deleted timer stays quiet after unload
    assert len(kernel.trace.of_kind("timer")) == 11


def test_heartbeat_period_parameter(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("heartbeat", "clang", "rel"), params={"period_ms": 250})
    kernel.run_for(100)
    assert m.call("heartbeat_beats") == 4


def test_jiffies_is_a_kernel_variable_the_guest_reads(kernel: Kernel, timers) -> None:
    assert timers.call("now") == 0
    kernel.run_for(42)
    assert timers.call("now") == 42 and timers.call("now64", returns="u64") == 42
    assert kernel.memory.read_u32(kernel.export_address("jiffies")) == 42
    assert kernel.memory.read(kernel.export_address("jiffies_64"), 8) == (42).to_bytes(8, "little")


def test_conversions_round_up_to_whole_ticks(timers) -> None:
    assert [timers.call("to_jiffies", ms) for ms in (0, 1, 10, 11, 1000)] == [0, 1, 1, 2, 100]
    assert timers.call("to_msecs", 7) == 70


def test_msleep_advances_jiffies_and_runs_due_timers(kernel: Kernel, timers) -> None:
    timers.call("sleep_ms", 50)
    assert kernel.jiffies == 5
    timers.call("sleep_ms", 1)
    assert kernel.jiffies == 6  # never shorter than asked: one whole tick
    timers.call("setup")
    timers.call("arm", 3)
    timers.call("sleep_ms", 100)
    assert timers.call("fired_count") == 1 and timers.call("fired_jiffies") == 9
    fire = kernel.trace.of_kind("timer")[0]
    assert fire.depth == 1  # fired inside the msleep call


def test_busy_waits_advance_time_exactly(kernel: Kernel, timers) -> None:
    for _ in range(3):
        timers.call("delay_us", 3000)
    assert kernel.jiffies == 0 and kernel.clock.ns == 9_000_000
    timers.call("delay_us", 1000)
    assert kernel.jiffies == 1
    timers.call("delay_ms", 25)
    assert kernel.jiffies == 3 and kernel.clock.ns == 35_000_000
    timers.call("delay_const", 5000)  # Linux's udelay(5000) expansion
    assert kernel.jiffies == 4
    kernel.tick(1)
    assert kernel.clock.ns == 50_000_000  # a tick lands on the next tick boundary


def test_timer_api_return_values_and_pending_state(kernel: Kernel, timers) -> None:
    timers.call("setup")
    assert timers.call("pending") == 0 and timers.call("disarm") == 0
    assert timers.call("arm", 5) == 0 and timers.call("pending") == 1
    assert timers.call("arm", 10) == 1  # re-arming a pending timer moves it
    kernel.run_for(9)
    assert timers.call("fired_count") == 0
    kernel.run_for(1)
    assert timers.call("fired_count") == 1 and timers.call("pending") == 0
    timers.call("arm_add", 2)
    assert timers.call("disarm") == 1
    kernel.run_for(5)
    assert timers.call("fired_count") == 1


def test_timers_due_together_fire_in_expiry_order(kernel: Kernel, compile_c) -> None:
    source = r"""
    #include <kernel.h>
    static struct timer_list a, b; static char order[4]; static int n;
    static void fa(struct timer_list *t) { (void)t; order[n++] = 'a'; }
    static void fb(struct timer_list *t) { (void)t; order[n++] = 'b'; }
    void go(void) { timer_setup(&a, fa, 0); timer_setup(&b, fb, 0); mod_timer(&a, jiffies + 3); mod_timer(&b, jiffies + 2); }
    void stop(void) { del_timer(&a); del_timer(&b); }
    int get(void) { return order[0] << 8 | order[1]; }
    """
    m = kernel.load(compile_c(source, "two"))
    m.call("go")
    kernel.run_for(5)  # both due within one run; b expires first
    assert m.call("get") == ord("b") << 8 | ord("a")


def test_an_armed_timer_at_unload_is_a_leak(kernel: Kernel, timers) -> None:
    timers.call("setup")
    timers.call("arm", 50)
    report = kernel.unload(timers)
    assert len(report.leaks) == 1
    leak = report.leaks[0]
    assert leak.startswith("timer timers:t still armed") and "timers:on_timer" in leak and "expires at jiffies 50" in leak
    kernel.run_for(60)  # disarmed: nothing calls into the unloaded module
    assert kernel.trace.of_kind("timer") == []


def test_a_timer_without_a_function_is_refused(timers) -> None:
    with pytest.raises(GuestFault) as fault:
        timers.call("arm_without_setup")
    assert fault.value.kind == "timer-error" and "timer_setup missing" in str(fault.value)


def test_guest_handlers_on_irq0_see_every_tick(kernel: Kernel, timers) -> None:
    assert timers.call("hook_tick") == 0
    kernel.run_for(7)
    assert timers.call("tick_count") == 7
    timers.call("unhook_tick")
    kernel.trace.clear()
    kernel.run_for(3)
    assert kernel.trace.of_kind("irq") == []  # ticks only the kernel handles are not traced


def test_ticks_wait_while_interrupts_are_off(kernel: Kernel, timers) -> None:
    timers.call("setup")
    timers.call("arm", 1)
    assert timers.call("delay_locked", 20000) == 0 * 10 + 1  # fired after the restore, not during
    assert kernel.jiffies == 2
    assert timers.call("jiffies_locked", 30000) == 2 * 10 + 5  # jiffies stood still, then caught up


def test_sleeping_with_interrupts_off_is_reported(kernel: Kernel, compile_c) -> None:
    source = r"""
    #include <kernel.h>
    void bad(void) { unsigned long f; local_irq_save(f); msleep(10); local_irq_restore(f); }
    """
    m = kernel.load(compile_c(source, "atomic"))
    m.call("bad")
    notes = [e for e in kernel.trace.of_kind("note") if e.name == "sleep-in-atomic"]
    assert len(notes) == 1 and "scheduling while atomic" in notes[0].fields["warning"]
    assert kernel.jiffies == 1


def test_generic_profile_keeps_hz_100_from_zero(kernel: Kernel, timers) -> None:
    assert (kernel.profile.hz, kernel.profile.initial_jiffies) == (100, 0)
    assert kernel.clock.hz == 100 and kernel.clock.tick_ns == 10_000_000
    assert kernel.jiffies == 0 and timers.call("now") == 0 and timers.call("now64", returns="u64") == 0


def test_a_long_wait_delivers_only_the_ticks_something_waits_for(kernel: Kernel, timers) -> None:
    delivered: list[int] = []
    kernel.add_irq_hook(0, lambda: delivered.append(kernel.clock.ticks), due=lambda: None)
    timers.call("setup")
    timers.call("arm", 250)
    kernel.run_for(100_000)
    # The tick the timer waited for, then the last one (jiffies must end right).
    assert delivered == [250, 100_000]
    assert timers.call("fired_count") == 1 and timers.call("fired_jiffies") == 250
    assert timers.call("now") == 100_000
    assert timers.call("hook_tick") == 0  # a guest handler on line 0 sees every tick again
    kernel.run_for(5)
    assert timers.call("tick_count") == 5 and delivered[-5:] == list(range(100_001, 100_006))


def test_a_timer_rearmed_for_now_fires_on_the_next_tick(kernel: Kernel, compile_c) -> None:
    source = r"""
    #include <kernel.h>
    static struct timer_list t;
    static unsigned int fired;
    static void again(struct timer_list *timer) { fired++; mod_timer(timer, jiffies); }
    void start(void) { timer_setup(&t, again, 0); mod_timer(&t, jiffies + 1); }
    void stop(void) { del_timer_sync(&t); }
    unsigned int count(void) { return fired; }
    """
    m = kernel.load(compile_c(source, "again"))
    m.call("start")
    kernel.run_for(3)
    assert m.call("count") == 3  # once per tick, not forever within one
    m.call("stop")
