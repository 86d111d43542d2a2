"""The LED class (drivers/leds/led-class.c, led-core.c) as Linux 6.1 has it, without triggers.

``led_classdev_register_ext(parent, led_cdev, init_data)`` names the LED
(``init_data``'s ``devicename:default_label`` when given, else
``led_cdev->name``; a taken name gets ``_1``, ``_2``... with Linux's
warning), makes it a device of the ``leds`` class under its parent, and
gives it the class's attributes: ``brightness`` (read: ``brightness_get``
if the driver has one, else the last value set; write: a decimal value,
clamped to ``max_brightness``, passed to ``brightness_set`` or
``brightness_set_blocking``), ``max_brightness`` (255 unless the driver set
it) and ``trigger`` (``none`` and the triggers modules registered, the
current one in brackets; writing a name attaches the LED to that trigger
and calls its ``activate``, and ``led_trigger_event`` then sets every LED
that follows it). Unregistering turns the LED off unless the
driver asked ``LED_RETAIN_AT_SHUTDOWN``; the ``devm_`` form does that at
unbind. The attribute callbacks are kernel functions of this profile
(``__sandbox_led_*``), so ``Kernel.sysfs.read("/sys/class/leds/<name>/brightness")``
and ``.write(...)`` go through the same path a shell's ``echo`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from ..memory import allocate
from . import devres, driver_core, sysfs
from .device import CLASS_NAME, CLASS_SIZE, DeviceClasses
from .layout import Fields, offset
from .registrations import EINVAL, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

LED_FULL = 255
LED_UNREGISTERING, LED_RETAIN_AT_SHUTDOWN = 1 << 1, 1 << 22
ENOTSUPP = 524
LED_NAME_MAX = 64
_ATTRIBUTES = (("brightness", 0o644), ("max_brightness", 0o444), ("trigger", 0o644))


@dataclass(slots=True)
class Led:
    """A registered LED: its classdev, the class device, who registered it."""

    cdev: int
    dev: int
    name: str
    owner: str


class LedClass:
    """The leds class of one kernel and its registered LEDs, by struct led_classdev."""

    def __init__(self) -> None:
        self.cls = 0
        self.leds: dict[int, Led] = {}
        self.following: dict[int, int] = {}  # led_classdev -> the led_trigger it follows

    def clone(self) -> LedClass:
        twin = LedClass()
        twin.cls, twin.leds = self.cls, {c: Led(l.cdev, l.dev, l.name, l.owner) for c, l in self.leds.items()}
        twin.following = dict(self.following)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """LEDs a module left registered (not managed): unregistered and reported."""
        leaks = []
        for led in [led for led in self.leds.values() if led.owner == module.name]:
            leaks.append(f"LED {led.name} still registered")
            _unregister(k, led.cdev, call_driver=False)
        return leaks


def _class(k: Kernel) -> int:
    """The leds class, made on first use with its three attributes as the class's dev_groups."""
    state = k.subsystem(LedClass)
    if state.cls:
        return state.cls
    name = allocate(k, 5, owner="kernel")
    k.memory.write(name, b"leds\0")
    # The kernel's own class (leds_class is static in led-class.c): made here, not by __class_create,
    # which keeps the built-in class names from modules.
    cls = allocate(k, CLASS_SIZE, owner="kernel")
    k.memory.write_u32(cls + CLASS_NAME, name)
    entry = k.subsystem(DeviceClasses).add(k, "class", cls, "leds", owner=0)
    entry.owner = "kernel"  # made on a module's first LED, but it is the kernel's for good
    sysfs.class_added(k, cls)
    groups = sysfs.kernel_device_groups(k, _ATTRIBUTES, "__sandbox_led_")
    Fields(k.memory, "class", cls)["dev_groups"] = groups
    state.cls = cls
    return cls


def _led_of(k: Kernel, dev: int) -> Fields:
    return Fields(k.memory, "led_classdev", Fields(k.memory, "device", dev)["driver_data"])


def _emit(k: Kernel, buf: int, text: str) -> int:
    data = text.encode()
    k.memory.write(buf, data)
    return len(data)


def _update_brightness(k: Kernel, led: Fields) -> None:
    """led_update_brightness: ask the hardware if the driver can."""
    if led["brightness_get"]:
        value = signed32(k.call_function_pointer(led["brightness_get"], led.address))
        if value >= 0:
            led["brightness"] = value


def set_brightness(k: Kernel, cdev: int, value: int) -> int:
    """led_set_brightness: clamp, record, then the driver's setter; 0 or the blocking setter's error."""
    led = Fields(k.memory, "led_classdev", cdev)
    value = max(0, min(value, led["max_brightness"]))
    led["brightness"] = value
    if led["brightness_set"]:
        k.call_function_pointer(led["brightness_set"], cdev, value)
        return 0
    if led["brightness_set_blocking"]:
        return signed32(k.call_function_pointer(led["brightness_set_blocking"], cdev, value))
    return -ENOTSUPP


