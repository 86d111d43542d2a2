"""Linux 6.1's input core: the project's own input driver + handler (drivers/linux/input_demo.c, gcc and
clang), and the real pcspkr.ko and evdev.ko when the corpus is present.

What is checked is what Linux does: a handler connects to every device its id table matches, in
either order of registration; events pass the core's filter (declared types only, key state
changes, abs fuzz, no zero motion) and reach the handler in batches that end at SYN_REPORT; LED
and sound events go to the device's own ``event`` callback; the first open and the last close
reach the driver; unregistering releases the keys still down.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kernel_stubs.linux import input as inp
from kernel_stubs.linux.chrdev import CharDevices
from sandbox import Kernel
from sandbox.errors import DeviceError

from .linux_corpus import ko, needs_corpus

EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_LED, EV_SND = 0, 1, 2, 3, 0x11, 0x12
KEY_A, KEY_B, SYN = 30, 48, (0, 0, 0)


@pytest.fixture(params=["gcc", "clang"])
def demo_object(request: pytest.FixtureRequest, built) -> Path:
    """drivers/linux/input_demo.c as drivers/build.py builds it with gcc or clang (regparm(3), ld -r)."""
    key = (request.param, "linux", "input_demo")
    if key not in built:
        pytest.skip(f"{request.param} is not installed")
    return built[key]


def _batches(k: Kernel) -> list[list[tuple[int, int, int]]]:
    return [e.fields["events"] for e in k.trace.of_kind("note") if e.name == "input-events"]


def _seen(k: Kernel, m) -> list[tuple[int, int, int]]:
    """The values the module's handler was given (its ``seen`` array)."""
    count = k.memory.read_u32(m.address_of("seen_count"))
    raw = k.memory.read(m.address_of("seen"), 8 * count)
    return [(int.from_bytes(raw[i:i + 2], "little"), int.from_bytes(raw[i + 2:i + 4], "little"),
             int.from_bytes(raw[i + 4:i + 8], "little", signed=True)) for i in range(0, len(raw), 8)]


def _int(k: Kernel, m, name: str) -> int:
    return k.memory.read_s32(m.address_of(name)) if hasattr(k.memory, "read_s32") else \
        int.from_bytes(k.memory.read(m.address_of(name), 4), "little", signed=True)


def _demo(demo_object: Path) -> tuple[Kernel, object]:
    k = Kernel("linux")
    m = k.load(demo_object)
    assert m.call("demo_add_device") == 0
    return k, m


