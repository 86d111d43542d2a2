"""``python -m sandbox corpus DIR``: load every module of a tree, report reach.

One Kernel (one Unicorn instance) serves the whole corpus: each ``.ko`` is
parsed, checked, placed, relocated and mapped, then unloaded again, with
unresolved kernel symbols bound to named traps. With ``run_init`` each
module's init also runs; reach is then how many inits return 0, and the most
wanted services are the traps inits ran into first.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import GuestFault, LoadError, SandboxError

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz")


@dataclass
class CorpusResult:
    """What loading a tree of modules found."""

    files: int = 0
    loaded: int = 0
    init_ok: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason
    reasons: Counter[str] = field(default_factory=Counter)
    wanted: Counter[str] = field(default_factory=Counter)  # unresolved name -> modules needing it
    init_blockers: Counter[str] = field(default_factory=Counter)  # first trap an init hit
    relocations: int = 0
    seconds: float = 0.0
    run_init: bool = False

    def to_dict(self, top: int = 30) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "files": self.files, "loaded": self.loaded, "failed": len(self.failures), "run_init": self.run_init,
            "init_ok": self.init_ok if self.run_init else None, "relocations": self.relocations,
            "seconds": round(self.seconds, 3), "reasons": dict(self.reasons.most_common()),
            "most_wanted_unresolved": dict(self.wanted.most_common(top)),
            "init_blockers": dict(self.init_blockers.most_common(top)),
            "failures": self.failures,
        }


def module_files(root: str | Path) -> list[Path]:
    """Every module file under ``root`` (or ``root`` itself), sorted."""
    path = Path(root)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.name.endswith(MODULE_SUFFIXES))


def _progress(out: TextIO | None, done: int, total: int, name: str) -> None:
    if out is None:
        return
    width = 30
    filled = width * done // max(total, 1)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:40]:<40}")
    if done == total:
        out.write("\n")
    out.flush()


def load_corpus(
    root: str | Path,
    *,
    run_init: bool = False,
    budget: float = 1.0,
    limit: int | None = None,
    progress: TextIO | None = None,
    kernel: Any = None,
) -> CorpusResult:
    """Load (and unload) every module under ``root`` in one linux-profile Kernel."""
    from .kernel import Kernel

    files = module_files(root)[:limit]
    k = kernel or Kernel("linux", unresolved="trap", trace=False, budget_seconds=budget)
    result = CorpusResult(files=len(files), run_init=run_init)
    start = time.perf_counter()
    step = max(1, len(files) // 200)
    for n, path in enumerate(files, 1):
        name = str(path)
        try:
            module = k.load(name, run_init=run_init)
        except LoadError as error:
            if error.check == "init-failed":
                # It was parsed, relocated and mapped; its init said no (often
                # -ENODEV: the hardware is absent) and the load was unwound.
                result.loaded += 1
            _fail(result, name, error.check, str(error))
            continue
        except GuestFault as fault:
            result.loaded += 1
            reason = f"init {fault.kind}"
            blocker = getattr(fault, "trap_symbol", None) or _trap_name(fault)
            if blocker:
                result.init_blockers[blocker] += 1
            _fail(result, name, reason, str(fault).splitlines()[0])
            _count_wanted(k, result, None, name)
            continue
        except SandboxError as error:
            result.loaded += 1
            _fail(result, name, f"init {type(error).__name__}", str(error).splitlines()[0])
            continue
        result.loaded += 1
        result.relocations += module.plan.relocation_count
        _count_wanted(k, result, module, name)
        if run_init:
            result.init_ok += 1
        try:
            k.unload(module)
        except (GuestFault, SandboxError) as error:
            result.reasons["exit failed"] += 1
            result.failures[name] = f"exit: {str(error).splitlines()[0]}"
        if n % step == 0 or n == len(files):
            _progress(progress, n, len(files), path.name)
    result.seconds = time.perf_counter() - start
    return result


def _fail(result: CorpusResult, name: str, reason: str, detail: str) -> None:
    result.reasons[reason] += 1
    result.failures[name] = detail


def _trap_name(fault: GuestFault) -> str | None:
    text = str(fault)
    marker = "call to unresolved kernel symbol "
    if marker in text:
        return text.split(marker, 1)[1].split()[0]
    marker = "unresolved kernel symbol "
    if marker in fault.report:
        return fault.report.split(marker, 1)[1].split()[0]
    return None


def _count_wanted(k: Any, result: CorpusResult, module: Any, name: str) -> None:
    if module is None:
        return
    result.wanted.update(k.traps.trapped.intersection(module.plan.imports))


def format_result(result: CorpusResult, top: int = 25) -> str:
    """The human summary table."""
    lines = [f"modules: {result.files}",
             f"loaded (parsed, checked, placed, relocated, mapped, unloaded; init may have failed): {result.loaded}"]
    if result.run_init:
        lines.append(f"init returned 0: {result.init_ok}")
    lines.append(f"failed: {len(result.failures)}")
    lines.append(f"relocations applied: {result.relocations}")
    lines.append(f"time: {result.seconds:.2f} s")
    if result.reasons:
        lines.append("failure reasons:")
        lines += [f"  {count:6}  {reason}" for reason, count in result.reasons.most_common()]
    if result.init_blockers:
        lines.append("services inits called first that nothing implements (most wanted next):")
        lines += [f"  {count:6}  {name}" for name, count in result.init_blockers.most_common(top)]
    if result.wanted:
        lines.append("most-wanted unresolved symbols (modules importing them):")
        lines += [f"  {count:6}  {name}" for name, count in result.wanted.most_common(top)]
    return "\n".join(lines)


def main(args: Any, out: TextIO) -> int:
    """Carry out ``python -m sandbox corpus``."""
    import json

    result = load_corpus(args.dir, run_init=args.run_init, budget=args.budget, limit=args.limit,
                         progress=None if args.quiet else sys.stderr)
    print(json.dumps(result.to_dict(args.top)) if args.json else format_result(result, args.top), file=out)
    return 0 if result.loaded == result.files else 1
