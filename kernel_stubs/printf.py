"""The C printf engine behind printk, snprintf, vsnprintf and sprintf.

i386 ILP32 semantics: ``int``, ``long``, ``size_t`` and pointers take one
4-byte slot, ``long long`` two. Parsed formats are cached, since drivers
print the same format again and again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

LEVEL_NAMES = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")

_SPEC = re.compile(rb"%(?P<flags>[-+ 0#]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?(?P<length>hh|h|ll|l|z|j|t|L|q)?(?P<conv>.)?", re.S)


class ArgSource(Protocol):
    """Where variadic argument slots come from."""

    def next_u32(self) -> int: ...

    def next_u64(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Spec:
    """One conversion specification."""

    flags: str
    width: int | None  # -1 means taken from an argument
    precision: int | None  # -1 means taken from an argument
    length: str
    conv: str


@lru_cache(maxsize=1024)
def parse_format(fmt: bytes) -> tuple[bytes | Spec, ...]:
    """Split a format into literal bytes and conversion specs."""
    pieces: list[bytes | Spec] = []
    cursor = 0
    for match in _SPEC.finditer(fmt):
        if match.start() > cursor:
            pieces.append(fmt[cursor : match.start()])
        cursor = match.end()
        conv = match["conv"]
        if conv is None:
            pieces.append(match.group(0))  # a lone '%...' at the end: print it as is
            continue
        width = match["width"]
        prec = match["prec"]
        pieces.append(Spec(
            match["flags"].decode(),
            None if width is None else -1 if width == b"*" else int(width),
            None if prec is None else -1 if prec == b"*" else int(prec or b"0"),
            (match["length"] or b"").decode(),
            conv.decode("latin-1"),
        ))
    if cursor < len(fmt):
        pieces.append(fmt[cursor:])
    return tuple(pieces)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _integer(spec: Spec, args: ArgSource) -> tuple[int, bool]:
    """The argument as a Python int per the length modifier, and whether signed."""
    signed = spec.conv in "di"
    value = args.next_u64() if spec.length in ("ll", "L", "q", "j") else args.next_u32()
    bits = {"hh": 8, "h": 16, "ll": 64, "L": 64, "q": 64, "j": 64}.get(spec.length, 32)
    if signed:
        return _signed(value, bits), True
    return value & ((1 << bits) - 1), False


def _pad(body: str, prefix: str, spec: Spec, width: int, zero_ok: bool) -> str:
    if "-" in spec.flags:
        return (prefix + body).ljust(width)
    if "0" in spec.flags and zero_ok:
        return prefix + body.rjust(width - len(prefix), "0")
    return (prefix + body).rjust(width)


def _format_integer(spec: Spec, value: int, signed: bool, width: int, precision: int | None) -> str:
    conv = spec.conv
    negative = value < 0
    magnitude = -value if negative else value
    if conv in "diu":
        digits = str(magnitude)
    elif conv == "o":
        digits = format(magnitude, "o")
    elif conv == "x":
        digits = format(magnitude, "x")
    else:
        digits = format(magnitude, "X")
    if precision is not None:
        digits = "" if precision == 0 and magnitude == 0 else digits.rjust(precision, "0")
    prefix = ""
    if signed:
        prefix = "-" if negative else "+" if "+" in spec.flags else " " if " " in spec.flags else ""
    if "#" in spec.flags:
        if conv == "o" and not digits.startswith("0"):
            digits = "0" + digits
        elif conv in "xX" and magnitude:
            prefix = "0" + conv
    return _pad(digits, prefix, spec, width, precision is None)


def format_printf(fmt: bytes, args: ArgSource, read_cstring: Callable[[int, int | None], bytes]) -> bytes:
    """Format like C printf on i386; ``read_cstring(addr, limit)`` reads guest strings."""
    out: list[bytes] = []
    for piece in parse_format(fmt):
        if isinstance(piece, bytes):
            out.append(piece)
            continue
        spec = piece
        if spec.conv == "%":
            out.append(b"%")
            continue
        width = spec.width or 0
        flags_minus = False
        if width == -1:
            width = _signed(args.next_u32(), 32)
            if width < 0:
                flags_minus, width = True, -width
        precision = spec.precision
        if precision == -1:
            precision = _signed(args.next_u32(), 32)
            if precision < 0:
                precision = None
        if flags_minus:
            spec = Spec(spec.flags + "-", spec.width, spec.precision, spec.length, spec.conv)
        conv = spec.conv
        if conv in "diuxXo":
            value, signed = _integer(spec, args)
            out.append(_format_integer(spec, value, signed, width, precision).encode())
        elif conv == "c":
            char = bytes([args.next_u32() & 0xFF])
            out.append(char.ljust(width) if "-" in spec.flags else char.rjust(width))
        elif conv == "s":
            address = args.next_u32()
            text = b"(null)" if address == 0 else read_cstring(address, precision)
            if precision is not None:
                text = text[:precision]
            out.append(text.ljust(width) if "-" in spec.flags else text.rjust(width))
        elif conv == "p":
            address = args.next_u32()
            text = "(null)" if address == 0 else f"0x{address:x}"
            out.append((text.ljust(width) if "-" in spec.flags else text.rjust(width)).encode())
        elif conv == "n":
            # Writing through %n is a classic exploit primitive; the kernel
            # refuses it too. Consume the pointer and print nothing.
            args.next_u32()
        else:
            # Unknown conversion: print the specification literally, consuming nothing.
            out.append(b"%" + conv.encode("latin-1"))
    return b"".join(out)


def split_kern_level(text: bytes) -> tuple[int | None, bool, bytes]:
    """Strip KERN_* prefixes (SOH + '0'..'7', 'c' for KERN_CONT, 'd' default).

    Returns (level or None, is_continuation, remaining text).
    """
    level: int | None = None
    cont = False
    while len(text) >= 2 and text[0] == 1:
        code = text[1:2]
        if b"0" <= code <= b"7":
            level = code[0] - ord("0")
        elif code == b"c":
            cont = True
        elif code != b"d":
            break
        text = text[2:]
    return level, cont, text


class ListArgs:
    """An ArgSource over a Python list of 32-bit slots (64-bit values take two, low first)."""

    def __init__(self, slots: list[int]) -> None:
        self._slots = list(slots)
        self._index = 0

    def next_u32(self) -> int:
        """Next slot."""
        value = self._slots[self._index] & 0xFFFFFFFF
        self._index += 1
        return value

    def next_u64(self) -> int:
        """Next two slots as one 64-bit value."""
        low = self.next_u32()
        return low | (self.next_u32() << 32)
