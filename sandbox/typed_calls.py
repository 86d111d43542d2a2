"""Typed ``--call`` arguments and results for the command line.

``--call [MODULE:]SYMBOL[:RTYPE] ARG...``: each ARG is ``VALUE`` or
``VALUE:TYPE`` with TYPE one of ``u8 u16 u32 s8 s16 s32 u64 s64 ptr str``, or
``:buf=N`` (an N-byte zeroed output buffer, shown after the call). RTYPE is
the result's type (``u32``, ``u64``, ``s64``, ``ptr``, ``void``, ...). Where a
type is not given, the module's DWARF prototype gives it; without DWARF a
bare ARG is an int when it parses as one (``12``, ``-3``, ``0x10``), else a
string, and the result is a signed 32-bit int. With a prototype, the number
of arguments is checked.

64-bit arguments take two 32-bit slots (low word first), laid out by the
profile's calling convention (:func:`call_values`): with regparm(3) a 64-bit
argument that no longer fits the registers goes on the stack, and so does
every argument after it, as gcc passes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .dwarf_prototypes import CType, Prototype
from .errors import SandboxError

INT_TYPES = {"u8": (0, 0xFF), "u16": (0, 0xFFFF), "u32": (0, 0xFFFFFFFF), "u64": (0, (1 << 64) - 1),
             "s8": (-0x80, 0x7F), "s16": (-0x8000, 0x7FFF), "s32": (-(1 << 31), (1 << 31) - 1),
             "s64": (-(1 << 63), (1 << 63) - 1), "ptr": (0, 0xFFFFFFFF)}
ARG_TYPES = (*INT_TYPES, "str")
RESULT_TYPES = (*INT_TYPES, "void")
# What a result kind asks Kernel.call for (EAX, or EDX:EAX).
_RETURNS = {"u64": "u64", "s64": "s64", "u8": "uint", "u16": "uint", "u32": "uint", "ptr": "uint"}


@dataclass
class Argument:
    """One parsed ``--call`` argument: what the user typed and how it is passed."""

    text: str
    kind: str  # an INT_TYPES key, "str", "buf" or "auto"
    value: int | str | bytearray = 0

    def slots(self) -> list[int | str | bytearray]:
        """What goes to ``Kernel.call``: one value, or two words for a 64-bit integer."""
        if self.kind in ("u64", "s64"):
            raw = int(self.value) & ((1 << 64) - 1)  # type: ignore[arg-type]
            return [raw & 0xFFFFFFFF, raw >> 32]
        return [self.value]

    def shown(self) -> str:
        """How the call line shows it."""
        if self.kind == "buf":
            return f"<buf {len(self.value)}>"  # type: ignore[arg-type]
        return repr(self.value)


@dataclass
class TypedCall:
    """A ``--call`` with its function, arguments and result type resolved."""

    target: str  # [MODULE:]SYMBOL
    arguments: list[Argument] = field(default_factory=list)
    result: str = "s32"


def _split_type(text: str, known: tuple[str, ...]) -> tuple[str, str | None]:
    """``"7:u64"`` -> ("7", "u64"); a suffix that is no type stays part of the value."""
    value, sep, suffix = text.rpartition(":")
    if sep and (suffix in known or suffix.startswith("buf=")):
        return value, suffix
    return text, None


def _integer(text: str, kind: str, shown: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise SandboxError(f"--call argument {shown!r}: not an integer (type {kind})") from None
    low, high = INT_TYPES[kind]
    if kind in ("s32", "s64") and value > high:
        # 0xFFFFFFFF for an int is what a C programmer means by -1.
        bits = 32 if kind == "s32" else 64
        if value < (1 << bits):
            value -= 1 << bits
    if not low <= value <= high:
        raise SandboxError(f"--call argument {shown!r} is out of range for {kind} ({low}..{high})")
    return value


def parse_argument(text: str, declared: CType | None) -> Argument:
    """Parse one ARG; ``declared`` is the parameter's DWARF type, if known."""
    value, kind = _split_type(text, ARG_TYPES)
    if kind is not None and kind.startswith("buf="):
        try:
            size = int(kind[4:], 0)
        except ValueError:
            size = -1
        if not 0 < size <= 1 << 20:
            raise SandboxError(f"--call argument {text!r}: buf=N needs a size from 1 to 1048576")
        return Argument(text, "buf", bytearray(size))
    if kind is None and declared is not None and declared.kind in ARG_TYPES:
        kind = declared.kind
        if kind == "ptr" and not _is_int(value):
            kind = "str"  # a string for a void * (a buffer to read): pass a copy
    elif kind is not None and declared is not None and _slots(kind) != _slots(declared.kind):
        raise SandboxError(f"--call argument {text!r}: the parameter is {declared.text} (DWARF), "
                           f"which does not pass as {kind}")
    if kind == "str":
        return Argument(text, "str", value)
    if kind is not None:
        return Argument(text, kind, _integer(value, kind, text))
    if _is_int(value):
        return Argument(text, "auto", int(value, 0))
    return Argument(text, "auto", value)


