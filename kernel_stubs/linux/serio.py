"""The serio bus (drivers/input/serio/serio.c, built into Debian's 686 kernel), Linux 6.1 i386.

A serio *port* is a byte pipe to a keyboard, a mouse or a serial device:
``struct serio`` (736 bytes) with its id (type, proto, id, extra), its
``write``/``open``/``close``/``start``/``stop`` callbacks and the driver
bound to it. Port drivers register ports (``__serio_register_port``: a
real module such as ``ct82c710.ko``, or a port the built-in kernel owns,
made from Python with :func:`add_host_port`, and the i8042's keyboard port,
:func:`attach_i8042`); serio drivers (``xtkbd.ko``, ``sermouse.ko``,
``serio_raw.ko``, ...) register with ``__serio_register_driver``. Binding
is ``serio_bus_match``: neither side ``manual_bind``, and an entry of the
driver's id table whose type, proto, id and extra each equal the port's or
are SERIO_ANY (0xff); then ``connect(serio, drv)``, which calls
``serio_open`` (the port's ``open``, the driver now receives bytes). Bytes
arrive with ``serio_interrupt`` and go to the bound driver's ``interrupt``;
a byte with no driver bound makes the core rescan the port. Binding a
manual-bind driver is what writing its name to the port's sysfs
``drvctl`` does: :func:`bind`. Linux queues registration and binding to
the kseriod thread; here they run at once, in the same order.

A port is freed by the core when it is unregistered (``serio_release_port``
kfrees it, as Linux), after the driver's ``disconnect`` and the port's
``stop``. Ports and drivers a module leaves registered at unload are
reported. The port's ``struct device`` is not put on a sysfs bus.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service

from .layout import Fields, offset, size
from .registrations import EINVAL, guest_string, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

SERIO_SIZE = size("serio")
SERIO_DEV = offset("serio", "dev")
DRV_DRIVER = offset("serio_driver", "driver")
SERIO_ANY = 0xFF
# include/uapi/linux/serio.h: port types and a few protocols
SERIO_XT, SERIO_8042, SERIO_RS232, SERIO_HIL_MLC, SERIO_PS_PSTHRU, SERIO_8042_XL = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
SERIO_MSC, SERIO_SUN, SERIO_MS, SERIO_MP, SERIO_MZ, SERIO_SUNKBD = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10
SERIO_TIMEOUT, SERIO_PARITY = 1, 2

# struct bus_type serio_bus (exported): drivers set drv->driver.bus to it; its name is read in messages.
serio_bus = kernel_variable("serio_bus", size("bus_type"), b"")
_BUS_NAME = b"serio\0"


@dataclass(slots=True)
class SerioPort:
    """A registered port: its number (serioN), who registered it, and what it is bound to."""

    serio: int
    number: int
    owner: str
    name_block: int = 0
    driver: int = 0  # the serio_driver bound (serio->dev.driver)
    host: str | None = None  # the Python port it stands for (add_host_port), if any


@dataclass(slots=True)
class SerioDriver:
    """A registered serio driver."""

    drv: int
    name: str
    owner: str
    manual_bind: bool


@dataclass(slots=True)
class HostPort:
    """A port the built-in kernel owns, answered from Python: what drivers wrote to it, and how."""

    name: str
    serio: int = 0
    written: list[int] = field(default_factory=list)
    opens: int = 0
    closes: int = 0
    #: Called with each byte a driver writes (``serio_write``); its return value is write's.
    on_write: Callable[[int], int] | None = None


class SerioCore:
    """The serio bus of one kernel: ports in registration order, drivers, host ports."""

    def __init__(self) -> None:
        self.ports: dict[int, SerioPort] = {}
        self.drivers: dict[int, SerioDriver] = {}
        self.hosts: dict[str, HostPort] = {}
        self.next_number = 0

    def boot(self, k: Kernel) -> None:
        """Name serio_bus as the built-in core registered it."""
        bus = k.export_address("serio_bus")
        if bus and not k.memory.read_u32(bus):
            name = k.memory.alloc(len(_BUS_NAME))
            k.memory.write(name, _BUS_NAME)
            k.memory.write_u32(bus, name)

    def clone(self) -> SerioCore:
        """A copy for snapshots (host ports keep their write callbacks)."""
        twin = SerioCore()
        twin.ports = {a: SerioPort(p.serio, p.number, p.owner, p.name_block, p.driver, p.host)
                      for a, p in self.ports.items()}
        twin.drivers = dict(self.drivers)
        twin.hosts = {n: HostPort(h.name, h.serio, list(h.written), h.opens, h.closes, h.on_write)
                      for n, h in self.hosts.items()}
        twin.next_number = self.next_number
        return twin

    def port_named(self, name: str) -> SerioPort:
        """A registered port by its ``serioN`` name; KeyError listing the ports."""
        for port in self.ports.values():
            if f"serio{port.number}" == name:
                return port
        known = ", ".join(f"serio{p.number}" for p in self.ports.values()) or "none"
        raise KeyError(f"no serio port {name!r} (registered: {known})")

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Drivers and ports the module left registered: unbound, forgotten and reported."""
        leaks = []
        for drv in [d for d in self.drivers.values() if d.owner == module.name]:
            leaks.append(f"serio driver {drv.name} still registered")
            for port in [p for p in self.ports.values() if p.driver == drv.drv]:
                _clear_driver(k, port)
            del self.drivers[drv.drv]
        for port in [p for p in self.ports.values() if p.owner == module.name]:
            leaks.append(f"serio port serio{port.number} still registered")
            del self.ports[port.serio]
            if port.name_block:
                release(k, port.name_block)
        return leaks


