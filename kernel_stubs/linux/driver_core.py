"""Linux 6.1's generic driver model (drivers/base/{core,bus,dd,driver}.c): buses, drivers, devices.

A module registers a ``struct bus_type`` with ``bus_register``; its
``match``, ``probe``, ``remove`` and ``uevent`` function pointers are
called in the guest, as Linux calls them. Drivers (``struct
device_driver`` with ``bus`` set) come with ``driver_register``, devices
with ``device_initialize`` + ``device_add`` (or ``device_register``).
Binding follows drivers/base/dd.c: every driver of the bus is offered to
a device that arrives (and every device to a driver that arrives):
``bus->match(dev, drv)`` (no match function matches everything; a
negative -EPROBE_DEFER defers the device), then ``really_probe``:
``dev->driver`` set, ``bus->probe(dev)`` if the bus has one, else
``drv->probe(dev)``. A probe returning -EPROBE_DEFER puts the device on
the deferred list, retried after every successful bind; -ENODEV/-ENXIO
are quiet; any other error is logged as Linux logs it
(``"<drv>: probe of <dev> failed with error <n>"``) and the next driver
may try. Unbinding runs in Linux's order: the bus's (or driver's)
``remove``, the device's managed resources (:mod:`.devres`) newest first,
then ``dev->driver`` and the driver data cleared.

Devices are reference counted in their ``kobj.kref`` (guest memory, so
an inline ``kref`` use agrees): ``get_device``/``put_device``; when the
count drops to zero the device is released as ``device_release`` does:
managed resources go, then ``dev->release``, else ``type->release``, else
``class->dev_release`` runs, and with none of them Linux's complaint is
logged. The name given by ``dev_set_name`` (formatted by the engine's
printf) is freed after the release callback.

Class devices: ``device_create`` allocates a device of a class
(``__class_create`` in :mod:`.device`), names it and adds it;
``device_destroy`` finds it by ``devt`` and unregisters it.

Built-in buses (platform, PCI, i2c, ...) are cores of their own in
Python; :class:`NativeBus` lets such a core put its ``struct bus_type``
here with Python ``match``/``probe``/``remove``, so its devices and
drivers get the same binding, deferral, devres and iteration.

A module unloading with drivers still registered has them unregistered
(their devices unbound), and devices it added and left are deleted,
both reported as leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.errors import GuestFault
from sandbox.services import service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from . import devres, pm_runtime
from .layout import Fields, offset, size
from .layouts import LAYOUTS
from .registrations import EBUSY, EEXIST, EINVAL, ENODEV, ENOMEM, err_ptr, guest_string, is_err, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EPROBE_DEFER, ENXIO = 517, 6
DEVICE_SIZE = size("device")
DEV_NAME, DEV_PARENT, DEV_INIT_NAME = offset("device", "kobj.name"), offset("device", "parent"), offset("device", "init_name")
DEV_KREF, DEV_TYPE = offset("device", "kobj.kref"), offset("device", "type")
DEV_BUS, DEV_DRIVER = offset("device", "bus"), offset("device", "driver")
DEV_DRIVER_DATA, DEV_CLASS, DEV_DEVT = offset("device", "driver_data"), offset("device", "class"), offset("device", "devt")
DEV_RELEASE, DEV_ID, DEV_GROUPS = offset("device", "release"), offset("device", "id"), offset("device", "groups")
KOBJ_STATE = LAYOUTS["device"]["fields"]["kobj.state_initialized"][0]  # the bit-fields' storage unit
STATE_INITIALIZED, STATE_IN_SYSFS = 1 << 0, 1 << 1
MINORBITS = 20
# Buses Debian's kernel registers at boot (their names are taken).
BUILTIN_BUSES = ("platform", "cpu", "memory", "pci", "pci_express", "isa", "pnp", "serio", "acpi", "workqueue",
                 "container", "clockevents", "clocksource", "event_source", "machinecheck", "node", "gpio",
                 "i2c", "spi", "nvmem")  # not virtio (virtio.ko registers it), nor mdio_bus (libphy.ko does)


@dataclass(slots=True)
class NativeBus:
    """A bus whose core is Python (platform, PCI, i2c, ...): the callbacks Linux has in C.

    ``match(k, dev, drv) -> int`` (>0 match, 0 none, -EPROBE_DEFER),
    ``probe(k, dev, drv) -> int`` and ``remove(k, dev, drv)`` receive the
    ``struct device`` and ``struct device_driver`` addresses. They must be
    module-level functions (not bound methods or closures over a core's
    state), so that a snapshot copies the table without copying the core.
    """

    match: Callable[[Kernel, int, int], int] | None = None
    probe: Callable[[Kernel, int, int], int] | None = None
    remove: Callable[[Kernel, int, int], None] | None = None
    reports_leaks: bool = False  # the bus's core reports (and undoes) what an unloading module left on it


@dataclass(slots=True)
class BusRecord:
    """A registered ``struct bus_type``."""

    bus: int
    name: str
    owner: str
    native: NativeBus | None = None


@dataclass(slots=True)
class DriverRecord:
    """A registered ``struct device_driver``."""

    drv: int
    name: str
    bus: int
    owner: str
    by_bus_core: bool = False  # registered through the bus's Python core (platform_driver_register, ...)


@dataclass(slots=True)
class DeviceRecord:
    """A device the core initialized: who made it, whether it is added, what the core allocated for it."""

    dev: int
    owner: str
    added: bool = False
    name_block: int = 0  # the name dev_set_name allocated (freed after release)
    allocated: bool = False  # the struct is the core's (device_create): freed at release
    on_release: Callable[[Kernel, int], None] | None = field(default=None, compare=False)


class DriverCore:
    """The driver model of one kernel: buses, drivers and devices, by struct address, in registration order."""

    def __init__(self) -> None:
        self.buses: dict[int, BusRecord] = {}
        self.drivers: dict[int, DriverRecord] = {}
        self.devices: dict[int, DeviceRecord] = {}
        self.deferred: list[int] = []
        self.retrying = False
        self.retry_again = False
        self.uevents: list[tuple[str, list[str]]] = []  # (devpath, environment) of each uevent sent
        self.empty_string = 0
        self.bus_of: dict[int, int] = {}  # device -> the bus it was added on
        self.deferred_reasons: dict[int, str] = {}  # device -> what dev_err_probe said when it deferred

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers, buses and devices the module left: unbound, deleted and reported."""
        leaks = []
        # A bus core that reports leaks knows only the drivers registered through it: one a module
        # registered with plain driver_register() on that bus (ibmaem on platform) is this core's to undo.
        for driver in [d for d in self.drivers.values()
                       if d.owner == module.name and not (d.by_bus_core and self.reported_by_bus(d.bus))]:
            leaks.append(f"driver {driver.name!r} still registered")
            unregister_driver(k, driver.drv)
        for record in [d for d in self.devices.values() if d.owner == module.name and d.added
                       and not self.reported_by_bus(self.bus_of.get(d.dev, 0))]:
            leaks.append(f"device {device_name(k, record.dev)!r} still registered")
            delete_device(k, record.dev)
            if record.allocated or record.on_release is not None:
                put(k, record.dev)
            else:  # the module's own struct: it and its release code go with the module
                forget_device(k, record.dev)
        for bus in [b for b in self.buses.values() if b.owner == module.name]:
            leaks.append(f"bus {bus.name!r} still registered")
            unregister_bus(k, bus.bus)
        return leaks

    def reported_by_bus(self, bus: int) -> bool:
        """Whether the bus's own core reports what a module leaves on it (platform, PCI)."""
        record = self.buses.get(bus)
        return record is not None and record.native is not None and record.native.reports_leaks

    def bus_devices(self, bus: int) -> list[int]:
        """The added devices on ``bus``, oldest first."""
        return [d.dev for d in self.devices.values() if d.added and self.bus_of.get(d.dev, 0) == bus]


