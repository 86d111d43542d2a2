"""Soft dependencies (``.modinfo`` ``softdep=pre: ... post: ...``) as modprobe loads them: wishes, not needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'


def _module(source: str, softdep: str = "") -> str:
    info = f'__attribute__((section(".modinfo"), used)) static const char sd[] = "softdep={softdep}";\n' \
        if softdep else ""
    return VERMAGIC + info + source


def test_pre_soft_dependencies_load_first_and_one_that_refuses_is_left_out(
        compile_c: Callable[..., Path], tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    sources = {
        "helper": _module("int helper_ready = 7;\nint init_module(void) { return 0; }"),
        "absent_hw": _module("int init_module(void) { return -19; }"),  # no device: -ENODEV
        "after": _module("int init_module(void) { return 0; }"),
        "wants": _module("int init_module(void) { return 0; }", "pre: helper absent-hw post: after"),
    }
    for name, source in sources.items():
        compile_c(source, name, "-mregparm=3").rename(tree / f"{name}.ko")
    k = Kernel("linux")
    assert [m.name for m in k.modprobe("wants", tree)] == ["helper", "wants", "after"]
    assert [e.fields["module"] for e in k.trace if e.kind == "note" and e.name == "softdep not loaded"] \
        == ["absent_hw"]
