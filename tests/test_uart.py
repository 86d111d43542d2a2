"""The 16550 UART model (register semantics the uart driver relies on) and the uart driver."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError
from sandbox.devices.uart16550 import Uart16550

from .guest import PIO

BASE = 0x3F8
RBR = THR = DLL = BASE
IER = DLM = BASE + 1
IIR = FCR = BASE + 2
LCR, MCR, LSR, MSR, SCR = BASE + 3, BASE + 4, BASE + 5, BASE + 6, BASE + 7


def rd(uart: Uart16550, port: int) -> int:
    return uart.port_read(port, 1)


def wr(uart: Uart16550, port: int, value: int) -> None:
    uart.port_write(port, 1, value)


def irq4_raises(k: Kernel) -> int:
    return sum(1 for e in k.trace.of_kind("irq") if e.name == "raise" and e.fields["line"] == 4)


@pytest.fixture
def uart(kernel: Kernel) -> Uart16550:
    return kernel.devices["com1"]


def test_dlab_switches_offsets_0_and_1_to_the_divisor_latch(uart: Uart16550) -> None:
    assert (uart.baud, uart.lcr) == (9600, 0x03)  # as the BIOS left it
    wr(uart, IER, 0x05)
    wr(uart, LCR, 0x83)  # DLAB | 8 bits
    wr(uart, DLL, 0x01)
    assert uart.baud == 115200
    wr(uart, DLL, 0x0C)
    wr(uart, DLM, 0x00)
    assert (rd(uart, DLL), rd(uart, DLM)) == (0x0C, 0x00)
    assert uart.baud == 9600 and uart.ier == 0x05  # the divisor write did not touch IER
    wr(uart, LCR, 0x03)
    assert rd(uart, IER) == 0x05
    wr(uart, THR, ord("x"))
    assert uart.output == b"x" and uart.divisor == 0x0C


def test_lsr_reports_data_ready_and_an_always_empty_transmitter(uart: Uart16550) -> None:
    assert rd(uart, LSR) == 0x60  # THRE | TEMT
    uart.feed(b"A")
    assert rd(uart, LSR) == 0x61
    assert rd(uart, RBR) == ord("A")
    assert rd(uart, LSR) == 0x60


def test_fifo_holds_sixteen_bytes_and_overrun_sets_oe_once(uart: Uart16550) -> None:
    wr(uart, FCR, 0x07)
    uart.feed(bytes(range(1, 21)))
    assert uart.overruns == 4
    assert rd(uart, LSR) == 0x63  # DR | OE | THRE | TEMT
    assert rd(uart, LSR) == 0x61  # reading LSR clears OE
    assert [rd(uart, RBR) for _ in range(16)] == list(range(1, 17))  # the late bytes were lost
    assert rd(uart, LSR) & 0x01 == 0


def test_without_the_fifo_the_holding_register_is_overwritten(uart: Uart16550) -> None:
    uart.feed(b"ab")
    assert rd(uart, LSR) == 0x63
    assert rd(uart, RBR) == ord("b") and rd(uart, LSR) == 0x60


def test_fcr_clears_the_receiver_and_sets_the_trigger(uart: Uart16550) -> None:
    wr(uart, FCR, 0x81)  # FIFO on, trigger 8
    uart.feed(b"hello")
    assert (uart.fifo_enabled, uart.trigger_level, len(uart.rx)) == (True, 8, 5)
    wr(uart, FCR, 0x83)
    assert len(uart.rx) == 0
    assert rd(uart, IIR) == 0xC1  # FIFO enabled, no interrupt pending


def test_iir_reports_causes_by_priority(uart: Uart16550) -> None:
    wr(uart, FCR, 0xC7)  # trigger 14
    wr(uart, IER, 0x07)  # RLS | THRE | RDA
    assert rd(uart, IIR) == 0xC2  # THR empty; reading IIR acknowledges it
    assert rd(uart, IIR) == 0xC1
    uart.feed(b"abc")
    assert rd(uart, IIR) == 0xCC  # below the trigger level: character timeout
    uart.feed(b"0123456789x")
    assert rd(uart, IIR) == 0xC4  # 14 bytes: received data available
    uart.feed(b"yz!")
    assert rd(uart, IIR) == 0xC6  # overrun: line status outranks data
    rd(uart, LSR)
    assert rd(uart, IIR) == 0xC4
    while rd(uart, LSR) & 1:
        rd(uart, RBR)
    assert rd(uart, IIR) == 0xC1
    wr(uart, THR, ord("!"))
    assert rd(uart, IIR) == 0xC2  # the byte left at once: THR empty again


def test_the_irq_needs_out2_and_is_raised_on_each_new_condition(kernel: Kernel, uart: Uart16550) -> None:
    wr(uart, IER, 0x01)
    uart.feed(b"a")
    assert irq4_raises(kernel) == 0  # OUT2 low: the PC's interrupt gate is shut
    rd(uart, RBR)
    wr(uart, MCR, 0x0B)
    uart.feed(b"b")
    assert irq4_raises(kernel) == 1
    uart.feed(b"c")
    assert irq4_raises(kernel) == 1  # still asserted (nobody drained it): no new edge
    rd(uart, RBR), rd(uart, RBR)
    uart.feed(b"d")
    assert irq4_raises(kernel) == 2
    wr(uart, IER, 0x03)
    assert irq4_raises(kernel) == 2  # RDA still pending: the line was already high
    rd(uart, RBR)
    assert irq4_raises(kernel) == 2  # data gone but THR empty keeps it high: still no edge
    assert rd(uart, IIR) == 0x02
    wr(uart, THR, ord("x"))
    assert irq4_raises(kernel) == 3  # the write dropped THRE, the instant transmit re-armed it


def test_out2_gating_can_be_turned_off() -> None:
    k = Kernel(devices=[Uart16550(out2_gates_irq=False)])
    uart = k.devices["com1"]
    wr(uart, IER, 0x01)
    uart.feed(b"a")
    assert irq4_raises(k) == 1


def test_loopback_returns_transmitted_bytes_and_mirrors_modem_lines(uart: Uart16550) -> None:
    assert rd(uart, MSR) == 0xB0  # CTS, DSR, DCD: a terminal is attached
    wr(uart, MCR, 0x1F)
    assert rd(uart, MSR) == 0xF0
    wr(uart, THR, 0x55)
    assert uart.output == b"" and rd(uart, RBR) == 0x55
    wr(uart, MCR, 0x11)  # loop + DTR
    assert rd(uart, MSR) == 0x20


def test_word_length_masks_data_and_scratch_keeps_a_byte(uart: Uart16550) -> None:
    wr(uart, LCR, 0x02)  # 7 data bits
    wr(uart, THR, 0xFF)
    assert uart.output == b"\x7f"
    wr(uart, SCR, 0xA5)
    assert rd(uart, SCR) == 0xA5
    uart.clear_output()
    assert uart.output == b""


def test_registers_from_guest_code(kernel: Kernel, compile_c, uart: Uart16550) -> None:
    m = kernel.load(compile_c(PIO, "pio"))
    m.call("write8", LCR, 0x80)
    m.call("write8", DLL, 0x03)
    m.call("write8", LCR, 0x03)
    assert uart.baud == 38400
    uart.feed(b"Z")
    assert m.call("read8", LSR, returns="uint") == 0x61
    assert m.call("read8", RBR, returns="uint") == ord("Z")
    m.call("write8", THR, ord("k"))
    assert uart.output == b"k"


# -- the uart driver ------------------------------------------------------------
@pytest.mark.parametrize(("toolchain", "fmt"), [("gcc", "obj"), ("clang", "rel"), ("gcc", "shared")])
def test_driver_receives_through_its_interrupt_and_transmits(kernel: Kernel, driver, toolchain, fmt) -> None:
    uart = kernel.devices["com1"]
    m = kernel.load(driver("uart", toolchain, fmt))
    assert "uart: COM1 at 115200 baud (divisor 1)" in kernel.console
    assert (uart.baud, uart.fifo_enabled, uart.trigger_level, uart.ier, uart.mcr) == (115200, True, 14, 0x05, 0x0B)
    uart.feed(b"ping")
    buf = bytearray(16)
    assert m.call("uart_read", buf, 16) == 4 and bytes(buf[:4]) == b"ping"
    assert m.call("uart_read", buf, 16) == 0
    assert m.call("uart_write", b"pong\n", 5) == 5
    assert uart.output == b"pong\n"
    handled = [e for e in kernel.trace.of_kind("irq") if e.name == "handler"]
    assert [e.fields["result_name"] for e in handled] == ["IRQ_HANDLED"]
    report = kernel.unload(m)
    assert report.clean and uart.ier == 0


def test_driver_keeps_up_with_a_long_burst(kernel: Kernel, driver) -> None:
    uart = kernel.devices["com1"]
    m = kernel.load(driver("uart"))
    data = bytes(range(32, 127)) * 2
    uart.feed(data)
    buf = bytearray(256)
    assert m.call("uart_read", buf, 256) == len(data) and bytes(buf[: len(data)]) == data
    assert uart.overruns == 0 and m.call("uart_overruns") == 0
    raises = [e for e in kernel.trace.of_kind("irq") if e.name == "raise"]
    assert len(raises) == -(-len(data) // 16)  # one interrupt per full FIFO, one for the rest


def test_driver_polls_thre_and_traces_register_names(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("uart"))
    kernel.trace.clear()
    m.call("uart_write", b"ab", 2)
    ports = [(e.fields["direction"], e.fields["register"]) for e in kernel.trace.of_kind("port")]
    assert ports == [("in", "LSR"), ("out", "THR"), ("in", "LSR"), ("out", "THR")]


def test_driver_baud_parameter_programs_the_divisor(kernel: Kernel, driver) -> None:
    kernel.load(driver("uart"), params={"baud": 9600})
    assert kernel.devices["com1"].divisor == 12 and "9600 baud (divisor 12)" in kernel.console
    with pytest.raises(LoadError, match="EINVAL"):
        Kernel().load(driver("uart"), params={"baud": 7})


def test_driver_finds_no_uart_on_a_machine_without_one(driver) -> None:
    with pytest.raises(LoadError, match="ENODEV"):
        Kernel(devices=[]).load(driver("uart"))
