"""The libgcc helpers for kernels built with ``-mregparm=3`` (the generic-regparm profile).

gcc passes a library call's arguments the way the calling code was built,
so these are ``libgcc.c`` compiled with ``-mregparm=3`` too; the stack
protector's services and guard are the same as the cdecl profile's.
"""

from sandbox.services import kernel_code

from . import STACK_CHK_GUARD, __stack_chk_fail, __stack_chk_fail_local
from .code import CODE_REGPARM3

HELPERS = [kernel_code(name, code) for name, code in CODE_REGPARM3.items()]

__all__ = ["HELPERS", "STACK_CHK_GUARD", "__stack_chk_fail", "__stack_chk_fail_local"]
