"""SPI as Linux 6.1 i386 has it: a compiled ADC driver and the real lm70.ko against Python chip models.

``drivers/linux/sbadc.c`` (gcc and clang) binds by its id table to a device
the host wires to a chip select, configures it with ``spi_setup`` and runs
messages (``spi_write_then_read``, ``spi_sync`` with ``cs_change`` and
16-bit words, ``spi_async``) that the model sees byte for byte. With the
Debian corpus, ``lm70.ko`` reads a modelled LM70 through hwmon.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.build import build_one
from kernel_stubs.linux.hwmon import hwmon, hwmon_devices
from sandbox import Kernel
from sandbox.devices.spi import SpiChip, SpiController, SpiSegment

from .linux_corpus import ko, needs_corpus

SBADC = Path(__file__).resolve().parent.parent / "drivers" / "linux" / "sbadc.c"


class Adc(SpiChip):
    """A 12-bit ADC: command 0x80 | channel, then the conversion MSB first; records each frame."""

    def __init__(self, values: list[int]) -> None:
        super().__init__()
        self.values = values
        self.frames: list[bytes] = []
        self._frame = bytearray()
        self._out: list[int] = []

    def select(self) -> None:
        self._frame = bytearray()
        self._out = []

    def exchange(self, byte: int) -> int:
        self._frame.append(byte)
        out = self._out.pop(0) if self._out else 0
        if byte & 0x80:
            value = self.values[byte & 0x7]
            self._out = [value >> 8, value & 0xFF]
        return out

    def deselect(self) -> None:
        self.frames.append(bytes(self._frame))


class Lm70(SpiChip):
    """National LM70: 16 bits out per frame, temperature in the top 11 (0.25 C)."""

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self._out: list[int] = []

    def select(self) -> None:
        raw = (int(self.temperature * 4) << 5) & 0xFFFF
        self._out = [raw >> 8, raw & 0xFF]

    def exchange(self, byte: int) -> int:
        return self._out.pop(0) if self._out else 0


@pytest.fixture(params=["gcc", "clang"])
def sbadc(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return build_one(SBADC, request.param, "linux", tmp_path)


def _adc(path: Path, modalias: str = "sbadc4"):
    k = Kernel("linux", check_vermagic=False)
    chip = Adc([1234, 2048, 4095, 7, 0, 0, 0, 0])
    k.spi.add(chip, modalias, cs=1)
    return k, chip, k.load(path)


def test_controller_model_exchanges_full_duplex_and_pulses_the_select() -> None:
    controller = SpiController(0)
    chip = Adc([0x123] * 8)
    controller.chips[0] = chip
    segments = [SpiSegment(3, b"\x81\x00\x00", cs_change=True), SpiSegment(3, b"\x82\x00\x00")]
    assert controller.transfer(0, segments) == 6
    assert [s.rx for s in segments] == [b"\x00\x01\x23", b"\x00\x01\x23"]
    assert chip.frames == [b"\x81\x00\x00", b"\x82\x00\x00"]  # two frames: the select went up between
    empty = [SpiSegment(2)]
    controller.transfer(3, empty)  # nothing on select 3: MISO floats high
    assert empty[0].rx == b"\xff\xff"


def test_probe_binds_by_id_table_and_reads_through_write_then_read(sbadc: Path) -> None:
    k, chip, module = _adc(sbadc)
    assert k.console.splitlines() == ["sbadc spi0.1: 4 channels, channel 0 reads 1234"]
    assert chip.frames == [b"\x80\x00\x00"]  # one frame: the command, then two bytes clocked in
    assert [e.fields for e in k.trace.of_kind("note") if e.name == "probe"] == [
        {"driver": "sbadc", "device": "spi0.1", "result": 0}]
    assert module.call("sbadc_read", 2) == 4095
    assert k.unload(module).clean


def test_a_message_of_two_transfers_with_cs_change_is_two_frames(sbadc: Path) -> None:
    k, chip, module = _adc(sbadc, "sbadc8")
    assert k.memory.read_u32(module.address_of("channels")) == 8
    chip.frames.clear()
    assert module.call("sbadc_pair", 1, 3) == (2048 << 16) | 7
    assert chip.frames == [b"\x81\x00\x00", b"\x83\x00\x00"]
    messages = [e.fields["transfers"] for e in k.trace.of_kind("note") if e.name == "spi message"]
    assert messages[-1] == ["81 00 00>00 08 00", "83 00 00>00 00 07"]


def test_sixteen_bit_words_go_out_most_significant_byte_first(sbadc: Path) -> None:
    _k, chip, module = _adc(sbadc)
    chip.frames.clear()
    assert module.call("sbadc_read16", 1) == 2048
    assert chip.frames == [b"\x81\x00\x00\x00"]


def test_spi_async_completes_the_message_and_calls_complete(sbadc: Path) -> None:
    k, _chip, module = _adc(sbadc)
    assert module.call("sbadc_async") == 0
    assert k.memory.read_u32(module.address_of("sbadc_actual_length")) == 3
    assert k.memory.read_u32(module.address_of("completions")) == 1


def test_unregistering_the_driver_unbinds_and_a_removed_chip_unbinds(sbadc: Path) -> None:
    k, chip, module = _adc(sbadc)
    k.spi.remove(chip)
    assert k.memory.read_u32(module.address_of("removed")) == 1
    k.spi.add(Adc([99] * 8), "sbadc4", cs=2)
    assert "sbadc spi0.2: 4 channels, channel 0 reads 99" in k.console
    assert k.unload(module).clean  # spi_unregister_driver (driver_unregister) unbound spi0.2 first
    unbinds = [e.fields for e in k.trace.of_kind("note") if e.name == "unbind"]
    assert unbinds == [{"driver": "sbadc", "device": "spi0.1"}, {"driver": "sbadc", "device": "spi0.2"}]


@needs_corpus
def test_real_lm70_reads_the_modelled_sensor_through_hwmon() -> None:
    k = Kernel("linux")
    chip = Lm70(25.5)
    k.spi.add(chip, "lm70", cs=0)
    module = k.load(ko("drivers/hwmon/lm70.ko"))
    sensor = hwmon(k, "lm70")
    assert sensor.attributes == ["name", "temp1_input"]
    assert sensor.read("temp1_input") == "25500\n"
    chip.temperature = -7.75
    assert sensor.read("temp1_input") == "-7750\n"
    assert k.unload(module).clean and hwmon_devices(k) == []
