"""String tables: every name of a table decoded in one pass.

A symbol table names thousands of strings; looking each one up with
``bytes.index`` and decoding it alone costs a Python call per symbol. Instead
the table is split once at its NULs into a ``{offset: str}`` map and every
name becomes one dict lookup (``map(dict.get, offsets)`` runs in C). Only an
offset into the middle of a string (linkers share suffixes: ``"foo"`` can be
the tail of ``"my_foo"``) takes the slow path.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate


def _decode(raw: bytes) -> str:
    # UTF-8 is what compilers emit for non-ASCII identifiers; "replace" keeps a
    # garbage table from raising while still showing where it is wrong.
    return raw.decode("utf-8", "replace")


def string_starts(strings: bytes) -> dict[int, str]:
    """``{offset: string}`` for every string that starts right after a NUL (or at 0)."""
    texts: list[str]
    if strings.isascii():
        # One decode for the whole table: ASCII keeps byte and character offsets equal.
        texts = strings.decode("ascii").split("\0")
        lengths = map(len, texts)
    else:
        raw = strings.split(b"\0")
        texts = [_decode(piece) for piece in raw]
        lengths = map(len, raw)
    starts = accumulate(map((1).__add__, lengths), initial=0)
    return dict(zip(starts, texts))


def names_at(strings: bytes, offsets: Sequence[int]) -> tuple[list[str], int | None]:
    """The strings at ``offsets`` and the position of the first offset past the table (or None).

    ``strings`` must end in NUL (the caller checks it first), so every offset
    inside the table has a terminator.
    """
    table = string_starts(strings)
    names: list[str | None] = list(map(table.get, offsets))
    if None not in names:
        return names, None  # type: ignore[return-value]
    limit = len(strings)
    for position, name in enumerate(names):
        if name is None:
            offset = offsets[position]
            if offset >= limit:
                return [], position
            names[position] = _decode(strings[offset : strings.index(b"\0", offset)])
    return names, None  # type: ignore[return-value]
