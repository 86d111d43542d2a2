"""The input core (drivers/input/input.c, built into Debian's 686 kernel), Linux 6.1 i386.

Drivers allocate a ``struct input_dev`` (908 bytes), declare what it can
report (``evbit``/``keybit``/... bitmaps, ``input_set_capability``,
``input_set_abs_params``), register it and report events with
``input_event``. Handlers (the real ``evdev.ko``, ``joydev.ko``, a
project's own) register with ``input_register_handler``; the core connects
every handler whose id table matches every device, in either order, and the
handler's ``connect`` registers a ``struct input_handle`` and opens it
(``input_open_device`` calls ``dev->open`` for the first user,
``input_close_device`` ``dev->close`` for the last).

Events go through Linux's filter (``input_get_disposition``): a type the
device did not declare is dropped; a key is passed only when its state
changes (value 2, autorepeat, always); an absolute value goes through the
axis's fuzz (``input_defuzz_abs_event``) and only changes pass; a zero
relative motion is dropped; LED/sound/switch state bits follow the values;
events that concern the device (LED, sound, EV_MSC, EV_FF, EV_REP) go to
``dev->event`` first. What passes is queued in ``dev->vals`` and handed to
every open handle's ``events`` (else ``event`` per value, after its
``filter``) at ``EV_SYN``/``SYN_REPORT``, or when the queue is full, as
``input_pass_values`` does; each batch is a ``note`` trace event
``input-events``. All the state lives where Linux keeps it, in guest
memory (key/LED/sound bits, absinfo, ``vals``, ``grab``, ``users``), so
snapshots carry it.

Multitouch slots are in :mod:`.input_mt`, force feedback in
:mod:`.input_ff`, polled devices in :mod:`.input_poller`. Not modelled: the
soft autorepeat timer (``rep[]`` is set to 250/33 ms as Linux does, but no
repeat events are generated) and procfs. The ``struct input_dev``'s device
is the driver core's (:mod:`.driver_core`): named ``inputN`` as Linux
counts, added in the ``input`` class, released with its last reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service

from . import devres, driver_core, input_poller
from .guest_list import list_add, list_add_tail, list_del, list_init
from .layout import Fields, offset, size
from .registrations import EINVAL, ENODEV, ENOMEM, ENOSPC, guest_string, owner_name
from .uaccess import copy_user

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EBUSY, EFAULT, ENOSYS = 16, 14, 38

# include/uapi/linux/input-event-codes.h
EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_SW = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
EV_LED, EV_SND, EV_REP, EV_FF, EV_PWR, EV_FF_STATUS = 0x11, 0x12, 0x14, 0x15, 0x16, 0x17
EV_MAX = 0x1F
SYN_REPORT, SYN_CONFIG, SYN_MT_REPORT = 0, 1, 2
KEY_MAX, REL_MAX, ABS_MAX, MSC_MAX, SW_MAX, LED_MAX, SND_MAX, FF_MAX = 0x2FF, 0x0F, 0x3F, 0x07, 0x10, 0x0F, 0x07, 0x7F
REP_DELAY, REP_PERIOD, REP_MAX = 0, 1, 1
INPUT_PROP_MAX = 0x1F
ABS_CNT = ABS_MAX + 1
ABS_MT_SLOT, ABS_MT_FIRST, ABS_MT_LAST, ABS_MT_POSITION_X, ABS_MT_TRACKING_ID = 0x2F, 0x30, 0x3D, 0x35, 0x39
REL_CNT = REL_MAX + 1
KEY_RESERVED = 0

# input_get_disposition()'s verdicts
INPUT_IGNORE_EVENT, INPUT_PASS_TO_HANDLERS, INPUT_PASS_TO_DEVICE = 0, 1, 2
INPUT_SLOT, INPUT_FLUSH = 4, 8
INPUT_PASS_TO_ALL = INPUT_PASS_TO_HANDLERS | INPUT_PASS_TO_DEVICE

# input_device_id.flags
MATCH_BUS, MATCH_VENDOR, MATCH_PRODUCT, MATCH_VERSION = 1, 2, 4, 8

INPUT_MAJOR = 13
INPUT_FIRST_DYNAMIC_DEV, INPUT_MAX_CHAR_DEVICES = 256, 1024

DEV_SIZE = size("input_dev")
ABSINFO_SIZE, VALUE_SIZE, HANDLE_SIZE = size("input_absinfo"), size("input_value"), size("input_handle")
DEV_DEV = offset("input_dev", "dev")
ID_SIZE = size("input_device_id")

# (input_dev bitmap, its bytes, the highest code) by event type, as input_max_code[] and the bitmaps.
_BITMAPS = {EV_KEY: ("keybit", KEY_MAX), EV_REL: ("relbit", REL_MAX), EV_ABS: ("absbit", ABS_MAX),
            EV_MSC: ("mscbit", MSC_MAX), EV_SW: ("swbit", SW_MAX), EV_LED: ("ledbit", LED_MAX),
            EV_SND: ("sndbit", SND_MAX), EV_FF: ("ffbit", FF_MAX)}
# input_match_device_id() compares these bitmaps of the id against the device's.
_ID_BITMAPS = ("evbit", "keybit", "relbit", "absbit", "mscbit", "ledbit", "sndbit", "ffbit", "swbit", "propbit")

# struct class input_class (exported: evdev/joydev put their devices in it); its name is set at boot.
input_class = kernel_variable("input_class", size("class"), b"")
_CLASS_NAME = b"input\0"


@dataclass(slots=True)
class InputDevice:
    """An input_dev the core allocated: its number, who made it, its handles."""

    dev: int
    number: int
    owner: str
    registered: bool = False
    handles: list[int] = field(default_factory=list)  # dev->h_list order: filters first


@dataclass(slots=True)
class InputHandler:
    """A registered input_handler."""

    handler: int
    name: str
    owner: str
    handles: list[int] = field(default_factory=list)  # handler->h_list order


@dataclass(slots=True)
class InputHandle:
    """A registered input_handle: which device it joins to which handler."""

    handle: int
    dev: int
    handler: int
    owner: str


class InputCore:
    """The input core of one kernel: devices, handlers, handles, minors (see the module docstring)."""

    def __init__(self) -> None:
        self.devices: dict[int, InputDevice] = {}
        self.order: list[int] = []  # input_dev_list: registered devices, oldest first
        self.handlers: dict[int, InputHandler] = {}  # input_handler_list order
        self.handles: dict[int, InputHandle] = {}
        self.minors: set[int] = set()  # input_ida
        self.next_number = 0  # input_no + 1

    def boot(self, k: Kernel) -> None:
        """Name the input class as the built-in core did at boot."""
        cls = k.export_address("input_class")
        if cls and not k.memory.read_u32(cls):
            name = k.memory.alloc(len(_CLASS_NAME))
            k.memory.write(name, _CLASS_NAME)
            k.memory.write_u32(cls, name)

    def clone(self) -> InputCore:
        """A copy for snapshots."""
        twin = InputCore()
        twin.devices = {a: InputDevice(d.dev, d.number, d.owner, d.registered, list(d.handles))
                        for a, d in self.devices.items()}
        twin.order = list(self.order)
        twin.handlers = {a: InputHandler(h.handler, h.name, h.owner, list(h.handles)) for a, h in self.handlers.items()}
        twin.handles = dict(self.handles)
        twin.minors = set(self.minors)
        twin.next_number = self.next_number
        return twin

    def registered(self) -> list[InputDevice]:
        """Registered devices, oldest first."""
        return [self.devices[a] for a in self.order]

    def find(self, name: str) -> InputDevice | None:
        """A registered device by its ``inputN`` name."""
        return next((d for d in self.registered() if f"input{d.number}" == name), None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Devices and handlers the module left registered: reported and forgotten (its code is gone)."""
        leaks = []
        for record in [d for d in self.registered() if d.owner == module.name]:
            leaks.append(f"input device input{record.number} still registered")
            self.order.remove(record.dev)
            record.registered = False
            for handle in list(record.handles):
                self.forget_handle(k, handle)
        for record in [h for h in self.handlers.values() if h.owner == module.name]:
            leaks.append(f"input handler {record.name!r} still registered")
            for handle in list(record.handles):
                self.forget_handle(k, handle)
            del self.handlers[record.handler]
        for record in list(self.devices.values()):
            if record.owner == module.name and not record.registered:
                self.devices.pop(record.dev)  # its block is the module's: the heap reports it if unfreed
        return leaks

    def forget_handle(self, k: Kernel, handle: int) -> None:
        """input_unregister_handle's bookkeeping: off both lists."""
        record = self.handles.pop(handle, None)
        if record is None:
            return
        device, handler = self.devices.get(record.dev), self.handlers.get(record.handler)
        if device is not None and handle in device.handles:
            device.handles.remove(handle)
        if handler is not None and handle in handler.handles:
            handler.handles.remove(handle)
        list_del(k, handle + offset("input_handle", "h_node"))
        list_del(k, handle + offset("input_handle", "d_node"))


