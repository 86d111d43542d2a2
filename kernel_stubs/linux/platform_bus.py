"""Linux 6.1's platform bus: platform devices, platform drivers, binding and probe; devres (:mod:`.devres`) released at unbind.

A platform device comes from a module (``platform_device_register_full``,
``platform_device_alloc``+``_add``, a static ``platform_device_register``)
or from the host (``k.platform.add(...)``, the way arch code and firmware
describe a PC's devices). Drivers register with ``__platform_driver_register``.
Binding follows drivers/base/platform.c's ``platform_match``: the driver's
``id_table`` by name (``pdev->id_entry`` is set), else the driver's name;
there is no OF or ACPI here. Probe runs as soon as a device and a driver
match, in whichever order they arrive; ``-EPROBE_DEFER`` puts the device on
the deferred list, retried after every successful bind; another error is
logged as ``really_probe`` logs it and leaves the device unbound.

Unbinding (driver or device unregistered, or the module unloading) calls
``remove``, then releases the device's managed resources (devres: ``devm_*``)
newest first, then clears ``dev->driver`` and the driver data.

Structures are read and written through the layout table generated from the
kernel's DWARF (:mod:`kernel_stubs.linux.layout`): ``struct
platform_device`` (500 bytes; ``dev`` at 12), ``struct device`` (448),
``struct platform_driver`` (``driver`` at 20), ``struct
platform_device_info``, ``struct platform_device_id`` (name[20],
driver_data), ``struct resource`` (32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.devices.platform import PLATFORM_DEVID_NONE, PlatformDeviceSpec
from sandbox.errors import SandboxError
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import driver_core
from .layout import Fields, offset, size
from .platform import IORESOURCE_IO, IORESOURCE_MEM
from .registrations import EINVAL, ENODEV, ENOMEM, attached, err_ptr, guest_string, is_err, match_name_table, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EPROBE_DEFER, ENXIO = 517, 6
PLATFORM_DEVID_AUTO = -2
PLATFORM_NAME_SIZE = 20
IORESOURCE_IRQ, IORESOURCE_DMA, IORESOURCE_TYPE_BITS = 0x400, 0x800, 0x1F00
_KIND_FLAGS = {"io": IORESOURCE_IO, "mem": IORESOURCE_MEM, "irq": IORESOURCE_IRQ, "dma": IORESOURCE_DMA}

PDEV_SIZE, DEVICE_SIZE, RESOURCE_SIZE = size("platform_device"), size("device"), size("resource")
PDEV_DEV = offset("platform_device", "dev")
DEV_KOBJ_NAME = offset("device", "kobj.name")
DEV_DRIVER = offset("device", "driver")
DEV_DRIVER_DATA = offset("device", "driver_data")
DRV_DRIVER = offset("platform_driver", "driver")
DRIVER_NAME, DRIVER_OWNER = offset("device_driver", "name"), offset("device_driver", "owner")
ID_SIZE = size("platform_device_id")
ID_DRIVER_DATA = offset("platform_device_id", "driver_data")

# struct bus_type platform_bus_type: only its name is read by drivers (dev->bus->name in messages).
_BUS_NAME = b"platform\0"
platform_bus_type = kernel_variable("platform_bus_type", size("bus_type"), b"")


@dataclass(slots=True)
class PlatformDevice:
    """A platform device the core knows: its struct, who made it, what is bound to it."""

    pdev: int
    name: str
    id: int
    owner: str  # the module that registered it, "kernel" for the host's
    allocated: bool  # the core allocated the struct (freed when it goes)
    added: bool = False
    driver: int = 0  # the platform_driver bound to it
    spec: str | None = None  # the host-side description it stands for
    blocks: list[int] = field(default_factory=list)  # name, resources, platform_data the core allocated

    @property
    def dev(self) -> int:
        """Its ``struct device``."""
        return self.pdev + PDEV_DEV


@dataclass(slots=True)
class PlatformDriver:
    """A registered platform driver."""

    drv: int
    name: str
    owner: str
    probe_once: bool = False  # __platform_driver_probe: only the devices present now
    probe_done: bool = False  # ... and those have been offered


class PlatformCore:
    """The platform bus of one kernel: devices, drivers, deferred probes, devres."""

    def __init__(self) -> None:
        self.devices: dict[int, PlatformDevice] = {}
        self.drivers: dict[int, PlatformDriver] = {}
        self.listening = False
        self.next_auto_id = 0
        self.root = 0

    # -- the host's devices -------------------------------------------------------------
    def attach(self, k: Kernel) -> None:
        """Take the host's described devices, and hear of new ones (once per kernel)."""
        if self.listening:
            return
        self.listening = True
        bus_address = k.export_address("platform_bus_type")
        if bus_address and not k.memory.read_u32(bus_address):
            name = k.memory.alloc(len(_BUS_NAME))
            k.memory.write(name, _BUS_NAME)
            k.memory.write_u32(bus_address, name)
        if bus_address:
            driver_core.register_bus(k, bus_address, PLATFORM_BUS, owner="kernel")
        self.root = driver_core.root_device(k, "platform")  # /sys/devices/platform, every device's default parent
        try:
            bus = k.platform
        except SandboxError:  # a kernel made without a platform bus model has only modules' devices
            return
        # The listener looks the state up when called, so a restored snapshot's table is the one used.
        bus.on_add.append(lambda spec: k.subsystem(PlatformCore).host_device_added(k, spec))
        bus.on_remove.append(lambda spec: k.subsystem(PlatformCore).host_device_removed(k, spec))
        for spec in bus.specs:
            self.host_device_added(k, spec)

    def host_device_added(self, k: Kernel, spec: PlatformDeviceSpec) -> None:
        """Make the struct platform_device for a host-described device and bind a driver to it."""
        if any(d.spec == spec.device_name for d in self.devices.values()):
            return
        record = self.new_device(k, spec.name, spec.id, "kernel")
        if record is None:
            k.warn(f"platform: no memory for host device {spec.device_name}")
            return
        record.spec = spec.device_name
        if spec.resources:
            table = allocate(k, RESOURCE_SIZE * len(spec.resources), owner="kernel")
            for i, res in enumerate(spec.resources):
                fields = Fields(k.memory, "resource", table + i * RESOURCE_SIZE)
                fields["start"], fields["end"], fields["flags"] = res.start, res.end, _KIND_FLAGS[res.kind]
            self.set_resources(k, record, table, len(spec.resources))
        if spec.data:
            self.set_platform_data(k, record, spec.data)
        self.add_device(k, record)

    def host_device_removed(self, k: Kernel, spec: PlatformDeviceSpec) -> None:
        """The host withdrew a device: unbind and forget it."""
        for record in [d for d in self.devices.values() if d.spec == spec.device_name]:
            self.delete_device(k, record)
            self.free_device(k, record)

    # -- devices --------------------------------------------------------------------------
    def new_device(self, k: Kernel, name: str, id: int, owner: str) -> PlatformDevice | None:
        """platform_device_alloc: a zeroed, initialized struct with its name, not yet added."""
        pdev = allocate(k, PDEV_SIZE, owner="kernel")
        text = allocate(k, len(name) + 1, owner="kernel")
        if not pdev or not text:
            return None
        k.memory.write(text, name.encode() + b"\0")
        fields = Fields(k.memory, "platform_device", pdev)
        fields["name"], fields["id"] = text, id
        fields["platform_dma_mask"] = 0xFFFFFFFF
        fields["dev.dma_mask"] = fields.address_of("platform_dma_mask")
        fields["dev.coherent_dma_mask"] = 0xFFFFFFFF
        record = PlatformDevice(pdev, name, id, owner, allocated=True, blocks=[text])
        self.devices[pdev] = record
        # platform_device_release: what the core allocated goes with the last reference.
        driver_core.initialize_device(k, record.dev, owner).on_release = _release_platform_device
        return record

    def adopt(self, k: Kernel, pdev: int, owner: str) -> PlatformDevice:
        """A struct platform_device the module itself holds (platform_device_register initializes it)."""
        fields = Fields(k.memory, "platform_device", pdev)
        record = PlatformDevice(pdev, guest_string(k, fields["name"], 64), signed32(fields["id"]), owner, allocated=False)
        self.devices[pdev] = record
        driver_core.initialize_device(k, record.dev, owner)
        return record

    def set_resources(self, k: Kernel, record: PlatformDevice, table: int, count: int) -> None:
        fields = Fields(k.memory, "platform_device", record.pdev)
        fields["resource"], fields["num_resources"] = table, count
        record.blocks.append(table)

    def set_platform_data(self, k: Kernel, record: PlatformDevice, data: bytes) -> None:
        block = allocate(k, len(data), owner="kernel")
        k.memory.write(block, data)
        Fields(k.memory, "platform_device", record.pdev)["dev.platform_data"] = block
        record.blocks.append(block)

    def add_device(self, k: Kernel, record: PlatformDevice) -> int:
        """platform_device_add: name it (``name.id``), under /devices/platform, on the bus, a driver bound."""
        fields = Fields(k.memory, "platform_device", record.pdev)
        auto = record.id == PLATFORM_DEVID_AUTO
        if auto:
            record.id = self.next_auto_id
            self.next_auto_id += 1
            device_name = f"{record.name}.{record.id}.auto"
            fields["id_auto"] = 1
            fields["id"] = record.id
        elif record.id == PLATFORM_DEVID_NONE:
            device_name = record.name
        else:
            device_name = f"{record.name}.{record.id}"
        result = driver_core.set_name(k, record.dev, device_name.encode())
        if result:
            return result
        fields["dev.bus"] = k.export_address("platform_bus_type") or 0
        if not fields["dev.parent"]:
            fields["dev.parent"] = self.root
        text = fields["dev.kobj.name"]
        for i in range(fields["num_resources"]):
            res = Fields(k.memory, "resource", fields["resource"] + i * RESOURCE_SIZE)
            if not res["name"]:
                res["name"] = text
        record.added = True
        k.trace.add("note", "platform device", fields={"device": device_name, "owner": record.owner})
        result = driver_core.add_device(k, record.dev)
        if result:
            record.added = False
            if auto:
                record.id = PLATFORM_DEVID_AUTO
        return result

    def delete_device(self, k: Kernel, record: PlatformDevice) -> None:
        """platform_device_del: unbind and take it off the bus."""
        driver_core.delete_device(k, record.dev)
        record.added = False

    def free_device(self, k: Kernel, record: PlatformDevice) -> None:
        """platform_device_put: drop the reference its maker held (the last one frees it)."""
        if record.pdev in self.devices:
            driver_core.put(k, record.dev)

    def forget(self, k: Kernel, record: PlatformDevice) -> None:
        """The device's last reference went: free what the core allocated."""
        self.devices.pop(record.pdev, None)
        for block in record.blocks:
            release(k, block)
        record.blocks.clear()
        if record.allocated:
            release(k, record.pdev)

    # -- binding (the bus's match/probe/remove, called by the driver core) ------------------------
    def match(self, k: Kernel, record: PlatformDevice, driver: PlatformDriver) -> bool:
        """platform_match without OF/ACPI: the id table by name, else the driver's name."""
        fields = Fields(k.memory, "platform_driver", driver.drv)
        table = fields["id_table"]
        if table:
            entry = match_name_table(k, table, ID_SIZE, PLATFORM_NAME_SIZE, record.name)
            if entry:
                Fields(k.memory, "platform_device", record.pdev)["id_entry"] = entry
            return bool(entry)
        return driver.name == record.name

    def probe(self, k: Kernel, record: PlatformDevice, driver: PlatformDriver) -> int:
        """platform_probe: the driver's ``probe(pdev)``."""
        record.driver = driver.drv
        probe = Fields(k.memory, "platform_driver", driver.drv)["probe"]
        result = signed32(k.call_function_pointer(probe, record.pdev)) if probe else 0
        if result:
            record.driver = 0
        return result

    def remove(self, k: Kernel, record: PlatformDevice) -> None:
        """platform_remove: ``remove_new`` or ``remove`` (a non-zero result is ignored, with Linux's warning)."""
        driver = self.drivers.get(record.driver)
        callbacks = Fields(k.memory, "platform_driver", record.driver)
        remove_new = callbacks["remove_new"] if record.driver else 0  # 6.1.176 has the void remove_new too
        remove = callbacks["remove"] if record.driver and not remove_new else 0
        if remove_new:
            k.call_function_pointer(remove_new, record.pdev)
        elif remove:
            result = signed32(k.call_function_pointer(remove, record.pdev))
            if result:
                k.console_write(f"{driver.name if driver else 'platform'} {device_name_of(k, record)}: remove callback "
                                "returned a non-zero value. This will be ignored.\n", 4)
        record.driver = 0

    def bind_driver(self, k: Kernel, driver: PlatformDriver) -> int:
        """Register the driver with the driver core (every matching device probes); how many it took."""
        fields = Fields(k.memory, "platform_driver", driver.drv)
        fields["driver.bus"] = k.export_address("platform_bus_type") or 0
        result = driver_core.register_driver(k, driver.drv + DRV_DRIVER, owner=driver.owner, by_bus_core=True)
        if result:
            self.drivers.pop(driver.drv, None)
            return result
        return sum(1 for d in self.devices.values() if d.driver == driver.drv)

    # -- modules going -------------------------------------------------------------------------
    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers and devices a module left registered: unbound, removed, and reported."""
        leaks = []
        for driver in [d for d in self.drivers.values() if d.owner == module.name]:
            leaks.append(f"platform driver {driver.name} still registered")
            self.unregister_driver(k, driver.drv)
        for record in [d for d in self.devices.values() if d.owner == module.name]:
            leaks.append(f"platform device {device_name_of(k, record)} still registered")
            self.delete_device(k, record)
            if record.allocated:
                self.free_device(k, record)
            else:  # the module's own struct goes with it
                driver_core.forget_device(k, record.dev)
                self.devices.pop(record.pdev, None)
        return leaks

    def unregister_driver(self, k: Kernel, drv: int) -> None:
        """Unbind every device of the driver (remove runs), then forget it."""
        driver_core.unregister_driver(k, drv + DRV_DRIVER)
        self.drivers.pop(drv, None)


def _record_of_dev(k: Kernel, dev: int) -> PlatformDevice | None:
    return k.subsystem(PlatformCore).devices.get(dev - PDEV_DEV)


def _bus_match(k: Kernel, dev: int, drv: int) -> int:
    core = k.subsystem(PlatformCore)
    record, driver = core.devices.get(dev - PDEV_DEV), core.drivers.get(drv - DRV_DRIVER)
    if record is None or driver is None or (driver.probe_once and driver.probe_done):
        return 0
    return int(core.match(k, record, driver))


def _bus_probe(k: Kernel, dev: int, drv: int) -> int:
    core = k.subsystem(PlatformCore)
    record, driver = core.devices.get(dev - PDEV_DEV), core.drivers.get(drv - DRV_DRIVER)
    if record is None or driver is None:
        return -ENODEV
    result = core.probe(k, record, driver)
    if result == -EPROBE_DEFER and driver.probe_once:  # drv->prevent_deferred_probe
        k.console_write(f"{driver.name} {device_name_of(k, record)}: probe deferral not supported\n", 4)
        result = -ENXIO
    return result


def _bus_remove(k: Kernel, dev: int, drv: int) -> None:
    record = _record_of_dev(k, dev)
    if record is not None:
        k.subsystem(PlatformCore).remove(k, record)


def _release_platform_device(k: Kernel, dev: int) -> None:
    record = _record_of_dev(k, dev)
    if record is not None:
        k.subsystem(PlatformCore).forget(k, record)


PLATFORM_BUS = driver_core.NativeBus(match=_bus_match, probe=_bus_probe, remove=_bus_remove, reports_leaks=True)


def device_name_of(k: Kernel, record: PlatformDevice) -> str:
    """dev_name(): the kobject's name once added."""
    name = k.memory.read_u32(record.dev + DEV_KOBJ_NAME)
    return guest_string(k, name, 64) if name else record.name


