"""sysfs and kobjects (fs/sysfs, lib/kobject.c, drivers/base attribute helpers), Linux 6.1 i386.

The tree is kept in Python, by path, with Linux's layout:
``/sys/devices/...`` for every device the driver core adds (its place as
``get_device_parent`` gives it: ``/sys/devices/platform/<name>``,
``/sys/devices/virtual/<class>/<name>``, a child under its parent),
``/sys/bus/<bus>/{devices,drivers}`` with symbolic links to the devices
and drivers, ``/sys/class/<class>/<name>`` links, the device's ``driver``
and ``subsystem`` links, and the directories of kobjects modules make
(``kobject_create_and_add``, ``kobject_init_and_add``) under their parent
kobject (``kernel_kobj`` is ``/sys/kernel``, ...).

Attribute files call the guest's callbacks as Linux's sysfs_ops do, with a
zeroed page (PAGE_SIZE, page aligned) as the buffer: a device attribute's
``show(dev, attr, buf)`` / ``store(dev, attr, buf, count)``, a
``kobj_attribute``'s ``show(kobj, attr, buf)``, a kobject type's own
``sysfs_ops``, driver, bus and class attributes. Groups
(``sysfs_create_group(s)``, a device's ``groups``, its type's groups, the
class's ``dev_groups``, the bus's ``dev_groups``, the bound driver's
``dev_groups``) honour ``is_visible`` and named subdirectories. From
Python: ``kernel.sysfs.ls(path)``, ``kernel.sysfs.read(path)``,
``kernel.sysfs.write(path, "1\\n")``; an error is a :class:`SysfsError`
carrying the errno the guest returned (or -EIO for a missing callback,
-ENOENT for no such file), as a read(2) or write(2) would.
"""

from __future__ import annotations

import errno as errnos
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from .layout import Fields, offset, size
from .layouts import LAYOUTS
from .registrations import EEXIST, EINVAL, EIO, ENOENT, ENOMEM, guest_string, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

PAGE_SIZE = 4096
KOBJECT_SIZE = size("kobject")
ATTR_SIZE = size("attribute")
KOBJ_STATE = LAYOUTS["kobject"]["fields"]["state_initialized"][0]  # the state bit-fields' storage unit
# The kobjects Linux makes at boot that modules hang their own under (exported pointers to them).
TOP_KOBJECTS = {"kernel_kobj": "/sys/kernel", "mm_kobj": "/sys/kernel/mm", "power_kobj": "/sys/power",
                "firmware_kobj": "/sys/firmware", "fs_kobj": "/sys/fs", "hypervisor_kobj": "/sys/hypervisor"}
TOP_DIRECTORIES = ("/sys", "/sys/devices", "/sys/bus", "/sys/class", "/sys/module", "/sys/devices/virtual",
                   *TOP_KOBJECTS.values())


class SysfsError(OSError):
    """A sysfs read or write failed: ``errno`` is what the kernel returned (positive)."""


@dataclass(slots=True)
class Attribute:
    """One attribute file: whose it is, the guest's struct attribute, how its callbacks are called."""

    kind: str  # "device", "kobj", "ktype", "driver", "bus", "class", "bin", "dev_t"
    target: int  # the struct the callbacks receive first (device, kobject, driver, bus, class)
    attr: int  # struct attribute * (the start of device_attribute, kobj_attribute, ...)
    mode: int
    owner: str
    group: int = 0  # the attribute_group that made it
    ops: int = 0  # a kobject type's struct sysfs_ops


@dataclass(slots=True)
class KObject:
    """A kobject a module made (not a device: those are the driver core's)."""

    kobj: int
    path: str
    owner: str
    allocated: bool  # kobject_create: the struct is the kernel's
    name_block: int = 0
    added: bool = False
    block: int = 0  # what an allocated kobject's release frees when the kobject is inside it (a kset), else 0


@dataclass
class SysfsTree:
    """The sysfs of one kernel: directories (path -> kobject or 0), files, links, module kobjects."""

    dirs: dict[str, int] = field(default_factory=dict)
    files: dict[str, Attribute] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    kobjects: dict[int, KObject] = field(default_factory=dict)
    device_dirs: dict[int, str] = field(default_factory=dict)  # struct device -> its directory
    notified: dict[str, int] = field(default_factory=dict)  # path -> sysfs_notify count
    mount_points: dict[str, str] = field(default_factory=dict)  # permanently empty directory -> owner module

    def boot(self, k: Kernel) -> None:
        """The directories every kernel has."""
        for path in TOP_DIRECTORIES:
            self.dirs.setdefault(path, 0)

    # -- the tree ---------------------------------------------------------------------------------
    def mkdir(self, path: str, kobj: int = 0) -> None:
        """Make a directory and any missing parents."""
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            self.dirs.setdefault("/" + "/".join(parts[:i]), 0)
        self.dirs[path] = kobj

    def exists(self, path: str) -> bool:
        return path in self.dirs or path in self.files or path in self.links

    def remove_tree(self, path: str) -> None:
        """Remove a directory, everything under it, and every link pointing into it."""
        prefix = path + "/"
        for table in (self.dirs, self.files, self.links):
            for name in [p for p in table if p == path or p.startswith(prefix)]:
                del table[name]
        for name in [p for p, target in self.links.items() if target == path or target.startswith(prefix)]:
            del self.links[name]

    def resolve(self, path: str) -> str:
        """Follow symbolic links component by component (at most 40, as Linux)."""
        path = posixpath.normpath("/" + path.lstrip("/"))
        for _ in range(40):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/" + "/".join(parts[:i])
                target = self.links.get(prefix)
                if target is not None:
                    path = posixpath.normpath(target + "/" + "/".join(parts[i:])) if parts[i:] else target
                    break
            else:
                return path
        raise SysfsError(errnos.ELOOP, f"too many levels of symbolic links: {path}")

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Kobjects and files a module left behind: reported and removed (their code is going)."""
        leaks = []
        for record in [r for r in self.kobjects.values() if r.owner == module.name]:
            if record.added:
                leaks.append(f"kobject {record.path} still in sysfs")
                self.remove_tree(record.path)
            del self.kobjects[record.kobj]
            if record.name_block:
                release(k, record.name_block)
            if record.allocated:
                release(k, record.kobj)
        for path in [p for p, a in self.files.items() if a.owner == module.name]:
            if path in self.files:  # not removed with its directory
                leaks.append(f"sysfs file {path} still present")
                del self.files[path]
        for path in [p for p, owner in self.mount_points.items() if owner == module.name]:
            leaks.append(f"sysfs mount point {path} still present")
            self.remove_tree(path)
            del self.mount_points[path]
        return leaks


def tree(k: Kernel) -> SysfsTree:
    """The kernel's sysfs."""
    return k.subsystem(SysfsTree)


# -- where kobjects live ----------------------------------------------------------------------------

