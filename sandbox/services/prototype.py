"""Parse C prototypes into what the call machinery needs.

A prototype tells three things: how many argument slots each parameter takes
(8-byte integers take two), how to narrow a slot (``char``/``short``), and how
the trace should show the value (string, pointer, signed or unsigned number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_PROTOTYPE = re.compile(r"^\s*(?P<ret>.+?)\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>.*)\)\s*;?\s*$", re.S)

_SIXTY_FOUR = {
    "long long", "unsigned long long", "long long int", "unsigned long long int",
    "u64", "s64", "__u64", "__s64", "uint64_t", "int64_t", "loff_t", "ktime_t",
}
_SIGNED = {
    "int", "long", "short", "char", "signed char", "signed", "signed int", "long int",
    "short int", "s8", "s16", "s32", "int8_t", "int16_t", "int32_t", "ssize_t",
    "irqreturn_t", "long long", "s64", "int64_t", "loff_t", "__s32", "ktime_t",
}
_NARROW = {
    "char": 1, "signed char": 1, "unsigned char": 1, "u8": 1, "s8": 1, "bool": 1, "_Bool": 1,
    "uint8_t": 1, "int8_t": 1, "__u8": 1,
    "short": 2, "unsigned short": 2, "short int": 2, "u16": 2, "s16": 2, "uint16_t": 2,
    "int16_t": 2, "__u16": 2, "__le16": 2, "__be16": 2,
}
_QUALIFIERS = re.compile(r"\b(const|volatile|struct|union|enum|register|restrict|__user|__iomem)\b")


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its C type text, name, and how it is passed and shown."""

    ctype: str
    name: str
    kind: str  # "int", "uint", "ptr", "str", "funcptr", "void"
    width: int  # bytes of the C value: 1, 2, 4 or 8

    @property
    def slots(self) -> int:
        """Number of 4-byte argument slots the value occupies."""
        return 2 if self.width == 8 else 1


@dataclass(frozen=True, slots=True)
class Prototype:
    """A parsed C function prototype."""

    name: str
    returns: Param
    params: tuple[Param, ...]
    variadic: bool
    text: str
    # The calling convention the declaration names (``__attribute__((stdcall))``,
    # ``__fastcall``, ``regparm(2)``...), canonical as in callconv.CONVENTIONS;
    # None when it names none (the profile's default applies).
    convention: str | None = None

    @property
    def slot_count(self) -> int:
        """Argument slots of the fixed parameters."""
        return sum(p.slots for p in self.params)


class PrototypeError(ValueError):
    """A prototype string could not be understood."""


# MSVC/MinGW keywords for conventions (MinGW defines them as attributes), and
# Linux's asmlinkage: regparm(0) on i386, arguments on the stack.
_CONVENTION_KEYWORD = re.compile(r"\b(?:_{1,2}(cdecl|stdcall|fastcall)|asmlinkage)\b")


def _take_attributes(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Remove every ``__attribute__((...))``, whose parentheses nest.

    Returns the text without them and, for each, where it stood in that text
    and its inner words (``stdcall``, ``regparm(2)``).
    """
    text = _CONVENTION_KEYWORD.sub(lambda m: f"__attribute__(({m[1] or 'regparm(0)'}))", text)
    found: list[tuple[int, str]] = []
    while (start := text.find("__attribute__")) >= 0:
        depth, i = 0, text.find("(", start)
        if i < 0:
            break
        while i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        inner = text[start + len("__attribute__"):i].strip()
        found.append((start, inner[2:-2] if inner.startswith("((") else inner))
        text = text[:start] + " " + text[i:]
    return text, found


def _declared_convention(cleaned: str, attributes: list[tuple[int, str]]) -> str | None:
    """The convention named by the attributes outside the parameter list.

    Attributes inside the parameter list belong to parameters (a function
    pointer's own convention), not to the function.
    """
    open_at = cleaned.find("(")
    close_at = len(_cut_after_params(cleaned)) if open_at >= 0 else -1
    words: list[str] = []
    for position, inner in attributes:
        if open_at < position < close_at:
            continue
        words += _split_params(inner)
    if not words:
        return None
    from .callconv import convention_from_words  # callconv needs nothing from here

    try:
        return convention_from_words(words)
    except ValueError as error:
        raise PrototypeError(str(error)) from None


def _cut_after_params(text: str) -> str:
    """Drop what follows the parameter list (``__printf(1, 2)``, ``;``...)."""
    start = text.find("(")
    if start < 0:
        return text
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[: i + 1]
    return text


def _split_params(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts]


def classify(ctype: str, name: str = "") -> Param:
    """Describe a C type (``"const char *"``, ``"u64"``, ...) as a Param."""
    text = " ".join(ctype.split())
    if "(*" in text or "( *" in text:
        return Param(text, name, "funcptr", 4)
    if "*" in text:
        base = " ".join(_QUALIFIERS.sub("", text.replace("*", " ")).split())
        is_const_char = text.count("*") == 1 and base == "char" and "const" in text
        return Param(text, name, "str" if is_const_char else "ptr", 4)
    base = " ".join(_QUALIFIERS.sub("", text).split())
    if base == "void":
        return Param(text, name, "void", 0)
    if base.endswith("_t") and base in ("irq_handler_t",):
        return Param(text, name, "funcptr", 4)
    width = 8 if base in _SIXTY_FOUR else _NARROW.get(base, 4)
    kind = "int" if base in _SIGNED else "uint"
    return Param(text, name, kind, width)


@cache
def parse_prototype(text: str) -> Prototype:
    """Parse ``"void *kmalloc(size_t size, gfp_t flags)"`` into a Prototype."""
    cleaned, attributes = _take_attributes(text)
    convention = _declared_convention(cleaned, attributes) if attributes else None
    cleaned = re.sub(r"^\s*(extern|static|inline|KAPI)\s+", "", cleaned)
    match = _PROTOTYPE.match(_cut_after_params(cleaned))
    if not match:
        raise PrototypeError(f"not a C prototype: {text!r}")
    ret_text = match["ret"].strip()
    name = match["name"]
    returns = classify(ret_text)
    params: list[Param] = []
    variadic = False
    raw = match["params"].strip()
    if raw and raw != "void":
        for piece in _split_params(raw):
            if piece == "...":
                variadic = True
                continue
            funcptr = re.match(r"^(.*)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)$", piece)
            if funcptr:
                params.append(Param(piece, funcptr.group(2), "funcptr", 4))
                continue
            named = re.match(r"^(.*?)([A-Za-z_]\w*)\s*(\[\s*\w*\s*\])?$", piece)
            if not named or not named.group(1).strip():
                # An unnamed parameter: the whole text is the type.
                params.append(classify(piece, f"arg{len(params)}"))
                continue
            ctype = named.group(1) + ("*" if named.group(3) else "")
            params.append(classify(ctype, named.group(2)))
    return Prototype(name, returns, tuple(params), variadic, " ".join(text.split()), convention)


def narrow(value: int, param: Param) -> int:
    """Reduce a raw slot value to the parameter's C value (sign-extended)."""
    bits = param.width * 8
    if bits == 0:
        return 0
    value &= (1 << bits) - 1
    if param.kind == "int" and value >> (bits - 1):
        value -= 1 << bits
    return value
