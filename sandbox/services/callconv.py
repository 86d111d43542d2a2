"""Calling conventions of 32-bit x86: where each argument goes, who pops it.

``CONVENTIONS`` is the one table (name -> :class:`CallingConvention`); the
architecture object, the service dispatcher (guest -> Python) and
``Kernel.call`` (Python -> guest) all read it. A convention answers one
question, :meth:`CallingConvention.layout`: given the width of each
parameter in 4-byte slots (1, or 2 for a 64-bit integer), which registers or
stack slots hold it and how many bytes the callee's ``ret`` pops. Narrowing
and display are the prototype's job.

The rules are those GCC and clang emit for i386 ELF (checked against
``gcc -m32 -S`` and ``clang --target=i386 -S``; they agree, and clang for
i686 MinGW too):

- ``cdecl``: everything on the stack, the caller pops.
- ``regparmN`` (``__attribute__((regparm(N)))``, Linux i386 is regparm3):
  the first N slots in EAX, EDX, ECX. A 64-bit argument needs two free
  registers (a consecutive pair, low word first); when fewer are left it
  goes on the stack and the remaining registers stay unused.
- ``stdcall``: as cdecl, but the callee pops its stack arguments (``ret N``).
- ``fastcall``: the first two arguments of 32 bits or less (``char``,
  ``short``, ``int``, pointers) in ECX then EDX, the rest on the stack, the
  callee pops. A 64-bit argument always goes on the stack and, as in
  regparm, uses up the registers left: ``f(long long a, int b)`` passes
  both on the stack.
- ``stdcall+regparmN``: GCC's combination of the two (registers as
  regparmN, the callee pops the stack part).

Every convention returns 32-bit values in EAX and 64-bit values in EDX:EAX.
A variadic function is always caller-pops with every argument on the stack,
whatever its declaration says (both compilers ignore stdcall, fastcall and
regparm there): :meth:`CallingConvention.for_call` gives that rule.

The interface, for the dispatcher, ``Kernel.call`` and the architecture
object: ``CONVENTIONS`` and :func:`get_convention` (names),
:meth:`CallingConvention.layout` (placement and pop count),
:meth:`CallingConvention.for_call` (the variadic rule),
:func:`convention_from_words` (C attributes to a name), and for calls from
Python :class:`Int64`, :class:`ByValue`, :func:`flatten_arguments` and
:func:`place_arguments`.

Structures passed by value (``ByValue`` from Python) take as many slots as
they have 4-byte words: regparm passes them in registers when they fit,
fastcall never does, and one that goes on the stack uses up as many of the
registers left as it has words. Services cannot take them (a prototype
carries no structure sizes). Returning a structure (a hidden pointer the
callee pops, ``ret $4`` even under cdecl) is not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..machine.registers import EAX, ECX, EDX

_REGPARM_REGISTERS = (EAX, EDX, ECX)


@dataclass(frozen=True, slots=True)
class ArgumentPlace:
    """Where one parameter travels: registers, or stack slots.

    ``registers`` holds the register ids, low word first (two for a 64-bit
    value, up to three for a structure under regparm), and is empty for a
    stack argument; ``stack`` is then the index of its first 4-byte slot
    above the return address (0 is ``[esp+4]`` at entry).
    """

    registers: tuple[int, ...]
    stack: int

    @property
    def in_registers(self) -> bool:
        """True when the value travels in registers."""
        return bool(self.registers)


@dataclass(frozen=True, slots=True)
class CallLayout:
    """How one call's parameters are laid out, and what the callee pops."""

    places: tuple[ArgumentPlace, ...]
    stack_slots: int  # 4-byte slots of fixed parameters on the stack
    pop_bytes: int  # bytes the callee's ``ret`` removes (0: the caller pops)


