"""Device classes (drivers/base/class.c), Linux 6.1 i386.

``class_create()`` is a macro around ``__class_create``: it allocates a
``struct class`` (name 0, owner 4, ..., class_release 28; 60 bytes on
i386), registers it under /sys/class and returns it, or an ERR_PTR. A class
name may exist once (kset_register fails with -EEXIST). Classes still
registered when their module unloads are reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import sysfs
from .registrations import EEXIST, ENOMEM, Registry, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

CLASS_SIZE = 60
CLASS_NAME, CLASS_OWNER = 0, 4
# Classes the built-in parts of Debian's kernel register at boot ("watchdog" and "usbmon" are not:
# watchdog.ko, usbmon.ko and libphy.ko (mdio_bus) register them, and fail with -EEXIST if they are
# already there).
BUILTIN_CLASSES = ("mem", "misc", "tty", "vc", "input", "net", "graphics", "block", "bdi", "dma", "rtc", "thermal",
                   "power_supply", "firmware", "pci_bus", "leds", "hwmon")


class DeviceClasses(Registry):
    """Registered classes, keyed by the struct class the kernel allocated."""

    def __init__(self) -> None:
        super().__init__()
        self.builtin: dict[str, int] = {}  # the kernel's own classes made so far (misc, ...), by name

    def clone(self) -> DeviceClasses:
        """A copy for snapshots (the built-in classes too)."""
        twin = super().clone()
        twin.builtin = dict(self.builtin)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Classes the module created and did not destroy (their structs are freed)."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"class {entry.name!r} still registered")
                sysfs.class_removed(k, address)
                del self.entries[address]
                if entry.kind == "class":  # class_create's struct is the kernel's; a static class is the module's
                    k.memory.free(address)
        return leaks


@service("struct class *__class_create(struct module *owner, const char *name, struct lock_class_key *key)")
def __class_create(k: Kernel, owner: int, name: int, key: int) -> int:
    """Allocate and register a class; ERR_PTR(-EEXIST) for a name in use."""
    text = guest_string(k, name, 128)
    registry = k.subsystem(DeviceClasses)
    if text in BUILTIN_CLASSES or registry.find(text, "class"):
        k.console_write(f"sysfs: cannot create duplicate filename '/class/{text}'\n", 3)
        return err_ptr(EEXIST)
    cls = k.memory.alloc(CLASS_SIZE)
    if not cls:
        return err_ptr(ENOMEM)
    k.memory.write_u32(cls + CLASS_NAME, name)
    k.memory.write_u32(cls + CLASS_OWNER, owner)
    registry.add(k, "class", cls, text, owner=owner)
    sysfs.class_added(k, cls)
    return cls


def builtin_class(k: Kernel, name: str) -> int:
    """The struct class of one of the kernel's own classes (``misc``, ...), made on first use; 0 without memory."""
    registry = k.subsystem(DeviceClasses)
    cls = registry.builtin.get(name, 0)
    if cls:
        return cls
    cls = k.memory.alloc(CLASS_SIZE)
    text = k.memory.alloc(len(name) + 1)
    if not cls or not text:
        return 0
    k.memory.write(text, name.encode() + b"\0")
    k.memory.write_u32(cls + CLASS_NAME, text)
    registry.builtin[name] = cls
    sysfs.class_added(k, cls)
    return cls


@service("void class_destroy(struct class *cls)")
def class_destroy(k: Kernel, cls: int) -> None:
    """Unregister and free a class made by class_create (NULL and ERR_PTR are ignored, as Linux)."""
    if not cls or is_err(cls):
        return
    if k.subsystem(DeviceClasses).remove(k, cls, "class") is not None:
        sysfs.class_removed(k, cls)
        k.memory.free(cls)


