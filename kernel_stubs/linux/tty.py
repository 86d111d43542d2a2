"""The TTY core (drivers/tty/tty_io.c), Linux 6.1 i386: tty drivers, their devices, and tty_structs.

Debian builds the TTY layer in (CONFIG_TTY=y), so these are kernel
services. A driver allocates a ``struct tty_driver`` with
``__tty_alloc_driver(lines, owner, flags)`` (arrays ``ttys``, ``termios``,
``ports`` and ``cdevs`` per line, as Linux sizes them), fills in its name,
major, type and ``init_termios``, sets its ``ops`` (``struct
tty_operations``) and calls ``tty_register_driver``: the major/minor range
is reserved as ``alloc_chrdev_region``/``register_chrdev_region`` would
(dynamic majors from 254 down, conflicts refused with -EBUSY, see
``chrdev.py``), and unless the driver says ``TTY_DRIVER_DYNAMIC_DEV`` one
device per line is registered at once. ``tty_register_device(_attr)``
makes a device of the ``tty`` class named by ``tty_line_name`` (``name`` +
``index + name_base``; just ``name`` for ``TTY_DRIVER_UNNUMBERED_NODE``),
and that device is the node ``k.open("/dev/ttyUSB0")`` finds
(:class:`TtyCore` offers it, ``tty_files.py`` drives it). The driver's
last reference (``tty_driver_kref_put``) unregisters its devices and frees
it, as ``destruct_tty_driver`` does.

Opening a node makes (or reuses) the line's ``struct tty_struct`` as
``tty_init_dev`` does: refcounted, with the driver's ops, its name, its
port (the driver's ``install`` or ``tty_standard_install``, then
``driver->ports[index]``), termios from the driver's saved or initial
termios, and the N_TTY line discipline opened; ``release_tty`` undoes it
at the last close (``ops->shutdown``, termios saved unless
``TTY_DRIVER_RESET_TERMIOS``, ``ops->cleanup`` at the last reference).
``tty_hangup`` queues the hangup on ``system_wq`` (``tty_vhangup`` does it
at once): open files turn hung up (reads 0, writes -EIO), the ldisc is
flushed and dropped, and ``ops->hangup`` runs.

Layouts come from the generated table (``struct tty_driver`` 124 bytes,
``struct tty_struct`` 460, ``struct ktermios`` 44).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import DeviceNode, signed32
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import chrdev, driver_core, tty_termios, workqueue
from .device import builtin_class
from .layout import Fields, offset, size
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

# tty_driver.flags
TTY_DRIVER_INSTALLED, TTY_DRIVER_RESET_TERMIOS, TTY_DRIVER_REAL_RAW, TTY_DRIVER_DYNAMIC_DEV = 0x1, 0x2, 0x4, 0x8
TTY_DRIVER_DEVPTS_MEM, TTY_DRIVER_HARDWARE_BREAK, TTY_DRIVER_DYNAMIC_ALLOC = 0x10, 0x20, 0x40
TTY_DRIVER_UNNUMBERED_NODE = 0x80
TTY_DRIVER_TYPE_PTY, PTY_TYPE_MASTER = 4, 1
# tty_struct.flags bit numbers
TTY_THROTTLED, TTY_IO_ERROR, TTY_OTHER_CLOSED, TTY_EXCLUSIVE, TTY_DO_WRITE_WAKEUP = 0, 1, 2, 3, 5
TTY_LDISC_OPEN, TTY_NO_WRITE_SPLIT, TTY_HUPPED, TTY_HUPPING, TTY_LDISC_CHANGING = 11, 17, 18, 19, 20
TTY_NAME_LEN = 64
MINORBITS = 20
EIO, EAGAIN, ENOIOCTLCMD = 5, 11, 515

DRIVER_SIZE = size("tty_driver")
TTY_SIZE = size("tty_struct")
TTY_TERMIOS = offset("tty_struct", "termios")
DRIVER_INIT_TERMIOS = offset("tty_driver", "init_termios")
TTY_HANGUP_WORK = offset("tty_struct", "hangup_work")

# The file operations of every tty file (tty_fops) and of a hung-up one: tty_hung_up_p() compares
# file->f_op with the second. The VFS side runs in Python (tty_files.py), so the tables stay empty.
tty_fops = kernel_variable("tty_fops", size("file_operations"))
hung_up_tty_fops = kernel_variable("hung_up_tty_fops", size("file_operations"))


@dataclass(slots=True)
class TtyDevice:
    """A registered tty device: the node it makes."""

    driver: int
    index: int
    device: int
    name: str
    owner: str


@dataclass
class TtyCore:
    """Registered tty drivers (the ``tty_drivers`` list), their devices, and per-tty state."""

    drivers: dict[int, str] = field(default_factory=dict)  # tty_driver -> owner, in registration order
    devices: dict[int, TtyDevice] = field(default_factory=dict)  # dev_t -> device
    ldisc_refs: dict[int, int] = field(default_factory=dict)  # tty -> tty_ldisc_ref()s not yet put back

    def driver_of(self, k: Kernel, devt: int) -> tuple[int, int] | None:
        """get_tty_driver(): the registered driver whose range holds ``devt``, and the line."""
        for driver in self.drivers:
            d = Fields(k.memory, "tty_driver", driver)
            base = d["major"] << MINORBITS | d["minor_start"]
            if base <= devt < base + d["num"]:
                return driver, devt - base
        return None

    def device_node(self, k: Kernel, path: str) -> DeviceNode | None:
        """The node of a registered tty device (``/dev/<name>`` or ``/dev/char/M:m``), or None."""
        return self._nodes().get(path)

    def device_paths(self, k: Kernel) -> list[str]:
        """Every tty node."""
        return list(self._nodes())

    def _nodes(self) -> dict[str, DeviceNode]:
        from .tty_files import TTY_FILES

        nodes: dict[str, DeviceNode] = {}
        for devt, dev in self.devices.items():
            node = DeviceNode(f"/dev/{dev.name}", dev.owner, devt >> MINORBITS, "linux", extra={"dev": devt},
                              backend=TTY_FILES)
            nodes.setdefault(node.path, node)
            nodes.setdefault(f"/dev/char/{devt >> MINORBITS}:{devt & 0xFFFFF}", node)
        return nodes

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Files left open on the module's ttys (forgotten), then drivers and devices it left registered."""
        from .tty_files import TTY_FILES

        leaks = []
        for handle in sorted(k.device_nodes.open_files, key=lambda h: h.file):
            if handle.node.backend is TTY_FILES and handle.node.owner == module.name:
                leaks.append(f"file {handle.node.path} still open")
                TTY_FILES.forget(k, handle)
                handle.closed = True
                k.device_nodes.open_files.discard(handle)
        for driver, owner in list(self.drivers.items()):
            if owner == module.name:
                leaks.append(f"tty driver {guest_string(k, Fields(k.memory, 'tty_driver', driver)['name'], 64)!r} "
                             "still registered")
                tty_unregister_driver(k, driver)
        for devt, dev in list(self.devices.items()):
            if dev.owner == module.name:
                leaks.append(f"tty device {dev.name} still registered")
                _destroy_device(k, devt)
        return leaks


