"""i386 relocation recipes: one row per type, the psABI formula beside it.

Notation (i386 psABI): S symbol value, A addend, P place (address of the
field), G offset of the symbol's GOT entry from the GOT base, GOT address of
the GOT, L PLT entry of the symbol (we bind calls directly, so L = S).
Adding a type is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..elf import constants as c


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to compute and store one relocation type."""

    name: str
    width: int  # bytes written at P (0: nothing)
    signed: bool  # whether the field holds a signed value (overflow check)
    uses_got: bool  # needs a GOT entry for the symbol
    compute: Callable[[int, int, int, int, int], int]  # (S, A, P, G, GOT) -> value


def _row(name: str, width: int, signed: bool, got: bool, f: Callable[[int, int, int, int, int], int]) -> Recipe:
    return Recipe(name, width, signed, got, f)


RECIPES: dict[int, Recipe] = {
    c.R_386_NONE: _row("R_386_NONE", 0, False, False, lambda S, A, P, G, GOT: 0),
    c.R_386_32: _row("R_386_32", 4, False, False, lambda S, A, P, G, GOT: S + A),  # S + A
    c.R_386_PC32: _row("R_386_PC32", 4, True, False, lambda S, A, P, G, GOT: S + A - P),  # S + A - P
    c.R_386_PLT32: _row("R_386_PLT32", 4, True, False, lambda S, A, P, G, GOT: S + A - P),  # L + A - P
    c.R_386_16: _row("R_386_16", 2, False, False, lambda S, A, P, G, GOT: S + A),  # S + A
    c.R_386_PC16: _row("R_386_PC16", 2, True, False, lambda S, A, P, G, GOT: S + A - P),  # S + A - P
    c.R_386_8: _row("R_386_8", 1, False, False, lambda S, A, P, G, GOT: S + A),  # S + A
    c.R_386_PC8: _row("R_386_PC8", 1, True, False, lambda S, A, P, G, GOT: S + A - P),  # S + A - P
    c.R_386_GOT32: _row("R_386_GOT32", 4, False, True, lambda S, A, P, G, GOT: G + A),  # G + A
    c.R_386_GOT32X: _row("R_386_GOT32X", 4, False, True, lambda S, A, P, G, GOT: G + A),  # G + A
    c.R_386_GOTOFF: _row("R_386_GOTOFF", 4, False, False, lambda S, A, P, G, GOT: S + A - GOT),  # S + A - GOT
    c.R_386_GOTPC: _row("R_386_GOTPC", 4, True, False, lambda S, A, P, G, GOT: GOT + A - P),  # GOT + A - P
}

# GOT32/GOT32X in an instruction without a base register (non-PIC code that
# loads through the GOT) need the absolute entry address: G + GOT + A.
GOT_TYPES = frozenset({c.R_386_GOT32, c.R_386_GOT32X})


def fits(value: int, width: int, signed: bool) -> bool:
    """Whether ``value`` can be stored in a ``width``-byte field."""
    if width == 4:
        return True  # 32-bit arithmetic wraps, as in the hardware
    bits = width * 8
    if signed:
        return -(1 << (bits - 1)) <= value < (1 << (bits - 1))
    # Unsigned fields also accept negative values that fit as signed, as GNU ld does.
    return -(1 << (bits - 1)) <= value < (1 << bits)


_TYPE_NAMES = {value: name for name, value in vars(c).items() if name.startswith("R_386_") and isinstance(value, int)}


def reloc_type_name(rtype: int) -> str:
    """``R_386_PC32`` for 2; ``type 99`` for a number with no name."""
    name = _TYPE_NAMES.get(rtype)
    return f"{name} ({rtype})" if name else f"type {rtype}"
