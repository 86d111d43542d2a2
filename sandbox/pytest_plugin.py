"""pytest plugin (entry point ``pytest11``): fixtures for testing drivers.

Installed with the package, so any project can use it without a conftest:

    def test_counts(kernel, load_driver):
        m = load_driver("build/irqcount.o")      # relative to the test file
        kernel.raise_irq(5)
        assert m.call("irqcount_get") == 1

Profile: ``@pytest.mark.sandbox_profile("generic-regparm")`` or
``--sandbox-profile``. The memory checker (guarded heap) is on unless
``--sandbox-no-memcheck``. When a test fails, the report gets a section with the
driver's console and the last trace events, and a GuestFault's full report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .errors import GuestFault
from .kernel import Kernel
from .module import Module
from .trace.text import format_event

_KERNELS = pytest.StashKey[list[Kernel]]()
_TRACE_LINES = 20


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("module-sandbox")
    group.addoption("--sandbox-profile", default="generic", help="kernel profile for the kernel fixture")
    group.addoption("--sandbox-budget", type=float, default=10.0, help="seconds each guest call may run")
    group.addoption("--sandbox-no-memcheck", action="store_true",
                    help="use the plain heap (the memory checker is on by default in tests)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox_profile(name): kernel profile for this test's kernel fixture")


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A fresh Kernel for this test (profile from the marker or --sandbox-profile)."""
    marker = request.node.get_closest_marker("sandbox_profile")
    profile = marker.args[0] if marker else request.config.getoption("--sandbox-profile")
    k = Kernel(profile, budget_seconds=request.config.getoption("--sandbox-budget"),
               memcheck=not request.config.getoption("--sandbox-no-memcheck"))
    request.node.stash.setdefault(_KERNELS, []).append(k)
    yield k


@pytest.fixture
def load_driver(kernel: Kernel, request: pytest.FixtureRequest) -> Callable[..., Module]:
    """Load a module file given relative to the test file (or absolute) into ``kernel``."""
    base = Path(str(request.node.fspath)).parent

    def load(path: str | Path, **options: Any) -> Module:
        target = Path(path)
        return kernel.load(target if target.is_absolute() else base / target, **options)

    return load


@pytest.fixture(scope="session")
def _sandbox_kernel_cache() -> dict[Any, tuple[Kernel, Any]]:
    return {}


@pytest.fixture
def prepared_kernel(
    _sandbox_kernel_cache: dict[Any, tuple[Kernel, Any]], request: pytest.FixtureRequest,
) -> Callable[[Callable[[Kernel], object]], Kernel]:
    """``prepared_kernel(setup)``: a kernel prepared once per session by ``setup``,
    restored from a snapshot for every test that asks for it (fast isolation)."""

    def get(setup: Callable[[Kernel], object]) -> Kernel:
        cached = _sandbox_kernel_cache.get(setup)
        if cached is None:
            k = Kernel(budget_seconds=request.config.getoption("--sandbox-budget"),
                       memcheck=not request.config.getoption("--sandbox-no-memcheck"))
            setup(k)
            cached = _sandbox_kernel_cache[setup] = (k, k.snapshot())
        else:
            cached[0].restore(cached[1])
        request.node.stash.setdefault(_KERNELS, []).append(cached[0])
        return cached[0]

    return get


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for k in item.stash.get(_KERNELS, []):
        report.sections.append(("sandbox console", k.console or "(empty)"))
        events = k.trace.events[-_TRACE_LINES:]
        report.sections.append((f"sandbox trace (last {len(events)} events)",
                                "\n".join(format_event(e, k.symbolizer) for e in events) or "(none)"))
    if call.excinfo is not None and isinstance(call.excinfo.value, GuestFault):
        report.sections.append(("sandbox fault report", call.excinfo.value.report))
