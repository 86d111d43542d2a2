"""An Intel 8254 programmable interval timer with the PC's speaker gate (port 0x61).

Ports: 0x40-0x42 the counters of channels 0-2, 0x43 the control word
(write only), and 0x61, the PC's system control port B: bit 0 gates
channel 2, bit 1 lets channel 2's output through to the speaker, bit 4
(read) toggles with the DRAM refresh every 15.085 us, bit 5 (read) is
channel 2's output.

Control word: SC (bits 7-6: counter, 3 = read-back), RW (bits 5-4: 0 =
latch the count, 1 = low byte, 2 = high byte, 3 = low then high), mode
(bits 3-1: 0 interrupt on terminal count, 1 one-shot, 2 rate generator, 3
square wave, 4 software strobe, 5 hardware strobe; 6 and 7 are 2 and 3) and
BCD (bit 0). Read-back (0xC0 | ...) latches the count and/or the status of
several counters at once. A count of 0 means 65536 (10000 in BCD).

The counters run at 1,193,182 Hz on the machine's emulated clock (the host's
``now_ns``), so a latched count is what the hardware would have shown at
that emulated instant. Channel 2 is what the PC speaker plays: its tone is
1193182 / divisor in mode 3 while the gate (bit 0) and speaker data (bit 1)
are set; every change is kept in :attr:`Pit8254.tones`. Channel 0's output
is not wired to IRQ 0: the profile's clock delivers the tick (a guest
reprogramming channel 0 changes what it reads back, not the tick rate). A
new count written to a running rate generator takes effect at once (the
chip waits for the end of the period).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .device import Device, RegisterName

PIT_HZ = 1_193_182
NS_PER_SECOND = 1_000_000_000
REFRESH_NS = 15_085  # port B bit 4 toggles at this period
PORT_B = 0x61
GATE2, SPEAKER_DATA, REFRESH, OUT2 = 0x01, 0x02, 0x10, 0x20
ACCESS_NAMES = {1: "lobyte", 2: "hibyte", 3: "lobyte/hibyte"}


@dataclass(slots=True)
class Channel:
    """One counter: how it was programmed and where its count stands."""

    mode: int = 0
    access: int = 3  # RW bits: 1 low byte, 2 high byte, 3 low then high
    bcd: bool = False
    reload: int = 0  # the count written (0 = not yet written since the control word)
    gate: bool = True
    start_ns: int | None = None  # when counting (re)started; None: not counting
    write_low: int | None = None  # the low byte of a lobyte/hibyte count waiting for its high byte
    read_high_next: bool = False  # the next read of a lobyte/hibyte count gives the high byte
    latched: int | None = None  # a latched count, until read
    latched_high_pending: bool = False
    status: int | None = None  # a latched status byte, until read
    null_count: bool = True
    out_initial: bool = False  # OUT right after the control word (mode 0: low, others high)

    @property
    def divisor(self) -> int:
        """The effective count: 0 stands for 65536 (10000 in BCD)."""
        return self.reload or (10000 if self.bcd else 0x10000)


class Pit8254(Device):
    """The PC's 8254 at 0x40-0x43, with port B (0x61) for channel 2's gate and the speaker."""

    registers: Mapping[int, RegisterName] = {0: "CH0", 1: "CH1", 2: "CH2", 3: "CTRL", PORT_B - 0x40: "PORTB"}

    def __init__(self, name: str = "pit") -> None:
        super().__init__(name, None)
        self.port_base = 0x40
        self.port_ranges = ((0x40, 4), (PORT_B, 1))
        self.channels = [Channel(), Channel(), Channel(gate=False)]
        self.port_b = 0  # bits 0-3 as last written
        #: (emulated ns, Hz or 0): every change of what the speaker plays.
        self.tones: list[tuple[int, float]] = []
        self._tone = 0.0

    # -- time ---------------------------------------------------------------
    def _now(self) -> int:
        host = self.host
        return host.now_ns() if host is not None else 0

    def _ticks(self, channel: Channel) -> int | None:
        if channel.start_ns is None:
            return None
        return (self._now() - channel.start_ns) * PIT_HZ // NS_PER_SECOND

    def count(self, index: int) -> int:
        """The counting element of channel ``index`` now (what a latch would capture)."""
        channel = self.channels[index]
        ticks = self._ticks(channel)
        divisor = channel.divisor
        if ticks is None:
            return channel.reload & 0xFFFF
        if channel.mode in (0, 1, 4, 5):
            return (divisor - ticks) & 0xFFFF
        if channel.mode == 2:
            return divisor - ticks % divisor if divisor > 1 else 1
        # mode 3: decrements by two, twice per period
        half = max(divisor // 2, 1)
        return (divisor - 2 * (ticks % half)) & 0xFFFF

    def output(self, index: int) -> bool:
        """The OUT pin of channel ``index`` now."""
        channel = self.channels[index]
        ticks = self._ticks(channel)
        divisor = channel.divisor
        if channel.null_count and channel.start_ns is None:
            return channel.out_initial
        if ticks is None:
            return channel.out_initial
        if channel.mode == 0:
            return ticks >= divisor
        if channel.mode == 1:
            return ticks >= divisor
        if channel.mode == 2:
            return ticks % divisor != divisor - 1
        if channel.mode == 3:
            return ticks % divisor < (divisor + 1) // 2
        return ticks != divisor  # modes 4 and 5: one low clock at terminal count

    # -- what the speaker plays ----------------------------------------------
    @property
    def speaker_on(self) -> bool:
        """Gate and speaker data set, and channel 2 running a square wave."""
        channel = self.channels[2]
        return (self.port_b & (GATE2 | SPEAKER_DATA) == GATE2 | SPEAKER_DATA and channel.mode == 3
                and not channel.null_count)

    @property
    def tone_hz(self) -> float:
        """What the speaker plays now: 1193182 / divisor, or 0."""
        return PIT_HZ / self.channels[2].divisor if self.speaker_on else 0.0

    def _tone_changed(self) -> None:
        tone = self.tone_hz
        if tone != self._tone:
            self._tone = tone
            self.tones.append((self._now(), tone))

    # -- ports ---------------------------------------------------------------
    def port_read(self, port: int, width: int) -> int:
        """A counter's latched status or count (else its live count), or port B."""
        if port == PORT_B:
            refresh = REFRESH if self._now() // REFRESH_NS & 1 else 0
            return self.port_b & 0x0F | refresh | (OUT2 if self.output(2) else 0)
        if port == 0x43:
            return 0xFF  # the control register cannot be read
        channel = self.channels[port - 0x40]
        if channel.status is not None:
            value, channel.status = channel.status, None
            return value
        if channel.latched is not None:
            value = channel.latched
            if channel.access == 3 and not channel.latched_high_pending:
                channel.latched_high_pending = True
                return value & 0xFF
            channel.latched, channel.latched_high_pending = None, False
            return value >> 8 & 0xFF if channel.access in (2, 3) else value & 0xFF
        value = self.count(port - 0x40)
        if channel.access == 1:
            return value & 0xFF
        if channel.access == 2:
            return value >> 8 & 0xFF
        high, channel.read_high_next = channel.read_high_next, not channel.read_high_next
        return value >> 8 & 0xFF if high else value & 0xFF

    def port_write(self, port: int, width: int, value: int) -> None:
        """The control word, a count byte, or port B's gate and speaker bits."""
        value &= 0xFF
        if port == PORT_B:
            was_gate = bool(self.port_b & GATE2)
            self.port_b = value & 0x0F
            self._set_gate(2, bool(value & GATE2), was_gate)
            self._tone_changed()
        elif port == 0x43:
            self._control(value)
        else:
            self._write_count(port - 0x40, value)

    def _control(self, value: int) -> None:
        select, access = value >> 6, value >> 4 & 3
        if select == 3:
            self._read_back(value)
            return
        channel = self.channels[select]
        if access == 0:  # counter latch command: a second one before the read is ignored
            if channel.latched is None:
                channel.latched, channel.latched_high_pending = self.count(select), False
            return
        mode = value >> 1 & 7
        channel.mode = mode - 4 if mode >= 6 else mode
        channel.access, channel.bcd = access, bool(value & 1)
        channel.reload, channel.start_ns, channel.null_count = 0, None, True
        channel.write_low, channel.read_high_next = None, False
        channel.latched, channel.status = None, None
        channel.out_initial = channel.mode != 0
        if select == 2:
            self._tone_changed()

    def _read_back(self, value: int) -> None:
        for index in range(3):
            if not value & (2 << index):
                continue
            channel = self.channels[index]
            if not value & 0x10 and channel.status is None:
                channel.status = ((0x80 if self.output(index) else 0) | (0x40 if channel.null_count else 0)
                                  | channel.access << 4 | channel.mode << 1 | int(channel.bcd))
            if not value & 0x20 and channel.latched is None:
                channel.latched, channel.latched_high_pending = self.count(index), False

    def _write_count(self, index: int, value: int) -> None:
        channel = self.channels[index]
        if channel.access == 1:
            count = value
        elif channel.access == 2:
            count = value << 8
        elif channel.write_low is None:
            channel.write_low = value
            if channel.mode == 0:
                channel.start_ns = None  # mode 0: writing the first byte stops the count
            return
        else:
            count, channel.write_low = channel.write_low | value << 8, None
        channel.reload, channel.null_count = count, False
        if channel.mode not in (1, 5) and channel.gate:  # one-shots wait for a gate rising edge
            channel.start_ns = self._now()
        if index == 2:
            self._tone_changed()

    def _set_gate(self, index: int, gate: bool, was: bool) -> None:
        channel = self.channels[index]
        channel.gate = gate
        if channel.null_count:
            return
        if gate and not was:  # rising edge: modes 1, 2, 3, 5 (re)load; 0 and 4 resume
            channel.start_ns = self._now()
        elif not gate and channel.mode in (0, 2, 3, 4):
            channel.start_ns = None  # counting suspended (modes 2/3: OUT goes high)

    def describe(self, index: int) -> str:
        """``mode 3, lobyte/hibyte, divisor 1193`` for a trace or a test message."""
        channel = self.channels[index]
        return f"mode {channel.mode}, {ACCESS_NAMES[channel.access]}, divisor {channel.divisor}"