def _slots(kind: str) -> int:
    """32-bit words a value of this kind takes in a call (0: not a scalar)."""
    if kind in ("u64", "s64"):
        return 2
    return 1 if kind in ARG_TYPES else 0


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def parse_call(words: list[str], find_prototype: object) -> TypedCall:
    """Parse ``--call`` words; ``find_prototype(target) -> Prototype | None`` supplies DWARF types."""
    target, result = _split_type(words[0], RESULT_TYPES)
    prototype: Prototype | None = find_prototype(target)  # type: ignore[operator]
    texts = words[1:]
    if prototype is not None:
        wanted = len(prototype.params)
        if len(texts) < wanted or (len(texts) > wanted and not prototype.variadic):
            raise SandboxError(
                f"{prototype.signature()} takes {wanted} argument(s), {len(texts)} given (prototype from DWARF)")
    declared = [t for _, t in prototype.params] if prototype is not None else []
    arguments = [parse_argument(text, declared[i] if i < len(declared) else None) for i, text in enumerate(texts)]
    if result is None:
        result = prototype.returns.kind if prototype is not None and prototype.returns.kind in RESULT_TYPES else "s32"
    return TypedCall(target, arguments, result)


def call_values(arguments: list[Argument], convention: object) -> list[int | str | bytearray]:
    """What to give ``Kernel.call`` so each argument lands where ``convention`` puts it.

    ``Kernel.call`` gives the first slots to the convention's registers in
    order and the rest to the stack; a register the convention leaves unused
    (a 64-bit argument that did not fit) is padded with 0.
    """
    groups = [argument.slots() for argument in arguments]
    registers: list[int | str | bytearray] = [0] * len(convention.registers)  # type: ignore[attr-defined]
    stack: list[int | str | bytearray] = []
    used = 0
    for (where, index), group in zip(convention.assign([len(g) for g in groups]), groups):  # type: ignore[attr-defined]
        if where == "reg":
            registers[index:index + len(group)] = group
            used = max(used, index + len(group))
        else:
            stack.extend(group)
    return registers + stack if stack else registers[:used]


def returns_for(result: str) -> str:
    """The ``returns=`` of :meth:`Kernel.call` for a result type."""
    return _RETURNS.get(result, "int")


def format_result(value: int, result: str) -> str:
    """The result as the call line shows it (``= 4294967295``, ``= 0xd0001000``; nothing for void)."""
    if result == "void":
        return ""
    if result in ("u8", "u16"):
        value &= INT_TYPES[result][1]
    elif result in ("s8", "s16"):
        bits = int(result[1:])
        value &= (1 << bits) - 1
        value -= (1 << bits) if value >> (bits - 1) else 0
    if result == "ptr":
        return f" = {value:#x}"
    return f" = {value}"


def format_buffers(arguments: list[Argument]) -> str:
    """``; arg 1 = b'ping'`` for each output buffer (trailing NULs dropped)."""
    parts = []
    for index, argument in enumerate(arguments):
        if argument.kind == "buf":
            parts.append(f"arg {index} = {bytes(argument.value).rstrip(bytes(1))!r}")  # type: ignore[arg-type]
    return "; " + "; ".join(parts) if parts else ""
