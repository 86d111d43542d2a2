"""Force feedback (drivers/input/ff-core.c, built in), Linux 6.1 i386.

``input_ff_create(dev, max_effects)`` gives the device a ``struct
ff_device`` (72 bytes, then one owner ``struct file *`` per effect) and an
array of ``struct ff_effect`` (44 bytes each); the device's ``event`` and
``flush`` become the core's ``input_ff_event`` and ``input_ff_flush``, as
Linux sets them, and EV_FF is declared. The driver (or ``ff-memless.ko``)
fills ``upload``/``erase``/``playback``/``set_gain``/``set_autocenter``.
``input_ff_upload`` checks the effect type (and a periodic effect's
waveform) against ``dev->ffbit``, turns a rumble into a sine wave when only
periodic effects are native, finds a free slot for id -1 or checks that the
caller owns the id, calls ``upload(dev, effect, old)`` and keeps a copy
with its owner. ``input_ff_erase`` stops the effect (``playback(id, 0)``)
and calls ``erase``; ``input_ff_flush`` erases every effect the file owns;
``input_ff_event`` routes FF_GAIN, FF_AUTOCENTER and playback requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.devices.chardev import signed32
from sandbox.services import service

from . import input as core
from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

FF_DEVICE_SIZE, FF_EFFECT_SIZE = size("ff_device"), size("ff_effect")
FF_OWNERS = offset("ff_device", "effect_owners")
FF_MAX_EFFECTS = 1 << 16  # FF_GAIN: effect ids stop where the control codes begin
FF_RUMBLE, FF_PERIODIC, FF_CONSTANT, FF_SPRING, FF_FRICTION, FF_DAMPER, FF_INERTIA, FF_RAMP = range(0x50, 0x58)
FF_EFFECT_MIN, FF_EFFECT_MAX = FF_RUMBLE, FF_RAMP
FF_SQUARE, FF_TRIANGLE, FF_SINE, FF_SAW_UP, FF_SAW_DOWN, FF_CUSTOM = range(0x58, 0x5E)
FF_WAVEFORM_MIN, FF_WAVEFORM_MAX = FF_SQUARE, FF_CUSTOM
FF_GAIN, FF_AUTOCENTER = 0x60, 0x61
FF_CNT = core.FF_MAX + 1
EACCES, ENOSPC, ENOSYS = 13, 28, core.ENOSYS


def ff_of(k: Kernel, dev: int) -> int:
    """dev->ff (0 without force feedback)."""
    return Fields(k.memory, "input_dev", dev)["ff"]


def _owner_at(ff: int, effect_id: int) -> int:
    return ff + FF_OWNERS + 4 * effect_id


def _check_access(k: Kernel, ff: int, effect_id: int, file: int | None) -> int:
    """check_effect_access(): an id in range with an owner (the caller, if a file is given)."""
    if not 0 <= effect_id < Fields(k.memory, "ff_device", ff)["max_effects"]:
        return -core.EINVAL
    owner = k.memory.read_u32(_owner_at(ff, effect_id))
    if not owner:
        return -core.EINVAL
    if file is not None and owner != file:
        return -EACCES
    return 0


@service("int input_ff_create(struct input_dev *dev, unsigned int max_effects)")
def input_ff_create(k: Kernel, dev: int, max_effects: int) -> int:
    """Give the device force feedback with room for ``max_effects`` effects (1..FF_MAX_EFFECTS)."""
    name = core.device_name(k, dev)
    if not max_effects:
        k.console_write(f"input {name}: cannot allocate device without any effects\n", 3)
        return -core.EINVAL
    if max_effects > FF_MAX_EFFECTS:
        k.console_write(f"input {name}: cannot allocate more than FF_MAX_EFFECTS effects\n", 3)
        return -core.EINVAL
    ff = allocate(k, FF_DEVICE_SIZE + 4 * max_effects, owner="kernel")
    effects = allocate(k, FF_EFFECT_SIZE * max_effects, owner="kernel") if ff else 0
    if not effects:
        if ff:
            release(k, ff)
        return -core.ENOMEM
    fields = Fields(k.memory, "ff_device", ff)
    fields["max_effects"], fields["effects"] = max_effects, effects
    where = fields.address_of("mutex.wait_list")
    k.memory.write_u32(where, where)
    k.memory.write_u32(where + 4, where)
    device = Fields(k.memory, "input_dev", dev)
    device["ff"] = ff
    device["flush"] = k.export_address("input_ff_flush") or 0
    device["event"] = k.export_address("input_ff_event") or 0
    core._set_bit(k, core._field(dev, "evbit"), core.EV_FF)
    ffbit = core._field(dev, "ffbit")
    k.memory.write(fields.address_of("ffbit"), k.memory.read(ffbit, 16))  # the "true" (native) bits
    if core._test_bit(k, ffbit, FF_PERIODIC):
        core._set_bit(k, ffbit, FF_RUMBLE)  # emulated with periodic effects
    return 0


def destroy(k: Kernel, dev: int) -> None:
    """input_ff_destroy(): EV_FF cleared, the driver's destroy, private data, effects and ff freed."""
    core._set_bit(k, core._field(dev, "evbit"), core.EV_FF, on=False)
    ff = ff_of(k, dev)
    if not ff:
        return
    fields = Fields(k.memory, "ff_device", ff)
    if fields["destroy"]:
        k.call_function_pointer(fields["destroy"], ff)
    if fields["private"]:
        release(k, fields["private"])
    release(k, fields["effects"])
    release(k, ff)
    Fields(k.memory, "input_dev", dev)["ff"] = 0


