"""Block coverage of loaded modules from Unicorn's translation-time hook.

``UC_HOOK_EDGE_GENERATED`` fires when Unicorn translates a new block (a
straight run of guest code up to a jump, call or return), not each time a
block runs, so the guest keeps running translated code with no Python in its
path (PERFORMANCE.md: ~0.82x of bare Unicorn). Unicorn translates a block
only to execute it at once, so "translated" means "executed at least once";
the exceptions are listed in docs/architecture.md (a fault or a budget stop
in the middle of a block counts the rest of that block).

The hook reports a block only when there is a previous block to draw an edge
from, so the very first block a fresh Unicorn runs is missed (checked
against UC_HOOK_BLOCK in tests/test_coverage.py). ``Cpu.call`` therefore
tells us every address it starts the guest at, and the static block starting
there counts as hit.

Hits are kept per module as (allocation, offset, size), so a module unloaded
and loaded again at another address adds to the same record.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_EDGE_GENERATED

from ..errors import SandboxError
from ..machine import address_map as amap
from .blocks import Function, module_functions
from .lines import LineInfo, LineRow, line_info
from .report import FunctionCoverage, ModuleReport, write_lcov

if TYPE_CHECKING:
    from ..kernel import Kernel
    from ..link.plan import LinkPlan
    from ..module import Module

_AREA_END = amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE


@dataclass
class ModuleRecord:
    """Everything covered in one module, across its loads."""

    name: str
    path: str
    plan: LinkPlan
    hits: set[tuple[str, int, int]] = field(default_factory=set)  # (allocation, offset, size); size 0 = call entry
    aliases: frozenset[str] = frozenset()  # entry-point names: shown under the real function's name
    _static: tuple[list[Function], LineInfo | None] | None = None

    def static(self) -> tuple[list[Function], LineInfo | None]:
        """Functions with blocks, and line information (None without DWARF), computed once per load."""
        if self._static is None:
            self._static = (module_functions(self.plan, self.aliases), line_info(self.plan))
        return self._static


class _Covered:
    """Union of [start, end) ranges with a point query."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def __contains__(self, address: int) -> bool:
        i = bisect.bisect_right(self._starts, address) - 1
        return i >= 0 and address < self._ends[i]


