"""Budgets hold under nesting, timers, IRQ storms and services that loop — every time.

The trials run in a subprocess under a CPU-time limit (``RLIMIT_CPU``): a
budget that does not hold makes the child run past the limit and die, and
the test fails naming the scenario it was in. No time is asserted; the
limit is a bound, far above what the budgets add up to.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.budget_trials import BUDGET, INNOCENT, SOURCES
from tests.conftest import CFLAGS, ROOT

TRIALS = 4
# Each trial may use its budget plus the watchdog's margin; allow ten times that.
CPU_LIMIT = int(10 * TRIALS * len(SOURCES) * BUDGET) + 20


def _limit_cpu() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT))


def test_every_runaway_is_stopped_by_its_budget_in_every_trial(tmp_path: Path) -> None:
    for name, source in {**SOURCES, "innocent": INNOCENT}.items():
        c_file = tmp_path / f"{name}.c"
        c_file.write_text(source)
        subprocess.run(["gcc", *CFLAGS, "-fno-pic", "-c", str(c_file), "-o", str(tmp_path / f"{name}.o")],
                       check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.budget_trials", str(tmp_path), str(TRIALS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limit_cpu)
    lines = done.stdout.split()
    results = list(zip(lines[::2], lines[1::2]))
    assert done.returncode == 0, (f"trials died (rc {done.returncode}) after {results[-1:] or 'nothing'}; "
                                  f"stderr: {done.stderr[-2000:]}")
    expected = [(name, "budget") for _ in range(TRIALS) for name in SOURCES]
    assert results == expected


def test_a_budget_counts_cpu_time_not_the_hosts_waiting(compile_c) -> None:  # type: ignore[no-untyped-def]
    """A call whose service waits on the host (a busy machine looks the same from inside) is not a runaway:
    the budget counts the CPU seconds of the thread running the guest, not wall time."""
    import time

    from sandbox import Kernel
    from sandbox.services import service

    @service("void host_waits(void)")
    def host_waits(k: object) -> None:
        time.sleep(0.4)  # no CPU used: wall time passes, the guest's budget does not

    k = Kernel(budget_seconds=0.2)
    k.add_service(host_waits)
    m = k.load(compile_c("void host_waits(void);\nint f(void) { host_waits(); host_waits(); return 7; }", "waits"))
    assert m.call("f") == 7
