"""``python -m sandbox corpus DIR --jobs N``: the corpus run spread over N processes.

The module list is cut into contiguous slices, in order. Each worker
process builds one long-lived Kernel (the same one a single-process run
uses, :func:`corpus.corpus_kernel`) and loads slice after slice in it; the
parent merges the slices' results in list order. Counts add up, failures
and counters keep the order a single run would have met them in, so the
report (counts and most-wanted lists, ties included) is the single-process
one; only the time differs. No engine state crosses a process boundary:
a worker gets file paths and options and sends back a CorpusResult.

:func:`load_corpus_ray` does the same on Ray actors (``--ray local`` or a
cluster address; the cluster's machines must see the module tree at the same path).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from .corpus import CorpusResult, _progress, corpus_kernel, load_corpus, module_files
from .raycluster import ray_session

_kernel: Any = None  # the worker process's kernel, built once by _start_worker
_options: dict[str, Any] = {}


def _start_worker(options: dict[str, Any]) -> None:
    global _kernel, _options
    _options = options
    _kernel = corpus_kernel(strict=options["strict"], budget=options["budget"], models=options.get("models", False))


def _load_slice(task: tuple[str, list[Path]]) -> CorpusResult:
    root, files = task
    result = load_corpus(root, files=files, kernel=_kernel, **_options)
    if result.replaced_kernels:  # an internal error left the worker's kernel in an unknown state
        _start_worker(_options)
    return result


def slices(files: list[Path], jobs: int) -> list[list[Path]]:
    """Contiguous slices of ``files``, in order: a few per worker, so a slow one does not hold the rest."""
    if not files:
        return [[]]  # still one (empty) run, so the report has its header
    size = -(-len(files) // min(len(files), jobs * 4))
    return [files[i : i + size] for i in range(0, len(files), size)]


def merge_results(parts: list[CorpusResult]) -> CorpusResult:
    """One result from the results of consecutive slices (in list order)."""
    merged = CorpusResult()
    for part in parts:
        merged.run_init, merged.strict, merged.deps, merged.models = part.run_init, part.strict, part.deps, part.models
        merged.files += part.files
        merged.loaded += part.loaded
        merged.init_ok += part.init_ok
        merged.replaced_kernels += part.replaced_kernels
        merged.relocations += part.relocations
        merged.failures.update(part.failures)
        merged.reasons.update(part.reasons)
        merged.wanted.update(part.wanted)
        merged.init_blockers.update(part.init_blockers)
        merged.init_kinds.update(part.init_kinds)
    return merged


def load_corpus_jobs(root: str | Path, jobs: int, *, run_init: bool = False, budget: float = 1.0,
                     limit: int | None = None, progress: TextIO | None = None, strict: bool = False,
                     deps: bool = False, models: bool = False) -> CorpusResult:
    """:func:`corpus.load_corpus` over ``jobs`` worker processes; the same result, merged."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    files = module_files(root)[:limit]
    options = {"run_init": run_init, "budget": budget, "strict": strict, "deps": deps, "models": models}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork of a process holding Unicorn and threads
    with context.Pool(jobs, initializer=_start_worker, initargs=(options,)) as pool:
        parts = _gather(pool.imap(_load_slice, [(str(root), chunk) for chunk in slices(files, jobs)]),
                        len(files), progress)
    return _finish(parts, options, started)


def _gather(results: Iterable[CorpusResult], total: int, progress: TextIO | None) -> list[CorpusResult]:
    """The slices' results in order, with progress shown as they arrive."""
    parts: list[CorpusResult] = []
    done = 0
    for part in results:
        parts.append(part)
        done += part.files
        _progress(progress, done, total, f"{len(parts)} slices")
    return parts


def _finish(parts: list[CorpusResult], options: dict[str, Any], started: float) -> CorpusResult:
    """One report from the slices', labelled with the run's options and its whole time."""
    merged = merge_results(parts)
    merged.run_init, merged.strict, merged.deps = options["run_init"], options["strict"], options["deps"]
    merged.models = options["models"]
    merged.seconds = time.perf_counter() - started
    return merged


class CorpusWorker:
    """One long-lived corpus kernel loading slices (wrapped as a Ray actor by :func:`load_corpus_ray`)."""

    def __init__(self, options: dict[str, Any]) -> None:
        _start_worker(options)

    def load(self, root: str, files: list[str]) -> CorpusResult:
        """Load ``files`` (a slice of the tree under ``root``) in this worker's kernel."""
        return _load_slice((root, [Path(f) for f in files]))


def load_corpus_ray(root: str | Path, workers: int, address: str | None = None, *, run_init: bool = False,
                    budget: float = 1.0, limit: int | None = None, progress: TextIO | None = None,
                    strict: bool = False, deps: bool = False, models: bool = False) -> CorpusResult:
    """:func:`load_corpus_jobs` on ``workers`` Ray actors (a local Ray when ``address`` is None)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    files = module_files(root)[:limit]
    options = {"run_init": run_init, "budget": budget, "strict": strict, "deps": deps, "models": models}
    started = time.perf_counter()
    with ray_session(workers, address) as ray:
        from ray.util import ActorPool

        actor = ray.remote(num_cpus=1)(CorpusWorker)
        pool = ActorPool([actor.remote(options) for _ in range(workers)])  # type: ignore[attr-defined]
        tasks = [[str(f) for f in chunk] for chunk in slices(files, workers)]
        # map() yields in submission order, whichever actor finished first.
        parts = _gather(pool.map(lambda worker, chunk: worker.load.remote(str(root), chunk), tasks),
                        len(files), progress)
    return _finish(parts, options, started)
