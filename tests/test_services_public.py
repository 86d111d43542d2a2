"""Writing services from public names only (sandbox.services), as a hobby-OS developer would.

A small kernel API of our own (``myos.h``) is implemented with nothing but
``sandbox.services``: checked memory, the console, the heap with leak
tracking, a subsystem whose state is released at unload, IRQ registration,
and a call back into the driver. A real driver compiled against the header
exercises each of them.
"""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import pytest

from sandbox import Kernel, SandboxError
from sandbox.services import (
    GuestFault,
    Heap,
    ServiceContext,
    ServiceError,
    Subsystem,
    VarArgs,
    as_context,
    format_printf,
    service,
)
from sandbox.services.registry import collect

from .linux_corpus import ko, needs_corpus

MYOS_H = r"""
#ifndef MYOS_H
#define MYOS_H
typedef unsigned int size_t;
struct myos_driver {
	const char *name;
	int (*probe)(struct myos_driver *drv, int unit);
	int (*irq)(int line, void *dev);
	int line;
};
int myos_log(const char *fmt, ...);
void *myos_alloc(size_t size);
void myos_free(void *p);
int myos_register_driver(struct myos_driver *drv);
int myos_unregister_driver(struct myos_driver *drv);
int myos_fill(unsigned int *out, int count);
unsigned long myos_sleep(unsigned int ms);
#endif
"""

DRIVER_C = r"""
#include "myos.h"

static int probed, irqs;
static void *kept;

static int my_probe(struct myos_driver *drv, int unit)
{
	probed = unit;
	myos_log("probe %s unit %d\n", drv->name, unit);
	return 0;
}

static int my_irq(int line, void *dev)
{
	irqs++;
	return 1;
}

struct myos_driver my_driver = { "netdrv", my_probe, my_irq, 9 };

int start(void)
{
	unsigned int values[3];
	void *scratch = myos_alloc(32);
	kept = myos_alloc(100);  /* never freed: a leak at unload */
	myos_free(scratch);
	myos_fill(values, 3);
	myos_log("values %u %u %u\n", values[0], values[1], values[2]);
	return myos_register_driver(&my_driver);
}

int stop(void) { return myos_unregister_driver(&my_driver); }
unsigned long nap(void) { return myos_sleep(30); }
int probed_unit(void) { return probed; }
int irq_count(void) { return irqs; }
void free_twice(void) { void *p = myos_alloc(8); myos_free(p); myos_free(p); }
"""


class Drivers(Subsystem):
    """The drivers registered with myos_register_driver, per kernel."""

    def __init__(self) -> None:
        self.registered: dict[int, tuple[str, str]] = {}  # struct address -> (name, owner)
        self.booted = False

    def boot(self, ctx: ServiceContext) -> None:
        self.booted = True

    def release_module(self, ctx: ServiceContext, module) -> list[str]:
        leaks = []
        for address, (name, owner) in list(self.registered.items()):
            if owner == module.name:
                del self.registered[address]
                leaks.append(f"driver {name} still registered")
        return leaks


@service("int myos_log(const char *fmt, ...)")
def myos_log(ctx: ServiceContext, fmt: int, args: VarArgs) -> int:
    text = ctx.format(fmt, args)
    ctx.console_write(text.decode())
    return len(text)


@service("void *myos_alloc(size_t size)")
def myos_alloc(ctx: ServiceContext, size: int) -> int:
    return ctx.alloc(size)


@service("void myos_free(void *p)")
def myos_free(ctx: ServiceContext, p: int) -> None:
    ctx.free(p)


@service("int myos_fill(unsigned int *out, int count)")
def myos_fill(ctx: ServiceContext, out: int, count: int) -> int:
    for i in range(count):
        ctx.write_u32(out + 4 * i, (i + 1) * 11)
    return count