def core(k: Kernel) -> TtyCore:
    """The kernel's TTY core state."""
    return k.subsystem(TtyCore)


def test_bit(k: Kernel, address: int, bit: int) -> bool:
    """test_bit() on an unsigned long at ``address``."""
    return bool(k.memory.read_u32(address) >> bit & 1)


def set_bit(k: Kernel, address: int, bit: int, value: bool = True) -> None:
    """set_bit()/clear_bit() on an unsigned long at ``address``."""
    word = k.memory.read_u32(address)
    k.memory.write_u32(address, word | 1 << bit if value else word & ~(1 << bit) & 0xFFFFFFFF)


def tty_flag(k: Kernel, tty: int, bit: int) -> bool:
    """A bit of tty->flags."""
    return test_bit(k, tty + offset("tty_struct", "flags"), bit)


def set_tty_flag(k: Kernel, tty: int, bit: int, value: bool = True) -> None:
    """Set or clear a bit of tty->flags."""
    set_bit(k, tty + offset("tty_struct", "flags"), bit, value)


def tty_flag_byte(k: Kernel, tty: int, path: str) -> int:
    """A byte-wide member of the tty (``flow.stopped``...)."""
    return Fields(k.memory, "tty_struct", tty)[path]


def tty_op(k: Kernel, tty: int, name: str) -> int:
    """tty->ops->``name`` (0 if the tty has no ops or the driver no such function)."""
    ops = Fields(k.memory, "tty_struct", tty)["ops"]
    return Fields(k.memory, "tty_operations", ops)[name] if ops else 0


