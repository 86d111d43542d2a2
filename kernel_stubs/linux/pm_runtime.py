"""Runtime power management (drivers/base/power/runtime.c), Linux 6.1 with CONFIG_PM.

The state lives where Linux keeps it, in ``dev->power`` (so the inline
helpers drivers compile in — ``pm_runtime_get_noresume``,
``pm_runtime_mark_last_busy``, ``pm_runtime_active``,
``pm_runtime_set_active``... — agree): the usage count, ``disable_depth``
(1 after ``device_initialize``: runtime PM starts disabled, the device
suspended), ``runtime_status``, ``runtime_error``, autosuspend. A resume
or suspend runs the device's ``runtime_resume``/``runtime_suspend`` from
its type's, class's or bus's ``dev_pm_ops``, else its driver's, as
``RPM_GET_CALLBACK`` finds them (the platform and PCI buses' generic
callbacks: a driver without one succeeds; a module's bus without ``pm``
and a driver without one gives -ENOSYS, recorded as ``runtime_error``
like Linux). Results are Linux's: 1 for "already active/suspended",
-EACCES while disabled, -EAGAIN while in use, -EINVAL after an error.
A resume wakes the parent first; a suspend lets the parent idle.
Asynchronous requests run at once (there is one CPU and no other work
to overlap), except an autosuspend whose delay has not passed: it is a
timer at ``last_busy + autosuspend_delay`` on the kernel's clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from ..memory import allocate
from .layout import Fields
from .layouts import LAYOUTS
from .registrations import EINVAL

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

RPM_ACTIVE, RPM_RESUMING, RPM_SUSPENDED, RPM_SUSPENDING = 0, 1, 2, 3
RPM_ASYNC, RPM_NOWAIT, RPM_GET_PUT, RPM_AUTO = 0x01, 0x02, 0x04, 0x08
EACCES, EAGAIN, EBUSY, ENOSYS = 13, 11, 16, 38
TIMER_SIZE = 20  # struct timer_list on 6.1 i386 without lockdep: entry 0, expires 8, function 12, flags 16
_DEVICE = LAYOUTS["device"]["fields"]


def _bits(k: Kernel, dev: int, path: str) -> int:
    unit, width, first, count = _DEVICE[path]
    value = int.from_bytes(k.memory.read(dev + unit, width), "little")
    return value >> first & ((1 << count) - 1)


def _set_bits(k: Kernel, dev: int, path: str, value: int) -> None:
    unit, width, first, count = _DEVICE[path]
    mask = ((1 << count) - 1) << first
    old = int.from_bytes(k.memory.read(dev + unit, width), "little")
    k.memory.write(dev + unit, ((old & ~mask) | (value << first & mask)).to_bytes(width, "little"))


def _get(k: Kernel, dev: int, member: str) -> int:
    return Fields(k.memory, "device", dev)["power." + member]


def _put(k: Kernel, dev: int, member: str, value: int) -> None:
    Fields(k.memory, "device", dev)["power." + member] = value


def init(k: Kernel, dev: int) -> None:
    """pm_runtime_init (device_initialize): suspended, disabled once, runtime_auto, no users."""
    _put(k, dev, "runtime_status", RPM_SUSPENDED)
    _put(k, dev, "usage_count", 0)
    _put(k, dev, "runtime_error", 0)
    _set_bits(k, dev, "power.disable_depth", 1)
    _set_bits(k, dev, "power.runtime_auto", 1)


def reinit(k: Kernel, dev: int) -> None:
    """pm_runtime_reinit (after unbind): a device left active while disabled counts as suspended again."""
    if _bits(k, dev, "power.disable_depth") and _get(k, dev, "runtime_status") == RPM_ACTIVE:
        _put(k, dev, "runtime_status", RPM_SUSPENDED)


def status(k: Kernel, dev: int) -> str:
    """The device's runtime status by name ("active", "resuming", "suspended", "suspending")."""
    return ("active", "resuming", "suspended", "suspending")[_get(k, dev, "runtime_status") & 3]


