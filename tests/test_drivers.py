"""The sample drivers, built by the real compiler, doing their jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel, ServiceError

ROOT = Path(__file__).resolve().parent.parent


def test_hello_init_and_exit(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("hello"))
    assert kernel.console == "hello: loaded, answer=42\n"
    assert m.info("license") == ["GPL"] and m.info("author") == ["module-sandbox"]
    assert m.state == "live" and m.exports.keys() == {"hello_greet"}
    assert m.call("hello_greet", "world") == len("hello: greetings, world!\n")
    report = kernel.unload(m)
    assert report.clean
    assert kernel.console.splitlines() == [
        "hello: loaded, answer=42",
        "hello: greetings, world!",
        "hello: unloaded after 2 greeting(s)",
    ]
    assert kernel.console_records[0][0] == 6  # KERN_INFO
    kinds = [e.kind for e in kernel.trace]
    assert kinds[0] == "load" and kinds[-3:] == ["service", "exit", "unload"]
    assert [e.name for e in kernel.trace.of_kind("init")] == ["hello"]


def test_irqcount_counts_interrupts(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("irqcount"))
    assert kernel.console == "irqcount: handler on IRQ 5 ready\n"
    for expected in (1, 2, 3):
        results = kernel.raise_irq(5)
        assert [(r.handler, r.result) for r in results] == [("irqcount:irqcount_handler", 1)]
        assert m.call("irqcount_get") == expected
    m.call("irqcount_reset")
    assert m.call("irqcount_get") == 0
    kernel.raise_irq(5)
    handler_calls = [e for e in kernel.trace.calls("_spin_lock_irqsave") if e.context == "irq"]
    assert handler_calls and handler_calls[0].result == 0  # interrupts are off inside a handler
    assert kernel.unload(m).clean
    assert kernel.console.endswith("irqcount: saw 1 interrupt(s)\n")
    assert kernel.raise_irq(5) == []  # free_irq really removed it


def test_memlist_kmalloc_list(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("memlist"))
    for value, name in ((1, "one"), (2, "two"), (3, "three-is-a-long-name")):
        assert m.call("memlist_push", value, name) == 0
    assert (m.call("memlist_len"), m.call("memlist_sum")) == (3, 6)
    assert m.call("memlist_find", "two") == 2
    assert m.call("memlist_find", "three-is-a-long") == 3  # truncated to 15 chars by strscpy
    assert m.call("memlist_find", "four") == -2  # -ENOENT
    buf = bytearray(32)
    assert m.call("memlist_describe", buf, len(buf)) == len("3 nodes, sum=6")
    assert buf.split(b"\0")[0] == b"3 nodes, sum=6"
    assert m.call("memlist_pop") == 3
    allocations = kernel.trace.calls("kmalloc")
    assert [e.args for e in allocations] == [(24, 0xCC0)] * 3  # sizeof(struct node)
    frees = kernel.trace.calls("kfree")
    assert frees[0].args == (allocations[2].result,)
    report = kernel.unload(m)
    assert report.clean and kernel.console.endswith("memlist: freed 2 node(s)\n")


def test_fmt_console_matches_c_printf(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("fmt"))
    m.call("fmt_demo")
    assert kernel.console == (ROOT / "drivers" / "fmt.expected").read_text()
    levels = [level for level, _ in kernel.console_records[9:14]]
    assert levels == [0, 3, 4, 6, 7]
    buf = bytearray(12)
    assert m.call("fmt_snprintf", buf, len(buf), 42) == len("value=0042 hex=0x2a")
    assert bytes(buf) == b"value=0042 \0"


def test_faulty_driver_reports_and_recovers(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("faulty"))
    for function, kind in (("fault_null_read", "null-pointer"), ("fault_write_rodata", "write-protected"),
                           ("fault_invalid_opcode", "invalid-opcode"), ("fault_stack_overflow", "stack-guard"),
                           ("fault_double_free", "double-free")):
        with pytest.raises(GuestFault) as info:
            m.call(function)
        assert info.value.kind == kind, function
    with pytest.raises(GuestFault) as info:
        m.call("fault_divide", 0)
    assert info.value.kind == "divide-error" and info.value.location.startswith("faulty:fault_divide")
    missing = (r"sandbox_unimplemented_service is declared in testing\.h:8 but not implemented by the generic "
               r"profile \(called from faulty:fault_call_missing\+0x[0-9a-f]+\)")
    with pytest.raises(ServiceError, match=missing):
        m.call("fault_call_missing")
    assert m.call("faulty_ok", 20, 22) == 42


@pytest.mark.parametrize("fmt", ["obj", "rel", "pic"])
def test_relocatable_formats_behave_alike(built, fmt: str) -> None:
    k = Kernel()
    m = k.load(built[("gcc", fmt, "memlist")])
    m.call("memlist_push", 5, "five")
    m.call("memlist_push", 6, "six")
    assert (m.call("memlist_sum"), m.call("memlist_find", "five")) == (11, 5)
    assert k.unload(m).clean