@service("int myos_register_driver(struct myos_driver *drv)")
def myos_register_driver(ctx: ServiceContext, drv: int) -> int:
    name_ptr, probe, irq, line = ctx.read_struct(drv, "<IIIi")
    module = ctx.caller_module()
    ctx.subsystem(Drivers).registered[drv] = (ctx.read_string(name_ptr), module.name if module else "kernel")
    ctx.note("myos-register", driver=ctx.read_string(name_ptr))
    if ctx.request_irq(line, irq, dev_id=drv) != 0:
        return -16
    return ctx.call_function_pointer(probe, drv, 7)


@service("int myos_unregister_driver(struct myos_driver *drv)")
def myos_unregister_driver(ctx: ServiceContext, drv: int) -> int:
    entry = ctx.subsystem(Drivers).registered.pop(drv, None)
    if entry is None:
        ctx.warn(f"myos_unregister_driver of {drv:#x}, which is not registered")
        return -2
    line = ctx.read_s32(drv + 12)
    return 0 if ctx.free_irq(line, drv) else -22


@service("unsigned long myos_sleep(unsigned int ms)")
def myos_sleep(ctx: ServiceContext, ms: int) -> int:
    before = ctx.clock.jiffies
    ctx.advance_time(ms * 1_000_000)
    return ctx.clock.jiffies - before


MYOS_SERVICES = [myos_log, myos_alloc, myos_free, myos_fill, myos_register_driver, myos_unregister_driver,
                 myos_sleep]


def _build(tmp_path: Path, source: str, compiler: str = "gcc", name: str = "netdrv") -> Path:
    (tmp_path / "myos.h").write_text(MYOS_H)
    c_file = tmp_path / f"{name}.c"
    c_file.write_text(source)
    obj = tmp_path / f"{name}.o"
    subprocess.run([compiler, "-m32", "-ffreestanding", "-nostdinc", "-fno-pic", "-O2", "-fno-stack-protector",
                    "-I", str(tmp_path), "-c", str(c_file), "-o", str(obj)], check=True)
    return obj


def test_driver_runs_against_services_written_with_public_names(tmp_path: Path) -> None:
    k = Kernel()
    k.add_services(*MYOS_SERVICES)
    m = k.load(_build(tmp_path, DRIVER_C))
    assert m.call("start") == 0
    # memory writes, the console and printf, and a guest callback (probe)
    assert "values 11 22 33\n" in k.console and "probe netdrv unit 7\n" in k.console
    assert m.call("probed_unit") == 7
    # the IRQ handler the service registered runs when the line is raised
    k.raise_irq(9)
    k.raise_irq(9)
    assert m.call("irq_count") == 2
    drivers = k.subsystem(Drivers)
    assert drivers.booted and list(drivers.registered.values()) == [("netdrv", "netdrv")]
    assert [e.name for e in k.trace.of_kind("note")].count("myos-register") == 1
    # the heap knows who owns what
    live = k.subsystem(Heap).owned_by("netdrv")
    assert [b.size for b in live] == [100]
    # time moves for the guest: 30 ms at the generic profile's tick rate
    assert m.call("nap") == 30 * k.clock.hz // 1000
    # a warning for a driver mistake that does not stop it
    assert m.call("stop") == 0 and m.call("stop") == -2
    assert k.warnings[-1].startswith("myos_unregister_driver of 0x") and k.trace.of_kind("warning")
    assert m.call("start") == 0  # the IRQ line was freed by unregister, so it registers again
    report = k.unload(m)
    # leaks at unload: the heap block, the subsystem's registration, the IRQ handler
    assert sum("100 bytes at" in leak and "allocated at netdrv:start" in leak for leak in report.leaks) == 2
    assert "driver netdrv still registered" in report.leaks
    assert any("IRQ 9 handler" in leak for leak in report.leaks)
    assert drivers.registered == {} and k.subsystem(Heap).owned_by("netdrv") == []


def test_heap_double_free_is_reported_with_both_sites(tmp_path: Path) -> None:
    k = Kernel()
    k.add_services(*MYOS_SERVICES)
    m = k.load(_build(tmp_path, DRIVER_C))
    with pytest.raises(GuestFault) as info:
        m.call("free_twice")
    assert info.value.kind == "double-free"
    assert "first freed at netdrv:free_twice" in str(info.value)


