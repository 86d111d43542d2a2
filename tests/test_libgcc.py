"""libgcc helpers and stack-protector support in the generic profile (issue 13 item 7).

The helpers are raw code compiled from kernel_stubs/libgcc/libgcc.c; these
tests run them through drivers both compilers built, against Python's exact
integer semantics (C truncating division), and check that dividing by zero
is the CPU's divide error, as with the real libgcc.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel

ROOT = Path(__file__).resolve().parent.parent
M64 = (1 << 64) - 1


def words(value: int) -> tuple[int, int]:
    value &= M64
    return value & 0xFFFFFFFF, value >> 32


def c_div(n: int, d: int) -> int:
    """C's truncating signed division, wrapped to 64 bits (INT64_MIN / -1 wraps)."""
    q = abs(n) // abs(d)
    q = -q if (n < 0) != (d < 0) else q
    return ((q + (1 << 63)) & M64) - (1 << 63)


def c_mod(n: int, d: int) -> int:
    r = abs(n) % abs(d)
    return -r if n < 0 else r


def _values() -> list[int]:
    rng = random.Random(13)
    edges = [1, 2, 3, 7, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1, (1 << 63) - 1, 1 << 63, M64, 10**18, 0x1_0000_0001]
    return edges + [rng.getrandbits(rng.choice((8, 31, 33, 40, 63, 64))) or 1 for _ in range(40)]


@pytest.fixture(params=["gcc", "clang"])
def arith(request, driver):
    k = Kernel()
    return k.load(driver("arith", request.param))


def test_unsigned_division_and_modulo_match_c(arith) -> None:
    values = _values()
    for n in values:
        for d in values[:20]:
            assert arith.call("arith_udiv", *words(n), *words(d), returns="u64") == n // d, (n, d)
            assert arith.call("arith_umod", *words(n), *words(d), returns="u64") == n % d, (n, d)


def test_signed_division_truncates_toward_zero(arith) -> None:
    values = [v - (1 << 63) if v >> 63 else v for v in _values()]
    values += [-v for v in values[:12]] + [-(1 << 63), -1, -7]
    for n in values:
        for d in (-7, 7, -1, 3, -(1 << 32), (1 << 40) + 3, -(1 << 63)):
            assert arith.call("arith_sdiv", *words(n), *words(d), returns="s64") == c_div(n, d), (n, d)
            assert arith.call("arith_smod", *words(n), *words(d), returns="s64") == c_mod(n, d), (n, d)


def test_udivmoddi4_writes_the_remainder(arith) -> None:
    k = arith.kernel
    remainder = k.memory.alloc(8)
    n, d = 10**19 + 12345, 10**9 + 7
    assert arith.call("arith_udivmod", *words(n), *words(d), remainder, returns="u64") == n // d
    assert int.from_bytes(k.memory.read(remainder, 8), "little") == n % d


def test_shifts_products_and_bit_counts(arith) -> None:
    v = 0x8123_4567_89AB_CDEF
    for n in (0, 1, 31, 32, 33, 63):
        assert arith.call("arith_shl", *words(v), n, returns="u64") == (v << n) & M64
        assert arith.call("arith_shr", *words(v), n, returns="u64") == v >> n
        assert arith.call("arith_sar", *words(v), n, returns="s64") == (v - (1 << 64)) >> n
    assert arith.call("arith_mul64", *words(0xFFFFFFFF), *words(2), returns="u64") == 0x1_FFFF_FFFE
    assert arith.call("arith_popcount", *words(v)) == bin(v).count("1")
    assert arith.call("arith_ffs", *words(1 << 40)) == 41 and arith.call("arith_ffs", 0, 0) == 0


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
@pytest.mark.parametrize("name", ["arith_udiv", "arith_umod", "arith_sdiv", "arith_smod"])
def test_division_by_zero_is_the_cpus_divide_error(driver, toolchain: str, name: str) -> None:
    arith = Kernel().load(driver("arith", toolchain))
    with pytest.raises(GuestFault) as caught:
        arith.call(name, *words(5), 0, 0)
    assert caught.value.kind == "divide-error"
    assert caught.value.location.startswith("__")  # in the helper, at its div
    assert caught.value.instruction.startswith("div")
    # The kernel is still usable afterwards.
    assert arith.call("arith_udiv", 10, 0, 5, 0, returns="u64") == 2


def test_repeated_divide_errors_stay_divide_errors(driver) -> None:
    k = Kernel()
    if getattr(k.cpu, "control", None) is None:
        # Without the per-call CPU state reset, Unicorn remembers the first
        # exception and escalates the next ones (#DF, then a triple fault).
        pytest.skip("needs the CPU control state reset from the hostile branch")
    arith = k.load(driver("arith"))
    for name in ("arith_udiv", "arith_umod", "arith_sdiv", "arith_smod", "arith_udiv"):
        with pytest.raises(GuestFault) as caught:
            arith.call(name, *words(5), 0, 0)
        assert caught.value.kind == "divide-error", name


