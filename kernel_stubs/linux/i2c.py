"""Linux 6.1's I2C core (drivers/i2c/i2c-core-base.c, i2c-core-smbus.c): adapters, clients, drivers, transfers.

Adapters come from the host (``k.i2c.add_adapter()``: a controller the
machine has, its transfers answered by the Python models on it) or from
modules (``i2c_add_adapter``/``i2c_add_numbered_adapter``: a bus driver
whose ``algo->master_xfer``/``smbus_xfer`` the core then calls for its
clients, as ``i2c-stub`` or a bit-banging driver). Clients are made by
``i2c_new_client_device`` (the host's described clients go through it too,
as board code's do), by a driver's ``detect`` over its ``address_list`` on
adapters whose class it shares (``i2c_detect``), or as dummies.

Binding is ``i2c_device_match`` without OF/ACPI: the driver's ``id_table``
by the client's name; probe is ``probe_new(client)`` or ``probe(client,
id)``; remove, then the client's managed resources (devres) go at unbind.

SMBus calls become I2C messages exactly as ``i2c_smbus_xfer_emulated``
builds them (command byte written, repeated START, data read; block reads
with ``I2C_M_RECV_LEN``; PEC appended and checked), unless the adapter has
its own ``smbus_xfer``. An address nobody acknowledges is -ENXIO, a data
byte refused -EREMOTEIO, as adapters report them (Documentation/i2c/fault-codes.rst).

Structures come from the generated layout table: ``struct i2c_client``
(496 bytes, ``dev`` at 28), ``i2c_adapter`` (644, ``dev`` at 60),
``i2c_driver`` (``driver`` at 28), ``i2c_msg`` (12), ``i2c_board_info``,
``i2c_algorithm``, ``i2c_device_id`` (name[20], driver_data).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.devices.i2c import I2cBus, I2cMessage, I2cNack
from sandbox.errors import SandboxError
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import devres, driver_core, sysfs
from .layout import Fields, offset, size
from .registrations import EBUSY, EINVAL, ENODEV, ENOENT, ENOMEM, err_ptr, guest_string, is_err, match_name_table, owner_name
from .time import HZ

if TYPE_CHECKING:
    from collections.abc import Callable

    from sandbox.devices.i2c import ClientSpec, I2cAdapter
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EIO, ENXIO, EAGAIN, EPROTO, EBADMSG, EOPNOTSUPP, EPROBE_DEFER = 5, 6, 11, 71, 74, 95, 517
I2C_M_RD, I2C_M_TEN, I2C_M_RECV_LEN = 0x0001, 0x0010, 0x0400
I2C_CLIENT_PEC, I2C_CLIENT_TEN, I2C_CLIENT_SCCB = 0x04, 0x10, 0x9000
I2C_CLIENT_END = 0xFFFE
I2C_NAME_SIZE, I2C_SMBUS_BLOCK_MAX, I2C_ADDR_OFFSET_TEN_BIT = 20, 32, 0xA000
MAX_MESSAGES, MAX_MESSAGE_LEN = 64, 8192

# SMBus read_write and protocols (include/uapi/linux/i2c.h).
I2C_SMBUS_WRITE, I2C_SMBUS_READ = 0, 1
(I2C_SMBUS_QUICK, I2C_SMBUS_BYTE, I2C_SMBUS_BYTE_DATA, I2C_SMBUS_WORD_DATA, I2C_SMBUS_PROC_CALL,
 I2C_SMBUS_BLOCK_DATA, I2C_SMBUS_I2C_BLOCK_BROKEN, I2C_SMBUS_BLOCK_PROC_CALL, I2C_SMBUS_I2C_BLOCK_DATA) = range(9)
SMBUS_DATA_SIZE = I2C_SMBUS_BLOCK_MAX + 2  # union i2c_smbus_data

# Adapter functionality bits.
I2C_FUNC_I2C, I2C_FUNC_10BIT_ADDR, I2C_FUNC_PROTOCOL_MANGLING, I2C_FUNC_SMBUS_PEC = 0x1, 0x2, 0x4, 0x8
I2C_FUNC_NOSTART, I2C_FUNC_SMBUS_BLOCK_PROC_CALL, I2C_FUNC_SMBUS_QUICK = 0x10, 0x8000, 0x10000
I2C_FUNC_SMBUS_BYTE, I2C_FUNC_SMBUS_BYTE_DATA, I2C_FUNC_SMBUS_WORD_DATA = 0x60000, 0x180000, 0x600000
I2C_FUNC_SMBUS_PROC_CALL, I2C_FUNC_SMBUS_READ_BLOCK_DATA, I2C_FUNC_SMBUS_WRITE_BLOCK_DATA = 0x800000, 0x1000000, 0x2000000
I2C_FUNC_SMBUS_READ_I2C_BLOCK, I2C_FUNC_SMBUS_I2C_BLOCK = 0x4000000, 0xC000000
I2C_FUNC_SMBUS_EMUL = (I2C_FUNC_SMBUS_QUICK | I2C_FUNC_SMBUS_BYTE | I2C_FUNC_SMBUS_BYTE_DATA | I2C_FUNC_SMBUS_WORD_DATA
                       | I2C_FUNC_SMBUS_PROC_CALL | I2C_FUNC_SMBUS_WRITE_BLOCK_DATA | I2C_FUNC_SMBUS_I2C_BLOCK
                       | I2C_FUNC_SMBUS_PEC)
I2C_FUNC_SMBUS_EMUL_ALL = I2C_FUNC_SMBUS_EMUL | I2C_FUNC_SMBUS_READ_BLOCK_DATA | I2C_FUNC_SMBUS_BLOCK_PROC_CALL
#: What a host adapter offers: plain I2C (its models see every message) and every SMBus command over it.
HOST_FUNCTIONALITY = I2C_FUNC_I2C | I2C_FUNC_NOSTART | I2C_FUNC_PROTOCOL_MANGLING | I2C_FUNC_SMBUS_EMUL_ALL

CLIENT_SIZE, ADAPTER_SIZE, MSG_SIZE = size("i2c_client"), size("i2c_adapter"), size("i2c_msg")
CLIENT_DEV, ADAPTER_DEV = offset("i2c_client", "dev"), offset("i2c_adapter", "dev")
DRV_DRIVER = offset("i2c_driver", "driver")
DRIVER_NAME = offset("device_driver", "name")
ID_SIZE = size("i2c_device_id")
DEV_DRIVER, DEV_TYPE = offset("device", "driver"), offset("device", "type")

i2c_bus_type = kernel_variable("i2c_bus_type", size("bus_type"), b"")
i2c_client_type = kernel_variable("i2c_client_type", size("device_type"), b"")
i2c_adapter_type = kernel_variable("i2c_adapter_type", size("device_type"), b"")
# The lock operations every adapter gets unless its driver brings its own (i2c_adapter_lock_ops).
i2c_adapter_lock_ops = kernel_variable(
    "i2c_adapter_lock_ops", size("i2c_lock_operations"), b"",
    pointers={0: "i2c_adapter_lock_bus", 4: "i2c_adapter_trylock_bus", 8: "i2c_adapter_unlock_bus"})
# The algorithm of the host's adapters: their transfers go to the Python models.
i2c_host_algorithm = kernel_variable(
    "i2c_sandbox_host_algorithm", size("i2c_algorithm"), b"",
    pointers={0: "i2c_sandbox_host_xfer", 16: "i2c_sandbox_host_functionality"})


@dataclass(slots=True)
class AdapterRecord:
    """An adapter the core knows: its struct and where its transfers go."""

    adap: int
    nr: int
    owner: str  # the bus driver's module, "kernel" for the host's
    host_nr: int | None = None  # the host adapter (k.i2c.adapters[nr]) answering it
    lock_depth: int = 0

    @property
    def dev(self) -> int:
        """Its ``struct device``."""
        return self.adap + ADAPTER_DEV


@dataclass(slots=True)
class ClientRecord:
    """A client device: its struct, its adapter, what is bound to it."""

    client: int
    adap: int
    addr: int  # with I2C_CLIENT_TEN in flags for a 10-bit one
    name: str
    owner: str
    device_name: str
    dummy: bool = False  # i2c_new_dummy_device's: bound to the core's own dummy driver
    userspace: bool = False  # made through the adapter's new_device file (delete_device may remove it)
    detected_by: int = 0  # the driver whose detect() made it
    host: bool = False  # stands for a client the host described

    @property
    def dev(self) -> int:
        """Its ``struct device``."""
        return self.client + CLIENT_DEV


@dataclass(slots=True)
class DriverRecord:
    """A registered i2c driver."""

    drv: int
    name: str
    owner: str


class I2cCore:
    """The i2c bus of one kernel: adapters, clients, drivers, deferred probes, managed cleanups."""

    def __init__(self) -> None:
        self.adapters: dict[int, AdapterRecord] = {}
        self.clients: dict[int, ClientRecord] = {}
        self.drivers: dict[int, DriverRecord] = {}
        self.listening = False

    # -- the host's bus -------------------------------------------------------------------
    def attach(self, k: Kernel) -> None:
        """Take the host's adapters and described clients, and hear of new ones (once per kernel)."""
        if self.listening:
            return
        self.listening = True
        bus_address = k.export_address("i2c_bus_type")
        if bus_address:
            if not k.memory.read_u32(bus_address):
                k.memory.write_u32(bus_address, _kernel_string(k, "i2c"))
            # Binding, deferral, devres and bus iteration are the generic driver core's; i2c brings its match.
            driver_core.register_bus(k, bus_address, driver_core.NativeBus(_bus_match, _bus_probe, _bus_remove),
                                     owner="kernel")
        _device_type_groups(k, "i2c_client_type", (("name", 0o444, "i2c_sysfs_name_show", None),
                                                   ("modalias", 0o444, "i2c_sysfs_modalias_show", None)))
        _device_type_groups(k, "i2c_adapter_type", (("name", 0o444, "i2c_sysfs_name_show", None),
                                                    ("new_device", 0o200, None, "i2c_sysfs_new_device_store"),
                                                    ("delete_device", 0o200, None, "i2c_sysfs_delete_device_store")))
        try:
            bus = _host_bus(k)
        except SandboxError:
            return
        bus.on_adapter.append(lambda adapter: k.subsystem(I2cCore).host_adapter_added(k, adapter))
        bus.on_add.append(lambda spec: k.subsystem(I2cCore).host_client_added(k, spec))
        bus.on_remove.append(lambda spec: k.subsystem(I2cCore).host_client_removed(k, spec))
        for adapter in list(bus.adapters.values()):
            self.host_adapter_added(k, adapter)
        for spec in list(bus.specs):
            self.host_client_added(k, spec)

    def host_adapter_added(self, k: Kernel, adapter: I2cAdapter) -> None:
        """Make the struct i2c_adapter for a host adapter, as its bus driver's i2c_add_numbered_adapter."""
        if any(a.host_nr == adapter.nr for a in self.adapters.values()):
            return
        adap = allocate(k, ADAPTER_SIZE, owner="kernel")
        if not adap:
            k.warn(f"i2c: no memory for host adapter {adapter.name}")
            return
        fields = Fields(k.memory, "i2c_adapter", adap)
        k.memory.write(fields.address_of("name"), adapter.label.encode()[:47] + b"\0")
        fields["class"] = adapter.adapter_class
        fields["algo"] = k.export_address("i2c_sandbox_host_algorithm") or 0
        fields["nr"] = adapter.nr
        record = AdapterRecord(adap, adapter.nr, "kernel", host_nr=adapter.nr)
        self.register_adapter(k, record)

    def host_client_added(self, k: Kernel, spec: ClientSpec) -> None:
        """The host described a client: i2c_new_client_device on its adapter."""
        adapter = next((a for a in self.adapters.values() if a.host_nr == spec.adapter.nr), None)
        if adapter is None:
            self.host_adapter_added(k, spec.adapter)
            adapter = next((a for a in self.adapters.values() if a.host_nr == spec.adapter.nr), None)
        if adapter is None or any(c.adap == adapter.adap and c.addr == spec.addr for c in self.clients.values()):
            return
        result = self.new_client(k, adapter, spec.name, spec.addr, spec.flags, spec.irq, 0, "kernel")
        if isinstance(result, ClientRecord):
            result.host = True

    def host_client_removed(self, k: Kernel, spec: ClientSpec) -> None:
        """The host took a described client away: unbind and forget it."""
        for record in [c for c in self.clients.values() if c.host and c.addr == spec.addr
                       and self.adapters.get(c.adap) is not None and self.adapters[c.adap].host_nr == spec.adapter.nr]:
            self.delete_client(k, record)

    # -- adapters --------------------------------------------------------------------------
    def free_number(self, k: Kernel, start: int = 0) -> int:
        """The lowest adapter number not in use (idr_alloc from __i2c_first_dynamic_bus_num)."""
        taken = {a.nr for a in self.adapters.values()}
        with contextlib.suppress(SandboxError):
            taken |= set(_host_bus(k).adapters)
        nr = start
        while nr in taken:
            nr += 1
        return nr

    def register_adapter(self, k: Kernel, record: AdapterRecord) -> int:
        """i2c_register_adapter: ``i2c-N`` on the i2c bus (the driver core's device), then every driver's detection."""
        fields = Fields(k.memory, "i2c_adapter", record.adap)
        if not fields["lock_ops"]:
            fields["lock_ops"] = k.export_address("i2c_adapter_lock_ops") or 0
        if not fields["timeout"]:
            fields["timeout"] = HZ  # one second, as i2c_register_adapter defaults it
        fields["dev.bus"] = k.export_address("i2c_bus_type") or 0
        fields["dev.type"] = k.export_address("i2c_adapter_type") or 0
        host = record.host_nr is not None
        device = driver_core.initialize_device(k, record.dev, owner="kernel")
        # i2c_adapter_dev_release only signals dev_released: a module's struct stays the module's.
        device.on_release = (lambda kernel, dev: release(kernel, dev - ADAPTER_DEV)) if host else \
            (lambda kernel, dev: None)
        driver_core.set_name(k, record.dev, f"i2c-{record.nr}".encode())
        result = driver_core.add_device(k, record.dev)
        kernel_owned(k, record.dev)  # i2c_del_adapter (or the host) removes it, whoever's call added it
        if result:
            return result
        self.adapters[record.adap] = record
        k.trace.add("note", "i2c adapter", fields={"adapter": f"i2c-{record.nr}", "owner": record.owner,
                                                    "name": adapter_name(k, record.adap)})
        for driver in list(self.drivers.values()):
            self.detect(k, record, driver)
        return 0

    def delete_adapter(self, k: Kernel, record: AdapterRecord) -> None:
        """i2c_del_adapter: its clients unregistered (newest first), then it goes."""
        for client in sorted((c for c in self.clients.values() if c.adap == record.adap), key=lambda c: -c.client):
            self.delete_client(k, client)
        self.adapters.pop(record.adap, None)
        driver_core.delete_device(k, record.dev)
        driver_core.put(k, record.dev)

    # -- clients --------------------------------------------------------------------------
    def new_client(self, k: Kernel, adapter: AdapterRecord, name: str, addr: int, flags: int, irq: int,
                   platform_data: int, owner: str, dummy: bool = False) -> ClientRecord | int:
        """i2c_new_client_device: the client struct, named ``N-00aa``, on the bus and bound; or -errno."""
        ten = bool(flags & I2C_CLIENT_TEN)
        if (ten and addr > 0x3FF) or (not ten and not 0 < addr <= 0x7F):
            _adapter_log(k, adapter, 3, f"Invalid {10 if ten else 7}-bit I2C address 0x{addr:02x}")
            _adapter_log(k, adapter, 3, f"Failed to register i2c client {name} at 0x{addr:02x} ({-EINVAL})")
            return -EINVAL
        if self.address_busy(adapter, addr):
            _adapter_log(k, adapter, 3, f"Failed to register i2c client {name} at 0x{addr:02x} ({-EBUSY})")
            return -EBUSY
        client = allocate(k, CLIENT_SIZE, owner="kernel")
        if not client:
            return -ENOMEM
        fields = Fields(k.memory, "i2c_client", client)
        fields["flags"], fields["addr"], fields["adapter"] = flags, addr, adapter.adap
        k.memory.write(fields.address_of("name"), name.encode()[:I2C_NAME_SIZE - 1] + b"\0")
        fields["init_irq"] = irq
        fields["dev.platform_data"] = platform_data
        fields["dev.parent"] = adapter.dev
        fields["dev.bus"] = k.export_address("i2c_bus_type") or 0
        fields["dev.type"] = k.export_address("i2c_client_type") or 0
        device_name = f"{adapter.nr}-{addr | (I2C_ADDR_OFFSET_TEN_BIT if ten else 0):04x}"
        device = driver_core.initialize_device(k, client + CLIENT_DEV, owner="kernel")
        device.on_release = lambda kernel, dev: release(kernel, dev - CLIENT_DEV)  # i2c_client_dev_release
        driver_core.set_name(k, client + CLIENT_DEV, device_name.encode())
        record = ClientRecord(client, adapter.adap, addr, name, owner, device_name, dummy=dummy)
        self.clients[client] = record
        k.trace.add("note", "i2c client", fields={"device": device_name, "name": name, "owner": owner})
        result = driver_core.add_device(k, record.dev)  # a matching driver probes it now
        # The i2c core answers for its clients (i2c_unregister_device, adapter removal, leaks at unload).
        kernel_owned(k, record.dev)
        if result:
            self.clients.pop(client, None)
            driver_core.put(k, record.dev)
            return result
        return record

    def address_busy(self, adapter: AdapterRecord, addr: int) -> bool:
        """i2c_check_addr_busy (without muxes): a client of the adapter already has the address."""
        return any(c.adap == adapter.adap and c.addr == addr for c in self.clients.values())

    def delete_client(self, k: Kernel, record: ClientRecord) -> None:
        """i2c_unregister_device: device_unregister (unbound, its devres released), the struct freed at release."""
        self.clients.pop(record.client, None)
        driver_core.delete_device(k, record.dev)
        driver_core.put(k, record.dev)

    def bound_driver(self, k: Kernel, record: ClientRecord) -> int:
        """The i2c_driver bound to the client, or 0."""
        drv = k.memory.read_u32(record.dev + DEV_DRIVER)
        return drv - DRV_DRIVER if drv else 0

    def unregister_driver(self, k: Kernel, driver: DriverRecord) -> None:
        """i2c_del_driver: the clients its detect made go, then driver_unregister unbinds the others."""
        for record in [c for c in self.clients.values() if c.detected_by == driver.drv]:
            self.delete_client(k, record)
        driver_core.unregister_driver(k, driver.drv + DRV_DRIVER)
        self.drivers.pop(driver.drv, None)

    # -- detection -------------------------------------------------------------------------------
    def detect(self, k: Kernel, adapter: AdapterRecord, driver: DriverRecord) -> None:
        """i2c_detect: a driver with ``detect`` and ``address_list`` probes an adapter of its class."""
        callbacks = Fields(k.memory, "i2c_driver", driver.drv)
        address_list, detect = callbacks["address_list"], callbacks["detect"]
        adapter_class = Fields(k.memory, "i2c_adapter", adapter.adap)["class"]
        if not detect or not address_list or not adapter_class & callbacks["class"]:
            return
        temp = allocate(k, CLIENT_SIZE, owner="kernel")
        info = allocate(k, size("i2c_board_info"), owner="kernel")
        try:
            for i in range(128):
                addr = int.from_bytes(k.memory.read(address_list + 2 * i, 2), "little")
                if addr == I2C_CLIENT_END:
                    break
                if self.detect_address(k, adapter, driver, detect, temp, info, addr):
                    break
        finally:
            release(k, temp)
            release(k, info)

    def detect_address(self, k: Kernel, adapter: AdapterRecord, driver: DriverRecord, detect: int,
                       temp: int, info: int, addr: int) -> bool:
        """i2c_detect_address; True to stop scanning (a detect error other than -ENODEV)."""
        if not 0x08 <= addr <= 0x77:
            _adapter_log(k, adapter, 4, f"Invalid probe address 0x{addr:02x}")
            return True
        if self.address_busy(adapter, addr) or not default_probe(k, adapter, addr):
            return False
        k.memory.write(temp, bytes(CLIENT_SIZE))
        client = Fields(k.memory, "i2c_client", temp)
        client["adapter"], client["addr"] = adapter.adap, addr
        k.memory.write(info, bytes(size("i2c_board_info")))
        board = Fields(k.memory, "i2c_board_info", info)
        board["addr"] = addr
        result = signed32(k.call_function_pointer(detect, temp, info))
        if result:
            return result != -ENODEV
        name = k.memory.read(board.address_of("type"), I2C_NAME_SIZE).split(b"\0", 1)[0].decode("utf-8", "replace")
        if not name:
            _adapter_log(k, adapter, 3, f"{driver.name} detection function provided no name for 0x{addr:x}")
            return False
        _adapter_log(k, adapter, 6, f"Creating {name} at 0x{board['addr']:02x}")
        made = self.new_client(k, adapter, name, board["addr"], board["flags"], board["irq"],
                               board["platform_data"], "kernel")
        if isinstance(made, ClientRecord):
            made.detected_by = driver.drv
        else:
            _adapter_log(k, adapter, 3, f"Failed creating {name} at 0x{board['addr']:02x}")
        return False

    # -- managed host-side resources ------------------------------------------------------------
    def add_managed(self, k: Kernel, dev: int, what: str, key: int) -> None:
        """Release ``what`` (``regmap``, ``hwmon``, ``dummy``) ``key`` with the device's devres, in its turn."""
        devres.add(k, dev, what, key, release_fn=lambda kernel: MANAGED_RELEASERS[what](kernel, key))

    # -- modules going ---------------------------------------------------------------------------
    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers, clients and adapters a module left registered: unregistered and reported (once: a driver
        the driver core already reported and unregistered is only forgotten here)."""
        leaks = []
        for driver in [d for d in self.drivers.values() if d.owner == module.name]:
            if driver.drv + DRV_DRIVER in driver_core.core(k).drivers:
                leaks.append(f"i2c driver {driver.name} still registered")
            self.unregister_driver(k, driver)
        for client in [c for c in self.clients.values() if c.owner == module.name]:
            leaks.append(f"i2c client {client.name} ({client.device_name}) still registered")
            self.delete_client(k, client)
        for adapter in [a for a in self.adapters.values() if a.owner == module.name]:
            leaks.append(f"i2c adapter i2c-{adapter.nr} still registered")
            self.delete_adapter(k, adapter)
        return leaks


# Releasers of host-side managed resources, by kind (regmap.py, hwmon.py add theirs).
MANAGED_RELEASERS: dict[str, Callable[[Kernel, int], None]] = {}


def _release_dummy(k: Kernel, client: int) -> None:
    record = k.subsystem(I2cCore).clients.get(client)
    if record is not None:
        k.subsystem(I2cCore).delete_client(k, record)


MANAGED_RELEASERS["dummy"] = _release_dummy


def kernel_owned(k: Kernel, dev: int) -> None:
    """A device a bus core added during some module's call is the core's: it and its type's sysfs files
    are not that module's to leak (the core removes them)."""
    record = driver_core.core(k).devices.get(dev)
    if record is not None:
        record.owner = "kernel"
    path = sysfs.tree(k).device_dirs.get(dev)
    if path is not None:
        for name, entry in sysfs.tree(k).files.items():
            if name.startswith(path + "/") and name.count("/") == path.count("/") + 1:
                entry.owner = "kernel"