@service("void input_ff_destroy(struct input_dev *dev)")
def input_ff_destroy(k: Kernel, dev: int) -> None:
    """Take force feedback away from the device."""
    destroy(k, dev)


def _compat_effect(k: Kernel, ff: int, effect: int) -> int:
    """compat_effect(): a rumble becomes a 50 ms sine wave if the device only does periodic effects."""
    e = Fields(k.memory, "ff_effect", effect)
    if e["type"] != FF_RUMBLE:
        return 0  # the driver converts the rest
    if not core._test_bit(k, ff + offset("ff_device", "ffbit"), FF_PERIODIC):
        return -core.EINVAL
    magnitude = e["u.rumble.strong_magnitude"] // 3 + e["u.rumble.weak_magnitude"] // 6
    e["type"] = FF_PERIODIC
    k.memory.write(e.address_of("u.periodic"), bytes(28))
    e["u.periodic.waveform"], e["u.periodic.period"], e["u.periodic.magnitude"] = FF_SINE, 50, magnitude
    return 0


@service("int input_ff_upload(struct input_dev *dev, struct ff_effect *effect, struct file *file)")
def input_ff_upload(k: Kernel, dev: int, effect: int, file: int) -> int:
    """Upload (or update) an effect: its id in ``effect->id``; -ENOSYS without EV_FF, -EINVAL, -ENOSPC."""
    if not core._test_bit(k, core._field(dev, "evbit"), core.EV_FF):
        return -ENOSYS
    ff = ff_of(k, dev)
    e = Fields(k.memory, "ff_effect", effect)
    ffbit = core._field(dev, "ffbit")
    kind = e["type"]
    if not FF_EFFECT_MIN <= kind <= FF_EFFECT_MAX or not core._test_bit(k, ffbit, kind):
        return -core.EINVAL
    if kind == FF_PERIODIC:
        waveform = e["u.periodic.waveform"]
        if not FF_WAVEFORM_MIN <= waveform <= FF_WAVEFORM_MAX or not core._test_bit(k, ffbit, waveform):
            return -core.EINVAL
    if not ff:
        return -ENOSYS
    if not core._test_bit(k, ff + offset("ff_device", "ffbit"), kind):
        result = _compat_effect(k, ff, effect)
        if result:
            return result
    fields = Fields(k.memory, "ff_device", ff)
    effects, count = fields["effects"], fields["max_effects"]
    effect_id = signed32(e["id"] | (0xFFFF0000 if e["id"] & 0x8000 else 0))
    if effect_id == -1:
        effect_id = next((i for i in range(count) if not k.memory.read_u32(_owner_at(ff, i))), -1)
        if effect_id < 0:
            return -ENOSPC
        e["id"] = effect_id
        old = 0
    else:
        result = _check_access(k, ff, effect_id, file)
        if result:
            return result
        old = effects + effect_id * FF_EFFECT_SIZE
        previous = Fields(k.memory, "ff_effect", old)
        if previous["type"] != e["type"] or (
                e["type"] == FF_PERIODIC and previous["u.periodic.waveform"] != e["u.periodic.waveform"]):
            return -core.EINVAL
    if fields["upload"]:
        result = signed32(k.call_function_pointer(fields["upload"], dev, effect, old))
        if result:
            return result
    k.memory.write(effects + effect_id * FF_EFFECT_SIZE, k.memory.read(effect, FF_EFFECT_SIZE))
    k.memory.write_u32(_owner_at(ff, effect_id), file)
    return 0