def kobject_path(k: Kernel, kobj: int) -> str | None:
    """The directory of a kobject: a device's, a module kobject's, one of Linux's top kobjects; None if unknown."""
    if not kobj:
        return "/sys"
    state = tree(k)
    if kobj in state.device_dirs:
        return state.device_dirs[kobj]
    record = state.kobjects.get(kobj)
    if record is not None:
        return record.path if record.added else None
    for name, path in TOP_KOBJECTS.items():
        if k.export_address(f"__sysfs_{name}") == kobj:
            return path
    return None


def _attr_name(k: Kernel, attr: int) -> str:
    return guest_string(k, Fields(k.memory, "attribute", attr)["name"], 128)


def _mode(k: Kernel, attr: int) -> int:
    return Fields(k.memory, "attribute", attr)["mode"]


def add_file(k: Kernel, directory: str, entry: Attribute) -> int:
    """sysfs_add_file_mode_ns: -EEXIST (with Linux's message) for a name in use."""
    state = tree(k)
    name = _attr_name(k, entry.attr)
    if not name:
        return -EINVAL
    path = directory + "/" + name
    if state.exists(path):
        k.console_write(f"sysfs: cannot create duplicate filename '{path[4:]}'\n", 3)
        return -EEXIST
    if directory in state.mount_points:
        return -ENOENT  # kernfs_add_one: nothing is added under a KERNFS_EMPTY_DIR
    state.files[path] = entry
    return 0


def _kind_for(k: Kernel, kobj: int) -> tuple[str, int]:
    """Which sysfs_ops a kobject's attributes go through: the device's, a ktype's own, or kobj_sysfs_ops."""
    if kobj in tree(k).device_dirs:
        return "device", 0
    ktype = Fields(k.memory, "kobject", kobj)["ktype"] if kobj else 0
    ops = Fields(k.memory, "kobj_type", ktype)["sysfs_ops"] if ktype and ktype != _dynamic_ktype(k) else 0
    return ("ktype", ops) if ops else ("kobj", 0)


def _dynamic_ktype(k: Kernel) -> int:
    return k.export_address("__sysfs_dynamic_kobj_ktype") or 0


def create_file(k: Kernel, kobj: int, attr: int, kind: str | None = None, target: int | None = None,
                group: int = 0, mode: int | None = None, directory: str | None = None) -> int:
    """One attribute file on a kobject (the ops chosen by the kobject, unless ``kind`` says)."""
    if not attr:
        return -EINVAL
    where = directory if directory is not None else kobject_path(k, kobj)
    if where is None:  # WARN_ON(!kobj->sd): not in sysfs
        k.warn(f"sysfs file {_attr_name(k, attr)!r} on kobject {kobj:#x}, which is not in sysfs")
        return -EINVAL
    chosen, ops = (kind, 0) if kind is not None else _kind_for(k, kobj)
    entry = Attribute(chosen, kobj if target is None else target, attr, _mode(k, attr) if mode is None else mode,
                      owner_name(k), group, ops)
    return add_file(k, where, entry)


def remove_file(k: Kernel, kobj: int, attr: int, directory: str | None = None) -> None:
    """sysfs_remove_file: quietly nothing if it is not there."""
    where = directory if directory is not None else kobject_path(k, kobj)
    if where is not None and attr:
        tree(k).files.pop(where + "/" + _attr_name(k, attr), None)


# -- groups ---------------------------------------------------------------------------------------------

def pointers(k: Kernel, array: int, limit: int = 4096) -> list[int]:
    """A NULL-terminated array of pointers (at most ``limit``)."""
    found = []
    for index in range(limit if array else 0):
        item = k.memory.read_u32(array + 4 * index)
        if not item:
            break
        found.append(item)
    return found


def _group_attrs(k: Kernel, array: int) -> list[int]:
    return pointers(k, array)


def create_group(k: Kernel, kobj: int, group: int, kind: str | None = None, target: int | None = None,
                 directory: str | None = None) -> int:
    """internal_create_group: the named subdirectory, each visible attribute (is_visible or its mode)."""
    if not group:
        return -EINVAL
    where = directory if directory is not None else kobject_path(k, kobj)
    if where is None:
        return -EINVAL
    fields = Fields(k.memory, "attribute_group", group)
    state = tree(k)
    made_dir = False
    if fields["name"]:
        where = where + "/" + guest_string(k, fields["name"], 128)
        if where in state.dirs:
            k.console_write(f"sysfs: cannot create duplicate filename '{where[4:]}'\n", 3)
            return -EEXIST
        state.mkdir(where)
        made_dir = True
    created: list[str] = []
    for kind_name, array, visible in (("attr", fields["attrs"], fields["is_visible"]),
                                      ("bin", fields["bin_attrs"], fields["is_bin_visible"])):
        for index, attr in enumerate(_group_attrs(k, array)):
            mode = _mode(k, attr)
            if visible:
                mode = k.call_function_pointer(visible, kobj, attr, index) & 0xFFFF
                if not mode:
                    continue
            result = create_file(k, kobj, attr, "bin" if kind_name == "bin" else kind, target, group, mode, where)
            if result:
                for path in created:
                    state.files.pop(path, None)
                if made_dir:
                    state.dirs.pop(where, None)
                return result
            created.append(where + "/" + _attr_name(k, attr))
    return 0


def remove_group(k: Kernel, kobj: int, group: int, directory: str | None = None) -> None:
    """sysfs_remove_group: its files (and named directory) go."""
    if not group:
        return
    where = directory if directory is not None else kobject_path(k, kobj)
    if where is None:
        return
    state = tree(k)
    fields = Fields(k.memory, "attribute_group", group)
    if fields["name"]:
        sub = where + "/" + guest_string(k, fields["name"], 128)
        if sub not in state.dirs:
            k.warn(f"sysfs group '{sub.rsplit('/', 1)[1]}' not found for kobject '{where.rsplit('/', 1)[1]}'")
            return
        state.remove_tree(sub)
        return
    for path in [p for p, a in state.files.items() if a.group == group and p.rsplit("/", 1)[0] == where]:
        del state.files[path]


def create_groups(k: Kernel, kobj: int, groups: int, kind: str | None = None, target: int | None = None,
                  directory: str | None = None) -> int:
    """sysfs_create_groups: each group of a NULL-terminated array; all or nothing."""
    made = []
    for group in _group_attrs(k, groups):
        result = create_group(k, kobj, group, kind, target, directory)
        if result:
            for earlier in reversed(made):
                remove_group(k, kobj, earlier, directory)
            return result
        made.append(group)
    return 0


def remove_groups(k: Kernel, kobj: int, groups: int, directory: str | None = None) -> None:
    """sysfs_remove_groups."""
    for group in _group_attrs(k, groups):
        remove_group(k, kobj, group, directory)


# -- the driver core's hooks ------------------------------------------------------------------------------