def _core(k: Kernel) -> SerioCore:
    return k.subsystem(SerioCore)


def _port_name(k: Kernel, serio: int) -> str:
    record = _core(k).ports.get(serio)
    return f"serio{record.number}" if record is not None else f"serio@{serio:#x}"


# -- binding ---------------------------------------------------------------------------------------
def matches(k: Kernel, drv: int, serio: int) -> bool:
    """serio_match_port(): an id of the driver's table (ended by type 0 and proto 0) fits the port."""
    table = Fields(k.memory, "serio_driver", drv)["id_table"]
    port = k.memory.read(serio + offset("serio", "id"), 4)  # type, extra, id, proto
    if not table:
        return False
    for i in range(256):
        entry = k.memory.read(table + 4 * i, 4)
        if not entry[0] and not entry[3]:
            return False
        if all(entry[j] in (SERIO_ANY, port[j]) for j in range(4)):
            return True
    return False


def _clear_driver(k: Kernel, port: SerioPort) -> None:
    k.memory.write_u32(port.serio + SERIO_DEV + offset("device", "driver"), 0)
    port.driver = 0


def connect(k: Kernel, port: SerioPort, drv: int) -> bool:
    """really_probe + serio_driver_probe: dev->driver set, ``connect(serio, drv)``; True if it bound."""
    port.driver = drv
    k.memory.write_u32(port.serio + SERIO_DEV + offset("device", "driver"), drv + DRV_DRIVER)
    callback = Fields(k.memory, "serio_driver", drv)["connect"]
    result = signed32(k.call_function_pointer(callback, port.serio, drv)) if callback else -19
    record = _core(k).drivers[drv]
    k.note("serio-connect", driver=record.name, port=_port_name(k, port.serio), result=result)
    if result:
        _clear_driver(k, port)
        if result not in (-19, -6):  # -ENODEV, -ENXIO: quiet, as really_probe
            k.console_write(f"{record.name}: probe of {_port_name(k, port.serio)} failed with error {result}\n", 4)
        return False
    return True


def find_driver(k: Kernel, port: SerioPort) -> None:
    """serio_find_driver(): the first registered driver (not manual-bind) whose id table fits."""
    if Fields(k.memory, "serio", port.serio)["manual_bind"]:
        return
    for drv in list(_core(k).drivers.values()):
        if not drv.manual_bind and matches(k, drv.drv, port.serio) and connect(k, port, drv.drv):
            return


def disconnect(k: Kernel, port: SerioPort) -> None:
    """serio_disconnect_driver(): the driver's ``disconnect(serio)``, then unbound."""
    if not port.driver:
        return
    callback = Fields(k.memory, "serio_driver", port.driver)["disconnect"]
    if callback:
        k.call_function_pointer(callback, port.serio)
    _clear_driver(k, port)


