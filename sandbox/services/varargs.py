"""Reading variadic arguments (and ``va_list``) from guest memory.

On i386 both a variadic call's extra arguments and a ``va_list`` are a plain
run of 4-byte stack slots, so one reader over an address serves both.
"""

from __future__ import annotations

from ..machine.memory import GuestMemory


class VarArgs:
    """Sequential reader of argument slots starting at ``address``."""

    __slots__ = ("_memory", "address")

    def __init__(self, memory: GuestMemory, address: int) -> None:
        self._memory = memory
        self.address = address

    def next_u32(self) -> int:
        """The next 4-byte slot, unsigned."""
        value = self._memory.read_u32(self.address)
        self.address += 4
        return value

    def next_u64(self) -> int:
        """The next 8-byte argument (two slots, low word first), unsigned."""
        low = self.next_u32()
        return low | (self.next_u32() << 32)
