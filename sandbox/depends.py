"""Ordering a set of modules by what they import and export (modprobe over depmod).

Each file is parsed (no linking) to learn the symbols it exports
(``__ksymtab_strings``, or a shared object's global dynamic symbols) and the
ones it needs (non-weak undefined symbols the kernel does not provide), plus
``depends=`` in ``.modinfo`` and DT_NEEDED. Providers come first; a missing
provider or a cycle is a LoadError naming the modules and symbols.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING

from .elf import constants as c
from .elf.image import ElfImage
from .errors import LoadError
from .link.plan import GOT_SYMBOL, module_name

if TYPE_CHECKING:
    from .kernel import Kernel


@dataclass(slots=True)
class Candidate:
    """One module file of the set, with what it provides and needs."""

    path: str
    image: ElfImage
    name: str
    provides: set[str] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)  # depends= and DT_NEEDED


def _exported_names(image: ElfImage) -> set[str]:
    strings = image.section_by_name("__ksymtab_strings")
    if strings is not None:
        return {n.decode("utf-8", "replace") for n in bytes(image.section_bytes(strings)).split(b"\0") if n}
    table = image.dynsym if image.e_type == c.ET_DYN else None
    if table is None:
        return set()
    return {
        table.names[i] for i in range(1, table.count)
        if table.st_shndx[i] != c.SHN_UNDEF and table.st_info[i] >> 4 == c.STB_GLOBAL
        and table.st_info[i] & 0xF in (c.STT_FUNC, c.STT_OBJECT)
    }


def _undefined_names(image: ElfImage) -> set[str]:
    table = image.dynsym if image.e_type == c.ET_DYN and image.dynsym is not None else image.symtab
    if table is None:
        return set()
    return {
        table.names[i] for i in range(1, table.count)
        if table.st_shndx[i] == c.SHN_UNDEF and table.names[i] and table.st_info[i] >> 4 != c.STB_WEAK
        and table.names[i] != GOT_SYMBOL
    }


def describe(path: str, kernel: Kernel) -> Candidate:
    """Parse ``path`` and work out its exports and needs against ``kernel``."""
    image = ElfImage.from_file(path)
    candidate = Candidate(path, image, module_name(image))
    candidate.provides = _exported_names(image)
    candidate.needs = {n for n in _undefined_names(image) if not kernel.can_resolve(n)} - candidate.provides
    for key, value in image.modinfo:
        if key == "depends":
            candidate.modules.update(d for d in value.split(",") if d)
    from .link.segments import _dynamic_needed

    if image.e_type == c.ET_DYN:
        candidate.modules.update(Path(n).name.split(".")[0].replace("-", "_") for n in _dynamic_needed(image))
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
