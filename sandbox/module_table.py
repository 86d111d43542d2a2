"""The module table: loaded modules by name, the module area, released init ranges.

One class owns the data the life cycle changes on load and unload, and
saves and restores it for snapshots (each module's mutable fields too).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .errors import SandboxError
from .machine import address_map as amap
from .machine.allocator import RangeAllocator
from .module import Module

# A module's fields that change while it is loaded (the rest is fixed at load).
_MUTABLE_FIELDS = ("state", "uses", "used_by", "init_released", "param_blocks")


class ModuleTable:
    """Loaded modules in load order, where they live, and their init ranges released after init."""

    def __init__(self) -> None:
        self._modules: dict[str, Module] = {}
        self.area = RangeAllocator(amap.MODULE_AREA_BASE, amap.MODULE_AREA_SIZE, amap.PAGE_SIZE)
        self._released_init: list[tuple[int, int, str]] = []

    # -- modules -----------------------------------------------------------------
    def get(self, name: str) -> Module:
        """The loaded module ``name``; SandboxError naming it if none is loaded."""
        try:
            return self._modules[name]
        except KeyError:
            raise SandboxError(f"no module named {name!r} is loaded") from None

    def find(self, name: str) -> Module | None:
        """The loaded module ``name``, or None."""
        return self._modules.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def add(self, module: Module) -> None:
        """Enter a module being loaded."""
        self._modules[module.name] = module

    def remove(self, name: str) -> None:
        """Forget a module (unloaded, or its load failed)."""
        self._modules.pop(name, None)

    # -- released init ranges --------------------------------------------------------
    def release_init(self, start: int, end: int, owner: str) -> None:
        """Remember that [start, end) was ``owner``'s init allocation, now unmapped."""
        self._released_init.append((start, end, owner))

    def forget_released(self, start: int) -> None:
        """The range starting at ``start`` is no longer reserved (its module unloaded)."""
        self._released_init = [r for r in self._released_init if r[0] != start]

    def released_init_owner(self, address: int) -> str | None:
        """The module whose released init range holds ``address``, if any."""
        for start, end, owner in self._released_init:
            if start <= address < end:
                return owner
        return None

    # -- snapshots -----------------------------------------------------------------
    def save(self) -> Any:
        """The table's state (and each module's mutable fields), for :meth:`restore`."""
        fields = {name: {f: copy.copy(getattr(m, f)) for f in _MUTABLE_FIELDS} for name, m in self._modules.items()}
        return dict(self._modules), fields, self.area.snapshot(), list(self._released_init)

    def restore(self, state: Any) -> None:
        """Put the table back as :meth:`save` found it."""
        modules, fields, area, released = state
        self._modules = dict(modules)
        for name, values in fields.items():
            module = self._modules[name]
            for key, value in values.items():
                if getattr(module, key) != value:  # most restores change no module: skip the copies
                    setattr(module, key, copy.copy(value))
        self.area.restore(area)
        self._released_init = list(released)
