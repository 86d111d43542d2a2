"""Managed device resources (drivers/base/devres.c), Linux 6.1: ``devm_*`` for every bus.

Each ``struct device`` has a list of resources its driver took with a
``devm_*`` call; they are released, newest first, when the driver unbinds
(after its ``remove``), when its probe fails, and when the device itself is
released (``devres_release_all``). The table is keyed by the ``struct
device`` address, so a bus core (platform, PCI, i2c, input, ...) gets
managed resources by calling :func:`release_all` from its unbind path; the
generic driver core (:mod:`.driver_core`) does that for every device it
binds. A bus helper adds its own kind of resource with :func:`add` and a
Python ``release`` callable (``devm_regmap_init`` freeing its map, ...).

Resources still held when the module that took them unloads (a ``devm_*``
call on a device the module never bound, so no unbind will come) are
reported as leaks and released then, without calling into the departed
module's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.services import service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from .registrations import EINVAL, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


@dataclass(slots=True)
class Devres:
    """One managed resource of a device."""

    kind: str  # "kmalloc", "action", "irq", or a bus helper's own kind
    value: int  # the block, the action function, the IRQ line, ...
    data: int = 0  # the action's argument, the IRQ's dev_id
    site: int = 0  # where the driver asked for it
    owner: str = "kernel"  # the module that asked
    release: Callable[[Any], None] | None = field(default=None, compare=False)  # a helper kind's release(k)


class DevresTable:
    """Every device's managed resources, oldest first per device."""

    def __init__(self) -> None:
        self.entries: dict[int, list[Devres]] = {}

    def of(self, dev: int) -> list[Devres]:
        """The device's resources, oldest first (the live list)."""
        return self.entries.get(dev, [])

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Resources a module took on devices that outlive its binding: reported and released."""
        leaks = []
        for dev, entries in list(self.entries.items()):
            for entry in reversed([e for e in entries if e.owner == module.name]):
                leaks.append(f"devres {entry.kind} of device {dev:#x} (taken at {k.symbolizer.short(entry.site)}) "
                             "still held")
                entries.remove(entry)
                in_module = k.module_at(entry.value) is module if entry.kind == "action" else False
                if not in_module:  # the action's code is gone with its module: it cannot run
                    _release_one(k, entry)
            if not entries:
                del self.entries[dev]
        return leaks


def table(k: Kernel) -> DevresTable:
    """The kernel's devres table."""
    return k.subsystem(DevresTable)


def add(k: Kernel, dev: int, kind: str, value: int, data: int = 0,
        release_fn: Callable[[Any], None] | None = None) -> Devres:
    """Give ``dev`` a managed resource taken by the calling module (released at unbind, newest first)."""
    entry = Devres(kind, value, data, k.current_caller, owner_name(k), release_fn)
    table(k).entries.setdefault(dev, []).append(entry)
    return entry


def has_resources(k: Kernel, dev: int) -> bool:
    """Whether the device holds managed resources (really_probe refuses to probe one that does)."""
    return bool(table(k).entries.get(dev))


def _release_one(k: Kernel, entry: Devres) -> None:
    if entry.release is not None:
        entry.release(k)
    elif entry.kind == "kmalloc":
        release(k, entry.value)
    elif entry.kind == "action":
        k.call_function_pointer(entry.value, entry.data)
    elif entry.kind == "irq":
        k.irqs.unregister(entry.value, entry.data)


def release_all(k: Kernel, dev: int) -> int:
    """devres_release_all: release the device's resources, newest first; how many there were."""
    entries = table(k).entries.pop(dev, [])
    for entry in reversed(entries):
        _release_one(k, entry)
    return len(entries)


def take(k: Kernel, dev: int, kind: str, value: int, data: int | None = None) -> Devres | None:
    """Remove (without releasing) the newest resource of ``kind`` with ``value`` (and ``data``)."""
    entries = table(k).entries.get(dev, [])
    for entry in reversed(entries):
        if entry.kind == kind and entry.value == value and (data is None or entry.data == data):
            entries.remove(entry)
            if not entries:
                del table(k).entries[dev]
            return entry
    return None


# -- memory ---------------------------------------------------------------------------------------

@service("void *devm_kmalloc(struct device *dev, size_t size, gfp_t gfp)")
def devm_kmalloc(k: Kernel, dev: int, size_: int, gfp: int) -> int:
    """A zeroed block freed when the device is unbound."""
    block = allocate(k, size_, owner="kernel")
    if block and size_:
        add(k, dev, "kmalloc", block)
    return block


