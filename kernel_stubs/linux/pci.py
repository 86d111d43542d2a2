"""Linux 6.1's PCI core over the emulated PCI bus: pci_dev structures, driver binding, config access.

Each function on ``k.pci`` (:mod:`sandbox.devices.pci`) gets a ``struct
pci_dev`` the first time the PCI core runs, as PCI enumeration makes at
boot, and later ones as they are hot-plugged: ids, class, revision, devfn,
the IRQ line, and ``resource[0..5]`` from the BARs firmware assigned
(``pci_resource_start()`` is inline in drivers, so the fields must be
right). ``__pci_register_driver`` matches the driver's id table
(vendor/device/subsystem ids with PCI_ANY_ID, class under class_mask) and
calls ``probe(pdev, id)``; unregistering, unplugging or unloading calls
``remove(pdev)`` first. ``pci_enable_device`` turns on decoding for the
BARs the function has, ``pci_set_master`` bus mastering (the model's DMA
checks it). Layouts come from the DWARF table (``struct pci_dev`` 1488
bytes, ``dev`` at 136, ``irq`` 588, ``resource`` 592; ``struct
pci_driver``: name 8, id_table 12, probe 16, remove 20, driver 60;
``struct pci_device_id`` 32 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel_stubs.iomem import ioremap, iounmap  # noqa: F401 - exported by this profile too
from sandbox.devices.chardev import signed32
from sandbox.devices.pci import COMMAND, COMMAND_IO, COMMAND_MASTER, COMMAND_MEMORY, MSI_CAP, PciFunction
from sandbox.errors import SandboxError
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import driver_core
from .layout import Fields, offset, size
from .platform import IORESOURCE_IO, IORESOURCE_MEM, __release_region, __request_region
from .registrations import EINVAL, ENODEV, attached, guest_string, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

PCI_ANY_ID = 0xFFFFFFFF
PCI_STD_NUM_BARS = 6
PDEV_SIZE, PDEV_DEV, PDEV_RESOURCE = size("pci_dev"), offset("pci_dev", "dev"), offset("pci_dev", "resource")
RESOURCE_SIZE = size("resource")
DEV_DRIVER, DEV_DRIVER_DATA = offset("device", "driver"), offset("device", "driver_data")
DRV_DRIVER = offset("pci_driver", "driver")
ID_SIZE = size("pci_device_id")
IORESOURCE_PREFETCH, IORESOURCE_SIZEALIGN = 0x2000, 0x40000
PCIBIOS_SUCCESSFUL, PCIBIOS_DEVICE_NOT_FOUND, PCIBIOS_BAD_REGISTER_NUMBER = 0, 0x86, 0x87

pci_bus_type = kernel_variable("pci_bus_type", size("bus_type"), b"")


@dataclass(slots=True)
class PciDevice:
    """One function as the PCI core knows it."""

    pdev: int
    slot: tuple[int, int, int]
    function: PciFunction
    driver: int = 0
    regions: int = 0  # bit n: BAR n requested with pci_request_region(s)
    blocks: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        """``pci_name()``: domain:bus:device.function."""
        return f"0000:{self.slot[0]:02x}:{self.slot[1]:02x}.{self.slot[2]}"


@dataclass(slots=True)
class PciDriverRecord:
    """A registered pci_driver."""

    drv: int
    name: str
    owner: str


class PciCore:
    """The PCI core of one kernel: pci_dev per function, registered drivers."""

    def __init__(self) -> None:
        self.devices: dict[int, PciDevice] = {}
        self.drivers: dict[int, PciDriverRecord] = {}
        self.listening = False
        self.root = 0  # the host bridge's struct device (/sys/devices/pci0000:00)
        self.root_bus = 0  # struct pci_bus of bus 0, made at enumeration

    def attach(self, k: Kernel) -> None:
        """Enumerate the bus once, and hear of functions plugged in or out later."""
        if self.listening:
            return
        self.listening = True
        try:
            bus = k.pci
        except SandboxError:
            return  # a kernel made without a PCI bus: no devices, as on a machine without one
        bus_type = k.export_address("pci_bus_type")
        if bus_type and not k.memory.read_u32(bus_type):
            name = k.memory.alloc(4)
            k.memory.write(name, b"pci\0")
            k.memory.write_u32(bus_type, name)
        if bus_type:
            driver_core.register_bus(k, bus_type, PCI_BUS, owner="kernel")
        self.root = driver_core.root_device(k, "pci0000:00")  # the host bridge's /sys/devices/pci0000:00
        self.root_bus = allocate(k, size("pci_bus"), owner="kernel")
        root = Fields(k.memory, "pci_bus", self.root_bus)
        root["number"], root["primary"] = 0, 0
        k.memory.write(root.address_of("name"), b"PCI Bus 0000:00\0")
        bus.on_add.append(lambda function: k.subsystem(PciCore).plugged(k, function))
        bus.on_remove.append(lambda function: k.subsystem(PciCore).unplugged(k, function))
        for slot, function in sorted(bus.functions.items()):
            driver_core.add_device(k, self.new_device(k, slot, function).pdev + PDEV_DEV)

    def new_device(self, k: Kernel, slot: tuple[int, int, int], function: PciFunction) -> PciDevice:
        """The struct pci_dev for ``function``, as enumeration fills it."""
        pdev = allocate(k, PDEV_SIZE, owner="kernel")
        name = f"0000:{slot[0]:02x}:{slot[1]:02x}.{slot[2]}"
        text = allocate(k, len(name) + 1, owner="kernel")
        k.memory.write(text, name.encode() + b"\0")
        f = Fields(k.memory, "pci_dev", pdev)
        f["devfn"] = slot[1] << 3 | slot[2]
        f["bus"] = self.root_bus
        f["msi_cap"] = MSI_CAP if function.msi_vectors else 0  # pci_msi_init's pci_find_capability
        f["vendor"], f["device"] = function.vendor_id, function.device_id
        f["subsystem_vendor"], f["subsystem_device"] = function.subsystem_vendor_id, function.subsystem_id
        f["class"], f["revision"] = function.class_code, function.revision
        f["pin"], f["irq"] = function.interrupt_pin, function.irq or 0
        f["dma_mask"] = 0xFFFFFFFF
        driver_core.initialize_device(k, pdev + PDEV_DEV, owner="kernel").on_release = _release_pci_dev
        driver_core.set_name(k, pdev + PDEV_DEV, name.encode())
        f["dev.bus"] = k.export_address("pci_bus_type") or 0
        f["dev.parent"] = self.root
        f["dev.dma_mask"] = f.address_of("dma_mask")
        f["dev.coherent_dma_mask"] = 0xFFFFFFFF
        f["cfg_size"] = 256
        f["current_state"] = 0  # PCI_D0
        for index, bar in enumerate(function.bars[:PCI_STD_NUM_BARS]):
            if bar is None:
                continue
            res = Fields(k.memory, "resource", pdev + PDEV_RESOURCE + index * RESOURCE_SIZE)
            start = function.bar_address(index)
            res["start"], res["end"] = start, start + bar.size - 1
            res["flags"] = (IORESOURCE_IO if bar.kind == "io" else IORESOURCE_MEM) | IORESOURCE_SIZEALIGN | (
                IORESOURCE_PREFETCH if bar.prefetchable else 0)
            res["name"] = text
        record = PciDevice(pdev, slot, function, blocks=(text,))
        self.devices[pdev] = record
        return record

    def plugged(self, k: Kernel, function: PciFunction) -> None:
        """Hot-plug: the new function's pci_dev is added, and a driver probes it."""
        record = self.new_device(k, function.address, function)  # type: ignore[arg-type]
        driver_core.add_device(k, record.pdev + PDEV_DEV)

    def unplugged(self, k: Kernel, function: PciFunction) -> None:
        """Hot-unplug: remove runs, then the pci_dev goes with its last reference."""
        for record in [d for d in self.devices.values() if d.function is function]:
            driver_core.delete_device(k, record.pdev + PDEV_DEV)
            driver_core.put(k, record.pdev + PDEV_DEV)

    def forget(self, k: Kernel, record: PciDevice) -> None:
        """pci_release_dev: the last reference went."""
        self.devices.pop(record.pdev, None)
        for block in record.blocks:
            release(k, block)
        release(k, record.pdev)

    # -- binding (pci_bus_match / pci_device_probe / pci_device_remove, called by the driver core) ------
    def matching_id(self, k: Kernel, record: PciDevice, drv: int) -> int:
        """The first entry of the driver's id table that matches, or 0 (pci_match_one_device)."""
        table = Fields(k.memory, "pci_driver", drv)["id_table"]
        return match_id(k, table, record) if table else 0

    def probe(self, k: Kernel, record: PciDevice, driver: PciDriverRecord) -> int:
        """__pci_device_probe: ``probe(pdev, id)``; a positive result is taken as 0, as local_pci_probe does."""
        entry = self.matching_id(k, record, driver.drv)
        probe = Fields(k.memory, "pci_driver", driver.drv)["probe"]
        if not entry or not probe:
            return -ENODEV
        Fields(k.memory, "pci_dev", record.pdev)["driver"] = driver.drv
        record.driver = driver.drv
        result = signed32(k.call_function_pointer(probe, record.pdev, entry))
        if result < 0:
            self.forget_binding(k, record)
            return result
        return 0

    def forget_binding(self, k: Kernel, record: PciDevice) -> None:
        Fields(k.memory, "pci_dev", record.pdev)["driver"] = 0
        record.driver = 0

    def unbind(self, k: Kernel, record: PciDevice) -> None:
        """pci_device_remove: the driver's remove, then the binding cleared (the driver core releases devres)."""
        remove = Fields(k.memory, "pci_driver", record.driver)["remove"]
        if remove:
            k.call_function_pointer(remove, record.pdev)
        self.forget_binding(k, record)

    def unregister(self, k: Kernel, drv: int) -> None:
        driver_core.unregister_driver(k, drv + DRV_DRIVER)
        self.drivers.pop(drv, None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """PCI drivers a module left registered: unbound (remove runs) and reported."""
        leaks = []
        for driver in [d for d in self.drivers.values() if d.owner == module.name]:
            leaks.append(f"pci driver {k.symbolizer.short(driver.drv)} still registered")
            self.unregister(k, driver.drv)
        return leaks


def _pci_records(k: Kernel, dev: int, drv: int) -> tuple[PciCore, PciDevice | None, PciDriverRecord | None]:
    core = k.subsystem(PciCore)
    return core, core.devices.get(dev - PDEV_DEV), core.drivers.get(drv - DRV_DRIVER)


def _bus_match(k: Kernel, dev: int, drv: int) -> int:
    core, record, driver = _pci_records(k, dev, drv)
    return int(record is not None and driver is not None and bool(core.matching_id(k, record, driver.drv)))


def _bus_probe(k: Kernel, dev: int, drv: int) -> int:
    core, record, driver = _pci_records(k, dev, drv)
    return core.probe(k, record, driver) if record is not None and driver is not None else -ENODEV


def _bus_remove(k: Kernel, dev: int, drv: int) -> None:
    core, record, _driver = _pci_records(k, dev, drv)
    if record is not None and record.driver:
        core.unbind(k, record)


def _release_pci_dev(k: Kernel, dev: int) -> None:
    core = k.subsystem(PciCore)
    record = core.devices.get(dev - PDEV_DEV)
    if record is not None:
        core.forget(k, record)


PCI_BUS = driver_core.NativeBus(match=_bus_match, probe=_bus_probe, remove=_bus_remove, reports_leaks=True)


def match_id(k: Kernel, table: int, record: PciDevice) -> int:
    """pci_match_id over a table ending in an all-zero entry: the matching entry's address, or 0."""
    function = record.function
    for i in range(1024):
        entry = Fields(k.memory, "pci_device_id", table + i * ID_SIZE)
        vendor, device, sub_v, sub_d = entry["vendor"], entry["device"], entry["subvendor"], entry["subdevice"]
        cls, mask = entry["class"], entry["class_mask"]
        if not (vendor or sub_v or mask):
            return 0
        if (vendor in (PCI_ANY_ID, function.vendor_id) and device in (PCI_ANY_ID, function.device_id)
                and sub_v in (PCI_ANY_ID, function.subsystem_vendor_id) and sub_d in (PCI_ANY_ID, function.subsystem_id)
                and not (cls ^ function.class_code) & mask):
            return entry.address
    return 0


def _core(k: Kernel) -> PciCore:
    return attached(k, PciCore)


def _record(k: Kernel, pdev: int) -> PciDevice | None:
    return _core(k).devices.get(pdev)


# -- drivers ------------------------------------------------------------------------------------

@service("int __pci_register_driver(struct pci_driver *drv, struct module *owner, const char *mod_name)")
def __pci_register_driver(k: Kernel, drv: int, owner: int, mod_name: int) -> int:
    """Register a driver; every matching function without a driver is probed now."""
    core = _core(k)
    if not drv:
        return -EINVAL
    if drv in core.drivers:
        return -16
    fields = Fields(k.memory, "pci_driver", drv)
    name = guest_string(k, fields["name"], 64)
    module = k.module_at(owner) if owner else None
    driver = core.drivers[drv] = PciDriverRecord(drv, name, module.name if module is not None else owner_name(k))
    k.trace.add("note", "pci driver", fields={"driver": name, "owner": driver.owner})
    # __pci_register_driver: the embedded device_driver takes the pci_driver's name, the bus and the owner.
    fields["driver.name"], fields["driver.bus"] = fields["name"], k.export_address("pci_bus_type") or 0
    fields["driver.owner"], fields["driver.mod_name"] = owner, mod_name
    result = driver_core.register_driver(k, drv + DRV_DRIVER, owner=driver.owner, by_bus_core=True)
    if result:
        core.drivers.pop(drv, None)
    return result


@service("void pci_unregister_driver(struct pci_driver *drv)")
def pci_unregister_driver(k: Kernel, drv: int) -> None:
    """Unbind the driver from its functions (remove runs), then forget it."""
    core = _core(k)
    if drv not in core.drivers:
        k.trace.add("note", "unregister", caller=k.current_caller, fields={"warning": f"pci driver {drv:#x} was not registered"})
        return
    core.unregister(k, drv)


@service("const struct pci_device_id *pci_match_id(const struct pci_device_id *ids, struct pci_dev *dev)")
def pci_match_id(k: Kernel, ids: int, pdev: int) -> int:
    """The entry of ``ids`` matching the function, or NULL."""
    record = _record(k, pdev)
    return match_id(k, ids, record) if record is not None and ids else 0


# -- enabling -----------------------------------------------------------------------------------

def _command(k: Kernel, record: PciDevice, set_bits: int = 0, clear_bits: int = 0) -> None:
    function = record.function
    function.config_write(COMMAND, 2, (function.command | set_bits) & ~clear_bits)


@service("int pci_enable_device(struct pci_dev *dev)")
def pci_enable_device(k: Kernel, pdev: int) -> int:
    """Turn on decoding for the function's I/O and memory BARs (pci_enable_resources)."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    kinds = {bar.kind for bar in record.function.bars if bar is not None}
    _command(k, record, (COMMAND_IO if "io" in kinds else 0) | (COMMAND_MEMORY if "mem" in kinds else 0))
    f = Fields(k.memory, "pci_dev", pdev)
    f["enable_cnt"] = f["enable_cnt"] + 1
    return 0


@service("void pci_disable_device(struct pci_dev *dev)")
def pci_disable_device(k: Kernel, pdev: int) -> None:
    """Drop an enable; the last one turns bus mastering off (decoding stays, as on Linux)."""
    record = _record(k, pdev)
    if record is None:
        return
    f = Fields(k.memory, "pci_dev", pdev)
    if f["enable_cnt"] == 0:
        k.warn(f"pci_disable_device of {guest_string(k, f['dev.kobj.name'], 32)}: not enabled")
        return
    f["enable_cnt"] = f["enable_cnt"] - 1
    if f["enable_cnt"] == 0:
        _command(k, record, clear_bits=COMMAND_MASTER)


@service("void pci_set_master(struct pci_dev *dev)")
def pci_set_master(k: Kernel, pdev: int) -> None:
    """Enable bus mastering: the function may now DMA."""
    record = _record(k, pdev)
    if record is not None:
        _command(k, record, COMMAND_MASTER)


@service("void pci_clear_master(struct pci_dev *dev)")
def pci_clear_master(k: Kernel, pdev: int) -> None:
    """Disable bus mastering."""
    record = _record(k, pdev)
    if record is not None:
        _command(k, record, clear_bits=COMMAND_MASTER)


# -- regions ------------------------------------------------------------------------------------

def _bar_resource(k: Kernel, pdev: int, bar: int) -> Fields | None:
    if not 0 <= bar < PCI_STD_NUM_BARS:
        return None
    res = Fields(k.memory, "resource", pdev + PDEV_RESOURCE + bar * RESOURCE_SIZE)
    return res if res["flags"] & (IORESOURCE_IO | IORESOURCE_MEM) else None


@service("int pci_request_region(struct pci_dev *pdev, int bar, const char *res_name)")
def pci_request_region(k: Kernel, pdev: int, bar: int, name: int) -> int:
    """Claim one BAR's range; -EBUSY if someone holds part of it."""
    res = _bar_resource(k, pdev, bar)
    record = _record(k, pdev)
    if res is None or record is None:
        return 0  # an unimplemented BAR has nothing to claim (Linux returns 0 too)
    tree = k.export_address("ioport_resource" if res["flags"] & IORESOURCE_IO else "iomem_resource") or 0
    if not __request_region(k, tree, res["start"], res["end"] - res["start"] + 1, name, 0):
        k.console_write(f"{guest_string(k, name, 64)} {guest_string(k, Fields(k.memory, 'pci_dev', pdev)['dev.kobj.name'], 32)}"
                        f": BAR {bar}: can't reserve [{res['start']:#x}-{res['end']:#x}]\n", 4)
        return -16
    record.regions |= 1 << bar
    return 0


@service("void pci_release_region(struct pci_dev *pdev, int bar)")
def pci_release_region(k: Kernel, pdev: int, bar: int) -> None:
    """Give one BAR's range back."""
    res = _bar_resource(k, pdev, bar)
    record = _record(k, pdev)
    if res is None or record is None or not record.regions >> bar & 1:
        return
    tree = k.export_address("ioport_resource" if res["flags"] & IORESOURCE_IO else "iomem_resource") or 0
    __release_region(k, tree, res["start"], res["end"] - res["start"] + 1)
    record.regions &= ~(1 << bar)


@service("int pci_request_regions(struct pci_dev *pdev, const char *res_name)")
def pci_request_regions(k: Kernel, pdev: int, name: int) -> int:
    """Claim every BAR; on failure the ones claimed are given back."""
    for bar in range(PCI_STD_NUM_BARS):
        result = pci_request_region(k, pdev, bar, name)
        if result:
            for taken in range(bar):
                pci_release_region(k, pdev, taken)
            return result
    return 0


@service("void pci_release_regions(struct pci_dev *pdev)")
def pci_release_regions(k: Kernel, pdev: int) -> None:
    """Give every claimed BAR back."""
    for bar in range(PCI_STD_NUM_BARS):
        pci_release_region(k, pdev, bar)


# -- configuration space -------------------------------------------------------------------------

def _config_read(k: Kernel, pdev: int, where: int, width: int, out: int) -> int:
    record = _record(k, pdev)
    if record is None:
        return PCIBIOS_DEVICE_NOT_FOUND
    if where % width or not 0 <= where <= 256 - width:
        return PCIBIOS_BAD_REGISTER_NUMBER
    k.memory.write(out, record.function.config_read(where, width).to_bytes(width, "little"))
    return PCIBIOS_SUCCESSFUL


def _config_write(k: Kernel, pdev: int, where: int, width: int, value: int) -> int:
    record = _record(k, pdev)
    if record is None:
        return PCIBIOS_DEVICE_NOT_FOUND
    if where % width or not 0 <= where <= 256 - width:
        return PCIBIOS_BAD_REGISTER_NUMBER
    record.function.config_write(where, width, value & ((1 << (8 * width)) - 1))
    return PCIBIOS_SUCCESSFUL


@service("int pci_read_config_byte(const struct pci_dev *dev, int where, u8 *val)")
def pci_read_config_byte(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Read a configuration byte."""
    return _config_read(k, pdev, where, 1, val)


@service("int pci_read_config_word(const struct pci_dev *dev, int where, u16 *val)")
def pci_read_config_word(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Read a configuration word (aligned)."""
    return _config_read(k, pdev, where, 2, val)


@service("int pci_read_config_dword(const struct pci_dev *dev, int where, u32 *val)")
def pci_read_config_dword(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Read a configuration dword (aligned)."""
    return _config_read(k, pdev, where, 4, val)


@service("int pci_write_config_byte(const struct pci_dev *dev, int where, u8 val)")
def pci_write_config_byte(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Write a configuration byte."""
    return _config_write(k, pdev, where, 1, val)


@service("int pci_write_config_word(const struct pci_dev *dev, int where, u16 val)")
def pci_write_config_word(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Write a configuration word (aligned)."""
    return _config_write(k, pdev, where, 2, val)


@service("int pci_write_config_dword(const struct pci_dev *dev, int where, u32 val)")
def pci_write_config_dword(k: Kernel, pdev: int, where: int, val: int) -> int:
    """Write a configuration dword (aligned)."""
    return _config_write(k, pdev, where, 4, val)


# -- lookups ------------------------------------------------------------------------------------

def _after(core: PciCore, start: int) -> list[PciDevice]:
    ordered = sorted(core.devices.values(), key=lambda d: d.slot)
    if start:
        index = next((i for i, d in enumerate(ordered) if d.pdev == start), len(ordered))
        ordered = ordered[index + 1:]
    return ordered


@service("struct pci_dev *pci_get_subsys(unsigned int vendor, unsigned int device, unsigned int ss_vendor, "
         "unsigned int ss_device, struct pci_dev *from)")
def pci_get_subsys(k: Kernel, vendor: int, device: int, ss_vendor: int, ss_device: int, start: int) -> int:
    """The next function after ``from`` with these ids (PCI_ANY_ID matches any), or NULL."""
    for record in _after(_core(k), start):
        f = record.function
        if (vendor in (PCI_ANY_ID, f.vendor_id) and device in (PCI_ANY_ID, f.device_id)
                and ss_vendor in (PCI_ANY_ID, f.subsystem_vendor_id) and ss_device in (PCI_ANY_ID, f.subsystem_id)):
            return record.pdev
    return 0


@service("struct pci_dev *pci_get_device(unsigned int vendor, unsigned int device, struct pci_dev *from)")
def pci_get_device(k: Kernel, vendor: int, device: int, start: int) -> int:
    """The next function after ``from`` with this vendor and device id, or NULL."""
    return pci_get_subsys(k, vendor, device, PCI_ANY_ID, PCI_ANY_ID, start)


@service("struct pci_dev *pci_get_class(unsigned int class, struct pci_dev *from)")
def pci_get_class(k: Kernel, cls: int, start: int) -> int:
    """The next function of class ``class`` (24 bits), or NULL."""
    for record in _after(_core(k), start):
        if record.function.class_code == cls:
            return record.pdev
    return 0


@service("struct pci_dev *pci_get_domain_bus_and_slot(int domain, unsigned int bus, unsigned int devfn)")
def pci_get_domain_bus_and_slot(k: Kernel, domain: int, bus: int, devfn: int) -> int:
    """The function at domain 0, ``bus``, ``devfn``, or NULL."""
    if domain != 0:
        return 0
    wanted = (bus, devfn >> 3, devfn & 7)
    return next((r.pdev for r in _core(k).devices.values() if r.slot == wanted), 0)


@service("void pci_dev_put(struct pci_dev *dev)")
def pci_dev_put(k: Kernel, dev: int) -> None:
    """Drop a lookup's reference (the core keeps every pci_dev while its function is plugged in)."""


# -- DMA ----------------------------------------------------------------------------------------
# Linux i386 lowmem: physical = virtual - PAGE_OFFSET, and with no IOMMU the bus address is the
# physical one. The sandbox's heap (0xE0000000-) is lowmem in that sense; module memory (vmalloc
# space on Linux) is not DMA-able, and a device reaching memory no driver handed it is reported.
PAGE_OFFSET = 0xC0000000


@dataclass(slots=True)
class DmaRange:
    """A buffer a driver gave to a device: coherent (dma_alloc_attrs) or streaming (dma_map_*)."""

    bus: int
    size: int
    virtual: int
    device: int  # the struct device it was made for
    kind: str
    direction: int = 0  # a streaming mapping's enum dma_data_direction (dma.py)
    owner: str = ""  # the module that made it, when not found through its PCI driver


class Dma:
    """The DMA ranges drivers made, and the check device models' DMA goes through."""

    def __init__(self) -> None:
        self.ranges: list[DmaRange] = []

    def check(self, bus: int, size: int) -> str | None:
        for r in self.ranges:
            if r.bus <= bus and bus + size <= r.bus + r.size:
                return None
        return "no driver mapped that range for DMA (dma_alloc_attrs / dma_map_* never covered it)"

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        leaks = []
        for r in [r for r in self.ranges if _owner_of(k, r) == module.name]:
            leaks.append(f"DMA {r.kind} buffer of {r.size} bytes at bus address {r.bus:#x} not freed")
            self.ranges.remove(r)
            if r.kind == "coherent":
                from .pages import free_page_block

                free_page_block(k, r.virtual, "DMA leak release")
        return leaks


def _owner_of(k: Kernel, r: DmaRange) -> str:
    if r.owner:
        return r.owner
    record = next((d for d in k.subsystem(PciCore).devices.values() if d.pdev + PDEV_DEV == r.device), None)
    driver = k.subsystem(PciCore).drivers.get(record.driver) if record is not None else None
    return driver.owner if driver is not None else "kernel"


def _dma_for(k: Kernel, dev: int) -> Dma:
    dma = k.subsystem(Dma)
    record = next((d for d in _core(k).devices.values() if d.pdev + PDEV_DEV == dev), None)
    if record is not None and record.function.dma_check is None:
        record.function.dma_offset = PAGE_OFFSET
        # Looked up at each access, so a restored snapshot's ranges are the ones checked.
        record.function.dma_check = lambda bus, n: k.subsystem(Dma).check(bus, n)
    elif record is None:
        from .dma import bind_model  # a platform device's model (dma.py knows how to find it)

        bind_model(k, dev)
    return dma


@service("void *dma_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag, unsigned long attrs)")
def dma_alloc_attrs(k: Kernel, dev: int, size_: int, handle: int, flags: int, attrs: int) -> int:
    """A zeroed coherent buffer aligned to its page order (as Linux's), whose bus address goes to ``*dma_handle``."""
    from .pages import allocate_pages, order_alignment

    if size_ == 0 or size_ > 4 << 20:
        return 0
    rounded = (size_ + 0xFFF) & ~0xFFF
    virtual = allocate_pages(k, rounded, owner="kernel", align=order_alignment(rounded))
    if not virtual:
        return 0
    bus = virtual - PAGE_OFFSET
    _dma_for(k, dev).ranges.append(DmaRange(bus, size_, virtual, dev, "coherent"))
    k.memory.write_u32(handle, bus)
    return virtual


@service("void dma_free_attrs(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_handle, unsigned long attrs)")
def dma_free_attrs(k: Kernel, dev: int, size_: int, cpu_addr: int, handle: int, attrs: int) -> None:
    """Free a coherent buffer; one that was never allocated is a driver bug (Linux WARNs)."""
    dma = k.subsystem(Dma)
    for r in dma.ranges:
        if r.kind == "coherent" and r.virtual == cpu_addr and r.bus == handle:
            from .pages import free_page_block

            dma.ranges.remove(r)
            free_page_block(k, cpu_addr, "dma_free_attrs")
            return
    k.warn(f"dma_free_attrs of {cpu_addr:#x} (bus {handle:#x}) at {k.symbolizer.short(k.current_caller)}: "
           "not a coherent buffer of this device")


# The highest bus address a DMA buffer can have here: the end of the heap, as lowmem.
MAX_BUS_ADDRESS = 0xEFFFFFFF - PAGE_OFFSET


@service("int dma_set_mask(struct device *dev, u64 mask)")
def dma_set_mask(k: Kernel, dev: int, mask: int) -> int:
    """Set ``*dev->dma_mask`` if it covers every address a buffer can get here (dma_supported), else -EIO."""
    pointer = Fields(k.memory, "device", dev)["dma_mask"]
    if mask < MAX_BUS_ADDRESS or not pointer:  # Linux: -EIO without dev->dma_mask too
        return -5
    _dma_for(k, dev)  # the model behind the device learns how its bus addresses reach memory
    k.memory.write(pointer, (mask & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))
    return 0


@service("int dma_set_coherent_mask(struct device *dev, u64 mask)")
def dma_set_coherent_mask(k: Kernel, dev: int, mask: int) -> int:
    """As dma_set_mask, for coherent allocations (``dev->coherent_dma_mask``)."""
    if mask < MAX_BUS_ADDRESS:
        return -5
    Fields(k.memory, "device", dev)["coherent_dma_mask"] = mask & 0xFFFFFFFFFFFFFFFF
    return 0


# -- I/O cookies (lib/iomap.c) ---------------------------------------------------------------------
# A port-I/O cookie is the port plus PIO_OFFSET, below PIO_RESERVED; anything else is an MMIO
# address (an ioremap result: windows are mapped at their physical address here).

PIO_OFFSET, PIO_RESERVED = 0x10000, 0x40000


@service("void __iomem *ioport_map(unsigned long port, unsigned int nr)")
def ioport_map(k: Kernel, port: int, nr: int) -> int:
    """A cookie for ports [port, port+nr) (NULL beyond the 64 Ki port space)."""
    return port + PIO_OFFSET if port <= 0xFFFF else 0


@service("void ioport_unmap(void __iomem *addr)")
def ioport_unmap(k: Kernel, addr: int) -> None:
    """Nothing to undo for a port cookie."""


def _is_port(cookie: int) -> bool:
    return PIO_OFFSET <= cookie < PIO_RESERVED


def _bad_cookie(k: Kernel, cookie: int) -> None:
    if cookie < PIO_OFFSET:
        from sandbox.errors import GuestFault

        raise GuestFault("bad-iomem", f"I/O access through {cookie:#x} at {k.symbolizer.short(k.current_caller)}: "
                         "not an ioport_map/pci_iomap/ioremap cookie (Linux: 'Bad IO access')",
                         pc=k.current_caller, address=cookie)


def _ioread(k: Kernel, cookie: int, width: int) -> int:
    if _is_port(cookie):
        return k.port_access("in", cookie - PIO_OFFSET, width)
    _bad_cookie(k, cookie)
    return k.mmio_access("read", cookie, width)


def _iowrite(k: Kernel, cookie: int, width: int, value: int) -> None:
    if _is_port(cookie):
        k.port_access("out", cookie - PIO_OFFSET, width, value)
        return
    _bad_cookie(k, cookie)
    k.mmio_access("write", cookie, width, value)


@service("unsigned int ioread8(const void __iomem *addr)")
def ioread8(k: Kernel, addr: int) -> int:
    """A byte from a port or MMIO cookie."""
    return _ioread(k, addr, 1)


@service("unsigned int ioread16(const void __iomem *addr)")
def ioread16(k: Kernel, addr: int) -> int:
    """A 16-bit value from a port or MMIO cookie."""
    return _ioread(k, addr, 2)


@service("unsigned int ioread32(const void __iomem *addr)")
def ioread32(k: Kernel, addr: int) -> int:
    """A 32-bit value from a port or MMIO cookie."""
    return _ioread(k, addr, 4)


@service("void iowrite8(u8 value, void __iomem *addr)")
def iowrite8(k: Kernel, value: int, addr: int) -> None:
    """A byte to a port or MMIO cookie."""
    _iowrite(k, addr, 1, value)


@service("void iowrite16(u16 value, void __iomem *addr)")
def iowrite16(k: Kernel, value: int, addr: int) -> None:
    """A 16-bit value to a port or MMIO cookie."""
    _iowrite(k, addr, 2, value)


@service("void iowrite32(u32 value, void __iomem *addr)")
def iowrite32(k: Kernel, value: int, addr: int) -> None:
    """A 32-bit value to a port or MMIO cookie."""
    _iowrite(k, addr, 4, value)


@service("void __iomem *pci_iomap_range(struct pci_dev *dev, int bar, unsigned long offset, unsigned long maxlen)")
def pci_iomap_range(k: Kernel, pdev: int, bar: int, start: int, maxlen: int) -> int:
    """A cookie for BAR ``bar`` from ``offset`` (a port cookie for I/O BARs, the address for memory BARs)."""
    res = _bar_resource(k, pdev, bar)
    if res is None:
        return 0
    length = res["end"] - res["start"] + 1
    if start >= length:
        return 0
    base = res["start"] + start
    if res["flags"] & IORESOURCE_IO:
        return ioport_map(k, base, length - start)
    return ioremap(k, base, min(maxlen or length - start, length - start))


@service("void __iomem *pci_iomap(struct pci_dev *dev, int bar, unsigned long maxlen)")
def pci_iomap(k: Kernel, pdev: int, bar: int, maxlen: int) -> int:
    """pci_iomap_range from offset 0."""
    return pci_iomap_range(k, pdev, bar, 0, maxlen)


@service("void pci_iounmap(struct pci_dev *dev, void __iomem *addr)")
def pci_iounmap(k: Kernel, pdev: int, addr: int) -> None:
    """Nothing to undo for either kind of cookie."""


def _mmio_range(k: Kernel, address: int, count: int) -> None:
    """Fault before copying if the range's end is in no device's window (a count past the registers)."""
    if count and k.kernel.mmio.window_at(address + count - 1) is None:
        from sandbox.errors import GuestFault

        raise GuestFault("mmio-unmapped", f"I/O copy of {count} bytes at {address:#x} from "
                         f"{k.symbolizer.short(k.current_caller)}: its end is in no device's MMIO window",
                         pc=k.current_caller, address=address + count - 1)


@service("void memcpy_fromio(void *to, const volatile void __iomem *from, size_t count)")
def memcpy_fromio(k: Kernel, to: int, src: int, count: int) -> None:
    """Copy ``count`` bytes out of an MMIO window (a register dump: ethtool get_regs), a byte at a time."""
    _mmio_range(k, src, count)
    k.memory.write(to, bytes(k.mmio_access("read", src + i, 1) for i in range(count)))


@service("void memcpy_toio(volatile void __iomem *to, const void *from, size_t count)")
def memcpy_toio(k: Kernel, to: int, src: int, count: int) -> None:
    """Copy ``count`` bytes into an MMIO window, a byte at a time."""
    _mmio_range(k, to, count)
    for i, byte in enumerate(k.memory.read(src, count)):
        k.mmio_access("write", to + i, 1, byte)
