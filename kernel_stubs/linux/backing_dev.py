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
ever runs: nothing here dirties pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from . import driver_core
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


@dataclass(slots=True)
class Registered:
    """A registered bdi: its name, id, device, and the module that registered it."""

    name: str
    id: int
    dev: int
    owner: str


class BackingDevices:
    """The kernel's bdi list (registered ones), the id cursor."""

    def __init__(self) -> None:
        self.registered: dict[int, Registered] = {}
        self.id_cursor = 0

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
    dev = driver_core.create_device(k, cls, 0, 0, bdi, 0, text)
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
    k.subsystem(BackingDevices).registered.pop(bdi, None)
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
