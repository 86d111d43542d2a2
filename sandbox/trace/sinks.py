"""Pick a sink by name and write (filtered) events to it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from ..symbolizer import Symbolizer
from .chrome import write_chrome
from .events import Event
from .jsonl import write_jsonl
from .text import format_event

STYLES = ("text", "jsonl", "chrome", "none")


def write_trace(events: Iterable[Event], style: str, out: TextIO, symbols: Symbolizer | None = None,
                t0: int = 0) -> None:
    """Write ``events`` in ``style`` (one of :data:`STYLES`)."""
    if style == "text":
        for event in events:
            out.write(format_event(event, symbols) + "\n")
    elif style == "jsonl":
        write_jsonl(events, out, symbols, t0)
    elif style == "chrome":
        write_chrome(events, out, symbols, t0)
    elif style != "none":
        raise ValueError(f"unknown trace style {style!r} (choose from {', '.join(STYLES)})")
