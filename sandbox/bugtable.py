"""BUG() and WARN(): a Linux module's ``__bug_table``, honoured as lib/bug.c's report_bug does.

On i386 (CONFIG_GENERIC_BUG without relative pointers, CONFIG_DEBUG_BUGVERBOSE)
each ``struct bug_entry`` is 12 bytes: the address of the ``ud2`` the macro
planted, the address of the source file name, the line (u16) and the flags
(u16). The ``ud2`` raises invalid-opcode; the CPU looks the pc up in its
exception table, where each entry here is a callable: a BUG() becomes a
GuestFault "kernel BUG at file:line!"; a WARN() prints Linux's "WARNING:"
line, records a warning and resumes after the ``ud2`` (handle_bug adds
LEN_UD2 to the ip). WARN_ON_ONCE entries report once, then mark themselves
done in the table as Linux does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import GuestFault
from .extable import ModuleCpuEntries

if TYPE_CHECKING:
    from .kernel import Kernel
    from .module import Module

ENTRY = struct.Struct("<IIHH")
BUGFLAG_WARNING, BUGFLAG_ONCE, BUGFLAG_DONE, BUGFLAG_NO_CUT_HERE = 1, 2, 4, 8
UD2 = b"\x0f\x0b"
KERN_CRIT, KERN_WARNING = 2, 4
CUT_HERE = "------------[ cut here ]------------\n"
_FILE_MAX = 256  # a file name longer than this is not one the compiler wrote


class ModuleBugTables(ModuleCpuEntries):
    """The ``__bug_table`` entries each module installed (removed from the CPU's table when it goes)."""


forget = ModuleBugTables.forget


def _file_name(k: Kernel, address: int) -> str:
    if address == 0 or k.memory.region_at(address) is None:
        return "?"
    raw = k.memory.read(address, _FILE_MAX)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def handler(k: Kernel, ud2: int, entry: int) -> Callable[[Any], int]:
    """What the CPU does at one bug site: report, then fault (BUG) or resume after the ud2 (WARN)."""

    def report(regs: Any) -> int:
        _, file_at, line, flags = ENTRY.unpack(k.memory.read(entry, ENTRY.size))
        where = f"{_file_name(k, file_at)}:{line}"
        location = k.symbolizer.short(ud2)
        if not flags & BUGFLAG_WARNING:
            if not flags & BUGFLAG_NO_CUT_HERE:
                k.console_write(CUT_HERE)  # printk(KERN_DEFAULT CUT_HERE)
            k.console_write(f"kernel BUG at {where}!\n", KERN_CRIT)
            fault = k.cpu.build_fault("invalid-opcode", "ud2", ud2)
            headline = f"kernel BUG at {where}! ({location})"
            raise GuestFault("kernel-bug", headline, pc=ud2, location=location, instruction=fault.instruction,
                             registers=fault.registers, report=headline + "\n\n" + fault.report)
        if flags & BUGFLAG_ONCE:
            if flags & BUGFLAG_DONE:
                return ud2 + len(UD2)
            k.memory.write_raw(entry + 10, struct.pack("<H", flags | BUGFLAG_DONE))
        if not flags & BUGFLAG_NO_CUT_HERE:
            k.console_write(CUT_HERE)
        k.console_write(f"WARNING: CPU: 0 PID: 0 at {where} {location}\n", KERN_WARNING)
        k.warn(f"WARNING at {where} {location}")
        return ud2 + len(UD2)

    return report


def install(k: Kernel, module: Module) -> int:
    """Put the module's ``__bug_table`` sites into the CPU's exception table; returns how many."""
    plan = module.plan
    table = plan.entry_table("__bug_table", ENTRY.size)
    if table is None:
        return 0
    base, raw = table
    installed: list[int] = []
    extable = k.cpu.extable
    for index, (address, _file, _line, _flags) in enumerate(ENTRY.iter_unpack(raw)):
        # exc_invalid_op tries handle_bug before the exception table: a bug entry wins
        extable[address] = handler(k, address, base + index * ENTRY.size)
        installed.append(address)
    if installed:
        k.subsystem(ModuleBugTables).by_module[module.name] = installed
    return len(installed)
