"""Load-time instruction patching of a Linux module: ``.altinstructions`` and ``.parainstructions``.

As Linux 6.1's module_finalize does before a module runs:

* ``apply_alternatives`` (arch/x86/kernel/alternative.c): each ``struct
  alt_instr`` (12 bytes: self-relative offsets of the original and of the
  replacement, the feature bit in ``cpuid`` with bit 15 meaning "patch when
  the feature is absent", then both lengths) whose condition holds on the
  emulated CPU has its replacement copied over the original, a ``call`` or
  ``jmp`` in it re-aimed from where the replacement was assembled, the rest
  padded with NOPs.
* ``apply_paravirt``: each ``struct paravirt_patch_site`` (8 bytes on i386:
  the site's address, the ``pv_ops`` slot, the site's length) is an
  indirect ``call *pv_ops+4*slot``; natively (no Xen) it becomes a direct
  call to the operation ``pv_ops`` holds, padded with NOPs (``paravirt_patch_call``);
  a site of an empty slot keeps its call through NULL (Linux calls BUG there). A site that is not that call is left
  alone, with a warning.

``.smp_locks`` needs nothing: on one CPU a ``lock`` prefix is harmless.
Debian's 686 modules carry no ``.retpoline_sites``/``.return_sites``/``.call_sites``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernel import Kernel
    from .module import Module

ALT = struct.Struct("<iiHBB")
PARAVIRT_SITE = struct.Struct("<IBBxx")
ALTINSTR_FLAG_INV = 1 << 15
NOP = 0x90
_MAX_INSTR = 255


def _in_module(plan: object, address: int, size: int) -> bool:
    return any(base <= address and address + size <= base + len(plan.memory[name])  # type: ignore[attr-defined]
               for name, base in plan.bases.items())  # type: ignore[attr-defined]


def _rel32(value: int) -> bytes:
    return struct.pack("<i", (value + 2**31) % 2**32 - 2**31)


def _reaim(code: bytearray, replacement: int, site: int, room: int) -> bytearray:
    """A ``call``/``jmp`` assembled at ``replacement`` keeps its target once copied to ``site``.

    As apply_alternatives' call fix-up and recompute_jump: a rel32 call or
    jump is re-aimed; a short jump stays short if it still reaches, else
    becomes a near jump when the site has ``room`` for one.
    """
    if len(code) == 5 and code[0] in (0xE8, 0xE9):
        target = replacement + 5 + struct.unpack_from("<i", code, 1)[0]
        return bytearray(code[:1] + _rel32(target - (site + 5)))
    if len(code) == 2 and code[0] == 0xEB:
        target = replacement + 2 + struct.unpack_from("<b", code, 1)[0]
        if -128 <= target - (site + 2) <= 127:
            return bytearray([0xEB, (target - (site + 2)) & 0xFF])
        if room >= 5:
            return bytearray(b"\xe9" + _rel32(target - (site + 5)))
    return code


def apply_alternatives(k: Kernel, module: Module) -> int:
    """Patch the module's ``.altinstructions`` sites for the emulated CPU's features; returns how many."""
    plan = module.plan
    table = plan.entry_table(".altinstructions", ALT.size)
    if table is None:
        return 0
    from kernel_stubs.linux.platform import cpu_has  # the CPU the Linux profile presents

    base, raw = table
    patched = 0
    for index, (instr_off, repl_off, cpuid, instrlen, repllen) in enumerate(ALT.iter_unpack(raw)):
        entry = base + index * ALT.size
        feature = cpuid & ~ALTINSTR_FLAG_INV
        if cpu_has(feature) == bool(cpuid & ALTINSTR_FLAG_INV):
            continue  # the original stays (Linux only re-optimizes its NOP padding)
        site = (entry + instr_off) & 0xFFFFFFFF
        replacement = (entry + 4 + repl_off) & 0xFFFFFFFF
        if repllen > instrlen or not _in_module(plan, site, instrlen) or not _in_module(plan, replacement, repllen):
            raise plan.error(".altinstructions", f"entry {index}: site {site:#x} ({instrlen} bytes) or replacement "
                                                 f"{replacement:#x} ({repllen} bytes) does not fit the module")
        code = bytearray(plan.read(replacement, repllen))
        code = _reaim(code, replacement, site, instrlen)
        code += bytes([NOP]) * (instrlen - len(code))
        k.memory.write_raw(site, bytes(code))
        k.cpu.uc.ctl_remove_cache(site, site + instrlen)
        patched += 1
    return patched


def apply_paravirt(k: Kernel, module: Module) -> int:
    """Patch the module's ``.parainstructions`` sites to direct calls of the native operations."""
    plan = module.plan
    table = plan.entry_table(".parainstructions", PARAVIRT_SITE.size)
    if table is None:
        return 0
    pv_ops = k.export_address("pv_ops")
    _, raw = table
    patched = 0
    for index, (site, slot, length) in enumerate(PARAVIRT_SITE.iter_unpack(raw)):
        if not _in_module(plan, site, length):
            raise plan.error(".parainstructions", f"entry {index}: site {site:#x} ({length} bytes) is outside the module")
        current = plan.read(site, length)
        if pv_ops is None or length < 6 or current[:2] != b"\xff\x15" or \
                struct.unpack_from("<I", current, 2)[0] != pv_ops + 4 * slot:
            k.warn(f"{module.name}: .parainstructions entry {index} at {site:#x} is not a call through "
                   f"pv_ops slot {slot} ({current.hex()}); left alone")
            continue
        operation = int.from_bytes(k.memory.read(pv_ops + 4 * slot, 4), "little")
        if not operation:
            continue  # an empty slot: the call through NULL stays, and faults as a null-pointer call would
        code = b"\xe8" + _rel32(operation - (site + 5)) + bytes([NOP]) * (length - 5)
        k.memory.write_raw(site, bytes(code))
        k.cpu.uc.ctl_remove_cache(site, site + length)
        patched += 1
    return patched