def call_op(k: Kernel, tty: int, name: str, *args: int, default: int = 0) -> int:
    """Call tty->ops->``name``(tty, args...) if the driver has it: its result as signed, else ``default``."""
    function = tty_op(k, tty, name)
    return signed32(k.call_function_pointer(function, tty, *args)) if function else default


def termios_of(k: Kernel, tty: int) -> tty_termios.Termios:
    """tty->termios."""
    return tty_termios.read_termios(k, tty + TTY_TERMIOS)


def name_of(k: Kernel, tty: int) -> str:
    """tty->name as text."""
    return k.memory.read_cstring(tty + offset("tty_struct", "name"), TTY_NAME_LEN).decode("utf-8", "replace")


def line_name(k: Kernel, driver: int, index: int) -> str:
    """tty_line_name(): ``name`` + ``index + name_base``, or ``name`` alone for an unnumbered node."""
    d = Fields(k.memory, "tty_driver", driver)
    name = guest_string(k, d["name"], 64)
    if d["flags"] & TTY_DRIVER_UNNUMBERED_NODE:
        return name
    return f"{name}{index + signed32(d['name_base'])}"


# -- drivers --------------------------------------------------------------------------
@service("struct tty_driver *__tty_alloc_driver(unsigned int lines, struct module *owner, unsigned long flags)")
def __tty_alloc_driver(k: Kernel, lines: int, owner: int, flags: int) -> int:
    """A driver for ``lines`` lines with one reference: ERR_PTR(-EINVAL) for no lines (or more than one
    unnumbered), ERR_PTR(-ENOMEM) without memory."""
    if not lines or (flags & TTY_DRIVER_UNNUMBERED_NODE and lines > 1):
        return err_ptr(EINVAL)
    if lines > 1 << MINORBITS:  # kcalloc of the per-line arrays would fail
        return err_ptr(ENOMEM)
    driver = allocate(k, DRIVER_SIZE, owner="kernel")
    if not driver:
        return err_ptr(ENOMEM)
    d = Fields(k.memory, "tty_driver", driver)
    d["kref"], d["num"], d["owner"], d["flags"] = 1, lines, owner, flags
    arrays = []
    if not flags & TTY_DRIVER_DEVPTS_MEM:
        arrays += ["ttys", "termios"]
    if not flags & TTY_DRIVER_DYNAMIC_ALLOC:
        arrays.append("ports")
    for name in [*arrays, "cdevs"]:
        count = 1 if name == "cdevs" and flags & TTY_DRIVER_DYNAMIC_ALLOC else lines
        d[name] = allocate(k, 4 * count, owner="kernel")
        if not d[name]:
            _free_driver(k, driver)
            return err_ptr(ENOMEM)
    list_head = d.address_of("tty_drivers")
    k.memory.write_u32(list_head, list_head)
    k.memory.write_u32(list_head + 4, list_head)
    return driver


def _free_driver(k: Kernel, driver: int) -> None:
    d = Fields(k.memory, "tty_driver", driver)
    for name in ("cdevs", "ports", "termios", "ttys"):
        if d[name]:
            release(k, d[name])
    release(k, driver)


def _destruct_driver(k: Kernel, driver: int) -> None:
    """destruct_tty_driver(): saved termios freed, devices unregistered, the arrays and the driver freed."""
    d = Fields(k.memory, "tty_driver", driver)
    if d["flags"] & TTY_DRIVER_INSTALLED:
        for index in range(d["num"]):
            if d["termios"]:
                saved = k.memory.read_u32(d["termios"] + 4 * index)
                if saved:
                    k.memory.write_u32(d["termios"] + 4 * index, 0)
                    release(k, saved)
            if not d["flags"] & TTY_DRIVER_DYNAMIC_DEV:
                tty_unregister_device(k, driver, index)
    _free_driver(k, driver)


