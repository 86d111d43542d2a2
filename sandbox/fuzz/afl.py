"""AFL++ as the fuzzing engine: afl-fuzz mutates and schedules, the sandbox runs the cases.

:func:`run_afl` starts Debian's ``afl-fuzz`` (one instance per job: ``-M``
main and ``-S`` secondaries sharing one output directory) on
:mod:`sandbox.fuzz.afl_server`, a persistent fork server that restores the
post-init snapshot for every case and reports coverage into AFL's map. It
runs for a bounded number of executions (afl-fuzz's own ``-E``) and/or
seconds (``-V``). Then the findings are brought home through the same code
as the built-in engine's: every file in AFL's ``crashes/`` is run again in a
:class:`Fuzzer` here, deduplicated by kind and symbolized stack (AFL's own
"unique" is by coverage bits) and saved with a ``case.json`` for ``python3
-m sandbox replay``; AFL's queue becomes the corpus.

afl-fuzz's environment: ``AFL_SKIP_CPUFREQ`` (no governor check),
``AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES`` (core_pattern is left alone),
``AFL_NO_AFFINITY`` (cores are shared), ``AFL_NO_UI``; running as root is fine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import SandboxError
from .harness import Fuzzer, FuzzReport, FuzzSetup

AFL_FUZZ = "afl-fuzz"
_ENV = {
    "AFL_SKIP_CPUFREQ": "1",
    "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES": "1",
    "AFL_NO_AFFINITY": "1",
    "AFL_NO_UI": "1",
}


def afl_available() -> bool:
    """Whether ``afl-fuzz`` is on PATH (then ``--engine afl`` is the default)."""
    return shutil.which(AFL_FUZZ) is not None


def afl_timeout_ms(setup: FuzzSetup) -> int:
    """AFL's per-case timeout: above the case budget, so the budget stops a runaway first."""
    return int(setup.budget_seconds * 1000) + 2000


def afl_command(setup_file: Path, in_dir: Path, out_dir: Path, name: str, main: bool, execs: int | None,
                seconds: float | None, timeout_ms: int, seed: int) -> list[str]:
    """The afl-fuzz command line of one instance."""
    command = [AFL_FUZZ, "-i", str(in_dir), "-o", str(out_dir), "-m", "none", "-t", str(timeout_ms), "-U",
               "-s", str(seed), "-M" if main else "-S", name]
    if execs is not None:
        command += ["-E", str(max(execs, 1))]
    if seconds is not None:
        command += ["-V", str(max(int(seconds), 1))]
    return [*command, "--", sys.executable, "-m", "sandbox.fuzz.afl_server", str(setup_file), "@@"]


def run_afl(setup: FuzzSetup, seeds: list[bytes], jobs: int = 1, max_cases: int | None = 10000,
            seconds: float | None = None, seed: int = 0, corpus_dir: str | Path | None = None,
            crash_dir: str | Path | None = None, afl_dir: str | Path | None = None,
            lcov: str | Path | None = None, source_root: str | None = None) -> FuzzReport:
    """Fuzz ``setup`` with ``jobs`` afl-fuzz instances for ``max_cases`` executions in all and/or ``seconds``.

    ``afl_dir`` keeps AFL's own input/output directories there (else a
    temporary directory, removed after). The report counts AFL's executions
    (its ``fuzzer_stats``), holds AFL's queue as the corpus and the crashes
    deduplicated by stack, each saved under ``crash_dir`` with a reproducer.
    With ``setup.coverage``, the coverage is what the corpus and the crashes
    reach (run again here), written to ``lcov`` if given.
    """
    if not afl_available():
        raise SandboxError("the afl engine needs afl-fuzz on PATH (Debian: apt-get install afl++); "
                           "or use --engine builtin")
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if max_cases is None and seconds is None:
        raise ValueError("bound the campaign: max_cases and/or seconds")
    work = Path(afl_dir) if afl_dir else Path(tempfile.mkdtemp(prefix="sandbox-afl-"))
    try:
        home, report = _campaign(setup, seeds, jobs, max_cases, seconds, seed, corpus_dir, crash_dir, work)
        if setup.coverage:
            report.coverage = home.kernel.coverage.hits()
            if lcov is not None:
                home.write_lcov(lcov, source_root)
        return report
    finally:
        if afl_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _campaign(setup: FuzzSetup, seeds: list[bytes], jobs: int, max_cases: int | None, seconds: float | None,
              seed: int, corpus_dir: str | Path | None, crash_dir: str | Path | None,
              work: Path) -> tuple[Fuzzer, FuzzReport]:
    home = Fuzzer(setup, corpus_dir=corpus_dir, crash_dir=crash_dir)  # brings findings home
    report = home.report
    report.engine = "afl"
    in_dir, out_dir = work / "in", work / "out"
    in_dir.mkdir(parents=True, exist_ok=True)
    # AFL refuses to start on a seed that crashes: such seeds are findings already.
    kept = []
    for data in dict.fromkeys(seeds or [bytes(8)]):
        if home.take(data) is None:
            kept.append(data)
    if not kept:
        kept = [bytes(8)]
    for index, data in enumerate(kept):
        (in_dir / f"seed{index:04d}").write_bytes(data)
    setup_file = work / "setup.json"
    setup_file.write_text(json.dumps(setup.spec()) + "\n")
    env = {**os.environ, **_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH", "")) if p)
    share = -(-max_cases // jobs) if max_cases is not None else None
    started = time.perf_counter()
    processes = []
    for index in range(jobs):
        name = "main" if index == 0 else f"w{index}"
        command = afl_command(setup_file, in_dir, out_dir, name, index == 0, share, seconds,
                              afl_timeout_ms(setup), seed + index)
        log = (work / f"{name}.log").open("wb")
        processes.append((name, subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                                 stderr=subprocess.STDOUT), log))
    failed = []
    for name, process, log in processes:
        process.wait()
        log.close()
        if process.returncode != 0:
            failed.append((name, process.returncode))
    report.seconds = time.perf_counter() - started
    if failed:
        name, status = failed[0]
        tail = (work / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
        raise SandboxError(f"afl-fuzz instance {name} failed (status {status}): " + " | ".join(tail))
    report.cases = sum(_stat(out_dir / name, "execs_done") for name, _, _ in processes)
    for name, _, _ in processes:
        for path in sorted((out_dir / name / "crashes").glob("id:*")):
            home.take(path.read_bytes(), count_case=False)
        for path in sorted((out_dir / name / "queue").glob("id:*")):
            home.take(path.read_bytes(), count_case=False, to_corpus=True)
    report.edges = len(home.edges)
    return home, report


def _stat(instance: Path, key: str) -> int:
    """One number from an instance's ``fuzzer_stats``."""
    try:
        for line in (instance / "fuzzer_stats").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return int(value.strip())
    except (OSError, ValueError):
        pass
    return 0


def _package_root() -> str:
    """The directory holding the ``sandbox`` package (the server must import the same tree)."""
    return str(Path(__file__).resolve().parents[2])
