"""C prototypes of a module's functions, read from its DWARF (``-g`` builds).

The command line uses them to pass arguments and show results with their
real types (``unsigned int``, ``unsigned long long``, ``char *``) and to
refuse a call with the wrong number of arguments instead of letting the
function read stack garbage. A module without DWARF has no prototypes; the
caller then falls back to what the user typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# DW_ATE_* base type encodings
_SIGNED = {5, 6, 13}  # signed, signed_char, signed_fixed
_UNSIGNED = {2, 7, 8, 16}  # boolean, unsigned, unsigned_char, UTF
_QUALIFIERS = {"DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type",
               "DW_TAG_atomic_type"}


@dataclass(frozen=True, slots=True)
class CType:
    """How a C type crosses the call: ``kind`` is one of ``s8 s16 s32 s64 u8 u16 u32 u64
    ptr str void other`` (``str``: a ``char *``); ``text`` is the C spelling."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Prototype:
    """A function's return type and parameters, as DWARF declares them."""

    name: str
    returns: CType
    params: tuple[tuple[str, CType], ...]
    variadic: bool

    def signature(self) -> str:
        """``unsigned int quill_hash(const char *s)``."""
        params = ", ".join(f"{t.text} {n}".strip() for n, t in self.params) or "void"
        if self.variadic:
            params += ", ..."
        return f"{self.returns.text} {self.name}({params})"


VOID = CType("void", "void")


def _ctype(die: object | None) -> CType:
    """The CType of a DW_AT_type target (None: void)."""
    qualifiers: list[str] = []
    while die is not None and die.tag in _QUALIFIERS:  # type: ignore[attr-defined]
        if die.tag == "DW_TAG_const_type":  # type: ignore[attr-defined]
            qualifiers.append("const")
        if die.tag == "DW_TAG_typedef":  # type: ignore[attr-defined]
            name = die.attributes["DW_AT_name"].value.decode()  # type: ignore[attr-defined]
            inner = _ctype(_target(die))
            return CType(inner.kind, " ".join([*qualifiers, name]))
        die = _target(die)
    prefix = " ".join(qualifiers) + " " if qualifiers else ""
    if die is None:
        return CType("void", prefix + "void")
    tag = die.tag  # type: ignore[attr-defined]
    attrs = die.attributes  # type: ignore[attr-defined]
    name = attrs["DW_AT_name"].value.decode() if "DW_AT_name" in attrs else ""
    if tag == "DW_TAG_base_type":
        size = attrs["DW_AT_byte_size"].value
        encoding = attrs["DW_AT_encoding"].value
        if size in (1, 2, 4, 8) and (encoding in _SIGNED or encoding in _UNSIGNED):
            sign = "s" if encoding in _SIGNED else "u"
            return CType(f"{sign}{size * 8}", prefix + name)
        return CType("other", prefix + name)
    if tag == "DW_TAG_enumeration_type":
        return CType("s32", prefix + f"enum {name}".strip())
    if tag == "DW_TAG_pointer_type":
        pointee = _target(die)
        while pointee is not None and pointee.tag in _QUALIFIERS - {"DW_TAG_typedef"}:  # type: ignore[attr-defined]
            pointee = _target(pointee)
        inner = _ctype(_target(die))
        is_char = pointee is not None and pointee.tag == "DW_TAG_base_type" \
            and pointee.attributes["DW_AT_byte_size"].value == 1  # type: ignore[attr-defined]
        return CType("str" if is_char else "ptr", prefix + inner.text + " *")
    keyword = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}.get(tag, tag[7:])
    return CType("other", prefix + f"{keyword} {name}".strip())


def _target(die: object) -> object | None:
    if "DW_AT_type" not in die.attributes:  # type: ignore[attr-defined]
        return None
    return die.get_DIE_from_attribute("DW_AT_type")  # type: ignore[attr-defined]


def read_prototypes(path: str | Path) -> dict[str, Prototype]:
    """Every function with a body in ``path``'s DWARF, by name; empty without DWARF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    found: dict[str, Prototype] = {}
    try:
        with open(path, "rb") as handle:
            elf = ELFFile(handle)
            if not elf.has_dwarf_info():
                return found
            dwarf = elf.get_dwarf_info()
            for unit in dwarf.iter_CUs():
                for die in unit.iter_DIEs():
                    if die.tag != "DW_TAG_subprogram" or "DW_AT_name" not in die.attributes:
                        continue
                    if "DW_AT_declaration" in die.attributes:
                        continue
                    name = die.attributes["DW_AT_name"].value.decode()
                    params: list[tuple[str, CType]] = []
                    variadic = False
                    for child in die.iter_children():
                        if child.tag == "DW_TAG_formal_parameter":
                            pname = child.attributes["DW_AT_name"].value.decode() if "DW_AT_name" in child.attributes else ""
                            params.append((pname, _ctype(_target(child))))
                        elif child.tag == "DW_TAG_unspecified_parameters":
                            variadic = True
                    found[name] = Prototype(name, _ctype(_target(die)), tuple(params), variadic)
    except (OSError, ELFError, KeyError, ValueError, AttributeError):
        # DWARF is a convenience here: unreadable debug info means "no prototypes",
        # never a failed run (the loader has already checked the file itself).
        return {}
    return found