def _kref_put(k: Kernel, struct: Fields) -> bool:
    """kref_put on the struct's ``kref``: whether that was the last reference. An underflow is
    refcount_t's warning and changes nothing, as Linux's saturating refcount."""
    count = signed32(struct["kref"])
    if count <= 0:
        k.console_write("refcount_t: underflow; use-after-free.\n", 4)
        return False
    struct["kref"] = count - 1
    return count == 1


@service("void tty_driver_kref_put(struct tty_driver *driver)")
def tty_driver_kref_put(k: Kernel, driver: int) -> None:
    """Drop a reference; the last one destroys the driver."""
    if _kref_put(k, Fields(k.memory, "tty_driver", driver)):
        _destruct_driver(k, driver)


def driver_kref_get(k: Kernel, driver: int) -> int:
    """tty_driver_kref_get()."""
    d = Fields(k.memory, "tty_driver", driver)
    d["kref"] = d["kref"] + 1
    return driver


@service("int tty_register_driver(struct tty_driver *driver)")
def tty_register_driver(k: Kernel, driver: int) -> int:
    """Reserve the driver's numbers, list it, and register a device per line unless TTY_DRIVER_DYNAMIC_DEV."""
    d = Fields(k.memory, "tty_driver", driver)
    name = guest_string(k, d["name"], 64)
    # alloc_chrdev_region for major 0 (the major found is written back), else register_chrdev_region.
    result = chrdev.reserve_region(k, d["major"], d["minor_start"], d["num"], name)
    if result < 0:
        return result
    d["major"] = result
    state = core(k)
    state.drivers[driver] = _owner(k)
    if not d["flags"] & TTY_DRIVER_DYNAMIC_DEV:
        for index in range(d["num"]):
            device = tty_register_device(k, driver, index, 0)
            if is_err(device):
                for done in range(index):
                    tty_unregister_device(k, driver, done)
                del state.drivers[driver]
                chrdev.unregister_chrdev_region(k, d["major"] << MINORBITS | d["minor_start"], d["num"])
                return signed32(device)
    d["flags"] = d["flags"] | TTY_DRIVER_INSTALLED
    return 0


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


@service("void tty_unregister_driver(struct tty_driver *driver)")
def tty_unregister_driver(k: Kernel, driver: int) -> None:
    """Give the numbers back and take the driver off the list (its devices go with its last reference)."""
    d = Fields(k.memory, "tty_driver", driver)
    chrdev.unregister_chrdev_region(k, d["major"] << MINORBITS | d["minor_start"], d["num"])
    core(k).drivers.pop(driver, None)


# -- devices --------------------------------------------------------------------------
@service("struct device *tty_register_device_attr(struct tty_driver *driver, unsigned int index, struct device *device, "
         "void *drvdata, const struct attribute_group **attr_grp)")
def tty_register_device_attr(k: Kernel, driver: int, index: int, device: int, drvdata: int, attr_grp: int) -> int:
    """A ``tty`` class device for line ``index`` under ``device``: the node /dev/<line name>."""
    d = Fields(k.memory, "tty_driver", driver)
    if index >= d["num"]:
        k.console_write(f"{guest_string(k, d['name'], 64)}: Attempt to register invalid tty line number "
                        f"({signed32(index)})\n", 3)
        return err_ptr(EINVAL)
    devt = (d["major"] << MINORBITS | d["minor_start"]) + index
    state = core(k)
    if devt in state.devices:
        return err_ptr(17)  # -EEXIST: device_add of a name already in the class
    name = line_name(k, driver, index)
    cls = builtin_class(k, "tty")
    dev = driver_core.create_device(k, cls, device, devt, drvdata, attr_grp, name.encode()) if cls else err_ptr(ENOMEM)
    if is_err(dev):
        return dev
    if not d["flags"] & TTY_DRIVER_DYNAMIC_ALLOC and d["termios"]:
        # A reused minor starts from init_termios again.
        saved = k.memory.read_u32(d["termios"] + 4 * index)
        if saved:
            k.memory.write_u32(d["termios"] + 4 * index, 0)
            release(k, saved)
    state.devices[devt] = TtyDevice(driver, index, dev, name, _owner(k))
    return dev


@service("struct device *tty_register_device(struct tty_driver *driver, unsigned int index, struct device *device)")
def tty_register_device(k: Kernel, driver: int, index: int, device: int) -> int:
    """tty_register_device_attr without driver data or attributes."""
    return tty_register_device_attr(k, driver, index, device, 0, 0)


