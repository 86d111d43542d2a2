"""``corpus DIR --jobs N``: the module list shared out over worker processes, one report identical to one process's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox.corpus import format_result, load_corpus, module_files
from sandbox.corpus_jobs import load_corpus_jobs, slices

from .linux_corpus import KDIR, needs_corpus

ROOT = Path(__file__).resolve().parent.parent
# Linux time is host-paced here, and jitterentropy_rng's init loops on it: on a busy machine a 1 s
# budget may run out in one run and not the other. Every init of these slices ends well within this.
BUDGET = 10.0


def without_time(result_text: str) -> str:
    return "\n".join(line for line in result_text.splitlines() if not line.startswith("time:"))


def test_slices_keep_every_file_once_in_order() -> None:
    files = [Path(f"m{i}.ko") for i in range(10)]
    cut = slices(files, 2)
    assert [f for part in cut for f in part] == files and len(cut) == 5
    assert slices(files[:3], 4) == [[files[0]], [files[1]], [files[2]]]
    assert slices([], 2) == [[]]


@needs_corpus
def test_two_workers_report_what_one_process_does() -> None:
    assert KDIR is not None
    crypto = KDIR / "crypto"  # inits that register, that return 0 doing nothing, and that trap; dependencies
    single = load_corpus(crypto, run_init=True, deps=True, limit=60, budget=BUDGET)
    spread = load_corpus_jobs(crypto, 2, run_init=True, deps=True, limit=60, budget=BUDGET)
    assert single.files == spread.files == 60 and single.init_ok > 0 and single.wanted
    one, two = single.to_dict(top=1000), spread.to_dict(top=1000)
    one.pop("seconds"), two.pop("seconds")
    assert json.dumps(one) == json.dumps(two)  # same counts, same lists in the same order (ties too)
    assert without_time(format_result(single)) == without_time(format_result(spread))


@needs_corpus
def test_corpus_jobs_on_the_command_line() -> None:
    assert KDIR is not None
    fs = KDIR / "fs"
    outputs = []
    for jobs in ("1", "2"):
        run = subprocess.run([sys.executable, "-m", "sandbox", "corpus", str(fs), "--strict", "--limit", "40",
                              "--quiet", "--jobs", jobs], capture_output=True, text=True, cwd=ROOT,
                             env={"PYTHONPATH": str(ROOT)}, timeout=300)
        assert run.returncode in (0, 1), run.stderr
        outputs.append(without_time(run.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith(f"modules: {len(module_files(fs)[:40])} (strict")


@needs_corpus
def test_ray_actors_report_what_one_process_does() -> None:
    import pytest

    pytest.importorskip("ray")
    from sandbox.corpus_jobs import load_corpus_ray

    assert KDIR is not None
    crypto = KDIR / "crypto"
    single = load_corpus(crypto, run_init=True, limit=40, budget=BUDGET)
    spread = load_corpus_ray(crypto, 2, run_init=True, limit=40, budget=BUDGET)  # a local Ray started and shut down for the run
    one, two = single.to_dict(top=1000), spread.to_dict(top=1000)
    one.pop("seconds"), two.pop("seconds")
    assert json.dumps(one) == json.dumps(two)
    assert spread.files == 40 and spread.init_ok == single.init_ok > 0


def test_corpus_jobs_below_one_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "sandbox", "corpus", str(tmp_path), "--jobs", "0", "--quiet"],
                         capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert run.returncode == 2 and run.stdout.strip() == "ERROR: --jobs 0: at least one worker"
