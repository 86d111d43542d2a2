"""virtio-input: the real virtio_input.ko over virtio_mmio.ko on the Python model, with evdev.ko.

The driver reads the model's configuration space (name, ids, the event bits of each type, each
axis's range), registers an input device, offers event buffers; what the model sends comes out of
/dev/input/eventN as struct input_event records, and LED events written there come back to the
model on its status queue.
"""

from __future__ import annotations

import struct

from kernel_stubs.linux.input import InputCore
from sandbox import Kernel
from sandbox.devices.virtio import VirtioInput, add_virtio_mmio

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

STACK = ("drivers/input/evdev.ko", "drivers/virtio/virtio.ko", "drivers/virtio/virtio_ring.ko",
         "drivers/virtio/virtio_mmio.ko", "drivers/virtio/virtio_input.ko")
EVENT = struct.Struct("<IIHHi")
O_RDWR, O_NONBLOCK = 0o2, 0o4000
EV_SYN, EV_KEY, EV_ABS, EV_LED = 0, 1, 3, 0x11
KEY_A, KEY_B, LED_CAPSL = 30, 48, 1


def boot(model: VirtioInput) -> Kernel:
    k = Kernel("linux")
    add_virtio_mmio(k.platform, model, irq=5)
    for path in STACK:
        k.load(ko(path))
    return k


def test_model_key_events_come_out_of_dev_input() -> None:
    kbd = VirtioInput("QEMU Virtio Keyboard", keys=[KEY_A, KEY_B], leds=[0, 1, 2], repeat=True)
    k = boot(kbd)
    assert k.console == "input: QEMU Virtio Keyboard as /devices/platform/virtio-mmio.0/virtio0/input/input0\n"
    assert not kbd.errors and kbd.status == 15  # ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    events = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    k.advance_time(3_000_000)
    assert kbd.key(KEY_A) == 2 and kbd.key(KEY_A, down=False) == 2  # each event in its own buffer
    assert events.read(8 * EVENT.size) == b"".join(EVENT.pack(0, 3000, *e) for e in [
        (EV_KEY, KEY_A, 1), (EV_SYN, 0, 0), (EV_KEY, KEY_A, 0), (EV_SYN, 0, 0)])
    name = bytearray(64)
    assert events.ioctl(0x80404506, name) == len(b"QEMU Virtio Keyboard") + 1  # EVIOCGNAME
    events.write(EVENT.pack(0, 0, EV_LED, LED_CAPSL, 1) + EVENT.pack(0, 0, EV_SYN, 0, 0))
    assert kbd.status_events == [(EV_LED, LED_CAPSL, 1)]  # virtinput_status: back on the status queue
    events.close()
    for name in ("virtio_input", "virtio_mmio", "evdev"):
        report = k.unload(name)
        assert report.clean, report.leaks
    assert k.subsystem(InputCore).registered() == []


def test_events_wait_for_buffers_and_keys_repeat_only_as_sent() -> None:
    kbd = VirtioInput("keys", keys=[KEY_A])
    k = boot(kbd)
    events = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    held = kbd.virtqueues[0]
    assert held.ready
    kbd.send(*[(EV_KEY, KEY_A, v) for v in (1, 2, 2, 0)], (EV_SYN, 0, 0))
    values = [r[4] for r in EVENT.iter_unpack(events.read(16 * EVENT.size)) if r[2] == EV_KEY]
    assert values == [1, 2, 2, 0]  # autorepeat (value 2) passes the filter without a state change
    assert not kbd.pending and len(kbd.sent) == 5
    events.close()


def test_a_tablet_describes_its_axes_and_multitouch_slots() -> None:
    ABS_X, ABS_Y, ABS_MT_SLOT, ABS_MT_POSITION_X, ABS_MT_TRACKING_ID = 0x00, 0x01, 0x2F, 0x35, 0x39
    tablet = VirtioInput("QEMU Virtio Tablet", keys=[0x14A], abs={
        ABS_X: (0, 32767), ABS_Y: (0, 32767, 4, 0, 10),
        ABS_MT_SLOT: (0, 9), ABS_MT_POSITION_X: (0, 32767), ABS_MT_TRACKING_ID: (0, 65535)})
    k = boot(tablet)
    events = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    info = bytearray(24)
    assert events.ioctl(0x80184540 + ABS_Y, info) == 0  # EVIOCGABS(ABS_Y)
    assert struct.unpack("<6i", info) == (0, 0, 32767, 4, 0, 10)  # value, min, max, fuzz, flat, resolution
    assert events.ioctl(0x80184540 + ABS_MT_SLOT, info) == 0 and struct.unpack("<6i", info)[2] == 9
    (record,) = k.subsystem(InputCore).registered()
    mt = k.memory.read_u32(record.dev + 232)  # dev->mt: input_mt_init_slots(dev, 10, 0)
    assert mt and k.memory.read_u32(mt + 4) == 10
    tablet.send((EV_ABS, ABS_MT_SLOT, 1), (EV_ABS, ABS_MT_TRACKING_ID, 7), (EV_ABS, ABS_MT_POSITION_X, 500),
                (EV_SYN, 0, 0))
    got = [(r[2], r[3], r[4]) for r in EVENT.iter_unpack(events.read(16 * EVENT.size))]
    assert got == [(EV_ABS, ABS_MT_SLOT, 1), (EV_ABS, ABS_MT_TRACKING_ID, 7), (EV_ABS, ABS_MT_POSITION_X, 500),
                   (EV_SYN, 0, 0)]
    events.close()


def test_the_model_is_in_snapshots() -> None:
    kbd = VirtioInput("keys", keys=[KEY_A])
    k = boot(kbd)
    snap = k.snapshot()
    kbd.key(KEY_A)
    assert len(kbd.sent) == 2
    k.restore(snap)
    assert kbd.sent == [] and not kbd.pending
