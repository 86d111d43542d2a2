"""Per-kernel service state: the subsystem protocol and the table that owns it.

A *subsystem* is a plain Python class holding what a group of services
remembers between calls (the registered timers, the open character devices,
the heap's live blocks). Each kernel has at most one instance of each class,
made on first use by :meth:`ServiceContext.subsystem`, so two kernels never
share state and a snapshot can put it back.

Every method of the protocol is optional; a class needs none of them, and
need not inherit from :class:`Subsystem` (the table looks the methods up):

``boot(ctx)``
    Called once, right after the instance is made, with the service context.
``release_module(ctx, module) -> list[str]``
    Called when ``module`` unloads, after its exit ran: free what it still
    owns here and describe each item as one leak line (the unload report and
    the ``leak`` trace events show them).
``unbalanced(ctx) -> list[str]``
    Called after every top-level call and IRQ handler: what the guest left
    unbalanced (a lock still held); each line becomes a warning.
``save() -> object`` and ``restore(saved)``
    For snapshots: ``save`` returns a value that ``restore`` applies to the
    same instance later, possibly many times (so ``restore`` must not
    consume it). Without them, ``clone()`` (a cheap copy) is used, else
    ``copy.deepcopy``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import SandboxError

if TYPE_CHECKING:
    from ..module import Module
    from .context import ServiceContext

T = TypeVar("T")

__all__ = ["SavedSubsystems", "Subsystem", "SubsystemTable"]


class Subsystem:
    """Optional base class for per-kernel service state (see the module docstring).

    Subclasses override what they need; the defaults do nothing. A subclass
    must be constructible with no arguments.
    """

    def boot(self, ctx: ServiceContext) -> None:
        """Set up, once per kernel, when the instance is first asked for."""

    def release_module(self, ctx: ServiceContext, module: Module) -> list[str]:
        """Free what ``module`` left here at unload; one line per leaked item."""
        return []


class SavedSubsystems:
    """What :meth:`SubsystemTable.save` captured; opaque, reusable for many restores."""

    __slots__ = ("entries",)

    def __init__(self, entries: dict[type, tuple[str, Any, Any]]) -> None:
        # cls -> (how, payload, instance): "save" keeps the instance and its
        # memento; "copy" keeps a private copy to be copied again on restore.
        self.entries = entries


class SubsystemTable:
    """The subsystem instances of one kernel: made on first use, released at
    unload, saved and restored for snapshots.

    ``context`` is what the protocol's hooks receive (the kernel's service
    context); it is asked for lazily, so the table can be built first.
    """

    def __init__(self, context: Callable[[], ServiceContext]) -> None:
        self._context = context
        self._instances: dict[type, Any] = {}

    def get(self, cls: type[T]) -> T:
        """The instance of ``cls`` for this kernel, made (and booted) on first use."""
        state = self._instances.get(cls)
        if state is None:
            state = self._instances[cls] = cls()
            boot = getattr(state, "boot", None)
            if boot is not None:
                boot(self._context())
        return state

    def find(self, cls: type[T]) -> T | None:
        """The instance of ``cls`` if one was made, without making it."""
        return self._instances.get(cls)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._instances.values()))

    def values(self) -> list[Any]:
        """Every instance made so far, in the order they were first used."""
        return list(self._instances.values())

    def having(self, method: str) -> list[Any]:
        """The instances that define ``method`` (e.g. ``"device_node"``)."""
        return [state for state in self._instances.values() if hasattr(state, method)]

    def release_module(self, module: Module) -> list[str]:
        """Run every ``release_module`` hook for an unloading module; the leak lines.

        A hook that fails with a SandboxError (a corrupted block, a bug in a
        service) is reported as one line and the others still run, so the
        module is always forgotten and the kernel stays usable.
        """
        leaks: list[str] = []
        ctx = self._context()
        for state in self:
            release = getattr(state, "release_module", None)
            if release is None:
                continue
            try:
                leaks.extend(release(ctx, module))
            except SandboxError as error:
                leaks.append(f"{type(state).__name__} cleanup failed: {str(error).splitlines()[0]}")
        return leaks

    def balance_checks(self) -> list[Callable[..., list[str]]]:
        """The ``unbalanced`` checks of the instances that have one."""
        return [state.unbalanced for state in self._instances.values() if hasattr(state, "unbalanced")]

    def _shared(self) -> dict[int, Any]:
        """A deepcopy memo of what a copy must share, not copy: the kernel, its CPU and memory,
        and the device models (a bus core refers to them; the device set saves their state)."""
        ctx = self._context()
        kernel = ctx.kernel
        models = list(getattr(kernel, "devices", {}).values())
        models += [f for bus in models for f in getattr(bus, "functions", {}).values()]  # unplugged ones too
        parts = (ctx, kernel, ctx.cpu, ctx.memory, getattr(kernel, "device_host", None), *models)
        return {id(part): part for part in parts if part is not None}

    def save(self, shared: dict[int, Any] | None = None) -> SavedSubsystems:
        """Capture every instance (a snapshot part). ``shared``: a deepcopy
        memo of objects never to copy (by default the kernel, CPU and memory)."""
        if shared is None:
            shared = self._shared()
        entries: dict[type, tuple[str, Any, Any]] = {}
        for cls, state in self._instances.items():
            if hasattr(state, "save") and hasattr(state, "restore"):
                entries[cls] = ("save", state.save(), state)
            else:
                entries[cls] = ("copy", _copy(state, shared), None)
        return SavedSubsystems(entries)

    def restore(self, saved: SavedSubsystems, shared: dict[int, Any] | None = None) -> None:
        """Put every instance back as :meth:`save` found it; instances made
        since are dropped."""
        instances: dict[type, Any] = {}
        for cls, (how, payload, instance) in saved.entries.items():
            if how == "save":
                instance.restore(payload)
                instances[cls] = instance
            elif hasattr(payload, "clone"):
                instances[cls] = payload.clone()  # no deepcopy memo needed
            else:
                if shared is None:
                    shared = self._shared()
                instances[cls] = _copy(payload, shared)
        self._instances = instances


def _copy(state: Any, shared: dict[int, Any] | None) -> Any:
    """A subsystem's ``clone()`` (a copy sharing immutable parts) or a deep copy."""
    if hasattr(state, "clone"):
        return state.clone()
    return copy.deepcopy(state, dict(shared or {}))