def _device_type_groups(k: Kernel, type_name: str, files: tuple[tuple[str, int, str | None, str | None], ...]) -> None:
    """Give an i2c device type its attribute group (i2c_dev_groups, i2c_adapter_groups): files whose
    show/store are the i2c core's own services."""
    device_type = k.export_address(type_name)
    if not device_type or Fields(k.memory, "device_type", device_type)["groups"]:
        return
    attr_size = size("device_attribute")
    block = allocate(k, attr_size * len(files) + 4 * (len(files) + 1) + size("attribute_group") + 8 +
                     sum(len(name) + 1 for name, *_ in files), owner="kernel")
    attrs = block + attr_size * len(files)
    group = attrs + 4 * (len(files) + 1)
    groups = group + size("attribute_group")
    text = groups + 8
    for i, (name, mode, show, store) in enumerate(files):
        k.memory.write(text, name.encode() + b"\0")
        fields = Fields(k.memory, "device_attribute", block + i * attr_size)
        fields["attr.name"], fields["attr.mode"] = text, mode
        fields["show"] = k.export_address(show) or 0 if show else 0
        fields["store"] = k.export_address(store) or 0 if store else 0
        k.memory.write_u32(attrs + 4 * i, block + i * attr_size)
        text += len(name) + 1
    Fields(k.memory, "attribute_group", group)["attrs"] = attrs
    k.memory.write_u32(groups, group)
    Fields(k.memory, "device_type", device_type)["groups"] = groups


