"""The memory checker: heap overflows, use after free, corruption, with both sites named."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel

SOURCE = """
#include <kernel.h>
static char *kept;
noinline char *grab(int n) { kept = kmalloc(n, GFP_KERNEL); return kept; }
noinline void drop(void) { kfree(kept); }
int overflow_write(int n, int index) { char *p = grab(n); p[index] = 1; return 0; }
int overflow_read(int n, int index) { char *p = grab(n); return p[index]; }
int use_after_free(void) { char *p = grab(32); drop(); return p[4]; }
int underflow_then_free(void) { char *p = grab(16); p[-1] = 7; drop(); return 0; }
int padding_then_free(void) { char *p = grab(13); p[14] = 7; drop(); return 0; }
int in_bounds(void) { char *p = grab(13); p[12] = 5; int v = p[12]; drop(); return v; }
"""


@pytest.fixture
def checked(compile_c):
    k = Kernel(memcheck=True)
    return k, k.load(compile_c(SOURCE, "memtest", "-fno-optimize-sibling-calls", "-fno-inline"))


def test_in_bounds_use_is_fine(checked) -> None:
    k, m = checked
    assert m.call("in_bounds") == 5
    assert k.unload(m).clean


@pytest.mark.parametrize("function", ["overflow_write", "overflow_read"])
def test_overflow_past_the_end_faults_at_the_access(checked, function: str) -> None:
    _, m = checked
    with pytest.raises(GuestFault) as info:
        m.call(function, 32, 32)
    fault = info.value
    assert fault.kind == "heap-out-of-bounds"
    assert "0 bytes past the end of the 32-byte block" in fault.report
    assert "allocated at memtest:grab+" in fault.report
    assert fault.location.startswith(f"memtest:{function}")


def test_use_after_free_names_both_sites(checked) -> None:
    _, m = checked
    with pytest.raises(GuestFault) as info:
        m.call("use_after_free")
    assert info.value.kind == "use-after-free"
    assert "4 bytes into the freed 32-byte block" in info.value.report
    assert "allocated at memtest:grab+" in info.value.report and "freed at memtest:drop+" in info.value.report


@pytest.mark.parametrize(("function", "where"), [("underflow_then_free", "before"), ("padding_then_free", "after")])
def test_slack_corruption_found_at_free(checked, function: str, where: str) -> None:
    _, m = checked
    with pytest.raises(GuestFault) as info:
        m.call(function)
    assert info.value.kind == "heap-corruption" and f"{where} the" in str(info.value)
    assert "kfree" in str(info.value)


def test_plain_heap_misses_what_the_checker_catches(compile_c) -> None:
    k = Kernel()
    m = k.load(compile_c(SOURCE, "memtest"))
    assert m.call("overflow_write", 32, 32) == 0  # silently corrupts, as a real kernel would


def test_fixture_kernel_checks_memory_by_default(kernel: Kernel) -> None:
    assert kernel.memory.heap.checked
