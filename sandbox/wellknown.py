"""Finding a driver's entry points by well-known symbol names.

Hobby kernels often skip registration: the kernel looks for functions with
agreed names after loading a module. The table is configurable per Kernel;
each entry says what a name means. The default binds ``irqhandler`` to IRQ 7
and ``opendevice``/``readdevice``/``writedevice``/``ioctldevice``/
``closedevice`` to the operations of ``/dev/<module>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .devices.chardev import DeviceNode
from .machine.irq import IRQF_SHARED, IrqAction

if TYPE_CHECKING:
    from .kernel import Kernel
    from .module import Module


@dataclass(frozen=True, slots=True)
class IrqEntry:
    """The named function handles interrupts on ``line`` (called as handler(irq, NULL))."""

    line: int


@dataclass(frozen=True, slots=True)
class DeviceOperation:
    """The named function is one operation (open/read/write/ioctl/release) of /dev/<module>."""

    operation: str


WellKnownTable = dict[str, IrqEntry | DeviceOperation]

DEFAULT_WELL_KNOWN: WellKnownTable = {
    "irqhandler": IrqEntry(7),
    "opendevice": DeviceOperation("open"),
    "readdevice": DeviceOperation("read"),
    "writedevice": DeviceOperation("write"),
    "ioctldevice": DeviceOperation("ioctl"),
    "closedevice": DeviceOperation("release"),
}


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


def bind_well_known(kernel: Kernel, module: Module, table: WellKnownTable) -> list[str]:
    """Register the module's well-known functions; returns what was bound, for the trace."""
    bound: list[str] = []
    operations: dict[str, int] = {}
    for name, meaning in table.items():
        address = module.plan.find_symbol(name, globals_only=True)
        if address is None:
            continue
        if isinstance(meaning, IrqEntry):
            kernel.register_irq(IrqAction(meaning.line, address, 0, name, IRQF_SHARED, module.name))
            bound.append(f"{name} -> IRQ {meaning.line}")
        else:
            operations[meaning.operation] = address
            bound.append(f"{name} -> /dev/{module.name} {meaning.operation}")
    if operations:
        kernel.device_nodes.add(DeviceNode(f"/dev/{module.name}", module.name, 0, "plain", **operations))
    return bound
