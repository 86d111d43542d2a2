"""Trace events: one small object per thing that happened.

Kinds: ``service`` (a kernel call: name, decoded args, result, caller),
``port`` (in/out: direction, port, width, value, device, register), ``mmio``
(read/write: direction, address, offset, width, value, device, register),
``irq`` (raise, pending, per-handler results), ``timer`` (a timer fired),
``load``/``init``/``exit``/``unload`` (module life), ``alloc``/``free`` (heap
blocks: size, address, site), ``fault`` (a GuestFault leaving a guest call),
``insn`` (opt-in instruction trace), ``leak``, ``warning``, ``note`` (anything
else worth a line).
Events are appended in order; ``depth`` is the call nesting (a service called
from a handler that a service started), ``context`` is task or irq. ``ts`` is
``time.perf_counter_ns()`` when the event began and ``dur`` (nanoseconds) how
long it lasted, for the events that span time (service calls, IRQ handler
runs, init and exit); the schema is in ``docs/trace-schema.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..symbolizer import Symbolizer


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
    ts: int = 0  # perf_counter_ns() at the start
    dur: int | None = None  # nanoseconds, for events that span time

    def to_dict(self, t0: int = 0) -> dict[str, Any]:
        """A JSON-ready dict (the JSON Lines schema); ``ts_ns`` counts from ``t0``."""
        out: dict[str, Any] = {
            "seq": self.seq, "kind": self.kind, "name": self.name,
            "context": self.context, "depth": self.depth, "ts_ns": self.ts - t0,
        }
        if self.module:
            out["module"] = self.module
        if self.caller:
            out["caller"] = self.caller
        if self.args:
            out["args"] = [a.decode("latin-1") if isinstance(a, bytes) else a for a in self.args]
        if self.result is not None:
            out["result"] = self.result
        if self.dur is not None:
            out["dur_ns"] = self.dur
        for key, value in self.fields.items():
            if key.startswith("_"):
                continue
            out[key] = value.decode("latin-1") if isinstance(value, bytes) else value
        return out


# Events a kernel keeps by default: the newest 200,000 (a traced service call
# is ~0.55 KB, so ~100 MiB at most; bench/bench_trace_memory.py measures it).
DEFAULT_TRACE_LIMIT = 200_000


class Trace:
    """The ordered list of events of one kernel, with simple queries.

    At most ``limit`` events are kept (None: no limit): when a quarter more
    have arrived, the oldest go, counted in :attr:`dropped` and handed to
    ``sink`` (if set) in order, so a long run can stream its trace to a file
    instead of keeping it. An event leaves once ``limit`` newer ones exist:
    with a tiny limit a service call still running then is streamed without
    its result. :meth:`flush` streams the rest. ``seq`` numbers count every
    event ever recorded; ``len(trace)`` is that count.
    """

    def __init__(self, limit: int | None = DEFAULT_TRACE_LIMIT, sink: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self.enabled = True
        self.t0 = perf_counter_ns()  # sinks show times relative to this
        self.dropped = 0  # events recorded, then let go (oldest first)
        self.sink = sink
        self.set_limit(limit)

    def set_limit(self, limit: int | None) -> None:
        """Keep at most ``limit`` events from now on (None: all)."""
        if limit is not None and limit < 0:
            raise ValueError(f"trace limit must be >= 0, not {limit}")
        self.limit = limit
        # Trim in batches, a quarter of the limit at a time: one slice
        # deletion per batch instead of a pop per event.
        self._high = sys.maxsize if limit is None else limit + max(limit // 4, 1)
        if len(self.events) > self._high:
            self._trim()

    def _trim(self) -> None:
        excess = len(self.events) - (self.limit or 0)
        old = self.events[:excess]
        del self.events[:excess]
        self.dropped += excess
        if self.sink is not None:
            for event in old:
                self.sink(event)

    def flush(self) -> None:
        """Hand every kept event to the sink and let them go (the end of a streamed run)."""
        if self.events:
            self.dropped += len(self.events)
            old, self.events = self.events, []
            if self.sink is not None:
                for event in old:
                    self.sink(event)

    def add(self, kind: str, name: str, **values: Any) -> Event:
        """Append an event (even when disabled callers may keep the object)."""
        events = self.events
        event = Event(self.dropped + len(events), kind, name, **values)
        # One perf_counter_ns() call (~50 ns) per event: cheap enough to keep
        # on by default. Set afterwards: passing it as a keyword next to
        # **values costs ~4x more (the kwargs dict gets rebuilt).
        event.ts = perf_counter_ns()
        if self.enabled:
            events.append(event)
            if len(events) > self._high:
                self._trim()
        return event

    def add_access(self, kind: str, name: str, context: str, depth: int, caller: int,
                   fields: dict[str, Any]) -> None:
        """:meth:`add` for the hot paths (port and MMIO accesses): positional, no kwargs."""
        if self.enabled:
            events = self.events
            # Stamped from the same clock as every other event (positionally:
            # this runs on every traced port/MMIO access).
            events.append(Event(self.dropped + len(events), kind, name, context, depth, "", caller, (), None, fields,
                                perf_counter_ns()))
            if len(events) > self._high:
                self._trim()

    def save(self) -> int:
        """How many events there have been, for :meth:`restore`."""
        return self.dropped + len(self.events)

    def restore(self, count: int) -> None:
        """Forget the events recorded after :meth:`save`."""
        keep = count - self.dropped
        if keep >= 0:
            del self.events[keep:]
        else:  # everything kept came after the snapshot
            self.events.clear()
            self.dropped = count

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return self.dropped + len(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def of_kind(self, *kinds: str) -> list[Event]:
        """Events whose kind is one of ``kinds``."""
        return [e for e in self.events if e.kind in kinds]

    def calls(self, name: str) -> list[Event]:
        """Service-call events for the service ``name``."""
        return [e for e in self.events if e.kind == "service" and e.name == name]

    def filter(
        self,
        kinds: Iterable[str] | None = None,
        modules: Iterable[str] | None = None,
        symbolizer: Symbolizer | None = None,
    ) -> list[Event]:
        """Events of the given kinds and/or belonging to the given modules.

        An event belongs to a module when it names it (load, init, exit,
        unload, IRQ handler) or when its caller address lies in the module's
        code at the time of the event (needs ``symbolizer``).
        """
        wanted_kinds = set(kinds) if kinds is not None else None
        wanted_modules = set(modules) if modules is not None else None
        out = []
        for event in self.events:
            if wanted_kinds is not None and event.kind not in wanted_kinds:
                continue
            if wanted_modules is not None and event_module(event, symbolizer) not in wanted_modules:
                continue
            out.append(event)
        return out

    def clear(self) -> None:
        """Forget every event (sequence numbers go on counting)."""
        self.dropped += len(self.events)
        self.events.clear()


def event_module(event: Event, symbolizer: Symbolizer | None) -> str:
    """The module an event belongs to: the one it names, else its caller's ("" if none)."""
    if event.module:
        return event.module
    if event.caller and symbolizer is not None:
        found = symbolizer.symbol_at(event.caller, event.seq)
        if found is not None:
            return found[0]
    return ""
