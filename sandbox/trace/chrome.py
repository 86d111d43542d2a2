"""The Chrome trace event sink: a JSON file Perfetto and chrome://tracing open.

Events that span time (service calls, IRQ handler runs, init, exit) become
complete slices (``ph: "X"`` with ``ts``/``dur`` in microseconds); the rest
are instant events (``ph: "i"``). Task context is thread 1, IRQ context
thread 2, so a handler's slices nest under it and never overlap task slices.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from ..symbolizer import Symbolizer
from .events import Event
from .jsonl import event_record

_PID = 1
_TIDS = {"task": 1, "irq": 2}
_SLICE_KINDS = ("service", "irq", "init", "exit")


def _slice_name(event: Event) -> str:
    if event.kind == "irq":
        return f"irq {event.fields['line']}: {event.fields['handler_name']}"
    if event.kind in ("init", "exit"):
        return f"{event.kind} {event.name}"
    return event.name


def chrome_events(events: Iterable[Event], symbols: Symbolizer | None = None, t0: int = 0) -> list[dict[str, Any]]:
    """The ``traceEvents`` list for ``events``."""
    out: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": _PID, "tid": 0, "args": {"name": "module-sandbox"}},
        *({"ph": "M", "name": "thread_name", "pid": _PID, "tid": tid, "args": {"name": name}}
          for name, tid in _TIDS.items()),
    ]
    for event in events:
        record = event_record(event, symbols, t0)
        common = {
            "cat": event.kind, "pid": _PID, "tid": _TIDS.get(event.context, 1),
            "ts": (event.ts - t0) / 1000.0, "args": record,
        }
        if event.kind in _SLICE_KINDS and event.dur is not None:
            out.append({"name": _slice_name(event), "ph": "X", "dur": event.dur / 1000.0, **common})
        else:
            out.append({"name": f"{event.kind} {event.name}", "ph": "i", "s": "t", **common})
    return out


def write_chrome(events: Iterable[Event], out: TextIO, symbols: Symbolizer | None = None, t0: int = 0) -> None:
    """Write a whole Chrome trace JSON document."""
    json.dump({"traceEvents": chrome_events(events, symbols, t0), "displayTimeUnit": "ns"}, out)
    out.write("\n")
