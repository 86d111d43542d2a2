"""Typed argument values for calls into guest code.

A plain Python int is one 32-bit slot. A ``u64``/``s64`` parameter takes two
(on i386: two consecutive registers under regparm(3) when both are free,
else two stack slots, low half first), so it must be said: ``u64(value)``.
"""

from __future__ import annotations


class Wide(int):
    """An int passed as a 64-bit argument."""

    signed = False

    def __new__(cls, value: int) -> Wide:
        low, high = (-(1 << 63), (1 << 63) - 1) if cls.signed else (0, (1 << 64) - 1)
        if not low <= int(value) <= high:
            raise ValueError(f"{value} does not fit {cls.__name__}")
        return super().__new__(cls, value)

    def halves(self) -> tuple[int, int]:
        """(low, high) 32-bit words."""
        value = int(self) & ((1 << 64) - 1)
        return value & 0xFFFFFFFF, value >> 32


class u64(Wide):
    """An unsigned 64-bit argument."""


class s64(Wide):
    """A signed 64-bit argument."""

    signed = True


def parse_typed(text: str) -> int | str | Wide:
    """A CLI argument: ``12``, ``-3``, ``0x10`` (32-bit), ``u64:0x100000000``, ``s64:-5``; else a string."""
    kind, colon, number = text.partition(":")
    if colon and kind in ("u64", "s64"):
        try:
            return (u64 if kind == "u64" else s64)(int(number, 0))
        except ValueError:
            raise ValueError(f"{text!r}: not a {kind}") from None
    try:
        return int(text, 0)
    except ValueError:
        return text
