"""The LED class as Linux 6.1: a compiled driver's LEDs read and written through sysfs from Python.

``drivers/linux/ledsdemo.c`` registers "demo:green" (non-blocking setter),
"demo:red" (one step, blocking setter that can fail, a getter, kept on at
unload), a second "demo:green" (renamed by the core) and, through its
platform driver, a managed "ledsdemo::status".
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.leds import leds
from kernel_stubs.linux.sysfs import SysfsError
from sandbox import Kernel


def _u32(k: Kernel, name: str) -> int:
    return k.memory.read_u32(k.module("ledsdemo").address_of(name))


@pytest.fixture(params=["gcc", "clang"])
def k(request, built) -> Kernel:
    kernel = Kernel("linux")
    kernel.load(built[(request.param, "linux", "ledsdemo")])
    return kernel


def test_leds_appear_in_the_leds_class(k: Kernel) -> None:
    assert sorted(leds(k)) == ["demo:green", "demo:green_1", "demo:red"]
    assert sorted(k.sysfs.ls("/sys/class/leds")) == ["demo:green", "demo:green_1", "demo:red"]
    assert k.sysfs.read("/sys/class/leds/demo:green/max_brightness") == "255\n"
    assert k.sysfs.read("/sys/class/leds/demo:red/max_brightness") == "1\n"
    assert k.sysfs.read("/sys/class/leds/demo:green/trigger") == "[none]\n"


def test_brightness_writes_reach_the_driver_clamped(k: Kernel) -> None:
    k.sysfs.write("/sys/class/leds/demo:green/brightness", "128\n")
    assert _u32(k, "green_register") == 128
    assert k.sysfs.read("/sys/class/leds/demo:green/brightness") == "128\n"
    k.sysfs.write("/sys/class/leds/demo:green/brightness", "999")
    assert _u32(k, "green_register") == 255  # clamped to max_brightness
    k.sysfs.write("/sys/class/leds/demo:red/brightness", "5")
    assert _u32(k, "red_hw") == 1 and _u32(k, "red_writes") == 1
    k.memory.write_u32(k.module("ledsdemo").address_of("red_hw"), 0)  # the hardware changed by itself
    assert k.sysfs.read("/sys/class/leds/demo:red/brightness") == "0\n"  # brightness_get asked


def test_bad_values_and_failing_hardware(k: Kernel) -> None:
    with pytest.raises(SysfsError) as error:
        k.sysfs.write("/sys/class/leds/demo:green/brightness", "bright")
    assert error.value.errno == 22
    with pytest.raises(SysfsError):
        k.sysfs.write("/sys/class/leds/demo:green/trigger", "heartbeat")  # no trigger module registered it
    k.sysfs.write("/sys/class/leds/demo:green/trigger", "none")
    k.memory.write_u32(k.module("ledsdemo").address_of("red_fail"), 1)
    k.sysfs.write("/sys/class/leds/demo:red/brightness", "1")
    assert "leds demo:red: Setting an LED's brightness failed (-5)" in k.console


def test_managed_led_comes_and_goes_with_its_device(k: Kernel) -> None:
    k.platform.add("ledsdemo")
    assert "ledsdemo::status" in leds(k)
    k.sysfs.write("/sys/class/leds/ledsdemo::status/brightness", "42")
    assert _u32(k, "status_register") == 42
    k.platform.remove("ledsdemo")  # unbind: devres unregisters the LED, turning it off
    assert "ledsdemo::status" not in leds(k) and _u32(k, "status_register") == 0


def test_unregistering_turns_leds_off_unless_retained(k: Kernel) -> None:
    k.sysfs.write("/sys/class/leds/demo:green/brightness", "7")
    k.sysfs.write("/sys/class/leds/demo:red/brightness", "1")
    k.module("ledsdemo").call("ledsdemo_drop")
    assert _u32(k, "green_register") == 0  # turned off as it went
    assert _u32(k, "red_hw") == 1 and _u32(k, "red_writes") == 1  # LED_RETAIN_AT_SHUTDOWN: left as it was
    assert leds(k) == {} and k.sysfs.ls("/sys/class/leds") == []
    report = k.unload("ledsdemo")
    assert report.clean, report.leaks


def test_leds_left_registered_are_leaks(k: Kernel) -> None:
    m = k.module("ledsdemo")
    k.memory.write_u32(m.address_of("keep_leds"), 1)
    report = k.unload(m)
    assert sorted(report.leaks) == ["LED demo:green still registered", "LED demo:green_1 still registered",
                                    "LED demo:red still registered"]
    assert leds(k) == {} and k.sysfs.ls("/sys/class/leds") == []
