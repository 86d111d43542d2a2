"""CPU-time budgets for guest execution without per-instruction cost.

A budget counts the CPU seconds of the thread running the guest (its
``pthread_getcpuclockid`` clock), so a loaded host — a CI machine, tests in
parallel — stretches the wall time of a call but does not make it a runaway.

Unicorn's ``count=`` limit makes emulation many times slower and its
``timeout=`` starts a thread per ``emu_start``. Instead one daemon thread
serves every CPU: a call arms a deadline (two attribute stores), and the
thread, polling a few times per budget, calls ``emu_stop`` on expired ones.
``emu_start`` runs without the GIL (ctypes releases it), so the thread gets
to run while the guest spins.

A stop request is consumed by the ``emu_start`` it stops, and a nested
``emu_start`` (a timer, an IRQ, work a service runs) starts with a fresh
one; so once a deadline has passed the thread repeats the stop at every
poll until the outermost call ends, and :class:`~sandbox.machine.cpu.Cpu`
refuses to start nested calls. A runaway therefore ends within about
``2 * _POLL_SECONDS`` of its budget, plus whatever host work the service
running at that moment does before it next checks the budget.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol


class Stoppable(Protocol):
    """What the watchdog needs from a CPU."""

    deadline: float  # in budget_clock seconds
    expired: bool
    budget_clock: int  # the clock id of the thread running the guest

    def stop(self) -> None: ...


_POLL_SECONDS = 0.02
_watched: weakref.WeakSet[Stoppable] = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        time.sleep(_POLL_SECONDS)
        for cpu in list(_watched):
            if not cpu.deadline:
                continue  # no call running
            if cpu.expired:
                cpu.stop()  # re-armed: a nested emu_start cleared the last request
                continue
            try:
                now = time.clock_gettime(cpu.budget_clock)
            except OSError:  # the thread that ran it has ended
                continue
            if now > cpu.deadline:
                cpu.expired = True
                cpu.stop()


def watch(cpu: Stoppable) -> None:
    """Start policing ``cpu``'s deadline (idempotent, starts the thread once)."""
    global _thread
    with _lock:
        _watched.add(cpu)
        if _thread is None:
            _thread = threading.Thread(target=_run, name="sandbox-watchdog", daemon=True)
            _thread.start()
