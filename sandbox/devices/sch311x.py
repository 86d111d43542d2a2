"""An SMSC SCH311x Super-I/O chip: configuration ports and the watchdog in its runtime registers.

Configuration (index/data pair at 0x2E/0x2F, or 0x4E/0x4F): writing 0x55
to the index port enters configuration mode, 0xAA leaves it. In it, global
register 0x20 is the device id (0x7C SCH3112, 0x7D SCH3114, 0x7F SCH3116),
0x07 selects a logical device; logical device 0x0A (runtime registers) has
its activate bit at 0x30 and its base address at 0x60 (high byte)/0x61.
Outside configuration mode the index port reads as an empty bus.

Runtime registers (offsets from the base), as far as the watchdog uses
them: RESGEN 0x1D (reset generator), GP60 0x47 (the pin the watchdog
drives: bits 3:2 = 11 select the WDT output function, bit 0 set makes the
pin a GPIO input instead), WDT_TIME_OUT 0x65 (bit 7: count in
seconds rather than minutes), WDT_VAL 0x66 (count; 0 stops it), WDT_CFG
0x67, WDT_CTRL 0x68 (bit 0: the watchdog fired). The model records what the
driver programs; :attr:`running` and :attr:`timeout_seconds` read it back.
Time does not count the watchdog down here: :meth:`expire` makes it fire.
"""

from __future__ import annotations

from .device import Device

DEVICE_IDS = {"SCH3112": 0x7C, "SCH3114": 0x7D, "SCH3116": 0x7F}
RESGEN, GP60, WDT_TIME_OUT, WDT_VAL, WDT_CFG, WDT_CTRL = 0x1D, 0x47, 0x65, 0x66, 0x67, 0x68
RUNTIME_SIZE = 0x80
_RUNTIME_LDN = 0x0A


class Sch311x(Device):
    """The chip's configuration port pair and its runtime register block."""

    def __init__(self, name: str = "sch311x", chip: str = "SCH3114", config_port: int = 0x2E,
                 runtime_base: int = 0x0A00) -> None:
        super().__init__(name)
        if chip not in DEVICE_IDS:
            raise ValueError(f"unknown chip {chip!r}; known: {', '.join(DEVICE_IDS)}")
        self.chip = chip
        self.config_port = config_port
        self.runtime_base = runtime_base
        self.port_ranges = ((config_port, 2), (runtime_base, RUNTIME_SIZE))
        self.configuring = False
        self.index = 0
        self.ldn = 0
        self.ldn_registers: dict[int, dict[int, int]] = {
            _RUNTIME_LDN: {0x30: 0x01, 0x60: runtime_base >> 8, 0x61: runtime_base & 0xFF},
        }
        self.runtime = bytearray(RUNTIME_SIZE)
        self.runtime[GP60] = 0x01

    # -- what a test reads back ---------------------------------------------------
    @property
    def running(self) -> bool:
        """The watchdog counts: its output function is on the pin, the pin is an output, the count is not 0."""
        gp60 = self.runtime[GP60]
        return gp60 & 0x0C == 0x0C and not gp60 & 0x01 and self.runtime[WDT_VAL] != 0

    @property
    def timeout_seconds(self) -> int:
        """The programmed count, in seconds."""
        unit = 1 if self.runtime[WDT_TIME_OUT] & 0x80 else 60
        return self.runtime[WDT_VAL] * unit

    def expire(self) -> None:
        """The count ran out: the chip latches "fired" in WDT_CTRL bit 0 (a reset on a real board)."""
        self.runtime[WDT_CTRL] |= 0x01

    # -- registers ------------------------------------------------------------------
    def register_name(self, offset: int, write: bool) -> str | None:
        return None

    def port_read(self, port: int, width: int) -> int:
        if self.runtime_base <= port < self.runtime_base + RUNTIME_SIZE:
            return self.runtime[port - self.runtime_base]
        if port == self.config_port + 1 and self.configuring:
            return self._config_register(self.index)
        return 0xFF

    def port_write(self, port: int, width: int, value: int) -> None:
        value &= 0xFF
        if self.runtime_base <= port < self.runtime_base + RUNTIME_SIZE:
            self.runtime[port - self.runtime_base] = value
        elif port == self.config_port:
            if value == 0x55:
                self.configuring = True
            elif value == 0xAA:
                self.configuring = False
            elif self.configuring:
                self.index = value
        elif port == self.config_port + 1 and self.configuring:
            if self.index == 0x07:
                self.ldn = value
            elif self.index >= 0x30:
                self.ldn_registers.setdefault(self.ldn, {})[self.index] = value

    def _config_register(self, index: int) -> int:
        if index == 0x20:
            return DEVICE_IDS[self.chip]
        if index == 0x07:
            return self.ldn
        return self.ldn_registers.get(self.ldn, {}).get(index, 0)