def usage_count(k: Kernel, dev: int) -> int:
    """The device's runtime-PM usage count."""
    return signed32(_get(k, dev, "usage_count"))


def _callback(k: Kernel, dev: int, name: str) -> tuple[int, bool]:
    """RPM_GET_CALLBACK: (callback, found through a generic bus wrapper that succeeds without one)."""
    from .driver_core import core

    fields = Fields(k.memory, "device", dev)
    ops = fields["pm_domain"]  # struct dev_pm_domain starts with its dev_pm_ops
    for struct, member in (("device_type", fields["type"]), ("class", fields["class"]), ("bus_type", fields["bus"])):
        if ops:
            break
        if member and Fields(k.memory, struct, member)["pm"]:
            ops = Fields(k.memory, struct, member)["pm"]
            break
    callback = Fields(k.memory, "dev_pm_ops", ops)[name] if ops else 0
    bus = core(k).buses.get(fields["bus"])
    generic = bus is not None and bus.native is not None  # pm_generic_runtime_*: no driver callback is fine
    if not callback and fields["driver"]:
        pm = Fields(k.memory, "device_driver", fields["driver"])["pm"]
        callback = Fields(k.memory, "dev_pm_ops", pm)[name] if pm else 0
    return callback, generic


def _run_callback(k: Kernel, dev: int, name: str) -> int:
    """rpm_callback: the result is also the device's runtime_error."""
    callback, generic = _callback(k, dev, name)
    if callback:
        result = signed32(k.call_function_pointer(callback, dev))
    else:
        result = 0 if generic or _bits(k, dev, "power.no_callbacks") else -ENOSYS
    _put(k, dev, "runtime_error", result & 0xFFFFFFFF)
    k.trace.add("note", "runtime pm", fields={"device": _name(k, dev), "callback": name, "result": result})
    return result if result != -EACCES else -5


def _name(k: Kernel, dev: int) -> str:
    from .driver_core import device_name

    return device_name(k, dev)


def resume(k: Kernel, dev: int, flags: int = 0) -> int:
    """rpm_resume: 1 if already active, 0 resumed, or the error."""
    if _get(k, dev, "runtime_error"):
        return -EINVAL
    if _bits(k, dev, "power.disable_depth"):
        return 1 if _get(k, dev, "runtime_status") == RPM_ACTIVE else -EACCES
    if _get(k, dev, "runtime_status") == RPM_ACTIVE:
        return 1
    _disarm(k, dev)
    parent = Fields(k.memory, "device", dev)["parent"]
    if parent and not _bits(k, dev, "power.ignore_children"):
        result = resume(k, parent)  # the parent first, as rpm_resume does
        if result < 0 and not _bits(k, parent, "power.disable_depth"):
            return result
        _put(k, parent, "child_count", _get(k, parent, "child_count") + 1)
    _put(k, dev, "runtime_status", RPM_RESUMING)
    result = _run_callback(k, dev, "runtime_resume")
    if result:
        _put(k, dev, "runtime_status", RPM_SUSPENDED)
        if parent and not _bits(k, dev, "power.ignore_children"):
            _put(k, parent, "child_count", max(_get(k, parent, "child_count") - 1, 0))
        return result
    _put(k, dev, "runtime_status", RPM_ACTIVE)
    _put(k, dev, "last_busy", k.clock.ns)
    return 0


def _suspend_allowed(k: Kernel, dev: int) -> int:
    """rpm_check_suspend_allowed."""
    if _get(k, dev, "runtime_error"):
        return -EINVAL
    if _bits(k, dev, "power.disable_depth"):
        return -EACCES
    if signed32(_get(k, dev, "usage_count")) > 0:
        return -EAGAIN
    if not _bits(k, dev, "power.ignore_children") and _get(k, dev, "child_count"):
        return -EBUSY
    if _get(k, dev, "runtime_status") == RPM_SUSPENDED:
        return 1
    return 0