def _bus_match(k: Kernel, dev: int, drv: int) -> int:
    """i2c_device_match without OF/ACPI: a client (not an adapter, not a dummy) named in the driver's id_table."""
    core = k.subsystem(I2cCore)
    record = core.clients.get(dev - CLIENT_DEV)
    driver = core.drivers.get(drv - DRV_DRIVER)
    if record is None or record.dummy or driver is None:
        return 0
    return 1 if match_id(k, Fields(k.memory, "i2c_driver", driver.drv)["id_table"], record.name) else 0


def _bus_probe(k: Kernel, dev: int, drv: int) -> int:
    """i2c_device_probe: the client's irq from board info, then ``probe_new(client)`` or ``probe(client, id)``."""
    client, i2c_driver = dev - CLIENT_DEV, drv - DRV_DRIVER
    fields = Fields(k.memory, "i2c_client", client)
    callbacks = Fields(k.memory, "i2c_driver", i2c_driver)
    fields["irq"] = fields["init_irq"]
    if not callbacks["id_table"]:
        return -ENODEV  # no OF/ACPI match can stand in for the table here
    if callbacks["probe_new"]:
        return signed32(k.call_function_pointer(callbacks["probe_new"], client))
    if callbacks["probe"]:
        name = guest_string(k, fields.address_of("name"), I2C_NAME_SIZE)
        entry = match_id(k, callbacks["id_table"], name)
        return signed32(k.call_function_pointer(callbacks["probe"], client, entry))
    return -EINVAL


def _bus_remove(k: Kernel, dev: int, drv: int) -> None:
    """i2c_device_remove: the driver's ``remove(client)``; the irq is forgotten."""
    client = dev - CLIENT_DEV
    remove = Fields(k.memory, "i2c_driver", drv - DRV_DRIVER)["remove"]
    if remove:
        k.call_function_pointer(remove, client)
    Fields(k.memory, "i2c_client", client)["irq"] = 0


def _core(k: Kernel) -> I2cCore:
    core = k.subsystem(I2cCore)
    core.attach(k)
    return core


def _host_bus(k: Kernel) -> I2cBus:
    kernel = getattr(k, "kernel", k)
    for name in kernel.devices:
        device = kernel.devices[name]
        if isinstance(device, I2cBus):
            return device
    raise SandboxError("this kernel has no i2c bus model")


