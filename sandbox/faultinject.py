"""Fault injection: make chosen kernel calls fail, to exercise error paths.

    k.inject_failure("kmalloc", nth=2)        # the 2nd kmalloc returns NULL
    k.inject_failure("request_irq", nth=1)    # returns -EBUSY

:func:`explore_init_failures` loads a module once per failure point of its
init (every call to a failable service) and reports, for each, whether the
module failed cleanly, crashed, loaded anyway, or leaked.

:func:`explore_failures` does it for any entry point (an ioctl, a write, an
IRQ: whatever ``run(kernel)`` does), the way Microsoft's usersim does:
restore a snapshot, run, and fail the first failable call whose
(service, symbolized call stack) has not failed before; repeat until a run
meets no new stack. Each failure point is reported as handled (the entry
point coped or returned an error), crashed, hung (budget) or leaked (what
a forced unload afterwards finds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BudgetExceeded, DeviceError, GuestFault, LoadError, SandboxError

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
    # Asked first about every planned service (explore_failures): a value fails the call.
    chooser: Callable[[str], int | None] | None = None

    def add(self, service: str, nth: int, value: int | None = None) -> None:
        """Fail the ``nth`` (1-based) call of ``service`` with ``value`` (its usual failure by default)."""
        if value is None:
            if service not in self.defaults:
                raise ValueError(f"no default failure value for {service} in this profile; pass value=")
            value = self.defaults[service]
        calls, _ = self.plan.get(service, (set(), value))
        calls.add(nth)
        self.plan[service] = (calls, value)

    def save(self) -> tuple[dict[str, tuple[set[int], int]], dict[str, int], list[tuple[str, int]]]:
        """The plan, the call counts and what was injected, for :meth:`restore`."""
        return ({name: (set(calls), value) for name, (calls, value) in self.plan.items()},
                dict(self.counts), list(self.injected))

    def restore(self, state: tuple[dict[str, tuple[set[int], int]], dict[str, int], list[tuple[str, int]]]) -> None:
        """Put the plan and counts back: an injection armed after the snapshot is gone."""
        plan, counts, injected = state
        self.plan = {name: (set(calls), value) for name, (calls, value) in plan.items()}
        self.counts, self.injected = dict(counts), list(injected)

    def check(self, service: str) -> int | None:
        """Count a call; return the value to fail it with, or None to run it."""
        if service not in self.plan:
            return None
        if self.chooser is not None:
            return self.chooser(service)
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


@dataclass
class StackFailure:
    """One failure point of an entry point: a service failed at one call stack, and what followed."""

    service: str
    stack: tuple[str, ...]  # symbolized return addresses, innermost first
    outcome: str  # "handled", "crashed", "hung", "leaked", "error"
    detail: str = ""
    leaks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The entry point coped with the failure."""
        return self.outcome == "handled"


def call_stack(kernel: Kernel) -> tuple[str, ...]:
    """The symbolized call stack of the service call in progress (its caller first)."""
    from .machine.registers import EBP, ESP

    regs = kernel.cpu.regs
    frames = kernel._reporter.backtrace(kernel.current_caller, regs.read(ESP) + 4, regs.read(EBP))
    return tuple(kernel.symbolizer.short(address) for address in frames)


def explore_failures(
    kernel: Kernel, run: Callable[[Kernel], object], services: tuple[str, ...] | None = None,
    check_leaks: bool = True, max_runs: int = 1000,
) -> list[StackFailure]:
    """Fail each distinct (service, call stack) that ``run(kernel)`` reaches, once each, until none is new.

    ``kernel`` is used from its current state (snapshotted first, restored
    before every run and at the end); ``run`` drives one entry point.
    ``services`` defaults to every service the profile has a failure value for.
    """
    failure_values = kernel.profile.failure_values
    if services is None:
        services = tuple(failure_values)
    unknown = [s for s in services if s not in failure_values]
    if unknown:
        raise ValueError(f"no failure value for {', '.join(unknown)} in the {kernel.profile.name} profile")
    snap = kernel.snapshot()
    tried: set[tuple[str, tuple[str, ...]]] = set()
    points: list[StackFailure] = []
    injections = kernel.injections
    saved_plan = dict(injections.plan)
    try:
        for _ in range(max_runs):
            kernel.restore(snap)
            chosen: list[tuple[str, tuple[str, ...]]] = []

            def choose(service: str, chosen: list[tuple[str, tuple[str, ...]]] = chosen) -> int | None:
                if chosen:
                    return None
                key = (service, call_stack(kernel))
                if key in tried:
                    return None
                tried.add(key)
                chosen.append(key)
                return failure_values[service]

            injections.plan = {s: (set(), failure_values[s]) for s in services}
            injections.chooser = choose
            try:
                outcome, detail = _run_once(kernel, run)
            finally:
                injections.chooser = None
                injections.plan = dict(saved_plan)
            if not chosen:
                break
            point = StackFailure(chosen[0][0], chosen[0][1], outcome, detail)
            if check_leaks and outcome == "handled":
                for module in reversed(kernel.modules):
                    point.leaks += kernel.unload(module).leaks
                if point.leaks:
                    point.outcome = "leaked"
            points.append(point)
    finally:
        kernel.restore(snap)
    return points


def _run_once(kernel: Kernel, run: Callable[[Kernel], object]) -> tuple[str, str]:
    try:
        run(kernel)
    except DeviceError as error:  # the driver refused the operation: a clean error path
        return "handled", str(error)
    except BudgetExceeded as fault:
        return "hung", str(fault.args[0]).splitlines()[0]
    except GuestFault as fault:
        return "crashed", str(fault.args[0]).splitlines()[0]
    except SandboxError as error:
        return "error", str(error)
    return "handled", ""
