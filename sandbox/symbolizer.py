"""Addresses to names: module+symbol+offset, services, stacks, heap.

Modules register their sections and symbols when mapped and drop them when
unloaded. Lookups are a bisect over sorted starts, cheap enough to run for
every trace line. A module registers one placeholder per allocation that is
expanded into sections and symbols on the first lookup that lands in it:
most modules of a corpus load are never asked about, and building their
symbol lists would cost more than relocating them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class SymbolRange:
    """A named area (a module section or a whole service stub area)."""

    start: int
    end: int
    owner: str  # module name, "kernel", ...
    name: str  # section name or area name
    executable: bool
    # Sorted symbol starts and names within this area.
    sym_starts: list[int] = field(default_factory=list)
    sym_names: list[str] = field(default_factory=list)
    sym_ends: list[int] = field(default_factory=list)
    # Trace sequence numbers bounding the area's life, so a trace printed
    # after an unload still names what was at an address back then.
    born: int = 0
    died: int | None = None
    # For a placeholder covering a whole module allocation: builds its real
    # areas (one per section, with symbols) the first time anyone asks.
    expand: Callable[[], list[SymbolRange]] | None = None


class Symbolizer:
    """Answers "what is at this address" for traces and fault reports."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ranges: list[SymbolRange] = []
        # Live areas by owner: unloading one module must not scan the
        # kernel's thousands of areas (a corpus load unloads thousands).
        self._by_owner: dict[str, list[SymbolRange]] = {}
        self._dead: list[SymbolRange] = []
        self.stub_names: dict[int, str] = {}
        self.stub_base = 0
        self.stub_slot = 16

    def save(self) -> tuple[object, ...]:
        """What a snapshot keeps of the symbolizer (the areas themselves are not changed later)."""
        return list(self._ranges), list(self._dead), dict(self.stub_names)

    def restore(self, saved: tuple[object, ...]) -> None:
        """Go back to what :meth:`save` returned."""
        ranges, dead, stubs = saved
        if self._ranges == ranges and self._dead == dead and self.stub_names == stubs:
            return  # nothing added or dropped since (a fuzz case): the derived indexes still hold
        self._ranges = list(ranges)  # type: ignore[call-overload]
        self._starts = [r.start for r in self._ranges]
        self._by_owner = {}
        for area in self._ranges:
            self._by_owner.setdefault(area.owner, []).append(area)
        self._dead, self.stub_names = list(dead), dict(stubs)  # type: ignore[call-overload]

    def add_range(self, area: SymbolRange) -> None:
        """Register an area; its symbols must be sorted by start."""
        i = bisect.bisect_left(self._starts, area.start)
        self._starts.insert(i, area.start)
        self._ranges.insert(i, area)
        self._by_owner.setdefault(area.owner, []).append(area)

    def add_lazy(self, start: int, end: int, owner: str, expand: Callable[[], list[SymbolRange]], born: int = 0) -> None:
        """Register [start, end) of ``owner``; ``expand`` gives its real areas when first needed."""
        self.add_range(SymbolRange(start, end, owner, "", False, born=born, expand=expand))

    def _drop(self, area: SymbolRange) -> None:
        """Take one live area out of the sorted lists and the owner index."""
        i = self._index_of(area)
        del self._ranges[i]
        del self._starts[i]
        owned = self._by_owner[area.owner]
        owned.remove(area)
        if not owned:
            del self._by_owner[area.owner]

    def _index_of(self, area: SymbolRange) -> int:
        i = bisect.bisect_left(self._starts, area.start)
        while self._ranges[i] is not area:  # areas may share a start (an empty section)
            i += 1
        return i

    def _expand(self, area: SymbolRange) -> list[SymbolRange]:
        # The parts lie inside the placeholder, which no other area overlaps:
        # they replace it in one slice assignment (a module with 65k sections
        # must not cost 65k list inserts).
        i = self._index_of(area)
        assert area.expand is not None
        parts = sorted(area.expand(), key=lambda part: part.start)
        for part in parts:
            part.born = area.born
        self._ranges[i:i + 1] = parts
        self._starts[i:i + 1] = [part.start for part in parts]
        owned = self._by_owner[area.owner]
        owned.remove(area)
        owned.extend(parts)
        return parts

    def _retire(self, doomed: list[SymbolRange], when: int) -> None:
        if when:
            # Trace events up to ``when`` may still name these areas: keep
            # them (expanded) for that. With no events recorded there is
            # nothing to name, and a corpus load would pile up thousands.
            doomed = [part for area in doomed for part in (self._expand(area) if area.expand is not None else [area])]
            for area in doomed:
                area.died = when
            self._dead.extend(doomed)
        if len(doomed) <= 8:
            for area in doomed:
                self._drop(area)
            return
        # Many at once (a module's sections): one pass over the lists, not one per area.
        gone = {id(area) for area in doomed}
        kept = [area for area in self._ranges if id(area) not in gone]
        self._ranges = kept
        self._starts = [area.start for area in kept]
        for owner in {area.owner for area in doomed}:
            left = [area for area in self._by_owner.get(owner, ()) if id(area) not in gone]
            if left:
                self._by_owner[owner] = left
            else:
                self._by_owner.pop(owner, None)

    def remove_owner(self, owner: str, when: int = 0) -> None:
        """Retire every area of ``owner`` (a module being unloaded) at trace seq ``when``."""
        self._retire(list(self._by_owner.get(owner, ())), when)

    def remove_range(self, start: int, end: int, when: int = 0) -> None:
        """Retire the areas inside [start, end) (released init code)."""
        first = bisect.bisect_left(self._starts, start)
        last = bisect.bisect_left(self._starts, end)
        self._retire(self._ranges[first:last], when)

    def area_at(self, address: int, when: int | None = None) -> SymbolRange | None:
        """The area containing ``address`` now, or at trace seq ``when``."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._ranges[i].end and self._ranges[i].expand is not None:
            self._expand(self._ranges[i])
            i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._ranges[i].end and (when is None or self._ranges[i].born <= when):
            return self._ranges[i]
        if when is not None:
            for area in reversed(self._dead):
                if area.start <= address < area.end and area.born <= when < (area.died or 0):
                    return area
        return None

    def areas_of(self, owner: str) -> list[SymbolRange]:
        """The live areas (sections) of ``owner``, in address order."""
        for area in [r for r in self._by_owner.get(owner, ()) if r.expand is not None]:
            self._expand(area)
        return sorted(self._by_owner.get(owner, ()), key=lambda r: r.start)

    def symbol_at(self, address: int, when: int | None = None) -> tuple[str, str, int] | None:
        """(owner, symbol, offset) for an address, now or at trace seq ``when``."""
        service = self.service_at(address)
        if service is not None:
            return ("kernel", service, address - self._stub_start(address))
        area = self.area_at(address, when)
        if area is None:
            return None
        i = bisect.bisect_right(area.sym_starts, address) - 1
        if i >= 0 and (address < area.sym_ends[i] or area.executable):
            return (area.owner, area.sym_names[i], address - area.sym_starts[i])
        return (area.owner, area.name, address - area.start)

    def function_start(self, address: int) -> int | None:
        """Start of the function containing ``address`` (for disassembly)."""
        area = self.area_at(address)
        if area is None or not area.executable:
            return None
        i = bisect.bisect_right(area.sym_starts, address) - 1
        return area.sym_starts[i] if i >= 0 else area.start

    def is_code(self, address: int) -> bool:
        """True if ``address`` lies in executable module code."""
        area = self.area_at(address)
        return area is not None and area.executable

    def _stub_start(self, address: int) -> int:
        return address - (address - self.stub_base) % self.stub_slot

    def service_at(self, address: int) -> str | None:
        """Name of the kernel service whose stub holds ``address``."""
        if not self.stub_names:
            return None
        return self.stub_names.get(self._stub_start(address))

    def format(self, address: int) -> str:
        """``0xd0000012 hello:hello_init+0x12`` style text for an address."""
        found = self.symbol_at(address)
        if found is None:
            return f"{address:#010x}"
        owner, name, offset = found
        where = f"{owner}:{name}" if owner != "kernel" else name
        return f"{address:#010x} {where}+{offset:#x}" if offset else f"{address:#010x} {where}"

    def format_return(self, address: int) -> str:
        """Like :meth:`format` for a return address: named by the call before it.

        A call to a noreturn function may be the last instruction of its
        function, so the return address is already the next function's start.
        """
        found = self.symbol_at(address - 1)
        if found is None:
            return f"{address:#010x}"
        owner, name, offset = found
        where = f"{owner}:{name}" if owner != "kernel" else name
        return f"{address:#010x} {where}+{offset + 1:#x}"

    def short(self, address: int, when: int | None = None) -> str:
        """``hello:hello_init+0x12`` without the raw address (hex if unknown)."""
        found = self.symbol_at(address, when)
        if found is None:
            return f"{address:#x}"
        owner, name, offset = found
        where = f"{owner}:{name}" if owner != "kernel" else name
        return f"{where}+{offset:#x}" if offset else where
