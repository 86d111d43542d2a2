"""The Architecture record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Architecture:
    """Everything architecture-specific the engine uses, in one place.

    ``registers`` maps register names (as fault reports and debuggers show
    them) to Unicorn register ids; ``conventions`` maps calling-convention
    names to the objects that place argument slots; ``relocations`` maps
    relocation type numbers to recipes (psABI formula per row) and
    ``relocation_name`` names a type for errors; ``relocate_code`` is the
    machine code of the kernel-side relocation loop, if the architecture has
    one.
    """

    name: str
    word_size: int
    uc_arch: int
    uc_mode: int
    cs_arch: int
    cs_mode: int
    registers: Mapping[str, int]
    pc: int
    sp: int
    return_registers: tuple[int, ...]
    conventions: Mapping[str, Any]
    relocations: Mapping[int, Any]
    relocation_name: Callable[[int], str]
    relocate_code: bytes = b""
    default_convention: str = "cdecl"
    _disassembler: list[Any] = field(default_factory=list, compare=False, repr=False)

    @property
    def word_mask(self) -> int:
        """All ones in a machine word."""
        return (1 << (8 * self.word_size)) - 1

    def convention(self, name: str) -> Any:
        """The calling convention called ``name``; ValueError listing the known ones."""
        try:
            return self.conventions[name]
        except KeyError:
            raise ValueError(f"unknown calling convention {name!r} for {self.name}; "
                             f"known: {', '.join(sorted(self.conventions))}") from None

    def new_unicorn(self) -> Any:
        """A fresh Unicorn instance in this architecture's mode."""
        from unicorn import Uc

        return Uc(self.uc_arch, self.uc_mode)

    def disassembler(self) -> Any:
        """A capstone disassembler in this architecture's mode (one shared instance)."""
        if not self._disassembler:
            from capstone import Cs

            self._disassembler.append(Cs(self.cs_arch, self.cs_mode))
        return self._disassembler[0]