def core(k: Kernel) -> DriverCore:
    """The kernel's driver core."""
    return k.subsystem(DriverCore)


# -- names ------------------------------------------------------------------------------------------

def device_name(k: Kernel, dev: int) -> str:
    """dev_name(): ``init_name`` until added, then the kobject's name."""
    memory = k.memory
    name = memory.read_u32(dev + DEV_INIT_NAME) or memory.read_u32(dev + DEV_NAME)
    return guest_string(k, name, 128)


def driver_name(k: Kernel, drv: int) -> str:
    """A ``struct device_driver``'s name."""
    return guest_string(k, Fields(k.memory, "device_driver", drv)["name"], 64)


def set_name(k: Kernel, dev: int, text: bytes) -> int:
    """kobject_set_name: a new allocated name ('/' becomes '!'), the old one freed."""
    block = allocate(k, len(text) + 1, owner="kernel")
    if not block:
        return -ENOMEM
    k.memory.write(block, text.replace(b"/", b"!") + b"\0")
    state = core(k)
    record = state.devices.get(dev)
    old = record.name_block if record is not None else 0
    k.memory.write_u32(dev + DEV_NAME, block)
    if record is None:
        record = state.devices[dev] = DeviceRecord(dev, owner_name(k))
    record.name_block = block
    if old:
        release(k, old)
    return 0


# -- buses ------------------------------------------------------------------------------------------

def register_bus(k: Kernel, bus: int, native: NativeBus | None = None, owner: str | None = None) -> int:
    """bus_register: 0, or -EEXIST for a name in use (sysfs refuses the duplicate directory)."""
    state = core(k)
    name = guest_string(k, k.memory.read_u32(bus), 64)
    if bus in state.buses:
        return -EEXIST
    if (native is None and name in BUILTIN_BUSES) or any(b.name == name for b in state.buses.values()):
        k.console_write(f"sysfs: cannot create duplicate filename '/bus/{name}'\n", 3)
        return -EEXIST
    state.buses[bus] = BusRecord(bus, name, owner or owner_name(k), native)
    from . import sysfs

    result = sysfs.bus_added(k, bus)
    if result:
        state.buses.pop(bus)
        return result
    k.trace.add("note", "bus", fields={"bus": name, "owner": state.buses[bus].owner})
    return 0


def unregister_bus(k: Kernel, bus: int) -> None:
    """bus_unregister: its drivers and devices are taken off it (devices unbound first)."""
    state = core(k)
    if state.buses.pop(bus, None) is None:
        k.trace.add("note", "unregister", caller=k.current_caller, fields={"warning": f"bus {bus:#x} was not registered"})
        return
    for dev in [d for d, b in state.bus_of.items() if b == bus]:
        if k.memory.read_u32(dev + DEV_DRIVER):
            release_driver(k, dev)
    for drv in [d.drv for d in state.drivers.values() if d.bus == bus]:
        state.drivers.pop(drv, None)
    from . import sysfs

    sysfs.bus_removed(k, bus)


# -- binding ----------------------------------------------------------------------------------------

def _bus_callback(k: Kernel, bus: int, member: str) -> int:
    return Fields(k.memory, "bus_type", bus)[member] if bus else 0


def _match(k: Kernel, dev: int, drv: int, bus: int) -> int:
    """driver_match_device: the bus's match (none matches everything)."""
    record = core(k).buses.get(bus)
    if record is not None and record.native is not None:
        return record.native.match(k, dev, drv) if record.native.match else 1
    match = _bus_callback(k, bus, "match")
    return signed32(k.call_function_pointer(match, dev, drv)) if match else 1