def _core(k: Kernel) -> InputCore:
    return k.subsystem(InputCore)


# -- guest lists and bitmaps --------------------------------------------------------------------
def _test_bit(k: Kernel, bitmap: int, nr: int) -> bool:
    return bool(k.memory.read_u32(bitmap + (nr >> 5) * 4) >> (nr & 31) & 1)


def _set_bit(k: Kernel, bitmap: int, nr: int, on: bool = True) -> None:
    word = bitmap + (nr >> 5) * 4
    value = k.memory.read_u32(word)
    k.memory.write_u32(word, value | 1 << (nr & 31) if on else value & ~(1 << (nr & 31)))


def _bits(k: Kernel, bitmap: int, nbytes: int) -> int:
    return int.from_bytes(k.memory.read(bitmap, nbytes), "little")


def _field(dev: int, name: str) -> int:
    return dev + offset("input_dev", name)


def _supported(k: Kernel, dev: int, bitmap: str, code: int, maximum: int) -> bool:
    """is_event_supported(): code within the map and its bit set."""
    return code <= maximum and _test_bit(k, _field(dev, bitmap), code)


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def defuzz(value: int, old: int, fuzz: int) -> int:
    """input_defuzz_abs_event(): small changes are smoothed towards the old value, tiny ones dropped."""
    if fuzz:
        if old - _c_div(fuzz, 2) < value < old + _c_div(fuzz, 2):
            return old
        if old - fuzz < value < old + fuzz:
            return _c_div(old * 3 + value, 4)
        if old - fuzz * 2 < value < old + fuzz * 2:
            return _c_div(old + value, 2)
    return value


def device_name(k: Kernel, dev: int) -> str:
    """dev_name(&dev->dev)."""
    return guest_string(k, k.memory.read_u32(dev + DEV_DEV), 64)


# -- allocation ------------------------------------------------------------------------------
def new_device(k: Kernel) -> int:
    """input_allocate_device(): a zeroed input_dev in the input class, initialized and named ``inputN``."""
    dev = allocate(k, DEV_SIZE)
    if not dev:
        return 0
    core = _core(k)
    fields = Fields(k.memory, "input_dev", dev)
    fields["dev.class"] = k.export_address("input_class") or 0
    record = driver_core.initialize_device(k, dev + DEV_DEV)
    record.on_release = _release  # input_dev_type.release: input_dev_release
    if driver_core.set_name(k, dev + DEV_DEV, f"input{core.next_number}".encode()):
        release(k, dev)
        return 0
    for head in ("h_list", "node", "mutex.wait_list"):
        list_init(k, fields.address_of(head))
    core.devices[dev] = InputDevice(dev, core.next_number, owner_name(k))
    core.next_number += 1
    return dev


def _release(k: Kernel, device: int) -> None:
    """input_dev_release(), when the last reference to the struct device goes: absinfo, vals, the device."""
    dev = device - DEV_DEV
    core = _core(k)
    core.devices.pop(dev, None)
    if dev in core.order:  # freed while still registered (a managed device whose probe failed): gone from the list too
        core.order.remove(dev)
    from .input_ff import destroy as input_ff_destroy

    input_ff_destroy(k, dev)
    input_poller.free(k, dev)
    fields = Fields(k.memory, "input_dev", dev)
    if fields["mt"]:  # input_mt_destroy_slots
        red = k.memory.read_u32(fields["mt"] + offset("input_mt", "red"))
        if red:
            release(k, red)
        release(k, fields["mt"])
        fields["mt"] = 0
    for member in ("absinfo", "vals"):
        if fields[member]:
            release(k, fields[member])
            fields[member] = 0
    release(k, dev)


