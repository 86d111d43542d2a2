"""Ordering a set of modules by what they import and export (modprobe over depmod).

Each file is read and parsed by its format (no linking) to learn the
symbols it exports and the ones it needs (non-weak undefined symbols the
kernel does not provide), plus the modules it names (``depends=`` in
``.modinfo``, DT_NEEDED). Providers come first; a missing
provider or a cycle is a LoadError naming the modules and symbols.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
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
        # With unresolved="trap" what nothing provides is bound to named traps
        # at load, as k.load does: not a reason to refuse the set.
        if missing and kernel.unresolved != "trap":
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


# -- modprobe over a module tree ---------------------------------------------------------
_TREES: dict[str, ModuleTree] = {}


class ModuleTree:
    """The modules of one tree (``.../lib/modules/<release>``) and their dependencies.

    ``modules.dep`` is used when the tree has one (depmod's output: each line
    ``kernel/x.ko: kernel/y.ko kernel/z.ko``, the whole closure); otherwise
    each module's own ``.modinfo`` ``depends=`` list, read when it is needed.
    Module names compare as Linux compares them (``-`` and ``_`` alike).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.paths: dict[str, Path] = {}
        self.depmod: dict[str, list[str]] | None = None
        self._depends: dict[str, list[str]] = {}
        self._info: dict[str, list[tuple[str, str]]] = {}
        self._aliases: dict[str, dict[str, list[str]]] = {}
        dep_file = next((d / "modules.dep" for d in (self.root, self.root.parent) if (d / "modules.dep").is_file()), None)
        if dep_file is not None:
            self.depmod = {}
            for line in dep_file.read_text().splitlines():
                target, _, deps = line.partition(":")
                if not target:
                    continue
                path = dep_file.parent / target.strip()
                name = _name_of(path)
                self.paths[name] = path
                self.depmod[name] = [_name_of(Path(d)) for d in deps.split()]
                for dep in deps.split():
                    self.paths.setdefault(_name_of(Path(dep)), dep_file.parent / dep)
        else:
            for path in sorted(self.root.rglob("*")):
                if path.name.endswith((".ko", ".ko.xz", ".ko.gz")):
                    self.paths.setdefault(_name_of(path), path)

    @classmethod
    def of(cls, root: str | Path) -> ModuleTree:
        """The (cached) tree at ``root``."""
        key = str(Path(root).resolve())
        tree = _TREES.get(key)
        if tree is None:
            tree = _TREES[key] = cls(root)
        return tree

    def path(self, name: str) -> Path:
        """The file of module ``name``; LoadError if the tree has none."""
        found = self.paths.get(_canonical(name))
        if found is None:
            raise LoadError(str(self.root), "module-not-found", f"module {name} not found in {self.root}")
        return found

    def _modinfo(self, name: str) -> list[tuple[str, str]]:
        name = _canonical(name)
        if name not in self._info:
            _fmt, image = open_file(str(self.path(name)))
            self._info[name] = list(image.modinfo)
        return self._info[name]

    def softdeps(self, name: str) -> tuple[list[str], list[str]]:
        """The modules ``name`` wants loaded before and after it (``.modinfo`` ``softdep=pre: a b post: c``),
        each name or alias resolved to the tree's modules (see :meth:`resolve`); none that the tree lacks."""
        found: dict[str, list[str]] = {"pre": [], "post": []}
        for key, value in self._modinfo(name):
            if key != "softdep":
                continue
            side = "pre"  # modinfo's softdep= without a "pre:"/"post:" keyword is a pre dependency (cifs: "ecb")
            for word in value.split():
                if word in ("pre:", "post:"):
                    side = word[:-1]
                    continue
                found[side].extend(m for m in self.resolve(word) if m not in found[side] and m != _canonical(name))
        return found["pre"], found["post"]

    def resolve(self, wanted: str) -> list[str]:
        """The modules a softdep's name stands for: a module of that name, else every module declaring it as
        an ``alias=`` (``crc32c`` is crc32c_generic and crc32c-intel; ``platform:leds-gpio`` leds-gpio)."""
        canonical = _canonical(wanted)
        if canonical in self.paths:
            return [canonical]
        # The declaring modules are nearly always named after the alias: look at those first, then the tree.
        stem = _canonical(wanted.split(":", 1)[-1].removeprefix("crypto-"))
        # Aliases compare as modprobe compares them, "-" and "_" alike.
        named = sorted(n for n in self.paths if n.startswith(stem)
                       and any(k == "alias" and _canonical(v) == canonical for k, v in self._modinfo(n)))
        if named:
            return named
        # A crypto algorithm's name is an alias of modules under crypto/ (or none: built into the kernel);
        # only a bus modalias ("platform:x") is worth reading the whole tree for.
        crypto = ":" not in wanted
        return sorted(self._alias_index(crypto).get(canonical, []))

    def _alias_index(self, crypto_only: bool) -> dict[str, list[str]]:
        """alias -> modules, from the tree's crypto modules or all of them (what depmod writes to
        modules.alias), each read once."""
        key = "crypto" if crypto_only else "all"
        if key not in self._aliases:
            index = self._aliases[key] = {}
            for name, path in self.paths.items():
                if crypto_only and "crypto" not in path.parts:
                    continue
                data = path.read_bytes() if path.name.endswith(".ko") else b"\0".join(
                    f"{k}={v}".encode() for k, v in self._modinfo(name))
                for found in _ALIAS.finditer(b"\0" + data):
                    index.setdefault(_canonical(found.group(1).decode("utf-8", "replace")), []).append(name)
        return self._aliases[key]

    def depends(self, name: str) -> list[str]:
        """The modules ``name`` needs directly (``depends=``), or its closure from modules.dep."""
        name = _canonical(name)
        if self.depmod is not None:
            return self.depmod.get(name, [])
        if name not in self._depends:
            deps = [v for k, v in self._modinfo(name) if k == "depends"]
            self._depends[name] = [_canonical(d) for d in ",".join(deps).split(",") if d]
        return self._depends[name]

    def chain(self, name: str) -> list[str]:
        """``name`` and everything it needs, providers first (modprobe's order); LoadError on a cycle."""
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(current: str, path: list[str]) -> None:
            mark = state.get(current)
            if mark == "done":
                return
            if mark == "visiting":
                cycle = [*path[path.index(current):], current]
                raise LoadError(str(self.path(current)), "dependency-cycle",
                                f"modules depend on each other in a cycle: {' -> '.join(cycle)}")
            state[current] = "visiting"
            for dep in self.depends(current):
                visit(dep, [*path, current])
            state[current] = "done"
            order.append(current)

        visit(_canonical(name), [])
        return order


