"""The export table: every name modules may import, with its address and owner.

The kernel's services, variables and raw-code exports are owned by
``"kernel"``; a module's ``__ksymtab`` entries (or a shared object's dynamic
exports) are owned by the module while it is live. A kernel export marked as
a *stand-in* (``@service(..., provided_by="hid")``) gives way to a module
that exports the same name, and comes back when that module unloads.
"""

from __future__ import annotations

from typing import Any

from .errors import LoadError

KERNEL = "kernel"


class ExportTable:
    """Owns the name -> (address, owner) table; saves and restores itself for snapshots."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, str]] = {}
        self._stand_ins: dict[str, tuple[int, str]] = {}  # kernel exports a module may replace

    # -- queries ---------------------------------------------------------------
    def address(self, name: str) -> int | None:
        """Address of ``name``, or None if nothing exports it."""
        entry = self._entries.get(name)
        return entry[0] if entry else None

    def owner(self, name: str) -> str | None:
        """``"kernel"``, a module name, or None."""
        entry = self._entries.get(name)
        return entry[1] if entry else None

    def addresses(self, names: list[str]) -> list[int | None]:
        """:meth:`address` of many names; the lookups run in C (the load path's hot loop)."""
        return [entry[0] if entry is not None else None for entry in map(self._entries.get, names)]

    def owners(self, names: list[str]) -> set[str]:
        """The owners of those of ``names`` that are exported."""
        return {entry[1] for entry in map(self._entries.get, names) if entry is not None}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, owner: str | None = None) -> list[str]:
        """Exported names (of one owner if given), in the order they were added."""
        return [n for n, (_, o) in self._entries.items() if owner is None or o == owner]

    # -- the kernel's own exports ---------------------------------------------------
    def add_kernel(self, name: str, address: int, *, stand_in: bool = False) -> None:
        """Export a kernel service, variable or code; ``stand_in``: a module may replace it."""
        self._entries[name] = (address, KERNEL)
        if stand_in:
            self._stand_ins[name] = (address, KERNEL)

    def replace_kernel(self, name: str, address: int) -> None:
        """Point a kernel export at a new address (a user's own implementation)."""
        if self.owner(name) not in (KERNEL, None):
            raise ValueError(f"{name} is exported by module {self.owner(name)}, not by the kernel")
        self._entries[name] = (address, KERNEL)

    # -- modules' exports ---------------------------------------------------------
    def check_publishable(self, path: str, module: str, names: list[str]) -> None:
        """LoadError ``duplicate-export`` if another owner already exports one of ``names``."""
        for name in names:
            owner = self.owner(name)
            if owner is not None and not (owner == KERNEL and name in self._stand_ins):
                raise LoadError(path, "duplicate-export", f"{module} exports {name}, which {owner} already exports")

    def publish(self, module: str, exports: dict[str, int]) -> None:
        """Make a live module's exports importable (replacing stand-ins)."""
        for name, address in exports.items():
            self._entries[name] = (address, module)

    def withdraw(self, module: str, names: list[str] | dict[str, int]) -> None:
        """Remove an unloading module's exports; stand-ins it replaced come back."""
        for name in names:
            if self._entries.get(name, (0, ""))[1] == module:
                del self._entries[name]
                if name in self._stand_ins:
                    self._entries[name] = self._stand_ins[name]

    # -- snapshots ---------------------------------------------------------------
    def save(self) -> Any:
        """The table's state, for :meth:`restore`."""
        return dict(self._entries), dict(self._stand_ins)

    def restore(self, state: Any) -> None:
        """Put the table back as :meth:`save` found it."""
        entries, stand_ins = state
        self._entries, self._stand_ins = dict(entries), dict(stand_ins)