def test_a_handler_connects_and_opens_the_device(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    assert k.console.splitlines() == ["input: Demo Keys as /devices/virtual/input/input0", "demo: connected to Demo Keys"]
    assert _int(k, m, "connects") == 1 and _int(k, m, "opens") == 1 and m.call("demo_users") == 1
    assert m.call("demo_rep_delay") == 250  # input_enable_softrepeat(dev, 250, 33), as registration does
    connect = [e.fields for e in k.trace.of_kind("note") if e.name == "input-connect"]
    assert connect == [{"handler": "demo", "device": "input0", "result": 0}]


def test_events_are_filtered_and_batched_at_syn_report(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    for event in [(EV_KEY, KEY_A, 1), SYN,
                  (EV_KEY, KEY_A, 1), SYN,            # no change: the key stays down, the lone SYN is dropped too
                  (EV_KEY, KEY_A, 0), (EV_ABS, 0, 500), (EV_ABS, 0, 502),  # within fuzz/2 of 500: dropped
                  (EV_ABS, 0, 520), (EV_REL, 0, 0), (EV_REL, 0, -3), (EV_KEY, 99, 1), (0x1F, 0, 1), SYN,
                  (EV_KEY, KEY_A, 2), SYN]:            # autorepeat passes without a state change
        m.call("demo_report", *event)
    expected = [[(EV_KEY, KEY_A, 1), SYN],
                [(EV_KEY, KEY_A, 0), (EV_ABS, 0, 500), (EV_ABS, 0, 520), (EV_REL, 0, -3), SYN],
                [(EV_KEY, KEY_A, 2), SYN]]
    assert _batches(k) == expected
    assert _seen(k, m) == [v for batch in expected for v in batch]
    assert [k.memory.read_u32(m.address_of("batch_end") + 4 * i) for i in range(3)] == [2, 7, 9]


def test_abs_fuzz_smooths_as_linux(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    for value in (100, 102, 106, 110, 114, 130):  # fuzz 8: |d|<4 kept old, <8 (3*old+new)/4, <16 (old+new)/2
        m.call("demo_report", EV_ABS, 0, value)
        m.call("demo_report", *SYN)
    assert [b[0][2] for b in _batches(k)] == [100, 101, 105, 109, 130]  # 102 -> 100: no change, nothing sent
    assert inp.defuzz(-10, -4, 8) == -5  # C division truncates toward zero: (-12 - 10) / 4


def test_led_events_reach_the_device_callback(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    m.call("demo_report", EV_LED, 1, 1)
    m.call("demo_report", EV_LED, 1, 1)  # no change: neither the device nor the handlers hear it
    m.call("demo_report", *SYN)
    assert _int(k, m, "led_events") == 1 and _int(k, m, "last_led") == 1
    assert _batches(k) == [[(EV_LED, 1, 1), SYN]]


def test_unregistering_releases_held_keys_and_disconnects(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    m.call("demo_report", EV_KEY, KEY_B, 1)
    m.call("demo_remove_device")
    assert _batches(k)[-1] == [(EV_KEY, KEY_B, 1), (EV_KEY, KEY_B, 0), (EV_SYN, 0, 1)]
    assert _int(k, m, "disconnects") == 1 and _int(k, m, "closes") == 1
    core = k.subsystem(inp.InputCore)
    assert core.registered() == [] and core.handles == {}
    report = k.unload(m)
    assert report.clean, report.leaks


def test_a_device_registered_first_is_found_by_a_later_handler(demo_object: Path) -> None:
    k = Kernel("linux")
    m = k.load(demo_object, run_init=False)
    assert m.call("demo_add_device") == 0
    assert _int(k, m, "connects") == 0
    assert m.call("init_module") == 0  # the handler registers after the device
    assert _int(k, m, "connects") == 1 and m.call("demo_users") == 1


def test_a_failing_open_is_undone(demo_object: Path) -> None:
    k = Kernel("linux")
    m = k.load(demo_object)
    m.call("demo_fail_open", -5)
    assert m.call("demo_add_device") == 0  # registration succeeds; the connect error is logged
    assert "input: failed to attach handler demo to device input0, error: -5" in k.console
    assert m.call("demo_users") == 0 and k.subsystem(inp.InputCore).handles == {}


def test_the_input_core_state_is_in_snapshots(demo_object: Path) -> None:
    k, m = _demo(demo_object)
    snap = k.snapshot()
    m.call("demo_report", EV_KEY, KEY_A, 1)
    m.call("demo_remove_device")
    k.restore(snap)
    assert [d.number for d in k.subsystem(inp.InputCore).registered()] == [0]
    m.call("demo_report", EV_KEY, KEY_A, 1)
    m.call("demo_report", *SYN)
    assert _seen(k, m) == [(EV_KEY, KEY_A, 1), SYN]


# -- real modules -----------------------------------------------------------------------------------
@needs_corpus
def test_pcspkr_probes_its_platform_device_and_plays_a_tone_on_the_pit() -> None:
    k = Kernel("linux")
    k.platform.add("pcspkr")
    k.load(ko("drivers/input/misc/pcspkr.ko"))
    assert k.console == "input: PC Speaker as /devices/platform/pcspkr/input/input0\n"
    core = k.subsystem(inp.InputCore)
    (speaker,) = core.registered()
    pit = k.devices["pit"]
    start = len(k.trace.events)
    inp.report(k.service_context, speaker.dev, EV_SND, 2, 440)  # SND_TONE 440 Hz
    assert pit.channels[2].reload == 1193182 // 440 == 2711
    assert pit.describe(2) == "mode 3, lobyte/hibyte, divisor 2711"
    assert pit.port_b & 3 == 3 and pit.speaker_on and pit.tone_hz == pytest.approx(440.126, abs=1e-3)
    ports = [(e.fields["register"], e.fields["direction"], e.fields["value"]) for e in k.trace.events[start:]
             if e.kind == "port" and e.fields["device"] == "pit"]
    assert ports == [("CTRL", "out", 0xB6), ("CH2", "out", 2711 & 0xFF), ("CH2", "out", 2711 >> 8),
                     ("PORTB", "in", 0x20), ("PORTB", "out", 0x23)]
    inp.report(k.service_context, speaker.dev, EV_SND, 2, 0)
    assert pit.port_b & 3 == 0 and pit.tone_hz == 0
    assert [hz for _, hz in pit.tones] == [pytest.approx(440.126, abs=1e-3), 0]
    report = k.unload("pcspkr")
    assert report.clean, report.leaks
    assert core.registered() == []


# -- evdev.ko: /dev/input/eventN --------------------------------------------------------------------
EVENT = struct.Struct("<IIHHi")  # i386 struct input_event: timeval (2 x long), type, code, value
O_RDWR, O_NONBLOCK = 0o2, 0o4000


def _evdev(k: Kernel) -> None:
    if k.export_address("bitmap_alloc") is None:
        pytest.skip("evdev.ko needs bitmap_alloc/bitmap_zalloc/bitmap_free (the kernel library's bitmaps)")
    k.load(ko("drivers/input/evdev.ko"))


def _records(data: bytes) -> list[tuple[int, int, int, int, int]]:
    return [EVENT.unpack_from(data, i) for i in range(0, len(data), EVENT.size)]


@needs_corpus
def test_evdev_gives_each_device_a_node_and_reads_return_input_event_records(demo_object: Path) -> None:
    k = Kernel("linux")
    _evdev(k)
    m = k.load(demo_object)
    assert m.call("demo_add_device") == 0
    connects = [e.fields for e in k.trace.of_kind("note") if e.name == "input-connect"]
    assert {"handler": "evdev", "device": "input0", "result": 0} in connects
    assert "/dev/input/event0" in k.subsystem(CharDevices).device_paths(k.service_context)
    users = m.call("demo_users")
    events = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    assert m.call("demo_users") == users + 1  # evdev's open opened the device through its handle
    k.advance_time(1_500_000_000)
    m.call("demo_report", EV_KEY, KEY_A, 1)
    m.call("demo_report", *SYN)
    data = events.read(4 * EVENT.size)
    assert data == EVENT.pack(1, 500000, EV_KEY, KEY_A, 1) + EVENT.pack(1, 500000, EV_SYN, 0, 0)
    with pytest.raises(DeviceError) as empty:
        events.read(EVENT.size)
    assert empty.value.errno == 11  # -EAGAIN: nothing queued on a non-blocking file
    events.close()
    assert m.call("demo_users") == users


@needs_corpus
def test_an_ev_snd_written_to_evdev_programs_the_pit_through_pcspkr() -> None:
    k = Kernel("linux")
    _evdev(k)
    k.platform.add("pcspkr")
    k.load(ko("drivers/input/misc/pcspkr.ko"))
    pit = k.devices["pit"]
    speaker = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    name = bytearray(32)
    assert speaker.ioctl(0x80204506, name) == len(b"PC Speaker") + 1  # EVIOCGNAME(32)
    assert name.rstrip(b"\0") == b"PC Speaker"
    tone = EVENT.pack(0, 0, EV_SND, 2, 1000) + EVENT.pack(0, 0, EV_SYN, 0, 0)
    assert speaker.write(tone) == 2 * EVENT.size
    assert pit.channels[2].reload == 1193182 // 1000 and pit.tone_hz == pytest.approx(1193182 / 1193)
    assert [(r[2], r[3], r[4]) for r in _records(speaker.read(4 * EVENT.size))] == [(EV_SND, 2, 1000), SYN]
    speaker.write(EVENT.pack(0, 0, EV_SND, 2, 0) + EVENT.pack(0, 0, EV_SYN, 0, 0))
    assert pit.tone_hz == 0 and pit.port_b & 3 == 0
    speaker.close()
    for name in ("pcspkr", "evdev"):
        report = k.unload(name)
        assert report.clean, report.leaks


@needs_corpus
def test_scancodes_from_an_xt_port_come_out_of_dev_input() -> None:
    from kernel_stubs.linux import serio

    k = Kernel("linux")
    _evdev(k)
    k.load(ko("drivers/input/keyboard/xtkbd.ko"))
    port = serio.add_host_port(k.service_context, "XT keyboard", serio.SERIO_XT)
    keys = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    serio.send(k.service_context, port, [0x1E, 0x9E])
    assert [(r[2], r[3], r[4]) for r in _records(keys.read(8 * EVENT.size))] == [
        (EV_KEY, KEY_A, 1), SYN, (EV_KEY, KEY_A, 0), SYN]
    keys.close()


@needs_corpus
def test_joydev_connects_to_an_absolute_device_and_scales_its_axis(demo_object: Path) -> None:
    k = Kernel("linux")
    k.load(ko("drivers/input/joydev.ko"))  # matches by input_match_device_id on EV_ABS + ABS_X
    m = k.load(demo_object)
    assert m.call("demo_add_device") == 0
    js = k.open("/dev/input/js0", O_RDWR | O_NONBLOCK)
    js_event = struct.Struct("<IhBB")  # time (ms), value, type, number
    (init,) = js_event.iter_unpack(js.read(64))
    assert init[1:] == (-32767, 0x82, 0)  # JS_EVENT_INIT | JS_EVENT_AXIS: ABS_X at its minimum
    m.call("demo_report", EV_ABS, 0, 1023)
    m.call("demo_report", *SYN)
    assert [e[1:] for e in js_event.iter_unpack(js.read(64))] == [(32767, 0x02, 0)]
    js.close()
    for name in ("input_demo", "joydev"):
        report = k.unload(name)
        assert report.clean, report.leaks


def test_multitouch_slots_send_slot_changes_only_when_needed(demo_object: Path) -> None:
    k = Kernel("linux")
    m = k.load(demo_object)
    assert m.call("demo_add_touch") == 0
    SLOT, TRACKING, X, Y, MT_X, MT_Y, TOUCH = 0x2F, 0x39, 0, 1, 0x35, 0x36, 0x14A
    m.call("demo_touch", 0, 1, 100, 200)
    m.call("demo_touch_frame")
    m.call("demo_touch", 1, 1, 300, 400)   # a second contact: its slot goes out before its values
    m.call("demo_touch", 0, 1, 110, 200)   # the first moves in x only
    m.call("demo_touch_frame")
    m.call("demo_touch", 1, 0, 0, 0)       # the second lifts
    m.call("demo_touch_frame")
    assert _batches(k) == [
        [(EV_ABS, TRACKING, 0), (EV_ABS, MT_X, 100), (EV_ABS, MT_Y, 200), (EV_KEY, TOUCH, 1),
         (EV_ABS, X, 100), (EV_ABS, Y, 200), SYN],
        [(EV_ABS, SLOT, 1), (EV_ABS, TRACKING, 1), (EV_ABS, MT_X, 300), (EV_ABS, MT_Y, 400),
         (EV_ABS, SLOT, 0), (EV_ABS, MT_X, 110), (EV_ABS, X, 110), SYN],
        [(EV_ABS, SLOT, 1), (EV_ABS, TRACKING, -1), SYN],
    ]
    report = k.unload(m)
    assert report.clean, report.leaks


def test_force_feedback_uploads_plays_and_erases_as_ff_core(demo_object: Path) -> None:
    k = Kernel("linux")
    m = k.load(demo_object)
    assert m.call("demo_add_pad") == 0
    FF_PERIODIC, FF_SINE, FF_GAIN = 0x51, 0x5A, 0x60
    assert m.call("demo_upload_rumble", 0x9000, 0x3000) == 0  # the first free id
    uploaded = k.memory.read(m.address_of("uploaded"), 44)
    kind, effect_id = struct.unpack_from("<Hh", uploaded)
    waveform, period, magnitude = struct.unpack_from("<HHh", uploaded, 16)
    assert (kind, effect_id) == (FF_PERIODIC, 0)  # rumble is emulated by a sine wave: strong/3 + weak/6
    assert (waveform, period, magnitude) == (FF_SINE, 50, 0x9000 // 3 + 0x3000 // 6)
    assert m.call("demo_upload_rumble", 1, 1) == 1
    m.call("demo_pad_event", 1, 3)         # play effect 1, three times: through dev->event = input_ff_event
    assert (_int(k, m, "plays"), _int(k, m, "last_played"), _int(k, m, "last_play_value")) == (1, 1, 3)
    m.call("demo_pad_event", 3, 1)         # an id nobody uploaded is not played
    m.call("demo_pad_event", FF_GAIN, 0x8000)
    assert _int(k, m, "plays") == 1 and _int(k, m, "gain") == 0x8000
    assert m.call("demo_erase", 1, 2) == -13  # -EACCES: another file's effect
    assert m.call("demo_erase", 1, 1) == 0 and _int(k, m, "erased") == 1 and _int(k, m, "last_play_value") == 0
    assert m.call("demo_erase", 1, 1) == -22  # gone
    report = k.unload(m)
    assert report.clean, report.leaks


UI_SET_EVBIT, UI_SET_KEYBIT, UI_DEV_SETUP, UI_SET_PHYS = 0x40045564, 0x40045565, 0x405C5503, 0x4004556C
UI_DEV_CREATE, UI_DEV_DESTROY = 0x5501, 0x5502


def _uinput_keyboard(k: Kernel):
    """A keyboard made from user space through the real uinput.ko: KEY_A, named, with a phys path."""
    u = k.open("/dev/uinput", O_RDWR | O_NONBLOCK)
    assert u.ioctl(UI_SET_EVBIT, EV_KEY) == 0 and u.ioctl(UI_SET_KEYBIT, KEY_A) == 0
    assert u.ioctl(UI_DEV_SETUP, struct.pack("<4H80sI", 3, 0x1234, 0x5678, 1, b"Python keyboard", 0)) == 0
    assert u.ioctl(UI_SET_PHYS, b"py/input0\0") == 0  # strndup_user
    assert u.ioctl(UI_DEV_CREATE) == 0
    return u


@needs_corpus
def test_a_uinput_device_made_from_python_reaches_a_handler(demo_object: Path) -> None:
    # uinput.ko also imports ktime_get_ts64, which only its event-to-user path calls: trapped, not called.
    k = Kernel("linux", unresolved="trap")
    m = k.load(demo_object)
    k.load(ko("drivers/input/misc/uinput.ko"))
    u = _uinput_keyboard(k)
    assert k.console.splitlines()[-2:] == ["input: Python keyboard as /devices/virtual/input/input0",
                                           "demo: connected to Python keyboard"]
    assert u.write(EVENT.pack(0, 0, EV_KEY, KEY_A, 1) + EVENT.pack(0, 0, EV_SYN, 0, 0)) == 2 * EVENT.size
    assert _seen(k, m) == [(EV_KEY, KEY_A, 1), SYN]
    assert u.ioctl(UI_DEV_DESTROY) == 0
    assert _int(k, m, "disconnects") == 1
    assert _seen(k, m)[-2:] == [(EV_KEY, KEY_A, 0), (EV_SYN, 0, 1)]  # the held key released on the way out
    u.close()


@needs_corpus
def test_uinput_to_evdev_round_trip() -> None:
    k = Kernel("linux")
    if k.export_address("ktime_get_ts64") is None:
        pytest.skip("uinput.ko needs ktime_get_ts64 (the kernel library's time)")
    _evdev(k)
    k.load(ko("drivers/input/misc/uinput.ko"))
    u = _uinput_keyboard(k)
    events = k.open("/dev/input/event0", O_RDWR | O_NONBLOCK)
    k.advance_time(2_250_000_000)
    u.write(EVENT.pack(0, 0, EV_KEY, KEY_A, 1) + EVENT.pack(0, 0, EV_SYN, 0, 0))
    assert events.read(4 * EVENT.size) == EVENT.pack(2, 250000, EV_KEY, KEY_A, 1) + EVENT.pack(2, 250000, 0, 0, 0)
    phys = bytearray(64)
    assert events.ioctl(0x80404507, phys) == len(b"py/input0") + 1 and phys.rstrip(b"\0") == b"py/input0"
    events.close()
    u.close()