def _call_probe(k: Kernel, dev: int, drv: int, bus: int) -> int:
    """call_driver_probe: bus->probe, else drv->probe; logs as Linux does."""
    record = core(k).buses.get(bus)
    if record is not None and record.native is not None and record.native.probe is not None:
        result = record.native.probe(k, dev, drv)
    else:
        probe = _bus_callback(k, bus, "probe") or Fields(k.memory, "device_driver", drv)["probe"]
        result = signed32(k.call_function_pointer(probe, dev)) if probe else 0
    name, shown = driver_name(k, drv), device_name(k, dev)
    k.trace.add("note", "probe", fields={"driver": name, "device": shown, "result": result})
    if result and result not in (-EPROBE_DEFER, -ENODEV, -ENXIO):
        k.console_write(f"{name}: probe of {shown} failed with error {result}\n", 4)
    return result


def _clear_binding(k: Kernel, dev: int) -> None:
    k.memory.write_u32(dev + DEV_DRIVER, 0)
    k.memory.write_u32(dev + DEV_DRIVER_DATA, 0)


def really_probe(k: Kernel, dev: int, drv: int) -> int:
    """Bind ``drv`` to ``dev``: 0 bound, else the probe's error as a positive number (Linux's convention)."""
    if devres.has_resources(k, dev):
        _dev_log(k, dev, 2, "Resources present before probing")
        return EBUSY
    bus = k.memory.read_u32(dev + DEV_BUS)
    parent = k.memory.read_u32(dev + DEV_PARENT)
    if parent:  # driver_probe_device: the parent is kept active while its child probes
        pm_runtime.__pm_runtime_resume(k, parent, pm_runtime.RPM_GET_PUT)
    k.memory.write_u32(dev + DEV_DRIVER, drv)
    from .notifier import BUS_NOTIFY_BIND_DRIVER, BUS_NOTIFY_BOUND_DRIVER, BUS_NOTIFY_DRIVER_NOT_BOUND, notify_bus

    notify_bus(k, bus, BUS_NOTIFY_BIND_DRIVER, dev)
    result = _call_probe(k, dev, drv, bus)
    notify_bus(k, bus, BUS_NOTIFY_BOUND_DRIVER if result == 0 else BUS_NOTIFY_DRIVER_NOT_BOUND, dev)
    if parent:
        pm_runtime.__pm_runtime_idle(k, parent, pm_runtime.RPM_GET_PUT | pm_runtime.RPM_ASYNC)
    if result == 0:
        from . import sysfs

        if sysfs.driver_bound(k, dev, drv):
            _dev_log(k, dev, 3, "device_add_groups() failed")
            release_driver(k, dev)
            return ENODEV
        state = core(k)
        if dev in state.deferred:
            state.deferred.remove(dev)
        state.deferred_reasons.pop(dev, None)
        retry_deferred(k)
        return 0
    devres.release_all(k, dev)
    _clear_binding(k, dev)
    if result == -EPROBE_DEFER:
        defer(k, dev)
    return -result


def defer(k: Kernel, dev: int) -> None:
    """driver_deferred_probe_add."""
    state = core(k)
    if dev not in state.deferred:
        state.deferred.append(dev)


def retry_deferred(k: Kernel) -> None:
    """A bind succeeded: every deferred device is offered its drivers again (once more if one binds meanwhile)."""
    state = core(k)
    if state.retrying:
        state.retry_again = True
        return
    state.retrying = True
    try:
        while True:
            state.retry_again = False
            for dev in list(state.deferred):
                if dev in state.deferred and not k.memory.read_u32(dev + DEV_DRIVER):
                    state.deferred.remove(dev)
                    attach_device(k, dev)
            if not state.retry_again:
                break
    finally:
        state.retrying = False


def _drivers_of(k: Kernel, bus: int) -> list[int]:
    return [d.drv for d in core(k).drivers.values() if d.bus == bus]


def attach_device(k: Kernel, dev: int) -> int:
    """__device_attach: offer the device to its bus's drivers until one binds; 1 if bound."""
    bus = k.memory.read_u32(dev + DEV_BUS)
    if not bus or k.memory.read_u32(dev + DEV_DRIVER):
        return 0
    for drv in _drivers_of(k, bus):
        if drv not in core(k).drivers:
            continue
        matched = _match(k, dev, drv, bus)
        if matched == -EPROBE_DEFER:
            defer(k, dev)
            return 0
        if matched < 0:
            return matched  # "Bus failed to match device": the walk stops
        if matched and really_probe(k, dev, drv) == 0:
            return 1
    return 0


def attach_driver(k: Kernel, drv: int) -> int:
    """driver_attach: offer every unbound device of the bus; a match error (not deferral) is returned."""
    bus = core(k).drivers[drv].bus
    for dev in core(k).bus_devices(bus):
        if k.memory.read_u32(dev + DEV_DRIVER) or dev not in core(k).devices:
            continue
        matched = _match(k, dev, drv, bus)
        if matched == -EPROBE_DEFER:
            defer(k, dev)
            continue
        if matched < 0:
            return matched
        if matched:
            really_probe(k, dev, drv)
    return 0


def release_driver(k: Kernel, dev: int) -> None:
    """__device_release_driver: remove (bus's, else driver's), devres newest first, binding cleared."""
    drv = k.memory.read_u32(dev + DEV_DRIVER)
    if not drv:
        return
    from . import sysfs

    sysfs.driver_unbinding(k, dev, drv)
    pm_runtime.__pm_runtime_resume(k, dev, pm_runtime.RPM_GET_PUT)  # remove runs with the device active
    bus = k.memory.read_u32(dev + DEV_BUS)
    from .notifier import BUS_NOTIFY_UNBIND_DRIVER, BUS_NOTIFY_UNBOUND_DRIVER, notify_bus

    notify_bus(k, bus, BUS_NOTIFY_UNBIND_DRIVER, dev)
    record = core(k).buses.get(bus)
    if record is not None and record.native is not None and record.native.remove is not None:
        record.native.remove(k, dev, drv)
    else:
        remove = _bus_callback(k, bus, "remove") or Fields(k.memory, "device_driver", drv)["remove"]
        if remove:
            k.call_function_pointer(remove, dev)
    devres.release_all(k, dev)
    pm_runtime.__pm_runtime_idle(k, dev, pm_runtime.RPM_GET_PUT)
    _clear_binding(k, dev)
    notify_bus(k, bus, BUS_NOTIFY_UNBOUND_DRIVER, dev)
    pm_runtime.reinit(k, dev)
    k.trace.add("note", "unbind", fields={"driver": driver_name(k, drv), "device": device_name(k, dev)})


