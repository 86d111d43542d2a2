"""Linux's number and boolean parsers (lib/kstrtox.c), as pure functions.

``kstrto*`` accept an optional sign (``-`` only for the signed kinds, ``+``
for all), a radix prefix when the base is 0 (``0x`` hex when a hex digit
follows, ``0`` octal), digits, and one trailing newline; anything else,
including leading blanks, is -EINVAL, and a value outside the type is
-ERANGE. ``simple_strto*`` stop at the first non-digit instead.
"""

from __future__ import annotations

EINVAL = 22
ERANGE = 34

_DIGITS = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyz")}

# kind -> (bits, signed), the types module parameters and kstrto* use.
KINDS: dict[str, tuple[int, bool]] = {
    "u8": (8, False), "s8": (8, True), "u16": (16, False), "s16": (16, True),
    "uint": (32, False), "int": (32, True), "ulong": (32, False), "long": (32, True),
    "ull": (64, False), "ll": (64, True),
}


def fixup_radix(text: bytes, base: int) -> tuple[int, int]:
    """(base, index of the first digit) as ``_parse_integer_fixup_radix``."""
    lower = text.lower()
    if base == 0:
        if lower.startswith(b"0"):
            base = 16 if lower[1:2] == b"x" and lower[2:3] and chr(lower[2]) in "0123456789abcdef" else 8
        else:
            base = 10
    if base == 16 and lower.startswith(b"0x"):
        return base, 2
    return base, 0


def parse_digits(text: bytes, start: int, base: int) -> tuple[int, int, bool]:
    """(value, characters consumed, overflowed 64 bits) as ``_parse_integer``."""
    value, index, overflow = 0, start, False
    while index < len(text):
        digit = _DIGITS.get(chr(text[index]).lower())
        if digit is None or digit >= base:
            break
        value = value * base + digit
        if value >> 64:
            overflow = True
        index += 1
    return value & ((1 << 64) - 1), index - start, overflow


def kstrtoull(text: bytes, base: int = 0) -> int:
    """The value, or a negative errno."""
    if text.startswith(b"+"):
        text = text[1:]
    base, index = fixup_radix(text, base)
    value, used, overflow = parse_digits(text, index, base)
    if overflow:
        return -ERANGE
    if used == 0:
        return -EINVAL
    rest = text[index + used:]
    if rest not in (b"", b"\n"):
        return -EINVAL
    return value


def kstrto(text: bytes, base: int, kind: str) -> tuple[int, int]:
    """(errno, value) for ``kstrto<kind>``: errno 0 on success."""
    bits, signed = KINDS[kind]
    if signed and text.startswith(b"-"):
        magnitude = kstrtoull(text[1:], base)
        if magnitude < 0:
            return magnitude, 0
        value = -magnitude
    else:
        value = kstrtoull(text, base)
        if value < 0:
            return value, 0
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        return -ERANGE, 0
    return 0, value


def kstrtobool(text: bytes | None) -> tuple[int, bool]:
    """(errno, value) for ``kstrtobool``: y/Y/t/T/1, n/N/f/F/0, on/off by their first letters."""
    if not text:
        return -EINVAL, False
    first = chr(text[0]).lower()
    if first in "yt1":
        return 0, True
    if first in "nf0":
        return 0, False
    if first == "o" and len(text) > 1:
        second = chr(text[1]).lower()
        if second == "n":
            return 0, True
        if second == "f":
            return 0, False
    return -EINVAL, False


def simple_strtoull(text: bytes, base: int) -> tuple[int, int]:
    """(value, characters consumed) for ``simple_strtoull``: stops at the first non-digit."""
    base, index = fixup_radix(text, base)
    value, used, _overflow = parse_digits(text, index, base)
    return value, index + used
