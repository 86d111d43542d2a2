"""Linux 6.1's hwmon class (drivers/hwmon/hwmon.c): hardware monitoring devices and their attributes.

A sensor driver registers a ``hwmonN`` device under its own device and
gets sysfs attributes on it: with ``*_with_info`` the core makes them from
the driver's ``hwmon_chip_info`` (each channel's config bits name
attributes such as ``temp1_input``; the driver's ``is_visible`` gives each
one's mode, and reading one calls ``ops->read(dev, type, attr, channel,
&val)``, printed ``"%ld\\n"``); with ``*_with_groups`` the driver brings
its own ``attribute_group`` s of ``device_attribute`` s, whose ``show`` and
``store`` run. A ``name`` attribute holds the name given at registration.

From Python::

    from kernel_stubs.linux.hwmon import hwmon
    hwmon(k, "lm73").read("temp1_input")    # "25500\\n", through the driver's own callbacks
    hwmon(k, "hwmon0").write("temp1_max", "30000")

The device is a class device of the generic driver core (``hwmon`` class,
``/sys/devices/.../<parent>/hwmon/hwmonN``, linked from
``/sys/class/hwmon/hwmonN``) and its attributes are files of the sysfs core
(:mod:`.sysfs`), so ``k.sysfs.read("/sys/class/hwmon/hwmon0/temp1_input")``
reads the same. Chip-info attributes are ``struct hwmon_device_attribute``
s in guest memory whose show/store are the hwmon core's own
(``hwmon_attr_show`` & co., services here) calling the driver's ops.
Devices go with ``hwmon_device_unregister`` or, for the ``devm_`` variants,
when the parent device is unbound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.errors import SandboxError
from sandbox.services import service

from ..memory import allocate, release
from . import devres, driver_core, sysfs
from .i2c import MANAGED_RELEASERS, I2cCore
from .layout import Fields, offset, size
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EOPNOTSUPP, PAGE_SIZE = 95, 4096
DEVICE_SIZE = size("device")
DEV_KOBJ_NAME = offset("device", "kobj.name")

# enum hwmon_sensor_types and each type's attribute names in enum order, as the 6.1 kernel's DWARF has them;
# "%d" is the channel (numbered from 0 for in and intrusion, from 1 for the rest); None: no attribute.
SENSOR_TYPES = ("chip", "temp", "in", "curr", "power", "energy", "humidity", "fan", "pwm", "intrusion")
_LIMITS = ("lcrit", "crit", "average", "lowest", "highest", "reset_history", "label", "alarm", "min_alarm",
           "max_alarm", "lcrit_alarm", "crit_alarm", "rated_min", "rated_max")
ATTRIBUTES: dict[str, tuple[str | None, ...]] = {
    "chip": ("temp_reset_history", "in_reset_history", "curr_reset_history", "power_reset_history", None,
             "update_interval", "alarms", "samples", "curr_samples", "in_samples", "power_samples", "temp_samples"),
    "temp": tuple(f"temp%d_{a}" for a in (
        "enable", "input", "type", "lcrit", "lcrit_hyst", "min", "min_hyst", "max", "max_hyst", "crit", "crit_hyst",
        "emergency", "emergency_hyst", "alarm", "lcrit_alarm", "min_alarm", "max_alarm", "crit_alarm",
        "emergency_alarm", "fault", "offset", "label", "lowest", "highest", "reset_history", "rated_min",
        "rated_max")),
    "in": tuple(f"in%d_{a}" for a in ("enable", "input", "min", "max", *_LIMITS)),
    "curr": tuple(f"curr%d_{a}" for a in ("enable", "input", "min", "max", *_LIMITS)),
    "power": tuple(f"power%d_{a}" for a in (
        "enable", "average", "average_interval", "average_interval_max", "average_interval_min", "average_highest",
        "average_lowest", "average_max", "average_min", "input", "input_highest", "input_lowest", "reset_history",
        "accuracy", "cap", "cap_hyst", "cap_max", "cap_min", "min", "max", "crit", "lcrit", "label", "alarm",
        "cap_alarm", "min_alarm", "max_alarm", "lcrit_alarm", "crit_alarm", "rated_min", "rated_max")),
    "energy": ("energy%d_enable", "energy%d_input", "energy%d_label"),
    "humidity": tuple(f"humidity%d_{a}" for a in (
        "enable", "input", "label", "min", "min_hyst", "max", "max_hyst", "alarm", "fault", "rated_min",
        "rated_max")),
    "fan": tuple(f"fan%d_{a}" for a in (
        "enable", "input", "label", "min", "max", "div", "pulses", "target", "alarm", "min_alarm", "max_alarm",
        "fault")),
    "pwm": ("pwm%d", "pwm%d_enable", "pwm%d_mode", "pwm%d_freq", "pwm%d_auto_channels_temp"),
    "intrusion": ("intrusion%d_alarm", "intrusion%d_beep"),
}


@dataclass(slots=True)
class HwmonDevice:
    """A registered hwmon device: ``hwmonN``, its struct device, the attribute files made for it."""

    index: int
    dev: int
    parent: int
    name: str
    drvdata: int
    owner: str
    ops: int = 0  # struct hwmon_ops of a chip-info registration
    blocks: list[int] = field(default_factory=list)  # the name, attribute structs the core allocated

    @property
    def device_name(self) -> str:
        """``hwmonN``."""
        return f"hwmon{self.index}"


# struct hwmon_device_attribute (drivers/hwmon/hwmon.c): the device_attribute sysfs calls, then what the
# shared show/store need to call the driver: ops, sensor type, attribute, channel, and the file's name.
HWATTR_OPS, HWATTR_TYPE, HWATTR_ATTR, HWATTR_INDEX, HWATTR_NAME = 16, 20, 24, 28, 32
HWATTR_SIZE = 64
MAX_ATTR_NAME = 32


class HwmonCore:
    """The hwmon class of one kernel: its ``struct class`` and the devices, by struct device address."""

    def __init__(self) -> None:
        self.devices: dict[int, HwmonDevice] = {}
        self.hwmon_class = 0

    def class_struct(self, k: Kernel) -> int:
        """The hwmon ``struct class`` (made, and /sys/class/hwmon with it, on first use)."""
        if not self.hwmon_class:
            cls = allocate(k, size("class"), owner="kernel")
            name = allocate(k, 6, owner="kernel")
            k.memory.write(name, b"hwmon\0")
            Fields(k.memory, "class", cls)["name"] = name
            sysfs.class_added(k, cls)
            self.hwmon_class = cls
        return self.hwmon_class

    def next_index(self) -> int:
        """The lowest free N of ``hwmonN`` (ida_alloc)."""
        used = {d.index for d in self.devices.values()}
        return next(n for n in range(len(used) + 1) if n not in used)

    def remove(self, k: Kernel, dev: int) -> None:
        """device_unregister: the attributes go with the device's sysfs directory, then the struct."""
        record = self.devices.pop(dev, None)
        if record is None:
            return
        k.trace.add("note", "hwmon", fields={"device": record.device_name, "removed": record.name})
        driver_core.delete_device(k, dev)
        driver_core.put(k, dev)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Devices a module registered without the devm_ variant and did not unregister."""
        leaks = []
        for record in [d for d in self.devices.values() if d.owner == module.name]:
            leaks.append(f"hwmon device {record.device_name} ({record.name}) still registered")
            self.remove(k, record.dev)
        return leaks


MANAGED_RELEASERS["hwmon"] = lambda k, dev: k.subsystem(HwmonCore).remove(k, dev)


def _free_blocks(k: Kernel, record: HwmonDevice) -> None:
    for block in record.blocks:
        release(k, block)
    record.blocks.clear()


def _new_device(k: Kernel, parent: int, name: int, drvdata: int) -> HwmonDevice | int:
    """The hwmonN struct device, a class device under ``parent`` (added by the caller)."""
    text = guest_string(k, name, 64) if name else ""
    if name and (not text or any(c in text for c in "-* \t\n")):
        k.console_write(f"hwmon: '{text}' is not a valid name attribute, please fix\n", 4)
    core = k.subsystem(HwmonCore)
    index = core.next_index()
    dev = allocate(k, DEVICE_SIZE, owner="kernel")
    if not dev:
        return -ENOMEM
    fields = Fields(k.memory, "device", dev)
    fields["parent"], fields["driver_data"], fields["class"] = parent, drvdata, core.class_struct(k)
    record = HwmonDevice(index, dev, parent, text, drvdata, owner_name(k))
    device = driver_core.initialize_device(k, dev, owner="kernel")
    device.on_release = lambda kernel, d: (_free_blocks(kernel, record), release(kernel, d))
    driver_core.set_name(k, dev, f"hwmon{index}".encode())
    return record


def _attribute(k: Kernel, record: HwmonDevice, name: str, mode: int, show: str, store: str | None,
               sensor: int = 0, attr: int = 0, channel: int = 0) -> int:
    """A struct hwmon_device_attribute whose show/store are the hwmon core's own."""
    block = allocate(k, HWATTR_SIZE, owner="kernel")
    record.blocks.append(block)
    k.memory.write(block + HWATTR_NAME, name.encode()[:MAX_ATTR_NAME - 1] + b"\0")
    fields = Fields(k.memory, "device_attribute", block)
    fields["attr.name"], fields["attr.mode"] = block + HWATTR_NAME, mode
    fields["show"] = k.export_address(show) or 0 if mode & 0o444 else 0
    fields["store"] = (k.export_address(store) or 0) if store and mode & 0o222 else 0
    k.memory.write_u32(block + HWATTR_OPS, record.ops)
    k.memory.write_u32(block + HWATTR_TYPE, sensor)
    k.memory.write_u32(block + HWATTR_ATTR, attr)
    k.memory.write_u32(block + HWATTR_INDEX, channel)
    return block


