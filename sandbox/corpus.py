"""``python -m sandbox corpus DIR``: load every module of a tree, report reach.

One Kernel (one Unicorn instance) serves the whole corpus: each ``.ko`` is
parsed, checked, placed, relocated and mapped, then unloaded again, with
unresolved kernel symbols bound to named traps. Between modules the kernel
returns to the snapshot taken when it booted, so each module meets the
kernel as a fresh boot has it: what an earlier module left registered (a
driver its failed init never unregistered, a class, a notifier) cannot
decide a later module's figure. With ``run_init`` each
module's init also runs; reach is then how many inits return 0, and the most
wanted services are the traps inits ran into first.
"""

from __future__ import annotations

import re
import sys
import time
import weakref
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
    strict: bool = False  # unresolved="error": a module loads only if everything it imports exists
    deps: bool = False  # each module loaded after its dependency chain (modprobe), all unloaded after
    models: bool = False  # the kernel had the project's device models attached (corpus_models)
    replaced_kernels: int = 0  # kernels rebuilt after an internal error (the last one is the worker's now)
    # What each init that returned 0 did (from its trace): see classify_init.
    init_kinds: Counter[str] = field(default_factory=Counter)

    def to_dict(self, top: int = 30) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "files": self.files, "loaded": self.loaded, "failed": len(self.failures), "run_init": self.run_init,
            "init_ok": self.init_ok if self.run_init else None, "relocations": self.relocations,
            "strict": self.strict, "deps": self.deps, "models": self.models, "init_kinds": dict(self.init_kinds),
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


_BOOTED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # kernel -> its as-booted snapshot


def _as_booted(k: Any) -> Any:
    """The snapshot of ``k`` as it was before the corpus loaded anything into it (taken on first use)."""
    if k not in _BOOTED:
        _BOOTED[k] = k.snapshot()
    return _BOOTED[k]


def corpus_kernel(*, strict: bool = False, budget: float = 1.0, models: bool = False) -> Any:
    """The kernel a corpus run loads every module in (one per process, reused for all);
    ``models``: with the project's device models attached (:mod:`sandbox.corpus_models`)."""
    from .kernel import Kernel

    k = Kernel("linux", unresolved="error" if strict else "trap", trace=False, budget_seconds=budget,
               time="host")
    if models:
        from .corpus_models import attach_models

        attach_models(k)
    return k


