"""Coverage: translation-time blocks, DWARF lines, lcov output, address-level fallback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from unicorn import UC_HOOK_BLOCK

from sandbox import Kernel
from sandbox.machine import address_map as amap

ROOT = Path(__file__).resolve().parent.parent
MEMLIST_C = str(ROOT / "drivers" / "memlist.c")


def _source_lines(path: str, function: str) -> set[int]:
    """Line numbers of ``function``'s body in a sample driver (signature to closing brace)."""
    lines = Path(path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("int ", "static ")) and f" {function}(" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return set(range(start + 1, end + 2))


def _parse_lcov(path: Path) -> dict[str, dict[str, object]]:
    records: dict[str, dict[str, object]] = {}
    current: dict[str, object] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "SF":
            current = records.setdefault(value, {"DA": {}, "FN": {}, "FNDA": {}})
        elif key == "DA":
            number, hits = value.split(",")[:2]
            current["DA"][int(number)] = int(hits)  # type: ignore[index]
        elif key == "FN":
            number, name = value.split(",")
            current["FN"][name] = int(number)  # type: ignore[index]
        elif key == "FNDA":
            hits, name = value.split(",")
            current["FNDA"][name] = int(hits)  # type: ignore[index]
        elif key in ("LF", "LH", "FNF", "FNH"):
            current[key] = int(value)
    return records


def test_lcov_names_the_lines_that_ran(driver, tmp_path) -> None:
    k = Kernel(coverage=True)
    m = k.load(driver("memlist"))
    m.call("memlist_push", 7, "seven")
    out = tmp_path / "memlist.info"
    k.coverage.write_lcov(str(out))
    record = _parse_lcov(out)[MEMLIST_C]
    hits = record["DA"]
    push = _source_lines(MEMLIST_C, "memlist_push")
    find = _source_lines(MEMLIST_C, "memlist_find")
    pushed = {n for n in push if n in hits}
    assert pushed and {n for n in pushed if hits[n]} == pushed - {19}  # 19: the -ENOMEM return
    assert hits[19] == 0
    assert {n for n in find if n in hits} and not any(hits[n] for n in find if n in hits)
    assert record["FN"]["memlist_push"] == 14 and record["FNDA"]["memlist_push"] == 1
    assert record["FNDA"]["memlist_find"] == 0
    assert record["LH"] == sum(1 for v in hits.values() if v) and record["LF"] == len(hits)


def test_summary_per_function_and_after_unload(driver) -> None:
    k = Kernel(coverage=True)
    m = k.load(driver("memlist"))
    m.call("memlist_push", 1, "a")
    m.call("memlist_len")
    report = k.coverage.report("memlist")
    push = report.function("memlist_push")
    assert 0 < push.blocks_hit < push.blocks_total and 0 < push.lines_hit < push.lines_total
    length = report.function("memlist_len")
    assert length.blocks_hit == length.blocks_total and length.entered
    assert report.function("memlist_find").blocks_hit == 0
    assert "memlist_push" in report.format() and "blocks" in report.format()
    k.unload(m)
    after = k.coverage.report("memlist")
    assert after.function("memlist_exit").entered  # exit ran at unload; the record outlives the module


def test_init_code_released_after_init_is_covered(driver) -> None:
    k = Kernel(coverage=True)
    k.load(driver("irqcount"))
    k.raise_irq(5)
    report = k.coverage.report("irqcount")
    assert report.function("irqcount_init").entered and report.function("irqcount_handler").entered
    assert not report.function("irqcount_reset").entered


def test_reload_at_another_address_adds_to_the_same_record(driver) -> None:
    k = Kernel(coverage=True)
    m = k.load(driver("memlist"))
    m.call("memlist_len")
    k.unload(m)
    k.load(driver("hello"))  # takes the old address
    m = k.load(driver("memlist"))
    m.call("memlist_sum")
    report = k.coverage.report("memlist")
    assert report.function("memlist_len").entered and report.function("memlist_sum").entered
    assert not report.function("memlist_find").entered


def test_translated_blocks_are_the_executed_blocks(driver) -> None:
    """The claim coverage rests on, checked against a (slow) per-block hook."""
    k = Kernel(coverage=True)
    executed: set[int] = set()
    k.cpu.uc.hook_add(UC_HOOK_BLOCK, lambda uc, address, size, data: executed.add(address), None,
                      amap.MODULE_AREA_BASE, amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE - 1)
    m = k.load(driver("memlist"))
    m.call("memlist_push", 1, "a")
    m.call("memlist_push", 2, "b")
    m.call("memlist_find", "b")
    m.call("memlist_describe", bytearray(64), 64)
    k.coverage.flush()
    record = k.coverage.records["memlist"]
    base = m.plan.bases
    translated = {base[alloc] + offset for alloc, offset, size in record.hits}
    assert executed and executed == translated


def test_clang_and_shared_objects_map_lines(driver, tmp_path) -> None:
    for toolchain, fmt in (("clang", "obj"), ("gcc", "shared"), ("gcc", "rel")):
        try:
            path = driver("memlist", toolchain, fmt)
        except KeyError:
            continue
        k = Kernel(coverage=True)
        m = k.load(path)
        m.call("memlist_push", 1, "a")
        report = k.coverage.report(m)
        hit = report.hit_lines("drivers/memlist.c")
        assert 21 in hit and not hit & (_source_lines(MEMLIST_C, "memlist_find") - {62}), (toolchain, fmt)


def test_module_without_debug_info_gets_address_level_coverage(tmp_path) -> None:
    source = tmp_path / "nodebug.c"
    source.write_text("int used(int x) { if (x > 3) return x * 2; return x; }\nint unused(int x) { return x + 1; }\n")
    obj = tmp_path / "nodebug.o"
    subprocess.run(["gcc", "-m32", "-O1", "-ffreestanding", "-nostdinc", "-fno-pic", "-c", str(source), "-o", str(obj)],
                   check=True)
    k = Kernel(coverage=True)
    m = k.load(obj)
    m.call("used", 5)
    report = k.coverage.report("nodebug")
    assert not report.has_lines and report.lines == {}
    used, unused = report.function("used"), report.function("unused")
    assert used.entered and 0 < used.blocks_hit <= used.blocks_total and used.lines_total == 0
    assert not unused.entered and unused.blocks_hit == 0
    assert "address-level" in report.format()
    out = tmp_path / "nodebug.info"
    k.coverage.write_lcov(str(out))
    assert out.read_text() == ""


@pytest.mark.skipif(shutil.which("genhtml") is None, reason="genhtml (lcov) not installed")
def test_genhtml_renders_the_tracefile(driver, tmp_path) -> None:
    k = Kernel(coverage=True)
    m = k.load(driver("memlist"))
    m.call("memlist_push", 1, "a")
    k.unload(m)
    info = tmp_path / "cov.info"
    k.coverage.write_lcov(str(info))
    result = subprocess.run(["genhtml", "-q", str(info), "-o", str(tmp_path / "html")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "html" / "index.html").exists()


def test_cli_coverage(driver, tmp_path) -> None:
    info = tmp_path / "cli.info"
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", str(driver("memlist")), "--call", "memlist_push",
                             "1", "a", "--trace", "none", "--coverage", str(info)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    summary = result.stdout.split("== coverage ==\n")[1]
    assert summary.startswith("coverage of memlist") and "memlist_push" in summary
    assert MEMLIST_C in _parse_lcov(info)
