"""Fast access to the x86 registers of a Unicorn instance.

``Uc.reg_read`` costs about 2.2 us in unicorn 2.1's binding because it
dispatches on the register class on every call; the raw C entry point with a
reused ctypes buffer costs about 0.5 us. Service calls read and write a few
registers each, so this is on the hot path.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from unicorn import Uc
from unicorn import x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

GPR_NAMES = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags")
_GPR_IDS = {
    "eax": x86.UC_X86_REG_EAX,
    "ebx": x86.UC_X86_REG_EBX,
    "ecx": x86.UC_X86_REG_ECX,
    "edx": x86.UC_X86_REG_EDX,
    "esi": x86.UC_X86_REG_ESI,
    "edi": x86.UC_X86_REG_EDI,
    "ebp": x86.UC_X86_REG_EBP,
    "esp": x86.UC_X86_REG_ESP,
    "eip": x86.UC_X86_REG_EIP,
    "eflags": x86.UC_X86_REG_EFLAGS,
}

EAX = x86.UC_X86_REG_EAX
ECX = x86.UC_X86_REG_ECX
EDX = x86.UC_X86_REG_EDX
ESP = x86.UC_X86_REG_ESP
EBP = x86.UC_X86_REG_EBP
ESI = x86.UC_X86_REG_ESI
EIP = x86.UC_X86_REG_EIP
EFLAGS = x86.UC_X86_REG_EFLAGS


class Registers:
    """Read and write 32-bit registers through the raw C API."""

    def __init__(self, uc: Uc) -> None:
        self._handle = uc._uch
        self._buffer = ctypes.c_uint32()
        self._ref = ctypes.byref(self._buffer)
        self._read = uclib.uc_reg_read
        self._write = uclib.uc_reg_write

    def read(self, reg: int) -> int:
        """Value of register ``reg`` (a UC_X86_REG_* id)."""
        self._read(self._handle, reg, self._ref)
        return self._buffer.value

    def write(self, reg: int, value: int) -> None:
        """Set register ``reg`` to ``value`` (truncated to 32 bits)."""
        self._buffer.value = value & 0xFFFFFFFF
        self._write(self._handle, reg, self._ref)

    def reader(self, *regs: int) -> Callable[[], list[int]]:
        """A function returning the values of ``regs``, read in one C call.

        One ``uc_reg_read_batch`` costs about as much as two single reads,
        so reading four registers this way saves the cost of two.
        """
        count = len(regs)
        ids = (ctypes.c_int * count)(*regs)
        values = (ctypes.c_uint32 * count)()
        base = ctypes.addressof(values)
        pointers = (ctypes.c_void_p * count)(*(base + 4 * i for i in range(count)))
        batch, handle = uclib.uc_reg_read_batch, self._handle

        def read() -> list[int]:
            batch(handle, ids, pointers, count)
            return values[:]

        return read

    def dump(self) -> dict[str, int]:
        """All general-purpose registers by name, for fault reports."""
        return {name: self.read(reg) for name, reg in _GPR_IDS.items()}
