"""The i8042 keyboard controller model and the keyboard driver."""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.devices.i8042 import I8042, scancodes_for

from .guest import PIO


@pytest.fixture
def kbd(kernel: Kernel) -> I8042:
    return kernel.devices["kbd"]


def irq1_raises(k: Kernel) -> int:
    return sum(1 for e in k.trace.of_kind("irq") if e.name == "raise" and e.fields["line"] == 1)


def test_status_obf_follows_the_one_byte_output_buffer(kernel: Kernel, kbd: I8042) -> None:
    assert kbd.port_read(0x64, 1) == 0x14  # SYS | not inhibited, nothing to read
    kbd.press(0x1E, 0x9E)
    assert kbd.port_read(0x64, 1) & 0x01
    assert irq1_raises(kernel) == 1  # one byte in the buffer, one interrupt
    assert kbd.port_read(0x60, 1) == 0x1E
    assert irq1_raises(kernel) == 2  # reading it let the next byte in
    assert kbd.port_read(0x60, 1) == 0x9E
    assert kbd.port_read(0x64, 1) & 0x01 == 0
    assert kbd.port_read(0x60, 1) == 0x9E  # an empty buffer reads its last byte again
    assert irq1_raises(kernel) == 2


def test_controller_commands_from_guest_code(kernel: Kernel, compile_c, kbd: I8042) -> None:
    m = kernel.load(compile_c(PIO, "pio"))

    def command(byte: int, *data: int) -> list[int]:
        m.call("write8", 0x64, byte)
        for value in data:
            m.call("write8", 0x60, value)
        replies = []
        while m.call("read8", 0x64) & 1:
            replies.append(m.call("read8", 0x60, returns="uint"))
        return replies

    assert command(0xAA) == [0x55]
    assert command(0x20) == [0x45]  # keyboard IRQ, system flag, translation
    assert irq1_raises(kernel) == 2  # each reply interrupted, as the config byte asks
    assert command(0x60, 0x44) == [] and kbd.config == 0x44
    assert command(0xAB) == [0x00]
    assert m.call("read8", 0x64, returns="uint") & 0x08  # A2: the last write went to the command port
    kbd.press(0x10)
    assert irq1_raises(kernel) == 2  # the config byte now masks the keyboard interrupt
    assert m.call("read8", 0x60, returns="uint") == 0x10
    assert [e.fields["register"] for e in kernel.trace.of_kind("port")][:2] == ["CMD", "STATUS"]


def test_keyboard_commands_get_their_replies(kbd: I8042) -> None:
    def send(*data: int) -> list[int]:
        for value in data:
            kbd.port_write(0x60, 1, value)
        out = []
        while kbd.port_read(0x64, 1) & 1:
            out.append(kbd.port_read(0x60, 1))
        return out

    assert send(0xFF) == [0xFA, 0xAA]
    assert send(0xF2) == [0xFA, 0xAB, 0x83]
    assert send(0xED, 0x07) == [0xFA, 0xFA] and kbd.leds == 7
    assert send(0xF0, 0x00) == [0xFA, 0xFA, 0x01]
    assert send(0xEE) == [0xEE]
    assert send(0x42) == [0xFE]
    assert send(0xF5) == [0xFA]
    kbd.press(0x1E)
    assert send() == []  # scanning off: the keyboard sends nothing
    assert send(0xF4) == [0xFA]


def test_disabled_keyboard_port_holds_keys_but_not_controller_replies(kbd: I8042) -> None:
    kbd.port_write(0x64, 1, 0xAD)
    kbd.press(0x02)
    assert kbd.port_read(0x64, 1) & 0x11 == 0x00  # nothing to read, and inhibited
    kbd.port_write(0x64, 1, 0x20)
    assert kbd.port_read(0x60, 1) == 0x55  # config byte (0x45 | disabled bit) still comes through
    kbd.port_write(0x64, 1, 0xAE)
    assert kbd.port_read(0x60, 1) == 0x02


def test_typing_produces_set1_make_and_break_codes() -> None:
    assert scancodes_for("a1\n") == [0x1E, 0x9E, 0x02, 0x82, 0x1C, 0x9C]
    assert scancodes_for("A!") == [0x2A, 0x1E, 0x9E, 0xAA, 0x2A, 0x02, 0x82, 0xAA]
    with pytest.raises(ValueError, match="no scancode"):
        scancodes_for("é")


# -- the keyboard driver -----------------------------------------------------
@pytest.mark.parametrize(("toolchain", "fmt"), [("gcc", "obj"), ("clang", "pic"), ("gcc", "exec")])
def test_driver_turns_typing_into_characters(kernel: Kernel, driver, kbd: I8042, toolchain, fmt) -> None:
    m = kernel.load(driver("keyboard", toolchain, fmt))
    assert "keyboard: ready on IRQ 1" in kernel.console
    kbd.type("hi 1\n")
    buf = bytearray(32)
    assert m.call("kbd_read", buf, 32) == 5 and bytes(buf[:5]) == b"hi 1\n"
    handled = [e for e in kernel.trace.of_kind("irq") if e.name == "handler"]
    assert len(handled) == 10 and all(e.fields["result_name"] == "IRQ_HANDLED" for e in handled)
    assert kernel.unload(m).clean


def test_driver_tracks_shift(kernel: Kernel, driver, kbd: I8042) -> None:
    m = kernel.load(driver("keyboard"))
    kbd.type("Hello World 42!")
    kbd.press(0x36, 0x10, 0xB6, 0x10, 0x90)  # right shift + q, release shift, q
    buf = bytearray(32)
    n = m.call("kbd_read", buf, 32)
    assert bytes(buf[:n]) == b"Hello World 42!Qq"


def test_driver_reads_in_pieces(kernel: Kernel, driver, kbd: I8042) -> None:
    m = kernel.load(driver("keyboard"))
    kbd.type("abc")
    buf = bytearray(2)
    assert m.call("kbd_read", buf, 2) == 2 and bytes(buf) == b"ab"
    assert m.call("kbd_read", buf, 2) == 1 and buf[:1] == b"c"
