"""One lcov tracefile from a campaign spread over workers: the union of what each worker ran."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.fuzz import Fuzzer, FuzzSetup, IoctlTarget

COMMANDS = [(1 << 30) | (64 << 16) | (ord("b") << 8) | n for n in (1, 2, 3, 4)]  # SET_NAME AVERAGE KEEP SUM
SUM = bytes([3]) + struct.pack("<II", 4, 0) + b"\x01\x02\x03\x04"
KEEP = bytes([2]) + struct.pack("<II", 0, 7)
ROOT = Path(__file__).resolve().parent.parent
SOURCE = str(ROOT / "drivers" / "buggy.c")


def lcov_lines(path: Path) -> dict[tuple[str, int], int]:
    """(source, line) -> hit, from an lcov tracefile's SF:/DA: records."""
    lines: dict[tuple[str, int], int] = {}
    source = ""
    for text in path.read_text().splitlines():
        if text.startswith("SF:"):
            source = text[3:]
        elif text.startswith("DA:"):
            line, hit = text[3:].split(",")
            lines[(source, int(line))] = int(hit)
    return lines


def source_line(needle: str) -> int:
    return next(n for n, text in enumerate(Path(SOURCE).read_text().splitlines(), 1) if needle in text)


def test_merged_lcov_is_the_union_of_the_workers(driver: Callable[..., Path], tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", COMMANDS, 64), coverage=True)
    first, second = Fuzzer(setup), Fuzzer(setup)
    first.run([SUM], max_cases=1)
    second.run([KEEP], max_cases=1)
    first.write_lcov(tmp_path / "first.info", str(ROOT))
    second.write_lcov(tmp_path / "second.info", str(ROOT))
    merger = Fuzzer(setup)  # a kernel of its own, its modules placed wherever its allocator puts them
    merger.kernel.coverage.merge(first.report.coverage)
    merger.kernel.coverage.merge(second.report.coverage)
    merger.write_lcov(tmp_path / "merged.info", str(ROOT))

    a, b, merged = (lcov_lines(tmp_path / f"{n}.info") for n in ("first", "second", "merged"))
    assert a.keys() == b.keys() == merged.keys()
    assert merged == {key: max(a[key], b[key]) for key in a}
    kept = (SOURCE, source_line("s->kept = 1;"))
    summed = (SOURCE, source_line("result = req.len <= sizeof(req.data)"))
    assert a[kept] == 0 and b[kept] == 1 and merged[kept] == 1  # only the second worker got there
    assert a[summed] == 1 and b[summed] == 0 and merged[summed] == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_fuzz_jobs_writes_one_merged_lcov(driver: Callable[..., Path], tmp_path: Path, jobs: str) -> None:
    spec = "ioctl:/dev/buggy:" + ",".join(hex(c) for c in COMMANDS) + "@64"
    keep, total = tmp_path / "keep", tmp_path / "sum"
    keep.write_bytes(KEEP)
    total.write_bytes(SUM)
    lcov = tmp_path / "campaign.info"
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "fuzz", str(driver("buggy")), "--target", spec, "--input", str(keep),
         "--input", str(total), "--cases", "200", "--jobs", jobs, "--crashes", str(tmp_path / "crashes"),
         "--coverage", str(lcov), "--source-root", str(ROOT), "--engine", "builtin"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=300)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert f"coverage of 1 modules, merged over all workers: {lcov}" in run.stdout
    lines = lcov_lines(lcov)
    assert {source for source, _ in lines} == {SOURCE}
    assert lines[(SOURCE, source_line("s->kept = 1;"))] == 1
    assert lines[(SOURCE, source_line("result = req.len <= sizeof(req.data)"))] == 1