# -- drivers ----------------------------------------------------------------------------------------

def register_driver(k: Kernel, drv: int, owner: str | None = None, *, by_bus_core: bool = False) -> int:
    """driver_register: checks as Linux, then every device of the bus is offered to it.

    ``by_bus_core``: a bus's Python core registers it (and undoes it when the module leaks it)."""
    if not drv:
        return -EINVAL
    state = core(k)
    fields = Fields(k.memory, "device_driver", drv)
    bus, name = fields["bus"], driver_name(k, drv)
    if bus and bus not in state.buses and k.module_at(bus) is None:
        # A bus of the kernel itself that no Python core models (spi, serio, ...): it exists, has no devices.
        register_bus(k, bus, NativeBus(), owner="kernel")
    if not bus or bus not in state.buses:
        bus_shown = guest_string(k, k.memory.read_u32(bus), 64) if bus else "(null)"
        k.console_write(f"Driver '{name}' was unable to register with bus_type '{bus_shown}' because the bus "
                        "was not initialized.\n", 3)
        return -EINVAL
    if ((_bus_callback(k, bus, "probe") and fields["probe"]) or (_bus_callback(k, bus, "remove") and fields["remove"])
            or (_bus_callback(k, bus, "shutdown") and fields["shutdown"])):
        k.console_write(f"Driver '{name}' needs updating - please use bus_type methods\n", 4)
    if drv in state.drivers or any(d.bus == bus and d.name == name for d in state.drivers.values()):
        k.console_write(f"Error: Driver '{name}' is already registered, aborting...\n", 3)
        return -EBUSY
    if owner is None:  # drv->owner (THIS_MODULE) names the driver's module even when a bus core registers it
        module = k.module_at(fields["owner"]) if fields["owner"] else None
        owner = module.name if module is not None else owner_name(k)
    state.drivers[drv] = DriverRecord(drv, name, bus, owner, by_bus_core)
    k.trace.add("note", "driver", fields={"driver": name, "bus": state.buses[bus].name,
                                          "owner": state.drivers[drv].owner})
    from . import sysfs

    result = sysfs.driver_added(k, drv)
    if result:
        state.drivers.pop(drv)
        return result
    result = attach_driver(k, drv)
    if result:
        unregister_driver(k, drv)
    return result


def unregister_driver(k: Kernel, drv: int) -> bool:
    """driver_unregister: every bound device unbound (remove runs), then the driver forgotten; False if unknown."""
    state = core(k)
    if drv not in state.drivers:
        return False
    for dev in [d for d in list(state.devices) if k.memory.read_u32(d + DEV_DRIVER) == drv]:
        release_driver(k, dev)
    state.drivers.pop(drv, None)
    from . import sysfs

    sysfs.driver_removed(k, drv)
    return True


# -- devices ----------------------------------------------------------------------------------------

def initialize_device(k: Kernel, dev: int, owner: str | None = None) -> DeviceRecord:
    """device_initialize: one reference, the kobject initialized, lists empty."""
    fields = Fields(k.memory, "device", dev)
    fields["kobj.kref.refcount"] = 1
    _set_state(k, dev, STATE_INITIALIZED)
    for head in ("kobj.entry", "dma_pools", "devres_head", "links.consumers", "links.suppliers",
                 "links.defer_sync", "power.entry"):
        where = fields.address_of(head)
        k.memory.write_u32(where, where)
        k.memory.write_u32(where + 4, where)
    pm_runtime.init(k, dev)
    state = core(k)
    record = state.devices.get(dev)
    if record is None:
        record = state.devices[dev] = DeviceRecord(dev, owner or owner_name(k))
    else:
        record.owner = owner or owner_name(k)
    return record


def _set_state(k: Kernel, dev: int, bit: int, on: bool = True) -> None:
    bits = k.memory.read_u32(dev + KOBJ_STATE)
    k.memory.write_u32(dev + KOBJ_STATE, bits | bit if on else bits & ~bit)


def forget_device(k: Kernel, dev: int) -> None:
    """Drop the core's record of a device whose memory is going away (its module unloads) without a release."""
    state = core(k)
    record = state.devices.pop(dev, None)
    state.bus_of.pop(dev, None)
    if dev in state.deferred:
        state.deferred.remove(dev)
    if record is not None and record.name_block:
        release(k, record.name_block)


def root_device(k: Kernel, name: str) -> int:
    """A kernel device with no bus, added under /sys/devices (``platform``, ``virtual``, a bus's root)."""
    dev = allocate(k, DEVICE_SIZE, owner="kernel")
    if not dev:
        return 0
    initialize_device(k, dev, owner="kernel").on_release = _free_created
    if set_name(k, dev, name.encode()) or add_device(k, dev):
        return 0
    return dev


def _kref(k: Kernel, dev: int) -> int:
    return k.memory.read_u32(dev + DEV_KREF)


def get(k: Kernel, dev: int) -> int:
    """get_device: one more reference (NULL stays NULL)."""
    if dev:
        k.memory.write_u32(dev + DEV_KREF, _kref(k, dev) + 1)
    return dev