def _kernel_string(k: Kernel, text: str) -> int:
    block = allocate(k, len(text.encode()) + 1, owner="kernel")
    k.memory.write(block, text.encode() + b"\0")
    return block


def adapter_name(k: Kernel, adap: int) -> str:
    """The adapter's ``name`` member."""
    return guest_string(k, Fields(k.memory, "i2c_adapter", adap).address_of("name"), 48)


def _adapter_log(k: Kernel, adapter: AdapterRecord, level: int, text: str) -> None:
    """dev_printk on the adapter's device: ``i2c i2c-N: text``."""
    if level < 7:
        k.console_write(f"i2c i2c-{adapter.nr}: {text}\n", level)


def match_id(k: Kernel, table: int, name: str) -> int:
    """i2c_match_id over an id table: the entry whose name is ``name``, or 0."""
    return match_name_table(k, table, ID_SIZE, I2C_NAME_SIZE, name)


def _adapter(k: Kernel, adap: int) -> AdapterRecord:
    record = _core(k).adapters.get(adap)
    if record is None:
        raise SandboxError(f"i2c: {adap:#x} is not a registered i2c adapter (i2c_add_adapter was not called for it, "
                           "or it was deleted)")
    return record


def _client(k: Kernel, client: int) -> tuple[ClientRecord | None, AdapterRecord]:
    """The client (None for a struct the core did not make: a detect's temporary one) and its adapter."""
    if not client:
        raise SandboxError("i2c: NULL client")
    record = _core(k).clients.get(client)
    return record, _adapter(k, Fields(k.memory, "i2c_client", client)["adapter"])


def functionality(k: Kernel, adapter: AdapterRecord) -> int:
    """i2c_get_functionality: the host's set, or the bus driver's ``algo->functionality(adap)``."""
    if adapter.host_nr is not None:
        return HOST_FUNCTIONALITY
    algo = Fields(k.memory, "i2c_adapter", adapter.adap)["algo"]
    func = Fields(k.memory, "i2c_algorithm", algo)["functionality"] if algo else 0
    return k.call_function_pointer(func, adapter.adap) if func else 0


# -- transfers ---------------------------------------------------------------------------------

def _read_messages(k: Kernel, msgs: int, num: int) -> list[I2cMessage]:
    messages = []
    for i in range(num):
        fields = Fields(k.memory, "i2c_msg", msgs + i * MSG_SIZE)
        flags, length, buf = fields["flags"], fields["len"], fields["buf"]
        if length > MAX_MESSAGE_LEN:
            raise ValueError(f"message {i} is {length} bytes (the sandbox refuses more than {MAX_MESSAGE_LEN})")
        data = b"" if flags & I2C_M_RD or not length else k.memory.read(buf, length)
        messages.append(I2cMessage(fields["addr"], flags, data, length))
    return messages


def _describe(messages: list[I2cMessage]) -> str:
    parts = []
    for m in messages:
        direction = "R" if m.read else "W"
        parts.append(f"{m.addr:02x}{direction}[{m.data.hex(' ') if m.data else ''}]")
    return " ".join(parts)


def host_transfer(k: Kernel, adapter: AdapterRecord, messages: list[I2cMessage]) -> int:
    """Run ``messages`` on the host adapter's models; the count sent or -errno (traced)."""
    model = _host_bus(k).adapters.get(adapter.host_nr)  # type: ignore[arg-type]
    if model is None:
        return -ENODEV
    try:
        result = model.transfer(messages)
        error = ""
    except I2cNack as nack:
        result, error = -nack.errno, str(nack)
    fields: dict[str, object] = {"adapter": f"i2c-{adapter.nr}", "messages": _describe(messages), "result": result}
    if error:
        fields["error"] = error
    k.trace.add("note", "i2c transfer", caller=k.current_caller, fields=fields)
    return result


def transfer(k: Kernel, adapter: AdapterRecord, msgs: int, num: int) -> int:
    """__i2c_transfer: the guest's ``struct i2c_msg`` array through the adapter; messages sent or -errno."""
    if not msgs or num < 1:
        k.warn(f"i2c_transfer on i2c-{adapter.nr} with {'no messages' if not msgs else f'num={num}'}")
        return -EINVAL
    if num > MAX_MESSAGES:
        return -EINVAL
    if adapter.host_nr is None:
        algo = Fields(k.memory, "i2c_adapter", adapter.adap)["algo"]
        xfer = Fields(k.memory, "i2c_algorithm", algo)["master_xfer"] if algo else 0
        if not xfer:
            return -EOPNOTSUPP
        retries = Fields(k.memory, "i2c_adapter", adapter.adap)["retries"]
        for _attempt in range(min(retries, 16) + 1):
            result = signed32(k.call_function_pointer(xfer, adapter.adap, msgs, num))
            if result != -EAGAIN:
                break
        return result
    try:
        messages = _read_messages(k, msgs, num)
    except ValueError as error:
        k.warn(f"i2c_transfer on i2c-{adapter.nr}: {error}")
        return -EINVAL
    result = host_transfer(k, adapter, messages)
    if result > 0:
        for i, message in enumerate(messages):
            if message.read and message.data:
                fields = Fields(k.memory, "i2c_msg", msgs + i * MSG_SIZE)
                k.memory.write(fields["buf"], message.data)
                fields["len"] = len(message.data)
    return result


def run_messages(k: Kernel, adapter: AdapterRecord, messages: list[I2cMessage]) -> int:
    """Python-built messages through an adapter (host models directly, a guest bus driver through guest msgs)."""
    if adapter.host_nr is not None:
        return host_transfer(k, adapter, messages)
    total = sum(max(m.length, len(m.data)) + 1 for m in messages)
    block = allocate(k, MSG_SIZE * len(messages) + total, owner="kernel")
    if not block:
        return -ENOMEM
    try:
        cursor = block + MSG_SIZE * len(messages)
        for i, m in enumerate(messages):
            fields = Fields(k.memory, "i2c_msg", block + i * MSG_SIZE)
            fields["addr"], fields["flags"], fields["buf"] = m.addr, m.flags, cursor
            fields["len"] = m.length if m.read else len(m.data)
            if not m.read:
                k.memory.write(cursor, m.data)
            cursor += max(m.length, len(m.data)) + 1
        result = transfer(k, adapter, block, len(messages))
        for i, m in enumerate(messages):
            if m.read:
                fields = Fields(k.memory, "i2c_msg", block + i * MSG_SIZE)
                m.data = k.memory.read(fields["buf"], min(fields["len"], m.length + I2C_SMBUS_BLOCK_MAX))
        return result
    finally:
        release(k, block)


