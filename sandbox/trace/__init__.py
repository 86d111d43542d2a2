"""Structured events for everything a module does, and ways to show them."""

from .events import Event, Trace
from .text import format_event

__all__ = ["Event", "Trace", "format_event"]