def _core(k: Kernel) -> PlatformCore:
    return attached(k, PlatformCore)


def _record(k: Kernel, pdev: int) -> PlatformDevice | None:
    return _core(k).devices.get(pdev)


# -- devices ----------------------------------------------------------------------------------

@service("struct platform_device *platform_device_alloc(const char *name, int id)")
def platform_device_alloc(k: Kernel, name: int, id: int) -> int:
    """A new platform device, not yet added (NULL without memory)."""
    record = _core(k).new_device(k, guest_string(k, name, 64), id, owner_name(k))
    return record.pdev if record is not None else 0


@service("int platform_device_add_resources(struct platform_device *pdev, const struct resource *res, unsigned int num)")
def platform_device_add_resources(k: Kernel, pdev: int, res: int, num: int) -> int:
    """Copy ``num`` resources into the device (kmemdup, as Linux)."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    if not res or not num:
        return 0
    if num > 4096:
        return -ENOMEM
    table = allocate(k, RESOURCE_SIZE * num, owner="kernel")
    if not table:
        return -ENOMEM
    k.memory.write(table, k.memory.read(res, RESOURCE_SIZE * num))
    _core(k).set_resources(k, record, table, num)
    return 0


@service("int platform_device_add_data(struct platform_device *pdev, const void *data, size_t size)")
def platform_device_add_data(k: Kernel, pdev: int, data: int, size_: int) -> int:
    """Copy platform_data into the device."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    if data and size_:
        if size_ > 1 << 20:
            return -ENOMEM
        _core(k).set_platform_data(k, record, k.memory.read(data, size_))
    return 0


