"""Traps for kernel symbols nothing exports (``Kernel(unresolved="trap")``).

Real Linux modules import far more than any profile implements. Rather than
refusing them, each missing name is bound to something that fails loudly and
by name: a name only ever called becomes a service stub raising a GuestFault
of kind ``unresolved-symbol``; a name some R_386_32 relocation uses (data, or
a function pointer stored in data) becomes a slot in a never-mapped area, so
any access faults and the fault report names the symbol and offset.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress
from typing import TYPE_CHECKING, Any

from .elf import constants as c
from .elf.image import ElfImage
from .errors import GuestFault, SandboxError
from .machine import address_map as amap
from .services.prototype import Param, Prototype

if TYPE_CHECKING:
    from .kernel import Kernel


def absolutely_referenced(image: ElfImage) -> set[str]:
    """Undefined names some R_386_32 relocation uses (data, or a function pointer stored in data)."""
    symtab = image.symtab
    if symtab is None:
        return set()
    # Column operations in C: the symbols of R_386_32 entries, then the undefined ones among them.
    absolute: set[int] = set()
    for table in image.reloc_tables:
        if table.target_is_alloc:
            absolute.update(compress(table.r_sym, map((c.R_386_32).__eq__, table.r_type)))
    return {symtab.names[i] for i in absolute if symtab.st_shndx[i] == c.SHN_UNDEF}


class Traps:
    """The trap stubs and data slots one kernel has handed out."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._slots: dict[str, int] = {}  # unresolved data symbol -> trap slot
        self._names: list[str] = []
        self.trapped: set[str] = set()  # every name ever bound to a trap

    def resolver(self, image: ElfImage) -> Callable[[str], int | None]:
        """A ``resolve`` that binds what nothing exports to a named trap."""
        kernel = self.kernel
        absolute: set[str] | None = None

        def resolve(name: str) -> int | None:
            nonlocal absolute
            address = kernel.resolve(name)
            if address is not None:
                return address
            if absolute is None:
                absolute = absolutely_referenced(image)
            self.trapped.add(name)
            if name in absolute:
                return self.data_trap(name)
            return self.function_trap(name)

        return resolve

    def function_trap(self, name: str) -> int:
        """A service stub that raises GuestFault naming ``name`` when called."""
        dispatcher = self.kernel.dispatcher
        bound = dispatcher.addresses.get(name)
        if bound is not None:
            return bound

        def trap(k: Kernel, *args: Any) -> None:
            raise GuestFault(
                "unresolved-symbol",
                f"call to unresolved kernel symbol {name} from {k.symbolizer.short(k.current_caller)} "
                f"(bound to a trap: the {k.profile.name} profile does not implement it)",
                pc=k.current_caller,
            )

        proto = Prototype(name, Param("int", "", "int", 4), (), False, f"{name}()")
        return dispatcher._bind(name, proto, trap)

    def data_trap(self, name: str) -> int:
        """An address in the never-mapped trap area standing for ``name``."""
        address = self._slots.get(name)
        if address is None:
            if len(self._names) >= amap.TRAP_SIZE // amap.TRAP_SLOT:
                raise SandboxError(f"trap area full: cannot bind {name}")
            address = amap.TRAP_BASE + len(self._names) * amap.TRAP_SLOT
            self._names.append(name)
            self._slots[name] = address
        return address

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        """(name, offset) of the unresolved data symbol whose trap slot holds ``address``."""
        if not amap.TRAP_BASE <= address < amap.TRAP_BASE + amap.TRAP_SIZE:
            return None
        index, offset = divmod(address - amap.TRAP_BASE, amap.TRAP_SLOT)
        if index >= len(self._names):
            return None
        return self._names[index], offset
