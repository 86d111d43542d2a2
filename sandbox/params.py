"""Module parameters: values given at load, written before init runs.

Two layouts of the ``__param`` section are read:

- Linux's ``struct kernel_param`` (20 bytes on i386: name, mod, ops, perm,
  level, flags, arg). Values are applied as Linux's ``parse_args`` does: each
  ``name=value`` goes to ``ops->set(value, kp)`` in the guest (the profile's
  ``param_set_*`` or the module's own callback), and a non-zero result fails
  the load with Linux's message (```60x' invalid for parameter `timeout'``).
  An unknown name is warned about and ignored, as for ``insmod``.
- The project's own headers' entry (16 bytes: name, variable, type code,
  permissions), checked and written from Python.

Values come as insmod gives them, one string (``"timeout=60 io=0x300,0x320"``)
or a dict of typed Python values (ints, bools, strings, bytes, lists for
arrays; ``None`` for a bare ``name``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import GuestFault, LoadError, errno_text
from .link.plan import LinkPlan

if TYPE_CHECKING:
    from .kernel import Kernel
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
# struct kernel_param (include/linux/moduleparam.h, 6.1, i386)
LINUX_PARAM = struct.Struct("<IIIHbBI")
KERNEL_PARAM_OPS_FL_NOARG = 1
KERNEL_PARAM_FL_UNSAFE = 1 << 0
_TRUE = {"1", "y", "Y", "yes", "true", "on"}
_FALSE = {"0", "n", "N", "no", "false", "off"}
# Linux types (modinfo parmtype) -> (byte size, signed) for reading values back.
_LINUX_SIZES = {"byte": (1, False), "short": (2, True), "ushort": (2, False), "int": (4, True), "uint": (4, False),
                "long": (4, True), "ulong": (4, False), "ullong": (8, False), "hexint": (4, False), "bool": (1, False),
                "invbool": (1, False), "bint": (4, True)}

ParamValues = dict[str, object] | str | None
# Names the profile handles itself when the module does not declare them, as
# Linux's unknown_module_param_cb does with ``dyndbg``: name -> handler(kernel,
# plan, value) returning True if it took the value.
UNKNOWN_PARAMETER_HANDLERS: dict[str, Callable[[Kernel, LinkPlan, str | None], bool]] = {}


@dataclass(frozen=True, slots=True)
class ModuleParam:
    """A parameter the module declares.

    ``address`` is the variable (sandbox layout) or ``kp->arg`` (Linux layout:
    the variable, a ``struct kparam_array`` or a ``struct kparam_string``);
    ``entry`` is the ``struct kernel_param`` itself (0 for the sandbox layout).
    """

    name: str
    address: int
    type: str
    size: int
    low: int
    high: int
    entry: int = 0
    ops: int = 0
    perm: int = 0
    flags: int = 0
    description: str = ""


def _modinfo_map(plan: LinkPlan, key: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for k, v in plan.image.modinfo:
        if k == key:
            name, _, value = v.partition(":")
            found[name] = value
    return found


def is_linux_layout(plan: LinkPlan) -> bool:
    """Whether ``__param`` holds Linux's 20-byte ``struct kernel_param``.

    The sandbox layout has a small type code where Linux has the ``ops``
    pointer, so the word at offset 8 of the first entry tells them apart.
    """
    section = plan.image.section_by_name("__param")
    if section is None or section.sh_size == 0:
        return False
    if section.sh_size % LINUX_PARAM.size:
        return False
    if section.sh_size % _ENTRY.size:
        return True
    base = plan.section_address(section)
    if base is None:
        return False
    return int.from_bytes(plan.read(base + 8, 4), "little") not in PARAM_TYPES


def declared_params(plan: LinkPlan) -> dict[str, ModuleParam]:
    """The parameters in the module's ``__param`` section (after relocation)."""
    section = plan.image.section_by_name("__param")
    if section is None or section.sh_size == 0:
        return {}
    base = plan.section_address(section)
    if base is None:
        return {}
    if is_linux_layout(plan):
        return _linux_params(plan, base, section.sh_size)
    if section.sh_size % _ENTRY.size:
        raise plan.error("param", f"__param size {section.sh_size:#x} is neither a multiple of {_ENTRY.size} "
                                  f"(sandbox headers) nor of {LINUX_PARAM.size} (Linux struct kernel_param)")
    descriptions = _modinfo_map(plan, "parm")
    params: dict[str, ModuleParam] = {}
    for entry in range(base, base + section.sh_size, _ENTRY.size):
        name_address, variable, code, perm = _ENTRY.unpack(plan.read(entry, _ENTRY.size))
        if code not in PARAM_TYPES:
            raise plan.error("param", f"__param entry at {entry:#x} has unknown type code {code}")
        type_name, size, low, high = PARAM_TYPES[code]
        name = plan.read_cstring(name_address)
        params[name] = ModuleParam(name, variable, type_name, size, low, high, perm=perm,
                                   description=descriptions.get(name, ""))
    return params


