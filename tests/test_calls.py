"""Calls in both directions, calling conventions, nesting and IRQ delivery."""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.services import service

SOURCE = """
typedef unsigned int size_t;
extern int printk(const char *fmt, ...);
extern void *memcpy(void *dst, const void *src, size_t n);
extern int call_me_back(int (*fn)(int, int), int a, int b);
extern int raise_line(int line);
static int hits;
int sum5(int a, int b, int c, int d, int e) { return a + 2 * b + 3 * c + 4 * d + 5 * e; }
long long wide(long long x) { return x * 3; }
int twice(int a, int b) { return 2 * (a + b); }
int outer(int a) { return call_me_back(twice, a, 1) + 1; }
int copy_and_print(const char *s, char *out) { memcpy(out, s, 6); return printk("%s|%d|%s\\n", s, 7, out); }
int handler(int irq, void *dev) { hits += irq; return 1; }
int get_hits(void) { return hits; }
int raise_from_guest(void) { return raise_line(3) + hits; }
"""


@service("int call_me_back(void *fn, int a, int b)")
def call_me_back(k: Kernel, fn: int, a: int, b: int) -> int:
    return k.call_function_pointer(fn, a, b) + 100


@service("int raise_line(int line)")
def raise_line(k: Kernel, line: int) -> int:
    return sum(r.result for r in k.raise_irq(line))


def _kernel(profile: str) -> Kernel:
    k = Kernel(profile, budget_seconds=5)
    k.add_service(call_me_back)
    k.add_service(raise_line)
    return k


@pytest.mark.parametrize(("profile", "flags"), [("generic", ()), ("generic-regparm", ("-mregparm=3",))])
def test_conventions_both_directions(compile_c, profile: str, flags: tuple[str, ...]) -> None:
    k = _kernel(profile)
    m = k.load(compile_c(SOURCE, "calls", *flags))
    assert m.call("sum5", 1, 2, 3, 4, 5) == 1 + 4 + 9 + 16 + 25
    assert m.call("twice", -3, 1) == -4
    assert m.call("wide", 5, 0, returns="s64") == 15  # a 64-bit argument passed as two slots
    out = bytearray(6)
    assert m.call("copy_and_print", "hello", out) == len("hello|7|hello\n")
    assert bytes(out) == b"hello\0"
    assert k.console == "hello|7|hello\n"
    call = k.trace.calls("printk")[0]
    assert call.args[0] == b"%s|%d|%s\n" and call.result == 14
    assert k.symbolizer.short(call.caller).startswith("calls:copy_and_print+")


def test_service_calls_back_into_guest(compile_c) -> None:
    k = _kernel("generic")
    m = k.load(compile_c(SOURCE, "calls"))
    assert m.call("outer", 4) == 2 * (4 + 1) + 100 + 1
    event = k.trace.calls("call_me_back")[0]
    assert event.result == 110 and event.depth == 0


def test_irq_raised_from_inside_a_service_runs_on_irq_stack(compile_c) -> None:
    k = _kernel("generic")
    m = k.load(compile_c(SOURCE + """
        extern int request_irq(unsigned int, int (*)(int, void *), unsigned long, const char *, void *);
        static int dev;
        int hook(void) { return request_irq(3, handler, 0, "t", &dev); }
    """, "calls"))
    assert m.call("hook") == 0
    assert m.call("raise_from_guest") == 1 + 3
    handler_events = [e for e in k.trace.of_kind("irq") if e.name == "handler"]
    assert handler_events[0].context == "irq" and handler_events[0].depth == 1


def test_shared_irq_line_runs_every_handler_with_its_dev_id(compile_c) -> None:
    k = _kernel("generic")
    source = """
        extern int request_irq(unsigned int, int (*)(int, void *), unsigned long, const char *, void *);
        extern const void *free_irq(unsigned int, void *);
        static int a, b, seen_a, seen_b;
        static int h(int irq, void *dev) { if (dev == &a) seen_a++; else if (dev == &b) seen_b++; return dev == &a; }
        int init_module(void) { return request_irq(9, h, 0x80, "A", &a) | request_irq(9, h, 0x80, "B", &b); }
        int counts(void) { return seen_a * 10 + seen_b; }
        int drop_b(void) { free_irq(9, &b); return 0; }
    """
    m = k.load(compile_c(source, "shared"))
    results = k.raise_irq(9)
    assert [r.result for r in results] == [1, 0]
    assert m.call("counts") == 11
    m.call("drop_b")
    assert len(k.raise_irq(9)) == 1 and m.call("counts") == 21
    assert k.raise_irq(10) == []
    report = k.unload(m)
    assert report.leaks == ["IRQ 9 handler 'A' still registered"]
    assert any(e.kind == "leak" for e in k.trace)


def test_exclusive_irq_line_refuses_second_handler(compile_c) -> None:
    k = _kernel("generic")
    m = k.load(compile_c("""
        extern int request_irq(unsigned int, int (*)(int, void *), unsigned long, const char *, void *);
        static int h(int irq, void *dev) { return 1; }
        int first(void) { return request_irq(4, h, 0, "one", (void *)1); }
        int second(void) { return request_irq(4, h, 0, "two", (void *)2); }
    """, "excl"))
    assert m.call("first") == 0
    assert m.call("second") == -16  # -EBUSY