def bind(k: Kernel, port_name: str, driver_name: str) -> None:
    """Write ``driver_name`` to the port's sysfs ``drvctl``: a manual bind (or "none", "rescan", "reconnect").

    As Linux: the port's current driver is disconnected first; a driver
    named here binds even if it is manual-bind (serio_raw), but only if its
    id table fits the port. ValueError for a driver name not registered.
    """
    core = _core(k)
    port = core.port_named(port_name)
    if driver_name == "none":
        disconnect(k, port)
        Fields(k.memory, "serio", port.serio)["manual_bind"] = 1
        return
    if driver_name in ("rescan", "reconnect"):
        rescan(k, port) if driver_name == "rescan" else reconnect(k, port)
        return
    drv = next((d for d in core.drivers.values() if d.name == driver_name), None)
    if drv is None:
        raise ValueError(f"no serio driver {driver_name!r} (registered: "
                         f"{', '.join(d.name for d in core.drivers.values()) or 'none'})")
    disconnect(k, port)
    Fields(k.memory, "serio", port.serio)["manual_bind"] = 1
    if matches(k, drv.drv, port.serio):
        connect(k, port, drv.drv)


def rescan(k: Kernel, port: SerioPort) -> None:
    """serio_rescan(): disconnect and find a driver again."""
    disconnect(k, port)
    find_driver(k, port)


def reconnect(k: Kernel, port: SerioPort) -> None:
    """serio_reconnect(): the driver's ``reconnect`` if it has one and it succeeds, else a rescan."""
    if port.driver:
        callback = Fields(k.memory, "serio_driver", port.driver)["reconnect"]
        if callback and not signed32(k.call_function_pointer(callback, port.serio)):
            return
    rescan(k, port)


# -- ports -------------------------------------------------------------------------------------------
def register_port(k: Kernel, serio: int, owner: str, host: str | None = None) -> SerioPort:
    """serio_init_port + serio_add_port: named serioN, its lists empty, ``start``, then a driver found."""
    core = _core(k)
    fields = Fields(k.memory, "serio", serio)
    for head in ("node", "child_node", "children", "drv_mutex.wait_list", "dev.devres_head"):
        where = fields.address_of(head)
        k.memory.write_u32(where, where)
        k.memory.write_u32(where + 4, where)
    name = f"serio{core.next_number}".encode() + b"\0"
    block = allocate(k, len(name), owner="kernel")
    k.memory.write(block, name)
    fields["dev.kobj.name"] = block
    fields["dev.kobj.kref"] = 1
    fields["dev.bus"] = k.export_address("serio_bus") or 0
    parent = fields["parent"]
    if parent:
        fields["dev.parent"] = parent + SERIO_DEV
        fields["depth"] = Fields(k.memory, "serio", parent)["depth"] + 1
    record = SerioPort(serio, core.next_number, owner, block, host=host)
    core.next_number += 1
    core.ports[serio] = record
    kind = k.memory.read(serio + offset("serio", "id"), 4)
    k.note("serio-port", port=f"serio{record.number}", name=guest_string(k, fields.address_of("name"), 32),
           type=kind[0], proto=kind[3], owner=owner)
    if fields["start"]:
        k.call_function_pointer(fields["start"], serio)
    find_driver(k, record)
    return record


def unregister_port(k: Kernel, serio: int) -> None:
    """serio_unregister_port(): children first, driver disconnected, ``stop``, then the port freed."""
    core = _core(k)
    record = core.ports.get(serio)
    if record is None:
        k.warn(f"serio_unregister_port: {serio:#x} is not a registered port")
        return
    for child in [p for p in core.ports.values() if Fields(k.memory, "serio", p.serio)["parent"] == serio]:
        unregister_port(k, child.serio)
    disconnect(k, record)
    fields = Fields(k.memory, "serio", serio)
    if fields["stop"]:
        k.call_function_pointer(fields["stop"], serio)
    del core.ports[serio]
    if record.name_block:
        release(k, record.name_block)
    if record.host is not None:
        core.hosts.pop(record.host, None)
    k.note("serio-port-gone", port=f"serio{record.number}")
    release(k, serio)  # serio_release_port: the port driver's kzalloc'd struct is the core's now


@service("void __serio_register_port(struct serio *serio, struct module *owner)")
def __serio_register_port(k: Kernel, serio: int, owner: int) -> None:
    """Register a port made by a port driver (serio_register_port); drivers that fit connect."""
    if serio in _core(k).ports:
        k.warn(f"serio_register_port: {serio:#x} is already registered")
        return
    register_port(k, serio, owner_name(k))


@service("void serio_unregister_port(struct serio *serio)")
def serio_unregister_port(k: Kernel, serio: int) -> None:
    """Disconnect the port's driver, stop and free the port."""
    unregister_port(k, serio)


