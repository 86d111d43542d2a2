"""32-bit x86 (i386): the architecture every module runs on today."""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_32
from unicorn import UC_ARCH_X86, UC_MODE_32
from unicorn import x86_const as x86

from ..link.reloc_types import RECIPES, reloc_type_name
from ..machine.registers import _GPR_IDS
from ..machine.relocator import RELOCATE_CODE
from ..services.callconv import CONVENTIONS
from .base import Architecture

I386 = Architecture(
    name="i386",
    word_size=4,
    uc_arch=UC_ARCH_X86,
    uc_mode=UC_MODE_32,
    cs_arch=CS_ARCH_X86,
    cs_mode=CS_MODE_32,
    registers=dict(_GPR_IDS),
    pc=x86.UC_X86_REG_EIP,
    sp=x86.UC_X86_REG_ESP,
    return_registers=(x86.UC_X86_REG_EAX, x86.UC_X86_REG_EDX),
    conventions=CONVENTIONS,
    relocations=RECIPES,
    relocation_name=reloc_type_name,
    relocate_code=RELOCATE_CODE,
)
