"""The compiler's runtime support a hobby kernel links: libgcc helpers and the stack protector.

64-bit division, modulo, shifts, comparisons and bit counts that gcc and
clang call on i386 (``__udivdi3``, ``__divdi3``, ``__umoddi3``, ``__moddi3``,
``__udivmoddi4``, ``__divmoddi4``, ``__ashldi3``, ``__ashrdi3``, ``__lshrdi3``,
``__popcountsi2``, ``__ctzdi2``, ``__ffsdi2``, ...) are raw code in kernel
text (``code.py``, compiled from ``libgcc.c`` by ``tools/gen-guest-code``): they
run on the emulated CPU at guest speed with no hook, and dividing by zero is
the CPU's divide error (#DE) at a ``div`` instruction, as on real hardware.

Stack-protector builds (``-fstack-protector*``, the distributions' default)
read the canary at ``%gs:0x14`` (gcc: the per-CPU area the kernel points GS
at) or from the global ``__stack_chk_guard`` (clang for a bare-metal
target, gcc ``-mstack-protector-guard=global``): both hold the kernel's one
random canary (``Kernel.percpu_area``). On failure they call ``__stack_chk_fail`` (or the hidden
``__stack_chk_fail_local`` of non-PIC code) when a function's canary was
overwritten: reported as a ``stack-smashed`` GuestFault naming the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_code, kernel_variable, service

from .code import CODE

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

HELPERS = [kernel_code(name, code) for name, code in CODE.items()]
# Written with the kernel's canary when the kernel is made (Kernel._place_percpu_area).
STACK_CHK_GUARD = kernel_variable("__stack_chk_guard", 4, 0)


def _smashed(k: Kernel) -> GuestFault:
    caller = k.current_caller
    # The call is a function's last instruction (it never returns), so the
    # return address may already be past its end: name the call itself.
    where = k.symbolizer.short(caller - 1)
    function = where.split("+")[0]
    return GuestFault(
        "stack-smashed",
        f"stack smashing detected in {function}: its stack canary was overwritten before it returned "
        f"(a local buffer overflowed), __stack_chk_fail called from {where}",
        pc=caller, address=caller, location=where,
    )


@service("void __stack_chk_fail(void)")
def __stack_chk_fail(k: Kernel) -> None:
    """The stack protector's report: never returns (a GuestFault ends the call)."""
    raise _smashed(k)


@service("void __stack_chk_fail_local(void)")
def __stack_chk_fail_local(k: Kernel) -> None:
    """The same for non-PIC code (gcc calls this local alias)."""
    raise _smashed(k)
