"""Multitouch slots (drivers/input/input-mt.c, built in), Linux 6.1 i386.

``input_mt_init_slots`` gives the device a ``struct input_mt`` (24 bytes:
trkid, num_slots, slot, flags, frame, red) followed by ``num_slots``
``struct input_mt_slot`` (64 bytes: the 14 ABS_MT_* values, frame, key),
declares ABS_MT_SLOT and ABS_MT_TRACKING_ID, and with INPUT_MT_POINTER or
INPUT_MT_DIRECT the single-touch axes and buttons the pointer emulation
reports. The core (:mod:`.input`) then keeps per-slot values: an ABS_MT_*
event is filtered against the current slot's old value, and a slot change
is sent (ABS_MT_SLOT) just before the first value that needs it.
``input_mt_report_slot_state`` gives a new contact a tracking id and ends
one with -1; ``input_mt_sync_frame`` drops the unused contacts (with
INPUT_MT_DROP_UNUSED) and reports the pointer emulation (BTN_TOUCH, the
finger count, ABS_X/Y/PRESSURE from the oldest contact).
``input_mt_assign_slots`` (in-kernel tracking) is not modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.devices.chardev import signed32
from sandbox.services import service

from . import input as core
from .layout import Fields, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

MT_SIZE, SLOT_SIZE = size("input_mt"), size("input_mt_slot")
INPUT_MT_POINTER, INPUT_MT_DIRECT, INPUT_MT_DROP_UNUSED, INPUT_MT_TRACK, INPUT_MT_SEMI_MT = 1, 2, 4, 8, 0x10
TRKID_MAX, TRKID_SGN = 0xFFFF, 0x8000
ABS_X, ABS_Y, ABS_PRESSURE, ABS_DISTANCE = 0x00, 0x01, 0x18, 0x19
ABS_MT_POSITION_X, ABS_MT_POSITION_Y, ABS_MT_TOOL_TYPE = 0x35, 0x36, 0x37
ABS_MT_PRESSURE, ABS_MT_DISTANCE = 0x3A, 0x3B
BTN_TOOL_FINGER, BTN_TOOL_QUINTTAP, BTN_TOUCH = 0x145, 0x148, 0x14A
BTN_TOOL_DOUBLETAP, BTN_TOOL_TRIPLETAP, BTN_TOOL_QUADTAP = 0x14D, 0x14E, 0x14F
INPUT_PROP_POINTER, INPUT_PROP_DIRECT, INPUT_PROP_SEMI_MT = 0, 1, 3


def mt_of(k: Kernel, dev: int) -> int:
    """dev->mt (0 without slots)."""
    return Fields(k.memory, "input_dev", dev)["mt"]


def slot_address(mt: int, index: int) -> int:
    """&mt->slots[index]."""
    return mt + MT_SIZE + index * SLOT_SIZE


def slot_value(k: Kernel, mt: int, index: int, code: int) -> int:
    """input_mt_get_value(&mt->slots[index], code)."""
    return signed32(k.memory.read_u32(slot_address(mt, index) + 4 * (code - core.ABS_MT_FIRST)))


def set_slot_value(k: Kernel, mt: int, index: int, code: int, value: int) -> None:
    """input_mt_set_value(&mt->slots[index], code, value)."""
    k.memory.write_u32(slot_address(mt, index) + 4 * (code - core.ABS_MT_FIRST), value & 0xFFFFFFFF)


def _copy_abs(k: Kernel, dev: int, dst: int, src: int) -> None:
    absinfo = Fields(k.memory, "input_dev", dev)["absinfo"]
    if absinfo and core._test_bit(k, core._field(dev, "absbit"), src):
        info = k.memory.read(absinfo + src * core.ABSINFO_SIZE, core.ABSINFO_SIZE)
        k.memory.write(absinfo + dst * core.ABSINFO_SIZE, info[:12] + bytes(4) + info[16:])  # fuzz 0
        core._set_bit(k, core._field(dev, "absbit"), dst)


@service("int input_mt_init_slots(struct input_dev *dev, unsigned int num_slots, unsigned int flags)")
def input_mt_init_slots(k: Kernel, dev: int, num_slots: int, flags: int) -> int:
    """Give the device ``num_slots`` contact slots (again with the same count is 0, another -EINVAL)."""
    if not num_slots:
        return 0
    mt = mt_of(k, dev)
    if mt:
        return 0 if Fields(k.memory, "input_mt", mt)["num_slots"] == num_slots else -core.EINVAL
    if num_slots > 1024:
        return -core.ENOMEM
    mt = allocate(k, MT_SIZE + num_slots * SLOT_SIZE, owner="kernel")
    if not mt:
        return -core.ENOMEM
    fields = Fields(k.memory, "input_mt", mt)
    fields["num_slots"], fields["flags"] = num_slots, flags
    core.input_set_abs_params(k, dev, core.ABS_MT_SLOT, 0, num_slots - 1, 0, 0)
    core.input_set_abs_params(k, dev, core.ABS_MT_TRACKING_ID, 0, TRKID_MAX, 0, 0)
    keybit, propbit = core._field(dev, "keybit"), core._field(dev, "propbit")
    if flags & (INPUT_MT_POINTER | INPUT_MT_DIRECT):
        core._set_bit(k, core._field(dev, "evbit"), core.EV_KEY)
        core._set_bit(k, keybit, BTN_TOUCH)
        _copy_abs(k, dev, ABS_X, ABS_MT_POSITION_X)
        _copy_abs(k, dev, ABS_Y, ABS_MT_POSITION_Y)
        _copy_abs(k, dev, ABS_PRESSURE, ABS_MT_PRESSURE)
    if flags & INPUT_MT_POINTER:
        for button, least in ((BTN_TOOL_FINGER, 0), (BTN_TOOL_DOUBLETAP, 0), (BTN_TOOL_TRIPLETAP, 3),
                              (BTN_TOOL_QUADTAP, 4), (BTN_TOOL_QUINTTAP, 5)):
            if num_slots >= least:
                core._set_bit(k, keybit, button)
        core._set_bit(k, propbit, INPUT_PROP_POINTER)
    if flags & INPUT_MT_DIRECT:
        core._set_bit(k, propbit, INPUT_PROP_DIRECT)
    if flags & INPUT_MT_SEMI_MT:
        core._set_bit(k, propbit, INPUT_PROP_SEMI_MT)
    if flags & INPUT_MT_TRACK:
        fields["red"] = allocate(k, 4 * num_slots * num_slots, owner="kernel")
        if not fields["red"]:
            release(k, mt)
            return -core.ENOMEM
    for index in range(num_slots):
        set_slot_value(k, mt, index, core.ABS_MT_TRACKING_ID, -1)  # inactive
    fields["frame"] = 1  # every slot unused
    Fields(k.memory, "input_dev", dev)["mt"] = mt
    return 0


def destroy_slots(k: Kernel, dev: int) -> None:
    """input_mt_destroy_slots(): free mt (and its tracking matrix)."""
    mt = mt_of(k, dev)
    if mt:
        red = Fields(k.memory, "input_mt", mt)["red"]
        if red:
            release(k, red)
        release(k, mt)
    Fields(k.memory, "input_dev", dev)["mt"] = 0


@service("void input_mt_destroy_slots(struct input_dev *dev)")
def input_mt_destroy_slots(k: Kernel, dev: int) -> None:
    """Free the device's slots."""
    destroy_slots(k, dev)


