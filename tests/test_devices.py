"""The device mechanism: attaching devices, register names in traces, MMIO
windows, and IRQs raised by devices (delivered at once or when interrupts
are enabled again)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

import sandbox.interrupts
from sandbox import GuestFault, Kernel, SandboxError
from sandbox.devices.device import Device, RegisterName
from sandbox.devices.uart16550 import Uart16550
from sandbox.machine import address_map as amap

from .guest import PIO


class Doorbell(Device):
    """Port 0x300 raises IRQ 9 when written; MMIO registers echo what was stored."""

    name = "bell"
    irq = 9
    port_ranges = ((0x300, 2),)
    port_base = 0x300
    registers: Mapping[int, RegisterName] = {0: "RING", 1: ("STATUS", "ACK"), 0x10: "VALUE", 0x14: ("ID", "RESET")}

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[int, int] = {}
        self.accesses: list[tuple[str, int, int]] = []

    def port_write(self, port: int, width: int, value: int) -> None:
        if port == 0x300:
            self.raise_irq()

    def port_read(self, port: int, width: int) -> int:
        return 0x42

    def mmio_read(self, offset: int, width: int) -> int:
        self.accesses.append(("r", offset, width))
        return 0xB0BA_CAFE if offset == 0x14 else self.stored.get(offset, 0)

    def mmio_write(self, offset: int, width: int, value: int) -> None:
        self.accesses.append(("w", offset, width))
        self.stored[offset] = value


def test_default_devices_sit_at_pc_addresses() -> None:
    k = Kernel()
    assert sorted(k.devices) == ["com1", "i2c", "kbd", "pci", "pci-host-bridge", "pit", "platform", "spi"]
    assert k.ports.device_at(0xCF8) is k.pci and k.pci.function_at(0, 0, 0) is k.devices["pci-host-bridge"]
    assert k.ports.device_at(0x3F8) is k.devices["com1"] and k.ports.device_at(0x3FF) is k.devices["com1"]
    assert k.ports.device_at(0x60) is k.devices["kbd"] and k.ports.device_at(0x64) is k.devices["kbd"]
    assert k.ports.device_at(0x61) is k.devices["pit"]  # port B of the PC is the timer's speaker gate, not the keyboard's
    assert (k.devices["com1"].irq, k.devices["kbd"].irq) == (4, 1)


def test_devices_can_be_turned_off_or_replaced(compile_c) -> None:
    bare = Kernel(devices=[])
    assert len(bare.devices) == 0
    m = bare.load(compile_c(PIO, "pio"))
    assert m.call("read8", 0x3FD, returns="uint") == 0xFF  # nothing answers: the bus floats high
    k = Kernel(devices=[Uart16550("com2", port=0x2F8, irq=3)])
    assert list(k.devices) == ["com2"] and k.ports.device_at(0x2FD).name == "com2"
    k.devices.remove("com2")
    assert k.ports.device_at(0x2FD) is None
    with pytest.raises(KeyError, match="attached: none"):
        k.devices["com2"]


def test_a_device_name_and_its_ports_are_exclusive() -> None:
    k = Kernel()
    with pytest.raises(ValueError, match="already attached"):
        k.devices.add(Uart16550("com1", port=0x2F8))
    with pytest.raises(ValueError, match="overlap"):
        k.devices.add(Uart16550("com9", port=0x3F8))
    assert k.ports.device_at(0x2F8) is None  # the refused device left nothing claimed


def test_port_events_name_the_register(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c(PIO, "pio"))
    m.call("write8", 0x3FB, 0x80)  # LCR: DLAB on
    m.call("write8", 0x3F8, 0x0C)  # now DLL
    m.call("write8", 0x3FB, 0x03)  # DLAB off
    m.call("write8", 0x3F8, 0x41)  # now THR
    m.call("read8", 0x3FD)
    ports = kernel.trace.of_kind("port")
    assert [e.fields["register"] for e in ports] == ["LCR", "DLL", "LCR", "THR", "LSR"]
    text = kernel.format_trace()
    assert "port out8 0x03fb <- 0x80 [com1 LCR]" in text
    assert "port out8 0x03f8 <- 0x0c [com1 DLL]" in text
    assert "port in8 0x03fd -> 0x60 [com1 LSR]" in text


def test_mmio_window_reaches_the_device_with_offsets_and_widths(kernel: Kernel, compile_c) -> None:
    bell = kernel.devices.add(Doorbell())
    base = amap.MMIO_BASE + 0x10000
    kernel.mmio.map(base, 0x1000, bell)
    m = kernel.load(compile_c(PIO, "pio"))
    assert m.call("map", base, 0x20, returns="uint") == base
    m.call("mmio_write32", base + 0x10, 0x12345678)
    assert bell.stored == {0x10: 0x12345678}
    assert m.call("mmio_read32", base + 0x10, returns="uint") == 0x12345678
    assert m.call("mmio_read8", base + 0x14, returns="uint") == 0xFE  # the device answers per width
    m.call("mmio_write16", base + 0x14, 0xFFFF)
    assert bell.accesses == [("w", 0x10, 4), ("r", 0x10, 4), ("r", 0x14, 1), ("w", 0x14, 2)]
    events = kernel.trace.of_kind("mmio")
    assert [(e.name, e.fields["offset"], e.fields["register"]) for e in events] == [
        ("write32", 0x10, "VALUE"), ("read32", 0x10, "VALUE"), ("read8", 0x14, "ID"), ("write16", 0x14, "RESET")]
    assert kernel.symbolizer.short(events[0].caller).startswith("pio:mmio_write32")
    assert f"mmio write32 {base + 0x10:#010x} <- 0x12345678 [bell VALUE]" in kernel.format_trace()


def test_mmio_windows_are_checked_and_can_go_away(kernel: Kernel, compile_c) -> None:
    bell = Doorbell()
    base = amap.MMIO_BASE
    with pytest.raises(ValueError, match="page aligned"):
        kernel.mmio.map(base + 4, 0x1000, bell)
    with pytest.raises(ValueError, match="outside the MMIO area"):
        kernel.mmio.map(0x80000000, 0x1000, bell)
    kernel.mmio.map(base, 0x2000, bell)
    with pytest.raises(ValueError, match="overlaps bell"):
        kernel.mmio.map(base + 0x1000, 0x1000, bell)
    assert kernel.mmio.free_base(0x1000) == base + 0x2000
    assert kernel.describe_address(base + 0x18) == "MMIO window of bell +0x18"
    m = kernel.load(compile_c(PIO, "pio"))
    assert m.call("map", base + 0x3000, 4) == 0  # no window there: ioremap says NULL
    kernel.mmio.unmap(base)
    with pytest.raises(GuestFault) as fault:
        m.call("mmio_read32", base)
    assert fault.value.kind == "read-unmapped"


def test_device_windows_declared_on_the_class_are_mapped_on_attach(kernel: Kernel, compile_c) -> None:
    class Windowed(Doorbell):
        name = "win"
        port_ranges = ()
        mmio_windows = ((amap.MMIO_BASE + 0x5000, 0x1000),)

    dev = kernel.devices.add(Windowed())
    m = kernel.load(compile_c(PIO, "pio"))
    m.call("mmio_write32", amap.MMIO_BASE + 0x5010, 7)
    assert dev.stored == {0x10: 7}
    kernel.devices.remove("win")
    assert kernel.mmio.window_at(amap.MMIO_BASE + 0x5000) is None


def test_irq_raised_inside_a_port_write_is_delivered_at_once(kernel: Kernel, compile_c) -> None:
    kernel.devices.add(Doorbell())
    m = kernel.load(compile_c(PIO, "pio"))
    assert m.call("hook", 9) == 0
    m.call("write8", 0x300, 1)
    assert m.call("irq_count") == 1
    handler = [e for e in kernel.trace.of_kind("irq") if e.name == "handler"]
    assert handler[0].fields["handler_name"].startswith("pio:counting") and handler[0].depth == 1


@pytest.mark.parametrize("function", ["write8_irqs_off", "write8_locked"])
def test_irq_raised_with_interrupts_off_waits_until_they_are_enabled(kernel: Kernel, compile_c, function) -> None:
    kernel.devices.add(Doorbell())
    m = kernel.load(compile_c(PIO, "pio"))
    m.call("hook", 9)
    assert m.call(function, 0x300, 1) == 0 * 10 + 1  # not seen before the restore, seen right after
    names = [e.name for e in kernel.trace.of_kind("irq")]
    assert names == ["pending", "raise", "handler"]
    assert "irq 9: pending (interrupts disabled)" in kernel.format_trace()
    assert kernel.pending_irqs == []


def test_pending_lines_are_latched_once_and_delivered_in_order(kernel: Kernel, compile_c) -> None:
    source = PIO + r"""
    unsigned int order[8]; unsigned int seen;
    static irqreturn_t rec(int irq, void *d) { (void)d; order[seen++ & 7] = irq; return IRQ_HANDLED; }
    int hook2(void) { return request_irq(11, rec, 0, "a", order) | request_irq(12, rec, 0, "b", &seen); }
    void ring_twice(void) { unsigned long f; local_irq_save(f); outb(1, 0x300); outb(1, 0x300); outb(1, 0x302); local_irq_restore(f); }
    """

    class Two(Doorbell):
        port_ranges = ((0x300, 4),)

        def port_write(self, port: int, width: int, value: int) -> None:
            self.host.raise_irq(11 if port == 0x300 else 12)

    kernel.devices.add(Two())
    m = kernel.load(compile_c(source, "pio"))
    assert m.call("hook2") == 0
    m.call("ring_twice")
    assert kernel.memory.read_u32(m.address_of("seen")) == 2  # the second ring of line 11 was latched once
    assert [kernel.memory.read_u32(m.address_of("order") + 4 * i) for i in range(2)] == [11, 12]


def test_a_line_raised_again_by_every_delivery_is_an_interrupt_storm(kernel: Kernel, compile_c, monkeypatch) -> None:
    source = PIO + r"""
    static irqreturn_t again(int irq, void *d) { (void)irq; (void)d; outb(1, 0x300); return IRQ_HANDLED; }
    int hook_again(void) { return request_irq(9, again, 0, "again", &count); }
    """
    monkeypatch.setattr(sandbox.interrupts, "IRQ_STORM_LIMIT", 50)
    kernel.devices.add(Doorbell())
    m = kernel.load(compile_c(source, "pio"))
    m.call("hook_again")
    with pytest.raises(SandboxError, match="interrupt storm: line 9"):
        m.call("write8", 0x300, 1)
    assert kernel.pending_irqs == []


def test_raise_irq_from_a_detached_device_does_nothing() -> None:
    bell = Doorbell()
    assert bell.raise_irq() == []
    assert bell.register_name(1, write=False) == "STATUS" and bell.register_name(1, write=True) == "ACK"
    assert bell.register_name(7, write=False) is None


class Alarm(Device):
    """A one-shot timer a driver would arm: raises line 5 when its deadline passes."""

    name = "alarm"
    irq = 5

    def __init__(self) -> None:
        super().__init__()
        self.deadline_ns: int | None = None
        self.fired_at: list[int] = []

    def attach(self, host) -> None:  # type: ignore[no-untyped-def]
        super().attach(host)
        host.on_tick(self.check, lambda: None if self.deadline_ns is None else -(-self.deadline_ns // host.tick_ns))

    def arm(self, after_ns: int) -> None:
        self.deadline_ns = self.host.now_ns() + after_ns

    def check(self) -> None:
        if self.deadline_ns is not None and self.host.now_ns() >= self.deadline_ns:
            self.fired_at.append(self.host.now_ns())
            self.deadline_ns = None
            self.raise_irq()


def test_a_model_keeps_time_and_wakes_at_its_deadline(kernel: Kernel) -> None:
    alarm = kernel.devices.add(Alarm())
    alarm.arm(50_000_000)
    kernel.advance_time(10_000_000)
    assert alarm.fired_at == []
    kernel.advance_time(10_000_000_000)  # a long idle stretch: ticks pass in steps, the deadline is kept
    tick = kernel.device_host.tick_ns
    assert len(alarm.fired_at) == 1 and 50_000_000 <= alarm.fired_at[0] < 50_000_000 + tick
    assert any(e.fields.get("line") == 5 for e in kernel.trace.of_kind("irq"))
