"""A Linux module's own exception table (``__ex_table``), honoured as arch/x86/mm/extable.c does.

Each entry (``struct exception_table_entry``, 12 bytes on x86) holds two
self-relative offsets, the instruction that may fault and where to resume,
and ``data``: the handler type in the low byte, a register number in bits
8-11, flags in 12-15 and a signed immediate in the top half. An inline user
access in a module (``get_user`` expanded in place, ``__get_user_asm``)
carries an entry; when its access faults the CPU resumes at the fixup with
the registers the handler type sets, instead of oopsing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unicorn import x86_const as x86

if TYPE_CHECKING:
    from .kernel import Kernel
    from .module import Module

ENTRY = struct.Struct("<iii")
EX_TYPE_DEFAULT, EX_TYPE_FAULT, EX_TYPE_UACCESS, EX_TYPE_COPY = 1, 2, 3, 4
EX_TYPE_WRMSR_SAFE, EX_TYPE_RDMSR_SAFE = 10, 11
EX_TYPE_DEFAULT_MCE_SAFE, EX_TYPE_FAULT_MCE_SAFE, EX_TYPE_IMM_REG = 14, 15, 17
EX_FLAG_CLEAR_AX, EX_FLAG_CLEAR_DX = 1, 2
X86_TRAP_PF = 14
EIO = 5
# pt_regs_nr: the ModRM register order
_REGISTERS = (x86.UC_X86_REG_EAX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_EBX,
              x86.UC_X86_REG_ESP, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI)
# Types whose handler is only about where to resume and which registers to set.
_HANDLED = {EX_TYPE_DEFAULT, EX_TYPE_FAULT, EX_TYPE_UACCESS, EX_TYPE_COPY, EX_TYPE_WRMSR_SAFE, EX_TYPE_RDMSR_SAFE,
            EX_TYPE_DEFAULT_MCE_SAFE, EX_TYPE_FAULT_MCE_SAFE, EX_TYPE_IMM_REG}


def handler(fixup: int, data: int) -> Callable[[Any], int]:
    """The fixup for one entry: sets registers as its type says, returns where to resume."""
    kind, reg, flags, imm = data & 0xFF, (data >> 8) & 0xF, (data >> 12) & 0xF, data >> 16

    def resume(regs: Any) -> int:
        if kind in (EX_TYPE_FAULT, EX_TYPE_COPY, EX_TYPE_FAULT_MCE_SAFE):
            regs.write(x86.UC_X86_REG_EAX, X86_TRAP_PF)  # ex_handler_fault: ax = trapnr
        elif kind == EX_TYPE_IMM_REG:
            regs.write(_REGISTERS[reg & 7], imm & 0xFFFFFFFF)
        elif kind in (EX_TYPE_WRMSR_SAFE, EX_TYPE_RDMSR_SAFE):
            if kind == EX_TYPE_RDMSR_SAFE:
                regs.write(x86.UC_X86_REG_EAX, 0)
                regs.write(x86.UC_X86_REG_EDX, 0)
            regs.write(_REGISTERS[reg & 7], -EIO & 0xFFFFFFFF)
        if flags & EX_FLAG_CLEAR_AX:
            regs.write(x86.UC_X86_REG_EAX, 0)
        if flags & EX_FLAG_CLEAR_DX:
            regs.write(x86.UC_X86_REG_EDX, 0)
        return fixup

    return resume


class ModuleCpuEntries:
    """Which addresses of the CPU's exception table each module put there (removed when it goes).

    Subclassed once per kind of table (``__ex_table`` here, ``__bug_table`` in
    :mod:`sandbox.bugtable`), so each kind is a per-kernel subsystem of its own.
    """

    def __init__(self) -> None:
        self.by_module: dict[str, list[int]] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drop the module's entries from the CPU's table; nothing to report as a leak."""
        for address in self.by_module.pop(module.name, []):
            k.cpu.extable.pop(address, None)
        return []

    @classmethod
    def forget(cls, k: Kernel, module: Module) -> None:
        """Remove the module's entries (a load that failed after they were installed)."""
        k.subsystem(cls).release_module(k, module)


class ModuleExceptionTables(ModuleCpuEntries):
    """The ``__ex_table`` entries each module installed."""


forget = ModuleExceptionTables.forget


def install(k: Kernel, module: Module) -> int:
    """Put the module's ``__ex_table`` entries into the CPU's exception table; returns how many."""
    plan = module.plan
    table = plan.entry_table("__ex_table", ENTRY.size)
    if table is None:
        return 0
    base, raw = table
    installed: list[int] = []
    skipped: dict[int, int] = {}
    for index, (insn, fixup, data) in enumerate(ENTRY.iter_unpack(raw)):
        entry = base + index * ENTRY.size
        kind = data & 0xFF
        if kind not in _HANDLED:
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        address = (entry + insn) & 0xFFFFFFFF
        k.cpu.extable[address] = handler((entry + 4 + fixup) & 0xFFFFFFFF, data)
        installed.append(address)
    if installed:
        k.subsystem(ModuleExceptionTables).by_module[module.name] = installed
    if skipped:
        kinds = ", ".join(f"type {kind} x{count}" for kind, count in sorted(skipped.items()))
        k.warn(f"{module.name}: __ex_table entries of kinds the sandbox does not handle left out ({kinds})")
    return len(installed)
