"""Hostile guests: whatever a module does, the host stays safe and the kernel usable.

Each case is a driver compiled from C for the purpose (or a crafted file); each
asserts the exact error and that the same kernel then still loads and runs
another driver (``still_usable``).
"""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.errors import BudgetExceeded, GuestFault
from sandbox.machine.cpu import MAX_NESTING
from sandbox.services import service


def still_usable(kernel: Kernel, driver) -> None:
    """The kernel loads, runs and unloads an innocent driver after the hostile one."""
    warnings = len(kernel.warnings)
    module = kernel.load(driver("irqcount"))
    kernel.raise_irq(5)
    assert module.call("irqcount_get") == 1
    kernel.unload(module)
    assert kernel.warnings[warnings:] == []


@service("int hostile_reenter(void *fn)")
def hostile_reenter(k, fn: int) -> int:
    """A service that calls straight back into the guest function it is given."""
    return k.call_function_pointer(fn, fn)


RECURSE = r"""
#include <kernel.h>
extern int hostile_reenter(void *fn);
int recurse(void *self) { (void)self; return hostile_reenter((void *)recurse) + 1; }
"""


def test_nesting_has_a_limit_naming_the_chain(kernel: Kernel, compile_c, driver) -> None:
    kernel.add_service(hostile_reenter)
    m = kernel.load(compile_c(RECURSE, "recurse"))
    with pytest.raises(GuestFault) as caught:
        m.call("recurse", 0)
    fault = caught.value
    assert fault.kind == "nesting-limit"
    assert f"guest calls nested {MAX_NESTING} deep" in str(fault)
    assert f"without end): recurse:recurse (x{MAX_NESTING + 1}) (in kernel service hostile_reenter" in str(fault)
    assert kernel.cpu.depth == 0
    still_usable(kernel, driver)


STORM = r"""
#include <kernel.h>
/* A 16550 handler that turns interrupts back on and makes the UART raise its
 * line again (writing THR re-arms THR-empty): unbounded nesting on a machine
 * without an in-service latch. */
static unsigned int count, active, nested;
static irqreturn_t storm(int irq, void *dev) {
	(void)irq; (void)dev;
	if (active++) nested++;
	count++;
	local_irq_enable();
	outb('x', 0x3F8);
	active--;
	return IRQ_HANDLED;
}
int init_module(void) { return request_irq(4, storm, 0, "storm", &count); }
void cleanup_module(void) { free_irq(4, &count); }
void start(void) { outb(0x08, 0x3FC); outb(0x02, 0x3F9); }
unsigned int storm_count(void) { return count; }
unsigned int storm_nested(void) { return nested; }
"""


def test_a_line_whose_handler_runs_is_latched_not_nested(compile_c, driver) -> None:
    kernel = Kernel(budget_seconds=0.3)
    m = kernel.load(compile_c(STORM, "storm"))
    with pytest.raises(BudgetExceeded) as caught:
        m.call("start")
    assert caught.value.kind == "budget"
    assert m.call("storm_count") > 1
    assert m.call("storm_nested") == 0
    kernel.unload(m)
    still_usable(kernel, driver)


CONTROL = r"""
#include <kernel.h>
int set_tf(void) { __asm__ volatile("pushl $0x302; popfl; nop; nop"); return 1; }
int set_ac(void) { __asm__ volatile("pushfl; orl $0x40000, (%%esp); popfl" ::: "memory"); return 2; }
int set_df(void) { __asm__ volatile("std"); return 3; }
int null_ds(void) { __asm__ volatile("xorl %%eax, %%eax; movl %%eax, %%ds" ::: "eax"); return 4; }
int paging(void) {
	__asm__ volatile("movl %%cr0, %%eax; orl $0x80000000, %%eax; movl %%eax, %%cr0" ::: "eax");
	return 5;
}
int arm_dr7(void) { __asm__ volatile("movl $1, %%eax; movl %%eax, %%dr7" ::: "eax"); return 6; }
int bad_gdt(void) {
	static const unsigned char junk[6] = { 0xff, 0xff, 0, 0, 0, 0 };
	__asm__ volatile("lgdt %0" :: "m"(junk));
	return 7;
}
int innocent(int x) { return x * 2; }
"""


