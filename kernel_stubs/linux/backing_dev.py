"""Backing devices (mm/backing-dev.c), Linux 6.1 i386: bdi_alloc, bdi_register, bdi_put, bdi_unregister.

A ``struct backing_dev_info`` (generated layout) is what the page cache
writes back through; a driver without a block queue (MTD, a network file
system) makes its own. ``bdi_alloc`` zero-allocates it and fills what
``bdi_init`` and ``bdi_alloc`` set: one reference, min/max ratio 0/100,
``max_prop_frac`` FPROP_FRAC_BASE, empty lists, capabilities WRITEBACK |
WRITEBACK_ACCT, 32 readahead pages. ``bdi_register`` names it
(``dev_name``, at most 63 characters), creates its device in the kernel's
``bdi`` class (``/sys/devices/virtual/bdi/<name>``, linked from
``/sys/class/bdi``), gives it the next id and marks its writeback
registered; the last ``bdi_put`` unregisters and frees it. No writeback
ever runs: nothing here dirties pages. The device has the class's
attributes: ``read_ahead_kb`` (ra_pages in KiB), ``min_ratio`` and
``max_ratio`` (with ``bdi_set_min_ratio``/``bdi_set_max_ratio``'s checks:
the minimums of all bdis stay under 100, a minimum above the maximum is
-EINVAL) and ``stable_pages_required`` (0, removed in 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from . import driver_core, sysfs
from .device import builtin_class
from .layout import Fields, offset, size
from .registrations import is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

BDI_SIZE = size("backing_dev_info")
BDI_CAP_WRITEBACK, BDI_CAP_WRITEBACK_ACCT = 1 << 0, 1 << 1
VM_READAHEAD_PAGES = 128 * 1024 // 4096  # SZ_128K / PAGE_SIZE
FPROP_FRAC_BASE = 1 << 10
DEV_NAME_SIZE = 64  # char dev_name[64]
WB_REGISTERED = 0  # bit of bdi->wb.state
WB_STATE = offset("backing_dev_info", "wb") + offset("bdi_writeback", "state")
EINVAL, ERANGE = 22, 34


@dataclass(slots=True)
class Registered:
    """A registered bdi: its name, id, device, and the module that registered it."""

    name: str
    id: int
    dev: int
    owner: str


class BackingDevices:
    """The kernel's bdi list (registered ones), the id cursor, the sum of min ratios, the class's attributes."""

    def __init__(self) -> None:
        self.registered: dict[int, Registered] = {}
        self.id_cursor = 0
        self.min_ratio_sum = 0  # bdi_min_ratio
        self.groups = 0  # bdi_dev_groups

    def by_name(self, name: str) -> int:
        """The registered bdi of that name, or 0."""
        return next((bdi for bdi, r in self.registered.items() if r.name == name), 0)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """bdis the module registered and left: reported and unregistered (their memory is the heap's leak)."""
        leaks = []
        for bdi, record in list(self.registered.items()):
            if record.owner == module.name:
                leaks.append(f"backing device {record.name} still registered")
                unregister(k, bdi)
        return leaks


ATTRIBUTES = (("read_ahead_kb", 0o644), ("min_ratio", 0o644), ("max_ratio", 0o644), ("stable_pages_required", 0o444))


def _groups(k: Kernel) -> int:
    """bdi_dev_groups: one group of the four attributes, their callbacks this profile's functions."""
    state = k.subsystem(BackingDevices)
    if state.groups:
        return state.groups
    groups = sysfs.kernel_device_groups(k, ATTRIBUTES, "__sandbox_bdi_")
    state.groups = groups
    return groups


def _bdi_of(k: Kernel, dev: int) -> Fields:
    return Fields(k.memory, "backing_dev_info", Fields(k.memory, "device", dev)["driver_data"])


def _emit(k: Kernel, buf: int, value: int) -> int:
    data = f"{value}\n".encode()
    k.memory.write(buf, data)
    return len(data)


def _parse(k: Kernel, buf: int, count: int, limit: int) -> int:
    """kstrtoul/kstrtouint base 10: digits and one optional newline; -EINVAL, -ERANGE past ``limit``."""
    text = k.memory.read(buf, min(count, 64)).split(b"\0", 1)[0]
    text = text[:-1] if text.endswith(b"\n") else text
    text = text[1:] if text.startswith(b"+") else text
    if not text or not text.isdigit():
        return -EINVAL
    value = int(text)
    return -ERANGE if value > limit else value


@service("ssize_t __sandbox_bdi_read_ahead_kb_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_bdi_read_ahead_kb_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """ra_pages in KiB."""
    return _emit(k, buf, _bdi_of(k, dev)["ra_pages"] * 4)


@service("ssize_t __sandbox_bdi_read_ahead_kb_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t count)")
def __sandbox_bdi_read_ahead_kb_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """ra_pages = KiB / 4: count, or kstrtoul's error."""
    value = _parse(k, buf, count, 0xFFFFFFFF)
    if value < 0:
        return value
    _bdi_of(k, dev)["ra_pages"] = value >> 2
    return count


@service("ssize_t __sandbox_bdi_min_ratio_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_bdi_min_ratio_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """The bdi's minimum share of the dirty limit, in percent."""
    return _emit(k, buf, _bdi_of(k, dev)["min_ratio"])


@service("ssize_t __sandbox_bdi_min_ratio_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t count)")
def __sandbox_bdi_min_ratio_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """bdi_set_min_ratio: -EINVAL above max_ratio or if all minimums would reach 100."""
    ratio = _parse(k, buf, count, 0xFFFFFFFF)
    if ratio < 0:
        return ratio
    f, state = _bdi_of(k, dev), k.subsystem(BackingDevices)
    if ratio > f["max_ratio"]:
        return -EINVAL
    delta = ratio - f["min_ratio"]
    if state.min_ratio_sum + delta >= 100:
        return -EINVAL
    state.min_ratio_sum += delta
    f["min_ratio"] = ratio
    return count


@service("ssize_t __sandbox_bdi_max_ratio_show(struct device *dev, struct device_attribute *attr, char *buf)")
def __sandbox_bdi_max_ratio_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """The bdi's maximum share of the dirty limit, in percent."""
    return _emit(k, buf, _bdi_of(k, dev)["max_ratio"])


@service("ssize_t __sandbox_bdi_max_ratio_store(struct device *dev, struct device_attribute *attr, "
         "const char *buf, size_t count)")
def __sandbox_bdi_max_ratio_store(k: Kernel, dev: int, attr: int, buf: int, count: int) -> int:
    """bdi_set_max_ratio: -EINVAL above 100 or below min_ratio; max_prop_frac follows."""
    ratio = _parse(k, buf, count, 0xFFFFFFFF)
    if ratio < 0:
        return ratio
    f = _bdi_of(k, dev)
    if ratio > 100 or f["min_ratio"] > ratio:
        return -EINVAL
    f["max_ratio"], f["max_prop_frac"] = ratio, FPROP_FRAC_BASE * ratio // 100
    return count


@service("ssize_t __sandbox_bdi_stable_pages_required_show(struct device *dev, struct device_attribute *attr, "
         "char *buf)")
def __sandbox_bdi_stable_pages_required_show(k: Kernel, dev: int, attr: int, buf: int) -> int:
    """0: 6.1 removed the attribute's meaning (stable writes are a queue attribute now)."""
    return _emit(k, buf, 0)


def _init_list(k: Kernel, head: int) -> None:
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


@service("struct backing_dev_info *bdi_alloc(int node_id)")
def bdi_alloc(k: Kernel, node_id: int) -> int:
    """A new, unregistered bdi with one reference; NULL without memory."""
    bdi = allocate(k, BDI_SIZE)
    if not bdi:
        return 0
    f = Fields(k.memory, "backing_dev_info", bdi)
    f["refcnt"] = 1  # kref_init
    f["min_ratio"], f["max_ratio"], f["max_prop_frac"] = 0, 100, FPROP_FRAC_BASE
    for name in ("bdi_list", "wb_list", "wb_waitq.head"):
        _init_list(k, f.address_of(name))
    f["capabilities"] = BDI_CAP_WRITEBACK | BDI_CAP_WRITEBACK_ACCT
    f["ra_pages"] = f["io_pages"] = VM_READAHEAD_PAGES
    return bdi


def register(k: Kernel, bdi: int, name: bytes) -> int:
    """bdi_register_va: 0, or the device core's error (-EEXIST for a name in use)."""
    f = Fields(k.memory, "backing_dev_info", bdi)
    if f["dev"]:
        return 0  # already registered: Linux returns 0 and keeps the first name
    text = name[:DEV_NAME_SIZE - 1]
    k.memory.write(f.address_of("dev_name"), text + b"\0")
    cls = builtin_class(k, "bdi")
    dev = driver_core.create_device(k, cls, 0, 0, bdi, _groups(k), text)
    if is_err(dev):
        return dev - (1 << 32)
    state = k.subsystem(BackingDevices)
    state.id_cursor += 1
    f["dev"] = dev
    f["id"] = state.id_cursor
    k.memory.write_u32(bdi + WB_STATE, k.memory.read_u32(bdi + WB_STATE) | 1 << WB_REGISTERED)
    caller = k.caller_module()
    state.registered[bdi] = Registered(text.decode("utf-8", "replace"), state.id_cursor, dev,
                                       caller.name if caller else "kernel")
    return 0


def unregister(k: Kernel, bdi: int) -> None:
    """bdi_unregister: off the list, its device gone, writeback no longer registered."""
    state = k.subsystem(BackingDevices)
    if state.registered.pop(bdi, None) is not None:
        min_ratio = Fields(k.memory, "backing_dev_info", bdi)["min_ratio"]
        state.min_ratio_sum -= min_ratio  # bdi_remove_from_list... bdi_set_min_ratio(bdi, 0) at release
        Fields(k.memory, "backing_dev_info", bdi)["min_ratio"] = 0
    k.memory.write_u32(bdi + WB_STATE, k.memory.read_u32(bdi + WB_STATE) & ~(1 << WB_REGISTERED))
    f = Fields(k.memory, "backing_dev_info", bdi)
    dev = f["dev"]
    if dev:
        driver_core.delete_device(k, dev)
        driver_core.put(k, dev)
        f["dev"] = 0
    owner = f["owner"]
    if owner:
        driver_core.put(k, owner)
        f["owner"] = 0


@service("int bdi_register(struct backing_dev_info *bdi, const char *fmt, ...)")
def bdi_register(k: Kernel, bdi: int, fmt: int, args: VarArgs) -> int:
    """Name the bdi by ``fmt`` and add it to the bdi class and list: 0 or a negative errno."""
    from .printk import format_guest

    return register(k, bdi, format_guest(k, fmt, args))


@service("void bdi_unregister(struct backing_dev_info *bdi)")
def bdi_unregister(k: Kernel, bdi: int) -> None:
    """Take the bdi off the list and remove its device (the memory stays until the last bdi_put)."""
    unregister(k, bdi)


@service("void bdi_put(struct backing_dev_info *bdi)")
def bdi_put(k: Kernel, bdi: int) -> None:
    """Drop a reference; the last one unregisters (if still registered) and frees the bdi."""
    f = Fields(k.memory, "backing_dev_info", bdi)
    count = f["refcnt"]
    if count == 0:
        k.warn(f"bdi_put on {bdi:#x} with no reference left (refcount_t underflow)")
        return
    f["refcnt"] = count - 1
    if count == 1:
        if k.memory.read_u32(bdi + WB_STATE) & 1 << WB_REGISTERED:
            unregister(k, bdi)
        release(k, bdi)