def _destroy_device(k: Kernel, devt: int) -> None:
    dev = core(k).devices.pop(devt, None)
    if dev is not None:
        driver_core.delete_device(k, dev.device)
        driver_core.put(k, dev.device)


@service("void tty_unregister_device(struct tty_driver *driver, unsigned int index)")
def tty_unregister_device(k: Kernel, driver: int, index: int) -> None:
    """Remove line ``index``'s device (and node)."""
    d = Fields(k.memory, "tty_driver", driver)
    _destroy_device(k, (d["major"] << MINORBITS | d["minor_start"]) + index)


# -- tty_structs ----------------------------------------------------------------------
def alloc_tty(k: Kernel, driver: int, index: int) -> int:
    """alloc_tty_struct(): one reference, the driver's ops, locks and queues initialised, N_TTY attached."""
    from . import locking, waits
    from .tty_ldisc import attach_initial_ldisc

    tty = allocate(k, TTY_SIZE, owner="kernel")
    if not tty:
        return 0
    t = Fields(k.memory, "tty_struct", tty)
    t["kref"], t["driver"], t["ops"], t["index"] = 1, driver, Fields(k.memory, "tty_driver", driver)["ops"], index
    for mutex in ("legacy_mutex", "throttle_mutex", "winsize_mutex", "atomic_write_lock"):
        locking.__mutex_init(k, t.address_of(mutex), 0, 0)
    locking.__init_rwsem(k, t.address_of("termios_rwsem"), 0, 0)
    for queue in ("write_wait", "read_wait"):
        waits.__init_waitqueue_head(k, t.address_of(queue), 0, 0)
    files = t.address_of("tty_files")
    k.memory.write_u32(files, files)
    k.memory.write_u32(files + 4, files)
    work = t.address_of("hangup_work")
    entry = work + offset("work_struct", "entry")
    k.memory.write_u32(entry, entry)
    k.memory.write_u32(entry + 4, entry)
    k.memory.write_u32(work + offset("work_struct", "func"), k.export_address("__sandbox_do_tty_hangup") or 0)
    k.memory.write(t.address_of("name"), line_name(k, driver, index).encode()[:TTY_NAME_LEN - 1] + b"\0")
    devt = (Fields(k.memory, "tty_driver", driver)["major"] << MINORBITS
            | Fields(k.memory, "tty_driver", driver)["minor_start"]) + index
    dev = core(k).devices.get(devt)
    t["dev"] = driver_core.get(k, dev.device) if dev is not None else 0
    if not attach_initial_ldisc(k, tty):
        driver_core.put(k, t["dev"])
        release(k, tty)
        return 0
    return tty


def init_termios(k: Kernel, tty: int) -> None:
    """tty_init_termios(): the line's saved termios (keeping the driver's c_line), else init_termios."""
    t = Fields(k.memory, "tty_struct", tty)
    d = Fields(k.memory, "tty_driver", t["driver"])
    initial = tty_termios.read_termios(k, d.address + DRIVER_INIT_TERMIOS)
    saved = k.memory.read_u32(d["termios"] + 4 * t["index"]) if d["termios"] else 0
    if saved:
        from dataclasses import replace

        termios = replace(tty_termios.read_termios(k, saved), c_line=initial.c_line)
    else:
        termios = initial
    tty_termios.write_termios(k, tty + TTY_TERMIOS, termios.with_speeds())


@service("int tty_standard_install(struct tty_driver *driver, struct tty_struct *tty)")
def tty_standard_install(k: Kernel, driver: int, tty: int) -> int:
    """Termios set up, a driver reference taken, the tty counted and put in ``driver->ttys``."""
    init_termios(k, tty)
    driver_kref_get(k, driver)
    t = Fields(k.memory, "tty_struct", tty)
    t["count"] = t["count"] + 1
    ttys = Fields(k.memory, "tty_driver", driver)["ttys"]
    if ttys:
        k.memory.write_u32(ttys + 4 * t["index"], tty)
    return 0


@service("int tty_init_termios(struct tty_struct *tty)")
def tty_init_termios(k: Kernel, tty: int) -> int:
    """Load the tty's termios (for a driver's own install): 0."""
    init_termios(k, tty)
    return 0


