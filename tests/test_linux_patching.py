"""Load-time patching of a Linux module's code: ``__bug_table``, ``.altinstructions``, ``.parainstructions``.

BUG()/WARN() are checked on a module compiled here with the i386 ``_BUG_FLAGS``
expansion and on libata's own WARN_ON; alternatives on libata and xor
(mfence, prefetchnta for the emulated CPU's SSE/SSE2); paravirt sites on
sbc60xxwdt, whose outb_p calls pv_ops.cpu.io_delay.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kernel_stubs.linux.platform import cpu_has
from sandbox import Kernel
from sandbox.alternatives import ALT, ALTINSTR_FLAG_INV, PARAVIRT_SITE
from sandbox.bugtable import ENTRY, ModuleBugTables
from sandbox.errors import GuestFault
from tests.linux_corpus import ko, needs_corpus

# arch/x86/include/asm/bug.h for CONFIG_X86_32 with CONFIG_DEBUG_BUGVERBOSE, as the kernel's macros expand.
BUGS = r"""#line 1 "bugs.c"
#define BUGFLAG_WARNING (1 << 0)
#define BUGFLAG_ONCE (1 << 1)
#define _BUG_FLAGS(flags) asm volatile("1:\t.byte 0x0f, 0x0b\n" \
    ".pushsection __bug_table,\"aw\"\n" \
    "2:\t.long 1b\n\t.long %c0\n\t.word %c1\n\t.word %c2\n\t.org 2b+%c3\n" \
    ".popsection" : : "i" (__FILE__), "i" (__LINE__), "i" (flags), "i" (12))
