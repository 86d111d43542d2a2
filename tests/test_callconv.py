"""Calling conventions in both directions, with drivers compiled by gcc and clang.

drivers/callconv.c exports functions in every convention (cdecl,
regparm1..3, stdcall, fastcall), calls kernel services declared in each
(drivers/callconv.h) and registers callbacks in each. Every result mixes
its arguments, so a misplaced or mis-narrowed argument changes it; every
call from Python checks ESP on return, so a wrong pop count is a
ConventionMismatch, never silently tolerated.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import kernel_stubs.profiles as profiles
from kernel_stubs.profiles import GENERIC
from sandbox import CONVENTIONS, ByValue, ConventionMismatch, GuestFault, Int64, Kernel, ServiceError
from sandbox.machine.registers import EAX, ECX, EDX
from sandbox.services import service
from sandbox.services.callconv import get_convention
from sandbox.services.prototype import PrototypeError, parse_prototype
from sandbox.trace.text import format_event

NAMES = ("cdecl", "regparm1", "regparm2", "regparm3", "stdcall", "fastcall")
# How each convention is spelled in the service prototypes: attributes for
# some services, MSVC-style keywords for others, convention= for the rest.
ATTRIBUTE = {
    "cdecl": "__attribute__((cdecl))",
    "regparm1": "__attribute__((regparm(1)))",
    "regparm2": "__attribute__((regparm(2)))",
    "regparm3": "__attribute__((regparm(3)))",
    "stdcall": "__attribute__((stdcall))",
    "fastcall": "__attribute__((fastcall))",
}
KEYWORD = {**ATTRIBUTE, "cdecl": "__cdecl", "stdcall": "__stdcall", "fastcall": "__fastcall",
           "regparm2": "__attribute__((__regparm__(2)))"}

BUILDS = [("gcc", "obj"), ("clang", "obj"), ("gcc", "rel"), ("clang", "pic"), ("clang", "shared"), ("gcc", "exec")]

A, B, C, D = -7, -0x123456789, -2, 0x7FFF0001  # int, long long, short, int


def s64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


# The mixes drivers/callconv.c computes.
def mix_mixed(a: int, b: int, c: int, d: int) -> int:
    return s64(a * 1000003 + b * 7 + c * 31 + d)


def mix_narrow(a: int, b: int, c: int, d: int) -> int:
    return s32(a * 1000000 + b * 1000 + c * 10 + d)


def mix_wide(a: int, b: int) -> int:
    return s64(a * 3 + b)


def mix_callback(a: int, b: int, c: int) -> int:
    return s32(a * 5 + s32(b >> 32) * 3 + s32(b) + c)


def _services(convention: str, seen: list[tuple[Any, ...]], callbacks: dict[str, int],
              callback_convention: str | None = None) -> list[Callable[..., Any]]:
    """The kernel side of callconv.h for one convention, recording what arrives."""

    @service(f"long long {ATTRIBUTE[convention]} cc_svc_mixed_{convention}(int a, long long b, short c, int d)")
    def mixed(k: Kernel, a: int, b: int, c: int, d: int) -> int:
        seen.append(("mixed", a, b, c, d))
        return mix_mixed(a, b, c, d)

    @service(f"int cc_svc_narrow_{convention}(signed char a, short b, int c, unsigned char d)",
             convention=convention)
    def narrow(k: Kernel, a: int, b: int, c: int, d: int) -> int:
        seen.append(("narrow", a, b, c, d))
        return mix_narrow(a, b, c, d)

    @service(f"long long {KEYWORD[convention]} cc_svc_wide_{convention}(long long a, int b)")
    def wide(k: Kernel, a: int, b: int) -> int:
        seen.append(("wide", a, b))
        return mix_wide(a, b)

    @service(f"int cc_run_callback_{convention}(void *cb, int a, long long b, short c)")
    def run_callback(k: Kernel, cb: int, a: int, b: int, c: int) -> int:
        result = k.call_function_pointer(cb, a, Int64(b), c, convention=callback_convention or convention)
        return s32(result) + 1

    return [mixed, narrow, wide, run_callback]


def _generic_with(monkeypatch: pytest.MonkeyPatch, name: str, **changes: Any) -> Any:
    """The generic profile changed (convention, headers) under a new name, usable as Kernel(result)."""
    profile = dataclasses.replace(GENERIC, name=name, **changes)
    if importlib.util.find_spec("sandbox.profile") is not None:
        return profile  # Kernel(profile=Profile(...))
    monkeypatch.setitem(profiles.PROFILES, name, profile)  # profiles looked up by name only
    return name


def _kernel(profile: Any = "generic", callback_convention: str | None = None) -> tuple[Kernel, list[tuple[Any, ...]], dict[str, int]]:
    k = Kernel(profile, budget_seconds=5)
    seen: list[tuple[Any, ...]] = []
    callbacks: dict[str, int] = {}

    @service("int cc_register_callback(const char *convention, void *callback)")
    def register(k: Kernel, convention: int, callback: int) -> int:
        callbacks[k.memory.read_cstring(convention).decode()] = callback
        return 0

    k.add_service(register)
    for name in NAMES:
        for func in _services(name, seen, callbacks, callback_convention):
            k.add_service(func)
    return k, seen, callbacks


@pytest.fixture(params=BUILDS, ids=[f"{t}-{f}" for t, f in BUILDS])
def callconv_driver(request: pytest.FixtureRequest, driver: Callable[..., Path]) -> Path:
    toolchain, fmt = request.param
    return driver("callconv", toolchain, fmt)


def test_service_prototypes_name_their_conventions() -> None:
    for name in NAMES:
        assert parse_prototype(f"int {ATTRIBUTE[name]} f(int a)").convention == name
        assert parse_prototype(f"int {KEYWORD[name]} f(int a)").convention == name
    assert parse_prototype("int f(int a) __attribute__((stdcall))").convention == "stdcall"
    assert parse_prototype("asmlinkage long sys_thing(int a)").convention == "cdecl"  # Linux: regparm(0)
    assert parse_prototype("int __attribute__((noinline, stdcall, regparm(2))) f(int a)").convention == "stdcall+regparm2"
    # An attribute inside the parameter list belongs to a function pointer parameter.
    proto = parse_prototype("int f(int (__attribute__((stdcall)) *cb)(int), int b)")
    assert proto.convention is None and [p.name for p in proto.params] == ["cb", "b"]
    assert parse_prototype("void *kmalloc(size_t size, gfp_t flags)").convention is None
    with pytest.raises(PrototypeError, match="fastcall cannot be combined with regparm"):
        parse_prototype("int __attribute__((fastcall, regparm(2))) f(int a)")
    with pytest.raises(ValueError, match="convention='stdcall' but its prototype declares fastcall"):
        service("int __fastcall f(int a)", convention="stdcall")
    with pytest.raises(ValueError, match="unknown calling convention 'pascal'; known: cdecl, regparm1"):
        service("int f(int a)", convention="pascal")
    assert get_convention("regparm(3)") is CONVENTIONS["regparm3"]


@pytest.mark.parametrize(("name", "widths", "expected", "pops"), [
    # (register names or stack slot) per argument, as gcc -m32 -S and clang -S place them
    ("regparm3", (1, 2, 1), [("eax",), ("edx", "ecx"), 0], 0),
    ("regparm3", (2, 2), [("eax", "edx"), 0], 0),
    ("regparm2", (1, 2, 1), [("eax",), 0, 2], 0),  # the 64-bit one needs two free registers: uses up the rest
    ("regparm1", (2, 1), [0, 2], 0),
    ("fastcall", (1, 1, 1), [("ecx",), ("edx",), 0], 4),
    ("fastcall", (2, 1), [0, 2], 12),  # 64-bit never in registers, and it uses them up
    ("fastcall", (1, 2, 1), [("ecx",), 0, 2], 12),
    ("stdcall", (2, 1), [0, 2], 12),
    ("stdcall+regparm2", (1, 1, 1), [("eax",), ("edx",), 0], 4),
    # Structures by value (marked *): regparm takes them whole in registers, fastcall never,
    # and one on the stack uses up as many registers as it has words.
    ("regparm3", (1, "3*", 1), [("eax",), 0, 3], 0),
    ("regparm3", ("2*", 1), [("eax", "edx"), ("ecx",)], 0),
    ("fastcall", ("1*", 1, 1), [0, ("edx",), 1], 8),
])
def test_layouts_follow_the_compilers(name: str, widths: tuple[Any, ...], expected: list[Any], pops: int) -> None:
    names = {EAX: "eax", ECX: "ecx", EDX: "edx"}
    aggregates = [i for i, w in enumerate(widths) if isinstance(w, str)]
    widths = tuple(int(str(w).rstrip("*")) for w in widths)
    layout = CONVENTIONS[name].layout(widths, aggregates=aggregates)
    assert [tuple(names[r] for r in p.registers) if p.registers else p.stack for p in layout.places] == expected
    assert layout.pop_bytes == pops
    # A variadic function is caller-pops with everything on the stack, whatever it is declared as.
    assert CONVENTIONS[name].layout(widths, variadic=True).places[0].registers == ()
    assert CONVENTIONS[name].layout(widths, variadic=True).pop_bytes == 0


@pytest.mark.parametrize("name", NAMES)
def test_python_calls_guest_in_each_convention(callconv_driver: Path, name: str) -> None:
    k, _, _ = _kernel()
    m = k.load(callconv_driver)
    assert m.call(f"cc_mixed_{name}", A, Int64(B), C, D, convention=name, returns="s64") == mix_mixed(A, B, C, D)
    assert m.call(f"cc_narrow_{name}", -5, -300, 123456, 250, convention=name) == mix_narrow(-5, -300, 123456, 250)
    assert m.call(f"cc_wide_{name}", Int64(B), -9, convention=name, returns="s64") == mix_wide(B, -9)
    assert m.call(f"cc_callback_{name}", 11, Int64(-2), 3, convention=name) == mix_callback(11, -2, 3)
    # Structures by value: struct cc_one { int v; }, struct cc_pair { int x; short y; }.
    one, pair = ByValue(struct.pack("<i", -4)), ByValue(struct.pack("<ih", 6, -3))
    assert m.call(f"cc_struct_{name}", one, 7, pair, convention=name) == -4 * 100000 + 7 * 1000 + 60 - 3


@pytest.mark.parametrize("name", NAMES)
def test_guest_calls_services_in_each_convention(callconv_driver: Path, name: str) -> None:
    k, seen, _ = _kernel()
    m = k.load(callconv_driver)
    total = m.call(f"cc_use_{name}", A, Int64(B), C, D, returns="s64")
    narrow_args = (s32(A << 24) >> 24, C, D, D & 0xFF)  # (signed char)a, c, d, (unsigned char)d
    assert seen == [("mixed", A, B, C, D), ("narrow", *narrow_args), ("wide", B, A)]
    assert total == s64(mix_mixed(A, B, C, D) + mix_narrow(*narrow_args) + mix_wide(B, A))
    # The trace shows a call's arguments the same way whatever the convention.
    event = k.trace.calls(f"cc_svc_mixed_{name}")[0]
    assert event.args == (A, B, C, D) and event.result == mix_mixed(A, B, C, D)
    assert k.symbolizer.short(event.caller).startswith(f"callconv:cc_use_{name}+")


def test_trace_of_stdcall_service_reads_as_cdecl(driver: Callable[..., Path]) -> None:
    k, _, _ = _kernel()
    m = k.load(driver("callconv"))
    m.call("cc_use_cdecl", A, Int64(B), C, D)
    m.call("cc_use_stdcall", A, Int64(B), C, D)
    lines = {name: format_event(k.trace.calls(f"cc_svc_wide_{name}")[0], k.symbolizer).replace(name, "X")
             for name in ("cdecl", "stdcall")}
    assert lines["cdecl"] == lines["stdcall"]
    assert lines["stdcall"].startswith(f"cc_svc_wide_X({B}, {A}) = {mix_wide(B, A)}  <- callconv:cc_use_X+")


@pytest.mark.parametrize("name", NAMES)
def test_callbacks_in_each_convention(callconv_driver: Path, name: str) -> None:
    k, _, callbacks = _kernel()
    m = k.load(callconv_driver)
    assert set(callbacks) == set(NAMES)  # registered by init
    # From Python, at the top level...
    assert k.call_function_pointer(callbacks[name], 11, Int64(-2), 3, convention=name) == mix_callback(11, -2, 3) & 0xFFFFFFFF
    # ...and from a service the driver calls (nested).
    assert m.call(f"cc_call_back_{name}", 4, Int64(0x500000007), -6) == mix_callback(4, 0x500000007, -6) + 1


@pytest.mark.parametrize(("function", "called_as", "popped", "expected_fit"), [
    ("cc_mixed_stdcall", "cdecl", 20, "stdcall"),
    ("cc_mixed_fastcall", "regparm1", 16, "fastcall or stdcall+regparm1 or stdcall+regparm2"),
    ("cc_mixed_cdecl", "stdcall", 0, "cdecl or regparm1 or regparm2 or regparm3"),
    ("cc_narrow_regparm3", "fastcall", 0, "cdecl or regparm1 or regparm2 or regparm3"),
    # Right direction, wrong amount: 20 expected.
    ("cc_mixed_fastcall", "stdcall", 16, "fastcall or stdcall+regparm1 or stdcall+regparm2"),
])
def test_wrong_convention_from_python_is_a_mismatch(driver: Callable[..., Path], function: str, called_as: str,
                                                   popped: int, expected_fit: str) -> None:
    k, _, _ = _kernel()
    m = k.load(driver("callconv"))
    with pytest.raises(ConventionMismatch) as caught:
        m.call(function, A, Int64(B), C, D, convention=called_as)
    fault = caught.value
    assert fault.kind == "convention-mismatch" and fault.popped == popped
    message = str(fault)
    assert f"callconv:{function} was called as {called_as}" in message
    assert ("popped" in message) if popped else ("plain ret" in message)
    assert f"what {expected_fit} does" in message
    assert k.trace.of_kind("fault")[-1].name == "convention-mismatch"
    # The kernel is usable afterwards.
    assert m.call("cc_mixed_stdcall", A, Int64(B), C, D, convention="stdcall", returns="s64") == mix_mixed(A, B, C, D)


def test_wrong_argument_count_under_stdcall_is_a_mismatch(driver: Callable[..., Path]) -> None:
    k, _, _ = _kernel()
    m = k.load(driver("callconv"))
    with pytest.raises(ConventionMismatch, match=r"called as stdcall \(callee pops 24 bytes.*popped 20 bytes"):
        m.call("cc_mixed_stdcall", A, Int64(B), C, D, 99, convention="stdcall")


def test_callback_called_in_the_wrong_convention_names_the_service(driver: Callable[..., Path]) -> None:
    k, _, callbacks = _kernel(callback_convention="cdecl")
    m = k.load(driver("callconv"))
    assert m.call("cc_call_back_cdecl", 1, Int64(2), 3) == mix_callback(1, 2, 3) + 1
    with pytest.raises(ConventionMismatch) as caught:
        m.call("cc_call_back_stdcall", 1, Int64(2), 3)
    message = str(caught.value)
    assert "callconv:cc_callback_stdcall was called as cdecl" in message
    assert "in kernel service cc_run_callback_stdcall" in message
    with pytest.raises(ConventionMismatch, match="cc_callback_fastcall was called as cdecl"):
        k.call_function_pointer(callbacks["fastcall"], 1, Int64(2), 3)


def test_variadic_service_is_caller_pops_whatever_its_declaration(compile_c: Callable[..., Path]) -> None:
    k = Kernel(budget_seconds=5)

    @service("int __attribute__((stdcall)) cc_sum(int count, ...)")
    def cc_sum(k: Kernel, count: int, rest: Any) -> int:
        return sum(rest.next_u32() for _ in range(count))

    k.add_service(cc_sum)
    m = k.load(compile_c("""
        extern int __attribute__((stdcall)) cc_sum(int count, ...);
        int run(void) { return cc_sum(3, 10, 20, 30) + cc_sum(1, 5); }
    """, "variadic", "-Wno-attributes"))
    assert m.call("run") == 65
    assert k.dispatcher.convention_of("cc_sum").name == "cdecl"


def test_stdcall_with_regparm_both_directions(compile_c: Callable[..., Path]) -> None:
    k = Kernel(budget_seconds=5)

    @service("long long __attribute__((stdcall, regparm(2))) mixed_sr(int a, int b, long long c, short d)")
    def mixed_sr(k: Kernel, a: int, b: int, c: int, d: int) -> int:
        return mix_mixed(a, c, d, b)

    k.add_service(mixed_sr)
    assert k.dispatcher.convention_of("mixed_sr") is CONVENTIONS["stdcall+regparm2"]
    m = k.load(compile_c("""
        #define SR __attribute__((stdcall, regparm(2)))
        extern long long SR mixed_sr(int a, int b, long long c, short d);
        long long SR own(int a, int b, long long c, short d) { return a * 3 + b * 5 + c * 7 + d; }
        long long use(int a, int b, long long c, short d) { return mixed_sr(a, b, c, d) + own(b, a, c, d); }
    """, "sr"))
    assert m.call("own", 1, 2, Int64(B), -3, convention="stdcall, regparm(2)", returns="s64") == 3 + 10 + 7 * B - 3
    assert m.call("use", 5, 9, Int64(B), C, returns="s64") == mix_mixed(5, B, C, 9) + 9 * 3 + 5 * 5 + 7 * B + C
    with pytest.raises(ConventionMismatch, match=r"called as regparm2 .* popped 12 bytes"):
        m.call("own", 1, 2, Int64(B), -3, convention="regparm2")
    with pytest.raises(ValueError, match="unknown calling convention 'pascal'"):
        m.call("own", 1, convention="pascal")


# -- per profile: the profile's convention is every call's default ------------------------

PROFILE_FLAGS: dict[str, tuple[str, ...]] = {
    "regparm1": ("gcc", "-mregparm=1"),
    "regparm2": ("gcc", "-mregparm=2"),
    "regparm3": ("gcc", "-mregparm=3"),
    "stdcall": ("gcc", "-mrtd"),
    # No compiler flag makes fastcall the default on i386 ELF: the source says it.
    "fastcall": ("clang", "-DCC=__attribute__((fastcall))"),
}

PROFILE_SOURCE = """
#ifndef CC
#define CC
#endif
typedef unsigned int size_t;
extern void *CC kmalloc(size_t size, unsigned int flags);
extern void CC kfree(const void *p);
extern void *CC memset(void *s, int c, size_t n);
extern int printk(const char *fmt, ...);
extern long long CC pf_scale(long long value, int by, short add);
extern int CC pf_visit(int (CC *fn)(int, int), int a, int b);
static int CC sub(int a, int b) { return a - b; }
long long CC work(int n, long long big, short s)
{
    unsigned char *p = kmalloc(n, 0xcc0);
    int sum = 0;
    memset(p, 3, n);
    for (int i = 0; i < n; i++)
        sum += p[i];
    kfree(p);
    printk("sum=%d big=%lld s=%d\\n", sum, big, s);
    return pf_scale(big, sum, s) + pf_visit(sub, 50, 8);
}
"""


@pytest.mark.parametrize("name", list(PROFILE_FLAGS))
def test_profile_convention_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    import subprocess

    compiler, *flags = PROFILE_FLAGS[name]
    source = tmp_path / "pf.c"
    source.write_text(PROFILE_SOURCE)
    obj = tmp_path / "pf.o"
    cc = ["gcc", "-m32"] if compiler == "gcc" else ["clang", "--target=i386-pc-none-elf", "-march=i686"]
    subprocess.run([*cc, "-ffreestanding", "-nostdinc", "-O2", "-fno-pic", *flags, "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True)
    k = Kernel(_generic_with(monkeypatch, f"generic-{name}", convention=name), budget_seconds=5)
    assert k.convention is CONVENTIONS[name]

    @service("long long pf_scale(long long value, int by, short add)")
    def pf_scale(k: Kernel, value: int, by: int, add: int) -> int:
        return value * by + add

    @service("int pf_visit(void *fn, int a, int b)")
    def pf_visit(k: Kernel, fn: int, a: int, b: int) -> int:
        return k.call_function_pointer(fn, a, b)  # the profile's convention

    k.add_service(pf_scale)
    k.add_service(pf_visit)
    m = k.load(obj)
    assert m.call("work", 4, Int64(-3 << 33), -5, returns="s64") == (-3 << 33) * 12 - 5 + 42
    assert k.console == f"sum=12 big={-3 << 33} s=-5\n"
    assert [e.name for e in k.trace.of_kind("service")] == ["kmalloc", "memset", "kfree", "printk", "pf_scale", "pf_visit"]
    assert k.trace.calls("kmalloc")[0].args == (4, 0xCC0)


def test_profile_convention_mismatch_is_detected(driver: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    k, _, _ = _kernel(_generic_with(monkeypatch, "generic-stdcall", convention="stdcall"))
    m = k.load(driver("callconv"), run_init=False)  # built for a cdecl kernel
    with pytest.raises(ConventionMismatch, match="callconv:cc_mixed_cdecl was called as stdcall"):
        m.call("cc_mixed_cdecl", A, Int64(B), C, D)
    assert m.call("cc_mixed_cdecl", A, Int64(B), C, D, convention="cdecl", returns="s64") == mix_mixed(A, B, C, D)
    assert isinstance(ConventionMismatch("x", function=0, expected=0, popped=4), GuestFault)


def test_service_must_match_its_header_convention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  compile_c: Callable[..., Path]) -> None:
    include = tmp_path / "include"
    include.mkdir()
    (include / "hw.h").write_text(
        "#define KAPI extern\n"
        "KAPI int __attribute__((stdcall)) hw_read(int port, int width);\n"
        "KAPI int hw_write(int port, int value);\n"
    )
    hw = _generic_with(monkeypatch, "hw", include_dir=include)

    @service("int hw_read(int port, int width)")
    def hw_read_cdecl(k: Kernel, port: int, width: int) -> int:
        return port + width

    @service("int hw_read(int port, int width)", convention="stdcall")
    def hw_read(k: Kernel, port: int, width: int) -> int:
        return port * 10 + width

    @service("int __stdcall hw_write(int port, int value)")
    def hw_write(k: Kernel, port: int, value: int) -> int:
        return 0

    k = Kernel(hw)
    with pytest.raises(ServiceError, match=r"hw_read is cdecl \(caller pops\) but \S*hw.h declares it stdcall \(callee pops\)"):
        k.add_service(hw_read_cdecl)
    with pytest.raises(ServiceError, match=r"hw_write is stdcall .* declares it cdecl"):
        k.add_service(hw_write)
    k.add_service(hw_read)
    m = k.load(compile_c(f'#include "{include}/hw.h"\nint probe(void) {{ return hw_read(0x3f8, 1) + 1; }}', "hwdrv"))
    assert m.call("probe") == 0x3F8 * 10 + 2


def test_stub_slot_reused_after_restore_gets_its_own_return(compile_c: Callable[..., Path]) -> None:
    k = Kernel(budget_seconds=5)
    snap = k.snapshot()

    @service("int __stdcall late_a(int a, int b)")
    def late_a(k: Kernel, a: int, b: int) -> int:
        return a - b

    @service("int late_b(int a, int b)")
    def late_b(k: Kernel, a: int, b: int) -> int:
        return a * b

    first = k.add_service(late_a)
    m = k.load(compile_c("extern int __attribute__((stdcall)) late_a(int, int);\n"
                         "int run(int a, int b) { return late_a(a, b) + late_a(b, a); }", "la"))
    assert m.call("run", 9, 4) == 0
    assert bytes(k.memory.read(first, 3)) == b"\xc2\x08\x00"  # ret $8
    k.restore(snap)
    assert k.add_service(late_b) == first  # the same slot, now caller-pops
    assert bytes(k.memory.read(first, 1)) == b"\xc3"
    m = k.load(compile_c("extern int late_b(int, int);\nint run(int a, int b) { return late_b(a, b) + late_b(b, 1); }", "lb"))
    assert m.call("run", 9, 4) == 36 + 4


@pytest.mark.parametrize(("declared", "actual"), [("", "stdcall"), ("__attribute__((stdcall))", "cdecl")])
def test_driver_declaring_a_service_wrongly_gets_a_convention_hint(compile_c: Callable[..., Path], declared: str,
                                                                  actual: str) -> None:
    k = Kernel(budget_seconds=5)

    @service("int hw_sum(int a, int b, int c)", convention=actual)
    def hw_sum(k: Kernel, a: int, b: int, c: int) -> int:
        return a + b + c

    k.add_service(hw_sum)
    m = k.load(compile_c(f"extern int {declared} hw_sum(int a, int b, int c);\n"
                         "int probe(int a, int b) { return hw_sum(a, b, 1) + 1; }", "wrongdecl",
                         "-fomit-frame-pointer"))
    with pytest.raises(GuestFault) as caught:
        m.call("probe", 0x10, 0x20)
    message = str(caught.value)
    assert "a calling convention mismatch" in message
    assert f"hw_sum ({actual}, {CONVENTIONS[actual].pops_text})" in message
    assert "wrongdecl:probe" in message


def test_a_service_called_with_an_unreadable_stack_is_a_fault_not_a_crash(compile_c) -> None:
    """ESP moved off the stack before a call into a stack-argument service: a GuestFault naming it."""
    from sandbox import Kernel
    from sandbox.errors import GuestFault

    source = r"""
    extern int ksize(const void *p);
    int call_with_esp_off_the_map(void)
    {
        int result;
        __asm__ volatile("mov %%esp, %%ebx\n\tmov $0x10, %%esp\n\tjmp ksize\n\tmov %%ebx, %%esp"
                         : "=a"(result) : : "ebx", "memory");
        return result;
    }
    """
    k = Kernel()
    m = k.load(compile_c(source, "offmap"))
    with pytest.raises(GuestFault, match=r"call to kernel service ksize: its stack arguments \(8 bytes at ESP 0x00000010\)"):
        m.call("call_with_esp_off_the_map")
    assert k.load(compile_c("int again(void) { return 7; }", "again")).call("again") == 7  # still usable