class Coverage:
    """Per-kernel coverage collector: ``enable()``, then ``report()`` / ``write_lcov()``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.enabled = False
        self.records: dict[str, ModuleRecord] = {}
        self._live: list[ModuleRecord] = []
        self._pending: list[tuple[int, int]] = []  # (pc, size) from the hook, not yet given to a module

    # -- collection ----------------------------------------------------------
    def enable(self) -> None:
        """Start collecting for every module in the module area (best before loading)."""
        if self.enabled:
            return
        self.enabled = True
        cpu = self.kernel.cpu
        pending = self._pending

        def on_block(uc: Any, cur: Any, prev: Any, data: object) -> None:
            pending.append((cur.pc, cur.size))

        cpu.uc.hook_add(UC_HOOK_EDGE_GENERATED, on_block, None, amap.MODULE_AREA_BASE, _AREA_END - 1)
        # Blocks translated before now would never be reported again.
        cpu.uc.ctl_flush_tb()
        cpu.on_enter = lambda address: pending.append((address, 0))
        for module in self.kernel.modules:
            self.module_mapped(module)

    def module_mapped(self, module: Module) -> None:
        """A module's code is in place: blocks in its range are its from now on."""
        self.flush()
        record = self.records.get(module.name)
        if record is None:
            record = self.records[module.name] = ModuleRecord(
                module.name, module.path, module.plan,
                aliases=frozenset(self.kernel.profile.entry.consumed_names(self.kernel.well_known)))
        else:
            record.plan, record.path, record._static = module.plan, module.path, None
        self._live.append(record)

    def module_gone(self, module: Module) -> None:
        """A module's code is about to be unmapped: settle what it ran."""
        self.flush()
        self._live = [r for r in self._live if r.name != module.name]

    def flush(self) -> None:
        """Give pending blocks to the live module whose allocations hold them."""
        if not self._pending:
            return
        spans = [(base, base + rec.plan.layout.sizes[alloc], alloc, rec)
                 for rec in self._live for alloc, base in rec.plan.bases.items()]
        for pc, size in self._pending:
            for low, high, alloc, rec in spans:
                if low <= pc < high:
                    rec.hits.add((alloc, pc - low, size))
                    break
        self._pending.clear()

    # -- across processes ------------------------------------------------------
    def hits(self) -> dict[str, frozenset[tuple[str, int, int]]]:
        """What ran, per module name, as plain picklable tuples (allocation, offset, size).

        Offsets are relative to each allocation, so hits taken in one process
        (a fuzz worker) mean the same blocks in another that loaded the same
        module files, wherever its allocator placed them.
        """
        self.flush()
        return {name: frozenset(record.hits) for name, record in self.records.items()}

    def merge(self, hits: dict[str, frozenset[tuple[str, int, int]]]) -> None:
        """Add another collector's :meth:`hits` (of the same modules) to this one's."""
        self.flush()
        for name, more in hits.items():
            record = self.records.get(name)
            if record is None:
                raise SandboxError(f"coverage of module {name!r} cannot be merged: it is not loaded here")
            record.hits |= more

    # -- reporting -------------------------------------------------------------
    def report(self, module: Module | str) -> ModuleReport:
        """Blocks and lines hit per function of ``module`` (loaded now or before)."""
        self.flush()
        name = module if isinstance(module, str) else module.name
        record = self.records.get(name)
        if record is None:
            raise SandboxError(f"no coverage recorded for module {name!r} (enable coverage before loading it)")
        return _compute(record)

    def reports(self) -> list[ModuleReport]:
        """A report for every module seen, in load order."""
        return [self.report(name) for name in self.records]

    def write_lcov(self, path: str, test_name: str = "sandbox", source_root: str | None = None) -> list[str]:
        """Write an lcov tracefile of every module that has DWARF line information.

        Only source files inside ``source_root`` (default: the current
        directory) are named; the DWARF paths left out are returned.
        """
        return write_lcov(self.reports(), path, test_name, source_root)


def _compute(record: ModuleRecord) -> ModuleReport:
    plan = record.plan
    functions, info = record.static()
    rows = info.rows if info is not None else None
    ranges: list[tuple[int, int]] = []
    entries: set[int] = set()
    for alloc, offset, size in record.hits:
        base = plan.bases.get(alloc)
        if base is None:
            continue
        if size:
            ranges.append((base + offset, base + offset + size))
        else:
            entries.add(base + offset)
    for function in functions:
        ranges.extend(block for block in function.blocks if block[0] in entries)
    covered = _Covered(ranges)

    starts = [f.start for f in functions]
    per_function: list[list[LineRow]] = [[] for _ in functions]
    lines: dict[str, dict[int, int]] = {}
    for row in rows or ():
        hit = 1 if row.address in covered else 0
        by_line = lines.setdefault(row.path, {})
        by_line[row.line] = max(by_line.get(row.line, 0), hit)
        i = bisect.bisect_right(starts, row.address) - 1
        if i >= 0 and row.address < functions[i].end:
            per_function[i].append(row)

    results = []
    for function, own_rows in zip(functions, per_function):
        keys = {(r.path, r.line) for r in own_rows}
        hit_keys = {(r.path, r.line) for r in own_rows if r.address in covered}
        # Where lcov's FN: points: the declaration, else the first row at the entry.
        declared = info.declared.get(function.name) if info is not None else None
        if declared is None:
            first = next((r for r in own_rows if r.address == function.start), own_rows[0] if own_rows else None)
            declared = (first.path, first.line) if first is not None else None
        results.append(FunctionCoverage(
            function.name, function.start, function.end,
            sum(1 for start, _ in function.blocks if start in covered), len(function.blocks),
            len(hit_keys), len(keys), function.start in covered,
            declared[0] if declared else None, declared[1] if declared else None,
        ))
    return ModuleReport(record.name, record.path, rows is not None, results, lines)
