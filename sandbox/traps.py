"""Traps for kernel symbols nothing exports (``Kernel(unresolved="trap")``).

Real Linux modules import far more than any profile implements. Rather than
refusing them, each missing name is bound to something that fails loudly and
by name: a name only ever called becomes a service stub raising a GuestFault
of kind ``unresolved-symbol``; a name some R_386_32 relocation uses (data, or
a function pointer stored in data) becomes a slot in a never-mapped area, so
any access faults and the fault report names the symbol and offset.
"""

from __future__ import annotations

from itertools import compress
from typing import TYPE_CHECKING, Any

from .elf import constants as c
from .elf.image import ElfImage
from .errors import GuestFault, SandboxError
from .machine import address_map as amap
from .services.prototype import Param, Prototype

if TYPE_CHECKING:
    from .kernel import Kernel


_INT = Param("int", "", "int", 4)
_IS_ABSOLUTE = bytes(int(t == c.R_386_32) for t in range(256))


def absolutely_referenced(image: ElfImage) -> set[str]:
    """Undefined names some R_386_32 relocation uses (data, or a function pointer stored in data)."""
    symtab = image.symtab
    if symtab is None:
        return set()
    # Column operations in C: the symbols of R_386_32 entries, then the undefined ones among them.
    infos: set[int] = set()  # r_info of R_386_32 entries: one per symbol
    for table in image.reloc_tables:
        if table.target_is_alloc and c.R_386_32 in table.types:
            # The type column as 0/1 bytes (translate runs in C) selects the entries.
            infos.update(compress(table.r_info, table.r_type.tobytes().translate(_IS_ABSOLUTE)))
    return {symtab.name(info >> 8) for info in infos if symtab.st_shndx[info >> 8] == c.SHN_UNDEF}


class TrapResolver:
    """The linker's resolver for one module under ``unresolved="trap"``.

    Call it with one name, or give :meth:`many` all of a module's undefined
    names at once (what the linker does): exports are looked up in C and
    only the misses take the trap path.
    """

    def __init__(self, traps: Traps, image: ElfImage) -> None:
        self.traps = traps
        self.image = image
        self._absolute: set[str] | None = None

    @property
    def kernel(self) -> Kernel:
        """The kernel this resolver binds against (formats with their own lookups, as PE's DLL map, use it)."""
        return self.traps.kernel

    def __call__(self, name: str) -> int | None:
        return self.many([name])[0]

    def many(self, names: list[str]) -> list[int | None]:
        """Addresses for ``names``: exports, else a data trap (for names some R_386_32 uses) or a function trap."""
        found = self.traps.kernel.resolve_many(names)
        missing = [i for i, address in enumerate(found) if address is None]
        if missing:
            if self._absolute is None:
                self._absolute = absolutely_referenced(self.image)
            traps = self.traps
            for i in missing:
                name = names[i]
                traps.note_trapped(name)
                found[i] = traps.data_trap(name) if name in self._absolute else traps.function_trap(name)
        return found


class Traps:
    """The trap stubs and data slots one kernel has handed out."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._slots: dict[str, int] = {}  # unresolved data symbol -> trap slot
        self._names: list[str] = []
        self.trapped: set[str] = set()  # every name ever bound to a trap
        self._trapped_order: list[str] = []  # the same names in the order trapped (for rollback)

    def resolver(self, image: ElfImage) -> TrapResolver:
        """A ``resolve`` that binds what nothing exports to a named trap."""
        return TrapResolver(self, image)

    def function_trap(self, name: str) -> int:
        """A service stub that raises GuestFault naming ``name`` when called."""
        dispatcher = self.kernel.dispatcher
        bound = dispatcher.addresses.get(name)
        if bound is not None:
            return bound

        profile = self.kernel.profile.name

        def trap(ctx: Any, *args: Any) -> None:
            fault = GuestFault(
                "unresolved-symbol",
                f"call to unresolved kernel symbol {name} from {ctx.call_site()} "
                f"(bound to a trap: neither the {profile} profile nor a loaded module exports it, "
                f"and the profile's headers do not declare it)",
                pc=ctx.current_caller,
            )
            fault.service = name  # type: ignore[attr-defined]  # the message already names the caller
            raise fault

        return dispatcher._bind(name, Prototype(name, _INT, (), False, f"{name}()"), trap)

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

    def mark(self) -> tuple[int, int]:
        """A cheap bookmark for :meth:`rollback` (a load's undo): what has been handed out so far."""
        return len(self._names), len(self._trapped_order)

    def rollback(self, mark: tuple[int, int]) -> None:
        """Take back the traps handed out since :meth:`mark` (their stubs go with the dispatcher's)."""
        names, trapped = mark
        for name in self._names[names:]:
            self._slots.pop(name, None)
        del self._names[names:]
        for name in self._trapped_order[trapped:]:
            self.trapped.discard(name)
        del self._trapped_order[trapped:]

    def note_trapped(self, name: str) -> None:
        """Record that ``name`` was bound to a trap."""
        if name not in self.trapped:
            self.trapped.add(name)
            self._trapped_order.append(name)

    def save(self) -> tuple[dict[str, int], list[str], set[str]]:
        """The traps handed out so far, for :meth:`restore`."""
        return dict(self._slots), list(self._names), set(self.trapped)

    def restore(self, state: tuple[dict[str, int], list[str], set[str]]) -> None:
        """Forget the traps handed out after :meth:`save` (their stubs go with the dispatcher's)."""
        slots, names, trapped = state
        self._slots, self._names, self.trapped = dict(slots), list(names), set(trapped)
        self._trapped_order = list(trapped)

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        """(name, offset) of the unresolved data symbol whose trap slot holds ``address``."""
        if not amap.TRAP_BASE <= address < amap.TRAP_BASE + amap.TRAP_SIZE:
            return None
        index, offset = divmod(address - amap.TRAP_BASE, amap.TRAP_SLOT)
        if index >= len(self._names):
            return None
        return self._names[index], offset
