"""Ordering a set of modules by what they import and export (modprobe over depmod).

Each file is read and parsed by its format (no linking) to learn the
symbols it exports and the ones it needs (non-weak undefined symbols the
kernel does not provide), plus the modules it names (``depends=`` in
``.modinfo``, DT_NEEDED). Providers come first; a missing
provider or a cycle is a LoadError naming the modules and symbols.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from .errors import LoadError
from .formats import ModuleFormat, open_file

if TYPE_CHECKING:
    from .kernel import Kernel


@dataclass(slots=True)
class Candidate:
    """One module file of the set, with what it provides and needs."""

    path: str
    image: Any
    name: str
    provides: set[str] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)  # depends= and DT_NEEDED


def describe(path: str, kernel: Kernel) -> Candidate:
    """Read ``path`` (compressed files too) and work out its exports and needs against ``kernel``."""
    fmt, image = open_file(path)
    return describe_image(fmt, image, path, kernel)


def describe_image(fmt: ModuleFormat, image: Any, path: str, kernel: Kernel) -> Candidate:
    """:func:`describe` for an image already parsed."""
    candidate = Candidate(path, image, fmt.module_name(image))
    candidate.provides = fmt.provides(image)
    candidate.needs = {n for n in fmt.imports(image) if not kernel.can_resolve(n)} - candidate.provides
    candidate.modules = fmt.required_modules(image)
    return candidate


def load_order(paths: list[str], kernel: Kernel) -> list[Candidate]:
    """The candidates in an order where every provider precedes its users."""
    candidates = [describe(str(p), kernel) for p in paths]
    by_name = {cand.name: cand for cand in candidates}
    providers: dict[str, str] = {}
    for cand in candidates:
        for symbol in cand.provides:
            providers.setdefault(symbol, cand.name)
    graph: dict[str, set[str]] = {}
    reasons: dict[tuple[str, str], list[str]] = {}
    for cand in candidates:
        edges: set[str] = set()
        missing: list[str] = []
        for symbol in sorted(cand.needs):
            provider = providers.get(symbol)
            if provider is None:
                missing.append(symbol)
            elif provider != cand.name:
                edges.add(provider)
                reasons.setdefault((cand.name, provider), []).append(symbol)
        for module in cand.modules:
            if module in by_name:
                edges.add(module)
            elif module not in {m.name for m in kernel.modules}:
                missing.append(f"module {module}")
        if missing:
            raise LoadError(cand.path, "missing-provider",
                            f"{cand.name} needs {', '.join(missing)}, which neither the kernel, a loaded module "
                            "nor any module of the set provides")
        graph[cand.name] = edges
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        cycle = error.args[1]
        links = [f"{a} needs {', '.join(reasons.get((a, b), ['(depends)']))} from {b}" for a, b in itertools.pairwise(cycle)]
        raise LoadError(by_name[cycle[0]].path, "dependency-cycle",
                        f"modules depend on each other in a cycle: {' -> '.join(cycle)} ({'; '.join(links)})") from None
    return [by_name[name] for name in order]
