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

The attributes are kept in a record of their own (the sysfs tree is not
modelled here yet); devices go with ``hwmon_device_unregister`` or, for the
``devm_`` variants, when the parent device is unbound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.errors import DeviceError, SandboxError
from sandbox.services import service

from ..memory import allocate, release
from . import devres
from .i2c import MANAGED_RELEASERS, I2cCore
from .layout import Fields, offset, size
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EOPNOTSUPP, PAGE_SIZE = 95, 4096
DEVICE_SIZE = size("device")
DEV_DRIVER_DATA, DEV_PARENT, DEV_KOBJ = offset("device", "driver_data"), offset("device", "parent"), offset("device", "kobj")
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
class HwmonAttribute:
    """One attribute file of a hwmon device."""

    name: str
    mode: int
    kind: str  # "name", "info" (chip info: ops->read/write), "group" (a driver's device_attribute)
    address: int = 0  # the struct device_attribute ("group")
    sensor: int = 0  # enum hwmon_sensor_types ("info")
    attr: int = 0  # the attribute's enum value ("info")
    channel: int = 0
    string: bool = False  # a label: read_string


@dataclass(slots=True)
class HwmonDevice:
    """A registered hwmon device: ``hwmonN``, its struct device, its attributes by name."""

    index: int
    dev: int
    parent: int
    name: str
    drvdata: int
    owner: str
    ops: int = 0  # struct hwmon_ops of a chip-info registration
    attributes: dict[str, HwmonAttribute] = field(default_factory=dict)
    blocks: list[int] = field(default_factory=list)

    @property
    def device_name(self) -> str:
        """``hwmonN``."""
        return f"hwmon{self.index}"


