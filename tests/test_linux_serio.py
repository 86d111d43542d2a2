"""The serio bus with the real xtkbd.ko and sermouse.ko on ports the kernel provides from Python.

A port registered by the built-in side (``add_host_port``) binds the driver whose id table fits
(type, proto, id, extra or SERIO_ANY); the driver's connect opens the port and registers an input
device; bytes sent to the port reach its interrupt handler, and what it reports comes out of the
input core, filtered and batched as Linux does. Unloading disconnects and closes the port.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux import serio
from kernel_stubs.linux.input import InputCore
from sandbox import Kernel

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

EV_SYN, EV_KEY, EV_REL = 0, 1, 2
KEY_Q, KEY_A, KEY_LEFTSHIFT, BTN_LEFT, REL_X, REL_Y = 16, 30, 42, 0x110, 0, 1


def _batches(k: Kernel) -> list[list[tuple[int, int, int]]]:
    return [e.fields["events"] for e in k.trace.of_kind("note") if e.name == "input-events"]


def test_xtkbd_binds_an_xt_port_and_reports_keys() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    port = serio.add_host_port(ctx, "XT keyboard", serio.SERIO_XT, phys="xt/serio0")
    k.load(ko("drivers/input/keyboard/xtkbd.ko"))
    assert k.console == "input: XT Keyboard as /devices/serio0/input/input0\n"
    connects = [e.fields for e in k.trace.of_kind("note") if e.name == "serio-connect"]
    assert connects == [{"driver": "xtkbd", "port": "serio0", "result": 0}]
    assert port.opens == 1
    assert serio.send(ctx, port, [0x1E, 0x9E, 0x2A, 0x10, 0x90, 0xAA]) == [1] * 6  # IRQ_HANDLED each
    assert _batches(k) == [[(EV_KEY, KEY_A, 1), (EV_SYN, 0, 0)], [(EV_KEY, KEY_A, 0), (EV_SYN, 0, 0)],
                           [(EV_KEY, KEY_LEFTSHIFT, 1), (EV_SYN, 0, 0)], [(EV_KEY, KEY_Q, 1), (EV_SYN, 0, 0)],
                           [(EV_KEY, KEY_Q, 0), (EV_SYN, 0, 0)], [(EV_KEY, KEY_LEFTSHIFT, 0), (EV_SYN, 0, 0)]]
    report = k.unload("xtkbd")
    assert report.clean, report.leaks
    assert port.closes == 1 and k.subsystem(InputCore).registered() == []
    assert k.subsystem(serio.SerioCore).ports[port.serio].driver == 0


def test_a_port_added_after_the_driver_is_bound_and_an_unfit_one_is_not() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    k.load(ko("drivers/input/keyboard/xtkbd.ko"))
    rs232 = serio.add_host_port(ctx, "Serial line", serio.SERIO_RS232)  # not an XT port: xtkbd does not fit
    xt = serio.add_host_port(ctx, "XT keyboard", serio.SERIO_XT)
    core = k.subsystem(serio.SerioCore)
    assert core.ports[rs232.serio].driver == 0 and core.ports[xt.serio].driver != 0
    assert serio.send(ctx, rs232, [0x1E]) == [1]  # no driver: the core rescans (IRQ_HANDLED), nothing binds
    assert core.ports[rs232.serio].driver == 0


def test_sermouse_decodes_mouse_systems_packets() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    k.load(ko("drivers/input/mouse/sermouse.ko"))
    port = serio.add_host_port(ctx, "Serial port ttyS1", serio.SERIO_RS232, proto=serio.SERIO_MSC)
    assert k.console == "input: Mouse Systems Mouse as /devices/serio0/input/input0\n"
    serio.send(ctx, port, [0x80 | 0b011, 10, 0xFC, 6, 0xFE])  # left button; dx 10 + 6; dy -4 - 2 (up is +)
    events = [e for batch in _batches(k) for e in batch if e[0] != EV_SYN]
    assert events == [(EV_KEY, BTN_LEFT, 1), (EV_REL, REL_X, 5), (EV_REL, REL_X, 5), (EV_REL, REL_Y, 4),
                      (EV_REL, REL_X, 3), (EV_REL, REL_Y, 2), (EV_REL, REL_X, 3)]


def test_manual_bind_is_the_drvctl_write() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    k.load(ko("drivers/input/keyboard/xtkbd.ko"))
    port = serio.add_host_port(ctx, "XT keyboard", serio.SERIO_XT)
    core = k.subsystem(serio.SerioCore)
    serio.bind(ctx, "serio0", "none")          # echo none > drvctl: unbound, and stays so
    assert core.ports[port.serio].driver == 0 and port.closes == 1
    assert k.subsystem(InputCore).registered() == []
    serio.bind(ctx, "serio0", "xtkbd")         # echo xtkbd > drvctl
    assert core.ports[port.serio].driver != 0 and port.opens == 2
    with pytest.raises(ValueError, match="no serio driver 'atkbd'"):
        serio.bind(ctx, "serio0", "atkbd")


def test_serio_raw_bound_by_hand_to_the_i8042_keyboard_port() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    kbd = serio.attach_i8042(ctx)
    k.load(ko("drivers/input/serio/serio_raw.ko"))
    assert k.subsystem(serio.SerioCore).ports[kbd.serio].driver == 0  # serio_raw is manual-bind
    serio.bind(ctx, "serio0", "serio_raw")     # echo -n serio_raw > /sys/bus/serio/devices/serio0/drvctl
    assert k.console == "serio_raw serio0: raw access enabled on isa0060/serio0 (serio_raw0, minor 1)\n"
    raw = k.open("/dev/serio_raw0", 0o2 | 0o4000)
    k.devices["kbd"].type("hi")                # set-1 make and break codes through IRQ 1, in order
    assert raw.read(16) == bytes([0x23, 0xA3, 0x17, 0x97])
    raw.write(b"\xf2")                         # identify: to the keyboard through the data port
    assert kbd.written == [0xF2] and raw.read(16) == bytes([0xFA, 0xAB, 0x83])
    raw.close()
    report = k.unload("serio_raw")
    assert report.clean, report.leaks


def test_serio_state_is_in_snapshots() -> None:
    k = Kernel("linux")
    ctx = k.service_context
    k.load(ko("drivers/input/keyboard/xtkbd.ko"))
    snap = k.snapshot()
    port = serio.add_host_port(ctx, "XT keyboard", serio.SERIO_XT)
    assert len(k.subsystem(serio.SerioCore).ports) == 1
    k.restore(snap)
    assert k.subsystem(serio.SerioCore).ports == {} and k.subsystem(InputCore).registered() == []
    port = serio.add_host_port(ctx, "XT keyboard", serio.SERIO_XT)
    serio.send(ctx, port, [0x1E])
    assert _batches(k)[-1] == [(EV_KEY, KEY_A, 1), (EV_SYN, 0, 0)]
