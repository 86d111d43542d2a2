"""An Intel 6300ESB watchdog, modelled in Python for the real Linux driver i6300esb.ko.

The chip sits on PCI (8086:25ab) with a 16-byte memory BAR and two
configuration registers of its own. What the driver programs:

- config 0x60 (word): bit 5 disables the reboot output, bit 2 picks the
  slow clock, bits 1:0 the interrupt on the first stage;
- config 0x68 (byte, the lock register): bit 1 enables the timer, bit 0
  locks it on until reset (nowayout);
- BAR 0: TIMER1 at 0x0, TIMER2 at 0x4 (20-bit preloads), GINTSR at 0x8,
  RELOAD at 0xC. Every write to TIMER1/TIMER2/RELOAD must follow the
  unlock sequence 0x80, 0x86 written to RELOAD; RELOAD bit 8 restarts the
  count, bit 9 is the "it fired" flag (write 1 to clear).

With the fast clock the counters run at about 1 kHz: the first stage
counts TIMER1 down, the second TIMER2; when the second runs out while the
timer is enabled and the output not disabled, the chip resets the
machine. Here that is recorded (``resets``) and the flag is set, so a
driver loaded again sees WDIOF_CARDRESET.
"""

from __future__ import annotations

from sandbox.devices.pci import Bar, PciFunction

CONFIG_REG, LOCK_REG = 0x60, 0x68
WDT_LOCK, WDT_ENABLE = 0x01, 0x02
WDT_OUTPUT_DISABLED = 0x20
TIMER1, TIMER2, GINTSR, RELOAD = 0x0, 0x4, 0x8, 0xC
RELOAD_BIT, TIMEOUT_BIT = 0x100, 0x200
UNLOCK1, UNLOCK2 = 0x80, 0x86
COUNT_NS = 1_000_000  # ~1 kHz: PCI clock / 2^15


class I6300Esb(PciFunction):
    """The watchdog function: the driver's view (registers) and the test's (``remaining_ms``, ``resets``)."""

    vendor_id, device_id, class_code = 0x8086, 0x25AB, 0x088000
    bars = (Bar("mem", 16),)
    interrupt_pin = 1

    def __init__(self, name: str = "i6300esb") -> None:
        super().__init__(name)
        self.timer = [0x3FFFF, 0x3FFFF]  # preloads after reset
        self.unlock_state = 0  # 0: locked, 1: saw 0x80, 2: next write goes through
        self.started_ns: int | None = None  # when the count last restarted
        self.timed_out = False
        self.resets = 0
        self.config[CONFIG_REG:CONFIG_REG + 2] = (0).to_bytes(2, "little")

    def attach(self, host) -> None:  # type: ignore[no-untyped-def]
        super().attach(host)
        host.on_tick(self._check, self._due)

    # -- configuration registers the chip adds to the header -------------------------
    def config_write(self, offset: int, width: int, value: int) -> None:
        if offset == CONFIG_REG:
            self.config[CONFIG_REG:CONFIG_REG + 2] = (value & 0x27).to_bytes(2, "little")[:2]
            return
        if offset == LOCK_REG:
            locked = self.config[LOCK_REG] & WDT_LOCK
            self.config[LOCK_REG] = (value & 0x07) | locked  # the lock bit sticks until reset
            if self.enabled and self.started_ns is None:
                self.started_ns = self._now()
            return
        super().config_write(offset, width, value)

    @property
    def enabled(self) -> bool:
        """The driver has the timer running."""
        return bool(self.config[LOCK_REG] & WDT_ENABLE)

    # -- the memory BAR ---------------------------------------------------------------
    def bar_read(self, bar: int, offset: int, width: int) -> int:
        if offset == RELOAD:
            return TIMEOUT_BIT if self.timed_out else 0
        if offset in (TIMER1, TIMER2):
            return self.timer[offset // 4]
        return 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset == RELOAD and self.unlock_state < 2:
            self.unlock_state = 1 if value == UNLOCK1 else 2 if value == UNLOCK2 and self.unlock_state == 1 else 0
            return
        unlocked, self.unlock_state = self.unlock_state == 2, 0
        if not unlocked:
            return  # a write without the unlock sequence is ignored by the chip
        if offset in (TIMER1, TIMER2):
            self.timer[offset // 4] = value & 0xFFFFF
        elif offset == RELOAD:
            if value & TIMEOUT_BIT:
                self.timed_out = False
            if value & RELOAD_BIT:
                self.started_ns = self._now()

    # -- time ---------------------------------------------------------------------------
    def _now(self) -> int:
        return self.host.now_ns() if self.host is not None else 0

    def _deadline_ns(self) -> int | None:
        if not self.enabled or self.started_ns is None:
            return None
        return self.started_ns + (self.timer[0] + self.timer[1]) * COUNT_NS

    def remaining_ms(self) -> int | None:
        """Milliseconds until the chip resets the machine, or None while it is stopped."""
        deadline = self._deadline_ns()
        return None if deadline is None else max(0, (deadline - self._now()) // 1_000_000)

    def _due(self) -> int | None:
        deadline = self._deadline_ns()
        return None if deadline is None or self.host is None else -(-deadline // self.host.tick_ns)

    def _check(self) -> None:
        deadline = self._deadline_ns()
        if deadline is None or self._now() < deadline:
            return
        if not int.from_bytes(self.config[CONFIG_REG:CONFIG_REG + 2], "little") & WDT_OUTPUT_DISABLED:
            self.resets += 1
            self.timed_out = True
        self.started_ns = self._now()  # the counter starts over after it fired
