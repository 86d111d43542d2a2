"""CPU control state: the flat protected-mode set-up every top-level call starts from.

One instruction can make a CPU unusable for everything after it: ``popf``
with TF set (every later instruction traps), ``mov cr0`` with PG set (every
access page-faults), ``mov ds, 0``, ``lgdt`` of garbage, a debug register
armed. So the kernel keeps a *clean* CPU context — a real GDT with flat
code and data segments in a read-only page, EFLAGS with only IF set, the
CR0/CR3/CR4 and debug registers Unicorn starts with — and each top-level
call starts from it (one ``uc_context_restore``, ~0.3 us). At the end of a
top-level call one raw context save and a compare (~0.6 us) tell whether the guest
changed any of it (see :class:`_ContextProbe`); if so the call is reported (a ``cpu-state`` fault naming
each change) and the next call starts clean anyway.

The third GDT entry is a data segment whose base is settable
(:meth:`ControlState.set_segment_base`): a per-CPU area for ``%gs:``/``%fs:``
stack-protector canaries, kept across resets.
"""

from __future__ import annotations

import ctypes
import struct

from unicorn import Uc
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

from . import address_map as amap
from .memory import GuestMemory, R, X

KERNEL_CS = 0x08
KERNEL_DS = 0x10
PERCPU_SEG = 0x18  # data segment with a settable base (per-CPU area / canary)

TF, IF, DF, IOPL, NT, RF, VM, AC = 0x100, 0x200, 0x400, 0x3000, 0x4000, 0x10000, 0x20000, 0x40000
VIF, VIP, ID = 0x80000, 0x100000, 0x200000
CLEAN_EFLAGS = 0x2 | IF
# The EFLAGS bits that are control state rather than arithmetic results. IF
# is left out: the interrupt flag is the interrupt model's business
# (interrupts.py), which warns about it like the service-level flag.
EFLAGS_CONTROL = TF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID
_EFLAGS_NAMES = {TF: "TF", DF: "DF", IOPL: "IOPL", NT: "NT", RF: "RF", VM: "VM", AC: "AC",
                 VIF: "VIF", VIP: "VIP", ID: "ID"}

# Read in one uc_reg_read_batch at the end of every top-level call; EFLAGS first.
_WATCHED = (
    ("EFLAGS", x86.UC_X86_REG_EFLAGS), ("CR0", x86.UC_X86_REG_CR0), ("CR3", x86.UC_X86_REG_CR3),
    ("CR4", x86.UC_X86_REG_CR4), ("DR7", x86.UC_X86_REG_DR7), ("CS", x86.UC_X86_REG_CS),
    ("DS", x86.UC_X86_REG_DS), ("ES", x86.UC_X86_REG_ES), ("FS", x86.UC_X86_REG_FS),
    ("GS", x86.UC_X86_REG_GS), ("SS", x86.UC_X86_REG_SS),
)
_SEGMENTS = (
    (x86.UC_X86_REG_CS, KERNEL_CS), (x86.UC_X86_REG_SS, KERNEL_DS), (x86.UC_X86_REG_DS, KERNEL_DS),
    (x86.UC_X86_REG_ES, KERNEL_DS), (x86.UC_X86_REG_FS, KERNEL_DS), (x86.UC_X86_REG_GS, PERCPU_SEG),
)


def _descriptor(base: int, access: int) -> bytes:
    """A 4 GiB, 32-bit, page-granular segment descriptor (accessed bit preset:
    the CPU never writes the read-only table)."""
    limit = 0xFFFFF
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       (limit >> 16) | 0xC0, (base >> 24) & 0xFF)