def put(k: Kernel, dev: int) -> None:
    """put_device: one reference less; the last one releases the device (device_release)."""
    if not dev:
        return
    count = _kref(k, dev)
    state_bits = k.memory.read_u32(dev + KOBJ_STATE)
    if not state_bits & STATE_INITIALIZED:
        name = device_name(k, dev) or "(null)"
        k.console_write(f"kobject: '{name}' ({dev:08x}): is not initialized, yet kobject_put() is being called.\n", 3)
        k.warn(f"put_device of {dev:#x} ({name}): the device was never initialized")
        return
    if count == 0:
        k.console_write("refcount_t: underflow; use-after-free.\n", 4)
        k.warn(f"put_device of {dev:#x} ({device_name(k, dev)}): reference count already 0")
        return
    k.memory.write_u32(dev + DEV_KREF, count - 1)
    if count == 1:
        _device_release(k, dev)


def _device_release(k: Kernel, dev: int) -> None:
    """kobject_cleanup + device_release: devres, then the first release callback Linux finds."""
    state = core(k)
    record = state.devices.get(dev)
    if record is not None and record.added:  # the last reference went without device_del: kobject_del as Linux
        delete_device(k, dev)
    name = device_name(k, dev)
    devres.release_all(k, dev)
    fields = Fields(k.memory, "device", dev)
    callback = fields["release"]
    dev_type, cls = fields["type"], fields["class"]
    if not callback and dev_type:
        callback = Fields(k.memory, "device_type", dev_type)["release"]
    if not callback and cls:
        callback = Fields(k.memory, "class", cls)["dev_release"]
    state.devices.pop(dev, None)
    state.bus_of.pop(dev, None)
    k.trace.add("note", "device release", fields={"device": name})
    if record is not None and record.on_release is not None:
        record.on_release(k, dev)
    elif callback:
        k.call_function_pointer(callback, dev)
    else:
        k.console_write(f"Device '{name}' does not have a release() function, it is broken and must be fixed. "
                        "See Documentation/core-api/kobject.rst.\n", 3)
        k.warn(f"device {name!r} ({dev:#x}) has no release() function")
    if record is not None and record.name_block:
        release(k, record.name_block)
    if record is not None and record.allocated:
        release(k, dev)


def devpath(k: Kernel, dev: int, depth: int = 0) -> str:
    """The device's path under /sys, as get_device_parent places it (/devices/..., virtual class devices)."""
    fields = Fields(k.memory, "device", dev)
    parent, cls = fields["parent"], fields["class"]
    name = device_name(k, dev)
    if depth > 32:
        return "/devices/" + name
    if cls:
        class_name = guest_string(k, k.memory.read_u32(cls), 64)
        if not parent:
            base = "/devices/virtual/" + class_name
        elif Fields(k.memory, "device", parent)["class"]:
            base = devpath(k, parent, depth + 1)
        else:
            base = devpath(k, parent, depth + 1) + "/" + class_name
    else:
        base = devpath(k, parent, depth + 1) if parent else _root(k, fields["bus"])
    return base + "/" + name


def _root(k: Kernel, bus: int) -> str:
    """Where a device without a parent sits: platform_device_add gives platform devices the
    ``platform`` device as parent (/devices/platform/...); others are at /devices."""
    return "/devices/platform" if bus and bus == k.export_address("platform_bus_type") else "/devices"


def add_device(k: Kernel, dev: int) -> int:
    """device_add: named (init_name, else bus dev_name + id), on the bus, uevent sent, a driver bound."""
    state = core(k)
    fields = Fields(k.memory, "device", dev)
    if dev not in state.devices or not k.memory.read_u32(dev + KOBJ_STATE) & STATE_INITIALIZED:
        initialize_device(k, dev)
    record = state.devices[dev]
    if record.added:
        return -EEXIST
    init_name = fields["init_name"]
    if init_name:
        result = set_name(k, dev, k.memory.read_cstring(init_name, 128))
        fields["init_name"] = 0
        if result:
            return result
    bus = fields["bus"]
    if not fields["kobj.name"] and bus:
        prefix = Fields(k.memory, "bus_type", bus)["dev_name"]
        if prefix:
            set_name(k, dev, k.memory.read_cstring(prefix, 64) + b"%u" % fields["id"])
    if not fields["kobj.name"] or not device_name(k, dev):
        return -EINVAL
    path = devpath(k, dev)
    get(k, fields["parent"])
    record.added = True
    state.bus_of[dev] = bus
    _set_state(k, dev, STATE_IN_SYSFS)
    from . import sysfs

    result = sysfs.device_added(k, dev)  # -EEXIST (Linux's "cannot create duplicate filename") for a path in use
    if result:
        record.added = False
        state.bus_of.pop(dev, None)
        _set_state(k, dev, STATE_IN_SYSFS, False)
        put(k, fields["parent"])
        return result
    k.trace.add("note", "device", fields={"device": device_name(k, dev), "path": path, "owner": record.owner})
    from .notifier import BUS_NOTIFY_ADD_DEVICE, notify_bus

    notify_bus(k, bus, BUS_NOTIFY_ADD_DEVICE, dev)
    send_uevent(k, dev, "add")
    if bus and bus in state.buses:
        attach_device(k, dev)
    if fields["class"]:  # class interfaces hear of it as device_add ends, after the probe
        from .device import class_device_event

        class_device_event(k, dev, added=True)
    return 0


def delete_device(k: Kernel, dev: int) -> None:
    """device_del: unbound, off its bus and out of sysfs (the reference on the parent dropped)."""
    state = core(k)
    record = state.devices.get(dev)
    if record is None or not record.added:
        return
    from .notifier import BUS_NOTIFY_DEL_DEVICE, BUS_NOTIFY_REMOVED_DEVICE, notify_bus

    bus = state.bus_of.get(dev, 0)
    notify_bus(k, bus, BUS_NOTIFY_DEL_DEVICE, dev)
    if k.memory.read_u32(dev + DEV_CLASS):
        from .device import class_device_event

        class_device_event(k, dev, added=False)
    if k.memory.read_u32(dev + DEV_DRIVER):
        release_driver(k, dev)
    if dev in state.deferred:
        state.deferred.remove(dev)
    send_uevent(k, dev, "remove")
    from . import sysfs

    sysfs.device_removed(k, dev)
    from . import pm_wakeup

    pm_wakeup.detach(k, dev)  # device_pm_remove: device_wakeup_disable
    pm_runtime.__pm_runtime_disable(k, dev, 0)  # pm_runtime_remove
    pm_runtime.reinit(k, dev)
    record.added = False
    fields = Fields(k.memory, "device", dev)
    _set_state(k, dev, STATE_IN_SYSFS, False)
    notify_bus(k, bus, BUS_NOTIFY_REMOVED_DEVICE, dev)
    put(k, fields["parent"])