def _crc8(crc: int, data: bytes) -> int:
    """The SMBus PEC: CRC-8, polynomial x^8 + x^2 + x + 1."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _message_pec(crc: int, message: I2cMessage, data: bytes) -> int:
    return _crc8(_crc8(crc, bytes([(message.addr << 1 | (message.flags & I2C_M_RD)) & 0xFF])), data)


def smbus_emulated(k: Kernel, adapter: AdapterRecord, addr: int, flags: int, read_write: int, command: int,
                   protocol: int, data: bytearray) -> int:
    """i2c_smbus_xfer_emulated: the SMBus command as I2C messages; 0 or -errno, ``data`` filled on reads."""
    reading = read_write == I2C_SMBUS_READ
    pec = bool(flags & I2C_CLIENT_PEC) and protocol not in (I2C_SMBUS_QUICK, I2C_SMBUS_I2C_BLOCK_DATA)
    flags &= I2C_M_TEN  # what of the client's flags goes into its messages
    write = I2cMessage(addr, flags, bytes([command]))
    read = I2cMessage(addr, flags | I2C_M_RD, b"", 0)
    messages = [write, read] if reading else [write]
    if protocol == I2C_SMBUS_QUICK:
        write.data, write.flags = b"", flags | (I2C_M_RD if reading else 0)
        messages = [write]
    elif protocol == I2C_SMBUS_BYTE:
        if reading:
            write.data, write.flags, write.length = b"", flags | I2C_M_RD, 1
            messages = [write]
    elif protocol == I2C_SMBUS_BYTE_DATA:
        if reading:
            read.length = 1
        else:
            write.data += bytes([data[0]])
    elif protocol in (I2C_SMBUS_WORD_DATA, I2C_SMBUS_PROC_CALL):
        if protocol == I2C_SMBUS_PROC_CALL or not reading:
            write.data += bytes(data[0:2])
        if protocol == I2C_SMBUS_PROC_CALL:
            messages, reading = [write, read], True
        read.length = 2
    elif protocol in (I2C_SMBUS_BLOCK_DATA, I2C_SMBUS_BLOCK_PROC_CALL):
        if protocol == I2C_SMBUS_BLOCK_PROC_CALL or not reading:
            if data[0] > I2C_SMBUS_BLOCK_MAX:
                _adapter_log(k, adapter, 3, f"Invalid block write size {data[0]}")
                return -EINVAL
            write.data += bytes(data[0:data[0] + 1])
        if protocol == I2C_SMBUS_BLOCK_PROC_CALL:
            messages, reading = [write, read], True
        read.flags |= I2C_M_RECV_LEN
        read.length = 1
    elif protocol in (I2C_SMBUS_I2C_BLOCK_DATA, I2C_SMBUS_I2C_BLOCK_BROKEN):
        if data[0] > I2C_SMBUS_BLOCK_MAX:
            _adapter_log(k, adapter, 3, f"Invalid block {'read' if reading else 'write'} size {data[0]}")
            return -EINVAL
        if reading:
            read.length = data[0]
        else:
            write.data += bytes(data[1:data[0] + 1])
    else:
        _adapter_log(k, adapter, 3, f"Unsupported transaction {protocol}")
        return -EOPNOTSUPP
    return _finish_emulated(k, adapter, messages, reading, protocol, data, pec)


def _finish_emulated(k: Kernel, adapter: AdapterRecord, messages: list[I2cMessage], reading: bool, protocol: int,
                     data: bytearray, pec: bool) -> int:
    partial = 0
    last = messages[-1]
    if pec:
        first = messages[0]
        if not first.flags & I2C_M_RD:
            if len(messages) == 1:
                first.data += bytes([_message_pec(0, first, first.data)])
            else:
                partial = _message_pec(0, first, first.data)
        if last.flags & I2C_M_RD:
            last.length += 1
    status = run_messages(k, adapter, messages)
    if status < 0:
        return status
    if status != len(messages):
        return -EIO
    if pec and last.flags & I2C_M_RD:
        received, sent = last.data[:-1], last.data[-1:]
        computed = _message_pec(partial, last, received)
        if not sent or sent[0] != computed:
            return -EBADMSG
        last.data = received
    if not reading:
        return 0
    got = last.data
    if protocol in (I2C_SMBUS_BYTE, I2C_SMBUS_BYTE_DATA):
        data[0] = got[0]
    elif protocol in (I2C_SMBUS_WORD_DATA, I2C_SMBUS_PROC_CALL):
        data[0:2] = got[0:2]
    elif protocol in (I2C_SMBUS_I2C_BLOCK_DATA, I2C_SMBUS_I2C_BLOCK_BROKEN):
        data[1:1 + data[0]] = got[:data[0]]
    elif protocol in (I2C_SMBUS_BLOCK_DATA, I2C_SMBUS_BLOCK_PROC_CALL):
        if got[0] > I2C_SMBUS_BLOCK_MAX:
            _adapter_log(k, adapter, 3, f"Invalid block size returned: {got[0]}")
            return -EPROTO
        data[0:got[0] + 1] = got[:got[0] + 1]
    return 0


def smbus_xfer(k: Kernel, adapter: AdapterRecord, addr: int, flags: int, read_write: int, command: int,
               protocol: int, data: bytearray) -> int:
    """__i2c_smbus_xfer: the bus driver's own ``smbus_xfer`` if it has one, else emulated; 0 or -errno."""
    flags &= I2C_M_TEN | I2C_CLIENT_PEC | I2C_CLIENT_SCCB
    if adapter.host_nr is None:
        algo = Fields(k.memory, "i2c_adapter", adapter.adap)["algo"]
        xfer = Fields(k.memory, "i2c_algorithm", algo)["smbus_xfer"] if algo else 0
        if xfer:
            result = _guest_smbus(k, adapter, xfer, addr, flags, read_write, command, protocol, data)
            if result != -EOPNOTSUPP or not Fields(k.memory, "i2c_algorithm", algo)["master_xfer"]:
                return result
    return smbus_emulated(k, adapter, addr, flags, read_write, command, protocol, data)


def _guest_smbus(k: Kernel, adapter: AdapterRecord, xfer: int, addr: int, flags: int, read_write: int,
                 command: int, protocol: int, data: bytearray) -> int:
    block = allocate(k, SMBUS_DATA_SIZE, owner="kernel")
    if not block:
        return -ENOMEM
    try:
        k.memory.write(block, bytes(data))
        retries = Fields(k.memory, "i2c_adapter", adapter.adap)["retries"]
        result = -EAGAIN
        for _attempt in range(min(retries, 16) + 1):
            result = signed32(k.call_function_pointer(xfer, adapter.adap, addr, flags, read_write, command,
                                                      protocol, block))
            if result != -EAGAIN:
                break
        data[:] = k.memory.read(block, SMBUS_DATA_SIZE)
        return result
    finally:
        release(k, block)


def default_probe(k: Kernel, adapter: AdapterRecord, addr: int) -> bool:
    """i2c_default_probe: a byte read for EEPROM-ish addresses (or without quick), else a quick write."""
    func = functionality(k, adapter)
    data = bytearray(SMBUS_DATA_SIZE)
    if (addr & ~0x07) == 0x30 or (addr & ~0x0F) == 0x50 or not func & I2C_FUNC_SMBUS_QUICK:
        result = smbus_xfer(k, adapter, addr, 0, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, data)
    else:
        result = smbus_xfer(k, adapter, addr, 0, I2C_SMBUS_WRITE, 0, I2C_SMBUS_QUICK, data)
    return result >= 0


# -- the services: drivers -------------------------------------------------------------------------

@service("int i2c_register_driver(struct module *owner, struct i2c_driver *driver)")
def i2c_register_driver(k: Kernel, owner: int, drv: int) -> int:
    """Register an i2c driver: it probes the matching clients, then detects on adapters of its class."""
    if not drv:
        return -EINVAL
    core = _core(k)
    if drv in core.drivers:
        return -EBUSY
    fields = Fields(k.memory, "i2c_driver", drv)
    fields["driver.owner"] = owner
    fields["driver.bus"] = k.export_address("i2c_bus_type") or 0
    clients = fields.address_of("clients")
    k.memory.write_u32(clients, clients)
    k.memory.write_u32(clients + 4, clients)
    name = guest_string(k, fields["driver.name"], 64)
    driver = core.drivers[drv] = DriverRecord(drv, name, owner_name(k))
    k.trace.add("note", "i2c driver", fields={"driver": name, "owner": driver.owner})
    result = driver_core.register_driver(k, drv + DRV_DRIVER, owner=driver.owner, by_bus_core=True)  # binds matching clients
    if result:
        core.drivers.pop(drv, None)
        return result
    for adapter in list(core.adapters.values()):  # __process_new_driver: i2c_detect on each adapter
        if drv in core.drivers:
            core.detect(k, adapter, driver)
    return 0


@service("void i2c_del_driver(struct i2c_driver *driver)")
def i2c_del_driver(k: Kernel, drv: int) -> None:
    """Unregister: the clients its detect created are removed, the others unbound (remove runs)."""
    core = _core(k)
    driver = core.drivers.get(drv)
    if driver is None:
        k.trace.add("note", "unregister", caller=k.current_caller,
                    fields={"warning": f"i2c driver {drv:#x} was not registered"})
        return
    core.unregister_driver(k, driver)


@service("const struct i2c_device_id *i2c_match_id(const struct i2c_device_id *id, const struct i2c_client *client)")
def i2c_match_id(k: Kernel, table: int, client: int) -> int:
    """The entry of ``id`` whose name is the client's, or NULL."""
    if not table or not client:
        return 0
    name = guest_string(k, Fields(k.memory, "i2c_client", client).address_of("name"), I2C_NAME_SIZE)
    return match_id(k, table, name)


@service("const void *i2c_get_match_data(const struct i2c_client *client)")
def i2c_get_match_data(k: Kernel, client: int) -> int:
    """The bound driver's id_table ``driver_data`` for this client (no firmware match data here), or NULL."""
    drv_dev = k.memory.read_u32(client + CLIENT_DEV + DEV_DRIVER)
    if not drv_dev:
        return 0
    table = Fields(k.memory, "i2c_driver", drv_dev - DRV_DRIVER)["id_table"]
    entry = i2c_match_id(k, table, client)
    return Fields(k.memory, "i2c_device_id", entry)["driver_data"] if entry else 0


# -- clients -----------------------------------------------------------------------------------------

def _new_client_from_info(k: Kernel, adap: int, info: int) -> int:
    core = _core(k)
    adapter = core.adapters.get(adap)
    if adapter is None or not info:
        return err_ptr(EINVAL)
    board = Fields(k.memory, "i2c_board_info", info)
    name = guest_string(k, board.address_of("type"), I2C_NAME_SIZE)
    made = core.new_client(k, adapter, name, board["addr"], board["flags"], board["irq"], board["platform_data"],
                           owner_name(k))
    return made.client if isinstance(made, ClientRecord) else err_ptr(-made)


@service("struct i2c_client *i2c_new_client_device(struct i2c_adapter *adap, const struct i2c_board_info *info)")
def i2c_new_client_device(k: Kernel, adap: int, info: int) -> int:
    """Instantiate a client from board info on ``adap`` (a matching driver probes it now); ERR_PTR on failure."""
    return _new_client_from_info(k, adap, info)


def _new_dummy(k: Kernel, adap: int, address: int) -> int:
    core = _core(k)
    adapter = core.adapters.get(adap)
    if adapter is None:
        return err_ptr(EINVAL)
    # Bound to the i2c core's own dummy driver in Linux: no module's driver ever probes it.
    made = core.new_client(k, adapter, "dummy", address, 0, 0, 0, owner_name(k), dummy=True)
    return made.client if isinstance(made, ClientRecord) else err_ptr(-made)


