"""Temperature sensor chips for the I2C bus: LM75, TMP102, LM73 register maps (from their datasheets).

Each is a :class:`~sandbox.devices.i2c.RegisterChip` with an 8-bit pointer
and 16-bit registers sent most significant byte first. ``temperature``
(degrees Celsius) sets what the temperature register reads, at the chip's
resolution: the register holds a left-justified two's complement value,
``scale`` units per degree with the lowest ``unused_bits`` always zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from .i2c import RegisterChip


class TemperatureChip(RegisterChip):
    """A sensor whose register ``TEMP`` reads ``temperature`` (Celsius) in the chip's format."""

    reg_bits, val_bits, byte_order, auto_increment = 8, 16, "big", False
    TEMP = 0
    scale = 256  # register units per degree
    unused_bits = 7  # low bits below the resolution, read as zero
    defaults: ClassVar[Mapping[int, int]] = MappingProxyType({})
    widths_of: ClassVar[Mapping[int, int]] = MappingProxyType({})

    def __init__(self, name: str | None = None, temperature: float = 25.0) -> None:
        super().__init__(name, dict(self.defaults), widths=self.widths_of, read_only={self.TEMP})
        self.temperature = temperature

    @classmethod
    def encode(cls, celsius: float) -> int:
        """The temperature register's value for ``celsius`` (truncated toward minus infinity)."""
        units = int(celsius * cls.scale // (1 << cls.unused_bits)) << cls.unused_bits
        return units & 0xFFFF

    @classmethod
    def decode(cls, value: int) -> float:
        """Degrees Celsius a register value stands for."""
        signed = value - 0x10000 if value & 0x8000 else value
        return signed / cls.scale

    def read_register(self, reg: int) -> int:
        if reg == self.TEMP:
            return self.encode(self.temperature)
        return super().read_register(reg)


class Lm75(TemperatureChip):
    """National LM75: 9-bit temperature (0.5 C), config (8-bit) at 1, T_hyst 75 C at 2, T_os 80 C at 3."""

    name = "lm75"
    scale, unused_bits = 256, 7
    defaults = MappingProxyType({0: 0, 1: 0x00, 2: 0x4B00, 3: 0x5000})
    widths_of = MappingProxyType({1: 8})


class Tmp102(TemperatureChip):
    """TI TMP102: 12-bit temperature (0.0625 C), config 0x60A0 at 1, T_low 75 C at 2, T_high 80 C at 3.

    With the configuration's EM bit (0x0010) set the chip is in extended
    mode: 13 bits, 128 units per degree, and bit 0 of the temperature set to
    say so (the limits keep their bits and are read in the new format too).
    """

    name = "tmp102"
    scale, unused_bits = 256, 4
    defaults = MappingProxyType({0: 0, 1: 0x60A0, 2: 0x4B00, 3: 0x5000})
    CONF, CONF_EM = 1, 0x0010

    def read_register(self, reg: int) -> int:
        if reg == self.TEMP and self.registers.get(self.CONF, 0) & self.CONF_EM:
            return ((int(self.temperature * 128 // 8) << 3) | 1) & 0xFFFF
        return super().read_register(reg)


class Lm73(TemperatureChip):
    """TI LM73: 11-bit temperature (0.25 C, 128 units per degree), config at 1, T_high/T_low at 2/3,
    control/status (8-bit) at 4, identification 0x0190 at 7."""

    name = "lm73"
    scale, unused_bits = 128, 5
    defaults = MappingProxyType({0: 0, 1: 0x40, 2: 0x3FE0, 3: 0xF600, 4: 0x08, 7: 0x0190})
    widths_of = MappingProxyType({1: 8, 4: 8})


class Jc42(TemperatureChip):
    """A JEDEC JC-42.4 DIMM temperature sensor (IDs of an Analog Devices ADT7408): capabilities at 0,
    configuration at 1, alarm upper/lower/critical at 2/3/4, temperature at 5 (13 bits, 16 units per
    degree, sign at bit 12, alarm flags above), manufacturer 0x11D4 at 6, device 0x0801 at 7."""

    name = "jc42"
    TEMP = 5
    scale, unused_bits = 16, 0
    defaults = MappingProxyType({0: 0x0001, 1: 0x0000, 2: 0x0550, 3: 0x0000, 4: 0x05F0, 5: 0, 6: 0x11D4, 7: 0x0801})

    @classmethod
    def encode(cls, celsius: float) -> int:
        """13-bit two's complement sixteenths of a degree; the alarm flag bits (13-15) clear."""
        return int(celsius * 16 // 1) & 0x1FFF