def _active(k: Kernel, mt: int, index: int) -> bool:
    return slot_value(k, mt, index, core.ABS_MT_TRACKING_ID) >= 0


def _used(k: Kernel, mt: int, index: int) -> bool:
    return k.memory.read_u32(slot_address(mt, index) + 56) == Fields(k.memory, "input_mt", mt)["frame"]


@service("bool input_mt_report_slot_state(struct input_dev *dev, unsigned int tool_type, bool active)")
def input_mt_report_slot_state(k: Kernel, dev: int, tool_type: int, active: int) -> int:
    """The current slot's contact: a tracking id (new if it had none) and tool type, or -1 to end it."""
    mt = mt_of(k, dev)
    if not mt:
        return 0
    fields = Fields(k.memory, "input_mt", mt)
    slot = signed32(fields["slot"])
    k.memory.write_u32(slot_address(mt, slot) + 56, fields["frame"])
    if not active & 0xFF:
        core.report(k, dev, core.EV_ABS, core.ABS_MT_TRACKING_ID, -1)
        return 0
    tracking = slot_value(k, mt, slot, core.ABS_MT_TRACKING_ID)
    if tracking < 0:
        tracking = fields["trkid"] & TRKID_MAX
        fields["trkid"] = fields["trkid"] + 1
    core.report(k, dev, core.EV_ABS, core.ABS_MT_TRACKING_ID, tracking)
    core.report(k, dev, core.EV_ABS, ABS_MT_TOOL_TYPE, tool_type)
    return 1


@service("void input_mt_report_finger_count(struct input_dev *dev, int count)")
def input_mt_report_finger_count(k: Kernel, dev: int, count: int) -> None:
    """BTN_TOOL_FINGER .. QUINTTAP: the one for ``count`` fingers down, the others up."""
    for button, fingers in ((BTN_TOOL_FINGER, 1), (BTN_TOOL_DOUBLETAP, 2), (BTN_TOOL_TRIPLETAP, 3),
                            (BTN_TOOL_QUADTAP, 4), (BTN_TOOL_QUINTTAP, 5)):
        core.report(k, dev, core.EV_KEY, button, int(signed32(count) == fingers))


