"""The JSON Lines sink: one JSON object per event (schema: docs/trace-schema.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from ..symbolizer import Symbolizer
from .events import Event, event_module

# Fields holding guest addresses, per kind, that get a ``<field>_symbol`` twin.
_ADDRESS_FIELDS = {"alloc": ("site",), "free": ("site",), "fault": ("pc",)}


def event_record(event: Event, symbols: Symbolizer | None, t0: int = 0) -> dict[str, Any]:
    """The JSON-ready dict of one event, addresses also shown as module:symbol+offset."""
    record = event.to_dict(t0)
    module = event_module(event, symbols)
    if module:
        record["module"] = module
    if symbols is not None:
        if event.caller:
            record["caller_symbol"] = symbols.short(event.caller, event.seq)
        for key in _ADDRESS_FIELDS.get(event.kind, ()):
            if key in event.fields:
                record[f"{key}_symbol"] = symbols.short(event.fields[key], event.seq)
    return record


def write_jsonl(events: Iterable[Event], out: TextIO, symbols: Symbolizer | None = None, t0: int = 0) -> None:
    """Write one JSON object per line."""
    for event in events:
        out.write(json.dumps(event_record(event, symbols, t0)) + "\n")