@service("int platform_device_add(struct platform_device *pdev)")
def platform_device_add(k: Kernel, pdev: int) -> int:
    """Put the device on the bus; a matching driver probes it now."""
    record = _record(k, pdev)
    return -EINVAL if record is None else _core(k).add_device(k, record)


@service("void platform_device_del(struct platform_device *pdev)")
def platform_device_del(k: Kernel, pdev: int) -> None:
    """Take the device off the bus (its driver's remove runs)."""
    record = _record(k, pdev)
    if record is not None:
        _core(k).delete_device(k, record)


@service("void platform_device_put(struct platform_device *pdev)")
def platform_device_put(k: Kernel, pdev: int) -> None:
    """Drop the device (freed: the sandbox keeps one reference per device)."""
    record = _record(k, pdev) if pdev and not is_err(pdev) else None
    if record is not None:
        if record.added:
            _core(k).delete_device(k, record)
        _core(k).free_device(k, record)


@service("void platform_device_unregister(struct platform_device *pdev)")
def platform_device_unregister(k: Kernel, pdev: int) -> None:
    """platform_device_del + platform_device_put."""
    record = _record(k, pdev) if pdev and not is_err(pdev) else None
    if record is not None:
        core = _core(k)
        core.delete_device(k, record)
        core.free_device(k, record)


