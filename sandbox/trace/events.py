"""Trace events: one small object per thing that happened.

Kinds: ``service`` (a kernel call: name, decoded args, result, caller),
``port`` (in/out: direction, port, width, value, device, register), ``mmio``
(read/write: direction, address, offset, width, value, device, register),
``irq`` (raise, pending, per-handler results), ``timer`` (a timer fired), ``load``/``init``/``exit``/``unload`` (module life),
``alloc``/``free``, ``fault``, ``note`` (anything else worth a line).
Events are appended in order; ``depth`` is the call nesting (a service called
from a handler that a service started), ``context`` is task or irq.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    """One traced occurrence. ``fields`` holds kind-specific data."""

    seq: int
    kind: str
    name: str
    context: str = "task"
    depth: int = 0
    module: str = ""
    caller: int = 0
    args: tuple[Any, ...] = ()
    result: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSON Lines schema)."""
        out: dict[str, Any] = {
            "seq": self.seq, "kind": self.kind, "name": self.name,
            "context": self.context, "depth": self.depth,
        }
        if self.module:
            out["module"] = self.module
        if self.caller:
            out["caller"] = self.caller
        if self.args:
            out["args"] = [a.decode("latin-1") if isinstance(a, bytes) else a for a in self.args]
        if self.result is not None:
            out["result"] = self.result
        for key, value in self.fields.items():
            if key.startswith("_"):
                continue
            out[key] = value.decode("latin-1") if isinstance(value, bytes) else value
        return out


class Trace:
    """The ordered list of events of one kernel, with simple queries."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.enabled = True

    def add(self, kind: str, name: str, **values: Any) -> Event:
        """Append an event (even when disabled callers may keep the object)."""
        event = Event(len(self.events), kind, name, **values)
        if self.enabled:
            self.events.append(event)
        return event

    def add_access(self, kind: str, name: str, context: str, depth: int, caller: int,
                   fields: dict[str, Any]) -> None:
        """:meth:`add` for the hot paths (port and MMIO accesses): positional, no kwargs."""
        if self.enabled:
            events = self.events
            events.append(Event(len(events), kind, name, context, depth, "", caller, (), None, fields))

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def of_kind(self, *kinds: str) -> list[Event]:
        """Events whose kind is one of ``kinds``."""
        return [e for e in self.events if e.kind in kinds]

    def calls(self, name: str) -> list[Event]:
        """Service-call events for the service ``name``."""
        return [e for e in self.events if e.kind == "service" and e.name == name]

    def clear(self) -> None:
        """Forget every event."""
        self.events.clear()
