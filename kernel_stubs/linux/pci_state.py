"""What a PCI driver does to its function besides enabling it: saved state, MWI, BAR selection, lookups.

- ``pci_save_state``/``pci_restore_state``: the 64-byte header (and the MSI
  capability) kept in the core, written back with the command register
  last, as drivers/pci/pci.c restores a function after a reset or resume;
  ``dev->state_saved`` says whether a saved copy exists.
- ``pci_set_mwi``/``pci_try_set_mwi``/``pci_clear_mwi``: Memory Write and
  Invalidate needs the cache line size register programmed with the
  CPU's line (64 bytes: 16 dwords); a function whose register does not
  keep the value gets Linux's "cache line size of N is not supported" and
  -EINVAL.
- ``pci_select_bars``: the mask of BARs whose resource has any of the flags.
- ``pci_ioremap_bar``: a memory BAR's MMIO mapping; an I/O BAR is refused
  with Linux's WARN text.
- ``pci_get_slot``/``pci_dev_get``: lookups on bus 0 and a reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.iomem import ioremap
from sandbox.devices.pci import CACHE_LINE_SIZE, COMMAND, COMMAND_INVALIDATE, MSI_CAP
from sandbox.services import service

from .layout import Fields
from .pci import PCI_STD_NUM_BARS, PciCore, PciDevice, _bar_resource
from .platform import IORESOURCE_MEM
from .registrations import EINVAL

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

HEADER_BYTES = 64
MSI_CAP_BYTES = 12  # id, next, flags, 32-bit address, data
CACHE_LINE_DWORDS = 64 // 4  # pci_cache_line_size: L1_CACHE_BYTES >> 2 on this CPU


@dataclass(slots=True)
class SavedPciStates:
    """Configuration saved by pci_save_state, by struct pci_dev."""

    states: dict[int, bytes] = field(default_factory=dict)


def _record(k: Kernel, pdev: int) -> PciDevice | None:
    return k.subsystem(PciCore).devices.get(pdev)


@service("int pci_save_state(struct pci_dev *dev)")
def pci_save_state(k: Kernel, pdev: int) -> int:
    """Keep the header and the MSI capability; ``dev->state_saved`` = 1."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    config = record.function.config
    k.subsystem(SavedPciStates).states[pdev] = bytes(config[:HEADER_BYTES]) + bytes(
        config[MSI_CAP:MSI_CAP + MSI_CAP_BYTES])
    Fields(k.memory, "pci_dev", pdev)["state_saved"] = 1
    return 0


@service("void pci_restore_state(struct pci_dev *dev)")
def pci_restore_state(k: Kernel, pdev: int) -> None:
    """Write the saved configuration back, the command register last; nothing if none was saved."""
    record = _record(k, pdev)
    fields = Fields(k.memory, "pci_dev", pdev)
    saved = k.subsystem(SavedPciStates).states.get(pdev)
    if record is None or saved is None or not fields["state_saved"]:
        return
    function = record.function
    header, msi = saved[:HEADER_BYTES], saved[HEADER_BYTES:]
    for where in range(HEADER_BYTES - 4, COMMAND, -4):  # pci_restore_config_space: high to low
        function.config_write(where, 4, int.from_bytes(header[where:where + 4], "little"))
    if function.msi_vectors:
        for where in range(0, MSI_CAP_BYTES, 4):
            function.config_write(MSI_CAP + where, 4, int.from_bytes(msi[where:where + 4], "little"))
    function.config_write(COMMAND, 2, int.from_bytes(header[COMMAND:COMMAND + 2], "little"))
    fields["state_saved"] = 0


def _set_cache_line(k: Kernel, record: PciDevice) -> int:
    function = record.function
    if function.config_read(CACHE_LINE_SIZE, 1) == CACHE_LINE_DWORDS:
        return 0
    function.config_write(CACHE_LINE_SIZE, 1, CACHE_LINE_DWORDS)
    if function.config_read(CACHE_LINE_SIZE, 1) == CACHE_LINE_DWORDS:
        return 0
    k.console_write(f"pci {record.name}: cache line size of {CACHE_LINE_DWORDS * 4} is not supported\n", 6)
    return -EINVAL


@service("int pci_set_mwi(struct pci_dev *dev)")
def pci_set_mwi(k: Kernel, pdev: int) -> int:
    """Program the cache line size, then set Memory Write and Invalidate in the command register."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    result = _set_cache_line(k, record)
    if result:
        return result
    function = record.function
    command = function.config_read(COMMAND, 2)
    if not command & COMMAND_INVALIDATE:
        function.config_write(COMMAND, 2, command | COMMAND_INVALIDATE)
    return 0


@service("int pci_try_set_mwi(struct pci_dev *dev)")
def pci_try_set_mwi(k: Kernel, pdev: int) -> int:
    """pci_set_mwi, for drivers that may go on without it."""
    return pci_set_mwi(k, pdev)


@service("void pci_clear_mwi(struct pci_dev *dev)")
def pci_clear_mwi(k: Kernel, pdev: int) -> None:
    """Clear Memory Write and Invalidate."""
    record = _record(k, pdev)
    if record is not None:
        function = record.function
        function.config_write(COMMAND, 2, function.config_read(COMMAND, 2) & ~COMMAND_INVALIDATE)


@service("int pci_select_bars(struct pci_dev *dev, unsigned long flags)")
def pci_select_bars(k: Kernel, pdev: int, flags: int) -> int:
    """Bit n set for each BAR n whose resource has any of ``flags`` (IORESOURCE_MEM, IORESOURCE_IO)."""
    mask = 0
    for bar in range(PCI_STD_NUM_BARS):
        res = _bar_resource(k, pdev, bar)
        if res is not None and res["flags"] & flags:
            mask |= 1 << bar
    return mask


@service("void __iomem *pci_ioremap_bar(struct pci_dev *pdev, int bar)")
def pci_ioremap_bar(k: Kernel, pdev: int, bar: int) -> int:
    """ioremap of a memory BAR's whole range; NULL (with Linux's WARN) for an I/O or absent BAR."""
    res = _bar_resource(k, pdev, bar)
    if res is None or not res["flags"] & IORESOURCE_MEM:
        record = _record(k, pdev)
        k.warn(f"pci {record.name if record else hex(pdev)}: pci_ioremap_bar of BAR {bar}, not a memory BAR "
               "(WARN_ON(!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM)))")
        return 0
    return ioremap(k, res["start"], res["end"] - res["start"] + 1)


@service("struct pci_dev *pci_get_slot(struct pci_bus *bus, unsigned int devfn)")
def pci_get_slot(k: Kernel, bus: int, devfn: int) -> int:
    """The function at ``devfn`` on ``bus`` (bus 0 here), or NULL."""
    core = k.subsystem(PciCore)
    if not bus or bus != core.root_bus:
        return 0
    wanted = (0, devfn >> 3 & 0x1F, devfn & 7)
    return next((r.pdev for r in core.devices.values() if r.slot == wanted), 0)


@service("struct pci_dev *pci_dev_get(struct pci_dev *dev)")
def pci_dev_get(k: Kernel, pdev: int) -> int:
    """Take a reference on ``dev`` (its device's kobject count); returns ``dev``."""
    if pdev:
        fields = Fields(k.memory, "pci_dev", pdev)
        fields["dev.kobj.kref"] = fields["dev.kobj.kref"] + 1
    return pdev
