"""pytest plugin (entry point ``pytest11``): fixtures for testing drivers.

Installed with the package, so any project can use it without a conftest:

    def test_counts(kernel, load_driver):
        m = load_driver("build/irqcount.o")      # relative to the test file
        kernel.raise_irq(5)
        assert m.call("irqcount_get") == 1

Profile: ``@pytest.mark.sandbox_profile("generic-regparm")`` or
``--sandbox-profile``. The memory checker (guarded heap) is on unless
``--sandbox-no-memcheck``. When a test fails, the report gets a section with the
driver's console and the last trace events, and a GuestFault's full report,
shown before the traceback, which leaves out the sandbox's own frames
(``--fulltrace`` shows them).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr
from _pytest._io import TerminalWriter

from .errors import GuestFault, SandboxError
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
    if call.excinfo is not None and not item.config.getoption("fulltrace", False):
        hide_engine_frames(call)
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    sections = sandbox_sections(item, call)
    if not sections:
        return
    if item.config.getoption("tbstyle", "auto") in ("no", "line") or report.longrepr is None:
        report.sections.extend(sections)
    else:
        report.longrepr = SandboxFirst(sections, report.longrepr)


# The engine's own source: frames from here say nothing about the driver.
_ENGINE_DIRS = tuple(str(Path(p).resolve()) + "/" for p in (
    Path(__file__).parent, Path(__file__).parent.parent / "kernel_stubs",
))


def hide_engine_frames(call: pytest.CallInfo[None]) -> None:
    """Drop the sandbox's own frames from a SandboxError's traceback (GuestFault, LoadError, ...).

    A guest fault's story is the oops report, not ``Cpu.call``; the test's
    frames (and any Python service or device model of the user's) stay.
    ``pytest --fulltrace`` keeps everything. The traceback is rebuilt from
    the kept frames, since pytest re-walks the raw chain when it cuts the
    traceback at the test function.
    """
    excinfo = call.excinfo
    if excinfo is None or not isinstance(excinfo.value, SandboxError):
        return
    raw = []
    tb = excinfo.tb
    while tb is not None:
        raw.append(tb)
        tb = tb.tb_next
    kept = [t for t in raw if not str(Path(t.tb_frame.f_code.co_filename).resolve()).startswith(_ENGINE_DIRS)]
    if not kept or len(kept) == len(raw):
        return
    rebuilt = None
    for entry in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    call.excinfo = pytest.ExceptionInfo.from_exc_info((type(excinfo.value), excinfo.value, rebuilt))  # type: ignore[arg-type]


def sandbox_sections(item: pytest.Item, call: pytest.CallInfo[None]) -> list[tuple[str, str]]:
    """The failure's sandbox sections: fault report, then each kernel's console and last events."""
    sections = []
    if call.excinfo is not None and isinstance(call.excinfo.value, GuestFault):
        sections.append(("sandbox fault report", call.excinfo.value.report))
    for k in item.stash.get(_KERNELS, []):
        sections.append(("sandbox console", k.console or "(empty)"))
        events = k.trace.events[-_TRACE_LINES:]
        sections.append((f"sandbox trace (last {len(events)} events)",
                         "\n".join(format_event(e, k.symbolizer) for e in events) or "(none)"))
    return sections


class SandboxFirst(TerminalRepr):
    """A failure shown sandbox sections first, then pytest's own report (traceback, assertion)."""

    def __init__(self, sections: list[tuple[str, str]], original: Any) -> None:
        self.sections_first = sections
        self.original = original
        # The short summary line ("FAILED test - GuestFault: ...") reads this.
        self.reprcrash = getattr(original, "reprcrash", None)

    def toterminal(self, tw: TerminalWriter) -> None:
        for title, body in self.sections_first:
            tw.sep("-", title)
            tw.line(body.rstrip("\n"))
        tw.sep("-", "traceback (sandbox frames hidden; --fulltrace shows them)")
        if hasattr(self.original, "toterminal"):
            self.original.toterminal(tw)
        else:
            tw.line(str(self.original))