def send_uevent(k: Kernel, dev: int, action: str) -> int:
    """kobject_uevent for a device: ACTION, DEVPATH, SUBSYSTEM, MAJOR/MINOR/DEVNAME, DEVTYPE, DRIVER, then the
    bus's ``uevent`` in the guest (its add_uevent_var calls append), recorded in ``uevents`` and the trace."""
    fields = Fields(k.memory, "device", dev)
    bus, cls, dev_type = fields["bus"], fields["class"], fields["type"]
    subsystem = bus or cls
    env = [f"ACTION={action}", f"DEVPATH={devpath(k, dev)}"]
    if subsystem:
        env.append(f"SUBSYSTEM={guest_string(k, k.memory.read_u32(subsystem), 64)}")
    devt = fields["devt"]
    if devt >> MINORBITS:
        env += [f"MAJOR={devt >> MINORBITS}", f"MINOR={devt & ((1 << MINORBITS) - 1)}", f"DEVNAME={device_name(k, dev)}"]
    if dev_type and Fields(k.memory, "device_type", dev_type)["name"]:
        env.append(f"DEVTYPE={guest_string(k, Fields(k.memory, 'device_type', dev_type)['name'], 64)}")
    if fields["driver"]:
        env.append(f"DRIVER={driver_name(k, fields['driver'])}")
    callbacks = [(bus and bus in core(k).buses and Fields(k.memory, "bus_type", bus)["uevent"]),
                 (cls and Fields(k.memory, "class", cls)["dev_uevent"]),
                 (dev_type and Fields(k.memory, "device_type", dev_type)["uevent"])]
    result = 0
    callbacks = [c for c in callbacks if c]
    if callbacks:
        block = allocate(k, size("kobj_uevent_env"), owner="kernel")
        if not block:
            return -ENOMEM
        try:
            for text in env:
                _append_uevent_var(k, block, text.encode())
            for callback in callbacks:
                result = signed32(k.call_function_pointer(callback, dev, block))
                if result:
                    break
            env = _uevent_vars(k, block)
        finally:
            release(k, block)
    if result == 0:
        core(k).uevents.append((devpath(k, dev), env))
        k.trace.add("note", "uevent", fields={"env": env})
    return result


def _append_uevent_var(k: Kernel, env: int, text: bytes) -> int:
    fields = Fields(k.memory, "kobj_uevent_env", env)
    index, used = fields["envp_idx"], fields["buflen"]
    if index >= 64:
        k.warn("add_uevent_var: too many keys")
        return -ENOMEM
    if used + len(text) + 1 > 2048:
        k.warn("add_uevent_var: buffer size too small")
        return -ENOMEM
    where = fields.address_of("buf") + used
    k.memory.write(where, text + b"\0")
    k.memory.write_u32(fields.address_of("envp") + 4 * index, where)
    fields["envp_idx"], fields["buflen"] = index + 1, used + len(text) + 1
    return 0


def _uevent_vars(k: Kernel, env: int) -> list[str]:
    fields = Fields(k.memory, "kobj_uevent_env", env)
    envp = fields.address_of("envp")
    return [guest_string(k, k.memory.read_u32(envp + 4 * i), 2048) for i in range(min(fields["envp_idx"], 64))]


def _dev_log(k: Kernel, dev: int, level: int, text: str) -> None:
    from .printk import _device_prefix

    k.console_write(_device_prefix(k, dev).decode("utf-8", "replace") + text + "\n", level)


# -- services: buses and drivers ----------------------------------------------------------------------

@service("int bus_register(struct bus_type *bus)")
def bus_register(k: Kernel, bus: int) -> int:
    """Register a bus type; -EEXIST if the name is in use."""
    return register_bus(k, bus) if bus else -EINVAL


@service("void bus_unregister(struct bus_type *bus)")
def bus_unregister(k: Kernel, bus: int) -> None:
    """Remove a bus type (its devices are unbound)."""
    unregister_bus(k, bus)


@service("int driver_register(struct device_driver *drv)")
def driver_register(k: Kernel, drv: int) -> int:
    """Register a driver on its bus; every matching device probes now."""
    return register_driver(k, drv)


@service("void driver_unregister(struct device_driver *drv)")
def driver_unregister(k: Kernel, drv: int) -> None:
    """Unbind the driver from its devices and forget it.

    The stand-in bus registrations of :mod:`.drivers` (spi, usb, ...)
    inline their unregister to this too: a driver the core does not know
    goes to that table.
    """
    if not unregister_driver(k, drv):
        from .drivers import unregister_embedded

        unregister_embedded(k, drv)


@service("int bus_rescan_devices(struct bus_type *bus)")
def bus_rescan_devices(k: Kernel, bus: int) -> int:
    """Offer every unbound device of the bus to its drivers again; 0 (-EINVAL for an unknown bus)."""
    if not bus or bus not in core(k).buses:
        return -EINVAL
    for dev in core(k).bus_devices(bus):
        if not k.memory.read_u32(dev + DEV_DRIVER):
            attach_device(k, dev)
    return 0