@service("void input_mt_report_pointer_emulation(struct input_dev *dev, bool use_count)")
def input_mt_report_pointer_emulation(k: Kernel, dev: int, use_count: int) -> None:
    """BTN_TOUCH, the finger count (if asked), and the oldest contact as ABS_X/ABS_Y/ABS_PRESSURE."""
    mt = mt_of(k, dev)
    if not mt:
        return
    fields = Fields(k.memory, "input_mt", mt)
    oldest, oldid, count = None, signed32(fields["trkid"]), 0
    for index in range(fields["num_slots"]):
        tracking = slot_value(k, mt, index, core.ABS_MT_TRACKING_ID)
        if tracking < 0:
            continue
        if (tracking - oldid) & TRKID_SGN:
            oldest, oldid = index, tracking
        count += 1
    core.report(k, dev, core.EV_KEY, BTN_TOUCH, int(count > 0))
    absbit = core._field(dev, "absbit")
    if use_count & 0xFF:
        absinfo = Fields(k.memory, "input_dev", dev)["absinfo"]
        hovering = (not core._test_bit(k, absbit, ABS_MT_DISTANCE) and core._test_bit(k, absbit, ABS_DISTANCE)
                    and signed32(k.memory.read_u32(absinfo + ABS_DISTANCE * core.ABSINFO_SIZE)) != 0)
        input_mt_report_finger_count(k, dev, 1 if count == 0 and hovering else count)
    pressure = core._test_bit(k, absbit, ABS_MT_PRESSURE)
    if oldest is not None:
        core.report(k, dev, core.EV_ABS, ABS_X, slot_value(k, mt, oldest, ABS_MT_POSITION_X))
        core.report(k, dev, core.EV_ABS, ABS_Y, slot_value(k, mt, oldest, ABS_MT_POSITION_Y))
        if pressure:
            core.report(k, dev, core.EV_ABS, ABS_PRESSURE, slot_value(k, mt, oldest, ABS_MT_PRESSURE))
    elif pressure:
        core.report(k, dev, core.EV_ABS, ABS_PRESSURE, 0)


def _drop_unused(k: Kernel, dev: int, mt: int) -> None:
    for index in range(Fields(k.memory, "input_mt", mt)["num_slots"]):
        if _active(k, mt, index) and not _used(k, mt, index):
            core.handle_event(k, dev, core.EV_ABS, core.ABS_MT_SLOT, index)
            core.handle_event(k, dev, core.EV_ABS, core.ABS_MT_TRACKING_ID, -1)


@service("void input_mt_drop_unused(struct input_dev *dev)")
def input_mt_drop_unused(k: Kernel, dev: int) -> None:
    """End the contacts not reported in this frame, and start the next frame."""
    mt = mt_of(k, dev)
    if mt:
        _drop_unused(k, dev, mt)
        fields = Fields(k.memory, "input_mt", mt)
        fields["frame"] = fields["frame"] + 1


@service("void input_mt_sync_frame(struct input_dev *dev)")
def input_mt_sync_frame(k: Kernel, dev: int) -> None:
    """End of a frame: unused contacts dropped (INPUT_MT_DROP_UNUSED), pointer emulation, next frame."""
    mt = mt_of(k, dev)
    if not mt:
        return
    fields = Fields(k.memory, "input_mt", mt)
    flags = fields["flags"]
    if flags & INPUT_MT_DROP_UNUSED:
        _drop_unused(k, dev, mt)
    input_mt_report_pointer_emulation(k, dev, int(bool(flags & INPUT_MT_POINTER) and not flags & INPUT_MT_SEMI_MT))
    fields["frame"] = fields["frame"] + 1


@service("int input_mt_get_slot_by_key(struct input_dev *dev, int key)")
def input_mt_get_slot_by_key(k: Kernel, dev: int, key: int) -> int:
    """The active slot holding ``key``, else a free unused one (now holding it), else -1."""
    mt = mt_of(k, dev)
    if not mt:
        return -1
    count = Fields(k.memory, "input_mt", mt)["num_slots"]
    for index in range(count):
        if _active(k, mt, index) and k.memory.read_u32(slot_address(mt, index) + 60) == key & 0xFFFFFFFF:
            return index
    for index in range(count):
        if not _active(k, mt, index) and not _used(k, mt, index):
            k.memory.write_u32(slot_address(mt, index) + 60, key & 0xFFFFFFFF)
            return index
    return -1
