"""The pytest plugin takes any profile and the kernel options, and reports on every Kernel a test made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, _plugin_installed

PROJECT_TESTS = '''
import pytest
from sandbox import Kernel

@pytest.mark.sandbox(profile="generic-regparm", unresolved="trap", memcheck=False, budget=2.5)
def test_marker_options(kernel):
    assert kernel.profile.name == "generic-regparm"
    assert kernel.unresolved == "trap"
    assert type(kernel.memory.heap).__name__ == "PlainHeap"
    assert kernel.cpu.budget_seconds == 2.5

def test_defaults(kernel):
    assert kernel.profile.name == "generic" and kernel.unresolved == "error"
    assert type(kernel.memory.heap).__name__ == "GuardedHeap"

@pytest.mark.parametrize("kernel", [{"profile": "linux", "memcheck": False}, "generic-regparm"], indirect=True)
def test_fixture_parameters(kernel):
    assert kernel.profile.name in ("linux", "generic-regparm")

@pytest.mark.sandbox(profile="tiny_profile.py:TINY")
def test_profile_file_beside_the_test(kernel):
    assert kernel.profile.name == "tiny" and kernel.export_owner("strlen") == "kernel"

@pytest.mark.sandbox(profile="nope")
def test_unknown_profile(kernel):
    pass

def test_own_kernel_is_reported():
    k = Kernel()
    k.load("drivers/hello.o")
    other = Kernel("linux")
    assert k.console == "something else"
'''

TINY_PROFILE = '''
from sandbox import Profile
TINY = Profile("tiny", services="kernel_stubs.strings")
'''


def _project(tmp_path: Path, driver) -> Path:
    (tmp_path / "drivers").mkdir()
    shutil.copy(driver("hello"), tmp_path / "drivers" / "hello.o")
    (tmp_path / "test_options.py").write_text(PROJECT_TESTS)
    (tmp_path / "tiny_profile.py").write_text(TINY_PROFILE)
    return tmp_path


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    extra = [] if _plugin_installed() else ["-p", "sandbox.pytest_plugin"]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *extra,
                           *args, str(project)], capture_output=True, text=True, cwd=project, env=env)


def test_marker_parameters_files_and_failure_sections(tmp_path: Path, driver) -> None:
    result = _pytest(_project(tmp_path, driver))
    out = result.stdout
    assert "1 failed, 5 passed, 1 error" in out, out
    # The unknown profile: the fixture fails with one line, no traceback into the plugin.
    assert "During handling" not in out
    assert ("sandbox: unknown profile 'nope'; known: generic, generic-regparm, linux, nt "
            "(or a file: path/to/file.py:NAME)") in out
    assert "pytest_plugin.py" not in out
    # The test's own kernels get the sections, told apart.
    assert "sandbox console (kernel 1 of 2, generic)" in out and "hello: loaded, answer=42" in out
    assert "sandbox trace (kernel 2 of 2, linux) (last 0 events)" in out


def test_an_unknown_command_line_profile_is_a_usage_error(tmp_path: Path, driver) -> None:
    result = _pytest(_project(tmp_path, driver), "--sandbox-profile", "nope")
    assert result.returncode == 4  # pytest's usage error
    assert "ERROR: --sandbox-profile: unknown profile 'nope'; known: generic" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_line_sets_the_fixtures_defaults(tmp_path: Path, driver) -> None:
    project = _project(tmp_path, driver)
    result = _pytest(project, "--sandbox-profile", "tiny_profile.py:TINY", "--sandbox-unresolved", "trap",
                     "-k", "defaults or marker")
    # test_defaults now sees the tiny profile; the marker still wins for its test.
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "test_options.py::test_defaults - AssertionError" in result.stdout
