"""A loaded module as Python sees it: its symbols, exports and entry points."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import SandboxError
from .link.plan import ExportEntry, LinkPlan

if TYPE_CHECKING:
    from .entrypoints import EntryCall
    from .kernel import Kernel


@dataclass(slots=True)
class UnloadReport:
    """What unloading a module found: its exit's result and what it leaked."""

    module: str
    leaks: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when the module released everything it held."""
        return not self.leaks


class Module:
    """A module mapped into a Kernel.

    ``symbols`` maps every defined symbol name to its address (globals win
    over locals of the same name); ``exports`` are what other modules may
    import; ``state`` is ``"coming"``, ``"live"``, ``"going"`` or ``"gone"``.
    """

    def __init__(self, kernel: Kernel, plan: LinkPlan, exports: list[ExportEntry]) -> None:
        self.kernel = kernel
        self.name = plan.name
        self.path = plan.image.name
        self.plan = plan
        self.exports: dict[str, int] = {e.name: e.address for e in exports}
        self.gpl_exports = {e.name for e in exports if e.gpl_only}
        self.imports: dict[str, int] = dict(plan.imports)
        self.modinfo: list[tuple[str, str]] = list(plan.image.modinfo)
        self.state = "coming"
        # Entry points, as the profile's EntryPolicy found them (lifecycle sets them).
        self.init_entry: EntryCall | None = None
        self.exit_entry: EntryCall | None = None
        # Well-known names bound to this module: name -> what it was bound to.
        self.bindings: dict[str, str] = {}
        # What a profile's entry-argument builders keep between init and exit.
        self.entry_state: dict[str, object] = {}
        self.uses: set[str] = set()  # modules this one imports from
        self.used_by: set[str] = set()
        self.init_released = False
        self.init_ran = False
        self.param_blocks: list[int] = []  # heap copies of charp parameter values

    @cached_property
    def symbols(self) -> dict[str, int]:
        """Every defined symbol name -> address (globals win over locals); built on first use."""
        return self.plan.defined_symbols()

    @cached_property
    def global_symbols(self) -> set[str]:
        """Names of the defined GLOBAL or WEAK symbols; built on first use."""
        return self.plan.global_symbol_names()

    @property
    def init_address(self) -> int | None:
        """Address of the init entry point, if the profile's conventions found one."""
        return self.init_entry.address if self.init_entry else None

    @property
    def exit_address(self) -> int | None:
        """Address of the exit entry point (known once init ran), if any."""
        return self.exit_entry.address if self.exit_entry else None

    @property
    def size(self) -> int:
        """Bytes of module area the module occupies (core, plus init until released)."""
        sizes = self.plan.layout.sizes
        return sizes.get("core", 0) + (0 if self.init_released else sizes.get("init", 0))

    @property
    def base(self) -> int:
        """Start of the module's core allocation."""
        return self.plan.bases.get("core", 0)

    @property
    def params(self) -> dict[str, object]:
        """Current value of each declared parameter, read from guest memory."""
        from .params import current_values

        return current_values(self.kernel, self.plan)

    def info(self, key: str) -> list[str]:
        """All ``.modinfo`` values for ``key`` (e.g. ``"license"``)."""
        return [v for k, v in self.modinfo if k == key]

    def address_of(self, name: str) -> int:
        """Address of symbol ``name``; SandboxError naming the module if absent."""
        try:
            return self.symbols[name]
        except KeyError:
            raise SandboxError(f"module {self.name} has no symbol {name!r}") from None

    def call(self, name: str, *args: Any, budget: float | None = None, returns: str = "int",
             convention: str | None = None) -> int:
        """Call function ``name`` of this module, in the profile's convention unless ``convention`` names another.

        Arguments may be ints, ``Int64`` (a 64-bit argument), ``ByValue`` (a
        structure passed by value), ``bytes``/``str``
        (copied into guest memory, NUL-terminated, for the duration of the
        call) or ``bytearray`` (copied in, and copied back out after the call,
        for output buffers). ``returns`` is ``"int"`` (signed 32-bit, the
        default), ``"uint"``, ``"u64"``/``"s64"`` (EDX:EAX) or ``"ptr"``.
        ``convention``: ``"cdecl"``, ``"regparm1"``..``"regparm3"``,
        ``"stdcall"``, ``"fastcall"`` (see ``sandbox.services.callconv``); a
        function that pops another amount of stack than that convention
        raises ConventionMismatch.
        """
        if self.state == "gone":
            raise SandboxError(f"module {self.name} is unloaded")
        return self.kernel.call(self.address_of(name), *args, budget=budget, returns=returns, convention=convention)

    def __repr__(self) -> str:
        return f"<Module {self.name} {self.state} at {self.base:#x}>"