def _chip_attributes(k: Kernel, record: HwmonDevice, chip: int, drvdata: int) -> list[int] | int:
    """hwmon_genattrs: one attribute per config bit of each channel, kept if is_visible gives a mode."""
    ops = Fields(k.memory, "hwmon_chip_info", chip)["ops"]
    info = Fields(k.memory, "hwmon_chip_info", chip)["info"]
    callbacks = Fields(k.memory, "hwmon_ops", ops)
    record.ops = ops
    made = []
    for channel_info in sysfs.pointers(k, info, 64):
        sensor = Fields(k.memory, "hwmon_channel_info", channel_info)["type"]
        config = Fields(k.memory, "hwmon_channel_info", channel_info)["config"]
        if sensor >= len(SENSOR_TYPES):
            k.warn(f"hwmon: {record.name}: a channel info has unknown sensor type {sensor}")
            return -EINVAL
        templates = ATTRIBUTES[SENSOR_TYPES[sensor]]
        base = 0 if SENSOR_TYPES[sensor] in ("in", "intrusion") else 1
        for channel, bits in enumerate(sysfs.pointers(k, config, 256)):
            for attr in (a for a in range(32) if bits & (1 << a)):
                template = templates[attr] if attr < len(templates) else None
                if template is None:
                    continue
                mode = k.call_function_pointer(callbacks["is_visible"], drvdata, sensor, attr, channel) & 0xFFFF
                if not mode:
                    continue
                string = template.endswith("_label")
                reader = callbacks["read_string"] if string else callbacks["read"]
                if (mode & 0o444 and not reader) or (mode & 0o222 and not callbacks["write"]):
                    k.warn(f"hwmon: {record.name}: attribute {template} has mode {mode:o} without its callback")
                    return -EINVAL
                name = template.replace("%d", str(channel + base))
                made.append(_attribute(k, record, name, mode, "hwmon_attr_show_string" if string else
                                       "hwmon_attr_show", "hwmon_attr_store", sensor, attr, channel))
    return made