class ControlState:
    """The clean CPU context, and the check that a call left it alone."""

    def __init__(self, uc: Uc, memory: GuestMemory) -> None:
        self._uc = uc
        self._memory = memory
        self._handle = uc._uch
        self.segment_base = 0
        self.dirty = False  # the last call changed it: flush the TLB at the next reset
        memory.map(amap.DESCRIPTOR_BASE, amap.PAGE_SIZE, R, "descriptor tables (GDT)")
        count = len(_WATCHED)
        self._ids = (ctypes.c_int * count)(*[reg for _, reg in _WATCHED])
        self._values = (ctypes.c_uint64 * count)()
        base = ctypes.addressof(self._values)
        self._pointers = (ctypes.c_void_p * count)(*[base + 8 * i for i in range(count)])
        self._count = count
        self._rest_address = base + 8
        self._rest_size = 8 * (count - 1)
        memory.map(amap.RETURN_CHECK_BASE, amap.PAGE_SIZE, R | X, "return path (control-state check)")
        self._read_batch = uclib.uc_reg_read_batch
        self._restore = uclib.uc_context_restore
        self._build()

    def _build(self) -> None:
        """Write the GDT, load the segments and flags, and capture the clean context."""
        uc = self._uc
        gdt = bytes(8) + _descriptor(0, 0x9B) + _descriptor(0, 0x93) + _descriptor(self.segment_base, 0x93)
        self._memory.write_raw(amap.DESCRIPTOR_BASE, gdt)
        uc.reg_write(x86.UC_X86_REG_GDTR, (0, amap.DESCRIPTOR_BASE, len(gdt) - 1, 0))
        for reg, selector in _SEGMENTS:
            uc.reg_write(reg, selector)
        uc.reg_write(x86.UC_X86_REG_EFLAGS, CLEAN_EFLAGS)
        self.clean = uc.context_save()
        self._clean_context = self.clean.context
        self._read_batch(self._handle, self._ids, self._pointers, self._count)
        self.clean_values = list(self._values)
        self._clean_rest = ctypes.string_at(self._rest_address, self._rest_size)
        self.clean_tables = (uc.reg_read(x86.UC_X86_REG_GDTR), uc.reg_read(x86.UC_X86_REG_IDTR))
        self._write_return_check()

    def _write_return_check(self) -> None:
        """Write the guest code every top-level call returns through (see :func:`return_check_code`)."""
        values = dict(zip([name for name, _ in _WATCHED], self.clean_values))
        gdtr = self.clean_tables[0]
        code = return_check_code(values, gdtr[1], gdtr[2])
        self._memory.write_raw(amap.RETURN_CHECK_BASE, code)
        self._uc.ctl_flush_tb()  # the clean values are immediates in the code

    def set_segment_base(self, base: int) -> None:
        """Give the per-CPU segment (GS, selector 0x18) a base; every later call starts with it."""
        self.segment_base = base & 0xFFFFFFFF
        self._build()

    def reset(self) -> None:
        """Put the CPU back to the clean context (general registers included)."""
        self._restore(self._handle, self._clean_context)
        if self.dirty:
            self.dirty = False
            self.flush()

    def check(self) -> int | None:
        """EFLAGS if the control state is as clean (IF aside), else None (see :meth:`changes`)."""
        self._read_batch(self._handle, self._ids, self._pointers, self._count)
        eflags = self._values[0]
        if (eflags & EFLAGS_CONTROL == 0 and ctypes.string_at(self._rest_address, self._rest_size) == self._clean_rest
                and (self._uc.reg_read(x86.UC_X86_REG_GDTR), self._uc.reg_read(x86.UC_X86_REG_IDTR)) == self.clean_tables):
            return eflags
        return None

    def changes(self) -> list[str]:
        """What differs from the clean state, as of the last :meth:`check` (one line each)."""
        found = []
        eflags = self._values[0]
        bits = [name for bit, name in _EFLAGS_NAMES.items() if eflags & bit]
        if bits:
            found.append(f"EFLAGS {eflags:#x}: {'+'.join(bits)} set")
        for (name, _), value, clean in list(zip(_WATCHED, self._values, self.clean_values))[1:]:
            if value != clean:
                found.append(f"{name} {clean:#x} -> {value:#x}{_meaning(name, clean, value)}")
        uc = self._uc
        for name, reg, clean_table in (("GDTR", x86.UC_X86_REG_GDTR, self.clean_tables[0]),
                                       ("IDTR", x86.UC_X86_REG_IDTR, self.clean_tables[1])):
            table = uc.reg_read(reg)
            if table != clean_table:
                found.append(f"{name} base {clean_table[1]:#x} limit {clean_table[2]:#x} -> "
                             f"base {table[1]:#x} limit {table[2]:#x}")
        if not found:
            found.append("a segment register's hidden descriptor (loaded from another table)")
        return found

    @property
    def eflags(self) -> int:
        """EFLAGS as of the last :meth:`check`."""
        return self._values[0]

    def flush(self) -> None:
        """Drop TLB entries a guest's paging left behind (after a reset from a changed CR0/CR3/CR4)."""
        self._uc.ctl(ucc.UC_CTL_TLB_FLUSH, ucc.UC_CTL_IO_WRITE)


# Where the return check sends a call: CLEAN_END is the ``until`` address of
# every top-level emu_start (execution stops there, nothing runs), DIRTY_END
# lies in an unmapped page (the fetch fault tells the CPU to look closer).
TASK_RETURN = amap.RETURN_CHECK_BASE
IRQ_RETURN = amap.RETURN_CHECK_BASE + 0x100
CLEAN_END = amap.RETURN_CHECK_BASE + 0x200
DIRTY_END = amap.RETURN_CHECK_BASE + amap.PAGE_SIZE

