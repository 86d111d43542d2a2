"""Fault injection: make chosen kernel calls fail, to exercise error paths.

    k.inject_failure("kmalloc", nth=2)        # the 2nd kmalloc returns NULL
    k.inject_failure("request_irq", nth=1)    # returns -EBUSY

:func:`explore_init_failures` loads a module once per failure point of its
init (every call to a failable service) and reports, for each, whether the
module failed cleanly, crashed, loaded anyway, or leaked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GuestFault, LoadError

if TYPE_CHECKING:
    from .kernel import Kernel


@dataclass
class Injections:
    """Which calls of which services are made to fail; counts every call.

    ``defaults`` is the profile's ``failure_values``: what each service
    returns when failed without an explicit value.
    """

    defaults: Mapping[str, int] = field(default_factory=dict)
    plan: dict[str, tuple[set[int], int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    injected: list[tuple[str, int]] = field(default_factory=list)

    def add(self, service: str, nth: int, value: int | None = None) -> None:
        """Fail the ``nth`` (1-based) call of ``service`` with ``value`` (its usual failure by default)."""
        if value is None:
            if service not in self.defaults:
                raise ValueError(f"no default failure value for {service} in this profile; pass value=")
            value = self.defaults[service]
        calls, _ = self.plan.get(service, (set(), value))
        calls.add(nth)
        self.plan[service] = (calls, value)

    def check(self, service: str) -> int | None:
        """Count a call; return the value to fail it with, or None to run it."""
        if service not in self.plan:
            return None
        count = self.counts.get(service, 0) + 1
        self.counts[service] = count
        calls, value = self.plan[service]
        if count in calls:
            self.injected.append((service, count))
            return value
        return None


@dataclass
class FailurePoint:
    """The outcome of failing one call during init."""

    service: str
    nth: int
    outcome: str  # "failed-cleanly", "crashed", "loaded-anyway", "error"
    detail: str = ""
    leaks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A failure point is fine when init failed cleanly (or coped) and nothing leaked."""
        return self.outcome in ("failed-cleanly", "loaded-anyway") and not self.leaks


def explore_init_failures(
    make_kernel: Callable[[], Kernel], path: str | Path, services: tuple[str, ...] | None = None,
    params: dict[str, object] | None = None,
) -> list[FailurePoint]:
    """Fail each failable call of init in turn; report what the module did.

    ``services`` defaults to every service the profile has a failure value for.
    """
    probe = make_kernel()
    if services is None:
        services = tuple(probe.profile.failure_values)
    module = probe.load(path, params=params)
    counts = {s: len([e for e in probe.trace.calls(s) if e.seq < _init_end(probe, module.name)]) for s in services}
    points: list[FailurePoint] = []
    for service, total in counts.items():
        for nth in range(1, total + 1):
            kernel = make_kernel()
            kernel.inject_failure(service, nth)
            try:
                loaded = kernel.load(path, params=params)
            except LoadError as error:
                point = FailurePoint(service, nth, "failed-cleanly", str(error.detail))
            except GuestFault as fault:
                point = FailurePoint(service, nth, "crashed", fault.args[0])
            else:
                point = FailurePoint(service, nth, "loaded-anyway")
                point.leaks = kernel.unload(loaded).leaks
            if point.outcome != "loaded-anyway":
                point.leaks = [e.fields["what"] for e in kernel.trace.of_kind("leak")]
            points.append(point)
    return points


def _init_end(kernel: Kernel, name: str) -> int:
    for event in kernel.trace.of_kind("init"):
        if event.name == name:
            return event.seq
    return len(kernel.trace)