def _linux_params(plan: LinkPlan, base: int, size: int) -> dict[str, ModuleParam]:
    types = _modinfo_map(plan, "parmtype")
    descriptions = _modinfo_map(plan, "parm")
    params: dict[str, ModuleParam] = {}
    for entry in range(base, base + size, LINUX_PARAM.size):
        name_address, _mod, ops, perm, _level, flags, arg = LINUX_PARAM.unpack(plan.read(entry, LINUX_PARAM.size))
        if ops == 0:
            raise plan.error("param", f"struct kernel_param at {entry:#x} has no ops")
        name = plan.read_cstring(name_address)
        type_name = types.get(name, "custom")
        width, signed = _LINUX_SIZES.get(type_name, (4, False))
        low, high = (-(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1) if signed else (0, (1 << (8 * width)) - 1)
        params[name] = ModuleParam(name, arg, type_name, width, low, high, entry, ops, perm, flags,
                                   descriptions.get(name, ""))
    return params


# -- insmod's argument string ---------------------------------------------------------
def parse_args(text: str) -> list[tuple[str, str | None]]:
    """``name=value`` words as the kernel's ``next_arg`` splits them (double quotes group blanks)."""
    pairs: list[tuple[str, str | None]] = []
    index, length = 0, len(text)
    while index < length:
        while index < length and text[index].isspace():
            index += 1
        if index >= length:
            break
        start, in_quote, equals = index, False, -1
        while index < length and (in_quote or not text[index].isspace()):
            if text[index] == '"':
                in_quote = not in_quote
            elif text[index] == "=" and equals < 0 and not in_quote:
                equals = index
            index += 1
        word = text[start:index]
        if equals < 0:
            pairs.append((word.replace('"', ""), None))
            continue
        name, value = word[: equals - start].replace('"', ""), word[equals - start + 1:]
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        elif value.startswith('"'):
            value = value[1:]
        pairs.append((name, value))
    return pairs


def _as_text(value: object) -> str | None:
    """A typed Python value as the text insmod would pass."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, list | tuple):
        return ",".join(_as_text(v) or "" for v in value)
    return str(value)


def _pairs(values: ParamValues) -> list[tuple[str, str | None]]:
    if values is None:
        return []
    if isinstance(values, str):
        return parse_args(values)
    return [(name, _as_text(value)) for name, value in values.items()]


def _parameq(a: str, b: str) -> bool:
    return a.replace("-", "_") == b.replace("-", "_")


# -- applying ---------------------------------------------------------------------------
def apply_params(plan: LinkPlan, memory: GuestMemory, values: ParamValues, kernel: Kernel | None = None) -> list[int]:
    """Set ``values`` in the mapped module; returns heap blocks to free when it unloads."""
    if kernel is not None and is_linux_layout(plan):
        return _apply_linux(plan, kernel, _pairs(values))
    if not values:
        return []
    if isinstance(values, str):
        values = dict(parse_args(values))
    return _apply_sandbox(plan, memory, values)


def _apply_linux(plan: LinkPlan, k: Kernel, pairs: list[tuple[str, str | None]]) -> list[int]:
    if not pairs:
        return []
    declared = declared_params(plan)
    memory = k.memory
    # mod->args: the values live as long as the module (a set callback may keep the pointer).
    encoded = [(name, None if value is None else value.encode("latin-1") + b"\0") for name, value in pairs]
    block = memory.alloc(max(1, sum(len(v) for _, v in encoded if v)))
    cursor = block
    for name, value in encoded:
        param = next((p for p in declared.values() if _parameq(p.name, name)), None)
        if param is None:
            handler = UNKNOWN_PARAMETER_HANDLERS.get(name)
            if handler is not None and handler(k, plan, None if value is None else value[:-1].decode("latin-1")):
                continue
            message = f"{plan.name}: unknown parameter '{name}' ignored\n"
            k.console_write(message, 4)
            k.warn(message.strip())
            continue
        pointer = 0
        if value is not None:
            memory.write(cursor, value)
            pointer, cursor = cursor, cursor + len(value)
        ops_flags = memory.read_u32(param.ops)
        if value is None and not ops_flags & KERNEL_PARAM_OPS_FL_NOARG:
            result = -22
        else:
            if param.flags & KERNEL_PARAM_FL_UNSAFE:
                k.console_write(f"Setting dangerous option {param.name} - tainting kernel\n", 5)
            result = k.call(memory.read_u32(param.ops + 4), pointer, param.entry) & 0xFFFFFFFF
            result = result - (1 << 32) if result >> 31 else result
        if result:
            shown = "" if value is None else value[:-1].decode("latin-1")
            if result == -28:
                message = f"{plan.name}: `{shown}' too large for parameter `{param.name}'"
            else:
                message = f"{plan.name}: `{shown}' invalid for parameter `{param.name}'"
            k.console_write(message + "\n", 3)
            memory.free(block)
            raise LoadError(plan.image.name, "bad-parameter", f"{message}: {errno_text(result)}")
    return [block]


def release_params(plan: LinkPlan, k: Kernel) -> None:
    """destroy_params: each parameter's ``ops->free(arg)`` (charp copies), before the module goes."""
    if not is_linux_layout(plan):
        return
    for param in declared_params(plan).values():
        if k.memory.region_at(param.ops) is None or k.memory.region_at(param.address) is None:
            continue  # an __initdata parameter whose memory went with init, or ops nobody provides
        free = k.memory.read_u32(param.ops + 12)
        if free:
            k.call(free, param.address)


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


def _apply_sandbox(plan: LinkPlan, memory: GuestMemory, values: dict[str, object]) -> list[int]:
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


# -- reading back -------------------------------------------------------------------------
def current_values(k: Kernel, plan: LinkPlan) -> dict[str, object]:
    """Each declared parameter's current value, read from guest memory.

    Linux layout: integers and bools as ints (invbool as stored), charp and
    string as str (None for NULL), arrays as the list of their ``*num``
    elements, None for an ``__initdata`` parameter whose memory is gone; a parameter with the module's own ops as the text its ``get``
    writes (what ``/sys/module/*/parameters/`` shows).
    """
    memory = k.memory
    values: dict[str, object] = {}
    for name, param in declared_params(plan).items():
        if not param.entry:
            raw = int.from_bytes(memory.read(param.address, param.size), "little")
            if param.type == "charp":
                values[name] = memory.read_cstring(raw).decode() if raw else None
            elif param.low < 0 and raw >> (8 * param.size - 1):
                values[name] = raw - (1 << (8 * param.size))
            else:
                values[name] = raw
            continue
        try:
            values[name] = _linux_value(k, param)
        except GuestFault:  # an __initdata parameter after init memory went away
            values[name] = None
    return values


def _read_int(memory: GuestMemory, address: int, type_name: str) -> int:
    size, signed = _LINUX_SIZES[type_name]
    return int.from_bytes(memory.read(address, size), "little", signed=signed)


def _linux_value(k: Kernel, param: ModuleParam) -> object:
    memory = k.memory
    kind = param.type
    if kind in _LINUX_SIZES:
        return _read_int(memory, param.address, kind)
    if kind == "charp":
        pointer = memory.read_u32(param.address)
        return memory.read_cstring(pointer).decode("latin-1") if pointer else None
    if kind == "string":
        maxlen, string = memory.read_u32(param.address), memory.read_u32(param.address + 4)
        return memory.read_cstring(string, maxlen).decode("latin-1")
    if kind.startswith("array of ") and kind[9:] in _LINUX_SIZES:
        maximum, elemsize, num, _ops, elem = (memory.read_u32(param.address + 4 * i) for i in range(5))
        count = memory.read_u32(num) if num else maximum
        return [_read_int(memory, elem + i * elemsize, kind[9:]) for i in range(min(count, maximum))]
    return read_param_text(k, param)


def read_param_text(k: Kernel, param: ModuleParam) -> str:
    """What ``ops->get(buffer, kp)`` writes for the parameter (its sysfs text, newline stripped)."""
    getter = k.memory.read_u32(param.ops + 8)
    if not getter:
        return ""
    buffer = k.memory.alloc(4096)
    try:
        length = k.call(getter, buffer, param.entry) & 0xFFFFFFFF
        length = 0 if length >> 31 else min(length, 4096)
        return k.memory.read(buffer, length).decode("latin-1").rstrip("\n")
    finally:
        k.memory.free(buffer)