def test_subsystem_state_is_saved_and_restored_by_snapshots(tmp_path: Path) -> None:
    k = Kernel()
    k.add_services(*MYOS_SERVICES)
    m = k.load(_build(tmp_path, DRIVER_C))
    snap = k.snapshot()
    m.call("start")
    assert k.subsystem(Drivers).registered
    k.restore(snap)
    assert k.subsystem(Drivers).registered == {}
    assert m.call("start") == 0 and len(k.subsystem(Drivers).registered) == 1


def test_subsystem_save_restore_protocol_is_used_when_defined() -> None:
    class Counter:
        def __init__(self) -> None:
            self.value = 0
            self.restored = 0

        def save(self) -> int:
            return self.value

        def restore(self, saved: int) -> None:
            self.value = saved
            self.restored += 1

    k = Kernel()
    counter = k.subsystem(Counter)
    counter.value = 5
    snap = k.snapshot()
    counter.value = 9
    k.restore(snap)
    k.restore(snap)
    assert k.subsystem(Counter) is counter and (counter.value, counter.restored) == (5, 2)


def test_kernel_and_context_are_interchangeable_for_host_helpers() -> None:
    k = Kernel()
    ctx = as_context(k)
    assert ctx is k.service_context and as_context(ctx) is ctx
    assert ctx.subsystem(Drivers) is k.subsystem(Drivers)
    block = ctx.alloc(16)  # from the host: owned by the kernel, not a module
    assert k.subsystem(Heap).block(block).owner == "kernel"
    ctx.write_cstring(block, "hi there", size=3)
    assert ctx.read_cstring(block) == b"hi" and ctx.read_u8(block + 2) == 0
    ctx.free(block)


def test_printf_engine_is_public() -> None:
    from sandbox.services import ListArgs

    assert format_printf(b"%s=%5d|%-3x|", ListArgs([0x1000, 42, 10]), lambda a, n: b"answer") == b"answer=   42|a  |"


# ---------------------------------------------------------------- arity checks
@service("int two_args(int a, int b)")
def two_args_wrong(ctx, a):
    return a


@service("int logf(const char *fmt, ...)")
def variadic_without_reader(ctx, fmt):
    return 0


@service("int flexible(int a, int b)")
def flexible(ctx, *args):
    return sum(args)


def test_arity_mismatch_is_refused_when_added() -> None:
    k = Kernel()
    with pytest.raises(ServiceError) as info:
        k.add_service(two_args_wrong)
    message = str(info.value)
    assert "two_args_wrong" in message and "'int two_args(int a, int b)'" in message
    assert "takes 2 positional arguments" in message and "passes 3" in message
    variadic = r"variadic_without_reader takes 2 .* passes 3 \(the context \+ 1 parameter \+ 1 variadic argument reader\)"
    with pytest.raises(ServiceError, match=variadic):
        k.add_service(variadic_without_reader)
    assert k.export_address("two_args") is None and k.export_address("logf") is None
    assert k.add_service(flexible)


def test_arity_mismatch_in_a_module_of_services_is_refused_before_any_is_added() -> None:
    services = types.ModuleType("my_services")
    services.good = myos_fill
    services.bad = two_args_wrong
    k = Kernel()
    with pytest.raises(ServiceError, match="two_args_wrong"):
        k.add_services(services)
    assert k.export_address("myos_fill") is None
    with pytest.raises(ServiceError, match="two_args_wrong"):
        collect([services])  # how a profile's services are collected


# ----------------------------------------------------------- replacing exports
@service("int printk(const char *fmt, ...)")
def my_printk(ctx: ServiceContext, fmt: int, args: VarArgs) -> int:
    ctx.console_write("[myos] " + ctx.format(fmt, args).decode())
    return 0


def test_adding_a_service_the_kernel_exports_says_how_to_replace_it(compile_c) -> None:
    k = Kernel()
    with pytest.raises(SandboxError, match=r"printk is already exported by the kernel \(generic profile\); pass replace=True"):
        k.add_service(my_printk)
    path = compile_c("int printk(const char *fmt, ...);\nint hello(void) { return printk(\"hi %d\\n\", 5); }\n")
    m = k.load(path)
    k.add_service(my_printk, replace=True)
    assert m.call("hello") == 0 and k.console.endswith("[myos] hi 5\n")


