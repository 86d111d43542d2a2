"""Structured events for everything a module does, and ways to show them."""

from .events import Event, Trace, event_module
from .sinks import STYLES, write_trace
from .text import format_event

__all__ = ["STYLES", "Event", "Trace", "event_module", "format_event", "write_trace"]
