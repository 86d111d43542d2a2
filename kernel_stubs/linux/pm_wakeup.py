"""Device wakeup (drivers/base/power/wakeup.c), Linux 6.1: whether a device may wake the system.

``device_set_wakeup_capable`` sets ``dev->power.can_wakeup``;
``device_wakeup_enable`` attaches a ``struct wakeup_source`` (named after
the device) to ``dev->power.wakeup`` — the inline ``device_may_wakeup()``
reads both — and -EINVAL for a device that cannot wake; disabling
detaches and frees it, as does deleting the device. ``pm_wakeup_dev_event``
counts an event on the source (``event_count``, ``wakeup_count``), which
tests read back with :func:`wakeup_events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from ..memory import allocate, release
from .layout import Fields, size
from .layouts import LAYOUTS
from .registrations import EEXIST, EINVAL, ENOMEM

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

_CAN_WAKEUP = LAYOUTS["device"]["fields"]["power.can_wakeup"]  # (unit, width, bit, 1)


def can_wakeup(k: Kernel, dev: int) -> bool:
    """dev->power.can_wakeup."""
    unit, _width, bit, _count = _CAN_WAKEUP
    return bool(k.memory.read_u32(dev + unit) >> bit & 1)


def _source(k: Kernel, dev: int) -> int:
    return Fields(k.memory, "device", dev)["power.wakeup"]


@service("void device_set_wakeup_capable(struct device *dev, bool capable)")
def device_set_wakeup_capable(k: Kernel, dev: int, capable: int) -> None:
    """Say whether the device can wake the system (its wakeup source stays as it is)."""
    if not dev:
        return
    unit, _width, bit, _count = _CAN_WAKEUP
    bits = k.memory.read_u32(dev + unit)
    k.memory.write_u32(dev + unit, bits | 1 << bit if capable & 0xFF else bits & ~(1 << bit))


@service("int device_wakeup_enable(struct device *dev)")
def device_wakeup_enable(k: Kernel, dev: int) -> int:
    """Attach a wakeup source: -EINVAL if the device cannot wake, -EEXIST if it has one."""
    if not dev or not can_wakeup(k, dev):
        return -EINVAL
    if _source(k, dev):
        return -EEXIST
    from .driver_core import device_name

    ws = allocate(k, size("wakeup_source"), owner="kernel")
    name = device_name(k, dev).encode() + b"\0"
    text = allocate(k, len(name), owner="kernel")
    if not ws or not text:
        return -ENOMEM
    k.memory.write(text, name)
    fields = Fields(k.memory, "wakeup_source", ws)
    fields["name"], fields["dev"] = text, dev
    Fields(k.memory, "device", dev)["power.wakeup"] = ws
    return 0


def detach(k: Kernel, dev: int) -> None:
    """device_wakeup_detach + wakeup_source_unregister."""
    ws = _source(k, dev)
    if ws:
        Fields(k.memory, "device", dev)["power.wakeup"] = 0
        release(k, Fields(k.memory, "wakeup_source", ws)["name"])
        release(k, ws)


@service("int device_wakeup_disable(struct device *dev)")
def device_wakeup_disable(k: Kernel, dev: int) -> int:
    """Detach and free the wakeup source; -EINVAL if the device cannot wake."""
    if not dev or not can_wakeup(k, dev):
        return -EINVAL
    detach(k, dev)
    return 0


@service("int device_set_wakeup_enable(struct device *dev, bool enable)")
def device_set_wakeup_enable(k: Kernel, dev: int, enable: int) -> int:
    """device_wakeup_enable or device_wakeup_disable."""
    return device_wakeup_enable(k, dev) if enable & 0xFF else device_wakeup_disable(k, dev)


@service("void pm_wakeup_dev_event(struct device *dev, unsigned int msec, bool hard)")
def pm_wakeup_dev_event(k: Kernel, dev: int, msec: int, hard: int) -> None:
    """A wakeup event on the device's source (counted; nothing sleeps here to be woken)."""
    ws = _source(k, dev) if dev else 0
    if ws:
        fields = Fields(k.memory, "wakeup_source", ws)
        fields["event_count"] = fields["event_count"] + 1
        fields["wakeup_count"] = fields["wakeup_count"] + 1
        k.trace.add("note", "wakeup event", fields={"device": dev, "msec": msec, "hard": bool(hard & 0xFF)})


def wakeup_events(k: Kernel, dev: int) -> int | None:
    """How many wakeup events the device reported, None if it has no wakeup source."""
    ws = _source(k, dev)
    return Fields(k.memory, "wakeup_source", ws)["event_count"] if ws else None
