"""Pieces every benchmark shares: timing, the result line, a bare Unicorn caller."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from unicorn import Uc
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_ESP

from sandbox.machine import address_map as amap


def best_of(runs: int, func: Callable[[], object]) -> float:
    """Smallest wall time of ``runs`` calls of ``func``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, sandbox: float, baseline: float, unit: str, target: str) -> None:
    """One result line: figures, ratio and the target it is held to."""
    ratio = sandbox / baseline
    print(f"{name:<38} sandbox {sandbox:10.3f} {unit:<6} baseline {baseline:10.3f} {unit:<6} ratio {ratio:5.2f}  ({target})")


def bare_call(uc: Uc, stack_top: int, address: int, *args: int) -> int:
    """The bare Python->guest round trip the sandbox is measured against: stack, ESP, emu_start, EAX."""
    sp = stack_top - 4 * (len(args) + 1) - 16
    uc.mem_write(sp, struct.pack(f"<{len(args) + 1}I", amap.RETURN_TRAP, *args))
    uc.reg_write(UC_X86_REG_ESP, sp)
    uc.emu_start(address, amap.RETURN_TRAP)
    return uc.reg_read(UC_X86_REG_EAX)
