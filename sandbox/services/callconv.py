"""Calling conventions: where argument slots live, in both directions.

Only the slot assignment differs between conventions; narrowing and display
are the prototype's job. ``cdecl`` passes everything on the stack.
``regparm(3)`` (Linux i386) passes the first three slots in EAX, EDX, ECX,
with GCC's rule that an 8-byte argument needs two free registers and, when it
does not fit, uses up the rest. Variadic functions always use the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..machine.registers import EAX, ECX, EDX


@dataclass(frozen=True, slots=True)
class CallingConvention:
    """Assigns argument slots to registers and the stack."""

    name: str
    registers: tuple[int, ...]

    def assign(self, widths: Sequence[int], variadic: bool = False) -> list[tuple[str, int]]:
        """For each parameter slot-width (1 or 2), where its first slot goes.

        Returns ``("reg", register_index)`` or ``("stack", stack_slot_index)``.
        """
        free = 0 if variadic else len(self.registers)
        used_regs = 0
        stack = 0
        places: list[tuple[str, int]] = []
        for width in widths:
            if width <= free:
                places.append(("reg", used_regs))
                used_regs += width
                free -= width
            else:
                free = 0
                places.append(("stack", stack))
                stack += width
        return places

    def stack_slots(self, widths: Sequence[int], variadic: bool = False) -> int:
        """How many 4-byte stack slots the fixed parameters use."""
        total = 0
        for (where, _), width in zip(self.assign(widths, variadic), widths):
            if where == "stack":
                total += width
        return total


CDECL = CallingConvention("cdecl", ())
REGPARM3 = CallingConvention("regparm3", (EAX, EDX, ECX))

CONVENTIONS = {c.name: c for c in (CDECL, REGPARM3)}