def init_dev(k: Kernel, driver: int, index: int) -> int:
    """tty_init_dev(): a new tty for line ``index``, installed, with its port and ldisc open; or -errno."""
    from .tty_ldisc import open_ldisc, release_ldisc

    tty = alloc_tty(k, driver, index)
    if not tty:
        return -ENOMEM
    install = Fields(k.memory, "tty_operations", Fields(k.memory, "tty_driver", driver)["ops"])["install"]
    result = signed32(k.call_function_pointer(install, driver, tty)) if install else tty_standard_install(k, driver, tty)
    if result < 0:
        release_ldisc(k, tty)
        _free_tty(k, tty)
        return result
    t = Fields(k.memory, "tty_struct", tty)
    ports = Fields(k.memory, "tty_driver", driver)["ports"]
    if not t["port"] and ports:
        t["port"] = k.memory.read_u32(ports + 4 * index)
    if not t["port"]:
        k.console_write(f"tty_init_dev: {guest_string(k, Fields(k.memory, 'tty_driver', driver)['driver_name'], 64)} "
                        "driver does not set tty->port. This would crash the kernel. Fix the driver!\n", 4)
        release_tty(k, tty, index)
        return -EINVAL
    Fields(k.memory, "tty_port", t["port"])["itty"] = tty
    result = open_ldisc(k, tty)
    if result < 0:
        release_tty(k, tty, index)
        return result
    return tty


def _free_tty(k: Kernel, tty: int) -> None:
    """free_tty_struct(): the device reference, the write buffer and the tty itself."""
    t = Fields(k.memory, "tty_struct", tty)
    if t["dev"]:
        driver_core.put(k, t["dev"])
    if t["write_buf"]:
        release(k, t["write_buf"])
    core(k).ldisc_refs.pop(tty, None)
    release(k, tty)


def _save_termios(k: Kernel, tty: int) -> None:
    """tty_save_termios(): keep the line's settings for its next open unless the driver resets them."""
    t = Fields(k.memory, "tty_struct", tty)
    d = Fields(k.memory, "tty_driver", t["driver"])
    if d["flags"] & TTY_DRIVER_RESET_TERMIOS or not d["termios"]:
        return
    slot = d["termios"] + 4 * t["index"]
    saved = k.memory.read_u32(slot)
    if not saved:
        saved = allocate(k, tty_termios.KTERMIOS_SIZE, owner="kernel")
        if not saved:
            return
        k.memory.write_u32(slot, saved)
    k.memory.write(saved, k.memory.read(tty + TTY_TERMIOS, tty_termios.KTERMIOS_SIZE))


def release_tty(k: Kernel, tty: int, index: int) -> None:
    """release_tty(): the driver's shutdown, termios saved, the tty out of the driver and its port, one reference dropped."""
    from .tty_ldisc import release_ldisc

    release_ldisc(k, tty)
    t = Fields(k.memory, "tty_struct", tty)
    call_op(k, tty, "shutdown")
    _save_termios(k, tty)
    remove = tty_op(k, tty, "remove")
    driver = t["driver"]
    if remove:
        k.call_function_pointer(remove, driver, tty)
    else:
        ttys = Fields(k.memory, "tty_driver", driver)["ttys"]
        if ttys:
            k.memory.write_u32(ttys + 4 * index, 0)
    if t["port"]:
        Fields(k.memory, "tty_port", t["port"])["itty"] = 0
    tty_kref_put(k, tty)


def _release_one(k: Kernel, tty: int) -> None:
    """release_one_tty(): the driver's cleanup, the driver reference dropped, the tty freed."""
    t = Fields(k.memory, "tty_struct", tty)
    call_op(k, tty, "cleanup")
    driver = t["driver"]
    _free_tty(k, tty)
    if driver:
        tty_driver_kref_put(k, driver)


@service("void tty_kref_put(struct tty_struct *tty)")
def tty_kref_put(k: Kernel, tty: int) -> None:
    """Drop a tty reference (NULL allowed); the last one releases it."""
    if not tty:
        return
    if _kref_put(k, Fields(k.memory, "tty_struct", tty)):
        _release_one(k, tty)