class HwmonCore:
    """The hwmon class of one kernel: devices by struct device address."""

    def __init__(self) -> None:
        self.devices: dict[int, HwmonDevice] = {}

    def next_index(self) -> int:
        """The lowest free N of ``hwmonN`` (ida_alloc)."""
        used = {d.index for d in self.devices.values()}
        return next(n for n in range(len(used) + 1) if n not in used)

    def remove(self, k: Kernel, dev: int) -> None:
        """Unregister and free one device."""
        record = self.devices.pop(dev, None)
        if record is None:
            return
        k.trace.add("note", "hwmon", fields={"device": record.device_name, "removed": record.name})
        for block in record.blocks:
            release(k, block)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Devices a module registered without the devm_ variant and did not unregister."""
        leaks = []
        for record in [d for d in self.devices.values() if d.owner == module.name]:
            leaks.append(f"hwmon device {record.device_name} ({record.name}) still registered")
            self.remove(k, record.dev)
        return leaks


MANAGED_RELEASERS["hwmon"] = lambda k, dev: k.subsystem(HwmonCore).remove(k, dev)


def _new_device(k: Kernel, parent: int, name: int, drvdata: int) -> HwmonDevice | int:
    text = guest_string(k, name, 64) if name else ""
    if name and (not text or any(c in text for c in "-* \t\n")):
        k.console_write(f"hwmon: '{text}' is not a valid name attribute, please fix\n", 4)
    core = k.subsystem(HwmonCore)
    index = core.next_index()
    dev = allocate(k, DEVICE_SIZE, owner="kernel")
    label = allocate(k, 16, owner="kernel")
    if not dev or not label:
        return -ENOMEM
    k.memory.write(label, f"hwmon{index}".encode() + b"\0")
    fields = Fields(k.memory, "device", dev)
    fields["parent"], fields["driver_data"], fields["kobj.name"] = parent, drvdata, label
    fields["kobj.kref"] = 1
    record = HwmonDevice(index, dev, parent, text, drvdata, owner_name(k), blocks=[dev, label])
    if name:
        record.attributes["name"] = HwmonAttribute("name", 0o444, "name")
    return record


def _add_groups(k: Kernel, record: HwmonDevice, groups: int) -> None:
    """The driver's attribute groups: each attribute shown unless the group's is_visible says 0."""
    if not groups:
        return
    for group in k.memory.array(groups, 64, 4, "attribute group list"):
        group = k.memory.read_u32(group)
        if not group:
            break
        fields = Fields(k.memory, "attribute_group", group)
        attrs, is_visible = fields["attrs"], fields["is_visible"]
        prefix = guest_string(k, fields["name"], 64)
        for index in range(1024):
            attr = k.memory.read_u32(attrs + 4 * index) if attrs else 0
            if not attr:
                break
            attribute = Fields(k.memory, "attribute", attr)
            mode = attribute["mode"]
            if is_visible:
                mode = k.call_function_pointer(is_visible, record.dev + DEV_KOBJ, attr, index) & 0xFFFF
                if not mode:
                    continue
            name = guest_string(k, attribute["name"], 64)
            full = f"{prefix}/{name}" if prefix else name
            record.attributes[full] = HwmonAttribute(full, mode, "group", address=attr)


def _add_chip_info(k: Kernel, record: HwmonDevice, chip: int, drvdata: int) -> int:
    """Attributes from hwmon_chip_info: one per config bit of each channel, kept if is_visible gives a mode."""
    ops = Fields(k.memory, "hwmon_chip_info", chip)["ops"]
    info = Fields(k.memory, "hwmon_chip_info", chip)["info"]
    callbacks = Fields(k.memory, "hwmon_ops", ops)
    is_visible = callbacks["is_visible"]
    record.ops = ops
    for slot in range(64):
        channel_info = k.memory.read_u32(info + 4 * slot)
        if not channel_info:
            break
        sensor = Fields(k.memory, "hwmon_channel_info", channel_info)["type"]
        config = Fields(k.memory, "hwmon_channel_info", channel_info)["config"]
        if sensor >= len(SENSOR_TYPES):
            k.warn(f"hwmon: {record.name}: channel info {slot} has unknown sensor type {sensor}")
            return -EINVAL
        templates = ATTRIBUTES[SENSOR_TYPES[sensor]]
        base = 0 if SENSOR_TYPES[sensor] in ("in", "intrusion") else 1
        for channel in range(256):
            bits = k.memory.read_u32(config + 4 * channel)
            if not bits:
                break
            for attr in range(32):
                if not bits & (1 << attr):
                    continue
                template = templates[attr] if attr < len(templates) else None
                if template is None:
                    continue
                mode = k.call_function_pointer(is_visible, drvdata, sensor, attr, channel) & 0xFFFF
                if not mode:
                    continue
                string = template.endswith("_label")
                reader = callbacks["read_string"] if string else callbacks["read"]
                if (mode & 0o444 and not reader) or (mode & 0o222 and not callbacks["write"]):
                    k.warn(f"hwmon: {record.name}: attribute {template} has mode {mode:o} without its callback")
                    return -EINVAL
                name = template.replace("%d", str(channel + base))
                record.attributes[name] = HwmonAttribute(name, mode, "info", sensor=sensor, attr=attr,
                                                         channel=channel, string=string)
    return 0


def _register(k: Kernel, parent: int, name: int, drvdata: int, chip: int, groups: int) -> int:
    made = _new_device(k, parent, name, drvdata)
    if not isinstance(made, HwmonDevice):
        return err_ptr(-made)
    if chip:
        result = _add_chip_info(k, made, chip, drvdata)
        if result:
            for block in made.blocks:
                release(k, block)
            return err_ptr(-result)
    _add_groups(k, made, groups)
    k.subsystem(HwmonCore).devices[made.dev] = made
    k.trace.add("note", "hwmon", fields={"device": made.device_name, "name": made.name,
                                         "attributes": sorted(made.attributes)})
    return made.dev


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


def _device_label(k: Kernel, dev: int) -> str:
    name = k.memory.read_u32(dev + DEV_KOBJ_NAME) if dev else 0
    return guest_string(k, name, 64) if name else "hwmon"


# -- from Python -------------------------------------------------------------------------------------

class Hwmon:
    """A hwmon device seen from Python: read and write its attributes as userspace would."""

    def __init__(self, k: Kernel, record: HwmonDevice) -> None:
        self.k = k
        self.record = record

    @property
    def name(self) -> str:
        """The ``name`` attribute's value (without the newline)."""
        return self.record.name

    @property
    def attributes(self) -> list[str]:
        """The attribute names, sorted."""
        return sorted(self.record.attributes)

    def _attribute(self, name: str) -> HwmonAttribute:
        try:
            return self.record.attributes[name]
        except KeyError:
            raise DeviceError(f"{self.record.device_name} has no attribute {name!r} (has: "
                              f"{', '.join(self.attributes) or 'none'})", 2) from None

    def read(self, name: str) -> str:
        """The text a read of the attribute returns (``"25500\\n"``); DeviceError with the driver's errno."""
        attribute = self._attribute(name)
        if not attribute.mode & 0o444:
            raise DeviceError(f"{self.record.device_name}/{name} is not readable", 13)
        if attribute.kind == "name":
            return f"{self.record.name}\n"
        k = self.k
        scratch = allocate(k, PAGE_SIZE, owner="kernel")
        try:
            if attribute.kind == "group":
                show = Fields(k.memory, "device_attribute", attribute.address)["show"]
                if not show:
                    raise DeviceError(f"{self.record.device_name}/{name} has no show", 5)
                result = signed32(k.call_function_pointer(show, self.record.dev, attribute.address, scratch))
                if result < 0:
                    raise DeviceError(f"reading {self.record.device_name}/{name}: error {result}", -result)
                return k.memory.read(scratch, min(result, PAGE_SIZE)).decode("utf-8", "replace")
            ops = Fields(k.memory, "hwmon_ops", self.record.ops)
            reader = ops["read_string"] if attribute.string else ops["read"]
            result = signed32(k.call_function_pointer(reader, self.record.dev, attribute.sensor, attribute.attr,
                                                      attribute.channel, scratch))
            if result < 0:
                raise DeviceError(f"reading {self.record.device_name}/{name}: error {result}", -result)
            if attribute.string:
                return guest_string(k, k.memory.read_u32(scratch), PAGE_SIZE) + "\n"
            return f"{signed32(k.memory.read_u32(scratch))}\n"
        finally:
            release(k, scratch)

    def write(self, name: str, text: str) -> int:
        """Write ``text`` to the attribute; the count the driver accepted, or DeviceError with its errno."""
        attribute = self._attribute(name)
        if not attribute.mode & 0o222:
            raise DeviceError(f"{self.record.device_name}/{name} is not writable", 13)
        k = self.k
        data = text.encode()
        if attribute.kind == "group":
            store = Fields(k.memory, "device_attribute", attribute.address)["store"]
            scratch = allocate(k, PAGE_SIZE, owner="kernel")
            try:
                k.memory.write(scratch, data[:PAGE_SIZE - 1] + b"\0")
                result = signed32(k.call_function_pointer(store, self.record.dev, attribute.address, scratch,
                                                          len(data)))
            finally:
                release(k, scratch)
        else:
            try:
                value = int(text.strip(), 10)
            except ValueError:
                raise DeviceError(f"{self.record.device_name}/{name}: {text!r} is not a number", EINVAL) from None
            ops = Fields(k.memory, "hwmon_ops", self.record.ops)
            result = signed32(k.call_function_pointer(ops["write"], self.record.dev, attribute.sensor, attribute.attr,
                                                      attribute.channel, value & 0xFFFFFFFF))
            result = len(data) if result == 0 else result
        if result < 0:
            raise DeviceError(f"writing {self.record.device_name}/{name}: error {result}", -result)
        return result


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
