"""Module parameters: ``module_param(name, type, perm)`` given values at load.

The project's headers emit one ``__param`` entry per parameter (name pointer,
variable pointer, type code, permissions) and a ``parmtype=name:type`` line
in ``.modinfo``. Values are checked against the declared type and written
into the module's variable after relocation and before init runs, as Linux's
``parse_args`` does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LoadError
from .link.plan import LinkPlan

if TYPE_CHECKING:
    from .machine.memory import GuestMemory

# Type code (module.h enum sandbox_param_type) -> (name, byte size, min, max)
PARAM_TYPES: dict[int, tuple[str, int, int, int]] = {
    1: ("byte", 1, 0, 0xFF),
    2: ("short", 2, -(1 << 15), (1 << 15) - 1),
    3: ("ushort", 2, 0, 0xFFFF),
    4: ("int", 4, -(1 << 31), (1 << 31) - 1),
    5: ("uint", 4, 0, 0xFFFFFFFF),
    6: ("long", 4, -(1 << 31), (1 << 31) - 1),
    7: ("ulong", 4, 0, 0xFFFFFFFF),
    8: ("bool", 1, 0, 1),
    9: ("charp", 4, 0, 0),
}
_ENTRY = struct.Struct("<IIIH2x")
_TRUE = {"1", "y", "Y", "yes", "true", "on"}
_FALSE = {"0", "n", "N", "no", "false", "off"}


@dataclass(frozen=True, slots=True)
class ModuleParam:
    """A parameter the module declares."""

    name: str
    address: int
    type: str
    size: int
    low: int
    high: int


def declared_params(plan: LinkPlan) -> dict[str, ModuleParam]:
    """The parameters in the module's ``__param`` section (after relocation)."""
    section = plan.image.section_by_name("__param")
    if section is None or section.sh_size == 0:
        return {}
    base = plan.section_address(section)
    if base is None:
        return {}
    if section.sh_size % _ENTRY.size:
        raise plan.error("param", f"__param size {section.sh_size:#x} is not a multiple of {_ENTRY.size}")
    params: dict[str, ModuleParam] = {}
    for entry in range(base, base + section.sh_size, _ENTRY.size):
        name_address, variable, code, _perm = _ENTRY.unpack(plan.read(entry, _ENTRY.size))
        if code not in PARAM_TYPES:
            raise plan.error("param", f"__param entry at {entry:#x} has unknown type code {code}")
        type_name, size, low, high = PARAM_TYPES[code]
        name = plan.read_cstring(name_address)
        params[name] = ModuleParam(name, variable, type_name, size, low, high)
    return params


def _as_int(param: ModuleParam, value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if param.type == "bool":
        if text in _TRUE:
            return 1
        if text in _FALSE:
            return 0
        raise ValueError(f"{text!r} is not a boolean (use 1/0, y/n)")
    return int(text, 0)


def apply_params(plan: LinkPlan, memory: GuestMemory, values: dict[str, object]) -> list[int]:
    """Write ``values`` into the mapped module; returns heap blocks made for charp values."""
    declared = declared_params(plan)
    blocks: list[int] = []
    for name, value in values.items():
        param = declared.get(name)
        if param is None:
            known = ", ".join(sorted(declared)) or "none"
            raise LoadError(plan.image.name, "unknown-parameter", f"{plan.name} has no parameter {name!r} (declared: {known})")
        if param.type == "charp":
            data = (value if isinstance(value, bytes) else str(value).encode()) + b"\0"
            block = memory.alloc(len(data))
            memory.write(block, data)
            blocks.append(block)
            memory.write_raw(param.address, struct.pack("<I", block))
            continue
        try:
            number = _as_int(param, value)
        except ValueError as error:
            raise LoadError(plan.image.name, "bad-parameter", f"{name}={value!r}: not a valid {param.type}: {error}") from None
        if not param.low <= number <= param.high:
            raise LoadError(plan.image.name, "bad-parameter",
                            f"{name}={value!r} is out of range for {param.type} ({param.low}..{param.high})")
        memory.write_raw(param.address, (number & ((1 << (8 * param.size)) - 1)).to_bytes(param.size, "little"))
    return blocks