def kref_get(k: Kernel, tty: int) -> int:
    """tty_kref_get() (NULL stays NULL)."""
    if tty:
        t = Fields(k.memory, "tty_struct", tty)
        t["kref"] = t["kref"] + 1
    return tty


# -- hangup and wakeup ----------------------------------------------------------------
def tty_files(k: Kernel, tty: int) -> list[int]:
    """The struct files open on ``tty`` (its tty_files list of tty_file_private)."""
    head = tty + offset("tty_struct", "tty_files")
    files, node = [], k.memory.read_u32(head)
    link = offset("tty_file_private", "list")
    for _ in range(1 << 16):
        if node == head or not node:
            break
        files.append(k.memory.read_u32(node - link + offset("tty_file_private", "file")))
        node = k.memory.read_u32(node)
    return files


def hangup_now(k: Kernel, tty: int) -> None:
    """__tty_hangup(): files hung up, ldisc flushed, hung up and dropped, the driver's hangup, TTY_HUPPED."""
    from . import vfs
    from .tty_ldisc import hangup_ldisc

    if not tty or tty_flag(k, tty, TTY_HUPPED):
        return
    set_tty_flag(k, tty, TTY_HUPPING)
    hung_up = k.export_address("hung_up_tty_fops") or 0
    for file in tty_files(k, tty):
        k.memory.write_u32(file + vfs.F_OP, hung_up)
    hangup_ldisc(k, tty)
    set_tty_flag(k, tty, TTY_THROTTLED, False)
    set_tty_flag(k, tty, TTY_DO_WRITE_WAKEUP, False)
    call_op(k, tty, "hangup")
    set_tty_flag(k, tty, TTY_HUPPED)
    set_tty_flag(k, tty, TTY_HUPPING, False)


@service("void __sandbox_do_tty_hangup(struct work_struct *work)")
def __sandbox_do_tty_hangup(k: Kernel, work: int) -> None:
    """The work function of tty->hangup_work (do_tty_hangup is static in Linux)."""
    hangup_now(k, work - TTY_HANGUP_WORK)


@service("void tty_hangup(struct tty_struct *tty)")
def tty_hangup(k: Kernel, tty: int) -> None:
    """Hang the tty up soon (from any context): queued on system_wq."""
    queue = k.memory.read_u32(k.export_address("system_wq") or 0)
    workqueue.queue_work_on(k, 0, queue, tty + TTY_HANGUP_WORK)


@service("void tty_vhangup(struct tty_struct *tty)")
def tty_vhangup(k: Kernel, tty: int) -> None:
    """Hang the tty up now."""
    hangup_now(k, tty)


@service("int tty_hung_up_p(struct file *filp)")
def tty_hung_up_p(k: Kernel, filp: int) -> int:
    """1 if ``filp`` was hung up."""
    from . import vfs

    return int(bool(filp) and k.memory.read_u32(filp + vfs.F_OP) == (k.export_address("hung_up_tty_fops") or 0))


@service("void tty_wakeup(struct tty_struct *tty)")
def tty_wakeup(k: Kernel, tty: int) -> None:
    """The driver can take more output: the ldisc's write_wakeup (if it asked), then writers woken."""
    from . import waits
    from .tty_ldisc import ldisc_op

    if tty_flag(k, tty, TTY_DO_WRITE_WAKEUP):
        function = ldisc_op(k, tty, "write_wakeup")
        if function:
            k.call_function_pointer(function, tty)
    waits.wake_up_common(k, tty + offset("tty_struct", "write_wait"), 1, 1, 0, 0x4)  # EPOLLOUT


def stop(k: Kernel, tty: int) -> None:
    """__stop_tty(): output stopped once (the driver's stop)."""
    t = Fields(k.memory, "tty_struct", tty)
    if t["flow.stopped"]:
        return
    t["flow.stopped"] = 1
    call_op(k, tty, "stop")


def start(k: Kernel, tty: int) -> None:
    """__start_tty(): output restarted unless stopped by TCXONC too (the driver's start, writers woken)."""
    t = Fields(k.memory, "tty_struct", tty)
    if not t["flow.stopped"] or t["flow.tco_stopped"]:
        return
    t["flow.stopped"] = 0
    call_op(k, tty, "start")
    tty_wakeup(k, tty)


@service("void stop_tty(struct tty_struct *tty)")
def stop_tty(k: Kernel, tty: int) -> None:
    """Stop the tty's output (^S)."""
    stop(k, tty)


