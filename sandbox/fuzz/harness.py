"""Coverage-guided fuzzing of a driver's entry points.

A campaign: build a kernel from a :class:`FuzzSetup` (profile, module files,
memcheck), load the modules (init runs once), warm up, attach dirty-page
tracking and take the post-init snapshot. Then each case restores that
snapshot (a few pages), runs the target on the input and watches:

- **coverage**: a translation-time hook (UC_HOOK_EDGE_GENERATED, the one
  sandbox/coverage builds on) over the module area records each new
  (from-block, to-block) edge. Restores keep the translation cache when no
  code changed, so an edge is reported only the first time any case takes
  it: "the set grew" is exactly "this input reached something new", at no
  cost per instruction. Such inputs join the corpus (and its directory).
- **crashes**: a GuestFault (memcheck's overflow/use-after-free/double
  free included), a budget stop, and with ``check_leaks`` what a forced
  unload reports as leaked. Each is keyed by its kind and symbolized stack
  (module:function of every frame, offsets dropped); the first input per
  key is saved with a ``case.json`` that ``python -m sandbox replay DIR``
  runs again.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unicorn import UC_HOOK_EDGE_GENERATED

from ..errors import DeviceError, GuestFault, SandboxError
from ..kernel import Kernel
from ..machine import address_map as amap
from ..machine.dirty import DirtyPages
from ..trace.text import format_event
from .mutator import mutate
from .targets import Target, target_from_spec

_FRAME = re.compile(r"^\s+#\d+ 0x[0-9a-f]+ (\S+?)(?:\+0x[0-9a-f]+)?$")
_CALLED_FROM = re.compile(r"in kernel service \S+, called from (\S+?)\)")


@dataclass
class FuzzSetup:
    """How to build the kernel a campaign runs in (saved with every crash)."""

    modules: list[str]
    target: Target
    profile: str = "generic"
    memcheck: bool = True
    budget_seconds: float = 1.0
    check_leaks: bool = False
    coverage: bool = False  # collect block/line coverage (Kernel coverage) in every worker

    def spec(self) -> dict[str, Any]:
        """The JSON form."""
        return {"modules": [str(Path(m).resolve()) for m in self.modules], "target": self.target.spec(),
                "profile": self.profile, "memcheck": self.memcheck, "budget_seconds": self.budget_seconds,
                "check_leaks": self.check_leaks, "coverage": self.coverage}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FuzzSetup:
        """Rebuild from :meth:`spec`."""
        return cls(list(spec["modules"]), target_from_spec(spec["target"]), spec.get("profile", "generic"),
                   bool(spec.get("memcheck", True)), float(spec.get("budget_seconds", 1.0)),
                   bool(spec.get("check_leaks", False)), bool(spec.get("coverage", False)))


@dataclass
class Crash:
    """One distinct crash: its key, the first input that caused it, what was reported."""

    kind: str
    stack: tuple[str, ...]
    message: str
    data: bytes
    case: int
    count: int = 1
    saved: Path | None = None

    @property
    def key(self) -> str:
        """``kind@frame<frame<...``: what deduplication compares."""
        return f"{self.kind}@{'<'.join(self.stack)}"


@dataclass
class FuzzReport:
    """What a campaign found."""

    cases: int = 0
    seconds: float = 0.0
    edges: int = 0
    corpus: list[bytes] = field(default_factory=list)
    crashes: dict[str, Crash] = field(default_factory=dict)
    # With FuzzSetup.coverage: the blocks run, per module (Coverage.hits), merged over all workers.
    coverage: dict[str, frozenset[tuple[str, int, int]]] = field(default_factory=dict)
    engine: str = "builtin"  # who mutated: "builtin" or "afl" (AFL++'s afl-fuzz)

    @property
    def executions_per_second(self) -> float:
        """Cases per second of the loop (set-up excluded)."""
        return self.cases / self.seconds if self.seconds else 0.0

    def format(self) -> str:
        """A short human summary."""
        lines = [f"{self.cases} cases in {self.seconds:.1f} s ({self.executions_per_second:.0f}/s), "
                 f"{self.edges} edges, corpus {len(self.corpus)}, {len(self.crashes)} distinct crashes "
                 f"(engine: {self.engine})"]
        for crash in self.crashes.values():
            where = f" -> {crash.saved}" if crash.saved else ""
            lines.append(f"  {crash.key}  x{crash.count} (first at case {crash.case}){where}\n    {crash.message}")
        return "\n".join(lines)


def stack_of(fault: GuestFault) -> tuple[str, ...]:
    """The symbolized frames of a fault's backtrace, without offsets."""
    frames: list[str] = []
    in_backtrace = False
    for line in fault.report.splitlines():
        if line.startswith("backtrace:"):
            in_backtrace = True
            continue
        if in_backtrace:
            match = _FRAME.match(line)
            if match is None:
                break
            frames.append(match.group(1))
    if frames:
        return tuple(frames)
    service = getattr(fault, "service", None)  # found by a kernel service on the guest's behalf
    caller = _CALLED_FROM.search(str(fault.args[0]))
    if service:
        return (f"kernel:{service}", *([caller.group(1).split("+")[0]] if caller else []))
    return (fault.location.split("+")[0] or hex(fault.pc),)