def _register(k: Kernel, parent: int, name: int, drvdata: int, chip: int, groups: int) -> int:
    """__hwmon_device_register: the device, its attributes (name, chip info's, the groups), added."""
    made = _new_device(k, parent, name, drvdata)
    if not isinstance(made, HwmonDevice):
        return err_ptr(-made)
    attributes = [_attribute(k, made, "name", 0o444, "hwmon_name_show", None)] if name else []
    if chip:
        generated = _chip_attributes(k, made, chip, drvdata)
        if isinstance(generated, int):
            driver_core.put(k, made.dev)
            return err_ptr(-generated)
        attributes += generated
    result = driver_core.add_device(k, made.dev)
    driver_core.core(k).devices[made.dev].owner = "kernel"  # hwmon (or the driver's devres) removes it
    if result:
        driver_core.put(k, made.dev)
        return err_ptr(-result)
    path = sysfs.tree(k).device_dirs[made.dev]
    for attr in attributes:
        sysfs.create_file(k, made.dev, attr, "device", made.dev, directory=path)
    if groups:
        sysfs.create_groups(k, made.dev, groups, "device", made.dev, path)
    k.subsystem(HwmonCore).devices[made.dev] = made
    k.trace.add("note", "hwmon", fields={"device": made.device_name, "name": made.name,
                                         "attributes": sorted(Hwmon(k, made).attributes)})
    return made.dev


