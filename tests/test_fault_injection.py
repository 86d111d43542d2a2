"""Fault injection: chosen kernel calls fail so a driver's error paths run."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError
from sandbox.faultinject import explore_init_failures


def test_nth_kmalloc_returns_null_and_is_marked(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("memlist"))
    kernel.inject_failure("kmalloc", nth=2)
    assert [m.call("memlist_push", i, "x") for i in range(3)] == [0, -12, 0]
    calls = kernel.trace.calls("kmalloc")
    assert [bool(e.fields.get("injected")) for e in calls] == [False, True, False]
    assert calls[1].result == 0 and m.call("memlist_len") == 2


def test_injected_request_irq_failure_fails_init(kernel: Kernel, driver) -> None:
    kernel.inject_failure("request_irq")
    with pytest.raises(LoadError, match=r"-16 \(-EBUSY\)"):
        kernel.load(driver("irqcount"))
    assert kernel.console == "irqcount: request_irq failed: -16\n"


def test_every_init_failure_point_of_a_careful_driver_is_clean(driver) -> None:
    points = explore_init_failures(lambda: Kernel(memcheck=True), driver("multialloc"))
    assert [(p.service, p.nth) for p in points] == [("kmalloc", 1), ("kmalloc", 2), ("kcalloc", 1), ("request_irq", 1)]
    assert all(p.ok for p in points), points


def test_a_sloppy_error_path_is_found_with_its_leak(driver) -> None:
    points = explore_init_failures(lambda: Kernel(memcheck=True), driver("multialloc"), params={"careful": 0})
    bad = [p for p in points if not p.ok]
    assert [(p.service, p.nth, p.outcome) for p in bad] == [("kmalloc", 2, "failed-cleanly")]
    assert bad[0].leaks and "64 bytes" in bad[0].leaks[0] and "multialloc:multialloc_init" in bad[0].leaks[0]
