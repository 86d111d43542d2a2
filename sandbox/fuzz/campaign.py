"""Campaigns beyond one machine: Ray actors, each a long-lived sandbox (optional extra ``ray``).

Every worker is a Ray actor that builds its kernel once from the FuzzSetup
(modules loaded, post-init snapshot taken: nothing Unicorn-made ever
crosses a process or machine boundary) and then fuzzes in batches. After
each round the driver merges what came back — new corpus entries (handed to
the other workers as seeds of their next batch), edges, crashes by the same
key as everywhere else — so the workers share what any of them discovered.

    run_ray(setup, seeds, workers=2)                          # a local Ray started for the run
    run_ray(setup, seeds, workers=8, address="ray://head:10001")  # an existing cluster

``python -m sandbox fuzz ... --ray local --jobs 2`` / ``--ray ADDRESS``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..raycluster import ray_session
from .harness import Fuzzer, FuzzReport, FuzzSetup
from .parallel import merge_workers, worker_state


class CampaignWorker:
    """One sandbox fuzzing in batches (wrapped as a Ray actor by :func:`run_ray`)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.fuzzer = Fuzzer(FuzzSetup.from_spec(spec))

    def batch(self, seeds: list[bytes], cases: int, seed: int) -> dict[str, Any]:
        """Run ``cases`` more cases (after ``seeds``); what this worker knows so far."""
        fuzzer = self.fuzzer
        return worker_state(fuzzer, fuzzer.run(seeds, max_cases=fuzzer.report.cases + cases, seed=seed))


def run_ray(setup: FuzzSetup, seeds: list[bytes], workers: int = 2, max_cases: int = 10000,
            batch: int = 500, seed: int = 0, address: str | None = None,
            crash_dir: str | Path | None = None, corpus_dir: str | Path | None = None,
            lcov: str | Path | None = None, source_root: str | None = None) -> FuzzReport:
    """Fuzz on ``workers`` Ray actors (a local Ray when ``address`` is None); one merged report.

    With ``setup.coverage`` every actor's block coverage comes back with its
    last batch and is merged into one lcov tracefile at ``lcov``.
    """
    started = time.perf_counter()
    with ray_session(workers, address) as ray:
        actor = ray.remote(num_cpus=1)(CampaignWorker)
        pool = [actor.remote(setup.spec()) for _ in range(workers)]  # type: ignore[attr-defined]
        known: list[bytes] = list(seeds)
        given: list[int] = [0] * workers  # how much of `known` each worker has been handed
        states: list[dict[str, Any]] = [{} for _ in range(workers)]
        rounds = max(1, -(-max_cases // (batch * workers)))
        for round_ in range(rounds):
            futures = []
            for i, worker in enumerate(pool):
                futures.append(worker.batch.remote(known[given[i]:], batch, seed + 1000 * round_ + i))
                given[i] = len(known)
            states = ray.get(futures)
            seen = set(known)
            for state in states:
                for data in state["corpus"]:
                    if data not in seen:
                        seen.add(data)
                        known.append(data)
    return merge_workers(setup, states, known, time.perf_counter() - started, crash_dir, corpus_dir, lcov,
                         source_root)