@service("void serio_unregister_child_port(struct serio *serio)")
def serio_unregister_child_port(k: Kernel, serio: int) -> None:
    """Unregister the ports whose parent is ``serio``."""
    core = _core(k)
    for child in [p for p in core.ports.values() if Fields(k.memory, "serio", p.serio)["parent"] == serio]:
        unregister_port(k, child.serio)


@service("void serio_rescan(struct serio *serio)")
def serio_rescan(k: Kernel, serio: int) -> None:
    """Disconnect the port's driver and look for one again."""
    record = _core(k).ports.get(serio)
    if record is not None:
        rescan(k, record)


@service("void serio_reconnect(struct serio *serio)")
def serio_reconnect(k: Kernel, serio: int) -> None:
    """The driver's reconnect, else a rescan."""
    record = _core(k).ports.get(serio)
    if record is not None:
        reconnect(k, record)


# -- drivers -----------------------------------------------------------------------------------------
@service("int __serio_register_driver(struct serio_driver *drv, struct module *owner, const char *mod_name)")
def __serio_register_driver(k: Kernel, drv: int, owner: int, mod_name: int) -> int:
    """Register a driver; unless it is manual-bind, it connects to every free port that fits."""
    core = _core(k)
    if drv in core.drivers:
        return -16  # -EBUSY: driver_register of a registered driver
    fields = Fields(k.memory, "serio_driver", drv)
    fields["driver.bus"] = k.export_address("serio_bus") or 0
    fields["driver.owner"], fields["driver.mod_name"] = owner, mod_name
    name = guest_string(k, fields["driver.name"], 64)
    if not name:
        return -EINVAL
    core.drivers[drv] = SerioDriver(drv, name, owner_name(k), bool(fields["manual_bind"]))
    if not fields["manual_bind"]:
        for port in [p for p in core.ports.values() if not p.driver]:
            if not Fields(k.memory, "serio", port.serio)["manual_bind"] and matches(k, drv, port.serio):
                connect(k, port, drv)
    return 0


@service("void serio_unregister_driver(struct serio_driver *drv)")
def serio_unregister_driver(k: Kernel, drv: int) -> None:
    """Disconnect the driver from its ports (which look for another driver), then forget it."""
    core = _core(k)
    record = core.drivers.pop(drv, None)
    if record is None:
        k.warn(f"serio_unregister_driver: {drv:#x} is not registered")
        return
    core.drivers[drv] = record  # still known while its disconnect runs
    bound = [p for p in core.ports.values() if p.driver == drv]
    for port in bound:
        disconnect(k, port)
    del core.drivers[drv]
    for port in bound:
        find_driver(k, port)


# -- the data path -------------------------------------------------------------------------------------
@service("int serio_open(struct serio *serio, struct serio_driver *drv)")
def serio_open(k: Kernel, serio: int, drv: int) -> int:
    """The driver starts receiving bytes (serio->drv), then the port's open; -1 (drv cleared) if open fails."""
    fields = Fields(k.memory, "serio", serio)
    fields["drv"] = drv
    if fields["open"] and k.call_function_pointer(fields["open"], serio):
        fields["drv"] = 0
        return -1
    record = _core(k).ports.get(serio)
    if record is not None and record.host is not None:
        _core(k).hosts[record.host].opens += 1
    return 0


@service("void serio_close(struct serio *serio)")
def serio_close(k: Kernel, serio: int) -> None:
    """The port's close, then no driver receives bytes."""
    fields = Fields(k.memory, "serio", serio)
    if fields["close"]:
        k.call_function_pointer(fields["close"], serio)
    fields["drv"] = 0
    record = _core(k).ports.get(serio)
    if record is not None and record.host is not None:
        _core(k).hosts[record.host].closes += 1


def interrupt(k: Kernel, serio: int, data: int, flags: int = 0) -> int:
    """serio_interrupt(): the byte to the open driver's ``interrupt``; without one, a rescan (IRQ_HANDLED)."""
    fields = Fields(k.memory, "serio", serio)
    drv = fields["drv"]
    if drv:
        callback = Fields(k.memory, "serio_driver", drv)["interrupt"]
        return k.call_function_pointer(callback, serio, data & 0xFF, flags) if callback else 0
    record = _core(k).ports.get(serio)
    if not flags and record is not None:
        rescan(k, record)
        return 1
    return 0


@service("irqreturn_t serio_interrupt(struct serio *serio, unsigned char data, unsigned int flags)")
def serio_interrupt(k: Kernel, serio: int, data: int, flags: int) -> int:
    """A byte from the port (a port driver's IRQ handler calls this)."""
    return interrupt(k, serio, data, flags)