def idle(k: Kernel, dev: int, flags: int = 0) -> int:
    """rpm_idle: the runtime_idle callback, then a suspend unless it objects."""
    result = _suspend_allowed(k, dev)
    if result:
        return result
    if _get(k, dev, "runtime_status") != RPM_ACTIVE:
        return -EAGAIN
    callback, _generic = _callback(k, dev, "runtime_idle")
    if callback and signed32(k.call_function_pointer(callback, dev)):
        return 0
    return suspend(k, dev, flags | RPM_AUTO)


def suspend(k: Kernel, dev: int, flags: int = 0) -> int:
    """rpm_suspend: 1 if already suspended, 0 suspended (or an autosuspend timer armed), or the error."""
    result = _suspend_allowed(k, dev)
    if result:
        return result
    if flags & RPM_AUTO and _bits(k, dev, "power.use_autosuspend"):
        delay = signed32(_get(k, dev, "autosuspend_delay"))
        if delay < 0:
            return -EAGAIN  # a negative delay forbids autosuspend
        expires = _get(k, dev, "last_busy") + delay * 1_000_000
        if expires > k.clock.ns:
            _arm(k, dev, expires)
            return 0
    _disarm(k, dev)
    _put(k, dev, "runtime_status", RPM_SUSPENDING)
    result = _run_callback(k, dev, "runtime_suspend")
    if result:
        _put(k, dev, "runtime_status", RPM_ACTIVE)
        if result in (-EAGAIN, -EBUSY):
            _put(k, dev, "runtime_error", 0)
        return result
    _put(k, dev, "runtime_status", RPM_SUSPENDED)
    parent = Fields(k.memory, "device", dev)["parent"]
    if parent and not _bits(k, dev, "power.ignore_children"):
        _put(k, parent, "child_count", max(_get(k, parent, "child_count") - 1, 0))
        idle(k, parent, RPM_ASYNC)
    return 0


# -- the autosuspend timer --------------------------------------------------------------------------------

class AutosuspendTimers:
    """A timer_list per device waiting for its autosuspend delay (timer -> device)."""

    def __init__(self) -> None:
        self.timers: dict[int, int] = {}
        self.of_device: dict[int, int] = {}