_ALIAS = re.compile(rb"(?<=\0)alias=([^\0]+)")


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def _name_of(path: Path) -> str:
    return _canonical(path.name.split(".")[0])


def modprobe(k: Kernel, name: str, tree: str | Path, params: dict[str, Any] | str | None = None) -> list[Any]:
    """Load module ``name`` from ``tree`` after everything it depends on, as ``modprobe`` does.

    Modules already loaded are skipped; ``params`` apply to ``name`` itself.
    Returns the modules this call loaded, providers first; if one fails,
    those are unloaded again and the error propagates.
    """
    modules_tree = ModuleTree.of(tree)
    target = _canonical(name)
    loaded: list[Any] = []
    try:
        for module_name in modules_tree.chain(target):
            if module_name in k.module_table:
                continue
            pre, post = modules_tree.softdeps(module_name)
            loaded.extend(load_soft(k, modules_tree, pre))
            loaded.append(k.load(modules_tree.path(module_name), params=params if module_name == target else None))
            loaded.extend(load_soft(k, modules_tree, post))
    except BaseException:
        for module in reversed(loaded):
            k.unload(module)
        raise
    return loaded


def load_soft(k: Kernel, tree: ModuleTree, names: list[str]) -> list[Any]:
    """Load soft dependencies (and their chains) that are not loaded yet; one that fails is left out, as a
    soft dependency may (the trace notes it), and the module that wants it still loads."""
    from .errors import GuestFault, SandboxError

    loaded: list[Any] = []
    for soft in names:
        if soft in k.module_table:
            continue
        try:
            loaded.extend(modprobe(k, soft, tree.root))
        except (SandboxError, GuestFault) as error:
            k.trace.add("note", "softdep not loaded", fields={"module": soft, "why": str(error).splitlines()[0]})
    return loaded
