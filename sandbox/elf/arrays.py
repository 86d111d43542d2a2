"""Little-endian fixed-width arrays from file bytes, whatever the host's byte order."""

from __future__ import annotations

import re
import sys
from array import array

# The ELF structs are read as arrays of 8/16/32-bit items; check once that the
# host's typecodes have those widths (they do on every CPython platform we run).
assert array("B").itemsize == 1 and array("H").itemsize == 2
assert array("I").itemsize == 4 and array("i").itemsize == 4

_BIG_ENDIAN_HOST = sys.byteorder != "little"


def le_array(typecode: str, raw: bytes | bytearray) -> array:
    """``array(typecode)`` of the little-endian items in ``raw`` (its length a multiple of the item size)."""
    items = array(typecode)
    items.frombytes(raw)
    if _BIG_ENDIAN_HOST:
        items.byteswap()
    return items


def first_at_or_above(values: array, limit: int) -> int | None:
    """Index of the first item of ``values`` (an ``array('I')``) that is >= ``limit``, or None.

    This is the bounds check of every relocation table (symbol index against
    the symbol count, offset against the section size), so it avoids a Python
    step per item: decoded as UTF-32, each item becomes one character whose
    code point is its value, and a regular-expression character class finds
    the first one >= limit in C. That covers every limit up to U+10FFFF (a
    symbol count or section size up to 1 MiB); above it, ``max`` decides.
    """
    if not values or limit > 0xFFFFFFFF:
        return None
    if limit <= 0:
        return 0
    if limit > _LAST_CODE_POINT:
        if max(values) < limit:
            return None
        return next(i for i, v in enumerate(values) if v >= limit)
    raw = values.tobytes()
    if _BIG_ENDIAN_HOST:
        swapped = array("I", raw)
        swapped.byteswap()
        raw = swapped.tobytes()
    beyond = None
    try:
        text = raw.decode("utf-32-le", "surrogatepass")
    except UnicodeDecodeError as error:
        # The first item above U+10FFFF is certainly >= limit; an earlier one may be too.
        beyond = error.start // 4
        text = raw[: error.start].decode("utf-32-le", "surrogatepass")
    found = re.search(f"[{re.escape(chr(limit))}-{chr(_LAST_CODE_POINT)}]", text)
    return found.start() if found else beyond


_LAST_CODE_POINT = 0x10FFFF
