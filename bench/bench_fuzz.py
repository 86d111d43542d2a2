"""Fuzz loop throughput: executions per second of the built-in engine on one core.

Run: ``python bench/bench_fuzz.py``. Fuzzes /dev/buggy's ioctl (the sample
driver with planted bugs) for a fixed number of cases, with memcheck on (the
default: every kmalloc gets pages of its own) and off. Baseline, same run:
the same loop with the snapshot restored by copying every mapped region
(dirty-page tracking off), i.e. what a reset cost before. And ``--jobs 2``
(two worker processes) against ``--jobs 1`` through the same code path,
a Ray campaign on a local cluster of two actors (when Ray is installed),
and the AFL++ engine (when afl-fuzz is installed: Debian's afl++) with one
and two afl-fuzz instances against the built-in engine's ``--jobs 1``.
Campaign rows are wall time with start-up included (kernel builds, and for
AFL its calibration); the machine is shared, so they vary between runs.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.build import build_all  # noqa: E402
from sandbox.fuzz import Fuzzer, FuzzSetup, IoctlTarget, afl_available, run_afl, run_parallel  # noqa: E402

COMMANDS = [(1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4, 5)]
SEED = bytes([3]) + struct.pack("<II", 4, 0) + b"\x01\x02\x03\x04"
CASES = 3000


def campaign(path: Path, memcheck: bool, dirty: bool) -> float:
    fuzzer = Fuzzer(FuzzSetup([str(path)], IoctlTarget("/dev/buggy", COMMANDS, 64), memcheck=memcheck))
    if not dirty:
        fuzzer.kernel.cpu.dirty.close()  # type: ignore[union-attr]
        fuzzer.snapshot = fuzzer.kernel.snapshot()
    report = fuzzer.run([SEED], max_cases=CASES, seed=1)
    return report.executions_per_second


def main() -> None:
    path = build_all(toolchains=("gcc",), formats=("obj",))[("gcc", "obj", "buggy")]
    setup = FuzzSetup([str(path)], IoctlTarget("/dev/buggy", COMMANDS, 64))
    one = run_parallel(setup, [SEED], 1, max_cases=4 * CASES, seed=1)
    two = run_parallel(setup, [SEED], 2, max_cases=4 * CASES, seed=1)
    print(f"{'fuzz loop --jobs 2 vs 1, exec/s':<38} jobs 2 {two.executions_per_second:10.0f}   jobs 1 "
          f"{one.executions_per_second:10.0f}   ratio {two.executions_per_second / one.executions_per_second:5.2f}  "
          "(wall time, process start and kernel builds included)")
    try:
        from sandbox.fuzz.campaign import run_ray
    except ImportError:
        run_ray = None
    if run_ray is not None:
        try:
            ray_report = run_ray(setup, [SEED], workers=2, max_cases=4 * CASES, batch=CASES // 2, seed=1)
        except Exception as error:  # no Ray installed: the row is skipped, not the bench
            print(f"Ray campaign skipped: {error}")
        else:
            print(f"{'Ray campaign, 2 actors vs --jobs 1':<38} ray {ray_report.executions_per_second:13.0f}   "
                  f"jobs 1 {one.executions_per_second:10.0f}   ratio "
                  f"{ray_report.executions_per_second / one.executions_per_second:5.2f}  (local cluster, start-up included)")
    if afl_available():
        for jobs in (1, 2):
            afl = run_afl(setup, [SEED], jobs=jobs, max_cases=4 * CASES, seed=1)
            print(f"{f'AFL++ engine, {jobs} instance(s) vs builtin':<38} afl {afl.executions_per_second:13.0f}   "
                  f"jobs 1 {one.executions_per_second:10.0f}   ratio "
                  f"{afl.executions_per_second / one.executions_per_second:5.2f}  ({afl.cases} execs, "
                  f"{len(afl.crashes)} distinct crashes, start-up included)")
    else:
        print("AFL++ engine skipped: afl-fuzz is not installed")
    for memcheck in (True, False):
        fast = campaign(path, memcheck, dirty=True)
        slow = campaign(path, memcheck, dirty=False)
        label = f"fuzz loop, memcheck {'on' if memcheck else 'off'}, exec/s"
        print(f"{label:<38} dirty pages {fast:10.0f}   full copy {slow:10.0f}   ratio {fast / slow:5.2f}  "
              "(one core)")


if __name__ == "__main__":
    main()