@service("void devm_kfree(struct device *dev, const void *p)")
def devm_kfree(k: Kernel, dev: int, p: int) -> None:
    """Free a managed block now (WARN and nothing else if it is not one of the device's)."""
    if take(k, dev, "kmalloc", p) is not None:
        release(k, p)
    elif p:
        k.warn(f"devm_kfree of {p:#x}: not a managed allocation of device {dev:#x}")


@service("void *devm_kmemdup(struct device *dev, const void *src, size_t len, gfp_t gfp)")
def devm_kmemdup(k: Kernel, dev: int, src: int, length: int, gfp: int) -> int:
    """A managed copy of ``len`` bytes."""
    block = devm_kmalloc(k, dev, length, gfp)
    if block and length:
        k.memory.write(block, k.memory.read(src, length))
    return block


@service("char *devm_kstrdup(struct device *dev, const char *s, gfp_t gfp)")
def devm_kstrdup(k: Kernel, dev: int, s: int, gfp: int) -> int:
    """A managed copy of a C string (NULL for NULL)."""
    if not s:
        return 0
    text = k.memory.read_cstring(s, 1 << 16) + b"\0"
    block = devm_kmalloc(k, dev, len(text), gfp)
    if block:
        k.memory.write(block, text)
    return block


# -- actions ---------------------------------------------------------------------------------------

@service("int devm_add_action(struct device *dev, void (*action)(void *), void *data)")
def devm_add_action(k: Kernel, dev: int, action: int, data: int) -> int:
    """Call ``action(data)`` when the device is unbound."""
    if not action:
        return -EINVAL
    add(k, dev, "action", action, data)
    return 0


@service("void devm_remove_action(struct device *dev, void (*action)(void *), void *data)")
def devm_remove_action(k: Kernel, dev: int, action: int, data: int) -> None:
    """Forget an action without calling it (WARN if it was not registered, as Linux)."""
    if take(k, dev, "action", action, data) is None:
        k.warn(f"devm_remove_action: no action {k.symbolizer.short(action)} registered on device {dev:#x}")


@service("void devm_release_action(struct device *dev, void (*action)(void *), void *data)")
def devm_release_action(k: Kernel, dev: int, action: int, data: int) -> None:
    """Forget an action and call it now."""
    devm_remove_action(k, dev, action, data)
    k.call_function_pointer(action, data)


# -- interrupts --------------------------------------------------------------------------------------

@service("int devm_request_threaded_irq(struct device *dev, unsigned int irq, irq_handler_t handler, "
         "irq_handler_t thread_fn, unsigned long irqflags, const char *devname, void *dev_id)")
def devm_request_threaded_irq(k: Kernel, dev: int, irq: int, handler: int, thread_fn: int, flags: int,
                              devname: int, dev_id: int) -> int:
    """request_threaded_irq, freed when the device is unbound."""
    from .irq import request_threaded_irq

    result = request_threaded_irq(k, irq, handler, thread_fn, flags, devname, dev_id)
    if result == 0:
        add(k, dev, "irq", irq, dev_id)
    return result


@service("void devm_free_irq(struct device *dev, unsigned int irq, void *dev_id)")
def devm_free_irq(k: Kernel, dev: int, irq: int, dev_id: int) -> None:
    """Free a managed IRQ now."""
    if take(k, dev, "irq", irq, dev_id) is not None:
        k.irqs.unregister(irq, dev_id)
    else:
        k.warn(f"devm_free_irq: IRQ {irq} dev_id {dev_id:#x} is not managed by device {dev:#x}")


# -- strings ----------------------------------------------------------------------------------------------

@service("char *devm_kasprintf(struct device *dev, gfp_t gfp, const char *fmt, ...)")
def devm_kasprintf(k: Kernel, dev: int, gfp: int, fmt: int, args: VarArgs) -> int:
    """A managed, formatted string (NULL without memory)."""
    from .printk import format_guest

    text = format_guest(k, fmt, args) + b"\0"
    block = devm_kmalloc(k, dev, len(text), gfp)
    if block:
        k.memory.write(block, text)
    return block


@service("char *devm_kvasprintf(struct device *dev, gfp_t gfp, const char *fmt, va_list ap)")
def devm_kvasprintf(k: Kernel, dev: int, gfp: int, fmt: int, ap: int) -> int:
    """devm_kasprintf with a va_list."""
    from .printk import format_guest

    text = format_guest(k, fmt, VarArgs(k.memory, ap)) + b"\0"
    block = devm_kmalloc(k, dev, len(text), gfp)
    if block:
        k.memory.write(block, text)
    return block
