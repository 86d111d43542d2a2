"""How a module's entry points are found and called: mechanisms a profile composes.

The engine never decides which names are entry points; a profile's
:class:`EntryPolicy` lists finders, tried in order, for init and for exit:

- :class:`NamedEntry` — a function by symbol name (``init_module`` for
  Linux-style ``module_init``, ``driver_entry``, ``DriverEntry``), called with
  the profile's own arguments: a tuple, or a Python callable that builds them
  (in guest memory if need be) from the service context and the module;
- :class:`StructField` — a function pointer the module stores in one of its
  sections (Linux's ``struct module`` init/exit fields);
- :class:`ImageEntry` — the ELF header's ``e_entry`` of an executable or
  shared object linked with ``-e SYMBOL``;
- :class:`FromCallable` — any Python rule (an unload routine the init wrote
  into a driver object, say).

Init is looked for when the module is mapped, exit once init has run (so a
driver may hand its exit to the kernel during init). ``well_known`` is the
hobby-kernel table of names bound after init (:mod:`sandbox.wellknown`).

Each finder may name the entry's calling convention (``convention="stdcall"``
for an NT ``DriverEntry``; None: the profile's). How an entry's return value
is read is the entry's ``result``: ``"errno"``
(negative fails the load, as Linux), ``"status"`` (bit 31 set fails, as an
NTSTATUS), ``"ignore"`` (a void entry), or a callable returning an error
text or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import errno_text

if TYPE_CHECKING:
    from .devices.chardev import FileBackend
    from .kernel import Kernel
    from .module import Module
    from .services.context import ServiceContext
    from .wellknown import WellKnownTable

# A tuple, or a callable given the kernel's ServiceContext and the module.
Arguments = Sequence[Any] | Callable[["ServiceContext", "Module"], Sequence[Any]]
ResultRule = str | Callable[[int], "str | None"]


@dataclass(frozen=True, slots=True)
class EntryCall:
    """An entry point found in a module: where, what it is called, how it is called."""

    address: int
    name: str
    arguments: Arguments = ()
    result: ResultRule = "errno"
    convention: str | None = None  # None: the profile's

    def argument_values(self, kernel: Kernel, module: Module) -> Sequence[Any]:
        """The arguments to pass: the tuple, or what the profile's callable builds now
        (it gets the kernel's :class:`ServiceContext`, as services do, and the module)."""
        return self.arguments(kernel.service_context, module) if callable(self.arguments) else self.arguments

    def failure(self, result: int) -> str | None:
        """Why ``result`` (EAX, signed) means the entry failed, or None if it did not."""
        rule = self.result
        if callable(rule):
            return rule(result)
        if rule == "errno":
            return f"returned {errno_text(result)}" if result < 0 else None
        if rule == "status":
            return f"returned status {result & 0xFFFFFFFF:#010x}" if result & 0x80000000 else None
        return None


class EntryFinder(Protocol):
    """Finds one kind of entry point in a mapped module (None: not this kind)."""

    def find(self, kernel: Kernel, module: Module) -> EntryCall | None: ...


@dataclass(frozen=True, slots=True)
class NamedEntry:
    """The function called ``symbol`` (a local symbol too, as module_init's static function)."""

    symbol: str
    arguments: Arguments = ()
    result: ResultRule = "errno"
    convention: str | None = None

    def find(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """The symbol's address, if the module defines it."""
        address = module.plan.find_symbol(self.symbol)
        return None if address is None else EntryCall(address, self.symbol, self.arguments, self.result, self.convention)


@dataclass(frozen=True, slots=True)
class StructField:
    """A function pointer at ``offset`` in the module's section ``section`` (0: none)."""

    section: str
    offset: int
    name: str
    arguments: Arguments = ()
    result: ResultRule = "errno"
    convention: str | None = None

    def find(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """Read the pointer the module's relocations put there."""
        plan = module.plan
        section = plan.image.section_by_name(self.section)
        base = None if section is None else plan.section_address(section)
        if base is None or self.offset + 4 > section.sh_size:  # type: ignore[union-attr]
            return None
        value = int.from_bytes(plan.read(base + self.offset, 4), "little")
        return EntryCall(value, self.name, self.arguments, self.result, self.convention) if value else None


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """``e_entry`` of a linked image (``ld -e SYMBOL``), moved to where the image was mapped."""

    arguments: Arguments = ()
    result: ResultRule = "errno"
    convention: str | None = None

    def find(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """None for a relocatable object or an image linked with entry 0."""
        plan = module.plan
        entry = plan.image.e_entry
        delta = getattr(plan, "delta", None)
        if not entry or delta is None:
            return None
        return EntryCall((entry + delta) & 0xFFFFFFFF, "e_entry", self.arguments, self.result, self.convention)


@dataclass(frozen=True, slots=True)
class FromCallable:
    """Any rule: ``function(ctx, module)`` returns the entry's address or None (``ctx``: the ServiceContext)."""

    function: Callable[[ServiceContext, Module], int | None]
    name: str
    arguments: Arguments = ()
    result: ResultRule = "errno"
    convention: str | None = None

    def find(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """Ask the function."""
        address = self.function(kernel.service_context, module)
        return EntryCall(address, self.name, self.arguments, self.result, self.convention) if address else None


@dataclass(frozen=True, eq=False)
class EntryPolicy:
    """A profile's entry-point conventions: finders for init and exit, and the well-known names.

    ``device_files`` calls the operations of the ``/dev/<module>`` node the
    well-known device names make (None: the profile's ``files``).
    """

    init: tuple[EntryFinder, ...] = ()
    exit: tuple[EntryFinder, ...] = ()
    well_known: Mapping[str, Any] = field(default_factory=dict)
    device_files: FileBackend | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "init", tuple(self.init))
        object.__setattr__(self, "exit", tuple(self.exit))
        object.__setattr__(self, "well_known", dict(self.well_known))

    def find_init(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """The first init any finder reports."""
        return _first(self.init, kernel, module)

    def find_exit(self, kernel: Kernel, module: Module) -> EntryCall | None:
        """The first exit any finder reports."""
        return _first(self.exit, kernel, module)

    def consumed_names(self, table: WellKnownTable | None = None) -> set[str]:
        """Names these conventions consume: bindings of each module, never global exports."""
        names = {f.symbol for f in (*self.init, *self.exit) if isinstance(f, NamedEntry)}
        return names | set(self.well_known if table is None else table)


def _first(finders: tuple[EntryFinder, ...], kernel: Kernel, module: Module) -> EntryCall | None:
    for finder in finders:
        found = finder.find(kernel, module)
        if found is not None:
            return found
    return None


__all__ = ["EntryCall", "EntryFinder", "EntryPolicy", "FromCallable", "ImageEntry", "NamedEntry", "StructField"]
