"""I2C, SMBus, regmap and hwmon as Linux 6.1 i386 has them, driven by a compiled driver and by real modules.

``drivers/linux/sbtemp.c`` (built with gcc and with clang, as the build makes Linux-profile drivers) binds to a
client the host describes on its adapter, reads and writes an LM75 model
over SMBus, plain I2C messages and a cached regmap, and registers hwmon
attributes that Python reads back. With the Debian corpus, the real
``lm73.ko`` (SMBus, attribute groups, detection), ``tmp102.ko`` (regmap,
chip info) and ``i2c-stub.ko`` (an adapter of a module's own) do the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.build import build_one
from kernel_stubs.linux.hwmon import hwmon, hwmon_devices
from kernel_stubs.linux.regmap import regmaps
from sandbox import Kernel
from sandbox.devices.i2c import I2cAdapter, I2cMessage, I2cNack, RegisterChip
from sandbox.devices.i2c_sensors import Lm73, Lm75, Tmp102
from sandbox.errors import DeviceError

from .linux_corpus import ko, needs_corpus

SBTEMP = Path(__file__).resolve().parent.parent / "drivers" / "linux" / "sbtemp.c"
ENXIO, EREMOTEIO, EIO = 6, 121, 5


@pytest.fixture(params=["gcc", "clang"])
def sbtemp(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return build_one(SBTEMP, request.param, "linux", tmp_path)


def _transfers(k: Kernel) -> list[str]:
    return [e.fields["messages"] for e in k.trace.of_kind("note") if e.name == "i2c transfer"]


def _sensor(path: Path, temperature: float = 25.5, config: int = 0x01):
    k = Kernel("linux", check_vermagic=False)
    chip = Lm75(temperature=temperature)
    chip.registers[1] = config
    k.i2c.add(chip, addr=0x48, name="sbtemp")
    module = k.load(path)
    return k, chip, module


# -- the models alone ----------------------------------------------------------------------------

def test_register_chip_pointer_auto_increment_and_byte_order() -> None:
    adapter = I2cAdapter(0)
    chip = RegisterChip(registers={0: 0x11, 1: 0x22, 2: 0x33})
    adapter.clients[0x50] = chip
    read = I2cMessage(0x50, 1, b"", 3)
    assert adapter.transfer([I2cMessage(0x50, 0, b"\x01"), read]) == 2
    assert read.data == b"\x22\x33\x11"[:2] + b"\x00"  # 1, 2, then 3 (not in the map: reads 0)
    adapter.transfer([I2cMessage(0x50, 0, b"\x00\xAA\xBB")])  # pointer 0, then two registers written
    assert chip.registers[0] == 0xAA and chip.registers[1] == 0xBB
    with pytest.raises(I2cNack) as nack:
        adapter.transfer([I2cMessage(0x50, 0, b"\x09")])  # no register 9: the pointer byte is NACKed
    assert nack.value.errno == EREMOTEIO
    with pytest.raises(I2cNack) as absent:
        adapter.transfer([I2cMessage(0x51, 1, b"", 1)])
    assert absent.value.errno == ENXIO


def test_sensor_models_encode_temperatures_as_their_datasheets() -> None:
    assert Lm75.encode(25.5) == 0x1980 and Lm75.encode(-0.5) == 0xFF80
    assert Tmp102.encode(25.5) == 0x1980 and Tmp102.encode(0.0625) == 0x0010
    assert Lm73.encode(25.5) == 0x0CC0 and Lm73.decode(Lm73.encode(-10.25)) == -10.25


# -- the compiled driver ------------------------------------------------------------------------------

def test_probe_binds_by_id_table_and_hwmon_reads_through_the_driver(sbtemp: Path) -> None:
    k, chip, _module = _sensor(sbtemp)
    assert k.console.splitlines() == ["sbtemp 0-0048: sensor at 0x48, config 0x01"]
    assert chip.registers[1] == 0x00  # probe took the chip out of shutdown over SMBus
    assert [e.fields for e in k.trace.of_kind("note") if e.name == "probe"] == [
        {"driver": "sbtemp", "device": "0-0048", "result": 0}]
    assert _transfers(k)[:2] == ["48W[01] 48R[01]", "48W[01 00]"]  # read byte data, write byte data
    sensor = hwmon(k, "sbtemp")
    assert sensor.attributes == ["name", "temp1_input", "temp1_max"]
    assert sensor.read("temp1_input") == "25500\n" and sensor.read("name") == "sbtemp\n"
    chip.temperature = -12.5
    assert sensor.read("temp1_input") == "-12500\n"
    assert sensor.write("temp1_max", "30000") == 5
    assert chip.registers[3] == 0x1E00 and sensor.read("temp1_max") == "30000\n"
    with pytest.raises(DeviceError, match="not writable"):
        sensor.write("temp1_input", "1")


def test_smbus_words_and_raw_messages_reach_the_chip_as_an_adapter_sends_them(sbtemp: Path) -> None:
    k, _chip, module = _sensor(sbtemp)
    assert module.call("sbtemp_smbus_word") == 0x8019  # MSB first on the wire, SMBus takes LSB first
    assert module.call("sbtemp_transfer") == 0x2_1980  # two messages sent, the register's bytes
    buffer = k.memory.alloc(8)
    assert module.call("sbtemp_recv3", buffer) == 3 and k.memory.read(buffer, 3) == b"\x19\x80\x19"
    assert module.call("sbtemp_block", 0, 4, buffer) == 4 and k.memory.read(buffer, 4) == b"\x19\x80\x19\x80"
    assert _transfers(k)[-4:] == ["48W[00] 48R[19 80]", "48W[00] 48R[19 80]", "48R[19 80 19]",
                                  "48W[00] 48R[19 80 19 80]"]


def test_an_absent_address_is_enxio_and_a_refused_byte_eremoteio(sbtemp: Path) -> None:
    k, _chip, module = _sensor(sbtemp)
    assert module.call("sbtemp_read_other", 0x49, 0) == -ENXIO
    other = RegisterChip(registers={0: 0x5A})
    k.i2c.add(other, addr=0x49, name=None)  # on the bus, described to no driver
    assert module.call("sbtemp_read_other", 0x49, 0) == 0x5A
    assert module.call("sbtemp_read_other", 0x49, 7) == -EREMOTEIO  # the chip NACKs pointer 7
    errors = [e.fields["error"] for e in k.trace.of_kind("note") if e.name == "i2c transfer" and "error" in e.fields]
    assert errors == ["i2c-0: no ACK from address 0x49", "i2c-0: client 0x49 NACKed byte 0 (0x07) of message 0"]


def test_regmap_caches_what_is_not_volatile_and_honours_its_rules(sbtemp: Path) -> None:
    k, chip, module = _sensor(sbtemp)
    regmap = regmaps(k)[0]
    assert regmap.transport == "i2c" and regmap.val_endian == "big"
    before = regmap.hardware_reads
    assert module.call("sbtemp_regmap_read", 3) == 0x5000
    chip.registers[3] = 0x2800  # changed behind the cache's back
    assert module.call("sbtemp_regmap_read", 3) == 0x5000  # served from the cache: the chip is not asked
    assert regmap.hardware_reads == before + 1
    assert module.call("sbtemp_regmap_read", 0) == 0x1980
    chip.temperature = 30.0
    assert module.call("sbtemp_regmap_read", 0) == 0x1E00  # volatile: read every time
    assert regmap.hardware_reads == before + 3
    assert module.call("sbtemp_regmap_read", 4) == -EIO  # beyond max_register
    assert module.call("sbtemp_regmap_write", 2, 0x4600) == 0 and chip.registers[2] == 0x4600
    assert module.call("sbtemp_update_bits", 2, 0xFF00, 0x4600) == 0  # no change: nothing written
    assert module.call("sbtemp_update_bits", 2, 0xFF00, 0x4A00) == 1 and chip.registers[2] == 0x4A00
    assert regmap.cache[2] == 0x4A00
    sources = [e.fields["source"] for e in k.trace.of_kind("note") if e.name == "regmap" and e.fields["reg"] == 3]
    assert sources[-2:] == ["chip", "cache"]


def test_unbinding_at_unload_runs_remove_and_releases_hwmon_and_regmap(sbtemp: Path) -> None:
    k, _chip, module = _sensor(sbtemp)
    assert len(hwmon_devices(k)) == 1 and len(regmaps(k)) == 1
    report = k.unload(module)
    assert report.clean, report.leaks
    assert hwmon_devices(k) == [] and regmaps(k) == []
    again = k.load(sbtemp)  # the described client is still there: the new driver binds it again
    assert hwmon(k, "sbtemp").read("temp1_input") == "25500\n"
    assert k.unload(again).clean


def test_a_client_described_after_the_driver_loaded_is_probed_then(sbtemp: Path) -> None:
    k = Kernel("linux", check_vermagic=False)
    module = k.load(sbtemp)
    assert hwmon_devices(k) == []
    k.i2c.add(Lm75(temperature=40.0), addr=0x4C, name="sbtemp")
    assert k.console.splitlines() == ["sbtemp 0-004c: sensor at 0x4c, config 0x00"]
    assert hwmon(k, "hwmon0").read("temp1_input") == "40000\n"
    k.i2c.remove(k.i2c.adapter(0).clients[0x4C])
    assert module.call("sbtemp_removed") == 1 and hwmon_devices(k) == []


def test_snapshot_restores_the_chip_and_the_cache(sbtemp: Path) -> None:
    k, chip, module = _sensor(sbtemp)
    snap = k.snapshot()
    assert module.call("sbtemp_regmap_write", 2, 0x3200) == 0
    chip.temperature = 99.0
    k.restore(snap)
    assert chip.registers[2] == 0x4B00 and chip.temperature == 25.5  # the same object, its state back
    assert module.call("sbtemp_regmap_read", 2) == 0x4B00
    assert hwmon(k, "sbtemp").read("temp1_input") == "25500\n"


# -- real modules ------------------------------------------------------------------------------------------

@needs_corpus
def test_real_lm73_probes_the_model_and_its_groups_read_the_chip() -> None:
    k = Kernel("linux")
    chip = Lm73(temperature=25.5)
    k.i2c.add(chip, addr=0x48, name="lm73")
    module = k.load(ko("drivers/hwmon/lm73.ko"))
    assert k.console.splitlines() == ["lm73 0-0048: sensor 'lm73'"]
    sensor = hwmon(k, "lm73")
    assert sensor.attributes == ["name", "temp1_input", "temp1_max", "temp1_max_alarm", "temp1_min",
                                 "temp1_min_alarm", "update_interval"]
    assert sensor.read("temp1_input") == "25500\n"
    assert sensor.read("temp1_max") == "127750\n" and sensor.read("temp1_min") == "-20000\n"
    chip.temperature = -10.25
    assert sensor.read("temp1_input") == "-10250\n"
    assert sensor.write("temp1_max", "30000") == 5 and chip.registers[2] == 0x0F00
    assert sensor.write("update_interval", "100") == 3 and sensor.read("update_interval") == "112\n"
    assert k.unload(module).clean and hwmon_devices(k) == []


@needs_corpus
def test_real_lm73_detects_an_undescribed_chip_on_a_hwmon_class_adapter() -> None:
    k = Kernel("linux")
    k.i2c.add(Lm73(temperature=21.0), addr=0x4C, name=None)  # present, but no board info names it
    module = k.load(ko("drivers/hwmon/lm73.ko"))
    assert "i2c i2c-0: Creating lm73 at 0x4c" in k.console
    assert hwmon(k, "lm73").read("temp1_input") == "21000\n"
    assert "48W[]" in _transfers(k)  # the quick-write probes of the other listed addresses
    assert k.unload(module).clean  # the client detection made goes with the driver


@needs_corpus
def test_real_tmp102_over_regmap_reads_its_chip_info_attributes() -> None:
    k = Kernel("linux")
    chip = Tmp102(temperature=25.5)
    k.i2c.add(chip, addr=0x48, name="tmp102")
    module = k.load(ko("drivers/hwmon/tmp102.ko"))
    assert k.console.splitlines() == ["tmp102 0-0048: initialized"]
    assert chip.registers[1] == 0x62B0  # extended mode and 4 Hz, set through regmap_update_bits
    k.advance_time(400_000_000)  # past the first conversion
    sensor = hwmon(k, "tmp102")
    assert sensor.attributes == ["name", "temp1_input", "temp1_max", "temp1_max_hyst"]
    assert sensor.read("temp1_input") == "25500\n"
    regmap = regmaps(k)[0]
    reads = regmap.hardware_reads
    sensor.read("temp1_max")
    sensor.read("temp1_max")
    assert regmap.hardware_reads == reads + 1  # the limit is cached after the first read
    assert sensor.write("temp1_max", "70000") == 5 and chip.registers[3] == 70 * 128
    assert k.unload(module).clean
    assert chip.registers[1] == 0x60A0  # its devm action put the original configuration back


@needs_corpus
def test_a_module_adapter_carries_a_drivers_transfers() -> None:
    k = Kernel("linux")
    stub = k.load(ko("drivers/i2c/i2c-stub.ko"), params={"chip_addr": "0x48"})
    from kernel_stubs.linux.i2c import I2C_SMBUS_WORD_DATA, I2cCore, new_device, smbus_command

    adapters = list(k.subsystem(I2cCore).adapters.values())
    assert [(a.nr, a.owner) for a in adapters] == [(0, "i2c_stub")]
    sensor_module = k.load(ko("drivers/hwmon/tmp102.ko"))
    # The stub chip's words start at 0: give it a TMP102's power-on configuration (MSB first, so swapped).
    smbus_command(k, 0, 0x48, False, 1, I2C_SMBUS_WORD_DATA, (0xA060).to_bytes(2, "little"))
    assert smbus_command(k, 0, 0x48, True, 1, I2C_SMBUS_WORD_DATA)[:2] == b"\x60\xa0"
    client = new_device(k, 0, "tmp102", 0x48)  # what echo tmp102 0x48 > .../i2c-0/new_device does
    assert regmaps(k)[0].transport == "smbus_word_swapped"  # i2c-stub does SMBus only
    k.advance_time(400_000_000)
    sensor = hwmon(k, "tmp102")
    assert sensor.write("temp1_max", "70000") == 5
    assert sensor.read("temp1_max") == "70000\n"
    assert k.unload(sensor_module).clean
    core = k.subsystem(I2cCore)
    assert core.bound_driver(k, core.clients[client]) == 0  # unbound, still instantiated
    assert k.unload(stub).clean  # i2c_del_adapter takes its clients with it
    assert k.subsystem(I2cCore).clients == {} and k.subsystem(I2cCore).adapters == {}


@needs_corpus
def test_real_lm75_gets_no_supply_on_a_pc_without_acpi_and_does_not_probe() -> None:
    k = Kernel("linux")
    k.i2c.add(Lm75(temperature=25.5), addr=0x48, name="lm75")
    module = k.load(ko("drivers/hwmon/lm75.ko"))
    # devm_regulator_get: no ACPI declared the constraints complete, so no dummy supply (as Linux with acpi=off)
    assert k.console.splitlines() == ["lm75 0-0048: incomplete constraints, dummy supplies not allowed"]
    assert [e.fields["result"] for e in k.trace.of_kind("note") if e.name == "probe"] == [-19]
    assert hwmon_devices(k) == [] and regmaps(k) == []
    assert k.unload(module).clean


@needs_corpus
def test_real_jc42_detects_a_dimm_sensor_and_caches_its_limits_in_regmap() -> None:
    from sandbox.devices.i2c_sensors import Jc42

    k = Kernel("linux")
    chip = Jc42(temperature=25.5)
    k.i2c.add(chip, addr=0x18, name=None)  # an SPD-range address no board info names
    module = k.load(ko("drivers/hwmon/jc42.ko"))
    assert k.console.splitlines() == ["i2c i2c-0: Creating jc42 at 0x18"]  # its detect read the JEDEC IDs
    sensor = hwmon(k, "jc42")
    assert sensor.read("temp1_input") == "25500\n"
    assert sensor.read("temp1_max") == "85000\n" and sensor.read("temp1_crit") == "95000\n"
    chip.temperature = -3.0625
    assert sensor.read("temp1_input") == "-3062\n"  # the driver's own rounding of 1/16 degrees
    regmap = regmaps(k)[0]
    chip.registers[2] = 0x0600  # the limit changes behind the cache's back
    assert sensor.read("temp1_max") == "85000\n"  # served from regmap's cache
    assert 5 not in regmap.cache  # the temperature is volatile
    assert k.unload(module).clean and hwmon_devices(k) == []
