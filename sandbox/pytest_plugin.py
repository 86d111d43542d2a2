"""pytest plugin (entry point ``pytest11``): fixtures for testing drivers.

Installed with the package, so any project can use it without a conftest:

    def test_counts(kernel, load_driver):
        m = load_driver("build/irqcount.o")      # relative to the test file
        kernel.raise_irq(5)
        assert m.call("irqcount_get") == 1

The ``kernel`` fixture's options, most specific first:

- fixture parameters: ``@pytest.mark.parametrize("kernel", [{"profile": "linux"}], indirect=True)``
  (a dict of Kernel options, or a profile);
- the marker ``@pytest.mark.sandbox(profile=..., unresolved="trap", memcheck=False, budget=...)``
  (any other keyword is passed to ``Kernel`` as is); ``@pytest.mark.sandbox_profile(name)`` too;
- the command line: ``--sandbox-profile``, ``--sandbox-unresolved``, ``--sandbox-budget``,
  ``--sandbox-no-memcheck`` (the memory checker is on by default in tests).

A profile is a Profile value, an installed name, or ``path/to/file.py:NAME``
(a relative path is looked for beside the test file first). An unknown one
fails the test with one line listing the known names.

When a test fails, the report gets a section with the console and the last
trace events of every Kernel created during the test (the fixture's and any
the test built itself), and a GuestFault's full report, shown before the
traceback, which leaves out the sandbox's own frames (``--fulltrace`` shows
them).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr
from _pytest._io import TerminalWriter

from .errors import GuestFault, SandboxError
from .kernel import Kernel, on_kernel_created
from .module import Module
from .profile import UnknownProfile, get_profile
from .trace.text import format_event

_KERNELS = pytest.StashKey[list["weakref.ref[Kernel]"]]()
_TRACE_LINES = 20
_OPTION_NAMES = {"budget": "budget_seconds"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("module-sandbox")
    group.addoption("--sandbox-profile", default="generic",
                    help="kernel profile for the kernel fixture: a name or path/to/file.py:NAME")
    group.addoption("--sandbox-unresolved", choices=("error", "trap"), default="error",
                    help="what the kernel fixture does with undefined symbols nothing exports")
    group.addoption("--sandbox-budget", type=float, default=10.0, help="seconds each guest call may run")
    group.addoption("--sandbox-no-memcheck", action="store_true",
                    help="use the plain heap (the memory checker is on by default in tests)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox_profile(name): kernel profile for this test's kernel fixture")
    config.addinivalue_line(
        "markers", "sandbox(profile=None, unresolved=None, memcheck=None, budget=None, **kernel_options): "
        "options of this test's kernel fixture")
    name = config.getoption("--sandbox-profile", "generic")
    try:
        get_profile(name, base=str(config.rootpath))
    except UnknownProfile as error:
        raise pytest.UsageError(f"--sandbox-profile: {error}") from None


def kernel_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Kernel keyword arguments for this test: command line, then markers, then fixture parameters."""
    config = request.config
    options: dict[str, Any] = {
        "profile": config.getoption("--sandbox-profile"),
        "unresolved": config.getoption("--sandbox-unresolved"),
        "budget_seconds": config.getoption("--sandbox-budget"),
        "memcheck": not config.getoption("--sandbox-no-memcheck"),
    }
    old = request.node.get_closest_marker("sandbox_profile")
    if old is not None:
        options["profile"] = old.args[0]
    for marker in reversed(list(request.node.iter_markers("sandbox"))):  # the closest marker wins
        if marker.args:
            options["profile"] = marker.args[0]
        options.update({_OPTION_NAMES.get(k, k): v for k, v in marker.kwargs.items() if v is not None})
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        options.update({_OPTION_NAMES.get(k, k): v for k, v in param.items()})
    elif param is not None:
        options["profile"] = param
    return options


def _make_kernel(request: pytest.FixtureRequest, options: dict[str, Any]) -> Kernel:
    profile = options.pop("profile")
    base = Path(str(request.node.fspath)).parent
    problem = None
    try:
        return Kernel(get_profile(profile, base=base), **options)
    except UnknownProfile as error:
        problem = f"sandbox: {error}"
    except TypeError as error:
        problem = f"sandbox: bad kernel fixture option: {error}"
    # Outside the except block, so the report is this one line and not a chain.
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A fresh Kernel for this test (options from parameters, the ``sandbox`` marker or the command line)."""
    k = _make_kernel(request, kernel_options(request))
    _remember(request.node, k)
    yield k


def _remember(item: pytest.Item, k: Kernel) -> None:
    kept = item.stash.setdefault(_KERNELS, [])
    if not any(ref() is k for ref in kept):
        kept.append(weakref.ref(k))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Every Kernel made while the test runs (fixtures included) is reported if it
    # fails; weak references, so the plugin never keeps a kernel alive.
    stop = on_kernel_created(lambda k: _remember(item, k))
    try:
        yield
    finally:
        stop()


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
    restored from a snapshot for every test that asks for it (fast isolation).
    It takes the same options as ``kernel`` (one prepared kernel per set of options)."""

    def get(setup: Callable[[Kernel], object]) -> Kernel:
        options = kernel_options(request)
        key = (setup, tuple(sorted((name, repr(value)) for name, value in options.items())))
        cached = _sandbox_kernel_cache.get(key)
        if cached is None:
            k = _make_kernel(request, options)
            setup(k)
            cached = _sandbox_kernel_cache[key] = (k, k.snapshot())
        else:
            cached[0].restore(cached[1])
        _remember(request.node, cached[0])
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
    kernels = [k for k in (ref() for ref in item.stash.get(_KERNELS, [])) if k is not None]
    for number, k in enumerate(kernels, 1):
        which = f" (kernel {number} of {len(kernels)}, {k.profile.name})" if len(kernels) > 1 else ""
        sections.append((f"sandbox console{which}", k.console or "(empty)"))
        events = k.trace.events[-_TRACE_LINES:]
        sections.append((f"sandbox trace{which} (last {len(events)} events)",
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