_SEGMENT_MODRM = {"ES": 0xC3, "CS": 0xCB, "SS": 0xD3, "DS": 0xDB, "FS": 0xE3, "GS": 0xEB}  # mov bx, sreg
_CONTROL_MODRM = {"CR0": (0x20, 0xC3), "CR3": (0x20, 0xDB), "CR4": (0x20, 0xE3), "DR7": (0x21, 0xFB)}  # mov ebx, creg


def return_check_code(clean: dict[str, int], gdt_base: int, gdt_limit: int) -> bytes:
    """Guest code that checks, at guest speed, that a returning call left the control state clean.

    A top-level call returns to it (TASK_RETURN, or IRQ_RETURN where IF is
    expected clear) instead of to the host trap: it XORs EFLAGS' control
    bits, every segment selector, CR0/CR3/CR4, DR7 and the GDTR with their
    clean values, ORs the differences together, and jumps to CLEAN_END (the
    call is over) or DIRTY_END. Branch-free until then, so it is one or two
    translation blocks: a clean return costs well under a microsecond and
    no host work; only a dirty one is read out register by register. EAX
    and EDX (the result) are kept; ECX and EBX (the call is over) are used.
    """

    def diff_into_ecx(value: int) -> bytes:  # xor ebx, value; or ecx, ebx
        return b"\x81\xf3" + struct.pack("<I", value & 0xFFFFFFFF) + b"\x09\xd9"

    def common(code: bytearray, base: int) -> None:
        for name, modrm in _SEGMENT_MODRM.items():
            code += b"\x31\xdb" + bytes((0x66, 0x8C, modrm)) + diff_into_ecx(clean[name] & 0xFFFF)
        for name, (opcode, modrm) in _CONTROL_MODRM.items():
            code += bytes((0x0F, opcode, modrm)) + diff_into_ecx(clean[name])
        code += b"\x83\xec\x08\x0f\x01\x04\x24"  # sub esp, 8; sgdt [esp]
        code += b"\x0f\xb7\x1c\x24" + diff_into_ecx(gdt_limit)  # movzx ebx, word [esp]
        code += b"\x8b\x5c\x24\x02" + diff_into_ecx(gdt_base)  # mov ebx, [esp+2]
        code += b"\x83\xc4\x08"  # add esp, 8: ESP as the callee left it (callee-pops conventions are checked)
        code += b"\x85\xc9"  # test ecx, ecx
        code += b"\x0f\x85" + struct.pack("<i", DIRTY_END - (base + len(code) + 6))  # jnz DIRTY_END
        code += b"\xe9" + struct.pack("<i", CLEAN_END - (base + len(code) + 5))  # jmp CLEAN_END

    task = bytearray(b"\x9c\x59")  # pushfd; pop ecx
    task += b"\x81\xe1" + struct.pack("<I", EFLAGS_CONTROL | IF)  # and ecx, control|IF
    task += b"\x81\xf1" + struct.pack("<I", IF)  # xor ecx, IF: zero when IF is on and nothing else
    common(task, TASK_RETURN)
    irq = bytearray(b"\x9c\x59")
    irq += b"\x81\xe1" + struct.pack("<I", EFLAGS_CONTROL)  # and ecx, control (IF is the handler's)
    common(irq, IRQ_RETURN)
    assert len(task) <= IRQ_RETURN - TASK_RETURN and len(irq) <= CLEAN_END - IRQ_RETURN
    return bytes(task.ljust(IRQ_RETURN - TASK_RETURN, b"\xf4") + irq.ljust(CLEAN_END - IRQ_RETURN, b"\xf4")) + b"\xf4"


_CR0_BITS = (("PG", 1 << 31), ("CD", 1 << 30), ("NW", 1 << 29), ("WP", 1 << 16), ("PE", 1))


def _meaning(name: str, clean: int, value: int) -> str:
    """A few words on what a changed register does, for the report."""
    if name == "CR0":
        changed = [f"{flag} {'set' if value & bit else 'cleared'}" for flag, bit in _CR0_BITS if (clean ^ value) & bit]
        return f" ({', '.join(changed)})" if changed else ""
    if name in ("CS", "DS", "ES", "FS", "GS", "SS") and value & ~3 == 0:
        return " (null selector)"
    if name == "DR7" and value & 0xFF:
        return " (hardware breakpoint armed)"
    return ""