@service("int platform_device_register(struct platform_device *pdev)")
def platform_device_register(k: Kernel, pdev: int) -> int:
    """Register a platform device the module holds itself (a static struct)."""
    core = _core(k)
    if pdev in core.devices:
        return -EINVAL
    record = core.adopt(k, pdev, owner_name(k))
    return core.add_device(k, record)


@service("struct platform_device *platform_device_register_full(const struct platform_device_info *pdevinfo)")
def platform_device_register_full(k: Kernel, info: int) -> int:
    """Allocate, fill from ``pdevinfo`` (name, id, resources, data) and add; ERR_PTR on failure."""
    fields = Fields(k.memory, "platform_device_info", info)
    core = _core(k)
    record = core.new_device(k, guest_string(k, fields["name"], 64), signed32(fields["id"]), owner_name(k))
    if record is None:
        return err_ptr(ENOMEM)
    pdev = record.pdev
    for step in (lambda: platform_device_add_resources(k, pdev, fields["res"], fields["num_res"]),
                 lambda: platform_device_add_data(k, pdev, fields["data"], fields["size_data"])):
        result = step()
        if result:
            core.free_device(k, record)
            return err_ptr(-result)
    Fields(k.memory, "platform_device", pdev)["dev.parent"] = fields["parent"]
    result = core.add_device(k, record)
    if result:
        core.free_device(k, record)
        return err_ptr(-result)
    return pdev


