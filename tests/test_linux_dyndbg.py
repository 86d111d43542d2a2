"""Dynamic debug: pr_debug sites print only when enabled for the module (``dyndbg=+p``, ``dynamic_debug``)."""

from __future__ import annotations

from kernel_stubs.linux.dyndbg import descriptors, dynamic_debug
from sandbox import Kernel
from tests.linux_corpus import ko, needs_corpus

pytestmark = needs_corpus
ARKFB = "drivers/video/fbdev/arkfb.ko"


def test_pr_debug_is_silent_by_default() -> None:
    k = Kernel("linux", unresolved="trap")
    k.load(ko(ARKFB))
    assert "arkfb: initializing" not in k.console


def test_dyndbg_parameter_enables_the_module_sites() -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(ko(ARKFB), params="dyndbg=+p")
    assert "arkfb: initializing\n" in k.console
    assert descriptors(m.plan) and "unknown parameter" not in k.console


def test_control_switches_sites_both_ways() -> None:
    k = Kernel("linux", unresolved="trap")
    k.load(ko(ARKFB), params="dyndbg=+p dyndbg=-p")  # the last word wins, as on Linux
    assert "initializing" not in k.console
    m = k.module("arkfb")
    assert dynamic_debug(k, m) == len(descriptors(m.plan)) > 0
    assert dynamic_debug(k, "arkfb", False) == len(descriptors(m.plan))
