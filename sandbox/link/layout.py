"""Section layout: which allocation and offset each SHF_ALLOC section gets.

Layout classes are data, as in Linux's module loader: text (RX), read-only
data (R) and writable data (RW), each starting on its own page so page
permissions can enforce them; and two allocations, core and init, so init
code and data can be released after init succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..elf import constants as c
from ..elf.image import ElfImage, Section
from ..machine.address_map import page_align_up
from ..machine.memory import R, W, X

# (class name, page permissions), in placement order within an allocation.
CLASSES: tuple[tuple[str, int], ...] = (("text", R | X), ("rodata", R), ("data", R | W))
INIT_PREFIXES = (".init.", ".init_")


def section_class(section: Section) -> str:
    """Layout class of an allocated section."""
    if section.sh_flags & c.SHF_EXECINSTR:
        return "text"
    if section.sh_flags & c.SHF_WRITE:
        return "data"
    return "rodata"


def is_init(section: Section) -> bool:
    """Whether the section is released after init (``.init.text``...)."""
    return section.name.startswith(INIT_PREFIXES) or section.name == ".init"


@dataclass(slots=True)
class Extent:
    """A page-aligned range of one allocation with one permission."""

    allocation: str  # "core" or "init"
    offset: int
    size: int
    perms: int
    label: str


@dataclass(slots=True)
class Layout:
    """Where every allocated section (and synthetic block) goes."""

    sizes: dict[str, int] = field(default_factory=dict)
    # section index -> (allocation, offset)
    placements: dict[int, tuple[str, int]] = field(default_factory=dict)
    # synthetic blocks ("got", "common") -> (allocation, offset)
    blocks: dict[str, tuple[str, int]] = field(default_factory=dict)
    extents: list[Extent] = field(default_factory=list)


def plan_layout(image: ElfImage, extra: dict[str, tuple[str, int, int]]) -> Layout:
    """Lay out ``image``'s allocated sections plus ``extra`` blocks.

    ``extra`` maps a block name to (class, size, alignment), e.g. the GOT in
    rodata and COMMON symbols in data; blocks always go in core.
    """
    layout = Layout()
    groups: dict[tuple[str, str], list[tuple[str | int, int, int]]] = {}
    for section in image.sections:
        if not section.is_alloc or section.sh_type == c.SHT_NULL:
            continue
        allocation = "init" if is_init(section) else "core"
        key = (allocation, section_class(section))
        groups.setdefault(key, []).append((section.index, section.sh_size, section.sh_addralign or 1))
    for name, (cls, size, align) in extra.items():
        groups.setdefault(("core", cls), []).append((name, size, align))
    for allocation in ("core", "init"):
        cursor = 0
        for cls, perms in CLASSES:
            members = groups.get((allocation, cls))
            if not members:
                continue
            start = cursor
            for key, size, align in members:
                cursor = (cursor + align - 1) // align * align
                if isinstance(key, int):
                    layout.placements[key] = (allocation, cursor)
                else:
                    layout.blocks[key] = (allocation, cursor)
                cursor += size
            cursor = page_align_up(max(cursor, start + 1))
            layout.extents.append(Extent(allocation, start, cursor - start, perms, f"{allocation} {cls}"))
        layout.sizes[allocation] = cursor
    return layout