@pytest.mark.parametrize(("function", "kind", "says"), [
    ("set_tf", "debug-trap", "EFLAGS 0x302: TF set"),
    ("set_ac", "cpu-state", "AC set"),
    ("set_df", "cpu-state", "DF set"),
    ("null_ds", "cpu-state", "DS 0x10 -> 0x0 (null selector)"),
    ("paging", "page-fault", "CR0 0x11 -> 0x80000011 (PG set)"),
    ("arm_dr7", "cpu-state", "DR7 0x400 -> 0x401 (hardware breakpoint armed)"),
])
def test_cpu_control_state_changes_are_reported_and_reset(kernel: Kernel, compile_c, driver,
                                                          function: str, kind: str, says: str) -> None:
    m = kernel.load(compile_c(CONTROL, "control"))
    for _ in range(2):  # the same report every time
        with pytest.raises(GuestFault) as caught:
            m.call(function)
        assert caught.value.kind == kind
        assert says in str(caught.value)
        assert "reset for the next call" in str(caught.value)
        assert m.call("innocent", 21) == 42
    still_usable(kernel, driver)


def test_a_clobbered_gdt_does_not_outlive_the_call(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(CONTROL, "control"))
    with pytest.raises(GuestFault) as caught:
        m.call("bad_gdt")
    assert caught.value.kind == "cpu-state"
    assert "GDTR base 0xc0f00000 limit 0x1f -> base 0x0 limit 0xffff" in str(caught.value)
    assert m.call("innocent", 4) == 8
    still_usable(kernel, driver)


def test_control_state_is_reset_after_restore(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(CONTROL, "control"))
    snap = kernel.snapshot()
    with pytest.raises(GuestFault):
        m.call("paging")
    kernel.restore(snap)
    assert m.call("innocent", 5) == 10
    still_usable(kernel, driver)


def test_unbound_stub_slot_is_a_guest_fault(kernel: Kernel, compile_c, driver) -> None:
    source = r"""
    #include <kernel.h>
    int jump_to(unsigned int address) { return ((int (*)(void))address)(); }
    """
    m = kernel.load(compile_c(source, "stray"))
    unbound = 0xC0000000 + 16 * (len(kernel.dispatcher._slots) + 10)
    with pytest.raises(GuestFault) as caught:
        m.call("jump_to", unbound)
    assert caught.value.kind == "stray-jump"
    assert "unbound service-stub slot" in str(caught.value)
    printk = kernel.export_address("printk")
    with pytest.raises(GuestFault) as caught:
        m.call("jump_to", printk + 3)
    assert "the middle of the stub of kernel service printk (+0x3)" in str(caught.value)
    still_usable(kernel, driver)


RAW_IRQ = r"""
#include <kernel.h>
static unsigned int count;
static irqreturn_t bell(int irq, void *dev) { (void)irq; (void)dev; count++; outb(0x00, 0x3F9); return IRQ_HANDLED; }
int init_module(void) { return request_irq(4, bell, 0, "bell", &count); }
void cleanup_module(void) { free_irq(4, &count); }
static void ring(void) { outb(0x08, 0x3FC); outb(0x00, 0x3F9); outb(0x02, 0x3F9); }
/* Raw cli/sti, as Linux's inline arch_local_irq_* compile to. */
unsigned int ring_under_cli(void) {
	unsigned int before;
	__asm__ volatile("cli" ::: "memory");
	ring();
	before = count;
	__asm__ volatile("sti" ::: "memory");
	udelay(1); /* any kernel call: the latched line is taken */
	return before * 10 + count;
}
unsigned int flags_seen(void) { unsigned int f; __asm__ volatile("pushfl; popl %0" : "=r"(f)); return f & 0x200; }
void raw_cli(void) { __asm__ volatile("cli"); }
void leave_irqs_off(void) { local_irq_disable(); }
int lock_and_crash(void) {
	static DEFINE_SPINLOCK(lock);
	unsigned long flags;
	spin_lock_irqsave(&lock, flags);
	return *(volatile int *)0;
}
unsigned int irq_count(void) { return count; }
"""


