"""64-bit arguments and results (``Int64``) placed as the convention places them, and the too-wide int error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Int64, Kernel, SandboxError

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
typedef unsigned long long u64; typedef long long s64;
u64 add64(u64 a, u64 b) { return a + b; }
/* int first: a in EAX, then b needs two registers: EDX:ECX; c goes on the stack */
u64 mixed(int a, u64 b, int c) { return b * 2 + (u64)(a + c); }
/* the u64 does not fit the last register: it goes on the stack, and so does the int after it */
s64 spill(int a, int b, s64 c, int d) { return c - a - b - d; }
u64 shift(u64 v, int n) { return v >> n; }
"""


@pytest.fixture(params=["linux", "generic"])
def wide(request: pytest.FixtureRequest, compile_c: Callable[..., Path]) -> tuple[Kernel, object]:
    profile = request.param
    flags = ("-mregparm=3",) if profile == "linux" else ()
    k = Kernel(profile, unresolved="trap")
    return k, k.load(compile_c(SOURCE, f"wide_{profile}", *flags))


def test_u64_arguments_and_results(wide) -> None:  # type: ignore[no-untyped-def]
    _k, m = wide
    big = 0x1_2345_6789
    assert m.call("add64", Int64(big), Int64(0xFFFF_FFFF), returns="u64") == big + 0xFFFF_FFFF
    assert m.call("mixed", 3, Int64(big), 4, returns="u64") == big * 2 + 7
    assert m.call("spill", 1, 2, Int64(-(1 << 40)), 3, returns="s64") == -(1 << 40) - 6
    assert m.call("shift", Int64(1 << 63), 62, returns="u64") == 2


def test_too_wide_plain_int_is_a_clear_error(wide) -> None:  # type: ignore[no-untyped-def]
    _k, m = wide
    with pytest.raises(SandboxError, match=r"does not fit 32 bits: pass Int64"):
        m.call("add64", 1 << 40, 0)


def test_cli_typed_64_bit_arguments(compile_c: Callable[..., Path]) -> None:
    path = compile_c(SOURCE, "wide_cli")
    out = subprocess.run([sys.executable, "-m", "sandbox", "run", str(path), "--call", "shift:u64", "0x8000000000000000:u64",
                          "62", "--trace", "none"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert "shift(" in out.stdout and "= 2" in out.stdout, out.stdout + out.stderr