# ------------------------------------------------------------ tail-call blame
TAIL_C = r"""
int sandbox_unimplemented_service(int x);
int no_such_function_anywhere(int x);
int tail(int x) { return sandbox_unimplemented_service(x); }
int tail_trap(int x) { return no_such_function_anywhere(x); }
int normal(int x) { return sandbox_unimplemented_service(x) + 1; }
"""


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_a_tail_call_to_a_missing_service_names_the_jumping_function(tmp_path: Path, compiler: str) -> None:
    obj = _build(tmp_path, TAIL_C, compiler, "tails")
    k = Kernel(unresolved="trap")
    m = k.load(obj)
    with pytest.raises(ServiceError) as info:
        m.call("tail", 1)
    message = str(info.value)
    assert "sandbox_unimplemented_service is declared in testing.h:" in message
    # both compilers emit `jmp` here: the return address is the host's, the jump is tail's own
    assert "(called from tails:tail" in message and "(tail call)" in message and "<host call>" not in message
    with pytest.raises(ServiceError, match=r"called from tails:normal\+0x[0-9a-f]+\)$"):
        m.call("normal", 1)
    with pytest.raises(GuestFault) as trapped:
        m.call("tail_trap", 1)
    text = str(trapped.value)
    assert "no_such_function_anywhere from tails:tail_trap" in text and "(tail call)" in text
    assert "neither the generic profile nor a loaded module exports it" in text


def test_trap_message_names_the_profile_in_use(tmp_path: Path) -> None:
    k = Kernel("generic-regparm", unresolved="trap")
    m = k.load(_build(tmp_path, "int gone(int);\nint use(void) { return gone(1) + 1; }\n", name="use"))
    with pytest.raises(GuestFault, match=r"gone from use:use\+0x[0-9a-f]+ \(bound to a trap: neither the generic-regparm profile"):
        m.call("use")


def test_a_replacement_survives_restoring_a_snapshot_taken_before_it(compile_c) -> None:
    k = Kernel()
    m = k.load(compile_c("int printk(const char *fmt, ...);\nint hello(void) { return printk(\"x\\n\"); }\n"))
    snap = k.snapshot()
    k.add_service(my_printk, replace=True)
    k.restore(snap)
    assert m.call("hello") == 0 and k.console.endswith("[myos] x\n")  # the slot was replaced in place
    assert k.symbolizer.short(k.export_address("printk")) == "printk"
    assert k.trace.calls("printk")[-1].name == "printk"


@needs_corpus
def test_a_host_helper_takes_the_kernel_or_its_context() -> None:
    """kernel_stubs.linux.crypto.Shash was written for a Kernel; a service holding the context can use it too."""
    from kernel_stubs.linux.crypto import Shash

    lk = Kernel("linux")
    lk.load(ko("crypto/crc32c_generic.ko"))
    for owner in (lk, lk.service_context):
        h = Shash(owner, "crc32c")
        assert h.digest(b"123456789") == (0xE3069283).to_bytes(4, "little")
        h.close()


def test_every_name_the_shipped_services_use_is_on_the_context() -> None:
    """kernel_stubs call ``k.NAME`` on what they receive: the context must answer each."""
    import re

    root = Path(__file__).resolve().parent.parent / "kernel_stubs"
    code = [re.sub(r"#.*", "", path.read_text()) for path in root.rglob("*.py")]  # comments may say k.load(...)
    used = {name for text in code for name in re.findall(r"\bk\.([A-Za-z_]\w*)", text)}
    ctx = Kernel("linux").service_context  # the profile with the most parts (sysfs, net)
    assert used and sorted(n for n in used if not hasattr(ctx, n)) == []
    # Names a Kernel gains later (not documented on the context) are reached through it as well.
    assert ctx.injections is ctx.kernel.injections and ctx.warnings is ctx.kernel.warnings
