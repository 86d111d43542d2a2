"""Symbol tables as parallel arrays, with their string table checked (17, 19, G1, G4, G5)."""

from __future__ import annotations

from array import array
from itertools import compress, repeat

from . import constants as c
from .arrays import first_at_or_above, le_array
from .errors import Refuser
from .sections import Section
from .strings import NamesTooLong, decode_name, names_at, suffix_budget

# st_shndx values that name no section of the table but are still valid.
_SPECIAL_SHNDX = frozenset({c.SHN_UNDEF, c.SHN_ABS, c.SHN_COMMON})


class SymbolTable:
    """One SHT_SYMTAB or SHT_DYNSYM, decoded into per-field sequences.

    Every sequence is indexed by symbol index (entry 0 is the null symbol):
    ``names[i]`` (str), ``st_name``, ``st_value``, ``st_size`` (``array('I')``),
    ``st_info``, ``st_other`` (``array('B')``), ``st_shndx`` (``array('H')``).
    ``section`` is the table's own Section, ``strtab`` the string table's.

    Every name offset is checked at parse time, but ``names`` is decoded on
    first use: loading a module needs only the names of its undefined
    symbols (:meth:`name`) and a few lookups (:meth:`indices_named`), and
    decoding a whole table costs more than relocating the module.
    """

    __slots__ = ("_budget", "_names", "_refuse", "_strings", "count", "section", "st_info", "st_name", "st_other", "st_shndx", "st_size",
                 "st_value", "strtab")

    def __init__(self, section: Section, data: bytes, sections: list[Section], refuse: Refuser) -> None:
        self.section = section
        what = f"symbol table {section.label()}"
        if section.sh_entsize != c.SYM_SIZE:
            refuse("sh_entsize", f"{what} has entry size {section.sh_entsize}, expected {c.SYM_SIZE}")
        if section.sh_size % c.SYM_SIZE:
            refuse("sh_entsize", f"{what} size {section.sh_size:#x} is not a multiple of its entry size {c.SYM_SIZE}")
        self.strtab = strtab = _string_table(section, sections, refuse)
        strings = data[strtab.sh_offset : strtab.sh_offset + strtab.sh_size]
        if not strings or strings[0] != 0 or strings[-1] != 0:
            problem = "empty" if not strings else "missing its leading NUL" if strings[0] else "not NUL-terminated"
            refuse("strtab", f"string table {strtab.label()} of {what} is {problem}")
        raw = data[section.sh_offset : section.sh_offset + section.sh_size]
        # Elf32_Sym is four 32-bit words: st_name, st_value, st_size, then
        # st_info/st_other/st_shndx packed in the fourth. Strided slices of one
        # array pick each field out in C, with no per-symbol Python code.
        words = le_array("I", raw)
        self.count = len(words) // 4
        self.st_name = words[0::4]
        self.st_value = words[1::4]
        self.st_size = words[2::4]
        self.st_info = array("B", raw[12::c.SYM_SIZE])
        self.st_other = array("B", raw[13::c.SYM_SIZE])
        self.st_shndx = le_array("H", raw)[7::8]
        self._strings = strings
        self._names: list[str] | None = None
        self._refuse = refuse
        self._budget = suffix_budget(strings)  # characters single-name decoding may still produce
        bad = first_at_or_above(self.st_name, len(strings))
        if bad is not None:
            refuse("st_name", f"symbol {bad} in {what} has name offset {self.st_name[bad]:#x}, "
                   f"past the end of its string table {strtab.label()} ({len(strings)} bytes)")
        self._check_shndx(len(sections), refuse)

    @property
    def names(self) -> list[str]:
        """Every symbol's name, by index (decoded on first use; LoadError past the decoding budget)."""
        if self._names is None:
            try:
                self._names, _ = names_at(self._strings, self.st_name)
            except NamesTooLong as error:
                self._too_long(error.position, error.budget)
        return self._names  # type: ignore[return-value]

    def name(self, index: int) -> str:
        """The name of symbol ``index`` alone, without decoding the table."""
        if self._names is not None:
            return self._names[index]
        offset = self.st_name[index]
        end = self._strings.index(b"\0", offset)
        # The same bound as a whole-table decode: 20,000 symbols named at
        # offsets into one long string must not decode gigabytes one by one.
        self._budget -= end - offset
        if self._budget < 0:
            self._too_long(index, suffix_budget(self._strings))
        return decode_name(self._strings[offset:end])

    def _too_long(self, position: int, budget: int) -> None:
        self._refuse("strtab", f"names of symbol table {self.section.label()} at mid-string offsets of "
                     f"{self.strtab.label()} total more than {budget} characters (at symbol {position})")

    def names_of(self, indices: list[int]) -> list[str]:
        """:meth:`name` for many symbols at once (each step a ``map`` in C)."""
        if self._names is not None:
            return [self._names[i] for i in indices]
        strings = self._strings
        starts = list(map(self.st_name.__getitem__, indices))
        ends = list(map(strings.index, repeat(b"\0"), starts))
        self._budget -= sum(ends) - sum(starts)
        if self._budget < 0:
            self._too_long(indices[-1], suffix_budget(strings))
        return list(map(decode_name, map(strings.__getitem__, map(slice, starts, ends))))

    def indices_named(self, name: str) -> list[int]:
        """Indices of every symbol called ``name``, in order, without decoding the table.

        A name may start anywhere its text ends in NUL (linkers share
        suffixes), so every such place in the string table is a candidate.
        """
        wanted = name.encode() + b"\0"
        offsets: set[int] = set()
        position = self._strings.find(wanted, 1)
        while position >= 0:
            offsets.add(position)
            position = self._strings.find(wanted, position + 1)
        if not offsets:
            return []
        return list(compress(range(self.count), map(offsets.__contains__, self.st_name)))

    def _check_shndx(self, section_count: int, refuse: Refuser) -> None:
        # A set of the distinct values is built in C; only if one is out of
        # range does Python walk the symbols to name the first offender.
        wrong = {s for s in set(self.st_shndx) if s >= section_count and s not in _SPECIAL_SHNDX}
        if not wrong:
            return
        index = next(i for i, s in enumerate(self.st_shndx) if s in wrong)
        shndx = self.st_shndx[index]
        who = f"symbol {index} {self.names[index]!r} in {self.section.label()}"
        if shndx == c.SHN_XINDEX:
            refuse("shn-xindex", f"{who} uses SHN_XINDEX (extended section index), which is not supported")
        refuse("st_shndx", f"{who} refers to section {shndx:#x}, but there are {section_count} sections")

    def bind(self, index: int) -> int:
        """STB_* binding of symbol ``index``."""
        return self.st_info[index] >> 4

    def type(self, index: int) -> int:
        """STT_* type of symbol ``index``."""
        return self.st_info[index] & 0xF

    def label(self, index: int) -> str:
        """``symbol 5 'foo'``: how messages name a symbol."""
        return f"symbol {index} {self.names[index]!r}"

    def index_of(self, name: str) -> int | None:
        """Index of the first non-local symbol named ``name`` (else the first local), or None.

        For tools and tests only: binding goes by index, since a local and a
        global may share a name.
        """
        found = None
        for i in self.indices_named(name):
            if self.st_info[i] >> 4 != c.STB_LOCAL:
                return i
            if found is None:
                found = i
        return found


def _string_table(section: Section, sections: list[Section], refuse: Refuser) -> Section:
    """Check 17 and G4: sh_link names an existing SHT_STRTAB."""
    link = section.sh_link
    if link == 0 or link >= len(sections):
        refuse("symtab-link", f"symbol table {section.label()} links to string table [{link}], which does not exist")
    strtab = sections[link]
    if strtab.sh_type != c.SHT_STRTAB:
        refuse("symtab-link", f"symbol table {section.label()} links to {strtab.label()}, which is not SHT_STRTAB "
               f"(type {strtab.sh_type})")
    return strtab
