"""``sscanf``/``vsscanf`` as lib/vsprintf.c's vsscanf reads input.

Whitespace in the format matches any amount of input whitespace; other
characters must match exactly; conversions ``%d %i %u %x %X %o %s %c %n %%``
with a field width, ``*`` (assign nothing) and the length modifiers ``hh h
l ll L z t j``. Integer conversions skip leading whitespace; ``%i`` picks
the base from the prefix. The result is the number of assigned conversions
(``%n`` not counted), stopping at the first mismatch, as Linux's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service
from sandbox.services.varargs import VarArgs

from .kstrto import fixup_radix, parse_digits

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

_SPACE = b" \t\n\r\f\v"
_SIZES = {"hh": 1, "h": 2, "": 4, "l": 4, "z": 4, "t": 4, "j": 8, "ll": 8, "L": 8}


def scan(text: bytes, fmt: bytes) -> list[tuple[str, int, bytes | int]]:
    """The conversions ``fmt`` finds in ``text``: (kind, size, value) for each assignment, in order."""
    out: list[tuple[str, int, bytes | int]] = []
    i = j = 0
    while j < len(fmt):
        f = fmt[j]
        if f in _SPACE:
            while j < len(fmt) and fmt[j] in _SPACE:
                j += 1
            while i < len(text) and text[i] in _SPACE:
                i += 1
            continue
        if f != 0x25:  # '%'
            if i >= len(text) or text[i] != f:
                break
            i, j = i + 1, j + 1
            continue
        j += 1
        if j < len(fmt) and fmt[j] == 0x25:
            if i >= len(text) or text[i] != 0x25:
                break
            i, j = i + 1, j + 1
            continue
        suppress = j < len(fmt) and fmt[j] == 0x2A  # '*'
        j += suppress
        width = 0
        while j < len(fmt) and 0x30 <= fmt[j] <= 0x39:
            width, j = width * 10 + fmt[j] - 0x30, j + 1
        modifier = ""
        while j < len(fmt) and chr(fmt[j]) in "hlLztj":
            modifier, j = modifier + chr(fmt[j]), j + 1
        if j >= len(fmt):
            break
        kind, j = chr(fmt[j]), j + 1
        if kind == "n":
            if not suppress:
                out.append(("n", 4, i))
            continue
        if i >= len(text):
            break
        if kind == "c":
            count = width or 1
            if i + count > len(text):
                break
            value, i = text[i:i + count], i + count
            if not suppress:
                out.append(("c", count, value))
            continue
        while i < len(text) and text[i] in _SPACE:
            i += 1
        if kind == "s":
            start = i
            while i < len(text) and text[i] not in _SPACE and (not width or i - start < width):
                i += 1
            if i == start:
                break
            if not suppress:
                out.append(("s", 0, text[start:i]))
            continue
        if kind not in "diuxXo":
            break
        end = len(text) if not width else min(len(text), i + width)
        field = text[i:end]
        negative = field[:1] == b"-" and kind in "di"
        sign = 1 if field[:1] in (b"-", b"+") else 0
        base = {"d": 10, "u": 10, "i": 0, "o": 8}.get(kind, 16)
        base, skip = fixup_radix(field[sign:], base)
        value, used, _overflow = parse_digits(field, sign + skip, base)
        if not used:
            break
        i += sign + skip + used
        if not suppress:
            out.append((kind, _SIZES.get(modifier, 4), -value if negative else value))
    return out


def _store(k: Kernel, args: VarArgs, found: list[tuple[str, int, bytes | int]]) -> int:
    assigned = 0
    for kind, size, value in found:
        target = args.next_u32()
        if kind == "s":
            assert isinstance(value, bytes)
            k.memory.write(target, value + b"\0")
        elif kind == "c":
            assert isinstance(value, bytes)
            k.memory.write(target, value)
        else:
            assert isinstance(value, int)
            k.memory.write(target, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
        assigned += kind != "n"
    return assigned


@service("int sscanf(const char *buf, const char *fmt, ...)")
def sscanf(k: Kernel, buf: int, fmt: int, args: VarArgs) -> int:
    """Parse ``buf`` by ``fmt`` into the pointers that follow; the number of assignments."""
    found = scan(k.memory.read_cstring(buf, 1 << 16), k.memory.read_cstring(fmt, 4096))
    return _store(k, args, found)


@service("int vsscanf(const char *buf, const char *fmt, va_list args)")
def vsscanf(k: Kernel, buf: int, fmt: int, va: int) -> int:
    """sscanf with the pointers in a va_list."""
    found = scan(k.memory.read_cstring(buf, 1 << 16), k.memory.read_cstring(fmt, 4096))
    return _store(k, VarArgs(k.memory, va), found)
