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


def decode_name(raw: bytes) -> str:
    """One name's text (what every decoded table name goes through)."""
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
        texts = [decode_name(piece) for piece in raw]
        lengths = map(len, raw)
    starts = accumulate(map((1).__add__, lengths), initial=0)
    table = dict(zip(starts, texts))
    # The split also yields the empty text after the final NUL, at an offset
    # just past the table: that is not a string of the table.
    table.pop(len(strings), None)
    return table


class NamesTooLong(Exception):
    """Names at mid-string offsets add up to more text than any real table needs.

    ``position`` is the index of the offset that crossed the budget.
    """

    def __init__(self, position: int, budget: int) -> None:
        super().__init__(position, budget)
        self.position = position
        self.budget = budget


def suffix_budget(strings: bytes) -> int:
    """How many characters the names at mid-string offsets may total.

    A name at a string start is shared with every symbol of that name, but a
    name at a mid-string offset is a fresh copy: without a bound, 20,000
    offsets into one 1 MB string would decode 20 GB. Linkers share only
    suffixes of real names, far below this bound.
    """
    return 4 * len(strings) + (1 << 20)


def names_at(strings: bytes, offsets: Sequence[int]) -> tuple[list[str], int | None]:
    """The strings at ``offsets`` and the position of the first offset past the table (or None).

    ``strings`` must end in NUL (the caller checks it first), so every offset
    inside the table has a terminator. Raises NamesTooLong past ``suffix_budget``.
    """
    table = string_starts(strings)
    names: list[str | None] = list(map(table.get, offsets))
    limit = len(strings)
    budget = suffix_budget(strings)
    position = -1
    try:
        while True:
            # list.index finds the next miss in C; Python runs once per miss only.
            position = names.index(None, position + 1)
            offset = offsets[position]
            if offset >= limit:
                return [], position
            end = strings.index(b"\0", offset)
            budget -= end - offset
            if budget < 0:
                raise NamesTooLong(position, suffix_budget(strings))
            names[position] = decode_name(strings[offset:end])
    except ValueError:
        return names, None  # type: ignore[return-value]
