"""Static basic blocks of a module's functions, cut the way Unicorn cuts translation blocks.

A block ends after any jump, call or return (Unicorn ends a translation
block at each), and a new one starts at every jump target inside the
function. Coverage then counts a static block as hit when its first
instruction lies in a translated (hence executed) block.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ..arch import I386, Architecture
from ..link.plan import LinkPlan

_ENDS_BLOCK = ("call", "ret", "iret", "jmp", "ljmp", "lcall", "ud2", "hlt", "int", "int3", "into", "sysenter")


@dataclass(frozen=True, slots=True)
class Function:
    """A code symbol and its static blocks as [start, end) run-time ranges."""

    name: str
    start: int
    end: int
    blocks: tuple[tuple[int, int], ...]


def _ends_block(mnemonic: str) -> bool:
    return mnemonic in _ENDS_BLOCK or mnemonic.startswith(("j", "loop"))


def split_blocks(code: bytes, start: int, arch: Architecture = I386) -> tuple[tuple[int, int], ...]:
    """Basic blocks of the function whose bytes ``code`` start at ``start``."""
    end = start + len(code)
    insns = [(i.address, i.size, i.mnemonic, i.op_str) for i in arch.disassembler().disasm(code, start)]
    leaders = {start}
    for address, size, mnemonic, op_str in insns:
        if _ends_block(mnemonic):
            leaders.add(address + size)
            if op_str.startswith("0x"):
                target = int(op_str, 16)
                if start <= target < end:
                    leaders.add(target)
    starts = sorted(a for a in leaders if start <= a < end)
    decoded_end = insns[-1][0] + insns[-1][1] if insns else start
    bounds = [*starts[1:], decoded_end]
    return tuple((s, e) for s, e in zip(starts, bounds) if e > s)


def module_functions(plan: LinkPlan, aliases: Collection[str] = ()) -> list[Function]:
    """Every function of the module's code sections, with its blocks.

    Sizes come from the symbol table; a symbol without one (assembly label)
    runs to the next symbol or the end of its section. Aliases at one
    address are shown once, under the first name that is not one of
    ``aliases`` (the profile's entry-point names, as module_init's ``init_module``).
    """
    functions: list[Function] = []
    for index, entries in plan.section_symbols().items():
        section = plan.image.sections[index]
        base = plan.section_address(section)
        if not section.is_exec or base is None or section.is_nobits:
            continue
        section_end = base + section.sh_size
        # Sorting puts the real name ahead of entry-point aliases.
        entries = sorted(entries, key=lambda e: (e[0], e[2] in aliases, e[2]))
        seen: set[int] = set()
        for i, (address, size, name) in enumerate(entries):
            if address in seen or not base <= address < section_end:
                continue
            seen.add(address)
            nxt = next((e[0] for e in entries[i + 1 :] if e[0] > address), section_end)
            end = min(address + size, section_end) if size else nxt
            if end <= address:
                continue
            code = plan.read(address, end - address)
            functions.append(Function(name, address, end, split_blocks(code, address)))
    functions.sort(key=lambda f: f.start)
    return functions