def _erase(k: Kernel, dev: int, ff: int, effect_id: int, file: int | None) -> int:
    """erase_effect(): stopped, unowned, then the driver's erase (its error gives the effect back)."""
    result = _check_access(k, ff, effect_id, file)
    if result:
        return result
    fields = Fields(k.memory, "ff_device", ff)
    owner = k.memory.read_u32(_owner_at(ff, effect_id))
    if fields["playback"]:
        k.call_function_pointer(fields["playback"], dev, effect_id, 0)
    k.memory.write_u32(_owner_at(ff, effect_id), 0)
    if fields["erase"]:
        result = signed32(k.call_function_pointer(fields["erase"], dev, effect_id))
        if result:
            k.memory.write_u32(_owner_at(ff, effect_id), owner)
            return result
    return 0


@service("int input_ff_erase(struct input_dev *dev, int effect_id, struct file *file)")
def input_ff_erase(k: Kernel, dev: int, effect_id: int, file: int) -> int:
    """Erase an effect the file owns; -ENOSYS without EV_FF, -EINVAL/-EACCES for a bad id."""
    if not core._test_bit(k, core._field(dev, "evbit"), core.EV_FF) or not ff_of(k, dev):
        return -ENOSYS
    return _erase(k, dev, ff_of(k, dev), signed32(effect_id), file)


@service("int input_ff_flush(struct input_dev *dev, struct file *file)")
def input_ff_flush(k: Kernel, dev: int, file: int) -> int:
    """The file is closing: erase every effect it owns."""
    ff = ff_of(k, dev)
    if ff:
        for effect_id in range(Fields(k.memory, "ff_device", ff)["max_effects"]):
            _erase(k, dev, ff, effect_id, file)
    return 0


@service("int input_ff_event(struct input_dev *dev, unsigned int type, unsigned int code, int value)")
def input_ff_event(k: Kernel, dev: int, type: int, code: int, value: int) -> int:
    """dev->event of a force-feedback device: gain, autocenter, or play/stop an uploaded effect."""
    ff = ff_of(k, dev)
    if type != core.EV_FF or not ff:
        return 0
    fields = Fields(k.memory, "ff_device", ff)
    ffbit = core._field(dev, "ffbit")
    if code in (FF_GAIN, FF_AUTOCENTER):
        callback = fields["set_gain" if code == FF_GAIN else "set_autocenter"]
        if core._test_bit(k, ffbit, code) and value <= 0xFFFF and callback:
            k.call_function_pointer(callback, dev, value)
    elif not _check_access(k, ff, code, None) and fields["playback"]:
        k.call_function_pointer(fields["playback"], dev, code, value)
    return 0