# -- drivers ---------------------------------------------------------------------------------

def _register_driver(k: Kernel, drv: int, once: bool = False) -> PlatformDriver | None:
    core = _core(k)
    if not drv or drv in core.drivers:
        return None
    name = guest_string(k, k.memory.read_u32(drv + DRV_DRIVER + DRIVER_NAME), 64)
    module = k.module_at(k.memory.read_u32(drv + DRV_DRIVER + DRIVER_OWNER)) if k.memory.read_u32(
        drv + DRV_DRIVER + DRIVER_OWNER) else None
    driver = core.drivers[drv] = PlatformDriver(drv, name, module.name if module else owner_name(k), once)
    k.trace.add("note", "platform driver", fields={"driver": name, "owner": driver.owner})
    return driver


@service("int __platform_driver_register(struct platform_driver *drv, struct module *owner)")
def __platform_driver_register(k: Kernel, drv: int, owner: int) -> int:
    """Register a driver; it probes every matching device already on the bus."""
    if drv and owner:
        k.memory.write_u32(drv + DRV_DRIVER + DRIVER_OWNER, owner)
    driver = _register_driver(k, drv)
    if driver is None:
        return -EINVAL if not drv else -16  # -EBUSY: registered twice
    result = _core(k).bind_driver(k, driver)
    return result if result < 0 else 0


