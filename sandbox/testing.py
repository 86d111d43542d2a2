"""Assertion helpers that read like the behaviour they check.

    assert_called(kernel, "kmalloc", args=(24, GFP_KERNEL))
    assert_console(kernel, r"irqcount: saw \\d+ interrupt")
    assert_no_leaks(kernel.unload(module))

Each failure message shows what the kernel actually did, so a failing test
explains itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .kernel import Kernel
from .module import UnloadReport
from .trace.events import Event
from .trace.text import format_event

ANY = object()  # matches any single argument


def corpus_dir() -> Path | None:
    """The Debian Linux 6.1 686 module tree ``tools/fetch-linux-modules`` fetched
    (``.../lib/modules/6.1.0-*-686/kernel``, under ``$SANDBOX_LINUX_CACHE``), or None:
    what ``k.modprobe(name, corpus_dir())`` loads real modules from."""
    cache = Path(os.environ.get("SANDBOX_LINUX_CACHE", Path.home() / ".cache" / "module-sandbox" / "linux"))
    found = sorted((cache / "root" / "lib" / "modules").glob("6.1.0-*-686/kernel"))
    return found[-1] if found else None


def _matches(event: Event, args: Sequence[Any] | None) -> bool:
    if args is None:
        return True
    if len(args) > len(event.args):
        return False
    for want, have in zip(args, event.args):
        if want is ANY:
            continue
        if isinstance(want, str) and isinstance(have, bytes):
            have = have.decode("latin-1")
        if want != have:
            return False
    return True


def calls(kernel: Kernel, service: str, args: Sequence[Any] | None = None) -> list[Event]:
    """Trace events of calls to ``service`` whose leading arguments equal ``args``."""
    return [e for e in kernel.trace.calls(service) if _matches(e, args)]


def assert_called(kernel: Kernel, service: str, args: Sequence[Any] | None = None, times: int | None = None,
                  result: int | None = None) -> list[Event]:
    """Assert the driver called ``service`` (with these leading args / result / this many times)."""
    found = [e for e in calls(kernel, service, args) if result is None or e.result == result]
    if (times is None and not found) or (times is not None and len(found) != times):
        made = [format_event(e, kernel.symbolizer) for e in kernel.trace.calls(service)] or ["(none)"]
        expected = f"{times} call(s)" if times is not None else "a call"
        raise AssertionError(f"expected {expected} to {service}{'' if args is None else tuple(args)}; calls made:\n  "
                             + "\n  ".join(made))
    return found


def assert_not_called(kernel: Kernel, service: str) -> None:
    """Assert the driver never called ``service``."""
    assert_called(kernel, service, times=0)


def assert_console(kernel: Kernel, pattern: str) -> re.Match[str]:
    """Assert a console line matches the regular expression ``pattern``."""
    for line in kernel.console.splitlines():
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no console line matches {pattern!r}; console was:\n{kernel.console or '(empty)'}")


def assert_no_leaks(report: UnloadReport) -> None:
    """Assert an unload found nothing left behind (memory, IRQs, locks, devices, timers)."""
    if report.leaks:
        raise AssertionError(f"module {report.module} leaked:\n  " + "\n  ".join(report.leaks))