class Fuzzer:
    """A campaign against one target. ``run()`` fuzzes; ``execute(data)`` runs one case."""

    def __init__(self, setup: FuzzSetup, corpus_dir: str | Path | None = None,
                 crash_dir: str | Path | None = None) -> None:
        self.setup = setup
        self.corpus_dir = Path(corpus_dir) if corpus_dir else None
        self.crash_dir = Path(crash_dir) if crash_dir else None
        self.kernel = build_kernel(setup)
        self.edges: set[tuple[int, int]] = set()
        self._new_edges = 0
        # While recording one case: the blocks it entered. Blocks, not edges: the
        # first edge of a run starts from whatever block ran last before it.
        self._case_blocks: set[int] | None = None

        def on_edge(uc: Any, cur: Any, prev: Any, data: object) -> None:
            edge = (prev.pc, cur.pc)
            if self._case_blocks is not None:
                self._case_blocks.add(cur.pc)
            if edge not in self.edges:
                self.edges.add(edge)
                self._new_edges += 1

        self.kernel.cpu.uc.hook_add(UC_HOOK_EDGE_GENERATED, on_edge, None, amap.MODULE_AREA_BASE,
                                    amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE - 1)
        DirtyPages.attach(self.kernel.cpu)
        kernel = self.kernel
        prepare = getattr(setup.target, "prepare", None)
        self._run: Callable[[bytes], None] = (prepare(kernel) if prepare is not None
                                              else lambda data: setup.target.run(kernel, data))
        self.kernel.cpu.uc.ctl_flush_tb()  # blocks translated before the hook would never report
        self.snapshot = self.kernel.snapshot()
        self.report = FuzzReport()
        self._in_corpus: set[bytes] = set()

    # ------------------------------------------------------------ one case
    def execute(self, data: bytes) -> tuple[int, Crash | None]:
        """Restore the post-init snapshot, run the target on ``data``: (new edges, crash or None)."""
        self.kernel.restore(self.snapshot)
        return self.execute_restored(data)

    def execute_restored(self, data: bytes) -> tuple[int, Crash | None]:
        """:meth:`execute` without the restore (the kernel is already at the snapshot)."""
        self._new_edges = 0
        crash = None
        try:
            self._run(data)
            if self.setup.check_leaks:
                crash = self._leaks(data)
        except GuestFault as fault:
            crash = Crash(fault.kind, stack_of(fault), str(fault.args[0]).splitlines()[0], data,
                          self.report.cases)
        except DeviceError:
            pass  # the driver refused the operation (-errno): an ordinary outcome, not a crash
        except SandboxError as error:
            crash = Crash("error", (type(error).__name__,), str(error).splitlines()[0], data, self.report.cases)
        return self._new_edges, crash

    def record(self, data: bytes) -> tuple[Crash | None, list[str], set[int]]:
        """Run one case in full view: (crash, its trace as text lines, every block it entered).

        The translation cache is flushed first so the case reports all its
        blocks, not only the ones no earlier case reached; the trace is on for
        the case only. Guest time is emulated (it moves only when the guest
        or a service moves it), so the same input gives the same lines and
        blocks in any process: what replay compares.
        """
        kernel = self.kernel
        kernel.restore(self.snapshot)
        kernel.cpu.uc.ctl_flush_tb()
        first = len(kernel.trace.events)
        self._case_blocks = set()
        kernel.trace.enabled = True
        try:
            _, crash = self.execute_restored(data)
        finally:
            kernel.trace.enabled = False
            blocks, self._case_blocks = self._case_blocks, None
        lines = [format_event(e, kernel.symbolizer).strip() for e in kernel.trace.events[first:]]
        return crash, lines, blocks

    def _leaks(self, data: bytes) -> Crash | None:
        names = [m.name for m in reversed(self.kernel.modules)]
        leaks: list[str] = []
        for name in names:
            leaks += self.kernel.unload(name).leaks
        if not leaks:
            return None
        return Crash("leak", tuple(sorted({leak.split(" at ")[-1] for leak in leaks})), leaks[0], data,
                     self.report.cases)

    # ------------------------------------------------------------ the loop
    def run(self, seeds: list[bytes], max_cases: int = 10000, seconds: float | None = None, seed: int = 0,
            stop_when: Callable[[FuzzReport], bool] | None = None) -> FuzzReport:
        """Fuzz from ``seeds`` for up to ``max_cases`` cases (or ``seconds``); returns the report.

        ``stop_when(report)`` is asked after each case (e.g. "all planted
        bugs found"). The run is deterministic for a given ``seed`` when no
        time limit cuts it short.
        """
        rng = random.Random(seed)
        report = self.report
        corpus = report.corpus
        started = time.perf_counter()
        for data in seeds or [bytes(8)]:
            self.take(data)
        while report.cases < max_cases:
            if seconds is not None and time.perf_counter() - started > seconds:
                break
            parent = corpus[rng.randrange(len(corpus))] if corpus else bytes(8)
            self.take(mutate(parent, rng, corpus))
            if stop_when is not None and stop_when(report):
                break
        report.seconds = time.perf_counter() - started
        report.edges = len(self.edges)
        if self.setup.coverage:
            report.coverage = self.kernel.coverage.hits()
        return report

    def write_lcov(self, path: str | Path, source_root: str | None = None) -> list[str]:
        """Write the campaign's line coverage (its own, plus whatever was merged in) as lcov.

        Returns the DWARF source paths left out (outside ``source_root``).
        """
        if not self.setup.coverage:
            raise SandboxError("this campaign collects no coverage (FuzzSetup(coverage=True))")
        return self.kernel.coverage.write_lcov(str(path), source_root=source_root)

    def take(self, data: bytes, count_case: bool = True, to_corpus: bool = False) -> Crash | None:
        """Run one case and file its outcome: a crash deduplicated (saved the first time), else
        the input kept in the corpus if it reached new edges (or ``to_corpus``: another engine
        chose it). ``count_case=False`` for cases an engine outside already counted."""
        report = self.report
        new, crash = self.execute(data)
        if count_case:
            report.cases += 1
        if crash is not None:
            known = report.crashes.get(crash.key)
            if known is None:
                report.crashes[crash.key] = crash
                crash.saved = self._save_crash(crash)
            else:
                known.count += 1
        elif (new or to_corpus) and data not in self._in_corpus:
            self._in_corpus.add(data)
            report.corpus.append(data)
            self.save_corpus([data])
        return crash

    def save_corpus(self, inputs: list[bytes]) -> None:
        """Write inputs to the corpus directory (named by content), if there is one."""
        if self.corpus_dir is None:
            return
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (self.corpus_dir / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)

    def _save_crash(self, crash: Crash) -> Path | None:
        if self.crash_dir is None:
            return None
        digest = hashlib.sha1(crash.key.encode()).hexdigest()[:12]
        where = self.crash_dir / f"{crash.kind}-{digest}"
        where.mkdir(parents=True, exist_ok=True)
        (where / "input.bin").write_bytes(crash.data)
        _, trace, edges = self.record(crash.data)
        (where / "case.json").write_text(json.dumps({
            "setup": self.setup.spec(), "kind": crash.kind, "stack": list(crash.stack), "message": crash.message,
            "replay": f"python3 -m sandbox replay {where}", "trace": trace, "coverage": _block_digest(edges),
        }, indent=2) + "\n")
        return where


