"""``python -m sandbox new``: the generated driver project builds and its tests pass at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import SandboxError
from sandbox.template import create

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_generated_project_builds_and_passes(tmp_path: Path, cc: str) -> None:
    if shutil.which(cc) is None or shutil.which("make") is None:
        pytest.skip(f"needs {cc} and make (tools/setup installs them)")
    made = subprocess.run([sys.executable, "-m", "sandbox", "new", "blinky", str(tmp_path / "blinky")],
                          capture_output=True, text=True, cwd=ROOT, env=_env())
    assert made.returncode == 0, made.stdout + made.stderr
    project = tmp_path / "blinky"
    assert f"next: cd {project} && make && python3 -m pytest -q" in made.stdout
    assert sorted(p.name for p in project.iterdir()) == ["Makefile", "README.md", "blinky.c", "conftest.py",
                                                          "test_blinky.py"]
    build = subprocess.run(["make", f"CC={cc}", f"PYTHON={sys.executable}"], capture_output=True, text=True,
                           cwd=project, env=_env())
    assert build.returncode == 0, build.stdout + build.stderr
    assert "warning" not in build.stdout + build.stderr  # -Wall -Wextra clean with both compilers
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
                           capture_output=True, text=True, cwd=project, env=_env())
    assert "3 passed" in tests.stdout, tests.stdout + tests.stderr
    run = subprocess.run([sys.executable, "-m", "sandbox", "run", "blinky.o", "--irq", "5", "--call", "blinky_count",
                          "--call", "blinky_hello", ":buf=32", "32", "--trace", "none"],
                         capture_output=True, text=True, cwd=project, env=_env())
    assert "blinky:blinky_count() = 1" in run.stdout
    assert "arg 0 = b'hello from blinky, 1 irq(s)'" in run.stdout
    assert "blinky: unloaded after 1 interrupt(s)" in run.stdout


def test_new_refuses_bad_names_and_overwriting(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="must be a C identifier"):
        create("my-driver", tmp_path / "x")
    create("mine", tmp_path / "mine")
    with pytest.raises(SandboxError, match=r"already has mine\.c"):
        create("mine", tmp_path / "mine")


def test_include_dir_is_the_generic_headers() -> None:
    shown = subprocess.run([sys.executable, "-m", "sandbox.template", "--include-dir"], capture_output=True,
                           text=True, cwd=ROOT, env=_env(), check=True).stdout.strip()
    assert (Path(shown) / "kernel.h").is_file()