@dataclass(frozen=True, slots=True)
class CallingConvention:
    """One i386 calling convention.

    ``registers`` are the argument registers in order; ``callee_pops`` says
    the callee removes its stack arguments (``ret N``); ``wide_in_registers``
    is False where only scalars of 32 bits or less travel in registers, never
    a 64-bit value or a structure (fastcall).
    """

    name: str
    registers: tuple[int, ...] = ()
    callee_pops: bool = False
    wide_in_registers: bool = True
    description: str = ""

    def layout(self, widths: Sequence[int], variadic: bool = False, aggregates: Iterable[int] = ()) -> CallLayout:
        """Place parameters of ``widths`` (4-byte slots each) for a call.

        ``variadic``: the function takes ``...``; then the stack carries
        everything and the caller pops, as both compilers do.
        ``aggregates``: indexes of the parameters that are structures passed
        by value (regparm takes them in registers when they fit, fastcall
        never does).
        """
        return _layout(self, tuple(widths), variadic, frozenset(aggregates))

    def for_call(self, variadic: bool) -> CallingConvention:
        """The convention a call really uses: cdecl for a variadic function."""
        return CDECL if variadic and (self.registers or self.callee_pops) else self

    def assign(self, widths: Sequence[int], variadic: bool = False) -> list[tuple[str, int]]:
        """For each parameter, ``("reg", first register index)`` or ``("stack", slot index)``."""
        places = self.layout(widths, variadic).places
        return [("reg", self.registers.index(p.registers[0])) if p.registers else ("stack", p.stack)
                for p in places]

    def stack_slots(self, widths: Sequence[int], variadic: bool = False) -> int:
        """How many 4-byte stack slots the fixed parameters use."""
        return self.layout(widths, variadic).stack_slots

    def pop_bytes(self, widths: Sequence[int], variadic: bool = False) -> int:
        """Bytes of arguments the callee pops on return (0 for caller-pops)."""
        return self.layout(widths, variadic).pop_bytes

    @property
    def pops_text(self) -> str:
        """Who removes stack arguments, for messages."""
        return "callee pops" if self.callee_pops else "caller pops"


@lru_cache(maxsize=1024)
def _layout(convention: CallingConvention, widths: tuple[int, ...], variadic: bool,
            aggregates: frozenset[int]) -> CallLayout:
    convention = convention.for_call(variadic)
    registers = convention.registers
    free = len(registers)
    next_register = 0
    stack = 0
    places: list[ArgumentPlace] = []
    for index, width in enumerate(widths):
        allowed = convention.wide_in_registers or (width == 1 and index not in aggregates)
        if allowed and width <= free:
            places.append(ArgumentPlace(registers[next_register:next_register + width], -1))
            next_register += width
            free -= width
        else:
            # GCC and clang alike: an argument that goes on the stack still
            # uses up as many of the registers left as it has slots (so a
            # 64-bit one that does not fit leaves the rest unused).
            free = max(0, free - width)
            next_register = len(registers) - free
            places.append(ArgumentPlace((), stack))
            stack += width
    return CallLayout(tuple(places), stack, 4 * stack if convention.callee_pops else 0)


def _regparm(count: int, stdcall: bool = False) -> CallingConvention:
    name = f"stdcall+regparm{count}" if stdcall else f"regparm{count}"
    description = (f"first {count} argument slot{'s' if count > 1 else ''} in "
                   f"{', '.join(('EAX', 'EDX', 'ECX')[:count])}, the rest on the stack, "
                   + ("callee pops" if stdcall else "caller pops"))
    return CallingConvention(name, _REGPARM_REGISTERS[:count], stdcall, True, description)


CDECL = CallingConvention("cdecl", (), False, True, "all arguments on the stack, caller pops")
REGPARM1 = _regparm(1)
REGPARM2 = _regparm(2)
REGPARM3 = _regparm(3)
STDCALL = CallingConvention("stdcall", (), True, True, "all arguments on the stack, callee pops (ret N)")
FASTCALL = CallingConvention(
    "fastcall", (ECX, EDX), True, False,
    "first two arguments of 32 bits or less in ECX, EDX, the rest on the stack, callee pops",
)

CONVENTIONS: dict[str, CallingConvention] = {
    c.name: c for c in (CDECL, REGPARM1, REGPARM2, REGPARM3, STDCALL, FASTCALL,
                        _regparm(1, True), _regparm(2, True), _regparm(3, True))
}
"""Every convention by name. Keys are the canonical names profiles and
``@service(convention=...)`` use; :func:`get_convention` also accepts the C
spellings (``"regparm(3)"``, ``"__stdcall"``, ``"stdcall, regparm(2)"``)."""


_WORD = re.compile(r"^_*(cdecl|stdcall|fastcall|regparm)_*\s*(?:\(\s*(\d+)\s*\))?$")


