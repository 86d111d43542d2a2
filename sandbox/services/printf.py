"""The C printf engine behind printk, snprintf, vsnprintf and sprintf (and any
profile's own printf-like services: see ``ServiceContext.format``).

i386 ILP32 semantics: ``int``, ``long``, ``size_t``, ``ptrdiff_t`` and
pointers take one 4-byte argument slot; ``long long`` (``ll``, ``L``, ``q``)
and ``intmax_t`` (``j``) take two, low word first.

A format is parsed once by one compiled regex into literal and conversion
pieces, and the result is cached by the format bytes, since drivers print
the same format again and again.

Deliberate differences from glibc (each matches the Linux kernel's
``vsnprintf``, or is the safe choice for a sandbox):

* ``%n`` never writes: its pointer argument is consumed (so later arguments
  stay in step) and nothing is printed.
* An unknown conversion (``%y``, ``%5$d``, ``%f``...) is printed literally,
  flags, width and all, and consumes no argument.
* A format ending inside a conversion (``"abc%"``, ``"%-5"``) prints the
  unfinished conversion literally.
* ``%p`` prints ``0x`` + lowercase hex, or ``(null)`` for NULL (glibc prints
  ``(nil)``); it honours width and ``-`` but ignores ``0``, ``+``, space,
  ``#`` and precision. Letters and digits right after ``%p`` are Linux
  pointer extensions (``%pS``, ``%pK``, ``%px``...) and are consumed, the
  pointer itself being printed plainly.
* ``%s`` of NULL prints ``(null)`` cut to the precision (glibc prints nothing
  when the precision is below 6). ``%.0s`` does not read the string at all.
* ``%lc`` and ``%ls`` are plain ``%c`` and ``%s``: the kernel has no wide
  characters.
* The ``0`` flag never pads ``%c``, ``%s`` or ``%p`` with zeros.
* Widths are clamped to ``FIELD_WIDTH_MAX`` and precisions to
  ``PRECISION_MAX`` (Linux's limits), so a guest cannot make the host build
  a gigabyte string with ``%*d``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Protocol

__all__ = [
    "FIELD_WIDTH_MAX",
    "LEVEL_NAMES",
    "PRECISION_MAX",
    "ArgSource",
    "ListArgs",
    "Spec",
    "format_printf",
    "parse_format",
    "split_kern_level",
]

LEVEL_NAMES = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")

FIELD_WIDTH_MAX = (1 << 23) - 1
PRECISION_MAX = (1 << 15) - 1

_SPEC_RE = re.compile(
    rb"%(?P<flags>[-+ 0#]*)(?P<width>\*|[0-9]+)?(?:\.(?P<prec>\*|[0-9]*))?"
    rb"(?P<length>hh|h|ll|l|L|q|j|z|Z|t)?(?P<conv>p[0-9A-Za-z]*|.)?",
    re.S,
)

# Conversion kinds.
_INT, _CHAR, _STR, _PTR, _N, _LITERAL = range(6)

_LENGTH_BITS = {"": 32, "hh": 8, "h": 16, "l": 32, "z": 32, "Z": 32, "t": 32, "ll": 64, "L": 64, "q": 64, "j": 64}
_INT_FORMAT = {"d": "d", "i": "d", "u": "d", "o": "o", "x": "x", "X": "X"}


class ArgSource(Protocol):
    """Where variadic argument slots come from (a call's stack or a va_list)."""

    def next_u32(self) -> int:
        """The next 4-byte argument slot, as unsigned."""
        ...

    def next_u64(self) -> int:
        """The next 8-byte argument (two slots, low word first), as unsigned."""
        ...


class Spec:
    """One parsed conversion specification, with its flags resolved.

    ``width`` / ``precision`` are ``None`` when absent; ``width_star`` /
    ``prec_star`` say they come from an argument instead. Flag precedence is
    resolved here (``zero`` is off under ``-``, ``space`` off under ``+``);
    a negative ``*`` width and a precision disabling ``0`` on integers are
    applied at format time. ``ext`` holds Linux ``%p`` extension letters.
    """

    __slots__ = (
        "alt", "bits", "conv", "ext", "fmt", "kind", "left", "length", "plus", "prec_star",
        "precision", "signed", "space", "text", "width", "width_star", "zero",
    )

    def __init__(self, text: bytes, flags: bytes, width: bytes | None, prec: bytes | None, length: bytes | None, conv: bytes) -> None:
        self.text = text
        self.left = b"-" in flags
        self.zero = b"0" in flags and not self.left
        self.plus = b"+" in flags
        self.space = b" " in flags and not self.plus
        self.alt = b"#" in flags
        self.width_star = width == b"*"
        self.width = None if width is None or self.width_star else min(int(width), FIELD_WIDTH_MAX)
        self.prec_star = prec == b"*"
        self.precision = None if prec is None or self.prec_star else min(int(prec or b"0"), PRECISION_MAX)
        self.length = (length or b"").decode()
        first = conv[:1].decode("latin-1")
        self.conv = first
        self.ext = conv[1:].decode("latin-1")  # Linux %p extension letters
        self.bits = _LENGTH_BITS[self.length]
        self.signed = first in "di"
        self.fmt = _INT_FORMAT.get(first, "")
        if self.fmt:
            self.kind = _INT
        elif first == "c":
            self.kind = _CHAR
        elif first == "s":
            self.kind = _STR
        elif first == "p":
            self.kind = _PTR
        elif first == "n":
            self.kind = _N
        else:
            self.kind = _LITERAL

    def __repr__(self) -> str:
        return f"Spec({self.text!r})"


@lru_cache(maxsize=2048)
def parse_format(fmt: bytes) -> tuple[bytes | Spec, ...]:
    """Split a format into literal byte runs and conversion specs.

    ``%%``, unknown conversions and an unfinished conversion at the end are
    folded into the literal runs, and adjacent literals are merged, so a
    format without arguments parses to at most one piece.
    """
    pieces: list[bytes | Spec] = []
    literal = bytearray()
    cursor = 0
    for match in _SPEC_RE.finditer(fmt):
        literal += fmt[cursor : match.start()]
        cursor = match.end()
        conv = match["conv"]
        if conv == b"%":
            literal += b"%"
            continue
        if conv is None:
            literal += match[0]
            continue
        spec = Spec(match[0], match["flags"], match["width"], match["prec"], match["length"], conv)
        if spec.kind == _LITERAL:
            literal += match[0]
            continue
        if literal:
            pieces.append(bytes(literal))
            literal.clear()
        pieces.append(spec)
    literal += fmt[cursor:]
    if literal:
        pieces.append(bytes(literal))
    return tuple(pieces)


def _integer(spec: Spec, args: ArgSource, width: int, left: bool, precision: int | None) -> bytes:
    bits = spec.bits
    value = args.next_u64() if bits == 64 else args.next_u32()
    if bits != 64:
        value &= (1 << bits) - 1
    prefix = ""
    if spec.signed:
        if value >> (bits - 1):
            value = (1 << bits) - value  # magnitude of the negative value
            prefix = "-"
        elif spec.plus:
            prefix = "+"
        elif spec.space:
            prefix = " "
    digits = format(value, spec.fmt)
    if precision is not None:
        digits = "" if precision == 0 and value == 0 else digits.rjust(precision, "0")
    if spec.alt:
        if spec.fmt == "o":
            if not digits.startswith("0"):
                digits = "0" + digits
        elif spec.fmt in "xX" and value:
            prefix = "0" + spec.fmt
    if width <= len(prefix) + len(digits):
        text = prefix + digits
    elif left:
        text = (prefix + digits).ljust(width)
    elif spec.zero and precision is None:
        text = prefix + digits.rjust(width - len(prefix), "0")
    else:
        text = (prefix + digits).rjust(width)
    return text.encode("ascii")


def format_printf(
    fmt: bytes,
    args: ArgSource,
    read_cstring: Callable[[int, int | None], bytes],
    pointer: Callable[[str, int, int | None], bytes | None] | None = None,
) -> bytes:
    """Format like C printf on i386 (ILP32: int/long/size_t/pointers 4 bytes, long long 8).

    ``args`` supplies the variadic argument slots in order. ``read_cstring(address,
    max_len_or_None)`` returns a guest string for ``%s`` (at most ``max_len``
    bytes when a precision is given); errors it raises propagate. Returns the
    formatted bytes, without a terminating NUL. See the module docstring for
    the deliberate differences from glibc. ``pointer(ext, address, width)``,
    when given, formats a ``%p`` with Linux extension letters ``ext``
    (``S``, ``M``, ``I4``...); returning None falls back to plain hex.
    """
    pieces = parse_format(fmt)
    if len(pieces) == 1 and type(pieces[0]) is bytes:
        return pieces[0]
    out: list[bytes] = []
    append = out.append
    for spec in pieces:
        if type(spec) is bytes:
            append(spec)
            continue
        assert isinstance(spec, Spec)
        left = spec.left
        if spec.width_star:
            width = args.next_u32()
            if width >> 31:
                width = (1 << 32) - width
                left = True
            width = min(width, FIELD_WIDTH_MAX)
        else:
            width = spec.width or 0
        precision = spec.precision
        if spec.prec_star:
            precision = args.next_u32()
            precision = None if precision >> 31 else min(precision, PRECISION_MAX)
        kind = spec.kind
        if kind == _INT:
            append(_integer(spec, args, width, left, precision))
            continue
        if kind == _CHAR:
            text = bytes((args.next_u32() & 0xFF,))
        elif kind == _STR:
            address = args.next_u32()
            if precision == 0:
                text = b""
            elif address == 0:
                text = b"(null)" if precision is None else b"(null)"[:precision]
            else:
                text = read_cstring(address, precision)
                if precision is not None:
                    text = text[:precision]
        elif kind == _PTR:
            address = args.next_u32()
            shown = None
            if pointer is not None and spec.ext:
                shown = pointer(spec.ext, address, width if (spec.width_star or spec.width) else None)
            if shown is not None:
                text = shown
            else:
                text = b"(null)" if address == 0 else b"0x%x" % address
        else:  # _N: refuse to write through the pointer, keep the arguments in step
            args.next_u32()
            continue
        if width > len(text):
            text = text.ljust(width) if left else text.rjust(width)
        append(text)
    return b"".join(out)


def split_kern_level(text: bytes) -> tuple[int | None, bool, bytes]:
    """Strip leading KERN_* prefixes from a formatted printk message.

    Each prefix is SOH (``\\x01``) followed by ``'0'``..``'7'`` (a level),
    ``'c'`` (KERN_CONT) or ``'d'`` (KERN_DEFAULT). As in Linux, the first
    level wins. Returns ``(level or None, is_continuation, rest)``; an SOH
    followed by anything else is left in ``rest``.
    """
    level: int | None = None
    cont = False
    index = 0
    while text[index : index + 1] == b"\x01" and len(text) > index + 1:
        code = text[index + 1]
        if 0x30 <= code <= 0x37:
            if level is None:
                level = code - 0x30
        elif code == 0x63:  # 'c'
            cont = True
        elif code != 0x64:  # 'd'
            break
        index += 2
    return level, cont, text[index:]


class ListArgs:
    """An ArgSource over a list of 32-bit slots; a 64-bit argument takes two, low first.

    Running off the end raises IndexError (a C callee would read garbage).
    """

    __slots__ = ("_index", "_slots")

    def __init__(self, slots: Iterable[int]) -> None:
        self._slots = [slot & 0xFFFFFFFF for slot in slots]
        self._index = 0

    def next_u32(self) -> int:
        """The next slot, as unsigned."""
        if self._index >= len(self._slots):
            raise IndexError(f"printf wanted argument slot {self._index} but only {len(self._slots)} were given")
        value = self._slots[self._index]
        self._index += 1
        return value

    def next_u64(self) -> int:
        """The next two slots as one unsigned 64-bit value (low slot first)."""
        low = self.next_u32()
        return low | (self.next_u32() << 32)

    @property
    def consumed(self) -> int:
        """How many slots have been read."""
        return self._index