@service("ssize_t __sandbox_led_brightness_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_led_brightness_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """brightness_show: the current brightness, asked of the hardware when the driver can."""
    led = _led_of(k, dev)
    _update_brightness(k, led)
    return _emit(k, buf, f"{led['brightness']}\n")


@service("ssize_t __sandbox_led_brightness_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t size)")
def __sandbox_led_brightness_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """brightness_store: a decimal value (kstrtoul), clamped and set; -EINVAL for anything else."""
    text = k.memory.read_cstring(buf, min(count, 64)).decode("latin-1").strip()
    if not text.isdigit():
        return -EINVAL
    led = _led_of(k, dev)
    result = set_brightness(k, led.address, int(text))
    if result:
        name = driver_core.device_name(k, dev)
        k.console_write(f"leds {name}: Setting an LED's brightness failed ({result})\n", 3)
    return count


@service("ssize_t __sandbox_led_max_brightness_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_led_max_brightness_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """max_brightness_show."""
    return _emit(k, buf, f"{_led_of(k, dev)['max_brightness']}\n")


def _triggers(k: Kernel) -> dict[int, str]:
    """The registered LED triggers (led_trigger_register): struct led_trigger -> name."""
    from .extensions import Extensions

    return {e.address: e.name for e in k.subsystem(Extensions).entries.values() if e.kind == "led trigger"}


def _trigger_of(k: Kernel, cdev: int) -> int:
    trig = k.subsystem(LedClass).following.get(cdev, 0)
    return trig if trig in _triggers(k) else 0


def _detach(k: Kernel, cdev: int) -> None:
    """led_trigger_remove: the trigger's deactivate, then the LED off."""
    trig = k.subsystem(LedClass).following.pop(cdev, 0)
    if not trig:
        return
    Fields(k.memory, "led_classdev", cdev)["trigger"] = 0
    deactivate = k.memory.read_u32(trig + offset("led_trigger", "deactivate"))
    if deactivate and trig in _triggers(k):
        k.call_function_pointer(deactivate, cdev)
    set_brightness(k, cdev, 0)


@service("ssize_t __sandbox_led_trigger_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_led_trigger_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """led_trigger_read: ``none`` and every registered trigger, the current one in brackets."""
    current = _trigger_of(k, Fields(k.memory, "device", dev)["driver_data"])
    words = ["[none]" if not current else "none"]
    words += [f"[{name}]" if trig == current else name for trig, name in _triggers(k).items()]
    return _emit(k, buf, " ".join(words) + " \n")


@service("ssize_t __sandbox_led_trigger_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t size)")
def __sandbox_led_trigger_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """led_trigger_write: ``none`` detaches; a registered name attaches (its activate runs); else -EINVAL."""
    text = k.memory.read_cstring(buf, min(count, 64)).decode("latin-1").strip()
    cdev = Fields(k.memory, "device", dev)["driver_data"]
    if text == "none":
        _detach(k, cdev)
        return count
    trig = next((t for t, name in _triggers(k).items() if name == text), 0)
    if not trig:
        return -EINVAL
    _detach(k, cdev)
    k.subsystem(LedClass).following[cdev] = trig
    Fields(k.memory, "led_classdev", cdev)["trigger"] = trig
    activate = k.memory.read_u32(trig + offset("led_trigger", "activate"))
    if activate:
        result = signed32(k.call_function_pointer(activate, cdev))
        if result:
            k.subsystem(LedClass).following.pop(cdev, None)
            Fields(k.memory, "led_classdev", cdev)["trigger"] = 0
            return result
    return count


@service("void led_trigger_event(struct led_trigger *trig, enum led_brightness brightness)")
def led_trigger_event(k: Kernel, trig: int, brightness: int) -> None:
    """Set every LED following the trigger to ``brightness``."""
    for cdev, followed in list(k.subsystem(LedClass).following.items()):
        if followed == trig:
            set_brightness(k, cdev, brightness)


def _compose_name(k: Kernel, cdev: int, init_data: int) -> str:
    """led_compose_name without firmware nodes: devicename:default_label, else led_cdev->name."""
    if init_data:
        data = Fields(k.memory, "led_init_data", init_data)
        label = guest_string(k, data["default_label"], LED_NAME_MAX) if data["default_label"] else ""
        device = guest_string(k, data["devicename"], LED_NAME_MAX) if data["devicename"] else ""
        if label:
            return f"{device}:{label}" if device else label
    return guest_string(k, Fields(k.memory, "led_classdev", cdev)["name"], LED_NAME_MAX)


@service("int led_classdev_register_ext(struct device *parent, struct led_classdev *led_cdev, "
         "struct led_init_data *init_data)")
def led_classdev_register_ext(k: Kernel, parent: int, cdev: int, init_data: int) -> int:
    """Register the LED as a device of the leds class: 0, or -errno from the device's creation."""
    state = k.subsystem(LedClass)
    wanted = _compose_name(k, cdev, init_data)
    if not wanted:
        return -EINVAL
    taken = {led.name for led in state.leds.values()}
    name, n = wanted, 0
    while name in taken:
        n += 1
        name = f"{wanted}_{n}"
    if name != wanted and parent:
        k.console_write(f"{driver_core.device_name(k, parent)}: Led {wanted} renamed to {name} due to name "
                        "collision\n", 4)
    led = Fields(k.memory, "led_classdev", cdev)
    if not led["max_brightness"]:
        led["max_brightness"] = LED_FULL
    led["brightness"] = min(led["brightness"], led["max_brightness"])
    dev = driver_core.create_device(k, _class(k), parent, 0, cdev, led["groups"], name.encode())
    if is_err(dev):
        return signed32(dev)
    led["dev"] = dev
    module = k.caller_module()
    state.leds[cdev] = Led(cdev, dev, name, module.name if module is not None else "kernel")
    _update_brightness(k, led)
    k.trace.add("note", "led", fields={"name": name, "max_brightness": led["max_brightness"]})
    return 0


def _unregister(k: Kernel, cdev: int, call_driver: bool = True) -> None:
    record = k.subsystem(LedClass).leds.pop(cdev, None)
    if record is None:
        return
    led = Fields(k.memory, "led_classdev", cdev)
    led["flags"] = led["flags"] | LED_UNREGISTERING
    if call_driver:
        _detach(k, cdev)
    else:
        k.subsystem(LedClass).following.pop(cdev, None)
    if call_driver and not led["flags"] & LED_RETAIN_AT_SHUTDOWN:
        set_brightness(k, cdev, 0)
    driver_core.delete_device(k, record.dev)
    driver_core.put(k, record.dev)
    led["dev"] = 0


@service("void led_classdev_unregister(struct led_classdev *led_cdev)")
def led_classdev_unregister(k: Kernel, cdev: int) -> None:
    """Turn the LED off (unless LED_RETAIN_AT_SHUTDOWN) and remove its class device."""
    _unregister(k, cdev)


@service("int devm_led_classdev_register_ext(struct device *parent, struct led_classdev *led_cdev, "
         "struct led_init_data *init_data)")
def devm_led_classdev_register_ext(k: Kernel, parent: int, cdev: int, init_data: int) -> int:
    """led_classdev_register_ext, unregistered when ``parent``'s driver unbinds."""
    result = led_classdev_register_ext(k, parent, cdev, init_data)
    if result == 0:
        devres.add(k, parent, "led", cdev, release_fn=lambda k: _unregister(k, cdev))
    return result


@service("void devm_led_classdev_unregister(struct device *parent, struct led_classdev *led_cdev)")
def devm_led_classdev_unregister(k: Kernel, parent: int, cdev: int) -> None:
    """Unregister a managed LED early."""
    if devres.take(k, parent, "led", cdev) is not None:
        _unregister(k, cdev)


@service("void led_set_brightness(struct led_classdev *led_cdev, unsigned int brightness)")
def led_set_brightness(k: Kernel, cdev: int, brightness: int) -> None:
    """Set the brightness (clamped to max_brightness)."""
    set_brightness(k, cdev, brightness)


@service("void led_set_brightness_nosleep(struct led_classdev *led_cdev, unsigned int value)")
def led_set_brightness_nosleep(k: Kernel, cdev: int, value: int) -> None:
    """As led_set_brightness (a blocking setter runs as the work Linux would queue)."""
    set_brightness(k, cdev, value)


@service("int led_set_brightness_sync(struct led_classdev *led_cdev, unsigned int value)")
def led_set_brightness_sync(k: Kernel, cdev: int, value: int) -> int:
    """Only through a blocking setter: its result, or -ENOTSUPP without one."""
    led = Fields(k.memory, "led_classdev", cdev)
    if not led["brightness_set_blocking"]:
        return -ENOTSUPP
    led["brightness"] = max(0, min(value, led["max_brightness"]))
    return signed32(k.call_function_pointer(led["brightness_set_blocking"], cdev, led["brightness"]))


@service("int led_update_brightness(struct led_classdev *led_cdev)")
def led_update_brightness(k: Kernel, cdev: int) -> int:
    """Refresh ``brightness`` from the driver's brightness_get; its error if it fails."""
    led = Fields(k.memory, "led_classdev", cdev)
    if not led["brightness_get"]:
        return 0
    value = signed32(k.call_function_pointer(led["brightness_get"], cdev))
    if value < 0:
        return value
    led["brightness"] = value
    return 0


def leds(k: Kernel) -> dict[str, int]:
    """The registered LEDs by name: their struct led_classdev (read ``brightness`` with Fields)."""
    return {led.name: led.cdev for led in k.subsystem(LedClass).leds.values()}
