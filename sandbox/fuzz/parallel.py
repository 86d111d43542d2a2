"""``--jobs N``: one campaign spread over N processes on this machine.

Each worker process builds its own kernel from the (picklable) FuzzSetup —
a Unicorn engine never crosses a process boundary; a pickled Unicorn
context restores with SIGBUS in another process — and fuzzes its share of
the cases with its own seed. The parent merges: cases and time, the union
of the corpora and of the edges, crashes deduplicated by the same key the
single-process engine uses (counts added), and then writes the corpus and
one reproducer per crash exactly as :class:`Fuzzer` does.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

from .harness import Crash, Fuzzer, FuzzReport, FuzzSetup


def worker_state(fuzzer: Fuzzer, report: FuzzReport) -> dict[str, Any]:
    """What a worker sends back: plain data (bytes, tuples, sets), never an engine object."""
    return {
        "cases": report.cases, "corpus": list(report.corpus), "edges": set(fuzzer.edges),
        "crashes": [(c.kind, c.stack, c.message, c.data, c.count) for c in report.crashes.values()],
        "coverage": dict(report.coverage),
    }


def _worker(args: tuple[FuzzSetup, list[bytes], int, float | None, int]) -> dict[str, Any]:
    setup, seeds, cases, seconds, seed = args
    fuzzer = Fuzzer(setup)
    return worker_state(fuzzer, fuzzer.run(seeds, max_cases=cases, seconds=seconds, seed=seed))


def run_parallel(setup: FuzzSetup, seeds: list[bytes], jobs: int, max_cases: int = 10000,
                 seconds: float | None = None, seed: int = 0, corpus_dir: str | Path | None = None,
                 crash_dir: str | Path | None = None, lcov: str | Path | None = None,
                 source_root: str | None = None) -> FuzzReport:
    """Fuzz with ``jobs`` worker processes (``max_cases`` in all); one merged report.

    With ``setup.coverage`` the workers' block coverage is merged and, given
    ``lcov``, written there as one tracefile.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    share = -(-max_cases // jobs)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork of a process holding Unicorn and threads
    with context.Pool(jobs) as pool:
        parts = pool.map(_worker, [(setup, seeds, share, seconds, seed + i) for i in range(jobs)])
    corpus: list[bytes] = []
    for part in parts:
        corpus += part["corpus"]
    return merge_workers(setup, parts, corpus, time.perf_counter() - started, crash_dir, corpus_dir, lcov,
                         source_root)


def merge_workers(setup: FuzzSetup, parts: list[dict[str, Any]], corpus: list[bytes], seconds: float,
                  crash_dir: str | Path | None, corpus_dir: str | Path | None,
                  lcov: str | Path | None = None, source_root: str | None = None) -> FuzzReport:
    """One report from the workers' states (:func:`worker_state`), written out as one campaign's.

    Cases add up; the corpus is ``corpus`` without repeats; edges and
    coverage are unions; crashes are deduplicated by key (counts added) and
    one reproducer per key is saved. The merging kernel has the same modules
    loaded, so the workers' coverage (per allocation offsets) maps onto it.
    """
    merged = FuzzReport(seconds=seconds, corpus=list(dict.fromkeys(corpus)))
    saver = Fuzzer(setup, corpus_dir=corpus_dir, crash_dir=crash_dir)
    edges: set[tuple[int, int]] = set()
    for part in parts:
        if setup.coverage:
            saver.kernel.coverage.merge(part["coverage"])
    if setup.coverage:
        merged.coverage = saver.kernel.coverage.hits()
        if lcov is not None:
            saver.write_lcov(lcov, source_root)
    for part in parts:
        merged.cases += part["cases"]
        edges |= part["edges"]
        for kind, stack, message, data, count in part["crashes"]:
            crash = Crash(kind, tuple(stack), message, data, merged.cases, count)
            known = merged.crashes.get(crash.key)
            if known is None:
                merged.crashes[crash.key] = crash
                crash.saved = saver._save_crash(crash)
            else:
                known.count += count
    merged.edges = len(edges)
    if corpus_dir is not None:
        saver.save_corpus(merged.corpus)
    return merged