@service("struct i2c_client *i2c_new_dummy_device(struct i2c_adapter *adapter, u16 address)")
def i2c_new_dummy_device(k: Kernel, adap: int, address: int) -> int:
    """A client named "dummy" at a second address of a chip, bound to no module's driver; ERR_PTR on failure."""
    return _new_dummy(k, adap, address)


@service("struct i2c_client *devm_i2c_new_dummy_device(struct device *dev, struct i2c_adapter *adapter, u16 address)")
def devm_i2c_new_dummy_device(k: Kernel, dev: int, adap: int, address: int) -> int:
    """i2c_new_dummy_device, unregistered when ``dev`` is unbound."""
    client = _new_dummy(k, adap, address)
    if not is_err(client):
        _core(k).add_managed(dev, "dummy", client)
    return client


@service("struct i2c_client *i2c_new_scanned_device(struct i2c_adapter *adap, struct i2c_board_info *info, "
         "const unsigned short *addr_list, int (*probe)(struct i2c_adapter *adap, unsigned short addr))")
def i2c_new_scanned_device(k: Kernel, adap: int, info: int, addr_list: int, probe: int) -> int:
    """The first address of ``addr_list`` that answers ``probe`` (default: the core's) becomes the client."""
    core = _core(k)
    adapter = core.adapters.get(adap)
    if adapter is None or not info or not addr_list:
        return err_ptr(EINVAL)
    for i in range(128):
        addr = int.from_bytes(k.memory.read(addr_list + 2 * i, 2), "little")
        if addr == I2C_CLIENT_END:
            break
        if not 0x08 <= addr <= 0x77:
            _adapter_log(k, adapter, 4, f"Invalid 7-bit address 0x{addr:02x}")
            continue
        if core.address_busy(adapter, addr):
            continue
        found = signed32(k.call_function_pointer(probe, adap, addr)) if probe else default_probe(k, adapter, addr)
        if found:
            Fields(k.memory, "i2c_board_info", info)["addr"] = addr
            return _new_client_from_info(k, adap, info)
    return err_ptr(ENODEV)


@service("int i2c_probe_func_quick_read(struct i2c_adapter *adap, unsigned short addr)")
def i2c_probe_func_quick_read(k: Kernel, adap: int, addr: int) -> int:
    """1 if a quick read at ``addr`` is acknowledged."""
    data = bytearray(SMBUS_DATA_SIZE)
    return int(smbus_xfer(k, _adapter(k, adap), addr, 0, I2C_SMBUS_READ, 0, I2C_SMBUS_QUICK, data) >= 0)


@service("void i2c_unregister_device(struct i2c_client *client)")
def i2c_unregister_device(k: Kernel, client: int) -> None:
    """Unbind (its driver's remove runs) and free a client; NULL and ERR_PTR are ignored, as Linux."""
    if not client or is_err(client):
        return
    core = _core(k)
    record = core.clients.get(client)
    if record is None:
        k.warn(f"i2c_unregister_device: {client:#x} is not an i2c client")
        return
    core.delete_client(k, record)


@service("struct i2c_client *i2c_verify_client(struct device *dev)")
def i2c_verify_client(k: Kernel, dev: int) -> int:
    """The client whose device ``dev`` is, or NULL."""
    is_client = dev and k.memory.read_u32(dev + DEV_TYPE) == (k.export_address("i2c_client_type") or -1)
    return dev - CLIENT_DEV if is_client else 0


@service("struct i2c_adapter *i2c_verify_adapter(struct device *dev)")
def i2c_verify_adapter(k: Kernel, dev: int) -> int:
    """The adapter whose device ``dev`` is, or NULL."""
    is_adapter = dev and k.memory.read_u32(dev + DEV_TYPE) == (k.export_address("i2c_adapter_type") or -1)
    return dev - ADAPTER_DEV if is_adapter else 0


@service("struct i2c_adapter *i2c_get_adapter(int nr)")
def i2c_get_adapter(k: Kernel, nr: int) -> int:
    """Adapter number ``nr`` (a reference on it), or NULL."""
    for record in _core(k).adapters.values():
        if record.nr == nr:
            fields = Fields(k.memory, "i2c_adapter", record.adap)
            fields["dev.kobj.kref"] = fields["dev.kobj.kref"] + 1
            return record.adap
    return 0


@service("void i2c_put_adapter(struct i2c_adapter *adap)")
def i2c_put_adapter(k: Kernel, adap: int) -> None:
    """Drop a reference i2c_get_adapter took (NULL is ignored)."""
    if adap and adap in _core(k).adapters:
        fields = Fields(k.memory, "i2c_adapter", adap)
        fields["dev.kobj.kref"] = max(fields["dev.kobj.kref"] - 1, 1)


@service("int i2c_for_each_dev(void *data, int (*fn)(struct device *dev, void *data))")
def i2c_for_each_dev(k: Kernel, data: int, fn: int) -> int:
    """``fn(dev, data)`` for every device on the i2c bus (adapters and clients) until one returns non-zero."""
    bus = k.export_address("i2c_bus_type") or 0
    _core(k)
    for dev in driver_core.core(k).bus_devices(bus):
        result = signed32(k.call_function_pointer(fn, dev, data))
        if result:
            return result
    return 0


# -- adapters from modules -------------------------------------------------------------------------

def _add_guest_adapter(k: Kernel, adap: int, nr: int) -> int:
    core = _core(k)
    if not adap or adap in core.adapters:
        return -EINVAL if not adap else -EBUSY
    fields = Fields(k.memory, "i2c_adapter", adap)
    name = guest_string(k, fields.address_of("name"), 48)
    if not name:
        k.warn("i2c adapter has no name")
        return -EINVAL
    if not fields["algo"]:
        k.console_write(f"i2c-core: adapter '{name}': no algo supplied!\n", 3)
        return -EINVAL
    fields["nr"] = nr
    record = AdapterRecord(adap, nr, owner_name(k))
    with contextlib.suppress(SandboxError):
        _host_bus(k).reserved.add(nr)
    return core.register_adapter(k, record)


@service("int i2c_add_adapter(struct i2c_adapter *adapter)")
def i2c_add_adapter(k: Kernel, adap: int) -> int:
    """Register a bus driver's adapter with the next free number; its clients' transfers call its algorithm."""
    return _add_guest_adapter(k, adap, _core(k).free_number(k))


@service("int i2c_add_numbered_adapter(struct i2c_adapter *adap)")
def i2c_add_numbered_adapter(k: Kernel, adap: int) -> int:
    """Register an adapter as number ``adap->nr`` (-1: the next free one); -EBUSY if the number is taken."""
    if not adap:
        return -EINVAL
    nr = signed32(Fields(k.memory, "i2c_adapter", adap)["nr"])
    if nr == -1:
        return i2c_add_adapter(k, adap)
    core = _core(k)
    if nr < 0 or nr != core.free_number(k, nr):
        return -EBUSY
    return _add_guest_adapter(k, adap, nr)


@service("void i2c_del_adapter(struct i2c_adapter *adap)")
def i2c_del_adapter(k: Kernel, adap: int) -> None:
    """Unregister an adapter: its clients are unregistered first (their drivers' remove runs)."""
    core = _core(k)
    record = core.adapters.get(adap)
    if record is None or record.host_nr is not None:
        k.console_write(f"i2c-core: attempting to delete unregistered adapter [{adapter_name(k, adap) if adap else ''}]\n", 7)
        return
    core.delete_adapter(k, record)
    with contextlib.suppress(SandboxError):
        _host_bus(k).reserved.discard(record.nr)


# -- locking: one CPU, so a bus lock only has to be balanced ----------------------------------------

@service("void i2c_adapter_lock_bus(struct i2c_adapter *adapter, unsigned int flags)")
def i2c_adapter_lock_bus(k: Kernel, adap: int, flags: int) -> None:
    """rt_mutex_lock of the adapter's bus lock (i2c_lock_bus)."""
    record = _core(k).adapters.get(adap)
    if record is not None:
        if record.lock_depth:
            k.warn(f"i2c-{record.nr}: bus lock taken twice (a deadlock on Linux)")
        record.lock_depth += 1


@service("int i2c_adapter_trylock_bus(struct i2c_adapter *adapter, unsigned int flags)")
def i2c_adapter_trylock_bus(k: Kernel, adap: int, flags: int) -> int:
    """1 and the lock taken if it was free, else 0."""
    record = _core(k).adapters.get(adap)
    if record is None or record.lock_depth:
        return 0
    record.lock_depth = 1
    return 1


@service("void i2c_adapter_unlock_bus(struct i2c_adapter *adapter, unsigned int flags)")
def i2c_adapter_unlock_bus(k: Kernel, adap: int, flags: int) -> None:
    """Release the bus lock."""
    record = _core(k).adapters.get(adap)
    if record is not None:
        if not record.lock_depth:
            k.warn(f"i2c-{record.nr}: bus lock released while not held")
        record.lock_depth = max(record.lock_depth - 1, 0)


def _locked(k: Kernel, adapter: AdapterRecord, what: str) -> None:
    if adapter.lock_depth:
        k.warn(f"{what} on i2c-{adapter.nr} while the caller holds its bus lock (a deadlock on Linux: "
               f"use the __ variant)")


