"""Every service of both profiles, called with garbage arguments, under a host memory and CPU bound.

The fuzz (tests/service_fuzz.py) runs in a subprocess with ``RLIMIT_CPU``
and ``RLIMIT_AS`` set: a service that does host work proportional to a
guest-chosen size (a 4 GiB padding, a 2^31-long loop) dies on the limit or
raises MemoryError, which the fuzz reports as a finding. The limits are
bounds, not timings: far above what the run needs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CPU_SECONDS = 120
ADDRESS_SPACE = 4 << 30  # Unicorn reserves ~1 GiB of translation buffer; a 4 GiB host buffer cannot fit
MAX_RSS_KIB = 1 << 20  # 1 GiB resident, at most


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.parametrize(("profile", "calls", "services"), [("generic", 24, 60), ("linux", 6, 390), ("nt", 24, 16)])
def test_every_service_survives_garbage_arguments(built, profile: str, calls: int, services: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, "-m", "tests.service_fuzz", profile, str(calls)], cwd=ROOT, env=env,
                          capture_output=True, text=True, preexec_fn=_limits)
    lines = done.stdout.splitlines()
    started = [line.split()[1] for line in lines if line.startswith("start ")]
    assert done.returncode == 0, (f"the fuzz died (rc {done.returncode}) in service {started[-1:]}: "
                                  f"{done.stderr[-3000:]}")
    findings = [line for line in lines if line.startswith("finding ")]
    assert findings == []
    assert lines[-1] == "done 0"
    assert len(started) >= services
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(peak, before) < MAX_RSS_KIB
