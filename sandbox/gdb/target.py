"""The i386 target as gdb sees it: register numbers, the target description, signals.

The target description names only the architecture: gdb then uses its own
default i386 register set (eax..gs, st0-7, the x87 control words, xmm0-7,
mxcsr), and a ``g`` reply that carries just the first 16 is legal — gdb asks
for the rest with ``p`` when it needs them. ``osabi`` is ``none`` so gdb
takes the module list from ``qXfer:libraries:read`` rather than looking for
a Linux dynamic linker.
"""

from __future__ import annotations

import signal

from unicorn import x86_const as x86

TARGET_XML = (
    '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
    "<target><architecture>i386</architecture><osabi>none</osabi></target>"
)

# gdb's i386 register numbers 0-15, in 'g' packet order.
GENERAL_REGISTERS = (
    x86.UC_X86_REG_EAX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_ESP, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI,
    x86.UC_X86_REG_EIP, x86.UC_X86_REG_EFLAGS,
    x86.UC_X86_REG_CS, x86.UC_X86_REG_SS, x86.UC_X86_REG_DS, x86.UC_X86_REG_ES,
    x86.UC_X86_REG_FS, x86.UC_X86_REG_GS,
)
EIP_NUMBER = 8

# Sizes of gdb's default i386 registers past the general ones: st0-7 (10
# bytes), fctrl..fop (4), xmm0-7 (16), mxcsr (4). Reported unavailable.
EXTRA_REGISTER_SIZES = (10,) * 8 + (4,) * 8 + (16,) * 8 + (4,)


def register_size(number: int) -> int | None:
    """Bytes of gdb register ``number``, None past the last."""
    if number < len(GENERAL_REGISTERS):
        return 4
    extra = number - len(GENERAL_REGISTERS)
    return EXTRA_REGISTER_SIZES[extra] if extra < len(EXTRA_REGISTER_SIZES) else None


# Which signal gdb is told for each GuestFault kind; anything else that
# stops the guest on a bad access is SIGSEGV.
_SIGNALS_BY_KIND = {
    "invalid-opcode": signal.SIGILL,
    "kernel-bug": signal.SIGILL,  # BUG(): a ud2 with a __bug_table entry
    "divide-error": signal.SIGFPE,
    "breakpoint": signal.SIGTRAP,
    "budget": signal.SIGXCPU,
    # memcheck findings that are not an access (found by kfree's checks)
    "heap-corruption": signal.SIGABRT,
    "double-free": signal.SIGABRT,
    "invalid-free": signal.SIGABRT,
}


def signal_for_fault(kind: str) -> int:
    """The POSIX signal number gdb shows for a GuestFault of ``kind``."""
    return int(_SIGNALS_BY_KIND.get(kind, signal.SIGSEGV))