def kernel_device_groups(k: Kernel, attributes: list[tuple[str, int]] | tuple[tuple[str, int], ...],
                         service_prefix: str) -> int:
    """A NULL-ended ``const struct attribute_group *[]`` in kernel memory with one group of device
    attributes (name, mode), as a built-in class's ``dev_groups``: each attribute's ``show`` (and
    ``store`` if writable) is the kernel service ``<service_prefix><name>_show`` (``_store``)."""
    attrs = allocate(k, 4 * (len(attributes) + 1), owner="kernel")
    for i, (name, mode) in enumerate(attributes):
        text = allocate(k, len(name) + 1, owner="kernel")
        k.memory.write(text, name.encode() + b"\0")
        attr = allocate(k, size("device_attribute"), owner="kernel")
        fields = Fields(k.memory, "device_attribute", attr)
        fields["attr.name"], fields["attr.mode"] = text, mode
        fields["show"] = k.export_address(f"{service_prefix}{name}_show") or 0
        if mode & 0o200:
            fields["store"] = k.export_address(f"{service_prefix}{name}_store") or 0
        k.memory.write_u32(attrs + 4 * i, attr)
    group = allocate(k, size("attribute_group"), owner="kernel")
    Fields(k.memory, "attribute_group", group)["attrs"] = attrs
    groups = allocate(k, 8, owner="kernel")
    k.memory.write_u32(groups, group)
    return groups


def _name_of(k: Kernel, struct: int) -> str:
    return guest_string(k, k.memory.read_u32(struct), 64) if struct else ""


def device_added(k: Kernel, dev: int) -> int:
    """device_add's sysfs part: the directory, ``dev``, the class/type/device/bus groups, the links."""
    from . import driver_core

    state = tree(k)
    path = "/sys" + driver_core.devpath(k, dev)
    if state.exists(path):
        k.console_write(f"sysfs: cannot create duplicate filename '{path[4:]}'\n", 3)
        return -EEXIST
    state.mkdir(path, dev)
    state.device_dirs[dev] = path
    fields = Fields(k.memory, "device", dev)
    name = path.rsplit("/", 1)[1]
    if fields["devt"] >> driver_core.MINORBITS:
        state.files[path + "/dev"] = Attribute("dev_t", dev, 0, 0o444, "kernel")
    cls, dev_type, bus = fields["class"], fields["type"], fields["bus"]
    group_lists = [Fields(k.memory, "class", cls)["dev_groups"] if cls else 0,
                   Fields(k.memory, "device_type", dev_type)["groups"] if dev_type else 0,
                   fields["groups"],
                   Fields(k.memory, "bus_type", bus)["dev_groups"] if bus else 0]
    for groups in group_lists:
        result = create_groups(k, dev, groups, "device", dev, path) if groups else 0
        if result:
            state.remove_tree(path)
            state.device_dirs.pop(dev, None)
            return result
    if bus:
        bus_dir = "/sys/bus/" + _name_of(k, bus)
        state.mkdir(bus_dir + "/devices")
        state.links[bus_dir + "/devices/" + name] = path
        state.links[path + "/subsystem"] = bus_dir
    elif cls:
        class_dir = "/sys/class/" + _name_of(k, cls)
        state.mkdir(class_dir)
        state.links[class_dir + "/" + name] = path
        state.links[path + "/subsystem"] = class_dir
    return 0


def device_removed(k: Kernel, dev: int) -> None:
    """device_del's sysfs part: the directory, its files, and the links to it."""
    state = tree(k)
    path = state.device_dirs.pop(dev, None)
    if path is not None:
        state.remove_tree(path)


def driver_bound(k: Kernel, dev: int, drv: int) -> int:
    """really_probe succeeded: the ``driver`` links, then the driver's ``dev_groups``."""
    state = tree(k)
    path = state.device_dirs.get(dev)
    if path is None:
        return 0
    bus = Fields(k.memory, "device_driver", drv)["bus"]
    driver_dir = f"/sys/bus/{_name_of(k, bus)}/drivers/{_name_of(k, drv)}"
    state.mkdir(driver_dir)
    state.links[path + "/driver"] = driver_dir
    state.links[driver_dir + "/" + path.rsplit("/", 1)[1]] = path
    groups = Fields(k.memory, "device_driver", drv)["dev_groups"]
    return create_groups(k, dev, groups, "device", dev, path) if groups else 0


def driver_unbinding(k: Kernel, dev: int, drv: int) -> None:
    """The driver is going: its dev_groups, then the links."""
    state = tree(k)
    path = state.device_dirs.get(dev)
    if path is None:
        return
    groups = Fields(k.memory, "device_driver", drv)["dev_groups"]
    if groups:
        remove_groups(k, dev, groups, path)
    target = state.links.pop(path + "/driver", None)
    if target is not None:
        state.links.pop(target + "/" + path.rsplit("/", 1)[1], None)


def bus_added(k: Kernel, bus: int) -> int:
    """bus_register: /sys/bus/<name>/{devices,drivers}, the bus's own groups."""
    state = tree(k)
    where = "/sys/bus/" + _name_of(k, bus)
    state.mkdir(where + "/devices")
    state.mkdir(where + "/drivers")
    groups = Fields(k.memory, "bus_type", bus)["bus_groups"]
    return create_groups(k, bus, groups, "bus", bus, where) if groups else 0


def bus_removed(k: Kernel, bus: int) -> None:
    """bus_unregister."""
    tree(k).remove_tree("/sys/bus/" + _name_of(k, bus))


def driver_added(k: Kernel, drv: int) -> int:
    """bus_add_driver: /sys/bus/<bus>/drivers/<name>, the bus's drv_groups and the driver's groups."""
    state = tree(k)
    fields = Fields(k.memory, "device_driver", drv)
    where = f"/sys/bus/{_name_of(k, fields['bus'])}/drivers/{_name_of(k, drv)}"
    state.mkdir(where)
    for groups in (Fields(k.memory, "bus_type", fields["bus"])["drv_groups"] if fields["bus"] else 0, fields["groups"]):
        result = create_groups(k, drv, groups, "driver", drv, where) if groups else 0
        if result:
            state.remove_tree(where)
            return result
    return 0


def driver_removed(k: Kernel, drv: int) -> None:
    """driver_unregister: the driver's directory goes."""
    fields = Fields(k.memory, "device_driver", drv)
    tree(k).remove_tree(f"/sys/bus/{_name_of(k, fields['bus'])}/drivers/{_name_of(k, drv)}")


def class_added(k: Kernel, cls: int) -> int:
    """class_register: /sys/class/<name> and its class_groups."""
    where = "/sys/class/" + _name_of(k, cls)
    tree(k).mkdir(where)
    groups = Fields(k.memory, "class", cls)["class_groups"]
    return create_groups(k, cls, groups, "class", cls, where) if groups else 0


def class_removed(k: Kernel, cls: int) -> None:
    """class_unregister."""
    tree(k).remove_tree("/sys/class/" + _name_of(k, cls))


# -- reading and writing ---------------------------------------------------------------------------------------

