"""ELF as a registered module format: the reader in ``sandbox/elf``, the planner in ``sandbox/link``.

Relocatable objects (``.o``, ``ld -r`` ``.ko``), shared objects and ``ld -q``
executables are all ELF; ``sandbox.link.plan.link_module`` picks the plan by
``e_type``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..elf import constants as c
from ..elf.image import ElfImage
from ..link.plan import GOT_SYMBOL, LinkPlan, link_module
from .base import ModuleFormat


class ElfFormat(ModuleFormat):
    """32-bit little-endian i386 ELF: ET_REL, ET_DYN and ET_EXEC modules."""

    name = "ELF"
    magic_hint = "\\x7fELF"

    def matches(self, data: bytes) -> bool:
        return data[:4] == c.ELFMAG

    def open(self, data: bytes, path: str) -> ElfImage:
        return ElfImage(data, path)

    def plan(self, image: ElfImage) -> LinkPlan:
        return link_module(image)

    def provides(self, image: ElfImage) -> set[str]:
        """``__ksymtab_strings``, or for a shared object its global dynamic functions and objects."""
        strings = image.section_by_name("__ksymtab_strings")
        if strings is not None:
            return {n.decode("utf-8", "replace") for n in bytes(image.section_bytes(strings)).split(b"\0") if n}
        table = image.dynsym if image.e_type == c.ET_DYN else None
        if table is None:
            return set()
        return {
            table.names[i] for i in range(1, table.count)
            if table.st_shndx[i] != c.SHN_UNDEF and table.st_info[i] >> 4 == c.STB_GLOBAL
            and table.st_info[i] & 0xF in (c.STT_FUNC, c.STT_OBJECT)
        }

    def imports(self, image: ElfImage) -> set[str]:
        table = image.dynsym if image.e_type == c.ET_DYN and image.dynsym is not None else image.symtab
        if table is None:
            return set()
        indices = range(1, table.count)
        if image.e_type == c.ET_EXEC:
            # An executable's undefined symbol no relocation uses needs no
            # provider (`ld -q`'s `_start`): the loader does not bind it either.
            used: set[int] = set()
            for reloc in image.reloc_tables:
                if reloc.symtab is table:
                    used.update(reloc.r_sym)
            indices = sorted(used & set(indices))  # type: ignore[assignment]
        return {
            table.names[i] for i in indices
            if table.st_shndx[i] == c.SHN_UNDEF and table.names[i] and table.st_info[i] >> 4 != c.STB_WEAK
            and table.names[i] != GOT_SYMBOL
        }

    def required_modules(self, image: ElfImage) -> set[str]:
        found = super().required_modules(image)
        if image.e_type == c.ET_DYN:
            from ..link.segments import _dynamic_needed

            found.update(Path(n).name.split(".")[0].replace("-", "_") for n in _dynamic_needed(image))
        return found

    def check_vermagic(self, image: Any, expected: str) -> None:
        from ..modfile import check_vermagic

        check_vermagic(image, expected)


ELF_FORMAT = ElfFormat()
