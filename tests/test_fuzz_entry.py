"""Coverage-guided fuzzing of a driver's ioctl finds the three bugs planted in drivers/buggy.c."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sandbox import GuestFault, Kernel
from sandbox.fuzz import Fuzzer, FuzzReport, FuzzSetup, IoctlTarget, mutate, parse_target, replay

COMMANDS = [(1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4)]  # SET_NAME AVERAGE KEEP SUM
SEED = bytes([3]) + struct.pack("<II", 4, 0) + b"\x01\x02\x03\x04"  # SUM of 4 bytes: no bug
PLANTED = {"heap-out-of-bounds", "divide-error", "use-after-free"}
ROOT = Path(__file__).resolve().parent.parent


def kinds(report: FuzzReport) -> set[str]:
    return {crash.kind for crash in report.crashes.values()}


def test_fuzzer_finds_the_planted_bugs_within_a_bounded_number_of_cases(driver: Callable[..., Path],
                                                                        tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64))
    fuzzer = Fuzzer(setup, corpus_dir=tmp_path / "corpus", crash_dir=tmp_path / "crashes")
    report = fuzzer.run([SEED], max_cases=5000, seed=7, stop_when=lambda r: kinds(r) >= PLANTED)
    assert kinds(report) == PLANTED, report.format()
    assert report.cases < 5000
    stacks = {crash.kind: crash.stack for crash in report.crashes.values()}
    assert stacks["divide-error"] == ("buggy:buggy_average", "buggy:buggy_ioctl")
    assert stacks["use-after-free"] == ("buggy:buggy_release",)
    assert stacks["heap-out-of-bounds"][-1] == "buggy:buggy_ioctl"
    # each distinct crash once, however often it was hit; inputs reaching new edges kept on disk
    assert len(report.crashes) == 3
    assert len(list((tmp_path / "crashes").iterdir())) == 3
    assert report.corpus and len(list((tmp_path / "corpus").iterdir())) == len(report.corpus)
    assert report.edges > 10


def test_same_seed_same_campaign(driver: Callable[..., Path]) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64))
    first = Fuzzer(setup).run([SEED], max_cases=150, seed=3)
    second = Fuzzer(setup).run([SEED], max_cases=150, seed=3)
    assert first.corpus == second.corpus
    assert {k: c.data for k, c in first.crashes.items()} == {k: c.data for k, c in second.crashes.items()}
    assert first.edges == second.edges


def test_a_saved_crash_replays_to_the_same_fault(driver: Callable[..., Path], tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64))
    report = Fuzzer(setup, crash_dir=tmp_path).run([SEED], max_cases=3000, seed=1,
                                                   stop_when=lambda r: kinds(r) >= PLANTED)
    for crash in report.crashes.values():
        assert crash.saved is not None
        meta = json.loads((crash.saved / "case.json").read_text())
        assert meta["replay"] == f"python3 -m sandbox replay {crash.saved}"
        again = replay(crash.saved)
        assert again.reproduced, (crash.key, again.crash)
        # deterministic: the same services with the same arguments and results, the same edges
        assert again.same_trace and again.same_coverage
        assert any(line.startswith("fault ") or "fault" in line for line in again.trace), again.trace
        assert meta["coverage"]["blocks"] > 0
    # and from the command line, in a fresh process
    one = next(iter(report.crashes.values())).saved
    run = subprocess.run([sys.executable, "-m", "sandbox", "replay", str(one)], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert run.returncode == 1
    assert run.stdout.startswith("reproduced: ")
    assert "trace: same" in run.stdout and "coverage: same" in run.stdout


def test_cli_fuzz_reports_crashes_and_writes_reproducers(driver: Callable[..., Path], tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.write_bytes(SEED)
    spec = "ioctl:/dev/buggy:" + ",".join(hex(c) for c in COMMANDS) + "@64"
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "fuzz", str(driver("buggy")), "--target", spec, "--input", str(seed),
         "--cases", "3000", "--seed", "1", "--crashes", str(tmp_path / "crashes"), "--corpus", str(tmp_path / "c"),
         "--engine", "builtin"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "3 distinct crashes" in run.stdout
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "crashes").iterdir()) == ["divide", "heap", "use"]


def test_repeated_cpu_exceptions_keep_their_kind(driver: Callable[..., Path]) -> None:
    # Unicorn leaves an undelivered exception "in progress": the second #DE
    # used to come back as a double fault and the third as a bare stop.
    k = Kernel()
    m = k.load(driver("faulty"))
    seen = []
    for divisor in (0, 1, 0, 0):
        try:
            m.call("fault_divide", divisor)
            seen.append("ok")
        except GuestFault as fault:
            seen.append(fault.kind)
    assert seen == ["divide-error", "ok", "divide-error", "divide-error"]


def test_targets_and_mutator() -> None:
    target = parse_target("ioctl:/dev/buggy:0x1,0x2@8")
    assert target == IoctlTarget("/dev/buggy", [1, 2], 8)
    assert target.split(b"\x03abc") == (2, b"abc\0\0\0\0\0")
    import random

    rng = random.Random(5)
    outs = {mutate(SEED, rng) for _ in range(50)}
    assert len(outs) > 40 and all(out for out in outs)
    assert [mutate(SEED, random.Random(9)) for _ in range(2)] == [mutate(SEED, random.Random(9))] * 2


def test_jobs_spread_a_campaign_over_processes_and_merge_it(driver: Callable[..., Path], tmp_path: Path) -> None:
    spec = "ioctl:/dev/buggy:" + ",".join(hex(c) for c in COMMANDS) + "@64"
    seed = tmp_path / "seed"
    seed.write_bytes(SEED)
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "fuzz", str(driver("buggy")), "--target", spec, "--input", str(seed),
         "--cases", "3000", "--jobs", "2", "--seed", "1", "--crashes", str(tmp_path / "crashes"),
         "--engine", "builtin"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith("3000 cases")  # both workers' cases, counted once
    assert "3 distinct crashes" in run.stdout  # found by either worker, deduplicated across them
    assert len(list((tmp_path / "crashes").iterdir())) == 3


def test_write_and_call_targets(driver: Callable[..., Path]) -> None:
    from sandbox.fuzz import CallTarget, WriteTarget

    # scratch holds 256 bytes: a longer write is refused with -ENOSPC, which is not a crash
    writes = Fuzzer(FuzzSetup([str(driver("scratch"))], WriteTarget("/dev/scratch"))).run(
        [b"hello", bytes(300)], max_cases=100, seed=2)
    assert writes.cases == 100 and not writes.crashes and writes.corpus
    # hello_greet(who): a copy of the input as the string
    calls = Fuzzer(FuzzSetup([str(driver("hello"))], CallTarget("hello", "hello_greet"))).run(
        [b"abc"], max_cases=50, seed=2)
    assert calls.cases == 50 and not calls.crashes
    # memlist_push(int value, const char *name) called as (buffer, length): the length is taken
    # for a string pointer, and the kernel service that reads it names itself and its caller
    wrong = Fuzzer(FuzzSetup([str(driver("memlist"))], CallTarget("memlist", "memlist_push"))).run(
        [b"abc"], max_cases=20, seed=2)
    assert [c.stack for c in wrong.crashes.values()] == [("kernel:strscpy", "memlist:memlist_push")]


def test_ray_campaign_on_a_local_cluster(driver: Callable[..., Path], tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("ray")
    from sandbox.fuzz.campaign import run_ray

    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64), coverage=True)
    crashes, lcov = tmp_path / "crashes", tmp_path / "ray.info"
    report = run_ray(setup, [SEED], workers=2, max_cases=3000, batch=300, seed=1, crash_dir=crashes, lcov=lcov,
                     source_root=str(ROOT))
    assert report.cases == 3000  # two actors, five rounds of 300 each
    assert kinds(report) == PLANTED, report.format()
    assert len(list(crashes.iterdir())) == 3  # deduplicated across the workers
    assert report.corpus and report.edges > 10
    # one lcov from both actors: every ioctl command's handler ran in one of them
    text = lcov.read_text()
    assert f"SF:{ROOT / 'drivers' / 'buggy.c'}" in text
    assert "FNDA:1,buggy_average" in text and "FNDA:1,buggy_set_name" in text
