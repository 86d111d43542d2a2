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


def _worker(args: tuple[FuzzSetup, list[bytes], int, float | None, int]) -> dict[str, Any]:
    setup, seeds, cases, seconds, seed = args
    fuzzer = Fuzzer(setup)
    report = fuzzer.run(seeds, max_cases=cases, seconds=seconds, seed=seed)
    return {
        "cases": report.cases, "corpus": report.corpus, "edges": fuzzer.edges,
        "crashes": [(c.kind, c.stack, c.message, c.data, c.count) for c in report.crashes.values()],
    }


def run_parallel(setup: FuzzSetup, seeds: list[bytes], jobs: int, max_cases: int = 10000,
                 seconds: float | None = None, seed: int = 0, corpus_dir: str | Path | None = None,
                 crash_dir: str | Path | None = None) -> FuzzReport:
    """Fuzz with ``jobs`` worker processes (``max_cases`` in all); one merged report."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    share = -(-max_cases // jobs)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork of a process holding Unicorn and threads
    with context.Pool(jobs) as pool:
        parts = pool.map(_worker, [(setup, seeds, share, seconds, seed + i) for i in range(jobs)])
    merged = FuzzReport(seconds=time.perf_counter() - started)
    saver = Fuzzer(setup, corpus_dir=corpus_dir, crash_dir=crash_dir)
    edges: set[tuple[int, int]] = set()
    seen: set[bytes] = set()
    for part in parts:
        merged.cases += part["cases"]
        edges |= part["edges"]
        for data in part["corpus"]:
            if data not in seen:
                seen.add(data)
                merged.corpus.append(data)
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