def build_kernel(setup: FuzzSetup) -> Kernel:
    """The kernel a campaign (or a replay) runs in: modules loaded, warmed up."""
    kernel = Kernel(setup.profile, memcheck=setup.memcheck, budget_seconds=setup.budget_seconds, trace=False,
                    coverage=setup.coverage)
    for path in setup.modules:
        module = kernel.load(path)
        kernel.symbolizer.areas_of(module.name)  # build symbol tables now, not in every case
    return kernel


def _block_digest(blocks: set[int]) -> dict[str, Any]:
    text = ",".join(f"{address:x}" for address in sorted(blocks))
    return {"blocks": len(blocks), "sha256": hashlib.sha256(text.encode()).hexdigest()}


@dataclass
class Replay:
    """What replaying a saved case did: its crash, trace lines and coverage, beside what was saved."""

    expected: dict[str, Any]
    crash: Crash | None
    trace: list[str] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def reproduced(self) -> bool:
        """The same kind and the same stack as when it was saved."""
        return (self.crash is not None and self.crash.kind == self.expected["kind"]
                and list(self.crash.stack) == list(self.expected["stack"]))

    @property
    def same_trace(self) -> bool:
        """The same trace lines (services, arguments, results, faults) as when it was saved."""
        return self.trace == self.expected.get("trace")

    @property
    def same_coverage(self) -> bool:
        """The same set of blocks entered as when it was saved."""
        return self.coverage == self.expected.get("coverage")


def replay(case_dir: str | Path) -> Replay:
    """Run a saved crash again in a fresh kernel built from its ``case.json``."""
    where = Path(case_dir)
    try:
        meta = json.loads((where / "case.json").read_text())
        data = (where / "input.bin").read_bytes()
    except (OSError, ValueError) as error:
        raise SandboxError(f"{where}: not a saved fuzz case ({error})") from None
    fuzzer = Fuzzer(FuzzSetup.from_spec(meta["setup"]))
    crash, trace, edges = fuzzer.record(data)
    return Replay(meta, crash, trace, _block_digest(edges))