def _arm(k: Kernel, dev: int, expires_ns: int) -> None:
    from .timers import mod_timer

    state = k.subsystem(AutosuspendTimers)
    timer = state.of_device.get(dev)
    if timer is None:
        timer = allocate(k, TIMER_SIZE, owner="kernel")
        k.memory.write_u32(timer + 12, k.export_address("pm_suspend_timer_fn") or 0)
        state.of_device[dev], state.timers[timer] = timer, dev
    _put(k, dev, "timer_expires", expires_ns)
    ticks = -(-(expires_ns - k.clock.ns) * k.clock.hz // 1_000_000_000)
    mod_timer(k, timer, (k.clock.jiffies + max(ticks, 1)) & 0xFFFFFFFF)


def _disarm(k: Kernel, dev: int) -> None:
    from .timers import disarm_timer

    timer = k.subsystem(AutosuspendTimers).of_device.get(dev)
    if timer is not None:
        disarm_timer(k, timer)
        _put(k, dev, "timer_expires", 0)


@service("void pm_suspend_timer_fn(struct timer_list *timer)")
def pm_suspend_timer_fn(k: Kernel, timer: int) -> None:
    """The autosuspend delay passed: suspend now (if nothing used the device meanwhile)."""
    dev = k.subsystem(AutosuspendTimers).timers.get(timer)
    if dev is not None and _get(k, dev, "timer_expires"):
        _put(k, dev, "timer_expires", 0)
        suspend(k, dev, RPM_AUTO)


# -- services ----------------------------------------------------------------------------------------

def _usage(k: Kernel, dev: int, delta: int) -> int:
    count = signed32(_get(k, dev, "usage_count")) + delta
    _put(k, dev, "usage_count", count & 0xFFFFFFFF)
    return count


@service("int __pm_runtime_resume(struct device *dev, int rpmflags)")
def __pm_runtime_resume(k: Kernel, dev: int, flags: int) -> int:
    """pm_runtime_get_sync / pm_runtime_resume: take a reference (RPM_GET_PUT) and resume."""
    if flags & RPM_GET_PUT:
        _usage(k, dev, 1)
    return resume(k, dev, flags)


def _drop_usage(k: Kernel, dev: int) -> int:
    """rpm_drop_usage_count: -EINVAL on an underflow (with Linux's warning), 1 while references
    remain, 0 when this was the last one (the caller goes on to idle or suspend)."""
    if signed32(_get(k, dev, "usage_count")) <= 0:
        k.console_write(f"{_name(k, dev)}: Runtime PM usage count underflow!\n", 4)
        return -EINVAL
    return 1 if _usage(k, dev, -1) else 0


@service("int __pm_runtime_idle(struct device *dev, int rpmflags)")
def __pm_runtime_idle(k: Kernel, dev: int, flags: int) -> int:
    """pm_runtime_put(_sync): drop a reference (RPM_GET_PUT); at zero, idle and suspend."""
    if flags & RPM_GET_PUT:
        left = _drop_usage(k, dev)
        if left:
            return 0 if left > 0 else left
    return idle(k, dev, flags)


@service("int __pm_runtime_suspend(struct device *dev, int rpmflags)")
def __pm_runtime_suspend(k: Kernel, dev: int, flags: int) -> int:
    """pm_runtime_put_autosuspend / pm_runtime_suspend: drop a reference (RPM_GET_PUT); at zero, suspend."""
    if flags & RPM_GET_PUT:
        left = _drop_usage(k, dev)
        if left:
            return 0 if left > 0 else left
    return suspend(k, dev, flags)


@service("int pm_runtime_get_if_active(struct device *dev, bool ign_usage_count)")
def pm_runtime_get_if_active(k: Kernel, dev: int, ign_usage_count: int) -> int:
    """A reference if the device is active (and, unless told otherwise, in use): 1, else 0; -EINVAL if disabled."""
    if _bits(k, dev, "power.disable_depth"):
        return -EINVAL
    if _get(k, dev, "runtime_status") != RPM_ACTIVE:
        return 0
    if ign_usage_count & 0xFF or signed32(_get(k, dev, "usage_count")) > 0:
        _usage(k, dev, 1)
        return 1
    return 0


@service("void pm_runtime_enable(struct device *dev)")
def pm_runtime_enable(k: Kernel, dev: int) -> None:
    """One disable undone; at zero, runtime PM is on ("Unbalanced" if it was on already)."""
    depth = _bits(k, dev, "power.disable_depth")
    if depth:
        _set_bits(k, dev, "power.disable_depth", depth - 1)
        if depth == 1:
            _put(k, dev, "accounting_timestamp", k.clock.ns)
    else:
        from .dev_printk import dev_log

        dev_log(k, 4, dev, b"Unbalanced pm_runtime_enable!\n")


@service("void __pm_runtime_disable(struct device *dev, bool check_resume)")
def __pm_runtime_disable(k: Kernel, dev: int, check_resume: int) -> None:
    """One more disable (the first stops the autosuspend timer)."""
    depth = _bits(k, dev, "power.disable_depth")
    if not depth:
        _disarm(k, dev)
    _set_bits(k, dev, "power.disable_depth", min(depth + 1, 7))


@service("int __pm_runtime_set_status(struct device *dev, unsigned int status)")
def __pm_runtime_set_status(k: Kernel, dev: int, status_: int) -> int:
    """pm_runtime_set_active/suspended: only while disabled (-EAGAIN otherwise), -EINVAL for another status."""
    if status_ not in (RPM_ACTIVE, RPM_SUSPENDED):
        return -EINVAL
    if not _bits(k, dev, "power.disable_depth"):
        return -EAGAIN
    old = _get(k, dev, "runtime_status")
    parent = Fields(k.memory, "device", dev)["parent"]
    if parent and not _bits(k, dev, "power.ignore_children") and old != status_:
        delta = 1 if status_ == RPM_ACTIVE else -1
        _put(k, parent, "child_count", max(_get(k, parent, "child_count") + delta, 0))
    _put(k, dev, "runtime_status", status_)
    _put(k, dev, "runtime_error", 0)
    return 0


@service("void pm_runtime_set_autosuspend_delay(struct device *dev, int delay)")
def pm_runtime_set_autosuspend_delay(k: Kernel, dev: int, delay: int) -> None:
    """The autosuspend delay in milliseconds (negative: no autosuspend)."""
    _put(k, dev, "autosuspend_delay", delay)


@service("void __pm_runtime_use_autosuspend(struct device *dev, bool use)")
def __pm_runtime_use_autosuspend(k: Kernel, dev: int, use: int) -> None:
    """pm_runtime_(dont_)use_autosuspend."""
    _set_bits(k, dev, "power.use_autosuspend", 1 if use & 0xFF else 0)
    if not use & 0xFF:
        _disarm(k, dev)


@service("void pm_runtime_allow(struct device *dev)")
def pm_runtime_allow(k: Kernel, dev: int) -> None:
    """User space allows runtime PM: the reference pm_runtime_forbid took is dropped."""
    if _bits(k, dev, "power.runtime_auto"):
        return
    _set_bits(k, dev, "power.runtime_auto", 1)
    if _usage(k, dev, -1) == 0:
        idle(k, dev, RPM_AUTO | RPM_ASYNC)


@service("void pm_runtime_forbid(struct device *dev)")
def pm_runtime_forbid(k: Kernel, dev: int) -> None:
    """Keep the device active: a reference taken, then resumed."""
    if not _bits(k, dev, "power.runtime_auto"):
        return
    _set_bits(k, dev, "power.runtime_auto", 0)
    _usage(k, dev, 1)
    resume(k, dev)


@service("void pm_runtime_irq_safe(struct device *dev)")
def pm_runtime_irq_safe(k: Kernel, dev: int) -> None:
    """Callbacks may run with interrupts off (noted; they run synchronously here anyway)."""
    _set_bits(k, dev, "power.irq_safe", 1)


@service("void pm_runtime_no_callbacks(struct device *dev)")
def pm_runtime_no_callbacks(k: Kernel, dev: int) -> None:
    """The device has no runtime callbacks: suspending and resuming always succeed."""
    _set_bits(k, dev, "power.no_callbacks", 1)


@service("int pm_runtime_barrier(struct device *dev)")
def pm_runtime_barrier(k: Kernel, dev: int) -> int:
    """Nothing is pending (requests run at once), so nothing to flush: 0."""
    return 0


@service("int pm_schedule_suspend(struct device *dev, unsigned int delay)")
def pm_schedule_suspend(k: Kernel, dev: int, delay: int) -> int:
    """Suspend after ``delay`` ms (now for 0)."""
    result = _suspend_allowed(k, dev)
    if result:
        return result
    if not delay:
        return suspend(k, dev, RPM_ASYNC)
    _arm(k, dev, k.clock.ns + delay * 1_000_000)
    return 0


@service("int pm_runtime_force_suspend(struct device *dev)")
def pm_runtime_force_suspend(k: Kernel, dev: int) -> int:
    """System sleep: disable runtime PM and run runtime_suspend if the device is active."""
    __pm_runtime_disable(k, dev, 1)
    if _get(k, dev, "runtime_status") == RPM_SUSPENDED:
        return 0
    result = _run_callback(k, dev, "runtime_suspend")
    if result:
        pm_runtime_enable(k, dev)
        return result
    _put(k, dev, "runtime_status", RPM_SUSPENDED)
    return 0


@service("int pm_runtime_force_resume(struct device *dev)")
def pm_runtime_force_resume(k: Kernel, dev: int) -> int:
    """After system sleep: runtime_resume if forced down, then runtime PM enabled again."""
    result = 0
    if _get(k, dev, "runtime_status") == RPM_SUSPENDED and signed32(_get(k, dev, "usage_count")) > 0:
        result = _run_callback(k, dev, "runtime_resume")
        if result == 0:
            _put(k, dev, "runtime_status", RPM_ACTIVE)
    pm_runtime_enable(k, dev)
    return result
