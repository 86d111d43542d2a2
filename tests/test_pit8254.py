"""The 8254 PIT model: channel 2 programmed by real in/out instructions (drivers/portio.c), its
access modes, latches and read-back, counting on the emulated clock, the port-0x61 gate and
speaker bits, the tone, the trace and snapshots."""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.devices.pit8254 import PIT_HZ, Pit8254


@pytest.fixture
def pio(driver):
    """A kernel with the default devices (the PIT among them) and portio's in/out functions."""
    k = Kernel()
    m = k.load(driver("portio"))

    def out(port: int, value: int) -> None:
        m.call("pio_out8", port, value)

    def inp(port: int) -> int:
        return m.call("pio_in8", port, returns="uint")

    return k, out, inp


def test_the_pit_is_a_default_device_at_pc_ports() -> None:
    k = Kernel()
    pit = k.devices["pit"]
    assert isinstance(pit, Pit8254)
    assert all(k.ports.device_at(p) is pit for p in (0x40, 0x41, 0x42, 0x43, 0x61))


def test_channel_2_square_wave_as_the_pc_speaker_programs_it(pio) -> None:
    k, out, inp = pio
    pit = k.devices["pit"]
    out(0x43, 0xB6)                      # channel 2, lobyte/hibyte, mode 3, binary
    out(0x42, 1193 & 0xFF)
    assert pit.channels[2].null_count    # half a count written: nothing loaded yet
    out(0x42, 1193 >> 8)
    assert pit.describe(2) == "mode 3, lobyte/hibyte, divisor 1193"
    assert pit.tone_hz == 0              # the gate and speaker bits are still off
    out(0x61, inp(0x61) | 3)
    assert pit.speaker_on and pit.tone_hz == pytest.approx(PIT_HZ / 1193)
    out(0x61, inp(0x61) & 0xFC)
    assert pit.tone_hz == 0
    assert [round(hz, 3) for _, hz in pit.tones] == [round(PIT_HZ / 1193, 3), 0]
    ports = [(e.fields["register"], e.fields["direction"], e.fields["value"]) for e in k.trace.of_kind("port")]
    assert ports[:3] == [("CTRL", "out", 0xB6), ("CH2", "out", 0xA9), ("CH2", "out", 0x04)]


def test_a_latched_count_follows_the_emulated_clock(pio) -> None:
    k, out, inp = pio
    out(0x43, 0xB0)                      # channel 2, lobyte/hibyte, mode 0 (terminal count)
    out(0x42, 0x00)
    out(0x42, 0x10)                      # 4096 ticks
    out(0x61, 1)                         # gate on: counting starts now
    k.advance_time(1_000_000)            # 1 ms = 1193 ticks
    out(0x43, 0x80)                      # latch channel 2
    count = inp(0x42) | inp(0x42) << 8
    assert count == 4096 - 1_000_000 * PIT_HZ // 1_000_000_000 == 4096 - 1193
    assert not inp(0x61) & 0x20          # OUT2 low until the terminal count
    k.advance_time(3_000_000)
    assert inp(0x61) & 0x20              # ...and high after it


def test_lobyte_and_hibyte_access_and_bcd(pio) -> None:
    k, out, _inp = pio
    pit = k.devices["pit"]
    out(0x43, 0x94)                      # channel 2, lobyte only, mode 2
    out(0x42, 0x34)
    assert pit.channels[2].reload == 0x34 and pit.channels[2].mode == 2
    out(0x43, 0xA7)                      # channel 2, hibyte only, mode 3, BCD
    out(0x42, 0x12)
    assert pit.channels[2].reload == 0x1200 and pit.channels[2].bcd
    out(0x43, 0xBE)                      # mode 7 is mode 3
    out(0x42, 0)
    out(0x42, 0)
    assert pit.channels[2].mode == 3 and pit.channels[2].divisor == 0x10000  # 0 counts 65536


def test_read_back_latches_the_status(pio) -> None:
    _k, out, inp = pio
    out(0x43, 0xB6)
    out(0x42, 0xA9)
    out(0x42, 0x04)
    out(0x43, 0xE8)                      # read-back: status only, channel 2
    status = inp(0x42)
    assert status & 0x3F == 0x36         # lobyte/hibyte, mode 3, binary
    assert not status & 0x40             # the count is loaded
    out(0x43, 0xD8)                      # read-back: count only, channel 2
    assert inp(0x42) | inp(0x42) << 8 == 1193  # no time has passed


def test_pit_state_is_in_snapshots(pio) -> None:
    k, out, _inp = pio
    pit = k.devices["pit"]
    out(0x43, 0xB6)
    out(0x42, 0xA9)
    out(0x42, 0x04)
    snap = k.snapshot()
    out(0x43, 0xB6)
    out(0x42, 0x01)
    out(0x42, 0x00)
    out(0x61, 3)
    k.restore(snap)
    assert pit.channels[2].reload == 1193 and pit.port_b == 0 and pit.tones == []
