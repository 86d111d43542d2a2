"""The ICS/Access PCI-WDT500/501 watchdog card (PCI 494f:22c0): an 8254 timer behind one I/O BAR.

BAR 2 holds 16 I/O ports: 0-2 the 8254's counters, 3 its control word, 4
the status register, 5 the temperature (PCI-WDT501), 6 buzzer, 7 the
watchdog's enable latch (a write enables it, a read disables it), 12 the
clock select, 13-15 opto and program outputs. Counter 0 divides the
2.0833 MHz clock down to 100 Hz, counter 1 counts the heartbeat in those
ticks, counter 2 is the reset pulse. The model keeps what the driver
programs (modes, loaded counts, enable latch) and reports the status bits
a healthy card shows; :attr:`armed` and :attr:`heartbeat_ticks` read it
back, :meth:`alarm` makes the card interrupt as its status changes.
"""

from __future__ import annotations

from .pci import Bar, PciFunction

COUNT0, CR, SR, RT, BUZZER, DC, CLOCK = 0, 3, 4, 5, 6, 7, 12
# Status bits (wd501p.h); 1 means "fine" for the ones a failure clears.
SR_WCCR, SR_TGOOD, SR_ISOI0, SR_ISII1, SR_FANGOOD, SR_PSUOVER, SR_PSUUNDR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40


class Wdt501(PciFunction):
    """A PCI-WDT501 card."""

    vendor_id, device_id, class_code = 0x494F, 0x22C0, 0xFF0000
    bars = (None, None, Bar("io", 16))

    def __init__(self, name: str = "pci-wdt501", temperature_raw: int = 0x80) -> None:
        super().__init__(name)
        self.modes = [0, 0, 0]
        self.counts = [0, 0, 0]
        self._low: list[int | None] = [None, None, None]
        self.enabled = False
        self.status = SR_WCCR | SR_TGOOD | SR_FANGOOD | SR_PSUOVER | SR_PSUUNDR
        self.temperature_raw = temperature_raw
        self.loads = 0

    @property
    def armed(self) -> bool:
        """The enable latch is set and counter 1 holds a heartbeat."""
        return self.enabled and self.counts[1] != 0

    @property
    def heartbeat_ticks(self) -> int:
        """Counter 1's load, in 100 Hz ticks."""
        return self.counts[1]

    def alarm(self, status_clear: int) -> None:
        """A condition goes bad (clear the given "fine" bits) and the card interrupts."""
        self.status &= ~status_clear
        self.raise_irq()

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        if offset == SR:
            return self.status
        if offset == RT:
            return self.temperature_raw
        if offset == DC:
            self.enabled = False  # reading the latch port disables the watchdog
        return 0xFF if offset > CLOCK + 3 else 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        value &= 0xFF
        if offset == CR:
            counter = value >> 6
            if counter < 3:
                self.modes[counter] = (value >> 1) & 7
                self._low[counter] = None
        elif COUNT0 <= offset < COUNT0 + 3:
            counter = offset - COUNT0
            if self._low[counter] is None:
                self._low[counter] = value
            else:
                self.counts[counter] = self._low[counter] | value << 8  # type: ignore[operator]
                self._low[counter] = None
                self.loads += 1
        elif offset == DC:
            self.enabled = True