def test_raw_cli_is_honoured_for_delivery(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c(RAW_IRQ, "rawirq"))
    assert m.call("flags_seen") == 0x200
    assert m.call("ring_under_cli") == 1  # none delivered under cli; one after sti
    assert kernel.warnings == []
    kernel.unload(m)


def test_raw_cli_left_off_is_warned_and_undone(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(RAW_IRQ, "rawirq"))
    m.call("raw_cli")
    assert kernel.warnings == ["interrupts left disabled (raw cli) at the end of rawirq:raw_cli"]
    assert m.call("flags_seen") == 0x200
    m.call("leave_irqs_off")
    assert kernel.warnings[1:] == ["interrupts left disabled at the end of rawirq:leave_irqs_off"]
    kernel.unload(m)
    still_usable(kernel, driver)


def test_state_left_by_a_fault_is_part_of_that_fault(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(RAW_IRQ, "rawirq"))
    with pytest.raises(GuestFault) as caught:
        m.call("lock_and_crash")
    fault = caught.value
    assert fault.kind == "null-pointer"
    assert "state left by the faulting code: interrupts disabled (enabled again); spinlock " in str(fault)
    assert "still held (taken at rawirq:lock_and_crash" in str(fault)
    assert kernel.irqs_enabled
    assert m.call("flags_seen") == 0x200
    assert kernel.warnings == []  # the next, innocent call is not blamed
    kernel.unload(m)
    still_usable(kernel, driver)


VECTORS = r"""
#include <kernel.h>
void bp(void) { __asm__ volatile("int3"); }
void soft(void) { __asm__ volatile("int $0x80"); }
int divide(int a, int b) { return a / b; }
"""


@pytest.mark.parametrize(("function", "kind", "says"), [
    ("bp", "breakpoint", "int3"),
    ("soft", "software-interrupt", "int 0x80"),
])
def test_int3_and_int_n_are_named(kernel: Kernel, compile_c, driver, function: str, kind: str, says: str) -> None:
    m = kernel.load(compile_c(VECTORS, "vectors"))
    with pytest.raises(GuestFault) as caught:
        m.call(function)
    assert caught.value.kind == kind
    assert caught.value.instruction == says
    assert caught.value.location == f"vectors:{function}"
    still_usable(kernel, driver)


def test_the_same_fault_is_reported_the_same_every_time(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(VECTORS, "vectors"))
    snap = kernel.snapshot()
    seen = set()
    for i in range(6):
        with pytest.raises(GuestFault) as caught:
            m.call("divide", 1, 0)
        seen.add((caught.value.kind, caught.value.pc, str(caught.value).splitlines()[0]))
        if i % 2:
            kernel.restore(snap)
    assert len(seen) == 1 and next(iter(seen))[0] == "divide-error"
    still_usable(kernel, driver)


RESTORE = r"""
#include <kernel.h>
void raw_cli(void) { __asm__ volatile("cli"); }
void *grab(void) { return kmalloc(16, GFP_KERNEL); }
int spin(void) { for (;;) __asm__ volatile(""); return 0; }
"""


def test_restore_puts_back_warnings_budget_and_injections(compile_c, driver) -> None:
    kernel = Kernel(run_budget_seconds=1.0)
    m = kernel.load(compile_c(RESTORE, "restoreme"))
    snap = kernel.snapshot()
    left = kernel.cpu.run_budget_left
    m.call("raw_cli")
    kernel.inject_failure("kmalloc")
    with pytest.raises(BudgetExceeded):
        m.call("spin", budget=0.2)
    assert kernel.warnings and kernel.cpu.run_budget_left < left
    kernel.restore(snap)
    assert kernel.warnings == []
    assert kernel.cpu.run_budget_left == left
    assert m.call("grab", returns="ptr") != 0  # the injection armed after the snapshot is gone
    kernel.inject_failure("kmalloc")
    snap2 = kernel.snapshot()
    assert m.call("grab", returns="ptr") == 0
    kernel.restore(snap2)
    assert m.call("grab", returns="ptr") == 0  # armed before the snapshot: armed again
    still_usable(kernel, driver)