@service("int __platform_driver_probe(struct platform_driver *drv, int (*probe)(struct platform_device *), "
         "struct module *module)")
def __platform_driver_probe(k: Kernel, drv: int, probe: int, module: int) -> int:
    """Register with ``probe`` for the devices present now only; -ENODEV (and unregistered) if none bound."""
    if not drv:
        return -EINVAL
    Fields(k.memory, "platform_driver", drv)["probe"] = probe
    if module:
        k.memory.write_u32(drv + DRV_DRIVER + DRIVER_OWNER, module)
    driver = _register_driver(k, drv, once=True)
    if driver is None:
        return -16
    bound = _core(k).bind_driver(k, driver)
    driver.probe_done = True
    if bound < 0:
        return bound
    if not bound:
        _core(k).unregister_driver(k, drv)
        return -ENODEV
    return 0


@service("void platform_driver_unregister(struct platform_driver *drv)")
def platform_driver_unregister(k: Kernel, drv: int) -> None:
    """Unbind the driver from its devices (their remove runs) and forget it."""
    core = _core(k)
    if drv not in core.drivers:
        k.trace.add("note", "unregister", caller=k.current_caller,
                    fields={"warning": f"platform driver {drv:#x} was not registered"})
        return
    core.unregister_driver(k, drv)


# -- resources -------------------------------------------------------------------------------

def _resources(k: Kernel, pdev: int) -> list[Fields]:
    fields = Fields(k.memory, "platform_device", pdev)
    count = min(fields["num_resources"], 4096)
    return [Fields(k.memory, "resource", fields["resource"] + i * RESOURCE_SIZE) for i in range(count)]


