"""Corpus benchmark across processes: ``corpus DIR --jobs 2`` against ``--jobs 1`` beside it.

Run: ``python bench/bench_corpus_jobs.py [DIR] [--run-init] [--jobs N]`` (DIR defaults to the
directory tools/fetch-linux-modules prints). Both runs load the same files with
the same options; the baseline is the single-process run (one kernel), the
figure is wall time of N worker processes (one long-lived kernel each, their
start-up and the merge included). The reports are checked equal first. The
ratio is what --jobs buys on this machine; it cannot beat 1/N and, on a
machine shared by other work, comes out nearer 1 than the core count suggests.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_corpus import default_dir  # noqa: E402
from bench.common import report  # noqa: E402
from sandbox.corpus import format_result, load_corpus, module_files  # noqa: E402
from sandbox.corpus_jobs import load_corpus_jobs  # noqa: E402


def main() -> None:
    argv = sys.argv[1:]
    run_init = "--run-init" in argv
    jobs = int(argv[argv.index("--jobs") + 1]) if "--jobs" in argv else 2
    rest = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] != "--jobs")]
    root = Path(rest[0]) if rest else default_dir()
    for path in module_files(root):  # warm the page cache for both sides
        path.read_bytes()
    start = time.perf_counter()
    single = load_corpus(root, run_init=run_init)
    one = time.perf_counter() - start
    start = time.perf_counter()
    spread = load_corpus_jobs(root, jobs, run_init=run_init)
    many = time.perf_counter() - start

    def body(text: str) -> str:
        return "\n".join(line for line in text.splitlines() if not line.startswith("time:"))

    same = body(format_result(single)) == body(format_result(spread))
    print(f"files: {single.files}, run_init: {run_init}, cores: {os.cpu_count()}, reports equal: {same}")
    report(f"corpus --jobs {jobs} vs --jobs 1", many, one, "s", f"ideal 1/{jobs}; wall time, start-up included")


if __name__ == "__main__":
    main()
