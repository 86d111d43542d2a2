"""Little-endian fixed-width arrays from file bytes, whatever the host's byte order."""

from __future__ import annotations

import sys
from array import array

# The ELF structs are read as arrays of 8/16/32-bit items; check once that the
# host's typecodes have those widths (they do on every CPython platform we run).
assert array("B").itemsize == 1 and array("H").itemsize == 2
assert array("I").itemsize == 4 and array("i").itemsize == 4

BIG_ENDIAN_HOST = sys.byteorder != "little"


def le_array(typecode: str, raw: bytes | bytearray) -> array:
    """``array(typecode)`` of the little-endian items in ``raw`` (its length a multiple of the item size)."""
    items = array(typecode)
    items.frombytes(raw)
    if BIG_ENDIAN_HOST:
        items.byteswap()
    return items


def first_at_or_above(values: array, limit: int) -> int | None:
    """Index of the first item of ``values`` (an ``array('I')``) that is >= ``limit``, or None.

    This is the bounds check of every relocation table (symbol index against
    the symbol count, offset against the section size). ``max`` over an array
    runs in C, so the common case (everything in bounds) costs no Python step
    per item; the index is only searched for when something is out of bounds.
    (A regular-expression scan over the items decoded as UTF-32 was tried: the
    per-limit pattern compile cost milliseconds per table, 80% of a corpus load.)
    """
    if not values or max(values) < limit:
        return None
    return next(i for i, v in enumerate(values) if v >= limit)