def put_device(k: Kernel, dev: int) -> None:
    """input_put_device(): drop a reference on the input device (the last one frees it)."""
    driver_core.put(k, dev + DEV_DEV)


@service("struct input_dev *input_allocate_device(void)")
def input_allocate_device(k: Kernel) -> int:
    """A zeroed input_dev owned by the caller, or NULL."""
    return new_device(k)


@service("struct input_dev *devm_input_allocate_device(struct device *dev)")
def devm_input_allocate_device(k: Kernel, dev: int) -> int:
    """input_allocate_device managed by ``dev``: its parent, and put (unregistered first) when ``dev`` unbinds."""
    input_dev = new_device(k)
    if not input_dev:
        return 0
    fields = Fields(k.memory, "input_dev", input_dev)
    fields["dev.parent"], fields["devres_managed"] = dev, 1
    devres.add(k, dev, "input device", input_dev, release_fn=lambda ctx: put_device(ctx, input_dev))
    return input_dev


@service("void input_free_device(struct input_dev *dev)")
def input_free_device(k: Kernel, dev: int) -> None:
    """Drop the reference of a device never registered (NULL is allowed; a registered one is refused)."""
    if not dev:
        return
    record = _core(k).devices.get(dev)
    if record is not None and record.registered:
        k.warn(f"input_free_device: {device_name(k, dev)} is registered; input_unregister_device frees it")
        return
    if Fields(k.memory, "input_dev", dev)["devres_managed"]:
        devres.take(k, Fields(k.memory, "input_dev", dev)["dev.parent"], "input device", dev)
    put_device(k, dev)


@service("bool input_alloc_absinfo(struct input_dev *dev)")
def input_alloc_absinfo(k: Kernel, dev: int) -> int:
    """Give the device its ABS_CNT absinfo array (once); false without memory."""
    fields = Fields(k.memory, "input_dev", dev)
    if not fields["absinfo"]:
        fields["absinfo"] = allocate(k, ABS_CNT * ABSINFO_SIZE, owner="kernel")
        if not fields["absinfo"]:
            k.console_write(f"{device_name(k, dev)}: input_alloc_absinfo: unable to allocate memory\n", 3)
    return 1 if fields["absinfo"] else 0


@service("void input_set_abs_params(struct input_dev *dev, unsigned int axis, int min, int max, int fuzz, int flat)")
def input_set_abs_params(k: Kernel, dev: int, axis: int, minimum: int, maximum: int, fuzz: int, flat: int) -> None:
    """Describe one absolute axis and declare it (EV_ABS and its absbit)."""
    if axis > ABS_MAX:
        k.warn(f"input_set_abs_params: axis {axis} is beyond ABS_MAX")
        return
    if not input_alloc_absinfo(k, dev):
        return
    info = Fields(k.memory, "input_absinfo", Fields(k.memory, "input_dev", dev)["absinfo"] + axis * ABSINFO_SIZE)
    info["minimum"], info["maximum"], info["fuzz"], info["flat"] = minimum, maximum, fuzz, flat
    _set_bit(k, _field(dev, "evbit"), EV_ABS)
    _set_bit(k, _field(dev, "absbit"), axis)


@service("void input_set_capability(struct input_dev *dev, unsigned int type, unsigned int code)")
def input_set_capability(k: Kernel, dev: int, type: int, code: int) -> None:
    """Mark the device as able to report ``code`` of ``type`` (the type's bit and the code's)."""
    if type in _BITMAPS and code > _BITMAPS[type][1]:
        k.console_write(f"input_set_capability: invalid code {code} for type {type}\n", 3)
        return
    if type == EV_ABS:
        input_alloc_absinfo(k, dev)
    if type in _BITMAPS:
        _set_bit(k, _field(dev, _BITMAPS[type][0]), code)
    elif type != EV_PWR:
        k.console_write(f"input_set_capability: unknown type {type} (code {code})\n", 3)
        return
    _set_bit(k, _field(dev, "evbit"), type)


@service("int input_scancode_to_scalar(const struct input_keymap_entry *ke, unsigned int *scancode)")
def input_scancode_to_scalar(k: Kernel, ke: int, scancode: int) -> int:
    """The entry's 1-, 2- or 4-byte scancode as a number in ``*scancode``; -EINVAL for another length."""
    entry = Fields(k.memory, "input_keymap_entry", ke)
    length = entry["len"]
    if length not in (1, 2, 4):
        return -EINVAL
    k.memory.write_u32(scancode, int.from_bytes(k.memory.read(entry.address_of("scancode"), length), "little"))
    return 0


