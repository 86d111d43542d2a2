"""Executables linked the way hobbyists link them (issue 13 items 5 and 6).

``ld -q -Ttext=0`` without ``-e`` leaves an undefined ``_start`` nothing
uses; ``ld.lld -q -Ttext=0`` puts the ELF headers in a PT_LOAD at 0x400000;
a typical linker script packs text, rodata and data in one page. Each is
built here with the real linker, both GNU ld and ld.lld.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError

SOURCE = r"""
#include <kernel.h>
static int counter = 5;
static const char msg[] = "tiny: loaded %d\n";
static int __init tiny_init(void) { printk(msg, counter); return 0; }
int tiny_get(void) { return counter; }
void tiny_set(int value) { counter = value; }
module_init(tiny_init);
MODULE_LICENSE("GPL");
"""

PACKED = """SECTIONS
{
  . = 0;
  .text : { *(.text*) *(.init.text) *(.exit.text) }
  .rodata : { *(.rodata*) }
  .data : { *(.data*) *(.bss*) *(COMMON) }
  .modinfo : { *(.modinfo) }
}
"""

ALIGNED = PACKED.replace("  .rodata", "  . = ALIGN(4096);\n  .rodata").replace("  .data", "  . = ALIGN(4096);\n  .data")
LINKERS = {"gnu": ["ld", "-m", "elf_i386"], "lld": ["ld.lld", "-m", "elf_i386"]}


@pytest.fixture
def tiny(compile_c) -> Path:
    return compile_c(SOURCE, "tiny")


def link(obj: Path, linker: str, *options: str) -> Path:
    out = obj.with_name(f"tiny_{linker}.elf")
    subprocess.run([*LINKERS[linker], "-q", *options, str(obj), "-o", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("linker", LINKERS)
def test_ttext_0_as_a_hobbyist_writes_it(tiny: Path, linker: str) -> None:
    exe = link(tiny, linker, "-Ttext=0", "--unresolved-symbols=ignore-all")
    k = Kernel()
    m = k.load(exe)
    assert m.call("tiny_get") == 5 and k.console == "tiny: loaded 5\n"
    # ld.lld's header segment at 0x400000 is not mapped: three pages of
    # sections (text, rodata, data, plus .modinfo's own with lld) cost that much.
    assert m.size <= 4 * 4096, m.size
    assert k.unload(m).clean
    from sandbox.inspect import describe_file

    described = describe_file(str(exe))
    assert "_start" not in described["undefined"] and described["unresolved"] == []


def test_undefined_start_that_is_used_gets_a_hint_not_the_kernels_blame(compile_c) -> None:
    obj = compile_c(SOURCE + "void _start(void); int tiny_entry(void) { _start(); return 0; }\n", "tiny")
    exe = link(obj, "gnu", "-Ttext=0", "--unresolved-symbols=ignore-all")
    with pytest.raises(LoadError) as caught:
        Kernel().load(exe)
    message = str(caught.value)
    assert "unresolved-symbols" in message and "_start is the linker's default entry point" in message
    assert "-e 0" in message


@pytest.mark.parametrize("linker", LINKERS)
def test_a_packed_linker_script_is_refused_with_the_fix(tiny: Path, linker: str, tmp_path: Path) -> None:
    script = tmp_path / "packed.ld"
    script.write_text(PACKED)
    exe = link(tiny, linker, "-T", str(script), "-e", "0", "--unresolved-symbols=ignore-all")
    with pytest.raises(LoadError) as caught:
        Kernel().load(exe)
    message = str(caught.value)
    assert "`. = ALIGN(4096);` before .rodata and before .data" in message
    if linker == "gnu":  # one RWX segment
        assert "writable-executable: segment 0 (RWX: .text .rodata" in message
        assert "is both writable and executable" in message
    else:  # proper segments that share page 0: not called writable+executable
        assert "writable-executable" not in message
        assert "segments-share-page: page 0x0 holds" in message
        assert "no segment is writable and executable, but they share a page" in message
        assert "(R-X: .text)" in message and "(RW-: .data)" in message


@pytest.mark.parametrize("linker", LINKERS)
def test_the_aligned_linker_script_loads(tiny: Path, linker: str, tmp_path: Path) -> None:
    script = tmp_path / "aligned.ld"
    script.write_text(ALIGNED)
    exe = link(tiny, linker, "-T", str(script), "-e", "0", "--unresolved-symbols=ignore-all")
    k = Kernel()
    m = k.load(exe)
    assert m.call("tiny_get") == 5
    assert {e.label for e in m.plan.layout.extents} >= {"text", "rodata", "data"}