def convention_from_words(words: Iterable[str]) -> str | None:
    """The canonical convention name the attribute words select, or None if none do.

    ``words`` are attribute or keyword spellings as they appear in C:
    ``stdcall``, ``__stdcall__``, ``__fastcall``, ``cdecl``, ``regparm(2)``;
    others (``noinline``, ``format(...)``) are ignored. ValueError for a
    combination no compiler accepts (fastcall with regparm or stdcall) or a
    regparm count outside 0..3.
    """
    kinds: set[str] = set()
    count = 0
    for word in words:
        match = _WORD.match(word.strip())
        if not match:
            continue
        kind = match[1]
        if kind == "regparm":
            if match[2] is None or not 0 <= int(match[2]) <= 3:
                raise ValueError(f"regparm takes a register count of 0 to 3, not {word.strip()!r}")
            count = int(match[2])
            if count == 0:
                kinds.add("cdecl")  # regparm(0) is plain cdecl
                continue
        kinds.add(kind)
    if not kinds:
        return None
    if "fastcall" in kinds and len(kinds) > 1:
        raise ValueError(f"fastcall cannot be combined with {', '.join(sorted(kinds - {'fastcall'}))}")
    if "regparm" in kinds:
        return f"stdcall+regparm{count}" if "stdcall" in kinds else f"regparm{count}"
    if len(kinds) > 1:
        kinds.discard("cdecl")  # GCC: the last one wins; stdcall with cdecl is refused there
        if len(kinds) > 1:
            raise ValueError(f"conflicting calling conventions: {', '.join(sorted(kinds))}")
    return kinds.pop()


def get_convention(name: str | CallingConvention) -> CallingConvention:
    """The convention called ``name`` (canonical or C spelling); ValueError listing the known ones."""
    if isinstance(name, CallingConvention):
        return name
    found = CONVENTIONS.get(name)
    if found is not None:
        return found
    try:
        canonical = convention_from_words(re.split(r"[,+\s]+(?![^(]*\))", name))
    except ValueError:
        canonical = None
    if canonical is None or canonical not in CONVENTIONS:
        raise ValueError(f"unknown calling convention {name!r}; known: {', '.join(CONVENTIONS)}")
    return CONVENTIONS[canonical]


def describe_pops(popped: int) -> str:
    """What a function that popped ``popped`` bytes at its return behaves like, for messages."""
    if popped == 0:
        return "returned with a plain ret (caller pops)"
    if popped > 0:
        return f"popped {popped} bytes itself (ret ${popped})"
    return f"left ESP {-popped} bytes lower than it found it"


@dataclass(frozen=True, slots=True)
class Int64:
    """A 64-bit integer argument for a Python -> guest call (``long long``, ``u64``).

    ``k.call(f, Int64(-5), 2)`` places it as the convention places a 64-bit
    argument (two stack slots, low word first, or a register pair); a plain
    int is always one 32-bit slot.
    """

    value: int


@dataclass(frozen=True, slots=True)
class ByValue:
    """A structure passed by value to guest code: its bytes, padded to 4-byte slots."""

    data: bytes


def flatten_arguments(args: Sequence[int | Int64 | ByValue]) -> tuple[list[int], list[int] | None, tuple[int, ...]]:
    """Flatten :class:`Int64` and :class:`ByValue` arguments into slots.

    Returns the slots, the slot count of each argument (None if every one
    is a plain 32-bit int) and the indexes of the structures.
    """
    for arg in args:  # a loop, not all(): this runs for every IRQ handler call
        if type(arg) is not int:
            break
    else:
        return list(args), None, ()  # type: ignore[arg-type]
    slots: list[int] = []
    widths: list[int] = []
    aggregates: list[int] = []
    for index, arg in enumerate(args):
        if isinstance(arg, Int64):
            value = arg.value & 0xFFFFFFFFFFFFFFFF
            slots += (value & 0xFFFFFFFF, value >> 32)
            widths.append(2)
        elif isinstance(arg, ByValue):
            data = bytes(arg.data)
            data += b"\0" * (-len(data) % 4)
            slots += [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
            widths.append(len(data) // 4)
            aggregates.append(index)
        else:
            slots.append(int(arg) & 0xFFFFFFFF)
            widths.append(1)
    return slots, widths, tuple(aggregates)


def place_arguments(convention: CallingConvention, slots: Sequence[int], widths: Sequence[int],
                    aggregates: Iterable[int] = ()) -> tuple[dict[int, int], list[int], int]:
    """(register values, stack words, bytes the callee pops) for a call's argument slots."""
    layout = convention.layout(widths, False, aggregates)
    registers: dict[int, int] = {}
    stack = [0] * layout.stack_slots
    index = 0
    for place, width in zip(layout.places, widths):
        for word in range(width):
            if place.registers:
                registers[place.registers[word]] = slots[index]
            else:
                stack[place.stack + word] = slots[index]
            index += 1
    return registers, stack, layout.pop_bytes
