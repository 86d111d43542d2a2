"""Pieces every benchmark shares: timing, the result line, a bare Unicorn caller."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

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


def python_to_guest_times(module: Any, bare: Any, passes: int, rounds: int = 5000) -> tuple[float, float]:
    """Best time of ``rounds`` Python->guest calls of ``add(1, 2)`` through the sandbox and through
    ``bare`` (an object with ``call(address, *args)``), ``passes`` interleaved passes of each:
    a short loop on a shared machine is noisy. Returns (sandbox seconds, bare seconds) per ``rounds``."""
    add_addr = module.address_of("add")

    def sandbox_calls() -> None:
        for _ in range(rounds):
            module.call("add", 1, 2)

    def bare_calls() -> None:
        for _ in range(rounds):
            bare.call(add_addr, 1, 2)

    sandbox_t = bare_t = float("inf")
    for _ in range(passes):
        sandbox_t = min(sandbox_t, best_of(1, sandbox_calls))
        bare_t = min(bare_t, best_of(1, bare_calls))
    return sandbox_t, bare_t