@service("int __class_register(struct class *cls, struct lock_class_key *key)")
def __class_register(k: Kernel, cls: int, key: int) -> int:
    """class_register(): a class struct the module owns; -EEXIST for a name in use."""
    text = guest_string(k, k.memory.read_u32(cls + CLASS_NAME), 128)
    registry = k.subsystem(DeviceClasses)
    if text in BUILTIN_CLASSES or registry.find(text, "class") or registry.find(text, "static class"):
        k.console_write(f"sysfs: cannot create duplicate filename '/class/{text}'\n", 3)
        return -EEXIST
    registry.add(k, "static class", cls, text)
    return sysfs.class_added(k, cls)


@service("void class_unregister(struct class *cls)")
def class_unregister(k: Kernel, cls: int) -> None:
    """Undo class_register (the struct is the module's); the class's kset goes, and with it
    (drivers/base/class.c class_release) the class's own ``class_release(cls)`` runs."""
    if k.subsystem(DeviceClasses).remove(k, cls, "static class") is not None:
        sysfs.class_removed(k, cls)
        from .layout import offset

        release = k.memory.read_u32(cls + offset("class", "class_release"))
        if release:
            k.call_function_pointer(release, cls)


# -- class interfaces (drivers/base/class.c): told of every device of a class, now and later ----------
class ClassInterfaces:
    """Registered ``struct class_interface``s, in order, by class."""

    def __init__(self) -> None:
        self.by_class: dict[int, list[int]] = {}

    def clone(self) -> ClassInterfaces:
        twin = ClassInterfaces()
        twin.by_class = {c: list(v) for c, v in self.by_class.items()}
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Interfaces of ``module`` still registered at unload: dropped and reported."""
        leaks = []
        for interfaces in self.by_class.values():
            for intf in list(interfaces):
                if k.module_at(intf) is module:
                    leaks.append(f"class interface {k.symbolizer.short(intf)} still registered")
                    interfaces.remove(intf)
        return leaks


def _class_devices(k: Kernel, cls: int) -> list[int]:
    from .driver_core import core
    from .layout import offset

    return [d for d, record in core(k).devices.items()
            if record.added and k.memory.read_u32(d + offset("device", "class")) == cls]


def class_device_event(k: Kernel, dev: int, added: bool) -> None:
    """device_add/device_del of a class device: each interface's add_dev / remove_dev."""
    from .layout import offset

    cls = k.memory.read_u32(dev + offset("device", "class"))
    for intf in list(k.subsystem(ClassInterfaces).by_class.get(cls, ())):
        fn = k.memory.read_u32(intf + offset("class_interface", "add_dev" if added else "remove_dev"))
        if fn:
            k.call_function_pointer(fn, dev, intf)


@service("int class_interface_register(struct class_interface *class_intf)")
def class_interface_register(k: Kernel, class_intf: int) -> int:
    """Register the interface on its class and call its add_dev for each device already there:
    0, or -ENODEV without a class."""
    from .layout import offset

    cls = k.memory.read_u32(class_intf + offset("class_interface", "class"))
    if not cls:
        return -19
    k.subsystem(ClassInterfaces).by_class.setdefault(cls, []).append(class_intf)
    add_dev = k.memory.read_u32(class_intf + offset("class_interface", "add_dev"))
    if add_dev:
        for dev in _class_devices(k, cls):
            k.call_function_pointer(add_dev, dev, class_intf)
    return 0


@service("void class_interface_unregister(struct class_interface *class_intf)")
def class_interface_unregister(k: Kernel, class_intf: int) -> None:
    """Take the interface off its class, calling its remove_dev for each device of the class."""
    from .layout import offset

    cls = k.memory.read_u32(class_intf + offset("class_interface", "class"))
    interfaces = k.subsystem(ClassInterfaces).by_class.get(cls, [])
    if class_intf not in interfaces:
        return
    interfaces.remove(class_intf)
    remove_dev = k.memory.read_u32(class_intf + offset("class_interface", "remove_dev"))
    if remove_dev:
        for dev in _class_devices(k, cls):
            k.call_function_pointer(remove_dev, dev, class_intf)
