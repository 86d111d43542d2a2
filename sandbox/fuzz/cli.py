"""``python -m sandbox fuzz FILE... --target SPEC`` and ``python -m sandbox replay CASE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from ..errors import SandboxError
from .afl import afl_available, run_afl
from .harness import Fuzzer, FuzzSetup, replay
from .parallel import run_parallel
from .targets import parse_target


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``fuzz`` and ``replay`` sub-commands."""
    fuzz = sub.add_parser("fuzz", help="coverage-guided fuzzing of a driver entry point")
    fuzz.add_argument("files", nargs="+", metavar="FILE", help="modules to load (init runs once)")
    fuzz.add_argument("--target", required=True, metavar="SPEC",
                      help="ioctl:/dev/NODE[:CMD,CMD...][@SIZE] | write:/dev/NODE | call:MODULE:SYMBOL | "
                           "irq:LINE:package.module:feed_function")
    fuzz.add_argument("--input", action="append", default=[], metavar="FILE", help="a seed input (repeatable)")
    fuzz.add_argument("--cases", type=int, default=10000, help="stop after N cases")
    fuzz.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    fuzz.add_argument("--seed", type=int, default=0, help="random seed (same seed, same campaign)")
    fuzz.add_argument("--corpus", metavar="DIR", help="write inputs that reach new edges here")
    fuzz.add_argument("--crashes", metavar="DIR", default="crashes", help="write one reproducer per crash here")
    fuzz.add_argument("--profile", default="generic")
    fuzz.add_argument("--no-memcheck", action="store_true", help="plain heap (faster, misses heap bugs)")
    fuzz.add_argument("--check-leaks", action="store_true", help="unload after each case and report leaks")
    fuzz.add_argument("--budget", type=float, default=1.0, help="seconds each case may run")
    fuzz.add_argument("--engine", choices=("afl", "builtin"), default=None,
                      help="who mutates: AFL++'s afl-fuzz (the default when installed) or the built-in mutator")
    fuzz.add_argument("--afl-dir", metavar="DIR", default=None,
                      help="with --engine afl: keep afl-fuzz's input/output directories here")
    fuzz.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (cases shared out)")
    fuzz.add_argument("--ray", metavar="ADDRESS",
                      help="run on Ray actors: 'local' starts a local Ray with --jobs workers, else a cluster "
                           "address (ray://HOST:10001, auto)")
    fuzz.add_argument("--coverage", metavar="FILE",
                      help="collect block/line coverage in every worker; write one merged lcov tracefile to FILE")
    fuzz.add_argument("--source-root", metavar="DIR", default=None,
                      help="only name source files under DIR in the lcov file (default: the current directory)")
    again = sub.add_parser("replay", help="run a saved fuzz crash again")
    again.add_argument("case", metavar="CASE", help="a crash directory written by fuzz (has case.json)")


def run_fuzz(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out ``fuzz``; status 1 when crashes were found."""
    try:
        setup = FuzzSetup(list(args.files), parse_target(args.target), args.profile, not args.no_memcheck,
                          args.budget, args.check_leaks, coverage=bool(args.coverage))
        seeds = [Path(p).read_bytes() for p in args.input]
        if args.corpus and Path(args.corpus).is_dir():
            seeds += [p.read_bytes() for p in sorted(Path(args.corpus).iterdir()) if p.is_file()]
        engine = args.engine or ("afl" if afl_available() and not args.ray else "builtin")
        if engine == "afl":
            if args.ray:
                raise SandboxError("--ray runs the built-in engine (use --engine builtin, or --jobs N with afl)")
            report = run_afl(setup, seeds, max(args.jobs, 1), args.cases, args.seconds, args.seed, args.corpus,
                             args.crashes, args.afl_dir, args.coverage, args.source_root)
        elif args.ray:
            from .campaign import run_ray

            report = run_ray(setup, seeds, max(args.jobs, 1), args.cases, seed=args.seed,
                             address=None if args.ray == "local" else args.ray, crash_dir=args.crashes,
                             corpus_dir=args.corpus, lcov=args.coverage, source_root=args.source_root)
        elif args.jobs > 1:
            report = run_parallel(setup, seeds, args.jobs, args.cases, args.seconds, args.seed, args.corpus,
                                  args.crashes, args.coverage, args.source_root)
        else:
            fuzzer = Fuzzer(setup, corpus_dir=args.corpus, crash_dir=args.crashes)
            report = fuzzer.run(seeds, max_cases=args.cases, seconds=args.seconds, seed=args.seed)
            if args.coverage:
                fuzzer.write_lcov(args.coverage, args.source_root)
    except (SandboxError, OSError, ValueError) as error:
        print(f"ERROR: {error}", file=out)
        return 2
    print(report.format(), file=out)
    if args.coverage:
        print(f"coverage of {len(report.coverage)} modules, merged over all workers: {args.coverage}", file=out)
    return 1 if report.crashes else 0


def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out ``replay``; status 1 when the saved crash happens again."""
    try:
        result = replay(args.case)
    except SandboxError as error:
        print(f"ERROR: {error}", file=out)
        return 2
    expected = f"{result.expected['kind']}@{'<'.join(result.expected['stack'])}"
    if result.crash is None:
        print(f"did not reproduce: the case ran cleanly (saved as {expected})", file=out)
        return 0
    state = "reproduced" if result.reproduced else "crashed differently"
    print(f"{state}: {result.crash.key}\n  {result.crash.message}", file=out)
    print(f"  trace: {'same' if result.same_trace else 'DIFFERENT'} ({len(result.trace)} events); coverage: "
          f"{'same' if result.same_coverage else 'DIFFERENT'} ({result.coverage.get('blocks', 0)} blocks)", file=out)
    return 1
