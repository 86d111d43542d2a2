"""Time as Linux 6.1 exports it: jiffies, delays and sleeps on the kernel's one clock.

Nothing waits for real time: a delay or sleep moves the machine clock
(``k.advance_time``), the ticks it crosses are delivered as IRQ 0, which
publishes ``jiffies``/``jiffies_64`` and fires due timers, exactly as when the
host calls ``k.tick()``/``run_for()``. The profile sets the clock up as
Debian's 686 kernel: HZ=250, jiffies starting at INITIAL_JIFFIES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.profiles import LINUX
from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

HZ = LINUX.hz
INITIAL_JIFFIES = LINUX.initial_jiffies
NSEC_PER_JIFFY = 1_000_000_000 // HZ

# The Kernel writes both from its clock at boot and on every tick delivered;
# the initial values only say the same. jiffies_64 = INITIAL_JIFFIES too: the
# constant is (unsigned long)(unsigned int)(-300*HZ), zero-extended.
jiffies = kernel_variable("jiffies", 4, INITIAL_JIFFIES)
jiffies_64 = kernel_variable("jiffies_64", 8, INITIAL_JIFFIES)
loops_per_jiffy = kernel_variable("loops_per_jiffy", 4, 4_000_000 // HZ)


def sleep(k: Kernel, ns: int) -> None:
    """The task sleeps ``ns``: time moves (ticks are delivered, timers fire), a grace
    period passes (RCU callbacks run) and, as the CPU is free, the kworkers run queued work."""
    k.advance_time(ns)
    _after_sleep(k)


def _after_sleep(k: Kernel) -> None:
    from .waits import let_world_run

    let_world_run(k)


@service("void __const_udelay(unsigned long xloops)")
def __const_udelay(k: Kernel, xloops: int) -> None:
    """udelay() of a constant: xloops = usecs * 2^32 / 10^6 (0x10c7 per microsecond)."""
    k.advance_time((xloops * 1000) // 0x10C7)


@service("void __udelay(unsigned long usecs)")
def __udelay(k: Kernel, usecs: int) -> None:
    """udelay()."""
    k.advance_time(usecs * 1000)


@service("void __ndelay(unsigned long nsecs)")
def __ndelay(k: Kernel, nsecs: int) -> None:
    """ndelay()."""
    k.advance_time(nsecs)


@service("void msleep(unsigned int msecs)")
def msleep(k: Kernel, msecs: int) -> None:
    """Sleep as Linux 6.1 does: msecs_to_jiffies(msecs) + 1 ticks (the +1 because the
    current tick is already under way), so msleep(40) at HZ=250 is 11 jiffies."""
    schedule_timeout(k, __msecs_to_jiffies(k, msecs) + 1)


@service("unsigned long msleep_interruptible(unsigned int msecs)")
def msleep_interruptible(k: Kernel, msecs: int) -> int:
    """msleep() that a signal could cut short; none arrives here, so 0 ms are left."""
    from .waits import schedule_timeout_then

    return schedule_timeout_then(k, __msecs_to_jiffies(k, msecs) + 1, lambda _: 0)


@service("void usleep_range_state(unsigned long min, unsigned long max, unsigned int state)")
def usleep_range_state(k: Kernel, low: int, high: int, state: int) -> None:
    """usleep_range(): sleeps the minimum."""
    sleep(k, low * 1000)


def schedule_timeout(k: Kernel, timeout: int) -> int:
    """schedule_timeout_uninterruptible() (waits.py): what msleep() loops on in Linux."""
    from .waits import schedule_timeout_uninterruptible

    return schedule_timeout_uninterruptible(k, timeout)


@service("unsigned long __msecs_to_jiffies(unsigned int m)")
def __msecs_to_jiffies(k: Kernel, m: int) -> int:
    """msecs_to_jiffies() of a variable."""
    return min((m * k.clock.hz + 999) // 1000, 0x3FFFFFFE)


@service("unsigned long __usecs_to_jiffies(unsigned int u)")
def __usecs_to_jiffies(k: Kernel, u: int) -> int:
    """usecs_to_jiffies() of a variable."""
    return min((u * k.clock.hz + 999_999) // 1_000_000, 0x3FFFFFFE)


@service("unsigned int jiffies_to_msecs(unsigned long j)")
def jiffies_to_msecs(k: Kernel, j: int) -> int:
    """Jiffies to milliseconds."""
    return (j * 1000 // k.clock.hz) & 0xFFFFFFFF


@service("unsigned int jiffies_to_usecs(unsigned long j)")
def jiffies_to_usecs(k: Kernel, j: int) -> int:
    """Jiffies to microseconds."""
    return (j * 1_000_000 // k.clock.hz) & 0xFFFFFFFF


@service("u64 ktime_get(void)")
def ktime_get(k: Kernel) -> int:
    """Monotonic nanoseconds."""
    return k.clock.ns


# CLOCK_REALTIME: the machine booted at this wall-clock time (2026-01-01T00:00:00Z), fixed so runs
# repeat; CLOCK_BOOTTIME equals CLOCK_MONOTONIC (nothing suspends); CLOCK_TAI is 37 s ahead of UTC.
REALTIME_AT_BOOT_NS = 1_767_225_600 * 1_000_000_000
TAI_OFFSET_NS = 37 * 1_000_000_000
TK_OFFS_REAL, TK_OFFS_BOOT, TK_OFFS_TAI = 0, 1, 2
NSEC_PER_SEC = 1_000_000_000


def realtime_ns(k: Kernel) -> int:
    """CLOCK_REALTIME in nanoseconds."""
    return REALTIME_AT_BOOT_NS + k.clock.ns


@service("u64 ktime_get_with_offset(int offs)")
def ktime_get_with_offset(k: Kernel, offs: int) -> int:
    """Nanoseconds on another clock base: REAL (boot wall time + monotonic), BOOT (= monotonic), TAI."""
    if offs == TK_OFFS_REAL:
        return realtime_ns(k)
    if offs == TK_OFFS_TAI:
        return realtime_ns(k) + TAI_OFFSET_NS
    return k.clock.ns


@service("u64 ktime_get_coarse_with_offset(int offs)")
def ktime_get_coarse_with_offset(k: Kernel, offs: int) -> int:
    """ktime_get_with_offset() at the last tick (the coarse clocks advance per jiffy)."""
    tick = k.clock.ticks * k.clock.tick_ns
    return ktime_get_with_offset(k, offs) - (k.clock.ns - tick)


@service("u64 ktime_get_raw(void)")
def ktime_get_raw(k: Kernel) -> int:
    """CLOCK_MONOTONIC_RAW: the same clock (no NTP slewing here)."""
    return k.clock.ns


@service("time64_t ktime_get_seconds(void)")
def ktime_get_seconds(k: Kernel) -> int:
    """Monotonic seconds."""
    return k.clock.ns // NSEC_PER_SEC


@service("time64_t ktime_get_real_seconds(void)")
def ktime_get_real_seconds(k: Kernel) -> int:
    """Wall-clock seconds since the epoch."""
    return realtime_ns(k) // NSEC_PER_SEC


def _store_ts(k: Kernel, ts: int, ns: int) -> None:
    k.memory.write(ts, (ns // NSEC_PER_SEC).to_bytes(8, "little", signed=True) + (ns % NSEC_PER_SEC).to_bytes(4, "little"))


@service("void ktime_get_real_ts64(struct timespec64 *ts)")
def ktime_get_real_ts64(k: Kernel, ts: int) -> None:
    """CLOCK_REALTIME as a timespec64."""
    _store_ts(k, ts, realtime_ns(k))


@service("void ktime_get_ts64(struct timespec64 *ts)")
def ktime_get_ts64(k: Kernel, ts: int) -> None:
    """CLOCK_MONOTONIC as a timespec64."""
    _store_ts(k, ts, k.clock.ns)


@service("void ktime_get_raw_ts64(struct timespec64 *ts)")
def ktime_get_raw_ts64(k: Kernel, ts: int) -> None:
    """CLOCK_MONOTONIC_RAW as a timespec64."""
    _store_ts(k, ts, k.clock.ns)


@service("void ktime_get_coarse_real_ts64(struct timespec64 *ts)")
def ktime_get_coarse_real_ts64(k: Kernel, ts: int) -> None:
    """CLOCK_REALTIME_COARSE: the wall clock at the last tick."""
    _store_ts(k, ts, REALTIME_AT_BOOT_NS + k.clock.ticks * k.clock.tick_ns)


@service("void ktime_get_coarse_ts64(struct timespec64 *ts)")
def ktime_get_coarse_ts64(k: Kernel, ts: int) -> None:
    """CLOCK_MONOTONIC_COARSE: monotonic time at the last tick."""
    _store_ts(k, ts, k.clock.ticks * k.clock.tick_ns)


@service("void set_normalized_timespec64(struct timespec64 *ts, time64_t sec, s64 nsec)")
def set_normalized_timespec64(k: Kernel, ts: int, sec: int, nsec: int) -> None:
    """ts = sec + nsec, with 0 <= tv_nsec < NSEC_PER_SEC."""
    sec += nsec // NSEC_PER_SEC  # floor division: a negative nsec borrows from the seconds, as Linux's loop
    k.memory.write(ts, sec.to_bytes(8, "little", signed=True) + (nsec % NSEC_PER_SEC).to_bytes(4, "little"))


# A struct timespec64 (12 bytes) is returned through a hidden pointer, passed first (in %eax with
# regparm) and returned in %eax, as GCC does for i386 structs; the prototype spells it out
# (ns_to_timespec64 below).


@service("struct timespec64 *current_time(struct timespec64 *ret, struct inode *inode)")
def current_time(k: Kernel, ret: int, inode: int) -> int:
    """The coarse wall clock, as an inode timestamp (the sandbox's filesystems have 1 ns granularity)."""
    ktime_get_coarse_real_ts64(k, ret)
    return ret


@service("void jiffies_to_timespec64(const unsigned long jiffies, struct timespec64 *value)")
def jiffies_to_timespec64(k: Kernel, jiffies: int, value: int) -> None:
    """A jiffies count as a timespec64."""
    _store_ts(k, value, jiffies * k.clock.tick_ns)


def _round_jiffies(j: int, up: bool, hz: int) -> int:
    """round_jiffies_common() on CPU 0: to a whole second, unless that is in the past (or, when
    rounding down, less than a quarter second away: then up); never earlier than now."""
    rem = j % hz
    if rem < hz // 4 and not up:
        j -= rem
    else:
        j = j - rem + hz
    return j


def round_jiffies_common(k: Kernel, j: int, up: bool) -> int:
    """The rounded ``j`` if it is still in the future, else ``j`` unchanged."""
    original = j & 0xFFFFFFFF
    j = _round_jiffies(original, up, k.clock.hz) & 0xFFFFFFFF
    now = k.jiffies & 0xFFFFFFFF
    if ((j - now) & 0xFFFFFFFF) >> 31 or j == now:  # time_is_after_jiffies(j) fails: keep the original
        return original
    return j


@service("unsigned long round_jiffies(unsigned long j)")
def round_jiffies(k: Kernel, j: int) -> int:
    """An absolute timeout rounded to a whole second (timers batch on full seconds)."""
    return round_jiffies_common(k, j, False)


@service("unsigned long round_jiffies_relative(unsigned long j)")
def round_jiffies_relative(k: Kernel, j: int) -> int:
    """A relative timeout rounded so that it ends on a whole second."""
    now = k.jiffies & 0xFFFFFFFF
    return (round_jiffies_common(k, (j + now) & 0xFFFFFFFF, False) - now) & 0xFFFFFFFF


@service("unsigned long round_jiffies_up(unsigned long j)")
def round_jiffies_up(k: Kernel, j: int) -> int:
    """round_jiffies() that never rounds down."""
    return round_jiffies_common(k, j, True)


@service("unsigned long round_jiffies_up_relative(unsigned long j)")
def round_jiffies_up_relative(k: Kernel, j: int) -> int:
    """round_jiffies_relative() that never rounds down."""
    now = k.jiffies & 0xFFFFFFFF
    return (round_jiffies_common(k, (j + now) & 0xFFFFFFFF, True) - now) & 0xFFFFFFFF


@service("u64 ktime_get_mono_fast_ns(void)")
def ktime_get_mono_fast_ns(k: Kernel) -> int:
    """Monotonic nanoseconds."""
    return k.clock.ns


@service("struct timespec64 *ns_to_timespec64(struct timespec64 *result, s64 nsec)")
def ns_to_timespec64(k: Kernel, result: int, nsec: int) -> int:
    """``struct timespec64 ns_to_timespec64(s64 nsec)``: the struct comes back through the hidden
    pointer i386 passes first (in EAX); tv_sec (s64) at 0, tv_nsec (long) at 8, tv_nsec always in
    [0, 1e9) (a negative time rounds tv_sec down)."""
    if nsec >= 1 << 63:
        nsec -= 1 << 64
    seconds, rest = divmod(nsec, NSEC_PER_SEC)  # floor division: what Linux's negative branch gives
    k.memory.write(result, (seconds & (1 << 64) - 1).to_bytes(8, "little") + rest.to_bytes(4, "little"))
    return result
