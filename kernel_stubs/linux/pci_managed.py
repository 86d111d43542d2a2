"""Managed PCI (``pcim_*``), as Linux 6.1's drivers/pci/pci.c and lib/devres.c keep it.

``pcim_enable_device`` enables the function and makes it *managed*
(``dev->is_managed``): from then on what the driver takes is given back
when it unbinds, newest first, after its ``remove`` — the regions it
requested, MWI, the INTx setting it changed, MSI vectors, the iomap table
— and the device is disabled unless the driver pinned it
(``pcim_pin_device``). ``pcim_iomap_table`` is a guest array of six
mappings (drivers index it inline: ``pcim_iomap_table(pdev)[bar]``),
filled by ``pcim_iomap``/``pcim_iomap_regions``. Each is one devres entry
on ``&pdev->dev`` (:mod:`.devres`), so a failed probe releases them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.devices.pci import COMMAND, COMMAND_INTX_DISABLE, COMMAND_INVALIDATE
from sandbox.services import service

from ..memory import allocate, release
from . import devres
from .layout import Fields
from .pci import (
    PCI_STD_NUM_BARS,
    PDEV_DEV,
    PciCore,
    _bar_resource,
    pci_disable_device,
    pci_enable_device,
    pci_iomap,
    pci_release_region,
    pci_request_region,
)
from .registrations import EINVAL, ENOMEM

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

PCIM_IOMAP_MAX = PCI_STD_NUM_BARS


@dataclass(slots=True)
class ManagedPci:
    """What pcim_release undoes for one device (struct pci_devres)."""

    pdev: int
    pinned: bool = False
    orig_intx_disabled: bool = False


class ManagedPciDevices:
    """The managed PCI devices of one kernel, and the iomap tables, by struct pci_dev."""

    def __init__(self) -> None:
        self.devices: dict[int, ManagedPci] = {}
        self.tables: dict[int, int] = {}  # pdev -> guest table of PCIM_IOMAP_MAX mappings

    def clone(self) -> ManagedPciDevices:
        twin = ManagedPciDevices()
        twin.devices = {pdev: ManagedPci(m.pdev, m.pinned, m.orig_intx_disabled) for pdev, m in self.devices.items()}
        twin.tables = dict(self.tables)
        return twin


def managed(k: Kernel, pdev: int) -> ManagedPci | None:
    """The device's managed record, if the driver enabled it with pcim_enable_device."""
    return k.subsystem(ManagedPciDevices).devices.get(pdev)


def add_release(k: Kernel, pdev: int, kind: str, release_fn) -> None:  # type: ignore[no-untyped-def]
    """Queue ``release_fn(k)`` on ``&pdev->dev`` (a managed device's resource)."""
    devres.add(k, pdev + PDEV_DEV, kind, pdev, release_fn=release_fn)


def _pcim_release(pdev: int):  # type: ignore[no-untyped-def]
    def release_device(k: Kernel) -> None:
        record = k.subsystem(ManagedPciDevices).devices.pop(pdev, None)
        core = k.subsystem(PciCore).devices.get(pdev)
        if record is None or core is None:
            return
        for bar in range(PCI_STD_NUM_BARS):
            if core.regions >> bar & 1:
                pci_release_region(k, pdev, bar)
        function = core.function
        command = function.config_read(COMMAND, 2)
        command &= ~COMMAND_INVALIDATE
        command = (command | COMMAND_INTX_DISABLE) if record.orig_intx_disabled else (command & ~COMMAND_INTX_DISABLE)
        function.config_write(COMMAND, 2, command)
        Fields(k.memory, "pci_dev", pdev)["is_managed"] = 0
        if not record.pinned:
            pci_disable_device(k, pdev)
    return release_device


@service("int pcim_enable_device(struct pci_dev *pdev)")
def pcim_enable_device(k: Kernel, pdev: int) -> int:
    """pci_enable_device, undone (with everything managed) when the driver unbinds."""
    core = k.subsystem(PciCore).devices.get(pdev)
    if core is None:
        return -EINVAL
    devices = k.subsystem(ManagedPciDevices).devices
    if pdev in devices:
        return 0  # pcim_enable_device on an already managed device only re-checks: Linux returns 0
    result = pci_enable_device(k, pdev)
    if result:
        return result
    intx_off = bool(core.function.config_read(COMMAND, 2) & COMMAND_INTX_DISABLE)
    devices[pdev] = ManagedPci(pdev, orig_intx_disabled=intx_off)
    Fields(k.memory, "pci_dev", pdev)["is_managed"] = 1
    add_release(k, pdev, "pcim", _pcim_release(pdev))
    return 0


@service("void pcim_pin_device(struct pci_dev *pdev)")
def pcim_pin_device(k: Kernel, pdev: int) -> None:
    """Keep the device enabled when the driver unbinds (Linux WARNs if it is not managed)."""
    record = managed(k, pdev)
    if record is None:
        k.warn(f"pcim_pin_device at {k.symbolizer.short(k.current_caller)}: the device is not managed "
               "(WARN_ON(!dr || !pci_is_enabled(pdev)))")
        return
    record.pinned = True