# -- the hwmon core's own attribute callbacks (hwmon.c's static show/store) ---------------------------------

def _hwattr(k: Kernel, attr: int) -> tuple[Fields, int, int, int]:
    memory = k.memory
    ops = Fields(memory, "hwmon_ops", memory.read_u32(attr + HWATTR_OPS))
    return ops, memory.read_u32(attr + HWATTR_TYPE), memory.read_u32(attr + HWATTR_ATTR), \
        memory.read_u32(attr + HWATTR_INDEX)


def _emit(k: Kernel, buf: int, text: str) -> int:
    data = text.encode()[:PAGE_SIZE - 1]
    k.memory.write(buf, data + b"\0")
    return len(data)


@service("ssize_t hwmon_attr_show(struct device *dev, struct device_attribute *devattr, char *buf)")
def hwmon_attr_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """A chip-info attribute's read: ``ops->read(dev, type, attr, channel, &val)``, then ``"%ld\\n"``."""
    ops, sensor, which, channel = _hwattr(k, attr)
    scratch = allocate(k, 4, owner="kernel")
    try:
        result = signed32(k.call_function_pointer(ops["read"], dev, sensor, which, channel, scratch))
        if result < 0:
            return result
        return _emit(k, buf, f"{signed32(k.memory.read_u32(scratch))}\n")
    finally:
        release(k, scratch)