@service("void start_tty(struct tty_struct *tty)")
def start_tty(k: Kernel, tty: int) -> None:
    """Restart the tty's output (^Q)."""
    start(k, tty)


@service("int tty_put_char(struct tty_struct *tty, unsigned char ch)")
def tty_put_char(k: Kernel, tty: int, ch: int) -> int:
    """One byte to the driver: its put_char, else a one-byte write."""
    if tty_op(k, tty, "put_char"):
        return call_op(k, tty, "put_char", ch & 0xFF)
    buffer = allocate(k, 1, owner="kernel")
    try:
        k.memory.write(buffer, bytes([ch & 0xFF]))
        return call_op(k, tty, "write", buffer, 1)
    finally:
        release(k, buffer)


@service("void tty_lock(struct tty_struct *tty)")
def tty_lock(k: Kernel, tty: int) -> None:
    """Take the tty's legacy mutex (with a reference)."""
    from . import locking

    kref_get(k, tty)
    locking.mutex_lock(k, tty + offset("tty_struct", "legacy_mutex"))


@service("void tty_unlock(struct tty_struct *tty)")
def tty_unlock(k: Kernel, tty: int) -> None:
    """Release the legacy mutex and the reference tty_lock took."""
    from . import locking

    locking.mutex_unlock(k, tty + offset("tty_struct", "legacy_mutex"))
    tty_kref_put(k, tty)


@service("void tty_encode_baud_rate(struct tty_struct *tty, speed_t ibaud, speed_t obaud)")
def tty_encode_baud_rate(k: Kernel, tty: int, ibaud: int, obaud: int) -> None:
    """tty_termios_encode_baud_rate on the tty's termios."""
    tty_termios.tty_termios_encode_baud_rate(k, tty + TTY_TERMIOS, ibaud, obaud)


@service("unsigned int tty_chars_in_buffer(struct tty_struct *tty)")
def tty_chars_in_buffer(k: Kernel, tty: int) -> int:
    """Bytes the driver still holds to send (0 without chars_in_buffer)."""
    return call_op(k, tty, "chars_in_buffer") & 0xFFFFFFFF


@service("unsigned int tty_write_room(struct tty_struct *tty)")
def tty_write_room(k: Kernel, tty: int) -> int:
    """Bytes the driver would take now (2048 without write_room)."""
    return call_op(k, tty, "write_room", default=2048) & 0xFFFFFFFF


@service("void tty_driver_flush_buffer(struct tty_struct *tty)")
def tty_driver_flush_buffer(k: Kernel, tty: int) -> None:
    """Discard the driver's pending output."""
    call_op(k, tty, "flush_buffer")


@service("void tty_unthrottle(struct tty_struct *tty)")
def tty_unthrottle(k: Kernel, tty: int) -> None:
    """Let input flow again (the driver's unthrottle if it was throttled)."""
    if tty_flag(k, tty, TTY_THROTTLED):
        set_tty_flag(k, tty, TTY_THROTTLED, False)
        call_op(k, tty, "unthrottle")


@service("bool tty_throttle_safe(struct tty_struct *tty)")
def tty_throttle_safe(k: Kernel, tty: int) -> int:
    """Ask the driver to hold input back (once): false if it was already throttled."""
    if tty_flag(k, tty, TTY_THROTTLED):
        return 0
    set_tty_flag(k, tty, TTY_THROTTLED)
    call_op(k, tty, "throttle")
    return 1


@service("bool tty_unthrottle_safe(struct tty_struct *tty)")
def tty_unthrottle_safe(k: Kernel, tty: int) -> int:
    """Let input flow again: false if it was not throttled."""
    if not tty_flag(k, tty, TTY_THROTTLED):
        return 0
    tty_unthrottle(k, tty)
    return 1


@service("const char *tty_name(const struct tty_struct *tty)")
def tty_name(k: Kernel, tty: int) -> int:
    """tty->name ("NULL tty" for NULL)."""
    if not tty:
        text = k.export_address("__sandbox_null_tty_name") or 0
        return text
    return tty + offset("tty_struct", "name")


null_tty_name = kernel_variable("__sandbox_null_tty_name", 9, b"NULL tty\0")
