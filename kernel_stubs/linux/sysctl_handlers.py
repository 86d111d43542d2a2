"""The sysctl ``proc_handler``s modules put in their ``ctl_table``s (kernel/sysctl.c, Linux 6.1).

Each handler gets ``(table, write, buffer, lenp, ppos)`` with a kernel
buffer (6.1 copies from/to user space around it) and follows
``__do_proc_dointvec``: reading prints the ``maxlen / sizeof(int)`` values
tab-separated with a final newline and only from position 0; writing
parses whitespace-separated numbers (strict mode: a write not at position
0 is ignored), -EINVAL for a malformed one or (minmax) one outside
``extra1``..``extra2``, and both advance ``*ppos`` by what was used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.services import service

from .kstrto import simple_strtoull
from .layout import Fields

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EINVAL = 22
PAGE_SIZE = 4096
INT_MAX, UINT_MAX = 0x7FFFFFFF, 0xFFFFFFFF
TMPBUFLEN = 22
SPACES = b" \t\n\v\f\r"

# conv(neg, value, write, stored) -> (error, value to store or to print as (neg, magnitude))
Conv = Callable[["Kernel", Fields, bool, int, int], tuple[int, int]]


def _s32(value: int) -> int:
    value &= UINT_MAX
    return value - (1 << 32) if value >> 31 else value


def _parse_long(text: bytes) -> tuple[int, int, bool, int] | None:
    """proc_get_long(): (error, magnitude, negative, bytes used); None at the end of the text.

    At most TMPBUFLEN-1 characters are looked at (a number that long is refused); the number
    (base from its prefix, as strtoul) must be followed by whitespace or the end."""
    if not text:
        return None
    window = text[:TMPBUFLEN - 1]
    neg = window[:1] == b"-" and len(text) > 1
    start = 1 if neg else 0
    if not window[start:start + 1].isdigit():
        return -EINVAL, 0, neg, start
    value, used = simple_strtoull(window[start:], 0)
    end = start + used
    if value > 0xFFFFFFFF or end == TMPBUFLEN - 1:
        return -EINVAL, 0, neg, end
    if end < len(text) and text[end] not in SPACES:
        return -EINVAL, 0, neg, end
    return 0, value, neg, end


def _skip_spaces(text: bytes, pos: int) -> int:
    while pos < len(text) and text[pos] in SPACES:
        pos += 1
    return pos


def _do_vec(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int, conv: Conv, width: int) -> int:
    t = Fields(k.memory, "ctl_table", table)
    data, maxlen = t["data"], t["maxlen"]
    length = k.memory.read_u32(lenp)
    pos = int.from_bytes(k.memory.read(ppos, 8), "little", signed=True)
    if not data or not maxlen or not length or (pos and not write):
        k.memory.write_u32(lenp, 0)
        return 0
    count = maxlen // width
    err = 0
    if write:
        if pos:  # sysctl_writes_strict: a write not at the start is ignored
            k.memory.write(ppos, (pos + length).to_bytes(8, "little", signed=True))
            return 0
        left = min(length, PAGE_SIZE - 1)
        text = k.memory.read(buffer, left)
        at, first = 0, True
        for i in range(count):
            at = _skip_spaces(text, at)
            if at >= len(text):
                break
            parsed = _parse_long(text[at:])
            if parsed is None:
                break
            err, value, neg, used = parsed
            if err:
                break
            at += used
            err, stored = conv(k, t, True, -value if neg else value, 0)
            if err:
                break
            k.memory.write(data + width * i, (stored & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))
            first = False
        if not err:
            at = _skip_spaces(text, at)
        if first:
            return err or -EINVAL
        used = min(at, left)
        k.memory.write_u32(lenp, used)
        k.memory.write(ppos, (pos + used).to_bytes(8, "little", signed=True))
        return err
    out = bytearray()
    for i in range(count):
        raw = int.from_bytes(k.memory.read(data + width * i, width), "little")
        err, shown = conv(k, t, False, 0, raw)
        if err:
            break
        if i:
            out += b"\t"
        out += str(shown).encode()
    if count and not err:
        out += b"\n"
    out = out[:length]
    k.memory.write(buffer, bytes(out))
    k.memory.write_u32(lenp, len(out))
    k.memory.write(ppos, (pos + len(out)).to_bytes(8, "little", signed=True))
    return err


def _int(k: Kernel, t: Fields, write: bool, value: int, stored: int) -> tuple[int, int]:
    if write:
        return (0, value) if -(1 << 31) <= value <= INT_MAX else (-EINVAL, 0)
    return 0, _s32(stored)


def _bound(k: Kernel, pointer: int, signed: bool, width: int = 4) -> int | None:
    if not pointer:
        return None
    raw = int.from_bytes(k.memory.read(pointer, width), "little")
    return _s32(raw) if signed else raw


def _int_minmax(k: Kernel, t: Fields, write: bool, value: int, stored: int) -> tuple[int, int]:
    err, result = _int(k, t, write, value, stored)
    if write and not err:
        low, high = _bound(k, t["extra1"], True), _bound(k, t["extra2"], True)
        if (low is not None and result < low) or (high is not None and result > high):
            return -EINVAL, 0
    return err, result


def _uint(k: Kernel, t: Fields, write: bool, value: int, stored: int) -> tuple[int, int]:
    if write:
        return (0, value) if 0 <= value <= UINT_MAX else (-EINVAL, 0)
    return 0, stored


def _uint_minmax(k: Kernel, t: Fields, write: bool, value: int, stored: int) -> tuple[int, int]:
    err, result = _uint(k, t, write, value, stored)
    if write and not err:
        low, high = _bound(k, t["extra1"], False), _bound(k, t["extra2"], False)
        if (low is not None and result < low) or (high is not None and result > high):
            return -EINVAL, 0
    return err, result


def _jiffies(k: Kernel, t: Fields, write: bool, value: int, stored: int) -> tuple[int, int]:
    hz = k.clock.hz
    if write:
        if value > INT_MAX // hz or value < -(INT_MAX // hz):
            return -EINVAL, 0
        return 0, value * hz
    return 0, _s32(stored) // hz if _s32(stored) >= 0 else -((-_s32(stored)) // hz)


@service("int proc_dointvec(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_dointvec(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """Read or write the table's ints."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _int, 4)