# -- the host adapters' algorithm ----------------------------------------------------------------------

@service("int i2c_sandbox_host_xfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)")
def i2c_sandbox_host_xfer(k: Kernel, adap: int, msgs: int, num: int) -> int:
    """``master_xfer`` of the host's adapters (for code calling ``adap->algo->master_xfer`` itself)."""
    return transfer(k, _adapter(k, adap), msgs, num)


@service("u32 i2c_sandbox_host_functionality(struct i2c_adapter *adap)")
def i2c_sandbox_host_functionality(k: Kernel, adap: int) -> int:
    """``functionality`` of the host's adapters: I2C and every emulated SMBus command."""
    return HOST_FUNCTIONALITY


# -- transfers ----------------------------------------------------------------------------------------

@service("int __i2c_transfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)")
def __i2c_transfer(k: Kernel, adap: int, msgs: int, num: int) -> int:
    """Transfer ``num`` messages with the bus lock held by the caller; how many were sent, or -errno."""
    return transfer(k, _adapter(k, adap), msgs, num)


@service("int i2c_transfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)")
def i2c_transfer(k: Kernel, adap: int, msgs: int, num: int) -> int:
    """Transfer ``num`` messages as one combined transfer; how many were sent, or -errno (-ENXIO: no ACK)."""
    adapter = _adapter(k, adap)
    _locked(k, adapter, "i2c_transfer")
    return transfer(k, adapter, msgs, num)


@service("int i2c_transfer_buffer_flags(const struct i2c_client *client, char *buf, int count, u16 flags)")
def i2c_transfer_buffer_flags(k: Kernel, client: int, buf: int, count: int, flags: int) -> int:
    """One message to the client (i2c_master_send/recv): ``count`` bytes moved, or -errno."""
    _record, adapter = _client(k, client)
    fields = Fields(k.memory, "i2c_client", client)
    if count < 0 or count > MAX_MESSAGE_LEN:
        return -EINVAL
    message = I2cMessage(fields["addr"], (flags | (fields["flags"] & I2C_M_TEN)) & 0xFFFF,
                         b"" if flags & I2C_M_RD else k.memory.read(buf, count), count)
    result = run_messages(k, adapter, [message])
    if result == 1 and message.read:
        k.memory.write(buf, message.data[:count])
    return count if result == 1 else result


# -- SMBus --------------------------------------------------------------------------------------------

@service("s32 __i2c_smbus_xfer(struct i2c_adapter *adapter, u16 addr, unsigned short flags, char read_write, "
         "u8 command, int protocol, union i2c_smbus_data *data)")
def __i2c_smbus_xfer(k: Kernel, adap: int, addr: int, flags: int, read_write: int, command: int, protocol: int,
                     data: int) -> int:
    """An SMBus command with the bus lock held by the caller; 0 or -errno, ``data`` filled on reads."""
    buffer = bytearray(k.memory.read(data, SMBUS_DATA_SIZE)) if data else bytearray(SMBUS_DATA_SIZE)
    result = smbus_xfer(k, _adapter(k, adap), addr, flags, read_write & 0xFF, command, protocol, buffer)
    if data and result >= 0 and read_write == I2C_SMBUS_READ:
        k.memory.write(data, bytes(buffer))
    return result


@service("s32 i2c_smbus_xfer(struct i2c_adapter *adapter, u16 addr, unsigned short flags, char read_write, "
         "u8 command, int protocol, union i2c_smbus_data *data)")
def i2c_smbus_xfer(k: Kernel, adap: int, addr: int, flags: int, read_write: int, command: int, protocol: int,
                   data: int) -> int:
    """An SMBus command (I2C_SMBUS_QUICK .. I2C_SMBUS_I2C_BLOCK_DATA); 0 or -errno, ``data`` filled on reads."""
    _locked(k, _adapter(k, adap), "i2c_smbus_xfer")
    return __i2c_smbus_xfer(k, adap, addr, flags, read_write, command, protocol, data)


def _client_smbus(k: Kernel, client: int, read_write: int, command: int, protocol: int,
                  data: bytearray) -> int:
    _record, adapter = _client(k, client)
    fields = Fields(k.memory, "i2c_client", client)
    _locked(k, adapter, "SMBus command")
    return smbus_xfer(k, adapter, fields["addr"], fields["flags"], read_write, command, protocol, data)


@service("s32 i2c_smbus_read_byte(const struct i2c_client *client)")
def i2c_smbus_read_byte(k: Kernel, client: int) -> int:
    """Receive one byte (no command): the byte, or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    result = _client_smbus(k, client, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, data)
    return result if result < 0 else data[0]


@service("s32 i2c_smbus_write_byte(const struct i2c_client *client, u8 value)")
def i2c_smbus_write_byte(k: Kernel, client: int, value: int) -> int:
    """Send one byte (no command): 0 or -errno."""
    return _client_smbus(k, client, I2C_SMBUS_WRITE, value, I2C_SMBUS_BYTE, bytearray(SMBUS_DATA_SIZE))


@service("s32 i2c_smbus_read_byte_data(const struct i2c_client *client, u8 command)")
def i2c_smbus_read_byte_data(k: Kernel, client: int, command: int) -> int:
    """Read the byte at ``command`` (write it, repeated START, read one): the byte, or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    result = _client_smbus(k, client, I2C_SMBUS_READ, command, I2C_SMBUS_BYTE_DATA, data)
    return result if result < 0 else data[0]


@service("s32 i2c_smbus_write_byte_data(const struct i2c_client *client, u8 command, u8 value)")
def i2c_smbus_write_byte_data(k: Kernel, client: int, command: int, value: int) -> int:
    """Write ``value`` at ``command``: 0 or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    data[0] = value & 0xFF
    return _client_smbus(k, client, I2C_SMBUS_WRITE, command, I2C_SMBUS_BYTE_DATA, data)


@service("s32 i2c_smbus_read_word_data(const struct i2c_client *client, u8 command)")
def i2c_smbus_read_word_data(k: Kernel, client: int, command: int) -> int:
    """Read the word at ``command``, low byte first on the wire (SMBus order): the word, or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    result = _client_smbus(k, client, I2C_SMBUS_READ, command, I2C_SMBUS_WORD_DATA, data)
    return result if result < 0 else data[0] | data[1] << 8


@service("s32 i2c_smbus_write_word_data(const struct i2c_client *client, u8 command, u16 value)")
def i2c_smbus_write_word_data(k: Kernel, client: int, command: int, value: int) -> int:
    """Write a word at ``command``, low byte first: 0 or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    data[0:2] = (value & 0xFFFF).to_bytes(2, "little")
    return _client_smbus(k, client, I2C_SMBUS_WRITE, command, I2C_SMBUS_WORD_DATA, data)


@service("s32 i2c_smbus_read_block_data(const struct i2c_client *client, u8 command, u8 *values)")
def i2c_smbus_read_block_data(k: Kernel, client: int, command: int, values: int) -> int:
    """An SMBus block read (the chip sends the count first): bytes copied to ``values`` (up to 32), or -errno."""
    data = bytearray(SMBUS_DATA_SIZE)
    result = _client_smbus(k, client, I2C_SMBUS_READ, command, I2C_SMBUS_BLOCK_DATA, data)
    if result < 0:
        return result
    k.memory.write(values, bytes(data[1:1 + data[0]]))
    return data[0]


@service("s32 i2c_smbus_write_block_data(const struct i2c_client *client, u8 command, u8 length, const u8 *values)")
def i2c_smbus_write_block_data(k: Kernel, client: int, command: int, length: int, values: int) -> int:
    """An SMBus block write (count, then the bytes; at most 32): 0 or -errno."""
    length = min(length, I2C_SMBUS_BLOCK_MAX)
    data = bytearray(SMBUS_DATA_SIZE)
    data[0] = length
    data[1:1 + length] = k.memory.read(values, length)
    return _client_smbus(k, client, I2C_SMBUS_WRITE, command, I2C_SMBUS_BLOCK_DATA, data)


@service("s32 i2c_smbus_read_i2c_block_data(const struct i2c_client *client, u8 command, u8 length, u8 *values)")
def i2c_smbus_read_i2c_block_data(k: Kernel, client: int, command: int, length: int, values: int) -> int:
    """Read ``length`` bytes (at most 32) from ``command`` on: the count read, or -errno."""
    length = min(length, I2C_SMBUS_BLOCK_MAX)
    data = bytearray(SMBUS_DATA_SIZE)
    data[0] = length
    result = _client_smbus(k, client, I2C_SMBUS_READ, command, I2C_SMBUS_I2C_BLOCK_DATA, data)
    if result < 0:
        return result
    k.memory.write(values, bytes(data[1:1 + data[0]]))
    return data[0]


@service("s32 i2c_smbus_write_i2c_block_data(const struct i2c_client *client, u8 command, u8 length, "
         "const u8 *values)")
def i2c_smbus_write_i2c_block_data(k: Kernel, client: int, command: int, length: int, values: int) -> int:
    """Write ``length`` bytes (at most 32) from ``command`` on: 0 or -errno."""
    length = min(length, I2C_SMBUS_BLOCK_MAX)
    data = bytearray(SMBUS_DATA_SIZE)
    data[0] = length
    data[1:1 + length] = k.memory.read(values, length)
    return _client_smbus(k, client, I2C_SMBUS_WRITE, command, I2C_SMBUS_I2C_BLOCK_DATA, data)


@service("s32 i2c_smbus_read_i2c_block_data_or_emulated(const struct i2c_client *client, u8 command, u8 length, "
         "u8 *values)")
def i2c_smbus_read_i2c_block_data_or_emulated(k: Kernel, client: int, command: int, length: int,
                                              values: int) -> int:
    """An I2C block read if the adapter has it, else word reads, else byte reads: the count, or -errno."""
    _record, adapter = _client(k, client)
    length = min(length, I2C_SMBUS_BLOCK_MAX)
    func = functionality(k, adapter)
    if func & I2C_FUNC_SMBUS_READ_I2C_BLOCK:
        return i2c_smbus_read_i2c_block_data(k, client, command, length, values)
    if not func & 0x80000:  # I2C_FUNC_SMBUS_READ_BYTE_DATA
        return -EOPNOTSUPP
    got = bytearray()
    if func & 0x200000:  # I2C_FUNC_SMBUS_READ_WORD_DATA
        while len(got) + 1 < length:
            word = i2c_smbus_read_word_data(k, client, (command + len(got)) & 0xFF)
            if word < 0:
                return word
            got += word.to_bytes(2, "little")
    while len(got) < length:
        byte = i2c_smbus_read_byte_data(k, client, (command + len(got)) & 0xFF)
        if byte < 0:
            return byte
        got.append(byte)
    k.memory.write(values, bytes(got))
    return len(got)


# -- from Python ---------------------------------------------------------------------------------------

def _adapter_by_nr(k: Kernel, nr: int) -> AdapterRecord:
    core = _core(k)
    adapter = next((a for a in core.adapters.values() if a.nr == nr), None)
    if adapter is None:
        raise SandboxError(f"no i2c adapter i2c-{nr} (have: {sorted(a.nr for a in core.adapters.values()) or 'none'})")
    return adapter


def _c_short(text: str) -> int | None:
    """sscanf's %hi: decimal, 0x hexadecimal or 0 octal; None if there is no number."""
    text = text.strip()
    try:
        if text.lower().startswith(("0x", "-0x")):
            value = int(text, 16)
        elif len(text) > 1 and text.startswith("0"):
            value = int(text, 8)
        else:
            value = int(text, 10)
    except ValueError:
        return None
    return value & 0xFFFF