@service("struct resource *platform_get_resource(struct platform_device *dev, unsigned int type, unsigned int num)")
def platform_get_resource(k: Kernel, pdev: int, kind: int, num: int) -> int:
    """The ``num``-th resource of ``type`` (IORESOURCE_MEM, _IO, _IRQ, ...), or NULL."""
    matches = [r for r in _resources(k, pdev) if r["flags"] & IORESOURCE_TYPE_BITS & kind]
    return matches[num].address if num < len(matches) else 0


@service("struct resource *platform_get_resource_byname(struct platform_device *dev, unsigned int type, const char *name)")
def platform_get_resource_byname(k: Kernel, pdev: int, kind: int, name: int) -> int:
    """The resource of ``type`` called ``name``, or NULL."""
    wanted = guest_string(k, name, 64)
    for res in _resources(k, pdev):
        if res["flags"] & IORESOURCE_TYPE_BITS & kind and res["name"] and guest_string(k, res["name"], 64) == wanted:
            return res.address
    return 0


@service("struct resource *platform_get_mem_or_io(struct platform_device *dev, unsigned int num)")
def platform_get_mem_or_io(k: Kernel, pdev: int, num: int) -> int:
    """The ``num``-th resource that is MEM or IO, or NULL."""
    matches = [r for r in _resources(k, pdev) if r["flags"] & (IORESOURCE_MEM | IORESOURCE_IO)]
    return matches[num].address if num < len(matches) else 0


def _irq(k: Kernel, pdev: int, num: int) -> int:
    irqs = [r for r in _resources(k, pdev) if r["flags"] & IORESOURCE_TYPE_BITS == IORESOURCE_IRQ]
    return irqs[num]["start"] if num < len(irqs) else -ENXIO


@service("int platform_get_irq_optional(struct platform_device *dev, unsigned int num)")
def platform_get_irq_optional(k: Kernel, pdev: int, num: int) -> int:
    """The ``num``-th IRQ resource's line, or -ENXIO."""
    return _irq(k, pdev, num)


@service("int platform_get_irq(struct platform_device *dev, unsigned int num)")
def platform_get_irq(k: Kernel, pdev: int, num: int) -> int:
    """platform_get_irq_optional, logging a missing IRQ as Linux does."""
    line = _irq(k, pdev, num)
    if line < 0:
        record = _record(k, pdev)
        shown = device_name_of(k, record) if record is not None else f"{pdev:#x}"
        k.console_write(f"{record.name if record else 'platform'} {shown}: IRQ index {num} not found\n", 3)
    return line


@service("int platform_irq_count(struct platform_device *dev)")
def platform_irq_count(k: Kernel, pdev: int) -> int:
    """How many IRQ resources the device has."""
    return sum(1 for r in _resources(k, pdev) if r["flags"] & IORESOURCE_TYPE_BITS == IORESOURCE_IRQ)


@service("struct platform_device *__platform_create_bundle(struct platform_driver *driver, "
         "int (*probe)(struct platform_device *), struct resource *res, unsigned int n_res, const void *data, "
         "size_t size, struct module *module)")
def __platform_create_bundle(k: Kernel, driver: int, probe: int, res: int, n_res: int, data: int, size_: int,
                             module: int) -> int:
    """A device named after the driver (id -1) with resources and data, then __platform_driver_probe; ERR_PTR."""
    name = guest_string(k, k.memory.read_u32(driver + DRV_DRIVER + DRIVER_NAME), 64) if driver else ""
    core = _core(k)
    record = core.new_device(k, name, PLATFORM_DEVID_NONE, owner_name(k))
    if record is None:
        return err_ptr(ENOMEM)
    result = (platform_device_add_resources(k, record.pdev, res, n_res)
              or platform_device_add_data(k, record.pdev, data, size_))
    if not result:
        result = core.add_device(k, record)
        if not result:
            result = __platform_driver_probe(k, driver, probe, module)
            if not result:
                return record.pdev
            core.delete_device(k, record)
    core.free_device(k, record)
    return err_ptr(-result)