def load_corpus(
    root: str | Path,
    *,
    run_init: bool = False,
    budget: float = 1.0,
    limit: int | None = None,
    progress: TextIO | None = None,
    kernel: Any = None,
    strict: bool = False,
    deps: bool = False,
    files: list[Path] | None = None,
    models: bool = False,
) -> CorpusResult:
    """Load (and unload) every module under ``root`` in one linux-profile Kernel.

    ``strict``: unresolved symbols are a load error instead of traps.
    ``deps``: each module is loaded after the modules it depends on (as
    ``modprobe``), and the whole chain is unloaded after it; a dependency
    that fails fails the module too. With both, the dependencies load with
    traps (and without init): the figure is whether the module's own imports
    all resolve once its chain is there.
    ``files``: only these (a worker's share of the tree, see corpus_jobs.py).
    ``models``: the kernel has the project's device models, so matching drivers probe.
    """
    files = module_files(root)[:limit] if files is None else files
    k = kernel or corpus_kernel(strict=strict, budget=budget, models=models)
    tree = None
    if deps:
        from .depends import ModuleTree

        tree = ModuleTree.of(root)
    result = CorpusResult(files=len(files), run_init=run_init, strict=strict, deps=deps, models=models)
    start = time.perf_counter()
    step = max(1, len(files) // 200)
    booted = _as_booted(k)
    for n, path in enumerate(files, 1):
        k.restore(booted)  # also takes the previous module's dependency chain away
        name = str(path)
        try:
            if tree is not None:
                _load_dependencies(k, tree, path, run_init)
            if run_init:
                k.trace.clear()
                k.trace.enabled = True
            module = k.load(name, run_init=run_init)
        except LoadError as error:
            if error.check == "init-failed" or error.check.startswith("dependency"):
                # It was parsed, relocated and mapped; its init said no (often
                # -ENODEV: the hardware is absent) and the load was unwound.
                result.loaded += error.check == "init-failed"
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
        except Exception as error:  # a defect of ours must not end the whole run
            # A service or core raised something it should not (a sandbox bug, not the module's):
            # recorded under its own reason, with the kernel replaced, as its state is now unknown.
            _fail(result, name, "internal error", f"{type(error).__name__}: {error}")
            k = corpus_kernel(strict=strict, budget=budget, models=models)
            booted = _as_booted(k)
            result.replaced_kernels += 1
            continue
        finally:
            k.trace.enabled = False
        result.loaded += 1
        result.relocations += module.plan.relocation_count
        _count_wanted(k, result, module, name)
        if run_init:
            result.init_ok += 1
            result.init_kinds[classify_init(k.trace, module.name)] += 1
        try:
            k.unload(module)
        except (GuestFault, SandboxError) as error:
            result.reasons["exit failed"] += 1
            result.failures[name] = f"exit: {str(error).splitlines()[0]}"
        except Exception as error:  # a defect of ours at unload: as at load, recorded, kernel replaced
            _fail(result, name, "internal error", f"unload: {type(error).__name__}: {error}")
            k = corpus_kernel(strict=strict, budget=budget, models=models)
            booted = _as_booted(k)
            result.replaced_kernels += 1
            continue
        if n % step == 0 or n == len(files):
            _progress(progress, n, len(files), path.name)
    result.seconds = time.perf_counter() - start
    return result


def _load_dependencies(k: Any, tree: Any, path: Path, run_init: bool) -> list[Any]:
    """Load the modules ``path`` depends on, providers first; LoadError ``dependency-failed`` naming the one that failed."""
    from .depends import _name_of, load_soft

    loaded: list[Any] = []
    target = _name_of(path)
    # Strict figures ask whether the module's *own* imports resolve once its chain
    # is there: the dependencies themselves load with traps for what they miss.
    mode, k.unresolved = k.unresolved, "trap"
    try:
        for dep in tree.chain(target):
            if dep in k.module_table:
                continue
            if run_init:  # soft dependencies are there for an init to find (libcrc32c's crc32c)
                loaded.extend(load_soft(k, tree, tree.softdeps(dep)[0]))
            if dep == target:
                break
            try:
                loaded.append(k.load(tree.path(dep), run_init=run_init))
            except SandboxError as error:  # the chain loaded so far goes with the next restore
                check = "dependency-missing" if isinstance(error, LoadError) and error.check == "module-not-found" \
                    else "dependency-failed"
                raise LoadError(str(path), check, f"dependency {dep}: {str(error).splitlines()[0]}") from None
    finally:
        k.unresolved = mode
    return loaded


# Service names by what they tell about an init (classify_init).
_BUS_DRIVER = re.compile(r"^_*(\w*_)?(driver_register|register_driver|driver_probe)(_\w*)?$")
_REGISTRATION = re.compile(r"register|^proc_create|^proc_mkdir|^debugfs_create|^sysfs_create|^class_create|"
                           r"^cdev_add|^device_create|chrdev_region|^kobject_create|^input_allocate")
_BOOKKEEPING = re.compile(
    r"^(_*printk|_*dynamic_\w+|_*k[mz]alloc\w*|kmalloc\w*|kfree\w*|kmem_cache\w*|_*mutex_\w+|_*raw_spin\w+|"
    r"_*spin_lock\w*|_*init_waitqueue_head|_*init_rwsem|_*init_swait\w*|_*module_get|module_put|try_module_get|"
    r"_*fentry_*|_*stack_chk_fail|_*x86_indirect_thunk\w*|mcount|param_\w+|_*warn_printk|__list_\w+_valid|"
    r"lockdep\w*|_*might_sleep\w*|_*cond_resched|kstrdup\w*|strlen|strcpy|strscpy|memcpy|memset|memmove|"
    r"_*request_module|rcu_\w+|synchronize_rcu\w*|get_random\w*)$")


def classify_init(trace: Any, module: str) -> str:
    """What an init that returned 0 did, from its trace events:

    ``nothing`` (no service call, no device access), ``probed a device``
    (a driver it registered bound to a device: probe ran and returned 0),
    ``bus driver only`` (registered drivers on a bus, which can only do more
    once a device probes), ``registration`` (registered something else: a misc device, a
    crypto algorithm, a filesystem, a notifier...), ``own work`` (touched
    ports or MMIO, or called services beyond registration and bookkeeping).
    """
    bus = other = work = probed = False
    for event in trace:
        if event.kind == "note" and event.name == "probe" and event.fields.get("result") == 0:
            probed = True
        elif event.kind in ("port", "mmio"):
            work = True
        elif event.kind == "service":
            if _BUS_DRIVER.match(event.name):
                bus = True
            elif _REGISTRATION.search(event.name) and "unregister" not in event.name:
                other = True
            elif not _BOOKKEEPING.match(event.name):
                work = True
    if probed:
        return "probed a device"
    if work:
        return "own work"
    if other:
        return "registration"
    return "bus driver only" if bus else "nothing"


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
    # Sorted: a set of strings iterates in an order that changes with each process's hash seed,
    # and Counter.most_common lists equal counts in insertion order.
    result.wanted.update(sorted(k.traps.trapped.intersection(module.plan.imports)))


def format_result(result: CorpusResult, top: int = 25) -> str:
    """The human summary table."""
    mode = ("strict (unresolved symbols are errors)" if result.strict else "unresolved symbols trapped") + \
        (", each after its dependencies (modprobe)" if result.deps else ", each alone") + \
        (", device models attached" if result.models else "")
    lines = [f"modules: {result.files} ({mode})",
             f"loaded (parsed, checked, placed, relocated, mapped, unloaded; init may have failed): {result.loaded}"]
    if result.run_init:
        lines.append(f"init returned 0: {result.init_ok}")
        if result.init_kinds:
            lines.append("  of which: " + ", ".join(f"{kind} {count}" for kind, count in result.init_kinds.most_common()))
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


def figures(root: str | Path, *, budget: float = 1.0, limit: int | None = None,
            progress: TextIO | None = None, jobs: int = 1) -> list[tuple[str, CorpusResult]]:
    """The reach figures: strict alone / with dependencies (modules that load), with traps alone /
    with dependencies (inits returning 0, and what they did), and with traps on a kernel
    carrying the device models, with dependencies (how many inits probed a device instead of only
    registering a bus driver, against the run before it)."""
    runs = [("strict, alone: modules that load", {"strict": True}),
            ("strict, after its dependencies (trapped): loads", {"strict": True, "deps": True}),
            ("traps, alone: inits returning 0", {"run_init": True}),
            ("traps, with dependencies: inits returning 0", {"run_init": True, "deps": True}),
            ("traps, with dependencies and device models", {"run_init": True, "deps": True, "models": True})]
    if jobs > 1:
        from .corpus_jobs import load_corpus_jobs

        return [(label, load_corpus_jobs(root, jobs, budget=budget, limit=limit, progress=progress, **options))  # type: ignore[arg-type]
                for label, options in runs]
    return [(label, load_corpus(root, budget=budget, limit=limit, progress=progress, **options))  # type: ignore[arg-type]
            for label, options in runs]


_UNRESOLVED = re.compile(r"unresolved kernel symbol (\S+)")


def regressions(alone: CorpusResult, with_deps: CorpusResult) -> tuple[Counter[str], Counter[str]]:
    """Why modules whose init returns 0 alone fail once their dependencies load first.

    The first counter sorts them: ``a dependency refuses on this machine`` (its init returned an
    errno, as it would here on Linux: modprobe then refuses the module too), ``a dependency needs a
    missing service``, ``a dependency faults``, ``its own init`` (it now gets further, or meets the
    real dependency instead of a trap, and fails itself). The second counts the missing services
    the dependencies stopped at.
    """
    kinds: Counter[str] = Counter()
    services: Counter[str] = Counter()
    for path, reason in with_deps.failures.items():
        if path in alone.failures or path not in with_deps.failures:
            continue
        if "dependency-failed" not in reason:
            kinds["its own init"] += 1
        elif "init-failed" in reason:
            kinds["a dependency refuses on this machine"] += 1
        elif (missing := _UNRESOLVED.search(reason)) is not None:
            kinds["a dependency needs a missing service"] += 1
            services[missing.group(1)] += 1
        else:
            kinds["a dependency faults"] += 1
    return kinds, services


def format_figures(found: list[tuple[str, CorpusResult]]) -> str:
    """One line per figure, with its run time; then why inits that pass alone fail with dependencies."""
    lines = ["reach figures:"]
    for label, result in found:
        count = result.init_ok if result.run_init else result.loaded
        line = f"  {label:<48} {count:5} of {result.files}  ({result.seconds:.1f} s)"
        if result.init_kinds:
            line += "; " + ", ".join(f"{kind} {n}" for kind, n in result.init_kinds.most_common())
        lines.append(line)
    alone = next((r for _, r in found if r.run_init and not r.deps and not r.models), None)
    deps = next((r for _, r in found if r.run_init and r.deps and not r.models), None)
    if alone is not None and deps is not None:
        kinds, services = regressions(alone, deps)
        lines.append(f"  {'passing alone, failing with dependencies':<48} {sum(kinds.values()):5}: "
                     + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
        if services:
            lines.append(f"  {'  services those dependencies miss':<48} "
                         + ", ".join(f"{name} {n}" for name, n in services.most_common(8)))
    return "\n".join(lines)


def main(args: Any, out: TextIO) -> int:
    """Carry out ``python -m sandbox corpus``."""
    import json

    progress = None if args.quiet else sys.stderr
    if getattr(args, "figures", False):
        found = figures(args.dir, budget=args.budget, limit=args.limit, progress=progress,
                        jobs=max(1, getattr(args, "jobs", 1)))
        if args.json:
            print(json.dumps({label: result.to_dict(args.top) for label, result in found}), file=out)
        else:
            print(format_figures(found), file=out)
        return 0
    if getattr(args, "jobs", 1) < 1:
        print(f"ERROR: --jobs {args.jobs}: at least one worker", file=out)
        return 2
    options = {"run_init": args.run_init, "budget": args.budget, "limit": args.limit, "progress": progress,
               "strict": getattr(args, "strict", False), "deps": getattr(args, "deps", False),
               "models": getattr(args, "models", False)}
    if getattr(args, "ray", None):
        from .corpus_jobs import load_corpus_ray

        try:
            result = load_corpus_ray(args.dir, args.jobs, None if args.ray == "local" else args.ray, **options)
        except SandboxError as error:
            print(f"ERROR: {error}", file=out)
            return 2
    elif getattr(args, "jobs", 1) > 1:
        from .corpus_jobs import load_corpus_jobs

        result = load_corpus_jobs(args.dir, args.jobs, **options)
    else:
        result = load_corpus(args.dir, **options)
    print(json.dumps(result.to_dict(args.top)) if args.json else format_result(result, args.top), file=out)
    return 0 if result.loaded == result.files else 1
