"""Guest CPU exceptions become GuestFault reports; the kernel stays usable."""

from __future__ import annotations

import pytest

from sandbox import BudgetExceeded, GuestFault, Kernel

SOURCE = """
static const int constant = 5;
static volatile int sink;
int ok(int a, int b) { return a + b; }
int null_read(void) { return *(volatile int *)0x10; }
int null_write(void) { *(volatile int *)0 = 1; return 0; }
int write_rodata(void) { *(volatile int *)&constant = 6; return 0; }
int write_text(void) { *(volatile unsigned char *)ok = 0xc3; return 0; }
int bad_opcode(void) { __builtin_trap(); }
int divide(int d) { volatile int n = 100; return n / d; }
__attribute__((noinline)) int recurse(int n) { volatile char pad[512]; pad[0] = (char)n; sink = pad[0]; return recurse(n + 1) + pad[0]; }
int overflow(void) { return recurse(0); }
int spin(void) { for (;;) sink++; }
int jump_nowhere(void) { return ((int (*)(void))0xdead0000)(); }
static volatile int *volatile null_pointer;
__attribute__((noinline)) int inner_crash(volatile int *p) { return *p + 1; }
__attribute__((noinline)) int middle(volatile int *p) { return inner_crash(p) + 1; }
int outer_crash(void) { return middle(null_pointer) + 1; }
"""


@pytest.fixture
def faulty(kernel: Kernel, compile_c):
    return kernel.load(compile_c(SOURCE, "faulty", "-fno-omit-frame-pointer"))


@pytest.mark.parametrize(
    ("function", "args", "kind", "in_report"),
    [
        ("null_read", (), "null-pointer", "NULL page"),
        ("null_write", (), "null-pointer", "write of 4 bytes"),
        ("write_rodata", (), "write-protected", "faulty:constant"),
        ("write_text", (), "write-protected", "faulty:ok"),
        ("bad_opcode", (), "invalid-opcode", "ud2"),
        ("divide", (0,), "divide-error", "idiv"),
        ("overflow", (), "stack-guard", "stack guard page"),
        ("jump_nowhere", (), "fetch-unmapped", "0xdead0000"),
    ],
)
def test_fault_kinds(kernel: Kernel, faulty, function: str, args: tuple[int, ...], kind: str, in_report: str) -> None:
    with pytest.raises(GuestFault) as info:
        faulty.call(function, *args)
    fault = info.value
    assert fault.kind == kind
    assert in_report in fault.report
    assert "registers:" in fault.report and "backtrace:" in fault.report
    assert set(fault.registers) >= {"eax", "esp", "eip"}
    if kind != "fetch-unmapped":
        assert fault.location.startswith(f"faulty:{function}") or fault.location.startswith("faulty:recurse")
        assert fault.instruction and fault.instruction != "(bad)"
    # The kernel is still usable after every kind of fault.
    assert faulty.call("ok", 2, 3) == 5


def test_backtrace_is_symbolized(kernel: Kernel, faulty) -> None:
    with pytest.raises(GuestFault) as info:
        faulty.call("outer_crash")
    report = info.value.report
    frames = report.split("backtrace:")[1]
    assert "faulty:inner_crash" in frames and "faulty:middle" in frames and "faulty:outer_crash" in frames
    assert "=> " in report  # the faulting instruction is marked in the disassembly


def test_runaway_loop_stops_at_budget(kernel: Kernel, faulty) -> None:
    with pytest.raises(BudgetExceeded) as info:
        faulty.call("spin", budget=0.2)
    assert info.value.kind == "budget"
    assert info.value.location.startswith("faulty:spin")
    assert faulty.call("ok", 1, 1) == 2


def test_fault_in_irq_handler_leaves_kernel_usable(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c("""
        extern int request_irq(unsigned int, int (*)(int, void *), unsigned long, const char *, void *);
        static int h(int irq, void *dev) { return *(volatile int *)0; }
        int init_module(void) { return request_irq(2, h, 0, "bad", 0); }
        int alive(void) { return 77; }
    """, "badirq"))
    with pytest.raises(GuestFault) as info:
        kernel.raise_irq(2)
    assert info.value.kind == "null-pointer"
    assert not kernel.cpu.context and kernel.cpu.depth == 0
    assert m.call("alive") == 77


def test_run_budget_spans_calls(compile_c) -> None:
    k = Kernel(budget_seconds=5, run_budget_seconds=0.3)
    m = k.load(compile_c(SOURCE, "faulty"))
    assert m.call("ok", 1, 2) == 3
    with pytest.raises(BudgetExceeded):
        m.call("spin")
    assert k.cpu.run_budget_left == 0.0
    with pytest.raises(BudgetExceeded):  # nothing left for later calls either
        m.call("spin")