def _table(k: Kernel, pdev: int) -> int:
    """The device's iomap table, a devres of its own (any device may have one, managed or not)."""
    tables = k.subsystem(ManagedPciDevices).tables
    if pdev not in tables:
        table = allocate(k, 4 * PCIM_IOMAP_MAX, owner="kernel")
        if not table:
            return 0
        tables[pdev] = table

        def free_table(k: Kernel) -> None:
            if k.subsystem(ManagedPciDevices).tables.get(pdev) == table:
                del k.subsystem(ManagedPciDevices).tables[pdev]
            release(k, table)

        add_release(k, pdev, "pcim-iomap-table", free_table)
    return tables[pdev]


@service("void __iomem * const *pcim_iomap_table(struct pci_dev *pdev)")
def pcim_iomap_table(k: Kernel, pdev: int) -> int:
    """The device's managed table of six BAR mappings (allocated on first use)."""
    return _table(k, pdev)


@service("void __iomem *pcim_iomap(struct pci_dev *pdev, int bar, unsigned long maxlen)")
def pcim_iomap(k: Kernel, pdev: int, bar: int, maxlen: int) -> int:
    """pci_iomap recorded in the table; NULL if the BAR is mapped already or absent."""
    if not 0 <= bar < PCIM_IOMAP_MAX:
        return 0
    table = _table(k, pdev)
    if not table or k.memory.read_u32(table + 4 * bar):
        return 0  # duplicate mappings are refused, as Linux's WARN_ON(tbl[bar])
    cookie = pci_iomap(k, pdev, bar, maxlen)
    k.memory.write_u32(table + 4 * bar, cookie)
    return cookie


@service("void pcim_iounmap(struct pci_dev *pdev, void __iomem *addr)")
def pcim_iounmap(k: Kernel, pdev: int, addr: int) -> None:
    """Forget a mapping of the table."""
    table = _table(k, pdev)
    for bar in range(PCIM_IOMAP_MAX):
        if table and k.memory.read_u32(table + 4 * bar) == addr:
            k.memory.write_u32(table + 4 * bar, 0)
            return


@service("int pcim_iomap_regions(struct pci_dev *pdev, int mask, const char *name)")
def pcim_iomap_regions(k: Kernel, pdev: int, mask: int, name: int) -> int:
    """Request and map each BAR in ``mask``; on failure what was done is undone (-EBUSY, -ENOMEM)."""
    done: list[int] = []
    for bar in range(PCIM_IOMAP_MAX):
        if not mask >> bar & 1:
            continue
        res = _bar_resource(k, pdev, bar)
        if res is None or res["end"] < res["start"]:
            _undo(k, pdev, done)
            return -EINVAL
        result = pci_request_region(k, pdev, bar, name)
        if result:
            _undo(k, pdev, done)
            return result
        if not pcim_iomap(k, pdev, bar, 0):
            pci_release_region(k, pdev, bar)
            _undo(k, pdev, done)
            return -ENOMEM
        done.append(bar)
    return 0


def _undo(k: Kernel, pdev: int, bars: list[int]) -> None:
    table = _table(k, pdev)
    for bar in reversed(bars):
        if table:
            k.memory.write_u32(table + 4 * bar, 0)
        pci_release_region(k, pdev, bar)


@service("int pcim_iomap_regions_request_all(struct pci_dev *pdev, int mask, const char *name)")
def pcim_iomap_regions_request_all(k: Kernel, pdev: int, mask: int, name: int) -> int:
    """Request every BAR, map those in ``mask``."""
    requested = []
    for bar in range(PCI_STD_NUM_BARS):
        if mask >> bar & 1 or _bar_resource(k, pdev, bar) is None:
            continue
        result = pci_request_region(k, pdev, bar, name)
        if result:
            for taken in requested:
                pci_release_region(k, pdev, taken)
            return result
        requested.append(bar)
    result = pcim_iomap_regions(k, pdev, mask, name)
    if result:
        for taken in requested:
            pci_release_region(k, pdev, taken)
    return result


@service("void pcim_iounmap_regions(struct pci_dev *pdev, int mask)")
def pcim_iounmap_regions(k: Kernel, pdev: int, mask: int) -> None:
    """Unmap and release each BAR in ``mask``."""
    table = _table(k, pdev)
    for bar in range(PCIM_IOMAP_MAX):
        if mask >> bar & 1:
            if table:
                k.memory.write_u32(table + 4 * bar, 0)
            pci_release_region(k, pdev, bar)


@service("int pcim_set_mwi(struct pci_dev *dev)")
def pcim_set_mwi(k: Kernel, pdev: int) -> int:
    """pci_set_mwi on a managed device (cleared again at unbind)."""
    from .pci_state import pci_set_mwi

    return pci_set_mwi(k, pdev)
