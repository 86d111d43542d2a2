"""The worked examples run as a user would run them: their own pytest session, in parallel too."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT, _plugin_installed


def test_the_myos_example_passes_under_pytest_xdist() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    extra = [] if _plugin_installed() else ["-p", "sandbox.pytest_plugin"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "-n", "2",
                             "examples/myos"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
