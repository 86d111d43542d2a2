"""Coverage results: per-function summary text and the lcov tracefile writer."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FunctionCoverage:
    """Blocks and source lines of one function, and how many ran."""

    name: str
    start: int
    end: int
    blocks_hit: int
    blocks_total: int
    lines_hit: int
    lines_total: int
    entered: bool
    path: str | None  # source file of its first line (None without DWARF)
    line: int | None


@dataclass
class ModuleReport:
    """Coverage of one module: per function, and per source line when DWARF has them."""

    module: str
    path: str
    has_lines: bool
    functions: list[FunctionCoverage]
    lines: dict[str, dict[int, int]]  # source path -> line -> 1 hit / 0 not

    def function(self, name: str) -> FunctionCoverage:
        """The entry for function ``name``."""
        for entry in self.functions:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def hit_lines(self, path_suffix: str) -> set[int]:
        """Lines hit in the source file whose path ends with ``path_suffix``."""
        return {n for p, by in self.lines.items() if p.endswith(path_suffix) for n, h in by.items() if h}

    def format(self) -> str:
        """A console table: function, blocks hit/total, lines hit/total."""
        blocks = sum(f.blocks_hit for f in self.functions), sum(f.blocks_total for f in self.functions)
        head = f"coverage of {self.module} ({self.path}): blocks {blocks[0]}/{blocks[1]}"
        if self.has_lines:
            hit = sum(sum(by.values()) for by in self.lines.values())
            total = sum(len(by) for by in self.lines.values())
            head += f", lines {hit}/{total}"
        else:
            head += " (no DWARF line table: address-level coverage only)"
        width = max([len(f.name) for f in self.functions] + [8])
        out = [head, f"  {'function':<{width}}  {'blocks':>9}  {'lines':>9}"]
        for f in self.functions:
            lines = f"{f.lines_hit}/{f.lines_total}" if self.has_lines else "-"
            out.append(f"  {f.name:<{width}}  {f'{f.blocks_hit}/{f.blocks_total}':>9}  {lines:>9}")
        return "\n".join(out)


def inside_root(source: str, root: str) -> str | None:
    """``source`` (a path from a module's DWARF) resolved, if it lies inside ``root``; else None.

    The paths come from the module file, which may be crafted: a tracefile
    naming ``/etc/shadow`` would make genhtml read it. Relative paths are
    taken relative to the root; ``..`` and symbolic links are resolved first.
    """
    base = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(base, source))
    try:
        return resolved if os.path.commonpath([base, resolved]) == base else None
    except ValueError:
        return None


def write_lcov(reports: list[ModuleReport], path: str, test_name: str = "sandbox",
               source_root: str | None = None) -> list[str]:
    """Write an lcov tracefile (the format genhtml reads) for modules with line data.

    Line counts are 1 (ran at least once) or 0: translation-time coverage
    knows that a block ran, not how often. A source file shared by several
    modules (a header's inline function) gets one merged record. Only
    sources inside ``source_root`` (default: the current directory) are
    written, as resolved absolute paths; the others are left out and returned.
    """
    root = os.getcwd() if source_root is None else source_root
    dropped: list[str] = []
    files: dict[str, dict[int, int]] = {}
    functions: dict[str, dict[str, tuple[int, int]]] = {}
    for report in reports:
        if not report.has_lines:
            continue
        for named, by_line in report.lines.items():
            source = inside_root(named, root)
            if source is None:
                dropped.append(named)
                continue
            merged = files.setdefault(source, {})
            for line, hit in by_line.items():
                merged[line] = max(merged.get(line, 0), hit)
        for f in report.functions:
            place = inside_root(f.path, root) if f.path is not None else None
            if place is not None and f.line is not None:
                known = functions.setdefault(place, {})
                old = known.get(f.name, (f.line, 0))
                known[f.name] = (old[0], max(old[1], int(f.entered)))
    out = []
    for source in sorted(files):
        out.append(f"TN:{test_name}")
        out.append(f"SF:{source}")
        funcs = functions.get(source, {})
        for name, (line, _) in sorted(funcs.items(), key=lambda item: item[1][0]):
            out.append(f"FN:{line},{name}")
        for name, (_, hits) in funcs.items():
            out.append(f"FNDA:{hits},{name}")
        out.append(f"FNF:{len(funcs)}")
        out.append(f"FNH:{sum(1 for _, hits in funcs.values() if hits)}")
        for line, hit in sorted(files[source].items()):
            out.append(f"DA:{line},{hit}")
        out.append(f"LF:{len(files[source])}")
        out.append(f"LH:{sum(1 for hit in files[source].values() if hit)}")
        out.append("end_of_record")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + ("\n" if out else ""))
    return sorted(set(dropped))