def new_device_from_text(k: Kernel, adapter: AdapterRecord, text: str) -> ClientRecord | int:
    """new_device_store: ``"<name> <address>"``; the client, or -errno (logged as Linux logs it)."""
    blank = text.find(" ")
    if blank < 0:
        _adapter_log(k, adapter, 3, "new_device: Missing parameters")
        return -EINVAL
    name = text[:blank]
    if len(name.encode()) > I2C_NAME_SIZE - 1:
        _adapter_log(k, adapter, 3, "new_device: Invalid device name")
        return -EINVAL
    rest = text[blank + 1:]
    number = rest[:-1] if rest.endswith("\n") else rest
    addr = _c_short(number)
    if addr is None:
        _adapter_log(k, adapter, 3, "new_device: Can't parse I2C address" if not number.split() or
                     _c_short(number.split()[0]) is None else "new_device: Extra parameters")
        return -EINVAL
    flags = 0
    if addr & I2C_ADDR_OFFSET_TEN_BIT == I2C_ADDR_OFFSET_TEN_BIT:
        addr &= ~I2C_ADDR_OFFSET_TEN_BIT
        flags |= I2C_CLIENT_TEN
    made = _core(k).new_client(k, adapter, name, addr, flags, 0, 0, "kernel")
    if isinstance(made, ClientRecord):
        made.userspace = True
        _adapter_log(k, adapter, 6, f"new_device: Instantiated device {name} at 0x{addr:02x}")
    return made


def delete_device_from_text(k: Kernel, adapter: AdapterRecord, text: str) -> int:
    """delete_device_store: ``"<address>"`` of a client made through new_device; 0 or -errno."""
    number = text[:-1] if text.endswith("\n") else text
    addr = _c_short(number)
    if addr is None:
        _adapter_log(k, adapter, 3, "delete_device: Can't parse I2C address")
        return -EINVAL
    core = _core(k)
    for record in list(core.clients.values()):
        encoded = record.addr | (I2C_ADDR_OFFSET_TEN_BIT if record.client and
                                 Fields(k.memory, "i2c_client", record.client)["flags"] & I2C_CLIENT_TEN else 0)
        if record.userspace and record.adap == adapter.adap and encoded == addr:
            _adapter_log(k, adapter, 6, f"delete_device: Deleting device {record.name} at 0x{record.addr:02x}")
            core.delete_client(k, record)
            return 0
    _adapter_log(k, adapter, 3, "delete_device: Can't find device in list")
    return -ENOENT


@service("ssize_t i2c_sysfs_name_show(struct device *dev, struct device_attribute *attr, char *buf)")
def i2c_sysfs_name_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """``name`` of a client (its type) or of an adapter."""
    is_client = k.memory.read_u32(dev + DEV_TYPE) == k.export_address("i2c_client_type")
    where = Fields(k.memory, "i2c_client", dev - CLIENT_DEV).address_of("name") if is_client else \
        Fields(k.memory, "i2c_adapter", dev - ADAPTER_DEV).address_of("name")
    text = (guest_string(k, where, 48) + "\n").encode()
    k.memory.write(buf, text + b"\0")
    return len(text)


@service("ssize_t i2c_sysfs_modalias_show(struct device *dev, struct device_attribute *attr, char *buf)")
def i2c_sysfs_modalias_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """``modalias`` of a client: ``i2c:<name>`` (no OF/ACPI alias here)."""
    name = guest_string(k, Fields(k.memory, "i2c_client", dev - CLIENT_DEV).address_of("name"), I2C_NAME_SIZE)
    text = f"i2c:{name}\n".encode()
    k.memory.write(buf, text + b"\0")
    return len(text)


def _store_text(k: Kernel, buf: int, count: int) -> str:
    return k.memory.read(buf, min(count, 4095)).split(b"\0", 1)[0].decode("utf-8", "replace")


@service("ssize_t i2c_sysfs_new_device_store(struct device *dev, struct device_attribute *attr, const char *buf, "
         "size_t count)")
def i2c_sysfs_new_device_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """An adapter's ``new_device``: ``"<name> <address>"`` instantiates a client; count or -errno."""
    made = new_device_from_text(k, _adapter(k, dev - ADAPTER_DEV), _store_text(k, buf, count))
    return count if isinstance(made, ClientRecord) else made


@service("ssize_t i2c_sysfs_delete_device_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t count)")
def i2c_sysfs_delete_device_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """An adapter's ``delete_device``: ``"<address>"`` removes a client new_device made; count or -errno."""
    result = delete_device_from_text(k, _adapter(k, dev - ADAPTER_DEV), _store_text(k, buf, count))
    return result or count


def new_device(k: Kernel, nr: int, name: str, addr: int) -> int:
    """Instantiate client ``name`` at ``addr`` on adapter ``nr`` (host's or a module's), as writing
    ``"name 0xaddr"`` to ``/sys/bus/i2c/devices/i2c-N/new_device`` does; the client struct's address.

    A matching driver probes it now; SandboxError naming the errno if Linux would refuse it.
    """
    made = new_device_from_text(k, _adapter_by_nr(k, nr), f"{name} {addr:#x}")
    if not isinstance(made, ClientRecord):
        raise SandboxError(f"i2c-{nr}: cannot instantiate {name} at {addr:#04x} (error {made})")
    return made.client


def delete_device(k: Kernel, nr: int, addr: int) -> None:
    """Remove the client at ``addr`` that :func:`new_device` made, as ``.../i2c-N/delete_device`` does."""
    result = delete_device_from_text(k, _adapter_by_nr(k, nr), f"{addr:#x}")
    if result:
        raise SandboxError(f"i2c-{nr}: no client made through new_device at {addr:#04x} (error {result})")


def smbus_command(k: Kernel, nr: int, addr: int, read: bool, command: int, protocol: int,
                  data: bytes = b"") -> bytes:
    """One SMBus command on adapter ``nr`` from userspace (i2cget/i2cset through i2c-dev): the
    ``union i2c_smbus_data`` bytes after it (34), or DeviceError with the errno.

    ``data`` is the union's start for writes (the byte, the word little-endian, a block with its count).
    """
    from sandbox.errors import DeviceError

    adapter = _adapter_by_nr(k, nr)
    buffer = bytearray(SMBUS_DATA_SIZE)
    buffer[:len(data)] = data[:SMBUS_DATA_SIZE]
    result = smbus_xfer(k, adapter, addr, 0, I2C_SMBUS_READ if read else I2C_SMBUS_WRITE, command, protocol, buffer)
    if result < 0:
        raise DeviceError(f"i2c-{nr}: SMBus command {protocol} at {addr:#04x} failed with error {result}", -result)
    return bytes(buffer)
