"""Host-paced timer interrupts: time moves while guest code runs.

A machine without instruction counting takes its timer interrupt from a
clock outside the CPU. One daemon thread plays that clock for every CPU
that asked for it: while a CPU runs guest code and its next tick is due (by
the host's monotonic clock, ``1/hz`` apart), the thread marks the CPU and
calls ``emu_stop``. The CPU's run loop sees the mark, delivers the tick
(jiffies, timers, IRQ 0 handlers) with the guest's registers saved, and
resumes the guest where it stopped, so ``while (jiffies == j0)`` ends and
``time_after(jiffies, timeout)`` times out. There is no per-instruction or
per-block hook: the guest pays one stop and restart per tick.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

_IDLE_POLL = 0.005  # how often to look when no paced CPU is running guest code


class Paced(Protocol):
    """What the ticker needs from a CPU."""

    deadline: float  # non-zero while a top-level guest call runs
    tick_period: float  # seconds between ticks; 0 = not paced
    next_tick: float  # monotonic time the next tick is due
    preempt_requested: bool

    def stop(self) -> None: ...


_paced: weakref.WeakSet[Paced] = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        now = time.monotonic()
        wake = now + _IDLE_POLL
        for cpu in list(_paced):
            if not cpu.tick_period or not cpu.deadline:
                continue
            if now >= cpu.next_tick:
                # A stop that reached the CPU between two runs is lost (emu_start
                # clears it), so ask again while the request stays unserved; the
                # CPU treats a stop it did not need as a resume.
                if not cpu.preempt_requested or now >= cpu.next_tick + cpu.tick_period:
                    cpu.preempt_requested = True
                    cpu.stop()
                wake = min(wake, now + cpu.tick_period)
                continue
            wake = min(wake, cpu.next_tick)
        time.sleep(max(wake - time.monotonic(), 0.0005))


def pace(cpu: Paced, hz: int) -> None:
    """Deliver ``hz`` ticks per host second to ``cpu`` while it runs guest code (starts the thread once)."""
    global _thread
    cpu.tick_period = 1.0 / hz
    cpu.next_tick = time.monotonic() + cpu.tick_period
    with _lock:
        _paced.add(cpu)
        if _thread is None:
            _thread = threading.Thread(target=_run, name="sandbox-ticker", daemon=True)
            _thread.start()


def unpace(cpu: Paced) -> None:
    """Back to deterministic time: no more host-paced ticks for ``cpu``."""
    cpu.tick_period = 0.0
    cpu.preempt_requested = False
    with _lock:
        _paced.discard(cpu)