@pytest.mark.parametrize(("extra", "says"), [
    (["--profile", "nope"], "python -m sandbox: error: unknown profile 'nope'; known: "),
    (["-o", "{tmp}/fifo"], "sandbox run: error: -o {tmp}/fifo: not a regular file"),
    (["-o", "{tmp}/missing/trace.txt"],
     "sandbox run: error: -o {tmp}/missing/trace.txt: directory {tmp}/missing does not exist"),
    (["--coverage", "{tmp}"], "sandbox run: error: --coverage {tmp}: not a regular file"),
])
def test_cli_checks_its_arguments_before_running(driver, tmp_path, capsys, extra: list[str], says: str) -> None:
    import os

    from sandbox.cli import main

    os.mkfifo(tmp_path / "fifo")
    args = [a.format(tmp=tmp_path) for a in extra]
    assert main(["run", str(driver("hello")), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(says.format(tmp=tmp_path))


@pytest.mark.parametrize("suffix", [".ko.xz", ".ko.gz"])
def test_a_decompression_bomb_is_refused_naming_the_limit(kernel: Kernel, driver, tmp_path, monkeypatch,
                                                          suffix: str) -> None:
    import gzip
    import lzma

    import sandbox.modfile
    from sandbox.errors import LoadError

    monkeypatch.setattr(sandbox.modfile, "MAX_MODULE_BYTES", 1 << 20)
    payload = driver("hello").read_bytes() + bytes(2 << 20)  # a real module, then 2 MiB of zeros
    bomb = tmp_path / f"bomb{suffix}"
    bomb.write_bytes(lzma.compress(payload) if suffix.endswith("xz") else gzip.compress(payload))
    assert bomb.stat().st_size < 16 << 10
    with pytest.raises(LoadError) as caught:
        kernel.load(bomb)
    assert caught.value.check == "decompressed-size"
    assert "decompresses to more than 1 MiB (the module area's size); refused" in str(caught.value)
    assert kernel.modules == []
    still_usable(kernel, driver)


def test_a_fifo_is_not_read_as_a_module(kernel: Kernel, driver, tmp_path) -> None:
    import os

    from sandbox.errors import LoadError

    os.mkfifo(tmp_path / "pipe.ko")
    with pytest.raises(LoadError, match=r"pipe\.ko: read: not a regular file"):
        kernel.load(tmp_path / "pipe.ko")
    still_usable(kernel, driver)


def _section(data: bytes, name: str) -> tuple[int, int]:
    """(file offset, size) of section ``name`` of an ELF file."""
    import io

    from elftools.elf.elffile import ELFFile

    found = ELFFile(io.BytesIO(data)).get_section_by_name(name)
    assert found is not None, name
    return found["sh_offset"], found["sh_size"]


def _patched(driver, tmp_path, section: str, where: int, value: bytes) -> object:
    data = bytearray(driver("hello").read_bytes())
    offset, size = _section(bytes(data), section)
    at = offset + (where if where >= 0 else size + where)
    data[at:at + len(value)] = value
    path = tmp_path / "crafted.o"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("section", "where", "value", "check", "says"), [
    ("__ksymtab_strings", -1, b"C", "ksymtab-name", "is not NUL-terminated inside __ksymtab_strings"),
    ("__ksymtab_strings", 0, b"\x01", "ksymtab-name", "is not a symbol name"),
    ("__ksymtab_strings", 0, b"\x00", "ksymtab-name", "name '' is not a symbol name"),
    ("__ksymtab", 0, b"\x00\x00\x00\x10", "ksymtab-address", "outside the module's loaded sections"),
])
def test_malformed_export_tables_are_refused_naming_the_export(kernel: Kernel, driver, tmp_path, section: str,
                                                               where: int, value: bytes, check: str, says: str) -> None:
    from sandbox.errors import LoadError

    with pytest.raises(LoadError) as caught:
        kernel.load(_patched(driver, tmp_path, section, where, value))
    assert caught.value.check == check
    assert says in str(caught.value)
    assert kernel.modules == []
    still_usable(kernel, driver)


def _assemble(tmp_path, source: str, name: str):
    import subprocess

    (tmp_path / f"{name}.s").write_text(source)
    subprocess.run(["as", "--32", str(tmp_path / f"{name}.s"), "-o", str(tmp_path / f"{name}.o")], check=True)
    return tmp_path / f"{name}.o"


def test_relocation_against_a_symbol_of_an_unloaded_section_is_refused(kernel: Kernel, driver, tmp_path) -> None:
    from sandbox.errors import LoadError

    obj = _assemble(tmp_path, """
        .section .notloaded, "", @progbits
    hidden: .long 42
        .text
        .globl get
    get: movl hidden, %eax
        ret
    """, "unloaded")
    with pytest.raises(LoadError) as caught:
        kernel.load(obj)
    assert caught.value.check == "relocation-to-unloaded"
    assert "defined in section [" in str(caught.value) and "] .notloaded which is not loaded" in str(caught.value)
    still_usable(kernel, driver)


def test_a_file_with_65k_sections_fails_and_unwinds(kernel: Kernel, driver, tmp_path) -> None:
    from sandbox.errors import LoadError

    sections = "".join(f'.section .data.s{i},"aw"\n.byte 1\n' for i in range(65270))
    obj = _assemble(tmp_path, ".text\n.globl init_module\ninit_module:\n movl $-22, %eax\n ret\n" + sections, "many")
    with pytest.raises(LoadError, match="init_module of many returned -22"):
        kernel.load(obj)
    assert kernel.symbolizer.areas_of("many") == []
    still_usable(kernel, driver)


REPORTS = r"""
#include <kernel.h>
int through(int (*fp)(void)) { return fp() + 1; }   /* call *4(%esp): FF 54 24 04 */
int deep(int n) { volatile char pad[256]; pad[0] = (char)n; return deep(n + 1) + pad[0]; }
"""


def test_a_null_call_names_its_caller_for_call_via_the_stack(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(REPORTS, "reports"))
    with pytest.raises(GuestFault) as caught:
        m.call("through", 0)
    assert caught.value.kind == "null-pointer"
    assert "  #1 0xd0000007 reports:through+0x7" in caught.value.report
    still_usable(kernel, driver)


def test_a_stack_overflow_backtrace_shows_the_recursion(kernel: Kernel, compile_c, driver) -> None:
    m = kernel.load(compile_c(REPORTS, "reports"))
    with pytest.raises(GuestFault) as caught:
        m.call("deep", 0)
    assert caught.value.kind == "stack-guard"
    assert caught.value.report.count("reports:deep+") >= 8
    still_usable(kernel, driver)


def test_lcov_names_no_source_outside_the_source_root(compile_c, tmp_path) -> None:
    source = '#include <kernel.h>\nint honest(int x) { return x + 1; }\n#line 1 "/etc/passwd"\nint liar(int x) { return x * 3; }\n'
    kernel = Kernel(coverage=True)
    m = kernel.load(compile_c(source, "liar"))
    m.call("honest", 1)
    m.call("liar", 2)
    out = tmp_path / "cov.info"
    dropped = kernel.coverage.write_lcov(str(out), source_root=str(tmp_path))
    records = [line for line in out.read_text().splitlines() if line.startswith("SF:")]
    assert records == [f"SF:{(tmp_path / 'liar.c').resolve()}"]
    assert "/etc/passwd" in dropped
