"""The pytest plugin, used from a separate project as a driver author would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox import Kernel, UnloadReport
from sandbox.testing import ANY, assert_called, assert_console, assert_no_leaks

from .conftest import ROOT, _plugin_installed

PROJECT_TEST = '''
import pytest
from sandbox import GuestFault
from sandbox.testing import assert_called, assert_console, assert_no_leaks

def test_counts(kernel, load_driver):
    m = load_driver("drivers/irqcount.o")
    kernel.raise_irq(5)
    assert m.call("irqcount_get") == 1
    assert_called(kernel, "request_irq", args=(5,))
    assert_console(kernel, r"handler on IRQ \\d+ ready")
    assert_no_leaks(kernel.unload(m))

@pytest.mark.sandbox_profile("generic-regparm")
def test_profile_marker(kernel):
    assert kernel.profile.name == "generic-regparm"

def test_crash_is_reported(kernel, load_driver):
    m = load_driver("drivers/faulty.o")
    m.call("fault_null_read")
'''


def test_plugin_in_a_separate_project(tmp_path: Path, driver) -> None:
    (tmp_path / "drivers").mkdir()
    shutil.copy(driver("irqcount"), tmp_path / "drivers" / "irqcount.o")
    shutil.copy(driver("faulty"), tmp_path / "drivers" / "faulty.o")
    (tmp_path / "test_driver.py").write_text(PROJECT_TEST)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    extra = [] if _plugin_installed() else ["-p", "sandbox.pytest_plugin"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    out = result.stdout
    assert "1 failed, 2 passed" in out, out
    assert "sandbox console" in out
    assert "sandbox fault report" in out and "NULL pointer dereference" in out and "faulty:fault_null_read" in out
    assert "sandbox trace (last" in out


def test_assertion_helpers_explain_failures(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("memlist"))
    m.call("memlist_push", 1, "one")
    assert_called(kernel, "kmalloc", args=(24, ANY), times=1)
    assert_called(kernel, "strscpy", args=(ANY, "one"))
    try:
        assert_called(kernel, "kfree")
    except AssertionError as error:
        assert "expected a call to kfree; calls made:\n  (none)" in str(error)
    else:
        raise AssertionError("assert_called should have failed")
    try:
        assert_console(kernel, "never printed")
    except AssertionError as error:
        assert "console was" in str(error)
    m.call("memlist_pop")
    assert_no_leaks(kernel.unload(m))


def test_assert_no_leaks_lists_the_leaks() -> None:
    report = UnloadReport("memlist", ["24 bytes at 0xe0000000 allocated at memlist:memlist_push+0x12 not freed"])
    try:
        assert_no_leaks(report)
    except AssertionError as error:
        assert "module memlist leaked:" in str(error) and "24 bytes" in str(error)
    else:
        raise AssertionError("assert_no_leaks should have failed")