@service("ssize_t hwmon_attr_show_string(struct device *dev, struct device_attribute *devattr, char *buf)")
def hwmon_attr_show_string(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """A label: ``ops->read_string(dev, type, attr, channel, &str)``, then ``"%s\\n"``."""
    ops, sensor, which, channel = _hwattr(k, attr)
    scratch = allocate(k, 4, owner="kernel")
    try:
        result = signed32(k.call_function_pointer(ops["read_string"], dev, sensor, which, channel, scratch))
        if result < 0:
            return result
        return _emit(k, buf, guest_string(k, k.memory.read_u32(scratch), PAGE_SIZE - 2) + "\n")
    finally:
        release(k, scratch)


@service("ssize_t hwmon_attr_store(struct device *dev, struct device_attribute *devattr, const char *buf, "
         "size_t count)")
def hwmon_attr_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """A chip-info attribute's write: kstrtol(buf, 10), ``ops->write(dev, type, attr, channel, val)``; count."""
    ops, sensor, which, channel = _hwattr(k, attr)
    text = k.memory.read(buf, min(count, PAGE_SIZE)).split(b"\0", 1)[0].decode("ascii", "replace")
    text = text[:-1] if text.endswith("\n") else text
    try:
        value = int(text, 10)
    except ValueError:
        return -EINVAL
    if not -(1 << 31) <= value < 1 << 31:
        return -34  # -ERANGE
    result = signed32(k.call_function_pointer(ops["write"], dev, sensor, which, channel, value & 0xFFFFFFFF))
    return result if result < 0 else count


@service("ssize_t hwmon_name_show(struct device *dev, struct device_attribute *attr, char *buf)")
def hwmon_name_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """The ``name`` attribute: the name given at registration."""
    record = k.subsystem(HwmonCore).devices.get(dev)
    return _emit(k, buf, f"{record.name if record else ''}\n")


def _managed(k: Kernel, dev: int, result: int) -> int:
    if not is_err(result):
        k.subsystem(I2cCore).add_managed(k, dev, "hwmon", result)
    return result


@service("struct device *hwmon_device_register_with_info(struct device *dev, const char *name, void *drvdata, "
         "const struct hwmon_chip_info *info, const struct attribute_group **extra_groups)")
def hwmon_device_register_with_info(k: Kernel, dev: int, name: int, drvdata: int, info: int, groups: int) -> int:
    """A hwmon device whose attributes come from ``info`` (and ``extra_groups``); ERR_PTR(-EINVAL) if incomplete."""
    if not dev or not name or not info:
        return err_ptr(EINVAL)
    ops = Fields(k.memory, "hwmon_chip_info", info)["ops"]
    if not ops or not Fields(k.memory, "hwmon_ops", ops)["is_visible"] or not Fields(k.memory, "hwmon_chip_info",
                                                                                     info)["info"]:
        return err_ptr(EINVAL)
    return _register(k, dev, name, drvdata, info, groups)


@service("struct device *devm_hwmon_device_register_with_info(struct device *dev, const char *name, void *drvdata, "
         "const struct hwmon_chip_info *info, const struct attribute_group **extra_groups)")
def devm_hwmon_device_register_with_info(k: Kernel, dev: int, name: int, drvdata: int, info: int,
                                         groups: int) -> int:
    """hwmon_device_register_with_info, unregistered when ``dev`` is unbound."""
    return _managed(k, dev, hwmon_device_register_with_info(k, dev, name, drvdata, info, groups))


@service("struct device *hwmon_device_register_with_groups(struct device *dev, const char *name, void *drvdata, "
         "const struct attribute_group **groups)")
def hwmon_device_register_with_groups(k: Kernel, dev: int, name: int, drvdata: int, groups: int) -> int:
    """A hwmon device with the driver's own attribute groups; ERR_PTR(-EINVAL) without a name."""
    if not name:
        return err_ptr(EINVAL)
    return _register(k, dev, name, drvdata, 0, groups)


@service("struct device *devm_hwmon_device_register_with_groups(struct device *dev, const char *name, "
         "void *drvdata, const struct attribute_group **groups)")
def devm_hwmon_device_register_with_groups(k: Kernel, dev: int, name: int, drvdata: int, groups: int) -> int:
    """hwmon_device_register_with_groups, unregistered when ``dev`` is unbound."""
    if not dev:
        return err_ptr(EINVAL)
    return _managed(k, dev, hwmon_device_register_with_groups(k, dev, name, drvdata, groups))


@service("struct device *hwmon_device_register(struct device *dev)")
def hwmon_device_register(k: Kernel, dev: int) -> int:
    """The deprecated registration: a bare hwmonN (the driver puts its attributes on its own device)."""
    k.console_write(f"{_device_label(k, dev)}: hwmon_device_register() is deprecated. Please convert the driver to "
                    "use hwmon_device_register_with_info().\n", 4)
    return _register(k, dev, 0, 0, 0, 0)


@service("void hwmon_device_unregister(struct device *dev)")
def hwmon_device_unregister(k: Kernel, dev: int) -> None:
    """Remove a hwmon device and its attributes."""
    core = k.subsystem(HwmonCore)
    if dev not in core.devices:
        k.warn(f"hwmon_device_unregister: {dev:#x} is not a hwmon device")
        return
    core.remove(k, dev)


@service("void devm_hwmon_device_unregister(struct device *dev)")
def devm_hwmon_device_unregister(k: Kernel, dev: int) -> None:
    """Release the managed hwmon device of ``dev`` now (WARN if it has none)."""
    mine = [entry for entry in devres.table(k).of(dev) if entry.kind == "hwmon"]
    if not mine:
        k.warn(f"devm_hwmon_device_unregister: device {dev:#x} has no managed hwmon device")
        return
    devres.take(k, dev, "hwmon", mine[-1].value)
    k.subsystem(HwmonCore).remove(k, mine[-1].value)


@service("int hwmon_notify_event(struct device *dev, enum hwmon_sensor_types type, u32 attr, int channel)")
def hwmon_notify_event(k: Kernel, dev: int, sensor: int, attr: int, channel: int) -> int:
    """An alarm changed: pollers of the attribute's file are woken (sysfs_notify) and a ``change`` uevent
    carries ``NAME=<attribute>``; -EINVAL for a type or attribute the 6.1 templates do not have."""
    if sensor >= len(SENSOR_TYPES) or attr >= len(ATTRIBUTES[SENSOR_TYPES[sensor]]):
        return -EINVAL
    template = ATTRIBUTES[SENSOR_TYPES[sensor]][attr] or ""
    name = template.replace("%d", str(channel + (0 if SENSOR_TYPES[sensor] in ("in", "intrusion") else 1)))
    path = sysfs.tree(k).device_dirs.get(dev)
    if path is not None and f"{path}/{name}" in sysfs.tree(k).files:
        notified = sysfs.tree(k).notified
        notified[f"{path}/{name}"] = notified.get(f"{path}/{name}", 0) + 1
    if driver_core.send_uevent(k, dev, "change") == 0:
        driver_core.core(k).uevents[-1][1].append(f"NAME={name}")  # kobject_uevent_env's extra variable
    return 0


def _device_label(k: Kernel, dev: int) -> str:
    name = k.memory.read_u32(dev + DEV_KOBJ_NAME) if dev else 0
    return guest_string(k, name, 64) if name else "hwmon"


# -- from Python ---------------------------------------------------------------------------------------

class Hwmon:
    """A hwmon device seen from Python: its attribute files in sysfs, read and written as userspace does."""

    def __init__(self, k: Kernel, record: HwmonDevice) -> None:
        self.k = k
        self.record = record

    @property
    def name(self) -> str:
        """The ``name`` given at registration."""
        return self.record.name

    @property
    def path(self) -> str:
        """Its sysfs directory (``/sys/devices/.../hwmon/hwmonN``; ``/sys/class/hwmon/hwmonN`` links to it)."""
        return sysfs.tree(self.k).device_dirs[self.record.dev]

    @property
    def attributes(self) -> list[str]:
        """The attribute files (groups' subdirectories as ``group/file``), sorted."""
        prefix = self.path + "/"
        return sorted(p[len(prefix):] for p in sysfs.tree(self.k).files if p.startswith(prefix))

    def _entry(self, name: str) -> sysfs.Attribute:
        entry = sysfs.tree(self.k).files.get(f"{self.path}/{name}")
        if entry is None:
            raise sysfs.SysfsError(2, f"{self.record.device_name} has no attribute {name!r} (has: "
                                      f"{', '.join(self.attributes) or 'none'})")
        return entry

    def read(self, name: str) -> str:
        """The text a read of the attribute returns (``"25500\\n"``); SysfsError with the driver's errno."""
        entry = self._entry(name)
        if not entry.mode & 0o444:
            raise sysfs.SysfsError(13, f"{self.record.device_name}/{name} is not readable")  # EACCES
        return sysfs.show(self.k, entry).decode("utf-8", "replace")

    def write(self, name: str, text: str) -> int:
        """Write ``text`` to the attribute; the count the driver accepted, or SysfsError with its errno."""
        entry = self._entry(name)
        if not entry.mode & 0o222:
            raise sysfs.SysfsError(13, f"{self.record.device_name}/{name} is not writable")  # EACCES
        return sysfs.store(self.k, entry, text.encode())


def hwmon_devices(k: Kernel) -> list[Hwmon]:
    """Every registered hwmon device, in hwmonN order."""
    return [Hwmon(k, r) for r in sorted(k.subsystem(HwmonCore).devices.values(), key=lambda r: r.index)]


def hwmon(k: Kernel, which: str | int = 0) -> Hwmon:
    """A hwmon device by ``"hwmonN"``, by N, or by its name attribute (``"lm73"``)."""
    for device in hwmon_devices(k):
        record = device.record
        if which in (record.index, record.device_name, record.name):
            return device
    names = ", ".join(f"{d.record.device_name} ({d.name})" for d in hwmon_devices(k)) or "none"
    raise SandboxError(f"no hwmon device {which!r} (registered: {names})")
