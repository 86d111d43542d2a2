"""Hobby shared objects coexist: well-known names are bindings of each module, never global exports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.wellknown import IrqEntry

from .conftest import CFLAGS, ROOT


@pytest.fixture
def two_copies(built, tmp_path: Path) -> tuple[Path, Path]:
    """build/drivers/clang/shared/wellknown.so and the same file renamed wk2.so."""
    original = built.get(("clang", "shared", "wellknown")) or built[("gcc", "shared", "wellknown")]
    copy = tmp_path / "wk2.so"
    shutil.copy(original, copy)
    return original, copy


def _read(k: Kernel, path: str) -> bytes:
    with k.open(path) as device:
        return device.read(32)


def test_two_copies_load_side_by_side_each_on_its_own_line_and_node(two_copies) -> None:
    k = Kernel()
    first = k.load(two_copies[0])
    second = k.load(two_copies[1], well_known={"irqhandler": IrqEntry(9)})
    assert k.export_owner("irqhandler") is None and k.export_owner("readdevice") is None
    assert first.bindings["irqhandler"] == "IRQ 7" and second.bindings["irqhandler"] == "IRQ 9"
    assert second.bindings["readdevice"] == "/dev/wk2 read"
    k.raise_irq(7)
    k.raise_irq(7)
    k.raise_irq(9)
    assert _read(k, "/dev/wellknown") == b"irqs=2 last=-"
    assert _read(k, "/dev/wk2") == b"irqs=1 last=-"
    notes = [e.fields["bound"] for e in k.trace.of_kind("note") if e.name == "well-known"]
    assert notes[1][0] == "irqhandler -> IRQ 9"
    assert k.unload(second).clean and k.unload(first).clean
    assert k.irqs.actions(7) == [] and k.irqs.actions(9) == []


def test_on_the_tables_line_both_handlers_share_it(two_copies) -> None:
    k = Kernel()
    k.load(two_copies[0])
    k.load(two_copies[1])
    handled = k.raise_irq(7)
    assert [r.handler for r in handled] == ["wellknown:irqhandler", "wk2:irqhandler"]
    assert _read(k, "/dev/wellknown") == b"irqs=1 last=-" and _read(k, "/dev/wk2") == b"irqs=1 last=-"


def test_the_well_known_names_stay_callable_as_the_modules_symbols(two_copies) -> None:
    k = Kernel()
    k.load(two_copies[0])
    second = k.load(two_copies[1])
    assert second.call("irqhandler", 7, 0) == 1  # IRQ_HANDLED
    assert second.call("readdevice", bytearray(32), 32) > 0


def test_cli_runs_two_copies_together(two_copies) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", *map(str, two_copies), "--irq", "7", "--trace", "none"],
                            capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "irq 7: wellknown:irqhandler=1, wk2:irqhandler=1" in result.stdout


def test_hidden_well_known_names_get_a_note_and_a_warning(tmp_path: Path) -> None:
    source = ROOT / "drivers" / "wellknown.c"
    obj, so = tmp_path / "hidden.o", tmp_path / "hidden.so"
    subprocess.run(["gcc", *CFLAGS, "-fPIC", "-fvisibility=hidden", "-c", str(source), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-shared", "--hash-style=sysv", str(obj), "-o", str(so)], check=True)
    k = Kernel()
    m = k.load(so)
    assert m.bindings == {} and k.irqs.actions(7) == []
    assert len(k.warnings) == 1
    warning = k.warnings[0]
    assert warning.startswith("hidden: well-known names irqhandler, opendevice, readdevice, writedevice are defined "
                              "but not visible (a local symbol: static, or -fvisibility=hidden); not bound.")
    assert 'visibility("default")' in warning
    note = next(e for e in k.trace.of_kind("note") if e.name == "well-known-hidden")
    assert note.fields["hidden"] == ["irqhandler", "opendevice", "readdevice", "writedevice"]


def test_a_shared_object_without_ksymtab_exports_its_global_functions_and_objects(built) -> None:
    k = Kernel()
    m = k.load(built[("gcc", "shared", "memlist")])
    exported = {name for name in m.exports}
    assert "memlist_push" in exported and "init_module" not in exported and "cleanup_module" not in exported
    assert all(k.export_owner(name) == "memlist" for name in exported)


def test_cli_puts_a_copy_on_its_own_line(two_copies) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", *map(str, two_copies), "--irq-line", "wk2=9",
                             "--irq", "7", "--irq", "9", "--trace", "none"],
                            capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "irq 7: wellknown:irqhandler=1\nirq 9: wk2:irqhandler=1\n" in result.stdout