def _page(k: Kernel) -> tuple[int, int]:
    """A zeroed, page-aligned PAGE_SIZE buffer (sysfs_emit checks the alignment): (block, page)."""
    block = allocate(k, 2 * PAGE_SIZE, owner="kernel")
    if not block:
        raise SysfsError(errnos.ENOMEM, "no memory for a sysfs page")
    return block, (block + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _callbacks(k: Kernel, entry: Attribute) -> tuple[int, int]:
    """(show, store) of the attribute, by the way its kind calls them."""
    memory = k.memory
    if entry.kind == "ktype":
        return memory.read_u32(entry.ops), memory.read_u32(entry.ops + 4)
    if entry.kind in ("device", "kobj", "driver", "bus", "class"):
        return memory.read_u32(entry.attr + ATTR_SIZE), memory.read_u32(entry.attr + ATTR_SIZE + 4)
    return 0, 0


def _show_args(entry: Attribute, page: int) -> tuple[int, ...]:
    if entry.kind in ("driver", "bus"):
        return entry.target, page
    return entry.target, entry.attr, page


def show(k: Kernel, entry: Attribute) -> bytes:
    """sysfs_kf_seq_show: the guest's show into a fresh page; its result as bytes (or SysfsError)."""
    if entry.kind == "dev_t":
        devt = k.memory.read_u32(entry.target + offset("device", "devt"))
        return f"{devt >> 20}:{devt & 0xFFFFF}\n".encode()
    if entry.kind == "bin":
        return _bin_read(k, entry)
    show_fn, _store = _callbacks(k, entry)
    if not show_fn:
        raise SysfsError(EIO, "the attribute has no show()")
    block, page = _page(k)
    try:
        count = signed32(k.call_function_pointer(show_fn, *_show_args(entry, page)))
        if count < 0:
            raise SysfsError(-count, f"show() returned {count}")
        if count >= PAGE_SIZE:
            k.console_write(f"fill_read_buffer: {k.symbolizer.short(show_fn)} returned bad count\n", 4)
            count = PAGE_SIZE - 1
        return k.memory.read(page, count)
    finally:
        release(k, block)


def _bin_read(k: Kernel, entry: Attribute) -> bytes:
    fields = Fields(k.memory, "bin_attribute", entry.attr)
    if not fields["read"]:
        raise SysfsError(EIO, "the binary attribute has no read()")
    length = fields["size"] or PAGE_SIZE
    block, page = _page(k)
    try:
        count = signed32(k.call_function_pointer(fields["read"], 0, entry.target, entry.attr, page, 0, 0,
                                                 min(length, PAGE_SIZE)))
        if count < 0:
            raise SysfsError(-count, f"read() returned {count}")
        return k.memory.read(page, min(count, PAGE_SIZE))
    finally:
        release(k, block)


def store(k: Kernel, entry: Attribute, data: bytes) -> int:
    """sysfs_kf_write: the bytes (at most PAGE_SIZE - 1, NUL-terminated) to the guest's store; its count."""
    if entry.kind == "bin":
        fields = Fields(k.memory, "bin_attribute", entry.attr)
        store_fn = fields["write"]
        if not store_fn:
            raise SysfsError(EIO, "the binary attribute has no write()")
    else:
        _show, store_fn = _callbacks(k, entry)
        if not store_fn:
            raise SysfsError(EIO, "the attribute has no store()")
    data = data[:PAGE_SIZE - 1]
    block, page = _page(k)
    try:
        k.memory.write(page, data + b"\0")
        if entry.kind == "bin":
            result = signed32(k.call_function_pointer(store_fn, 0, entry.target, entry.attr, page, 0, 0, len(data)))
        elif entry.kind in ("driver", "bus"):
            result = signed32(k.call_function_pointer(store_fn, entry.target, page, len(data)))
        else:
            result = signed32(k.call_function_pointer(store_fn, entry.target, entry.attr, page, len(data)))
    finally:
        release(k, block)
    if result < 0:
        raise SysfsError(-result, f"store() returned {result}")
    return result


class SysfsView:
    """``Kernel.sysfs``: list, read and write the sysfs tree from Python, through the guest's callbacks."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    @property
    def _k(self) -> Any:
        return self._kernel.service_context

    def _entry(self, path: str) -> tuple[str, Attribute]:
        state = tree(self._k)
        resolved = state.resolve(path)
        entry = state.files.get(resolved)
        if entry is None:
            if resolved in state.dirs:
                raise SysfsError(errnos.EISDIR, f"{path} is a directory")
            raise SysfsError(ENOENT, f"no such sysfs file: {path}")
        return resolved, entry

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a file, directory or link."""
        state = tree(self._k)
        try:
            return state.exists(state.resolve(path))
        except SysfsError:
            return False

    def ls(self, path: str = "/sys") -> list[str]:
        """The names in a directory, sorted (links followed)."""
        state = tree(self._k)
        resolved = state.resolve(path)
        if resolved not in state.dirs:
            raise SysfsError(errnos.ENOTDIR if resolved in state.files else ENOENT, f"not a sysfs directory: {path}")
        prefix = resolved.rstrip("/") + "/"
        names = {p[len(prefix):] for table in (state.dirs, state.files, state.links) for p in table
                 if p.startswith(prefix) and "/" not in p[len(prefix):]}
        return sorted(names)

    def readlink(self, path: str) -> str:
        """The target of a symbolic link."""
        state = tree(self._k)
        normal = posixpath.normpath(path)
        parent = state.resolve(posixpath.dirname(normal))
        target = state.links.get(parent + "/" + posixpath.basename(normal))
        if target is None:
            raise SysfsError(EINVAL, f"not a symbolic link: {path}")
        return target

    def mode(self, path: str) -> int:
        """The file's permission bits."""
        return self._entry(path)[1].mode

    def read_bytes(self, path: str) -> bytes:
        """What the attribute's show() put in the page."""
        _resolved, entry = self._entry(path)
        return show(self._k, entry)

    def read(self, path: str) -> str:
        """The attribute's text (as ``cat`` prints it)."""
        return self.read_bytes(path).decode("utf-8", "replace")

    def write(self, path: str, data: str | bytes) -> int:
        """Write to the attribute (store()); returns the count store() returned."""
        _resolved, entry = self._entry(path)
        return store(self._k, entry, data.encode() if isinstance(data, str) else bytes(data))

    def notifications(self, path: str) -> int:
        """How many times the kernel called sysfs_notify on the attribute."""
        state = tree(self._k)
        return state.notified.get(state.resolve(path), 0)


# -- services: files and groups --------------------------------------------------------------------------------

@service("int sysfs_create_mount_point(struct kobject *parent_kobj, const char *name)")
def sysfs_create_mount_point(k: Kernel, parent_kobj: int, name: int) -> int:
    """A permanently empty directory under ``parent_kobj`` for a file system to be mounted on
    (configfs's /sys/kernel/config, fuse's /sys/fs/fuse/connections): 0, -EEXIST, or -ENOENT
    for a parent not in sysfs."""
    parent = kobject_path(k, parent_kobj)
    if parent is None:
        return -ENOENT
    state = tree(k)
    path = parent + "/" + guest_string(k, name, 256)
    if state.exists(path):
        k.console_write(f"sysfs: cannot create duplicate filename '{path[4:]}'\n", 3)
        return -EEXIST
    if parent in state.mount_points:
        return -ENOENT
    state.mkdir(path)
    state.mount_points[path] = owner_name(k)
    return 0


@service("void sysfs_remove_mount_point(struct kobject *parent_kobj, const char *name)")
def sysfs_remove_mount_point(k: Kernel, parent_kobj: int, name: int) -> None:
    """Remove a mount point directory (nothing if it is not there)."""
    parent = kobject_path(k, parent_kobj)
    if parent is None:
        return
    state = tree(k)
    path = parent + "/" + guest_string(k, name, 256)
    if path in state.mount_points:
        del state.mount_points[path]
        state.remove_tree(path)


@service("int sysfs_create_file_ns(struct kobject *kobj, const struct attribute *attr, const void *ns)")
def sysfs_create_file_ns(k: Kernel, kobj: int, attr: int, ns: int) -> int:
    """An attribute file on a kobject (sysfs_create_file)."""
    return create_file(k, kobj, attr)


@service("void sysfs_remove_file_ns(struct kobject *kobj, const struct attribute *attr, const void *ns)")
def sysfs_remove_file_ns(k: Kernel, kobj: int, attr: int, ns: int) -> None:
    """Remove an attribute file."""
    remove_file(k, kobj, attr)


@service("int sysfs_create_files(struct kobject *kobj, const struct attribute * const *attr)")
def sysfs_create_files(k: Kernel, kobj: int, attrs: int) -> int:
    """Each file of a NULL-terminated array; all or nothing."""
    made = []
    for attr in _group_attrs(k, attrs):
        result = create_file(k, kobj, attr)
        if result:
            for earlier in made:
                remove_file(k, kobj, earlier)
            return result
        made.append(attr)
    return 0


@service("void sysfs_remove_files(struct kobject *kobj, const struct attribute * const *attr)")
def sysfs_remove_files(k: Kernel, kobj: int, attrs: int) -> None:
    """Remove each file of a NULL-terminated array."""
    for attr in _group_attrs(k, attrs):
        remove_file(k, kobj, attr)


@service("int sysfs_chmod_file(struct kobject *kobj, const struct attribute *attr, umode_t mode)")
def sysfs_chmod_file(k: Kernel, kobj: int, attr: int, mode: int) -> int:
    """Change a file's permission bits; -ENOENT if it is not there."""
    where = kobject_path(k, kobj)
    entry = tree(k).files.get(f"{where}/{_attr_name(k, attr)}") if where is not None and attr else None
    if entry is None:
        return -ENOENT
    entry.mode = mode & 0o7777
    return 0


@service("void sysfs_notify(struct kobject *kobj, const char *dir, const char *attr)")
def sysfs_notify(k: Kernel, kobj: int, directory: int, attr: int) -> None:
    """Wake pollers of an attribute (counted, for ``SysfsView.notifications``)."""
    where = kobject_path(k, kobj)
    if where is None:
        return
    if directory:
        where += "/" + guest_string(k, directory, 128)
    path = f"{where}/{guest_string(k, attr, 128)}"
    state = tree(k)
    if path in state.files:
        state.notified[path] = state.notified.get(path, 0) + 1


@service("int sysfs_create_group(struct kobject *kobj, const struct attribute_group *grp)")
def sysfs_create_group(k: Kernel, kobj: int, grp: int) -> int:
    """A group's files (in its named subdirectory if it has a name)."""
    return create_group(k, kobj, grp)


@service("int sysfs_update_group(struct kobject *kobj, const struct attribute_group *grp)")
def sysfs_update_group(k: Kernel, kobj: int, grp: int) -> int:
    """Re-evaluate a group's visibility: its files made again."""
    remove_group(k, kobj, grp)
    return create_group(k, kobj, grp)


@service("void sysfs_remove_group(struct kobject *kobj, const struct attribute_group *grp)")
def sysfs_remove_group(k: Kernel, kobj: int, grp: int) -> None:
    """Remove a group's files."""
    remove_group(k, kobj, grp)


@service("int sysfs_create_groups(struct kobject *kobj, const struct attribute_group **groups)")
def sysfs_create_groups(k: Kernel, kobj: int, groups: int) -> int:
    """Each group of a NULL-terminated array; all or nothing."""
    return create_groups(k, kobj, groups)


@service("void sysfs_remove_groups(struct kobject *kobj, const struct attribute_group **groups)")
def sysfs_remove_groups(k: Kernel, kobj: int, groups: int) -> None:
    """Remove each group of the array."""
    remove_groups(k, kobj, groups)


@service("int sysfs_create_bin_file(struct kobject *kobj, const struct bin_attribute *attr)")
def sysfs_create_bin_file(k: Kernel, kobj: int, attr: int) -> int:
    """A binary attribute (read/write callbacks with offsets)."""
    return create_file(k, kobj, attr, "bin")


@service("void sysfs_remove_bin_file(struct kobject *kobj, const struct bin_attribute *attr)")
def sysfs_remove_bin_file(k: Kernel, kobj: int, attr: int) -> None:
    """Remove a binary attribute."""
    remove_file(k, kobj, attr)


def _create_link(k: Kernel, kobj: int, target: int, name: int, warn: bool) -> int:
    """sysfs_do_create_link_sd: ``<kobj's dir>/<name>`` -> ``target``'s directory; -ENOENT, -EEXIST."""
    directory, destination = kobject_path(k, kobj), kobject_path(k, target) if target else None
    if directory is None or destination is None:
        return -ENOENT
    link = f"{directory}/{k.memory.read_cstring(name, 255).decode('utf-8', 'replace')}"
    state = tree(k)
    if state.exists(link):
        if warn:
            k.console_write(f"sysfs: cannot create duplicate filename '{link[len('/sys'):]}'\n", 4)
        return -EEXIST
    state.links[link] = destination
    return 0


@service("int sysfs_create_link(struct kobject *kobj, struct kobject *target, const char *name)")
def sysfs_create_link(k: Kernel, kobj: int, target: int, name: int) -> int:
    """A symbolic link ``name`` in ``kobj``'s directory to ``target``'s (NULL kobj: /sys itself)."""
    return _create_link(k, kobj, target, name, True)


@service("int sysfs_create_link_nowarn(struct kobject *kobj, struct kobject *target, const char *name)")
def sysfs_create_link_nowarn(k: Kernel, kobj: int, target: int, name: int) -> int:
    """sysfs_create_link without the duplicate-name warning (still -EEXIST)."""
    return _create_link(k, kobj, target, name, False)


@service("void sysfs_remove_link(struct kobject *kobj, const char *name)")
def sysfs_remove_link(k: Kernel, kobj: int, name: int) -> None:
    """Remove the link ``name`` from ``kobj``'s directory (a missing one is ignored)."""
    directory = kobject_path(k, kobj)
    if directory is not None:
        tree(k).links.pop(f"{directory}/{k.memory.read_cstring(name, 255).decode('utf-8', 'replace')}", None)


@service("int device_create_file(struct device *dev, const struct device_attribute *attr)")
def device_create_file(k: Kernel, dev: int, attr: int) -> int:
    """A device attribute file (show(dev, attr, buf) / store(dev, attr, buf, count))."""
    if not dev:
        return -EINVAL
    mode = _mode(k, attr)
    show_fn, store_fn = k.memory.read_u32(attr + ATTR_SIZE), k.memory.read_u32(attr + ATTR_SIZE + 4)
    if mode & 0o222 and not store_fn:
        k.warn(f"Attribute {_attr_name(k, attr)}: write permission without 'store'")
    if mode & 0o444 and not show_fn:
        k.warn(f"Attribute {_attr_name(k, attr)}: read permission without 'show'")
    return create_file(k, dev, attr, "device", dev)


@service("void device_remove_file(struct device *dev, const struct device_attribute *attr)")
def device_remove_file(k: Kernel, dev: int, attr: int) -> None:
    """Remove a device attribute file."""
    if dev:
        remove_file(k, dev, attr)


@service("int device_create_bin_file(struct device *dev, const struct bin_attribute *attr)")
def device_create_bin_file(k: Kernel, dev: int, attr: int) -> int:
    """A binary attribute of a device."""
    return create_file(k, dev, attr, "bin", dev) if dev else -EINVAL


@service("void device_remove_bin_file(struct device *dev, const struct bin_attribute *attr)")
def device_remove_bin_file(k: Kernel, dev: int, attr: int) -> None:
    """Remove a device's binary attribute."""
    if dev:
        remove_file(k, dev, attr)


@service("int device_add_groups(struct device *dev, const struct attribute_group **groups)")
def device_add_groups(k: Kernel, dev: int, groups: int) -> int:
    """Groups of device attributes."""
    return create_groups(k, dev, groups, "device", dev)


@service("void device_remove_groups(struct device *dev, const struct attribute_group **groups)")
def device_remove_groups(k: Kernel, dev: int, groups: int) -> None:
    """Remove groups of device attributes."""
    remove_groups(k, dev, groups)


@service("int devm_device_add_group(struct device *dev, const struct attribute_group *grp)")
def devm_device_add_group(k: Kernel, dev: int, grp: int) -> int:
    """A group of device attributes removed when the driver unbinds."""
    from . import devres

    result = create_group(k, dev, grp, "device", dev)
    if result == 0:
        devres.add(k, dev, "sysfs group", grp, release_fn=lambda ctx: remove_group(ctx, dev, grp))
    return result


@service("int devm_device_add_groups(struct device *dev, const struct attribute_group **groups)")
def devm_device_add_groups(k: Kernel, dev: int, groups: int) -> int:
    """Groups of device attributes removed when the driver unbinds."""
    from . import devres

    result = create_groups(k, dev, groups, "device", dev)
    if result == 0:
        devres.add(k, dev, "sysfs groups", groups, release_fn=lambda ctx: remove_groups(ctx, dev, groups))
    return result


@service("int driver_create_file(struct device_driver *driver, const struct driver_attribute *attr)")
def driver_create_file(k: Kernel, drv: int, attr: int) -> int:
    """A driver attribute (show(drv, buf) / store(drv, buf, count)) in /sys/bus/<bus>/drivers/<name>."""
    if not drv:
        return -EINVAL
    fields = Fields(k.memory, "device_driver", drv)
    where = f"/sys/bus/{_name_of(k, fields['bus'])}/drivers/{_name_of(k, drv)}"
    return create_file(k, drv, attr, "driver", drv, directory=where)


@service("void driver_remove_file(struct device_driver *driver, const struct driver_attribute *attr)")
def driver_remove_file(k: Kernel, drv: int, attr: int) -> None:
    """Remove a driver attribute."""
    if drv:
        fields = Fields(k.memory, "device_driver", drv)
        remove_file(k, drv, attr, f"/sys/bus/{_name_of(k, fields['bus'])}/drivers/{_name_of(k, drv)}")


@service("int bus_create_file(struct bus_type *bus, struct bus_attribute *attr)")
def bus_create_file(k: Kernel, bus: int, attr: int) -> int:
    """A bus attribute in /sys/bus/<name>."""
    return create_file(k, bus, attr, "bus", bus, directory="/sys/bus/" + _name_of(k, bus)) if bus else -EINVAL


@service("void bus_remove_file(struct bus_type *bus, struct bus_attribute *attr)")
def bus_remove_file(k: Kernel, bus: int, attr: int) -> None:
    """Remove a bus attribute."""
    if bus:
        remove_file(k, bus, attr, "/sys/bus/" + _name_of(k, bus))


@service("int class_create_file_ns(struct class *class_, const struct class_attribute *attr, const void *ns)")
def class_create_file_ns(k: Kernel, cls: int, attr: int, ns: int) -> int:
    """A class attribute in /sys/class/<name>."""
    return create_file(k, cls, attr, "class", cls, directory="/sys/class/" + _name_of(k, cls)) if cls else -EINVAL


@service("void class_remove_file_ns(struct class *class_, const struct class_attribute *attr, const void *ns)")
def class_remove_file_ns(k: Kernel, cls: int, attr: int, ns: int) -> None:
    """Remove a class attribute."""
    if cls:
        remove_file(k, cls, attr, "/sys/class/" + _name_of(k, cls))


# -- services: formatting and matching ---------------------------------------------------------------------------

def _emit(k: Kernel, buf: int, at: int, fmt: int, args: VarArgs, name: str) -> int:
    from .printk import format_guest

    if not buf or buf % PAGE_SIZE or not 0 <= at < PAGE_SIZE:
        k.warn(f"invalid {name}: buf:{buf:#x} at:{at}")
        return 0
    text = format_guest(k, fmt, args)[:PAGE_SIZE - at - 1]
    k.memory.write(buf + at, text + b"\0")
    return len(text)


@service("int sysfs_emit(char *buf, const char *fmt, ...)")
def sysfs_emit(k: Kernel, buf: int, fmt: int, args: VarArgs) -> int:
    """Format into a show() page (which must be page aligned); the length written."""
    return _emit(k, buf, 0, fmt, args, "sysfs_emit")


@service("int sysfs_emit_at(char *buf, int at, const char *fmt, ...)")
def sysfs_emit_at(k: Kernel, buf: int, at: int, fmt: int, args: VarArgs) -> int:
    """Format at offset ``at`` of a show() page; the length written."""
    return _emit(k, buf, at, fmt, args, "sysfs_emit_at")


# -- services: kobjects ---------------------------------------------------------------------------------------------

# Linux's top-level kobjects, exported as pointers to them (``kernel_kobj`` is /sys/kernel, ...).
__sysfs_kernel_kobj = kernel_variable("__sysfs_kernel_kobj", KOBJECT_SIZE)
__sysfs_mm_kobj = kernel_variable("__sysfs_mm_kobj", KOBJECT_SIZE)
__sysfs_power_kobj = kernel_variable("__sysfs_power_kobj", KOBJECT_SIZE)
__sysfs_firmware_kobj = kernel_variable("__sysfs_firmware_kobj", KOBJECT_SIZE)
__sysfs_fs_kobj = kernel_variable("__sysfs_fs_kobj", KOBJECT_SIZE)
__sysfs_hypervisor_kobj = kernel_variable("__sysfs_hypervisor_kobj", KOBJECT_SIZE)
kernel_kobj = kernel_variable("kernel_kobj", 4, pointers={0: "__sysfs_kernel_kobj"})
mm_kobj = kernel_variable("mm_kobj", 4, pointers={0: "__sysfs_mm_kobj"})
power_kobj = kernel_variable("power_kobj", 4, pointers={0: "__sysfs_power_kobj"})
firmware_kobj = kernel_variable("firmware_kobj", 4, pointers={0: "__sysfs_firmware_kobj"})
fs_kobj = kernel_variable("fs_kobj", 4, pointers={0: "__sysfs_fs_kobj"})
hypervisor_kobj = kernel_variable("hypervisor_kobj", 4, pointers={0: "__sysfs_hypervisor_kobj"})
# dynamic_kobj_ktype: kobject_create's type (release kfree, kobj_sysfs_ops).
__sysfs_dynamic_kobj_ktype = kernel_variable("__sysfs_dynamic_kobj_ktype", size("kobj_type"))


def _device_of(k: Kernel, kobj: int) -> bool:
    from . import driver_core

    return kobj in driver_core.core(k).devices


def _init(k: Kernel, kobj: int, ktype: int, allocated: bool = False) -> KObject:
    fields = Fields(k.memory, "kobject", kobj)
    state_unit = kobj + KOBJ_STATE
    if k.memory.read_u32(state_unit) & 1:
        k.console_write(f"kobject ({kobj:08x}): tried to init an initialized object, something is seriously wrong.\n",
                        3)
    fields["kref.refcount"] = 1
    fields["ktype"] = ktype
    for head in ("entry",):
        where = fields.address_of(head)
        k.memory.write_u32(where, where)
        k.memory.write_u32(where + 4, where)
    k.memory.write_u32(state_unit, 1)
    record = KObject(kobj, "", owner_name(k), allocated)
    tree(k).kobjects[kobj] = record
    return record


def _set_name(k: Kernel, record: KObject, text: bytes) -> int:
    block = allocate(k, len(text) + 1, owner="kernel")
    if not block:
        return -ENOMEM
    k.memory.write(block, text.replace(b"/", b"!") + b"\0")
    if record.name_block:
        release(k, record.name_block)
    record.name_block = block
    k.memory.write_u32(record.kobj, block)
    return 0


def _add(k: Kernel, record: KObject, parent: int) -> int:
    """kobject_add_internal: under ``parent`` (else its kset's kobject, else /sys)."""
    fields = Fields(k.memory, "kobject", record.kobj)
    if not parent and fields["kset"]:
        parent = fields["kset"] + offset("kset", "kobj")
    where = kobject_path(k, parent)
    name = guest_string(k, fields["name"], 128)
    if where is None or not name:
        return -EINVAL if not name else -ENOENT
    path = where + "/" + name
    state = tree(k)
    if state.exists(path):
        k.console_write(f"sysfs: cannot create duplicate filename '{path[4:]}'\n", 3)
        return -EEXIST
    fields["parent"] = parent
    state.mkdir(path, record.kobj)
    record.path, record.added = path, True
    k.memory.write_u32(record.kobj + KOBJ_STATE, k.memory.read_u32(record.kobj + KOBJ_STATE) | 2)  # state_in_sysfs
    if parent and parent in state.kobjects:
        _get(k, parent)
    ktype = fields["ktype"]
    groups = Fields(k.memory, "kobj_type", ktype)["default_groups"] if ktype else 0
    if groups:
        result = create_groups(k, record.kobj, groups)
        if result:
            _del(k, record)
            return result
    return 0


def _del(k: Kernel, record: KObject) -> None:
    if not record.added:
        return
    tree(k).remove_tree(record.path)
    record.added = False
    k.memory.write_u32(record.kobj + KOBJ_STATE, k.memory.read_u32(record.kobj + KOBJ_STATE) & ~2)
    parent = Fields(k.memory, "kobject", record.kobj)["parent"]
    if parent and parent in tree(k).kobjects:
        _put(k, parent)


def _get(k: Kernel, kobj: int) -> int:
    fields = Fields(k.memory, "kobject", kobj)
    fields["kref.refcount"] = fields["kref.refcount"] + 1
    return kobj


def _put(k: Kernel, kobj: int) -> None:
    state = tree(k)
    record = state.kobjects.get(kobj)
    fields = Fields(k.memory, "kobject", kobj)
    name = guest_string(k, fields["name"], 128) or "(null)"
    if record is None:
        k.console_write(f"kobject: '{name}' ({kobj:08x}): is not initialized, yet kobject_put() is being called.\n",
                        3)
        k.warn(f"kobject_put of {kobj:#x} ({name}): the kobject was never initialized")
        return
    count = fields["kref.refcount"]
    if count == 0:
        k.console_write("refcount_t: underflow; use-after-free.\n", 4)
        k.warn(f"kobject_put of {kobj:#x} ({name}): reference count already 0")
        return
    fields["kref.refcount"] = count - 1
    if count > 1:
        return
    # kobject_cleanup: out of sysfs, then the type's release, then the name.
    _del(k, record)
    state.kobjects.pop(kobj, None)
    ktype = fields["ktype"]
    if record.allocated:
        release(k, record.block or kobj)
    elif ktype and Fields(k.memory, "kobj_type", ktype)["release"]:
        k.call_function_pointer(Fields(k.memory, "kobj_type", ktype)["release"], kobj)
    else:
        k.console_write(f"kobject: '{name}' ({kobj:08x}): does not have a release() function, it is broken and must "
                        "be fixed. See Documentation/core-api/kobject.rst.\n", 3)
    if record.name_block:
        release(k, record.name_block)


@service("void kobject_init(struct kobject *kobj, const struct kobj_type *ktype)")
def kobject_init(k: Kernel, kobj: int, ktype: int) -> None:
    """One reference, the type set (a NULL type is Linux's "must have a ktype" error)."""
    if not kobj:
        return
    if not ktype:
        k.console_write(f"kobject ({kobj:08x}): must have a ktype to be initialized properly!\n", 3)
        return
    _init(k, kobj, ktype)


@service("int kobject_add(struct kobject *kobj, struct kobject *parent, const char *fmt, ...)")
def kobject_add(k: Kernel, kobj: int, parent: int, fmt: int, args: VarArgs) -> int:
    """Name an initialized kobject and put it in sysfs under ``parent``."""
    from .printk import format_guest

    record = tree(k).kobjects.get(kobj) if kobj else None
    if record is None:
        k.console_write(f"kobject '{guest_string(k, k.memory.read_u32(kobj), 64) if kobj else '(null)'}' "
                        f"({kobj:08x}): tried to add an uninitialized object, something is seriously wrong.\n", 3)
        return -EINVAL
    return _set_name(k, record, format_guest(k, fmt, args)) or _add(k, record, parent)


@service("int kobject_init_and_add(struct kobject *kobj, const struct kobj_type *ktype, struct kobject *parent, "
         "const char *fmt, ...)")
def kobject_init_and_add(k: Kernel, kobj: int, ktype: int, parent: int, fmt: int, args: VarArgs) -> int:
    """kobject_init + kobject_add (on failure the caller still owes a kobject_put)."""
    from .printk import format_guest

    if not kobj or not ktype:
        return -EINVAL
    record = _init(k, kobj, ktype)
    return _set_name(k, record, format_guest(k, fmt, args)) or _add(k, record, parent)


@service("struct kobject *kobject_create_and_add(const char *name, struct kobject *parent)")
def kobject_create_and_add(k: Kernel, name: int, parent: int) -> int:
    """A kernel-allocated kobject (attributes are kobj_attributes) in sysfs; NULL on failure."""
    kobj = allocate(k, KOBJECT_SIZE, owner="kernel")
    if not kobj:
        return 0
    record = _init(k, kobj, _dynamic_ktype(k), allocated=True)
    if _set_name(k, record, k.memory.read_cstring(name, 128)) or _add(k, record, parent):
        _put(k, kobj)
        return 0
    return kobj


KSET_KOBJ = offset("kset", "kobj")


@service("struct kset *kset_create_and_add(const char *name, const struct kset_uevent_ops *uevent_ops, "
         "struct kobject *parent_kobj)")
def kset_create_and_add(k: Kernel, name: int, uevent_ops: int, parent_kobj: int) -> int:
    """A kernel-allocated kset named ``name`` under ``parent_kobj`` (/sys when NULL), its list empty;
    NULL on failure (a name in use: Linux's duplicate-filename message)."""
    kset = allocate(k, size("kset"), owner="kernel")
    if not kset:
        return 0
    k.memory.write_u32(kset, kset)  # INIT_LIST_HEAD(&kset->list)
    k.memory.write_u32(kset + 4, kset)
    k.memory.write_u32(kset + offset("kset", "uevent_ops"), uevent_ops)
    kobj = kset + KSET_KOBJ
    record = _init(k, kobj, _dynamic_ktype(k), allocated=True)  # kset_ktype: its release kfrees the kset
    record.block = kset
    if _set_name(k, record, k.memory.read_cstring(name, 128)) or _add(k, record, parent_kobj):
        _put(k, kobj)
        return 0
    return kset


@service("void kset_unregister(struct kset *kset)")
def kset_unregister(k: Kernel, kset: int) -> None:
    """kobject_del + kobject_put of the kset's kobject (NULL is ignored)."""
    if not kset:
        return
    record = tree(k).kobjects.get(kset + KSET_KOBJ)
    if record is not None:
        _del(k, record)
    _put(k, kset + KSET_KOBJ)


@service("struct kobject *kobject_get(struct kobject *kobj)")
def kobject_get(k: Kernel, kobj: int) -> int:
    """One more reference."""
    if not kobj:
        return 0
    if _device_of(k, kobj):
        from . import driver_core

        return driver_core.get(k, kobj)
    return _get(k, kobj)


@service("void kobject_put(struct kobject *kobj)")
def kobject_put(k: Kernel, kobj: int) -> None:
    """One reference less; the last one takes it out of sysfs and calls its type's release."""
    if not kobj:
        return
    if _device_of(k, kobj):
        from . import driver_core

        driver_core.put(k, kobj)
        return
    _put(k, kobj)


@service("void kobject_del(struct kobject *kobj)")
def kobject_del(k: Kernel, kobj: int) -> None:
    """Take the kobject out of sysfs (the reference stays)."""
    record = tree(k).kobjects.get(kobj) if kobj else None
    if record is not None:
        _del(k, record)


@service("int kobject_set_name(struct kobject *kobj, const char *name, ...)")
def kobject_set_name(k: Kernel, kobj: int, fmt: int, args: VarArgs) -> int:
    """Name a kobject (before it is added)."""
    from .printk import format_guest

    record = tree(k).kobjects.get(kobj)
    if record is None:
        record = KObject(kobj, "", owner_name(k), False)
        tree(k).kobjects[kobj] = record
    return _set_name(k, record, format_guest(k, fmt, args))


@service("int kobject_uevent(struct kobject *kobj, enum kobject_action action)")
def kobject_uevent(k: Kernel, kobj: int, action: int) -> int:
    """Announce a kobject event: recorded in the trace (no user space listens here)."""
    return _uevent(k, kobj, action, [])


def _uevent(k: Kernel, kobj: int, action: int, extra: list[str]) -> int:
    actions = ("add", "remove", "change", "move", "online", "offline", "bind", "unbind")
    where = kobject_path(k, kobj)
    fields: dict[str, Any] = {"kobject": where or f"{kobj:#x}",
                              "action": actions[action] if action < len(actions) else str(action)}
    if extra:
        fields["env"] = extra
    k.trace.add("note", "uevent", fields=fields)
    return 0 if where is not None else -ENOENT


@service("int kobject_uevent_env(struct kobject *kobj, enum kobject_action action, char *envp[])")
def kobject_uevent_env(k: Kernel, kobj: int, action: int, envp: int) -> int:
    """kobject_uevent with extra environment strings (recorded with it)."""
    extra = [guest_string(k, p, 2048) for p in pointers(k, envp, 64)]
    return _uevent(k, kobj, action, extra)


@service("char *kobject_get_path(const struct kobject *kobj, gfp_t flag)")
def kobject_get_path(k: Kernel, kobj: int, flag: int) -> int:
    """The kobject's path below /sys, kmalloc'd (the caller kfrees it); NULL if it is not in sysfs."""
    where = kobject_path(k, kobj)
    if where is None:
        return 0
    text = (where[4:] or "/").encode() + b"\0"
    block = allocate(k, len(text))
    if block:
        k.memory.write(block, text)
    return block


def boot_check(k: Kernel) -> None:
    """Make sure the tree exists (for a Python view made before any module used sysfs)."""
    tree(k)


def view(kernel: Kernel) -> SysfsView:
    """``Kernel.sysfs`` for the linux profile."""
    boot_check(kernel.service_context)
    return SysfsView(kernel)
