"""gpiolib as Linux 6.1 on a PC: a compiled driver's GPIO chip, its lines from Python, and consumers.

``drivers/linux/gpiodemo.c`` registers an 8-line expander with a dynamic
base, then consumes line 3 by number (gpio_request, gpio_to_desc,
gpiod_direction_output); lookups by function name find nothing, as on a PC
without board descriptions.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.gpio import gpio_chips
from sandbox import Kernel


def _i32(k: Kernel, name: str) -> int:
    value = k.memory.read_u32(k.module("gpiodemo").address_of(name))
    return value - (1 << 32) if value >> 31 else value


def _u8(k: Kernel, name: str) -> int:
    return k.memory.read(k.module("gpiodemo").address_of(name), 1)[0]


@pytest.fixture(params=["gcc", "clang"])
def k(request, built) -> Kernel:
    kernel = Kernel("linux")
    kernel.load(built[(request.param, "linux", "gpiodemo")])
    return kernel


def test_the_chip_gets_the_top_dynamic_block(k: Kernel) -> None:
    chips = gpio_chips(k)
    assert list(chips) == ["gpiodemo"] and (chips["gpiodemo"].base, chips["gpiodemo"].ngpio) == (504, 8)
    assert _i32(k, "base") == 504 and _i32(k, "chip_data_ok") == 1
    assert _i32(k, "line3_number") == 507


def test_consumers_by_name_find_nothing_on_a_pc(k: Kernel) -> None:
    assert _i32(k, "optional_is_null") == 1
    assert _i32(k, "required_error") == -2  # ERR_PTR(-ENOENT)


def test_the_consumer_drove_its_line_and_python_sees_it(k: Kernel) -> None:
    assert _u8(k, "dir_out") == 0b1000 and _u8(k, "latch") == 0b1000
    chip = gpio_chips(k)["gpiodemo"]
    assert chip.get(3) == 1
    chip.set(3, 0)
    assert _u8(k, "latch") == 0 and k.module("gpiodemo").call("gpiodemo_read", 3) == 0
    k.memory.write(k.module("gpiodemo").address_of("pins"), bytes([0b100]))  # a signal arrives on input line 2
    assert chip.get(2) == 1 and chip.get(1) == 0
    assert chip.output(5, 1) == 0 and _u8(k, "dir_out") == 0b101000
    assert _i32(k, "irq_of_line1") == 41


def test_requests_are_exclusive_and_wait_for_their_chip(k: Kernel) -> None:
    m = k.module("gpiodemo")
    assert m.call("gpiodemo_request_again") == -16  # -EBUSY
    assert m.call("gpiodemo_request_absent") == -517  # -EPROBE_DEFER: no chip has GPIO 100 yet


def test_unload_removes_the_chip(k: Kernel) -> None:
    assert k.unload("gpiodemo").clean
    assert gpio_chips(k) == {}


def test_a_chip_left_registered_is_a_leak(k: Kernel) -> None:
    m = k.module("gpiodemo")
    k.memory.write_u32(m.address_of("keep_chip"), 1)
    report = k.unload(m)
    assert report.leaks == ["GPIO 507 (status-led) still requested",
                            "gpio chip gpiodemo (GPIOs 504-511) still registered"]
    assert gpio_chips(k) == {}
