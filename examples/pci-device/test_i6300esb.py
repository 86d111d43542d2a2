"""The worked example: a PCI device modelled in Python (esb.py), driven by the real Debian driver.

``i6300esb.ko`` and the watchdog core ``watchdog.ko`` it depends on are
loaded with ``k.modprobe`` from the Debian 6.1 686 tree (skipped when the
tree is not fetched: ``tools/fetch-linux-modules``). The tests drive the
driver the way userspace does — open, ping, magic close — and check what
the chip saw.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.testing import corpus_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from esb import LOCK_REG, I6300Esb

TREE = corpus_dir()
pytestmark = pytest.mark.skipif(TREE is None, reason="Linux 6.1 686 modules not fetched (tools/fetch-linux-modules)")
WDIOC_SETTIMEOUT, WDIOC_GETTIMEOUT = 0xC0045706, 0x80045707


@pytest.fixture
def machine() -> tuple[Kernel, I6300Esb]:
    k = Kernel("linux")
    chip = k.pci.add(I6300Esb())  # 8086:25ab in the first free slot, BAR 0 placed as firmware would
    k.modprobe("i6300esb", TREE)  # watchdog.ko first, then the driver: probe runs against the model
    return k, chip


def test_probe_programs_the_chip(machine) -> None:
    k, chip = machine
    assert "i6300ESB timer 0000:00:01.0: initialized. heartbeat=30 sec (nowayout=0)" in k.console
    assert chip.timer == [30 << 9, 30 << 9]  # both stages preloaded: 2 x 15360 counts at ~1 kHz
    assert not chip.enabled  # nothing runs until /dev/watchdog is opened


def test_pinging_keeps_the_machine_up_and_silence_resets_it(machine) -> None:
    k, chip = machine
    dog = k.open("/dev/watchdog")
    assert chip.enabled and chip.remaining_ms() == 30720
    k.advance_time(20_000_000_000)
    assert chip.remaining_ms() == 10720 and chip.resets == 0
    dog.write(b"\0")  # any write pings
    assert chip.remaining_ms() == 30720
    k.advance_time(40_000_000_000)  # no ping for 40 s: the second stage runs out
    assert chip.resets == 1 and chip.timed_out


def test_magic_close_stops_it_and_a_set_timeout_reprograms_it(machine) -> None:
    k, chip = machine
    dog = k.open("/dev/watchdog")
    value = bytearray(struct.pack("<i", 10))
    assert dog.ioctl(WDIOC_SETTIMEOUT, value) == 0 and struct.unpack("<i", value)[0] == 10
    assert chip.timer == [10 << 9, 10 << 9]
    dog.write(b"V")  # the magic character: close may stop the timer
    dog.close()
    assert not chip.enabled and chip.config[LOCK_REG] == 0


def test_the_chip_model_is_part_of_a_snapshot(machine) -> None:
    k, chip = machine
    dog = k.open("/dev/watchdog")
    snap = k.snapshot()
    k.advance_time(40_000_000_000)
    assert chip.resets == 1
    k.restore(snap)
    assert chip.resets == 0 and chip.remaining_ms() == 30720
    dog.write(b"\0")