@service("struct device_driver *driver_find(const char *name, struct bus_type *bus)")
def driver_find(k: Kernel, name: int, bus: int) -> int:
    """The driver called ``name`` on ``bus``, or NULL."""
    wanted = guest_string(k, name, 64)
    for record in core(k).drivers.values():
        if record.bus == bus and record.name == wanted:
            return record.drv
    return 0


def _walk(k: Kernel, items: list[int], start: int, fn: int, data: int) -> int:
    if start in items:
        items = items[items.index(start) + 1:]
    for item in items:
        result = signed32(k.call_function_pointer(fn, item, data))
        if result:
            return result
    return 0


@service("int bus_for_each_dev(const struct bus_type *bus, struct device *start, void *data, "
         "int (*fn)(struct device *dev, void *data))")
def bus_for_each_dev(k: Kernel, bus: int, start: int, data: int, fn: int) -> int:
    """Call ``fn(dev, data)`` for each device of the bus after ``start``; the first non-zero result stops it."""
    if not bus or bus not in core(k).buses:
        return -EINVAL
    return _walk(k, core(k).bus_devices(bus), start, fn, data)


@service("int bus_for_each_drv(const struct bus_type *bus, struct device_driver *start, void *data, "
         "int (*fn)(struct device_driver *, void *))")
def bus_for_each_drv(k: Kernel, bus: int, start: int, data: int, fn: int) -> int:
    """Call ``fn(drv, data)`` for each driver of the bus after ``start``."""
    if not bus or bus not in core(k).buses:
        return -EINVAL
    return _walk(k, _drivers_of(k, bus), start, fn, data)


@service("int driver_for_each_device(struct device_driver *drv, struct device *start, void *data, "
         "int (*fn)(struct device *dev, void *))")
def driver_for_each_device(k: Kernel, drv: int, start: int, data: int, fn: int) -> int:
    """Call ``fn(dev, data)`` for each device bound to the driver."""
    if not drv:
        return -EINVAL
    bound = [d for d in core(k).devices if k.memory.read_u32(d + DEV_DRIVER) == drv and core(k).devices[d].added]
    return _walk(k, bound, start, fn, data)


@service("struct device *bus_find_device(const struct bus_type *bus, struct device *start, const void *data, "
         "int (*match)(struct device *dev, const void *data))")
def bus_find_device(k: Kernel, bus: int, start: int, data: int, match: int) -> int:
    """The first device of the bus after ``start`` that ``match`` accepts, with a reference taken; NULL if none."""
    if not bus or bus not in core(k).buses:
        return 0
    devices = core(k).bus_devices(bus)
    if start in devices:
        devices = devices[devices.index(start) + 1:]
    for dev in devices:
        if signed32(k.call_function_pointer(match, dev, data)):
            return get(k, dev)
    return 0


def _children(k: Kernel, parent: int) -> list[int]:
    return [d.dev for d in core(k).devices.values() if d.added and k.memory.read_u32(d.dev + DEV_PARENT) == parent]


@service("int device_for_each_child(struct device *parent, void *data, int (*fn)(struct device *dev, void *data))")
def device_for_each_child(k: Kernel, parent: int, data: int, fn: int) -> int:
    """Call ``fn(child, data)`` for each child of ``parent``; the first non-zero result stops it."""
    return _walk(k, _children(k, parent), 0, fn, data) if parent else 0


@service("struct device *device_find_child(struct device *parent, void *data, int (*match)(struct device *dev, void *data))")
def device_find_child(k: Kernel, parent: int, data: int, match: int) -> int:
    """The first child ``match`` accepts, with a reference taken; NULL if none."""
    for dev in _children(k, parent) if parent else []:
        if signed32(k.call_function_pointer(match, dev, data)):
            return get(k, dev)
    return 0


@service("int device_match_name(struct device *dev, const void *name)")
def device_match_name(k: Kernel, dev: int, name: int) -> int:
    """bus_find_device_by_name's match: the device's name equals ``name``."""
    return int(device_name(k, dev) == guest_string(k, name, 128))


@service("int device_match_devt(struct device *dev, const void *pdevt)")
def device_match_devt(k: Kernel, dev: int, pdevt: int) -> int:
    """Match on ``*(dev_t *)pdevt``."""
    return int(k.memory.read_u32(dev + DEV_DEVT) == k.memory.read_u32(pdevt))


@service("int device_match_any(struct device *dev, const void *unused)")
def device_match_any(k: Kernel, dev: int, unused: int) -> int:
    """Match every device."""
    return 1


@service("const char *dev_driver_string(const struct device *dev)")
def dev_driver_string(k: Kernel, dev: int) -> int:
    """The bound driver's name, else the bus's, else the class's, else ""."""
    fields = Fields(k.memory, "device", dev)
    for owner in (fields["driver"], fields["bus"], fields["class"]):
        if owner:
            return k.memory.read_u32(owner)
    state = core(k)
    if not state.empty_string:
        state.empty_string = allocate(k, 1, owner="kernel")
    return state.empty_string


# -- services: devices ----------------------------------------------------------------------------------

@service("void device_initialize(struct device *dev)")
def device_initialize(k: Kernel, dev: int) -> None:
    """Prepare a device struct: one reference, empty lists."""
    initialize_device(k, dev)


@service("int device_add(struct device *dev)")
def device_add(k: Kernel, dev: int) -> int:
    """Add an initialized device: named, on its bus, a driver bound if one matches."""
    return add_device(k, dev) if dev else -EINVAL


@service("int device_register(struct device *dev)")
def device_register(k: Kernel, dev: int) -> int:
    """device_initialize + device_add (on failure the caller still owes a put_device)."""
    if not dev:
        return -EINVAL
    initialize_device(k, dev)
    return add_device(k, dev)


@service("void device_del(struct device *dev)")
def device_del(k: Kernel, dev: int) -> None:
    """Take the device off its bus and out of sysfs (unbinding it first)."""
    if dev:
        delete_device(k, dev)


