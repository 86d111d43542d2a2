"""Binding a module's well-known names: the hobby-kernel way to find entry points.

Hobby kernels often skip registration: after loading a module the kernel
looks for functions with agreed names. The table is the profile's
(``EntryPolicy.well_known``; ``Kernel(well_known=...)`` replaces it, and
``k.load(path, well_known={...})`` changes entries for one load); each entry
says what a name means: :class:`IrqEntry` (a handler on a line) or
:class:`DeviceOperation` (one operation of ``/dev/<module>``).

The names are bindings *of each module*, never global exports: two drivers
that both define ``irqhandler`` load side by side, each on its own line
(``k.load("wk2.so", well_known={"irqhandler": IrqEntry(9)})``) and its own
node (``/dev/wellknown``, ``/dev/wk2``). What was bound is
``module.bindings`` and a ``note`` trace event. A well-known name defined
only as a local symbol (``static``, or hidden by ``-fvisibility=hidden`` in
a shared object) is not bound; the kernel says so (a note and a warning)
rather than binding nothing silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .devices.chardev import DeviceNode
from .machine.irq import IRQF_SHARED, IrqAction

if TYPE_CHECKING:
    from .devices.chardev import FileBackend
    from .kernel import Kernel
    from .module import Module


@dataclass(frozen=True, slots=True)
class IrqEntry:
    """The named function handles interrupts on ``line`` (called as handler(irq, NULL)); shared with others."""

    line: int


@dataclass(frozen=True, slots=True)
class DeviceOperation:
    """The named function is one operation (open/read/write/ioctl/release) of /dev/<module>."""

    operation: str


WellKnownTable = dict[str, IrqEntry | DeviceOperation]


_OPERATIONS = ("open", "read", "write", "ioctl", "release")


def checked_table(table: dict[str, object]) -> WellKnownTable:
    """``table`` as a WellKnownTable; ValueError naming the first entry that is not one.

    Checked when the Kernel is made, so a typo fails there and not at the
    first load (it used to be an AttributeError from inside the binder).
    """
    for name, meaning in table.items():
        if isinstance(meaning, IrqEntry) and isinstance(meaning.line, int) and meaning.line >= 0:
            continue
        if isinstance(meaning, DeviceOperation) and meaning.operation in _OPERATIONS:
            continue
        raise ValueError(
            f"well_known[{name!r}] = {meaning!r} is not an entry: use IrqEntry(line) or DeviceOperation(op) "
            f"with op one of {', '.join(_OPERATIONS)} (from sandbox.wellknown), e.g. {{{name!r}: IrqEntry(3)}}")
    return dict(table)  # type: ignore[arg-type]


def bind_well_known(kernel: Kernel, module: Module, table: Mapping[str, IrqEntry | DeviceOperation],
                    files: FileBackend | None = None) -> list[str]:
    """Bind the module's well-known functions; returns what was bound (also ``module.bindings``).

    ``files`` calls the operations of the device node (None: the profile's).
    """
    bound: list[str] = []
    operations: dict[str, int] = {}
    hidden: list[str] = []
    plan = module.plan
    for name, meaning in table.items():
        address = plan.find_symbol(name, globals_only=True)
        if address is None:
            if plan.find_symbol(name) is not None:
                hidden.append(name)
            continue
        if isinstance(meaning, IrqEntry):
            kernel.register_irq(IrqAction(meaning.line, address, 0, name, IRQF_SHARED, module.name))
            module.bindings[name] = f"IRQ {meaning.line}"
            bound.append(f"{name} -> IRQ {meaning.line}")
        else:
            operations[meaning.operation] = address
            module.bindings[name] = f"/dev/{module.name} {meaning.operation}"
            bound.append(f"{name} -> /dev/{module.name} {meaning.operation}")
    if operations:
        kernel.device_nodes.add(DeviceNode(f"/dev/{module.name}", module.name, 0, "plain", **operations,
                                           backend=files))
    if bound:
        kernel.trace.add("note", "well-known", module=module.name, fields={"module": module.name, "bound": bound})
    if hidden:
        text = (f"{module.name}: well-known {'names' if len(hidden) > 1 else 'name'} {', '.join(hidden)} "
                f"{'are' if len(hidden) > 1 else 'is'} defined but not visible (a local symbol: static, or "
                "-fvisibility=hidden); not bound. Give it default visibility: "
                "__attribute__((visibility(\"default\"))).")
        kernel.trace.add("note", "well-known-hidden", module=module.name,
                         fields={"module": module.name, "hidden": hidden})
        kernel.warn(text)
    return bound


__all__ = ["DeviceOperation", "IrqEntry", "WellKnownTable", "bind_well_known", "checked_table"]
