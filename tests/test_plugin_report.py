"""What a driver author sees when a test fails on a GuestFault (issue 13 item 3).

Measured with pytester in a separate pytest run: the sandbox sections come
first and the traceback has no engine frames (83 lines, 62 of them engine
source, before this change).
"""

from __future__ import annotations

import re
import shutil

import pytest

ENGINE_FRAME = re.compile(r"(?:^|/)(?:sandbox|kernel_stubs)/[\w/]+\.py:\d+")

TESTS = '''
def test_call_faults(kernel, load_driver):
    m = load_driver("faulty.o")
    m.call("faulty_ok", 1, 2)
    m.call("fault_null_read")

def test_init_faults(kernel, load_driver):
    load_driver("crashy.o")

def test_assertion_fails(kernel, load_driver):
    m = load_driver("faulty.o")
    assert m.call("faulty_ok", 1, 2) == 4
'''

CRASHY = """
#include <kernel.h>
static int __init crashy_init(void) { pr_info("crashy: about to crash\\n"); return *(volatile int *)0; }
module_init(crashy_init);
"""


@pytest.fixture
def project(pytester: pytest.Pytester, driver, compile_c):
    shutil.copy(driver("faulty"), pytester.path / "faulty.o")
    shutil.copy(compile_c(CRASHY, "crashy"), pytester.path / "crashy.o")
    pytester.makepyfile(test_driver=TESTS)
    return pytester


def test_guest_fault_report_comes_first_without_engine_frames(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-k", "call_faults")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    failure = out.split("_ test_call_faults _")[1].split("short test summary")[0]
    assert ENGINE_FRAME.findall(failure) == []
    order = [failure.index(mark) for mark in (
        "sandbox fault report", "NULL pointer dereference: read of 4 bytes", "sandbox console",
        "sandbox trace (last", "traceback (sandbox frames hidden", '>       m.call("fault_null_read")',
        "E       sandbox.errors.GuestFault: NULL pointer dereference",
    )]
    assert order == sorted(order)
    assert len(failure.splitlines()) < 50
    assert "FAILED test_driver.py::test_call_faults - sandbox.errors.GuestFault: NULL" in out


def test_a_fault_in_init_hides_the_loader_too(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-k", "init_faults")
    result.assert_outcomes(failed=1)
    failure = result.stdout.str().split("_ test_init_faults _")[1]
    assert ENGINE_FRAME.findall(failure) == []
    assert failure.index("crashy: about to crash") < failure.index('>       load_driver("crashy.o")')


def test_fulltrace_keeps_the_engine_frames(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-k", "call_faults",
                                          "--fulltrace")
    assert any("machine/cpu.py" in frame for frame in ENGINE_FRAME.findall(result.stdout.str()))


def test_plain_assertion_failures_keep_their_report(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-k", "assertion_fails")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "sandbox console" in out and "assert 3 == 4" in out
    assert out.index("sandbox console") < out.index("assert 3 == 4")
