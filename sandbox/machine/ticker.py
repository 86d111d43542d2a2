"""Host-paced timer ticks: time moves while guest code runs, delivered at safe points.

A machine without instruction counting takes its timer interrupt from a
clock outside the CPU. Here that clock is the host's monotonic clock, ``1/hz``
apart per tick, and a tick is taken at the next *safe point* once it is due:
every call of guest code into a kernel service (the dispatcher asks
:func:`take_due` before running the service). The guest's registers are
then exactly those of a call instruction, so the tick's handlers and timers
run as nested calls and the guest resumes as from any service.

The CPU is never stopped from another thread to deliver a tick: Unicorn
2.1's asynchronous ``emu_stop`` can leave the registers at an earlier point
than memory (measured here: a loop of ``add [ebx+esi*4], edx`` interrupted
4,300 times came back with 1,690 additions done twice), so the resumed guest
would run instructions twice. Guest code that spins without calling the
kernel still sees time move where it looks: the tick variables live on a
page whose reads return the host's time (``sandbox/tick_page.py``), so
``while (jiffies == j0) cpu_relax();`` ends, and the ticks it owes are
delivered at its next service call.
"""

from __future__ import annotations

import time
from typing import Protocol


class Paced(Protocol):
    """What host pacing needs from a CPU."""

    tick_period: float  # seconds between ticks; 0 = not paced
    next_tick: float  # monotonic time the next tick is due


def pace(cpu: Paced, hz: int) -> None:
    """Deliver ``hz`` ticks per host second to ``cpu`` while it runs guest code."""
    cpu.tick_period = 1.0 / hz
    cpu.next_tick = time.monotonic() + cpu.tick_period


def unpace(cpu: Paced) -> None:
    """Back to deterministic time: no more host-paced ticks for ``cpu``."""
    cpu.tick_period = 0.0


def due(cpu: Paced, now: float | None = None) -> int:
    """How many host-paced ticks are due and not yet taken (0 when not paced)."""
    if not cpu.tick_period:
        return 0
    now = time.monotonic() if now is None else now
    if now < cpu.next_tick:
        return 0
    return 1 + int((now - cpu.next_tick) / cpu.tick_period)


def take_due(cpu: Paced) -> int:
    """The ticks due now, marked taken (the next falls one period after the last of them)."""
    count = due(cpu)
    if count:
        cpu.next_tick += count * cpu.tick_period
    return count