def test_every_helper_gcc_or_clang_emits_is_exported(tmp_path: Path) -> None:
    source = tmp_path / "ops.c"
    source.write_text(
        "typedef unsigned long long u64; typedef long long s64;\n"
        "u64 a(u64 x, u64 y){return x/y;} s64 b(s64 x, s64 y){return x/y;} u64 c(u64 x, u64 y){return x%y;}\n"
        "s64 d(s64 x, s64 y){return x%y;} u64 e(u64 x, u64 y, u64 *r){*r=x%y; return x/y;}\n"
        "s64 f(s64 x, s64 y, s64 *r){*r=x%y; return x/y;} int g(unsigned x){return __builtin_popcount(x);}\n"
        "int h(u64 x){return __builtin_popcountll(x)+__builtin_ctzll(x)+__builtin_clzll(x)+__builtin_ffsll(x);}\n"
        "int i(unsigned x){return __builtin_parity(x)+__builtin_ffs(x);} u64 j(u64 x){return __builtin_bswap64(x);}\n"
    )
    k = Kernel()
    wanted = set()
    for cc in (["gcc", "-m32"], ["clang", "--target=i386-pc-none-elf", "-march=i686"]):
        for opt in ("-O0", "-O2", "-Os"):
            obj = tmp_path / "ops.o"
            subprocess.run([*cc, "-ffreestanding", "-fno-pic", opt, "-c", str(source), "-o", str(obj)], check=True)
            nm = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout
            wanted |= {line.split()[-1] for line in nm.splitlines() if line.strip()}
    assert {"__udivdi3", "__divdi3", "__umoddi3", "__moddi3", "__udivmoddi4", "__popcountsi2"} <= wanted
    assert [name for name in sorted(wanted) if k.export_address(name) is None] == []
    for name in ("__ashldi3", "__ashrdi3", "__lshrdi3", "__cmpdi2", "__ucmpdi2", "__negdi2", "__muldi3"):
        assert k.export_address(name) is not None


def test_generated_code_is_current() -> None:
    """The guest code tables (libgcc's, the linux guest library's) are what tools/gen-guest-code makes of
    their C sources with this machine's gcc."""
    code = (ROOT / "kernel_stubs" / "libgcc" / "code.py").read_text()
    version = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    if version not in code:
        pytest.skip(f"code.py was generated by another gcc than {version}")
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "gen-guest-code"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


STACK_PROTECTED = r"""
#include <kernel.h>
int sp_copy(const char *s)
{
	char buf[8];
	int i = 0;

	while (s[i]) {
		buf[i] = s[i];
		i++;
	}
	buf[i] = 0;
	return (int)strlen(buf);
}
static int __init sp_init(void) { return 0; }
module_init(sp_init);
MODULE_LICENSE("GPL");
"""


@pytest.mark.parametrize("guard", ["global", "tls"])
def test_stack_protector_with_a_global_guard(tmp_path: Path, guard: str) -> None:
    """clang for a bare-metal target and gcc -mstack-protector-guard=global read __stack_chk_guard."""
    source = tmp_path / "sp.c"
    source.write_text(STACK_PROTECTED)
    obj = tmp_path / "sp.o"
    base = ["-ffreestanding", "-nostdinc", "-O2", "-fno-pic", "-I", str(ROOT / "kernel_stubs" / "include"), "-c",
            str(source), "-o", str(obj)]
    if guard == "global":
        subprocess.run(["clang", "--target=i386-pc-none-elf", "-march=i686", "-fstack-protector-strong", *base],
                       check=True)
    else:
        subprocess.run(["gcc", "-m32", "-mstack-protector-guard=global", "-fstack-protector-all", *base], check=True)
    k = Kernel()
    m = k.load(obj)
    assert "__stack_chk_guard" in m.imports
    guard_value = int.from_bytes(k.memory.read(k.export_address("__stack_chk_guard"), 4), "little")
    assert guard_value == int.from_bytes(k.memory.read(k.percpu_area + 0x14, 4), "little") != 0
    assert m.call("sp_copy", "abc") == 3
    with pytest.raises(GuestFault) as caught:
        m.call("sp_copy", "B" * 16)  # past buf and the canary, short of the stack top
    assert caught.value.kind == "stack-smashed"
    assert "stack smashing detected in sp:sp_copy" in str(caught.value)


@pytest.mark.parametrize("flags", [("-fstack-protector-strong",), ("-fstack-protector-all", "-fPIC")])
def test_stack_protector_builds_run_and_report_a_smashed_stack(compile_c, flags) -> None:
    k = Kernel()
    if getattr(k.cpu, "control", None) is None:
        pytest.skip("needs the CPU control state (GS segment with a base) from the hostile branch")
    m = k.load(compile_c(STACK_PROTECTED, "sp", *flags))
    assert m.call("sp_copy", "abc") == 3
    canary = int.from_bytes(k.memory.read(k.percpu_area + 0x14, 4), "little")
    assert canary & 0xFF == 0 and canary != 0
    with pytest.raises(GuestFault) as caught:
        m.call("sp_copy", "A" * 40)
    assert caught.value.kind == "stack-smashed"
    assert "stack smashing detected in sp:sp_copy" in str(caught.value)
    assert m.call("sp_copy", "ok") == 2


REGPARM = """
typedef unsigned long long u64; typedef long long s64;
u64 rp_udiv(u64 n, unsigned int lo, unsigned int hi) { return n / (((u64)hi << 32) | lo); }
s64 rp_smod(s64 n, int d) { return n % d; }
"""


@pytest.mark.parametrize("cc", [["gcc", "-m32"], ["clang", "--target=i386-pc-none-elf", "-march=i686"]])
def test_regparm_builds_get_regparm_helpers(tmp_path: Path, cc: list[str]) -> None:
    """With -mregparm=3 the compilers pass a libcall's arguments in registers too: the
    generic-regparm profile exports the helpers built that way."""
    source = tmp_path / "rp.c"
    source.write_text(REGPARM)
    obj = tmp_path / "rp.o"
    subprocess.run([*cc, "-mregparm=3", "-ffreestanding", "-nostdinc", "-O2", "-fno-pic", "-c", str(source),
                    "-o", str(obj)], check=True)
    m = Kernel("generic-regparm").load(obj)
    n, d = 10**18 + 3, 12345678901
    assert m.call("rp_udiv", *words(n), *words(d), returns="u64") == n // d
    assert m.call("rp_smod", *words(-(10**15)), 7, returns="s64") == c_mod(-(10**15), 7)
