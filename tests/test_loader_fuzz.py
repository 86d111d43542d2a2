"""The whole load path under mutation: a clean load (then unload) or a LoadError, nothing else.

tests/test_elf_checks.py fuzzes the parser alone; this runs every mutated
driver through linking, mapping and init in one kernel. The long run is
``tools/fuzz-loader``; its findings land in tests/fuzz_regressions/.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from sandbox import Kernel, SandboxError
from sandbox.fuzz import fuzz


def test_mutation_fuzz_gives_clean_load_or_load_error(built) -> None:
    seeds = [p.read_bytes() for (tool, _, _), p in sorted(built.items()) if tool == "gcc"]
    result = fuzz(seeds, 1500, seed=1234)
    assert result.findings == []
    assert result.refused > 100 and result.loaded > 10


def test_fuzz_regressions_stay_fixed() -> None:
    inputs = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.ko"))
    assert inputs
    for path in inputs:
        with contextlib.suppress(SandboxError):  # refusing is fine; a host exception is not
            Kernel(budget_seconds=0.5).load_bytes(path.read_bytes(), str(path))
