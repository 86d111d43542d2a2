"""What the compiler and kbuild make every module import.

``__fentry__`` (ftrace's entry hook, called at the start of every function)
and the static-call trampolines are tiny real code, not Python services: a
Python hook would cost microseconds on every guest function entry. The
retpoline thunks ``__x86_indirect_thunk_<reg>`` are *jumped* to with the
target in a register, so they must be real ``jmp *%reg`` instructions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_code, kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

RET = b"\xc3"
XOR_EAX_RET = b"\x31\xc0\xc3"

fentry = kernel_code("__fentry__", RET)
return_thunk = kernel_code("__x86_return_thunk", RET)

# jmp *%reg is FF /4 with mod=11: ModRM 0xE0 + register number.
_REGISTERS = {"eax": 0, "ecx": 1, "edx": 2, "ebx": 3, "ebp": 5, "esi": 6, "edi": 7}
indirect_thunks = [kernel_code(f"__x86_indirect_thunk_{reg}", bytes((0xFF, 0xE0 + n))) for reg, n in _REGISTERS.items()]

# Static calls (PREEMPT_DYNAMIC): modules call the trampolines directly.
static_calls = [
    kernel_code("__SCT__might_resched", XOR_EAX_RET),
    kernel_code("__SCT__cond_resched", XOR_EAX_RET),
    kernel_code("__SCT__preempt_schedule", RET),
    kernel_code("__SCT__preempt_schedule_notrace", RET),
]

STACK_CANARY = 0x5AFE5EED
stack_chk_guard = kernel_variable("__stack_chk_guard", 4, STACK_CANARY)


@service("void __stack_chk_fail(void)")
def __stack_chk_fail(k: Kernel) -> None:
    """-fstack-protector found the canary overwritten: the stack was smashed."""
    raise GuestFault(
        "stack-protector",
        f"stack-protector: kernel stack is corrupted in {k.symbolizer.short(k.current_caller)}",
        pc=k.current_caller,
    )
