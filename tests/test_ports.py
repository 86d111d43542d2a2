"""Port I/O: real in/out instructions reach Python devices through the port bus."""

from __future__ import annotations

from sandbox import Kernel

SOURCE = """
static inline unsigned char inb(unsigned short p) { unsigned char v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline unsigned short inw(unsigned short p)
{ unsigned short v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline unsigned int inl(unsigned short p) { unsigned int v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outb(unsigned char v, unsigned short p) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outl(unsigned int v, unsigned short p) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(p)); }
static inline void insb(unsigned short p, void *buf, unsigned long n)
{ __asm__ volatile("rep insb" : "+D"(buf), "+c"(n) : "d"(p) : "memory"); }
unsigned int read8(unsigned int port) { return inb(port); }
unsigned int read16(unsigned int port) { return inw(port); }
unsigned int read32(unsigned int port) { return inl(port); }
void write8(unsigned int port, unsigned int v) { outb(v, port); }
void write32(unsigned int port, unsigned int v) { outl(v, port); }
unsigned int sum_rep(unsigned int port, int n)
{ unsigned char buf[64]; unsigned int s = 0; insb(port, buf, n); for (int i = 0; i < n; i++) s += buf[i]; return s; }
"""


class Latch:
    """A tiny device: port+0 stores a value, port+1 counts reads."""

    name = "latch"

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.writes: list[tuple[int, int, int]] = []

    def port_read(self, port: int, width: int) -> int:
        self.reads += 1
        return self.value if port == 0x300 else self.reads

    def port_write(self, port: int, width: int, value: int) -> None:
        self.writes.append((port, width, value))
        self.value = value


def test_unclaimed_ports_read_all_ones_and_are_traced(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c(SOURCE, "pio"))
    assert m.call("read8", 0x2E0, returns="uint") == 0xFF
    assert m.call("read16", 0x2E0, returns="uint") == 0xFFFF
    assert m.call("read32", 0x2E0, returns="uint") == 0xFFFFFFFF
    events = kernel.trace.of_kind("port")
    assert [(e.fields["direction"], e.fields["width"], e.fields["device"]) for e in events] == [
        ("in", 8, None), ("in", 16, None), ("in", 32, None)
    ]
    assert kernel.symbolizer.short(events[0].caller).startswith("pio:read8")


def test_device_sees_writes_and_answers_reads(kernel: Kernel, compile_c) -> None:
    latch = Latch()
    kernel.ports.claim(0x300, 2, latch)
    m = kernel.load(compile_c(SOURCE, "pio"))
    m.call("write8", 0x300, 0x5A)
    m.call("write32", 0x300, 0x12345678)
    assert latch.writes == [(0x300, 1, 0x5A), (0x300, 4, 0x12345678)]
    assert m.call("read8", 0x300, returns="uint") == 0x78  # narrowed to the access width
    out = kernel.trace.of_kind("port")[0]
    assert out.fields == {"direction": "out", "port": 0x300, "width": 8, "value": 0x5A, "device": "latch",
                          "register": None}


def test_rep_insb_reads_the_device_once_per_byte(kernel: Kernel, compile_c) -> None:
    latch = Latch()
    kernel.ports.claim(0x300, 2, latch)
    m = kernel.load(compile_c(SOURCE, "pio"))
    assert m.call("sum_rep", 0x301, 5) == 1 + 2 + 3 + 4 + 5
    assert latch.reads == 5


def test_overlapping_claims_are_refused(kernel: Kernel) -> None:
    kernel.ports.claim(0x300, 2, Latch())
    import pytest

    with pytest.raises(ValueError, match="overlap"):
        kernel.ports.claim(0x301, 4, Latch())
