"""Time as Linux 6.1 exports it: jiffies, delays and sleeps on a virtual clock.

Nothing waits for real time: a delay or sleep advances the clock, and
``jiffies`` in kernel data follows it (HZ=250, as Debian's 686 kernel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .timers import LinuxTimers

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

HZ = 250
INITIAL_JIFFIES = (-300 * HZ) & 0xFFFFFFFF
NSEC_PER_JIFFY = 1_000_000_000 // HZ

jiffies = kernel_variable("jiffies", 4, INITIAL_JIFFIES)
jiffies_64 = kernel_variable("jiffies_64", 8, INITIAL_JIFFIES | 0xFFFFFFFF00000000)
loops_per_jiffy = kernel_variable("loops_per_jiffy", 4, 4_000_000 // HZ)


class Clock:
    """Virtual nanoseconds since boot."""

    def __init__(self) -> None:
        self.ns = 0


def advance(k: Kernel, ns: int) -> None:
    """Move the clock on and update jiffies / jiffies_64 in guest memory."""
    clock = k.subsystem(Clock)
    clock.ns += max(ns, 0)
    ticks = (INITIAL_JIFFIES | 0xFFFFFFFF00000000) + clock.ns // NSEC_PER_JIFFY
    ticks &= (1 << 64) - 1
    address = k.export_address("jiffies_64")
    if address is not None:
        k.memory.write(address, ticks.to_bytes(8, "little"))
    address = k.export_address("jiffies")
    if address is not None:
        k.memory.write_u32(address, ticks & 0xFFFFFFFF)
    timers = k.subsystem(LinuxTimers)
    if timers.armed:
        timers.run_due(k, ticks & 0xFFFFFFFF)


def sleep(k: Kernel, ns: int) -> None:
    """The task sleeps ``ns``: time moves (timers fire), a grace period passes (RCU callbacks run) and, as
    the CPU is free, the kworkers run queued work."""
    advance(k, ns)
    from .rcu import run_callbacks
    from .workqueue import run_while_sleeping

    run_callbacks(k)
    run_while_sleeping(k)


@service("void __const_udelay(unsigned long xloops)")
def __const_udelay(k: Kernel, xloops: int) -> None:
    """udelay() of a constant: xloops = usecs * 2^32 / 10^6 (0x10c7 per microsecond)."""
    advance(k, (xloops * 1000) // 0x10C7)


@service("void __udelay(unsigned long usecs)")
def __udelay(k: Kernel, usecs: int) -> None:
    """udelay()."""
    advance(k, usecs * 1000)


@service("void __ndelay(unsigned long nsecs)")
def __ndelay(k: Kernel, nsecs: int) -> None:
    """ndelay()."""
    advance(k, nsecs)


@service("void msleep(unsigned int msecs)")
def msleep(k: Kernel, msecs: int) -> None:
    """Sleep ``msecs`` of virtual time."""
    sleep(k, msecs * 1_000_000)


@service("unsigned long msleep_interruptible(unsigned int msecs)")
def msleep_interruptible(k: Kernel, msecs: int) -> int:
    """Sleep; never interrupted here: 0 left."""
    sleep(k, msecs * 1_000_000)
    return 0


@service("void usleep_range_state(unsigned long min, unsigned long max, unsigned int state)")
def usleep_range_state(k: Kernel, low: int, high: int, state: int) -> None:
    """usleep_range(): sleeps the minimum."""
    sleep(k, low * 1000)


@service("long schedule_timeout(long timeout)")
def schedule_timeout(k: Kernel, timeout: int) -> int:
    """Sleep ``timeout`` jiffies; nobody wakes us: 0 left."""
    if timeout > 0:
        sleep(k, timeout * NSEC_PER_JIFFY)
    return 0


@service("unsigned long __msecs_to_jiffies(unsigned int m)")
def __msecs_to_jiffies(k: Kernel, m: int) -> int:
    """msecs_to_jiffies() of a variable."""
    return min((m * HZ + 999) // 1000, 0x3FFFFFFE)


@service("unsigned long __usecs_to_jiffies(unsigned int u)")
def __usecs_to_jiffies(k: Kernel, u: int) -> int:
    """usecs_to_jiffies() of a variable."""
    return min((u * HZ + 999_999) // 1_000_000, 0x3FFFFFFE)


@service("unsigned int jiffies_to_msecs(unsigned long j)")
def jiffies_to_msecs(k: Kernel, j: int) -> int:
    """Jiffies to milliseconds."""
    return (j * 1000 // HZ) & 0xFFFFFFFF


@service("unsigned int jiffies_to_usecs(unsigned long j)")
def jiffies_to_usecs(k: Kernel, j: int) -> int:
    """Jiffies to microseconds."""
    return (j * 1_000_000 // HZ) & 0xFFFFFFFF


@service("u64 ktime_get(void)")
def ktime_get(k: Kernel) -> int:
    """Monotonic nanoseconds."""
    return k.subsystem(Clock).ns


@service("u64 ktime_get_with_offset(int offs)")
def ktime_get_with_offset(k: Kernel, offs: int) -> int:
    """Nanoseconds on another clock base (same clock here)."""
    return k.subsystem(Clock).ns


@service("u64 ktime_get_mono_fast_ns(void)")
def ktime_get_mono_fast_ns(k: Kernel) -> int:
    """Monotonic nanoseconds."""
    return k.subsystem(Clock).ns