@service("void device_unregister(struct device *dev)")
def device_unregister(k: Kernel, dev: int) -> None:
    """device_del + put_device."""
    if dev:
        delete_device(k, dev)
        put(k, dev)


@service("struct device *get_device(struct device *dev)")
def get_device(k: Kernel, dev: int) -> int:
    """Take a reference on the device."""
    return get(k, dev)


@service("void put_device(struct device *dev)")
def put_device(k: Kernel, dev: int) -> None:
    """Drop a reference; the last one releases the device."""
    put(k, dev)


@service("int dev_set_name(struct device *dev, const char *fmt, ...)")
def dev_set_name(k: Kernel, dev: int, fmt: int, args: VarArgs) -> int:
    """Name the device with a printf format (its kobject's name)."""
    from .printk import format_guest

    return set_name(k, dev, format_guest(k, fmt, args))


@service("int device_bind_driver(struct device *dev)")
def device_bind_driver(k: Kernel, dev: int) -> int:
    """Mark ``dev->driver`` (set by the caller) bound, without a probe."""
    drv = k.memory.read_u32(dev + DEV_DRIVER)
    if not drv:
        return -ENODEV
    from . import sysfs

    return sysfs.driver_bound(k, dev, drv)


@service("void device_release_driver(struct device *dev)")
def device_release_driver(k: Kernel, dev: int) -> None:
    """Unbind the device's driver (remove, devres, binding cleared)."""
    if dev:
        release_driver(k, dev)


@service("int device_attach(struct device *dev)")
def device_attach(k: Kernel, dev: int) -> int:
    """Try to bind a driver: 1 bound (or already), 0 none found, or a match error."""
    if k.memory.read_u32(dev + DEV_DRIVER):
        return 1
    return attach_device(k, dev)


@service("int driver_attach(struct device_driver *drv)")
def driver_attach(k: Kernel, drv: int) -> int:
    """Offer every unbound device of the driver's bus to it."""
    return attach_driver(k, drv) if drv in core(k).drivers else -EINVAL


@service("int device_reprobe(struct device *dev)")
def device_reprobe(k: Kernel, dev: int) -> int:
    """Unbind the driver and look for one again."""
    release_driver(k, dev)
    result = attach_device(k, dev)
    return result if result < 0 else 0


@service("bool device_is_bound(struct device *dev)")
def device_is_bound(k: Kernel, dev: int) -> int:
    """Whether a driver is bound (probe finished)."""
    return int(bool(k.memory.read_u32(dev + DEV_DRIVER)))


# -- class devices ---------------------------------------------------------------------------------------

def _free_created(k: Kernel, dev: int) -> None:
    """device_create_release: kfree(dev)."""
    release(k, dev)


def create_device(k: Kernel, cls: int, parent: int, devt: int, drvdata: int, groups: int, name: bytes) -> int:
    """device_create_groups_vargs: a class device, allocated by the core; ERR_PTR on failure."""
    if not cls or is_err(cls):
        return err_ptr(ENODEV)
    dev = allocate(k, DEVICE_SIZE, owner="kernel")
    if not dev:
        return err_ptr(ENOMEM)
    record = initialize_device(k, dev)
    record.on_release = _free_created
    fields = Fields(k.memory, "device", dev)
    fields["devt"], fields["class"], fields["parent"] = devt, cls, parent
    fields["groups"], fields["driver_data"] = groups, drvdata
    result = set_name(k, dev, name) or add_device(k, dev)
    if result:
        put(k, dev)
        return err_ptr(-result)
    return dev


@service("struct device *device_create(struct class *cls, struct device *parent, dev_t devt, void *drvdata, "
         "const char *fmt, ...)")
def device_create(k: Kernel, cls: int, parent: int, devt: int, drvdata: int, fmt: int, args: VarArgs) -> int:
    """Create and add a class device named by ``fmt``; ERR_PTR on failure."""
    from .printk import format_guest

    return create_device(k, cls, parent, devt, drvdata, 0, format_guest(k, fmt, args))


@service("struct device *device_create_with_groups(struct class *cls, struct device *parent, dev_t devt, "
         "void *drvdata, const struct attribute_group **groups, const char *fmt, ...)")
def device_create_with_groups(k: Kernel, cls: int, parent: int, devt: int, drvdata: int, groups: int, fmt: int,
                              args: VarArgs) -> int:
    """device_create with attribute groups made with it."""
    from .printk import format_guest

    return create_device(k, cls, parent, devt, drvdata, groups, format_guest(k, fmt, args))


@service("void device_destroy(struct class *cls, dev_t devt)")
def device_destroy(k: Kernel, cls: int, devt: int) -> None:
    """Unregister the class device with ``devt`` (nothing if there is none)."""
    for record in list(core(k).devices.values()):
        fields = Fields(k.memory, "device", record.dev)
        if record.added and fields["class"] == cls and fields["devt"] == devt:
            delete_device(k, record.dev)
            put(k, record.dev)
            return


@service("void dev_pm_domain_set(struct device *dev, struct dev_pm_domain *pd)")
def dev_pm_domain_set(k: Kernel, dev: int, pd: int) -> None:
    """Give the device a PM domain (its ops come first for runtime PM); only while unbound, as Linux warns."""
    fields = Fields(k.memory, "device", dev)
    if fields["pm_domain"] == pd:
        return
    if pd and fields["driver"]:
        k.warn(f"dev_pm_domain_set on {device_name(k, dev)}: PM domains can only be changed for unbound devices")
    fields["pm_domain"] = pd


@service("int add_uevent_var(struct kobj_uevent_env *env, const char *format, ...)")
def add_uevent_var(k: Kernel, env: int, fmt: int, args: VarArgs) -> int:
    """Append ``KEY=value`` to a uevent environment; -ENOMEM when it is full."""
    from .printk import format_guest

    try:
        return _append_uevent_var(k, env, format_guest(k, fmt, args))
    except GuestFault:
        return -EINVAL
