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
# watchdog.ko and usbmon.ko register them, and fail with -EEXIST if they are already there).
BUILTIN_CLASSES = ("mem", "misc", "tty", "vc", "input", "net", "graphics", "block", "bdi", "dma", "rtc", "thermal",
                   "power_supply", "firmware", "pci_bus", "mdio_bus", "leds", "hwmon")


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
    """Undo class_register (the struct is the module's)."""
    if k.subsystem(DeviceClasses).remove(k, cls, "static class") is not None:
        sysfs.class_removed(k, cls)