int do_warn(int x) { if (x > 3) _BUG_FLAGS(BUGFLAG_WARNING); return x + 1; }
int do_warn_once(int x) { _BUG_FLAGS(BUGFLAG_WARNING | BUGFLAG_ONCE); return x * 2; }
int do_bug(int x) { if (x) { _BUG_FLAGS(0); __builtin_unreachable(); } return 7; }
"""
WARN_LINE, ONCE_LINE, BUG_LINE = (BUGS.splitlines().index(next(line for line in BUGS.splitlines() if line.startswith(f)))
                                  for f in ("int do_warn(", "int do_warn_once(", "int do_bug("))


def _table(module: object, name: str) -> tuple[int, bytes]:
    plan = module.plan  # type: ignore[attr-defined]
    section = plan.image.section_by_name(name)
    base = plan.section_address(section)
    return base, plan.read(base, section.sh_size)


def test_warn_prints_the_site_and_execution_continues(compile_c: Callable[..., Path]) -> None:
    k = Kernel(trace=True)
    m = k.load(compile_c(BUGS, "bugs"))
    assert m.call("do_warn", 1) == 2 and k.console == ""  # the ud2 is not reached
    assert m.call("do_warn", 5) == 6  # resumed after the ud2, as report_bug's BUG_TRAP_TYPE_WARN
    assert k.console == ("------------[ cut here ]------------\n"
                         f"WARNING: CPU: 0 PID: 0 at bugs.c:{WARN_LINE} bugs:do_warn+0x9\n")
    assert k.warnings == [f"WARNING at bugs.c:{WARN_LINE} bugs:do_warn+0x9"]
    assert [e.fields["text"] for e in k.trace.events if e.kind == "warning"] == k.warnings
    assert m.call("do_warn", 9) == 10 and len(k.warnings) == 2  # a plain WARN reports every time


def test_warn_on_once_reports_once(compile_c: Callable[..., Path]) -> None:
    k = Kernel()
    m = k.load(compile_c(BUGS, "bugs"))
    assert [m.call("do_warn_once", n) for n in (1, 2, 3)] == [2, 4, 6]
    assert k.warnings == [f"WARNING at bugs.c:{ONCE_LINE} bugs:do_warn_once"]
    base, raw = _table(m, "__bug_table")
    flags = [ENTRY.unpack_from(k.memory.read(base, len(raw)), offset)[3] for offset in range(0, len(raw), ENTRY.size)]
    assert flags[1] == 1 | 2 | 4  # BUGFLAG_DONE set in the table, as Linux marks it


def test_bug_is_a_fault_naming_file_and_line(compile_c: Callable[..., Path]) -> None:
    k = Kernel()
    m = k.load(compile_c(BUGS, "bugs"))
    with pytest.raises(GuestFault) as caught:
        m.call("do_bug", 1)
    fault = caught.value
    assert fault.kind == "kernel-bug"
    assert str(fault) == f"kernel BUG at bugs.c:{BUG_LINE}! (bugs:do_bug+0xe)"
    assert fault.location == "bugs:do_bug+0xe" and fault.instruction == "ud2"
    assert "backtrace:" in fault.report
    assert k.console.endswith(f"kernel BUG at bugs.c:{BUG_LINE}!\n")
    assert m.call("do_bug", 0) == 7  # the kernel is still usable


def test_unload_removes_the_bug_sites(compile_c: Callable[..., Path]) -> None:
    k = Kernel()
    m = k.load(compile_c(BUGS, "bugs"))
    sites = list(k.subsystem(ModuleBugTables).by_module["bugs"])
    assert len(sites) == 3 and all(k.memory.read(site, 2) == b"\x0f\x0b" for site in sites)
    k.unload(m)
    assert not any(site in k.cpu.extable for site in sites)


@needs_corpus
def test_libata_warn_on_reports_and_the_function_carries_on() -> None:
    """ata_port_desc WARN_ONs a port not being initialized, then appends the description all the same."""
    k = Kernel("linux", unresolved="trap")
    libata = k.load(ko("drivers/ata/libata.ko"), run_init=False)
    _, raw = _table(libata, "__bug_table")
    entries = [ENTRY.unpack_from(raw, offset) for offset in range(0, len(raw), ENTRY.size)]
    assert all(k.memory.read(site, 2) == b"\x0f\x0b" for site, *_ in entries if k.memory.region_at(site))
    assert {k.memory.read(file, 19) for _, file, _, _ in entries} >= {b"drivers/ata/libata-"}
    port = k.memory.alloc(16384)
    k.memory.write(port, bytes(16384))
    libata.call("ata_port_desc", port, b"irq %d", 14, convention="cdecl")
    assert k.console == ("------------[ cut here ]------------\n"
                         "WARNING: CPU: 0 PID: 0 at drivers/ata/libata-eh.c:262 libata:ata_port_desc+0x68\n")
    assert b"irq 14\0" in k.memory.read(port, 16384)  # the rest of the function ran


def _file_bytes(module: object, address: int, size: int) -> bytes:
    """What the module file holds at a loaded address, before relocation and patching."""
    plan = module.plan  # type: ignore[attr-defined]
    for section in plan.image.sections:
        base = plan.section_address(section) if section.sh_size else None
        if base is not None and base <= address < base + section.sh_size:
            return bytes(plan.image.section_bytes(section)[address - base:address - base + size])
    raise AssertionError(f"{address:#x} is in no section")


def _alternatives(k: Kernel, module: object) -> list[tuple[int, int, int, int, int]]:
    base, raw = _table(module, ".altinstructions")
    out = []
    for index, (instr, repl, cpuid, instrlen, repllen) in enumerate(ALT.iter_unpack(raw)):
        entry = base + index * ALT.size
        out.append(((entry + instr) & 0xFFFFFFFF, (entry + 4 + repl) & 0xFFFFFFFF, cpuid, instrlen, repllen))
    return out


@needs_corpus
@pytest.mark.parametrize("rel", ["drivers/ata/libata.ko", "crypto/xor.ko"])
def test_alternatives_applied_for_the_emulated_cpu(rel: str) -> None:
    """Each site whose feature the CPU has holds its replacement padded with NOPs; the others are untouched."""
    k = Kernel("linux", unresolved="trap")
    module = k.load(ko(rel), run_init=False)
    patched = 0
    for site, replacement, cpuid, instrlen, repllen in _alternatives(k, module):
        if not k.memory.region_at(site):
            continue  # init code, released
        now, original = k.memory.read(site, instrlen), _file_bytes(module, site, instrlen)
        if cpu_has(cpuid & ~ALTINSTR_FLAG_INV) != bool(cpuid & ALTINSTR_FLAG_INV):
            assert now == module.plan.read(replacement, repllen) + b"\x90" * (instrlen - repllen)
            patched += 1
        else:
            assert now == original
    assert patched


@needs_corpus
def test_libata_barrier_becomes_mfence() -> None:
    """mb() on i386 is "lock; addl $0,-4(%esp)" with "mfence" for SSE2 CPUs (X86_FEATURE_XMM2, bit 26)."""
    assert cpu_has(26)
    k = Kernel("linux", unresolved="trap")
    libata = k.load(ko("drivers/ata/libata.ko"), run_init=False)
    sites = [site for site, _, cpuid, _, _ in _alternatives(k, libata) if cpuid == 26]
    assert any(k.symbolizer.short(site).startswith("libata:ata_bmdma_setup+") for site in sites)
    assert all(k.memory.read(site, 6) == b"\x0f\xae\xf0\x90\x90\x90" for site in sites if k.memory.region_at(site))


@needs_corpus
def test_paravirt_io_delay_sites_call_the_native_operation() -> None:
    """sbc60xxwdt's outb_p sites become direct calls of native_io_delay, which still writes port 0x80."""
    k = Kernel("linux", trace=True)
    module = k.load(ko("drivers/watchdog/sbc60xxwdt.ko"))
    pv_ops = k.export_address("pv_ops")
    io_delay = k.memory.read_u32(pv_ops)
    _, raw = _table(module, ".parainstructions")
    sites = list(PARAVIRT_SITE.iter_unpack(raw))
    assert sites and all(slot == 0 and length == 6 for _, slot, length in sites)
    for site, _, _ in sites:
        assert _file_bytes(module, site, 2) == b"\xff\x15"  # call *pv_ops+0: pv_ops.cpu.io_delay
        code = k.memory.read(site, 6)
        assert code[0] == 0xE8 and code[5] == 0x90
        assert (site + 5 + int.from_bytes(code[1:5], "little", signed=True)) & 0xFFFFFFFF == io_delay
    before = len([e for e in k.trace.events if e.kind == "port" and e.fields["port"] == 0x80])
    with k.open("/dev/watchdog") as dog:
        dog.write(b"V")
    delays = [e for e in k.trace.events if e.kind == "port" and e.fields["port"] == 0x80]
    assert len(delays) > before and all(e.fields["direction"] == "out" for e in delays)
