"""AFL++ as the engine: Debian's afl-fuzz drives the sandbox's fork server and finds the bugs planted in buggy.c.

Each campaign is bounded by afl-fuzz's own execution limit (-E); the crashes
AFL saves come home deduplicated by symbolized stack, with reproducers that
``python3 -m sandbox replay`` runs again in a fresh process.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.fuzz import FuzzSetup, IoctlTarget, replay
from sandbox.fuzz.afl import afl_available, afl_command, run_afl

pytestmark = pytest.mark.skipif(not afl_available(), reason="afl-fuzz (Debian's afl++) is not installed")

COMMANDS = [(1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4)]  # SET_NAME AVERAGE KEEP SUM
SEED = bytes([3]) + struct.pack("<II", 4, 0) + b"\x01\x02\x03\x04"  # SUM of 4 bytes: no bug
PLANTED = {"heap-out-of-bounds", "divide-error", "use-after-free"}
ROOT = Path(__file__).resolve().parent.parent
SPEC = "ioctl:/dev/buggy:" + ",".join(hex(c) for c in COMMANDS) + "@64"


def test_afl_finds_the_planted_bugs_within_a_bounded_number_of_executions(driver: Callable[..., Path],
                                                                          tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64))
    report = run_afl(setup, [SEED], jobs=1, max_cases=4000, seed=1, corpus_dir=tmp_path / "corpus",
                     crash_dir=tmp_path / "crashes", afl_dir=tmp_path / "afl")
    assert report.engine == "afl"
    assert {crash.kind for crash in report.crashes.values()} == PLANTED, report.format()
    stacks = {crash.kind: crash.stack for crash in report.crashes.values()}
    assert stacks["divide-error"] == ("buggy:buggy_average", "buggy:buggy_ioctl")
    assert stacks["use-after-free"] == ("buggy:buggy_release",)
    assert stacks["heap-out-of-bounds"][-1] == "buggy:buggy_ioctl"
    # AFL ran (its own stats count the executions, bounded by -E) and saved its crash files ...
    afl_crashes = sorted((tmp_path / "afl" / "out" / "main" / "crashes").glob("id:*"))
    assert len(afl_crashes) >= 3
    assert 4000 <= report.cases < 4000 + 100
    # ... which came home as one reproducer per distinct stack
    assert len(list((tmp_path / "crashes").iterdir())) == 3
    assert sum(crash.count for crash in report.crashes.values()) == len(afl_crashes)
    # AFL's queue is the corpus; its inputs reach the edges the coverage map told AFL about
    assert report.corpus and len(list((tmp_path / "corpus").iterdir())) == len(report.corpus)
    assert report.edges > 10
    for crash in report.crashes.values():
        again = replay(crash.saved)  # type: ignore[arg-type]
        assert again.reproduced and again.same_trace and again.same_coverage, crash.key


def test_cli_defaults_to_afl_and_runs_jobs_as_afl_instances(driver: Callable[..., Path], tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.write_bytes(SEED)
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "fuzz", str(driver("buggy")), "--target", SPEC, "--input", str(seed),
         "--cases", "6000", "--jobs", "2", "--seed", "1", "--crashes", str(tmp_path / "crashes"),
         "--afl-dir", str(tmp_path / "afl")],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "3 distinct crashes (engine: afl)" in run.stdout
    assert {p.name for p in (tmp_path / "afl" / "out").iterdir()} >= {"main", "w1"}  # -M main, -S w1
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "crashes").iterdir()) == ["divide", "heap", "use"]
    one = next((tmp_path / "crashes").iterdir())
    again = subprocess.run([sys.executable, "-m", "sandbox", "replay", str(one)], capture_output=True, text=True,
                           cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert again.returncode == 1 and again.stdout.startswith("reproduced: "), again.stdout + again.stderr


def test_the_fork_server_runs_one_case_without_afl(driver: Callable[..., Path], tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64))
    (tmp_path / "setup.json").write_text(json.dumps(setup.spec()))
    average_of_nothing = tmp_path / "zero"
    average_of_nothing.write_bytes(bytes([1]) + struct.pack("<II", 0, 0))  # AVERAGE, len 0
    command = afl_command(tmp_path / "setup.json", tmp_path, tmp_path, "main", True, 10, None, 3000, 0)
    server = command[command.index("--") + 1:]
    server[-1] = str(average_of_nothing)
    run = subprocess.run(server, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)},
                         timeout=120)
    assert run.returncode == 1
    assert "divide-error@buggy:buggy_average<buggy:buggy_ioctl" in run.stderr
    (tmp_path / "sum").write_bytes(SEED)
    server[-1] = str(tmp_path / "sum")
    clean = subprocess.run(server, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)},
                           timeout=120)
    assert clean.returncode == 0, clean.stderr