@service("int proc_dointvec_minmax(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_dointvec_minmax(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """proc_dointvec() with writes bounded by *extra1 .. *extra2 (-EINVAL outside)."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _int_minmax, 4)


@service("int proc_douintvec(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_douintvec(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """Read or write the table's unsigned ints."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _uint, 4)


@service("int proc_douintvec_minmax(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_douintvec_minmax(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """proc_douintvec() bounded by *extra1 .. *extra2."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _uint_minmax, 4)


@service("int proc_doulongvec_minmax(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_doulongvec_minmax(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """The table's unsigned longs, bounded by extra1 .. extra2 (unsigned long pointers)."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _uint_minmax, 4)


@service("int proc_dointvec_jiffies(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_dointvec_jiffies(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """Ints stored in jiffies, shown and written in seconds."""
    return _do_vec(k, table, write, buffer, lenp, ppos, _jiffies, 4)


@service("int proc_dostring(struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)")
def proc_dostring(k: Kernel, table: int, write: int, buffer: int, lenp: int, ppos: int) -> int:
    """A string sysctl: read from *ppos with a final newline; write (strict) continues at *ppos up to maxlen-1."""
    t = Fields(k.memory, "ctl_table", table)
    data, maxlen = t["data"], t["maxlen"]
    length = k.memory.read_u32(lenp)
    pos = int.from_bytes(k.memory.read(ppos, 8), "little", signed=True)
    if not data or not maxlen or not length:
        k.memory.write_u32(lenp, 0)
        return 0
    current = k.memory.read_cstring(data, maxlen)
    if write:
        start = min(len(current), maxlen - 1)
        if pos > start:
            return 0
        at = pos
        k.memory.write(ppos, (pos + length).to_bytes(8, "little", signed=True))
        text = k.memory.read(buffer, length)
        out = bytearray()
        for c in text:
            if c in (0, 0x0A) or at + len(out) >= maxlen - 1:
                break
            out.append(c)
        k.memory.write(data + at, bytes(out) + b"\0")
        return 0
    value = current[:maxlen]
    if pos > len(value):
        k.memory.write_u32(lenp, 0)
        return 0
    piece = value[pos:pos + length]
    if len(piece) < length:
        piece += b"\n"
    k.memory.write(buffer, piece)
    k.memory.write_u32(lenp, len(piece))
    k.memory.write(ppos, (pos + len(piece)).to_bytes(8, "little", signed=True))
    return 0