# -- registration ------------------------------------------------------------------------------
def _cleanse_bitmasks(k: Kernel, dev: int) -> None:
    """input_cleanse_bitmasks(): a code map whose type is not in evbit is cleared."""
    for type_, (bitmap, maximum) in _BITMAPS.items():
        if not _test_bit(k, _field(dev, "evbit"), type_):
            k.memory.write(_field(dev, bitmap), bytes(((maximum + 32) // 32) * 4))


def _events_per_packet(k: Kernel, dev: int) -> int:
    """input_estimate_events_per_packet(): contacts times multitouch axes, the other axes, motion, 7 more."""
    absbit = _bits(k, _field(dev, "absbit"), 8)
    mt = Fields(k.memory, "input_dev", dev)["mt"]
    if mt:
        slots = k.memory.read_u32(mt + offset("input_mt", "num_slots"))
    elif absbit >> ABS_MT_TRACKING_ID & 1:
        info = Fields(k.memory, "input_dev", dev)["absinfo"] + ABS_MT_TRACKING_ID * ABSINFO_SIZE
        slots = min(max(signed32(k.memory.read_u32(info + 8)) - signed32(k.memory.read_u32(info + 4)) + 1, 2), 32)
    elif absbit >> ABS_MT_POSITION_X & 1:
        slots = 2
    else:
        slots = 0
    events = slots + 1
    evbit = k.memory.read_u32(_field(dev, "evbit"))
    if evbit >> EV_ABS & 1:
        events += sum(slots if i == ABS_MT_SLOT or ABS_MT_FIRST <= i <= ABS_MT_LAST else 1
                      for i in range(ABS_CNT) if absbit >> i & 1)
    if evbit >> EV_REL & 1:
        events += bin(_bits(k, _field(dev, "relbit"), 4) & (1 << REL_CNT) - 1).count("1")
    return events + 7


def register_device(k: Kernel, dev: int) -> int:
    """input_register_device() (see the module docstring)."""
    core = _core(k)
    record = core.devices.get(dev)
    if record is None:
        k.warn(f"input_register_device: {dev:#x} was not allocated by input_allocate_device")
        return -EINVAL
    if record.registered:
        k.warn(f"input_register_device: {device_name(k, dev)} is already registered")
        return -EINVAL
    fields = Fields(k.memory, "input_dev", dev)
    if _test_bit(k, _field(dev, "evbit"), EV_ABS) and not fields["absinfo"]:
        k.console_write(f"input {device_name(k, dev)}: Absolute device without dev->absinfo, refusing to register\n", 3)
        return -EINVAL
    _set_bit(k, _field(dev, "evbit"), EV_SYN)
    _set_bit(k, _field(dev, "keybit"), KEY_RESERVED, on=False)
    _cleanse_bitmasks(k, dev)
    packet = _events_per_packet(k, dev)
    if fields["hint_events_per_packet"] < packet:
        fields["hint_events_per_packet"] = packet
    fields["max_vals"] = fields["hint_events_per_packet"] + 2
    input_poller.finalize(k, dev)
    fields["num_vals"] = 0
    fields["vals"] = allocate(k, fields["max_vals"] * VALUE_SIZE, owner="kernel")
    if not fields["vals"]:
        return -ENOMEM
    rep = fields.address_of("rep")
    if not k.memory.read_u32(rep + 4 * REP_DELAY) and not k.memory.read_u32(rep + 4 * REP_PERIOD):
        input_enable_softrepeat(k, dev, 250, 33)  # Linux's values; the repeat timer is not modelled
    result = driver_core.add_device(k, dev + DEV_DEV)
    if result:
        release(k, fields["vals"])
        fields["vals"] = 0
        return result
    name = guest_string(k, fields["name"], 128) if fields["name"] else "Unspecified device"
    k.console_write(f"input: {name} as {driver_core.devpath(k, dev + DEV_DEV)}\n", 6)
    if fields["devres_managed"]:
        devres.add(k, fields["dev.parent"], "input registration", dev,
                   release_fn=lambda ctx: unregister_device(ctx, dev))
    record.registered = True
    core.order.append(dev)
    k.note("input-device", device=device_name(k, dev), name=name, owner=record.owner)
    for handler in list(core.handlers.values()):
        attach_handler(k, dev, handler.handler)
    return 0


def match_id(k: Kernel, dev: int, id_entry: int) -> bool:
    """input_match_device_id(): the id's bus/vendor/product/version if flagged, and its bitmaps a subset."""
    ident = Fields(k.memory, "input_device_id", id_entry)
    device = Fields(k.memory, "input_dev", dev)
    flags = ident["flags"]
    for flag, name in ((MATCH_BUS, "bustype"), (MATCH_VENDOR, "vendor"), (MATCH_PRODUCT, "product"),
                       (MATCH_VERSION, "version")):
        if flags & flag and ident[name] != device[f"id.{name}"]:
            return False
    for bitmap in _ID_BITMAPS:
        where = offset("input_device_id", bitmap)
        width = {"keybit": 96, "absbit": 8, "ffbit": 16}.get(bitmap, 4)
        wanted = _bits(k, id_entry + where, width)
        if wanted & ~_bits(k, _field(dev, bitmap), width):
            return False
    return True


@service("bool input_match_device_id(const struct input_dev *dev, const struct input_device_id *id)")
def input_match_device_id(k: Kernel, dev: int, id: int) -> int:
    """Whether the id (its flagged bus/vendor/product/version, its bitmaps as subsets) fits the device."""
    return 1 if match_id(k, dev, id) else 0


@service("void input_enable_softrepeat(struct input_dev *dev, int delay, int period)")
def input_enable_softrepeat(k: Kernel, dev: int, delay: int, period: int) -> None:
    """The core's autorepeat for the device: rep[] set (the repeat timer itself is not modelled)."""
    rep = _field(dev, "rep")
    k.memory.write_u32(rep + 4 * REP_DELAY, delay)
    k.memory.write_u32(rep + 4 * REP_PERIOD, period)


def match_device(k: Kernel, dev: int, handler: int) -> int:
    """input_match_device(): the first id of the handler's table that matches (and ``match`` agrees), or 0."""
    fields = Fields(k.memory, "input_handler", handler)
    table, match = fields["id_table"], fields["match"]
    if not table:
        return 0
    for i in range(4096):
        entry = table + i * ID_SIZE
        ident = Fields(k.memory, "input_device_id", entry)
        if not ident["flags"] and not ident["driver_info"]:
            return 0
        if match_id(k, dev, entry) and (not match or k.call_function_pointer(match, handler, dev) & 0xFF):
            return entry
    return 0


def attach_handler(k: Kernel, dev: int, handler: int) -> None:
    """input_attach_handler(): connect if the handler's table matches."""
    ident = match_device(k, dev, handler)
    if not ident:
        return
    connect = Fields(k.memory, "input_handler", handler)["connect"]
    result = signed32(k.call_function_pointer(connect, handler, dev, ident)) if connect else -ENODEV
    record = _core(k).handlers[handler]
    k.note("input-connect", handler=record.name, device=device_name(k, dev), result=result)
    if result and result != -ENODEV:
        k.console_write(f"input: failed to attach handler {record.name} to device {device_name(k, dev)}, "
                        f"error: {result}\n", 3)


def disconnect_device(k: Kernel, dev: int) -> None:
    """input_disconnect_device(): going away, pressed keys released, every handle closed."""
    fields = Fields(k.memory, "input_dev", dev)
    fields["going_away"] = 1
    if _test_bit(k, _field(dev, "evbit"), EV_KEY):
        keys = _bits(k, _field(dev, "key"), 96)
        if keys:
            for code in range(KEY_MAX + 1):
                if keys >> code & 1:
                    handle_event(k, dev, EV_KEY, code, 0)
            handle_event(k, dev, EV_SYN, SYN_REPORT, 1)
    for handle in _core(k).devices[dev].handles:
        k.memory.write_u32(handle + offset("input_handle", "open"), 0)


def unregister_device(k: Kernel, dev: int) -> None:
    """__input_unregister_device(): disconnect, every handler's disconnect, off the list."""
    core = _core(k)
    record = core.devices.get(dev)
    if record is None or not record.registered:
        k.warn(f"input_unregister_device: {dev:#x} is not a registered input device")
        return
    disconnect_device(k, dev)
    for handle in list(record.handles):
        handler = core.handles[handle].handler
        disconnect = Fields(k.memory, "input_handler", handler)["disconnect"]
        if disconnect:
            k.call_function_pointer(disconnect, handle)
        if handle in record.handles:  # a handler that did not unregister its handle
            k.warn(f"input: handler {core.handlers[handler].name} left its handle on {device_name(k, dev)}")
            core.forget_handle(k, handle)
    record.registered = False
    core.order.remove(dev)
    k.note("input-device-gone", device=device_name(k, dev))
    driver_core.delete_device(k, dev + DEV_DEV)


@service("int input_register_device(struct input_dev *dev)")
def input_register_device(k: Kernel, dev: int) -> int:
    """Register a device and connect every matching handler; -EINVAL for an absolute one without absinfo."""
    return register_device(k, dev)


@service("void input_unregister_device(struct input_dev *dev)")
def input_unregister_device(k: Kernel, dev: int) -> None:
    """Disconnect every handler, release pressed keys, and drop the device (freed)."""
    record = _core(k).devices.get(dev)
    if record is None or not record.registered:
        k.warn(f"input_unregister_device: {dev:#x} is not a registered input device")
        return
    if Fields(k.memory, "input_dev", dev)["devres_managed"]:  # the device's own devres puts it later
        devres.take(k, Fields(k.memory, "input_dev", dev)["dev.parent"], "input registration", dev)
        unregister_device(k, dev)
        return
    unregister_device(k, dev)
    put_device(k, dev)


# -- events ------------------------------------------------------------------------------------
def _disposition(k: Kernel, dev: int, type: int, code: int, value: int) -> tuple[int, int]:
    """input_get_disposition(): what to do with the event, and its (defuzzed) value."""
    if type == EV_SYN:
        return {SYN_CONFIG: INPUT_PASS_TO_ALL, SYN_REPORT: INPUT_PASS_TO_HANDLERS | INPUT_FLUSH,
                SYN_MT_REPORT: INPUT_PASS_TO_HANDLERS}.get(code, INPUT_IGNORE_EVENT), value
    if type == EV_KEY:
        if not _supported(k, dev, "keybit", code, KEY_MAX):
            return INPUT_IGNORE_EVENT, value
        if value == 2:
            return INPUT_PASS_TO_HANDLERS, value
        if _test_bit(k, _field(dev, "key"), code) != bool(value):
            _set_bit(k, _field(dev, "key"), code, bool(value))
            return INPUT_PASS_TO_HANDLERS, value
        return INPUT_IGNORE_EVENT, value
    if type in (EV_SW, EV_LED):
        bitmap, state, maximum = ("swbit", "sw", SW_MAX) if type == EV_SW else ("ledbit", "led", LED_MAX)
        if _supported(k, dev, bitmap, code, maximum) and _test_bit(k, _field(dev, state), code) != bool(value):
            _set_bit(k, _field(dev, state), code, bool(value))
            return (INPUT_PASS_TO_HANDLERS if type == EV_SW else INPUT_PASS_TO_ALL), value
        return INPUT_IGNORE_EVENT, value
    if type == EV_ABS:
        if not _supported(k, dev, "absbit", code, ABS_MAX):
            return INPUT_IGNORE_EVENT, value
        return _abs_disposition(k, dev, code, value)
    if type == EV_REL:
        return (INPUT_PASS_TO_HANDLERS if _supported(k, dev, "relbit", code, REL_MAX) and value
                else INPUT_IGNORE_EVENT), value
    if type == EV_MSC:
        return (INPUT_PASS_TO_ALL if _supported(k, dev, "mscbit", code, MSC_MAX) else INPUT_IGNORE_EVENT), value
    if type == EV_SND:
        if not _supported(k, dev, "sndbit", code, SND_MAX):
            return INPUT_IGNORE_EVENT, value
        if _test_bit(k, _field(dev, "snd"), code) != bool(value):
            _set_bit(k, _field(dev, "snd"), code, bool(value))
        return INPUT_PASS_TO_ALL, value
    if type == EV_REP:
        rep = _field(dev, "rep") + 4 * code
        if code <= REP_MAX and value >= 0 and signed32(k.memory.read_u32(rep)) != value:
            k.memory.write_u32(rep, value)
            return INPUT_PASS_TO_ALL, value
        return INPUT_IGNORE_EVENT, value
    if type == EV_FF:
        return (INPUT_PASS_TO_ALL if value >= 0 else INPUT_IGNORE_EVENT), value
    if type == EV_PWR:
        return INPUT_PASS_TO_ALL, value
    return INPUT_IGNORE_EVENT, value


def _abs_disposition(k: Kernel, dev: int, code: int, value: int) -> tuple[int, int]:
    """input_handle_abs_event(): ABS_MT_SLOT is staged; a value is defuzzed against the old one (the
    current slot's for a multitouch value, none without slots) and dropped if unchanged; the first
    multitouch value of another slot asks for ABS_MT_SLOT to go out before it (INPUT_SLOT)."""
    fields = Fields(k.memory, "input_dev", dev)
    mt, absinfo = fields["mt"], fields["absinfo"]
    slot = signed32(k.memory.read_u32(mt + offset("input_mt", "slot"))) if mt else 0
    if code == ABS_MT_SLOT:
        if mt and 0 <= value < k.memory.read_u32(mt + offset("input_mt", "num_slots")):
            k.memory.write_u32(mt + offset("input_mt", "slot"), value)
        return INPUT_IGNORE_EVENT, value
    is_mt = ABS_MT_FIRST <= code <= ABS_MT_LAST
    if not is_mt:
        old_at = absinfo + code * ABSINFO_SIZE
    elif mt:
        old_at = mt + size("input_mt") + slot * size("input_mt_slot") + 4 * (code - ABS_MT_FIRST)
    else:
        return INPUT_PASS_TO_HANDLERS, value  # multitouch values bypass filtering without slots
    old = signed32(k.memory.read_u32(old_at))
    value = defuzz(value, old, signed32(k.memory.read_u32(absinfo + code * ABSINFO_SIZE + 12)))
    if value == old:
        return INPUT_IGNORE_EVENT, value
    k.memory.write_u32(old_at, value & 0xFFFFFFFF)
    slot_value_at = absinfo + ABS_MT_SLOT * ABSINFO_SIZE
    if is_mt and mt and slot != signed32(k.memory.read_u32(slot_value_at)):
        k.memory.write_u32(slot_value_at, slot)
        return INPUT_PASS_TO_HANDLERS | INPUT_SLOT, value
    return INPUT_PASS_TO_HANDLERS, value


def handle_event(k: Kernel, dev: int, type: int, code: int, value: int) -> None:
    """input_handle_event(): filter, tell the device, queue for handlers, flush at SYN_REPORT."""
    fields = Fields(k.memory, "input_dev", dev)
    if fields["inhibited"]:
        return
    disposition, value = _disposition(k, dev, type, code, value)
    if disposition & INPUT_PASS_TO_DEVICE and fields["event"]:
        k.call_function_pointer(fields["event"], dev, type, code, value & 0xFFFFFFFF)
    vals = fields["vals"]
    if not vals:
        return
    count = fields["num_vals"]
    if disposition & INPUT_PASS_TO_HANDLERS:
        if disposition & INPUT_SLOT:
            slot = k.memory.read_u32(fields["mt"] + offset("input_mt", "slot"))
            k.memory.write(vals + count * VALUE_SIZE, _value(EV_ABS, ABS_MT_SLOT, slot))
            count += 1
        k.memory.write(vals + count * VALUE_SIZE, _value(type, code, value))
        count += 1
    if disposition & INPUT_FLUSH:
        if count >= 2:
            pass_values(k, dev, vals, count)
        count = 0
        k.memory.write(fields.address_of("timestamp"), bytes(8))  # a stale timestamp is not reused
    elif count >= fields["max_vals"] - 2:
        k.memory.write(vals + count * VALUE_SIZE, _value(EV_SYN, SYN_REPORT, 1))
        count += 1
        pass_values(k, dev, vals, count)
        count = 0
    fields["num_vals"] = count


def _value(type: int, code: int, value: int) -> bytes:
    return type.to_bytes(2, "little") + code.to_bytes(2, "little") + (value & 0xFFFFFFFF).to_bytes(4, "little")


def read_values(k: Kernel, vals: int, count: int) -> list[tuple[int, int, int]]:
    """(type, code, value) of ``count`` struct input_value."""
    raw = k.memory.read(vals, count * VALUE_SIZE)
    return [(int.from_bytes(raw[i:i + 2], "little"), int.from_bytes(raw[i + 2:i + 4], "little"),
             signed32(int.from_bytes(raw[i + 4:i + 8], "little"))) for i in range(0, len(raw), VALUE_SIZE)]


def pass_values(k: Kernel, dev: int, vals: int, count: int) -> None:
    """input_pass_values(): to the grabbing handle, else to every open handle in turn."""
    core = _core(k)
    k.note("input-events", device=device_name(k, dev), events=read_values(k, vals, count))
    grab = Fields(k.memory, "input_dev", dev)["grab"]
    if grab:
        _to_handler(k, grab, vals, count)
        return
    for handle in list(core.devices[dev].handles):
        if k.memory.read_u32(handle + offset("input_handle", "open")):
            count = _to_handler(k, handle, vals, count)
            if not count:
                break


def _to_handler(k: Kernel, handle: int, vals: int, count: int) -> int:
    """input_to_handler(): the handler's filter drops what it consumes, then events (or event per value)."""
    handler = k.memory.read_u32(handle + offset("input_handle", "handler"))
    callbacks = Fields(k.memory, "input_handler", handler)
    if callbacks["filter"]:
        kept = 0
        for type_, code, value in read_values(k, vals, count):
            if k.call_function_pointer(callbacks["filter"], handle, type_, code, value & 0xFFFFFFFF) & 0xFF:
                continue
            k.memory.write(vals + kept * VALUE_SIZE, _value(type_, code, value))
            kept += 1
        count = kept
    if not count:
        return 0
    if callbacks["events"]:
        k.call_function_pointer(callbacks["events"], handle, vals, count)
    elif callbacks["event"]:
        for type_, code, value in read_values(k, vals, count):
            k.call_function_pointer(callbacks["event"], handle, type_, code, value & 0xFFFFFFFF)
    return count


def report(k: Kernel, dev: int, type: int, code: int, value: int) -> None:
    """input_event() from Python or a service: dropped unless the type is declared."""
    if type <= EV_MAX and _test_bit(k, _field(dev, "evbit"), type):
        handle_event(k, dev, type, code, value)


@service("void input_event(struct input_dev *dev, unsigned int type, unsigned int code, int value)")
def input_event(k: Kernel, dev: int, type: int, code: int, value: int) -> None:
    """Report one event (see the module docstring for Linux's filtering)."""
    report(k, dev, type, code, signed32(value))


@service("void input_inject_event(struct input_handle *handle, unsigned int type, unsigned int code, int value)")
def input_inject_event(k: Kernel, handle: int, type: int, code: int, value: int) -> None:
    """An event from a handler (evdev's write): as input_event, unless another handle grabbed the device."""
    dev = k.memory.read_u32(handle + offset("input_handle", "dev"))
    if type <= EV_MAX and _test_bit(k, _field(dev, "evbit"), type):
        grab = Fields(k.memory, "input_dev", dev)["grab"]
        if not grab or grab == handle:
            handle_event(k, dev, type, code, signed32(value))


@service("bool input_device_enabled(struct input_dev *dev)")
def input_device_enabled(k: Kernel, dev: int) -> int:
    """Not inhibited and opened by someone."""
    fields = Fields(k.memory, "input_dev", dev)
    return 1 if not fields["inhibited"] and fields["users"] > 0 else 0


@service("void input_set_timestamp(struct input_dev *dev, ktime_t timestamp)")
def input_set_timestamp(k: Kernel, dev: int, timestamp: int) -> None:
    """The time of the coming events: monotonic, real and boot (one clock here)."""
    stamp = timestamp.to_bytes(8, "little", signed=timestamp < 0)
    k.memory.write(_field(dev, "timestamp"), stamp * 3)


@service("ktime_t *input_get_timestamp(struct input_dev *dev)")
def input_get_timestamp(k: Kernel, dev: int) -> int:
    """dev->timestamp, stamped now if the batch has none yet."""
    where = _field(dev, "timestamp")
    if not int.from_bytes(k.memory.read(where, 8), "little"):
        input_set_timestamp(k, dev, k.clock.ns)
    return where


# -- handlers and handles -----------------------------------------------------------------------
@service("int input_register_handler(struct input_handler *handler)")
def input_register_handler(k: Kernel, handler: int) -> int:
    """Register a handler and connect it to every registered device its id table matches."""
    core = _core(k)
    if handler in core.handlers:
        k.warn(f"input_register_handler: {handler:#x} is already registered")
        return -EBUSY
    fields = Fields(k.memory, "input_handler", handler)
    list_init(k, fields.address_of("h_list"))
    list_init(k, fields.address_of("node"))
    core.handlers[handler] = InputHandler(handler, guest_string(k, fields["name"], 64), owner_name(k))
    for record in core.registered():
        attach_handler(k, record.dev, handler)
    return 0


@service("void input_unregister_handler(struct input_handler *handler)")
def input_unregister_handler(k: Kernel, handler: int) -> None:
    """Disconnect the handler from every device (its disconnect), then forget it."""
    core = _core(k)
    record = core.handlers.get(handler)
    if record is None:
        k.warn(f"input_unregister_handler: {handler:#x} is not registered")
        return
    disconnect = Fields(k.memory, "input_handler", handler)["disconnect"]
    for handle in list(record.handles):
        if disconnect:
            k.call_function_pointer(disconnect, handle)
        if handle in record.handles:
            k.warn(f"input: handler {record.name} did not unregister a handle in disconnect")
            core.forget_handle(k, handle)
    del core.handlers[handler]


@service("int input_register_handle(struct input_handle *handle)")
def input_register_handle(k: Kernel, handle: int) -> int:
    """Join a device and a handler (filters first on the device's list), then the handler's start."""
    core = _core(k)
    fields = Fields(k.memory, "input_handle", handle)
    dev, handler = fields["dev"], fields["handler"]
    device, owner = core.devices.get(dev), core.handlers.get(handler)
    if device is None or owner is None:
        k.warn(f"input_register_handle: handle {handle:#x} names an unknown device or handler")
        return -EINVAL
    callbacks = Fields(k.memory, "input_handler", handler)
    if callbacks["filter"]:
        device.handles.insert(0, handle)
        list_add(k, fields.address_of("d_node"), _field(dev, "h_list"))
    else:
        device.handles.append(handle)
        list_add_tail(k, fields.address_of("d_node"), _field(dev, "h_list"))
    owner.handles.append(handle)
    list_add_tail(k, fields.address_of("h_node"), callbacks.address_of("h_list"))
    core.handles[handle] = InputHandle(handle, dev, handler, owner_name(k))
    if callbacks["start"]:
        k.call_function_pointer(callbacks["start"], handle)
    return 0


@service("void input_unregister_handle(struct input_handle *handle)")
def input_unregister_handle(k: Kernel, handle: int) -> None:
    """Take the handle off its device's and handler's lists."""
    _core(k).forget_handle(k, handle)


@service("int input_open_device(struct input_handle *handle)")
def input_open_device(k: Kernel, handle: int) -> int:
    """Open through a handle: the first user calls ``dev->open`` (its error undoes the open)."""
    handle_fields = Fields(k.memory, "input_handle", handle)
    dev = handle_fields["dev"]
    fields = Fields(k.memory, "input_dev", dev)
    if fields["going_away"]:
        return -ENODEV
    handle_fields["open"] = handle_fields["open"] + 1
    users = fields["users"]
    fields["users"] = users + 1
    if users or fields["inhibited"]:
        return 0
    if fields["open"]:
        result = signed32(k.call_function_pointer(fields["open"], dev))
        if result:
            fields["users"] = fields["users"] - 1
            handle_fields["open"] = handle_fields["open"] - 1
            return result
    input_poller.start(k, dev)
    return 0


def _release_grab(k: Kernel, handle: int) -> None:
    """__input_release_device(): drop a grab this handle holds; other open handles restart."""
    dev = k.memory.read_u32(handle + offset("input_handle", "dev"))
    fields = Fields(k.memory, "input_dev", dev)
    if fields["grab"] != handle:
        return
    fields["grab"] = 0
    for other in _core(k).devices[dev].handles:
        handler = k.memory.read_u32(other + offset("input_handle", "handler"))
        start = Fields(k.memory, "input_handler", handler)["start"]
        if k.memory.read_u32(other + offset("input_handle", "open")) and start:
            k.call_function_pointer(start, other)


@service("void input_close_device(struct input_handle *handle)")
def input_close_device(k: Kernel, handle: int) -> None:
    """Close through a handle: its grab goes; the last user calls ``dev->close``."""
    handle_fields = Fields(k.memory, "input_handle", handle)
    dev = handle_fields["dev"]
    fields = Fields(k.memory, "input_dev", dev)
    _release_grab(k, handle)
    if not fields["inhibited"] and fields["users"]:
        fields["users"] = fields["users"] - 1
        if not fields["users"]:
            input_poller.stop(k, dev)
            if fields["close"]:
                k.call_function_pointer(fields["close"], dev)
    if handle_fields["open"]:
        handle_fields["open"] = handle_fields["open"] - 1


@service("int input_grab_device(struct input_handle *handle)")
def input_grab_device(k: Kernel, handle: int) -> int:
    """Make this handle the only receiver of the device's events; -EBUSY if another holds it."""
    fields = Fields(k.memory, "input_dev", k.memory.read_u32(handle + offset("input_handle", "dev")))
    if fields["grab"]:
        return -EBUSY
    fields["grab"] = handle
    return 0


@service("void input_release_device(struct input_handle *handle)")
def input_release_device(k: Kernel, handle: int) -> None:
    """Give a grab back."""
    _release_grab(k, handle)


@service("int input_flush_device(struct input_dev *dev, struct file *file)")
def input_flush_device(k: Kernel, dev: int, file: int) -> int:
    """dev->flush(dev, file) if the driver has one, else 0."""
    flush = Fields(k.memory, "input_dev", dev)["flush"]
    return signed32(k.call_function_pointer(flush, dev, file)) if flush else 0


@service("int input_get_new_minor(int legacy_base, unsigned int legacy_num, bool allow_dynamic)")
def input_get_new_minor(k: Kernel, legacy_base: int, legacy_num: int, allow_dynamic: int) -> int:
    """A free minor of the input major: in [base, base+num) if given, else (or if allowed) from 256 up."""
    core = _core(k)
    base = signed32(legacy_base)

    def first_free(start: int, end: int) -> int:
        minor = next((m for m in range(start, end) if m not in core.minors), -ENOSPC)
        if minor >= 0:
            core.minors.add(minor)
        return minor

    if base >= 0:
        minor = first_free(base, base + legacy_num)
        if minor >= 0 or not allow_dynamic & 0xFF:
            return minor
    return first_free(INPUT_FIRST_DYNAMIC_DEV, INPUT_MAX_CHAR_DEVICES)


@service("void input_free_minor(unsigned int minor)")
def input_free_minor(k: Kernel, minor: int) -> None:
    """Give a minor back."""
    _core(k).minors.discard(minor)


# -- keymaps -------------------------------------------------------------------------------------
def _keycode_at(k: Kernel, dev: int, index: int) -> int:
    fields = Fields(k.memory, "input_dev", dev)
    width = fields["keycodesize"]
    return int.from_bytes(k.memory.read(fields["keycode"] + index * width, width), "little")


def _keymap_index(k: Kernel, dev: int, ke: int) -> int:
    """input_default_getkeycode()'s lookup: by index, or by scancode; -EINVAL if out of range."""
    entry = Fields(k.memory, "input_keymap_entry", ke)
    if entry["flags"] & 1:  # INPUT_KEYMAP_BY_INDEX
        index = entry["index"]
    else:
        scalar = k.memory.alloc(4)
        try:
            if input_scancode_to_scalar(k, ke, scalar):
                return -EINVAL
            index = k.memory.read_u32(scalar)
        finally:
            k.memory.free(scalar)
    return index if index < Fields(k.memory, "input_dev", dev)["keycodemax"] else -EINVAL


@service("int input_get_keycode(struct input_dev *dev, struct input_keymap_entry *ke)")
def input_get_keycode(k: Kernel, dev: int, ke: int) -> int:
    """The keycode at the entry's index or scancode (dev->getkeycode if the driver has one)."""
    fields = Fields(k.memory, "input_dev", dev)
    if fields["getkeycode"]:
        return signed32(k.call_function_pointer(fields["getkeycode"], dev, ke))
    if not fields["keycodesize"]:
        return -EINVAL
    index = _keymap_index(k, dev, ke)
    if index < 0:
        return index
    entry = Fields(k.memory, "input_keymap_entry", ke)
    entry["keycode"] = _keycode_at(k, dev, index)
    entry["index"], entry["len"] = index, 4
    k.memory.write(entry.address_of("scancode"), index.to_bytes(4, "little"))
    return 0


@service("int input_set_keycode(struct input_dev *dev, const struct input_keymap_entry *ke)")
def input_set_keycode(k: Kernel, dev: int, ke: int) -> int:
    """Change one keymap entry and the keybit map; the old key is released if it was down."""
    fields = Fields(k.memory, "input_dev", dev)
    entry = Fields(k.memory, "input_keymap_entry", ke)
    keycode = entry["keycode"]
    if keycode > KEY_MAX:
        return -EINVAL
    if fields["setkeycode"]:
        return signed32(k.call_function_pointer(fields["setkeycode"], dev, ke, 0))
    width = fields["keycodesize"]
    if not width or (width < 4 and keycode >> (8 * width)):
        return -EINVAL
    index = _keymap_index(k, dev, ke)
    if index < 0:
        return index
    old = _keycode_at(k, dev, index)
    k.memory.write(fields["keycode"] + index * width, keycode.to_bytes(width, "little"))
    keybit = _field(dev, "keybit")
    _set_bit(k, keybit, old, on=False)
    _set_bit(k, keybit, keycode)
    if any(_keycode_at(k, dev, i) == old for i in range(fields["keycodemax"])):
        _set_bit(k, keybit, old)
    if old != keycode and _test_bit(k, _field(dev, "key"), old):
        handle_event(k, dev, EV_KEY, old, 0)
        handle_event(k, dev, EV_SYN, SYN_REPORT, 1)
    return 0


# -- user copies (drivers/input/input-compat.c, native i386: 16-byte struct input_event) -----------
INPUT_EVENT_SIZE = size("input_event")
FF_EFFECT_SIZE = 44


def _copy(k: Kernel, to: int, frm: int, n: int, to_user: bool) -> int:
    return -EFAULT if copy_user(k, to, frm, n, to_user=to_user) else 0


@service("int input_event_from_user(const char *buffer, struct input_event *event)")
def input_event_from_user(k: Kernel, buffer: int, event: int) -> int:
    """Copy one struct input_event from the user buffer; -EFAULT if it cannot be read."""
    return _copy(k, event, buffer, INPUT_EVENT_SIZE, to_user=False)


@service("int input_event_to_user(char *buffer, const struct input_event *event)")
def input_event_to_user(k: Kernel, buffer: int, event: int) -> int:
    """Copy one struct input_event to the user buffer; -EFAULT if it cannot be written."""
    return _copy(k, buffer, event, INPUT_EVENT_SIZE, to_user=True)


@service("int input_ff_effect_from_user(const char *buffer, size_t size, struct ff_effect *effect)")
def input_ff_effect_from_user(k: Kernel, buffer: int, size_: int, effect: int) -> int:
    """Copy a struct ff_effect (44 bytes); -EINVAL for another size."""
    if size_ != FF_EFFECT_SIZE:
        return -EINVAL
    return _copy(k, effect, buffer, FF_EFFECT_SIZE, to_user=False)