# -- ports the built-in kernel owns, answered from Python ----------------------------------------------
@service("int serio_host_port_write(struct serio *serio, unsigned char data)")
def serio_host_port_write(k: Kernel, serio: int, data: int) -> int:
    """``serio->write`` of a Python port (internal to the sandbox, not a Linux export)."""
    record = _core(k).ports.get(serio)
    host = _core(k).hosts.get(record.host) if record is not None and record.host else None
    if host is None:
        return -1
    host.written.append(data & 0xFF)
    return host.on_write(data & 0xFF) if host.on_write is not None else 0


def add_host_port(k: Kernel, name: str, type: int, proto: int = 0, id: int = 0, extra: int = 0, *,
                  phys: str = "", on_write: Callable[[int], int] | None = None) -> HostPort:
    """A port the kernel itself provides (what a built-in port driver registers), fed from Python.

    ``name`` is the port's description (``serio->name``); ``type``/``proto``/
    ``id``/``extra`` its ``serio_device_id``; ``on_write`` receives what a
    driver writes. Drivers that fit connect at once. Bytes go in with
    :func:`send`. ``k`` is the kernel's service context.
    """
    core = _core(k)
    if name in core.hosts:
        raise ValueError(f"a host serio port named {name!r} is already registered")
    serio = allocate(k, SERIO_SIZE, owner="kernel")
    fields = Fields(k.memory, "serio", serio)
    k.memory.write(fields.address_of("name"), name.encode()[:31] + b"\0")
    k.memory.write(fields.address_of("phys"), phys.encode()[:31] + b"\0")
    k.memory.write(fields.address_of("id"), bytes([type, extra, id, proto]))
    fields["write"] = k.export_address("serio_host_port_write") or 0
    host = HostPort(name, serio, on_write=on_write)
    core.hosts[name] = host
    register_port(k, serio, "kernel", host=name)
    return host


def send(k: Kernel, host: HostPort | str, data: bytes | list[int], flags: int = 0) -> list[int]:
    """Bytes arriving at a host port, one ``serio_interrupt`` each; what each returned."""
    port = _core(k).hosts[host if isinstance(host, str) else host.name]
    return [interrupt(k, port.serio, byte, flags) for byte in data]


# -- the i8042's keyboard port (drivers/input/serio/i8042.c is built in) -------------------------------
I8042_DATA, I8042_STATUS = 0x60, 0x64
I8042_STR_OBF, I8042_STR_IBF, I8042_CTR_XLATE = 0x01, 0x02, 0x40
I8042_KBD_PORT = "i8042 KBD port"


def attach_i8042(k: Kernel) -> HostPort:
    """Register the i8042's keyboard port as the built-in driver does (serio, ``isa0060/serio0``).

    The port's type is SERIO_8042_XL (the controller translates to set 1,
    Linux's default) and IRQ 1 is the driver's: each interrupt reads a byte
    from the controller model's data port and hands it to ``serio_interrupt``.
    A driver's ``serio_write`` goes to the model's data port. Idempotent.
    """
    core = _core(k)
    if I8042_KBD_PORT in core.hosts:
        return core.hosts[I8042_KBD_PORT]

    def write(byte: int) -> int:
        k.kernel.ports.write(I8042_DATA, 1, byte)
        return 0

    host = add_host_port(k, I8042_KBD_PORT, SERIO_8042_XL, phys="isa0060/serio0", on_write=write)

    busy = [False]

    def on_irq() -> None:  # looks the port up when called: a restored snapshot's is the one used
        # i8042_interrupt: one byte per interrupt, in order. Reading the data port makes the model
        # interrupt again for its next byte; from the host that would nest, so the first call drains.
        if busy[0]:
            return
        busy[0] = True
        try:
            while (state := k.subsystem(SerioCore).hosts.get(I8042_KBD_PORT)) is not None:
                status, _ = k.kernel.ports.read(I8042_STATUS, 1)
                if not status & I8042_STR_OBF:
                    break
                data, _ = k.kernel.ports.read(I8042_DATA, 1)
                k.note("i8042", data=data, status=status)
                interrupt(k, state.serio, data, 0)
        finally:
            busy[0] = False

    if k.kernel not in _I8042_HOOKED:  # the hook outlives snapshots; the port's state does not
        _I8042_HOOKED[k.kernel] = True
        k.add_irq_hook(1, on_irq)
    return host


_I8042_HOOKED: weakref.WeakKeyDictionary[object, bool] = weakref.WeakKeyDictionary()
