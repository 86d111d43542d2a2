"""A PCI device's interrupts as Linux 6.1 gives them to drivers: INTx, MSI, IRQ vectors.

``pci_alloc_irq_vectors(_affinity)`` tries MSI-X, then MSI, then the legacy
INTx line, as the flags allow (drivers/pci/msi/api.c). MSI here is the
function's MSI capability (:class:`sandbox.devices.pci.PciFunction` with
``msi_vectors``): the core takes a naturally aligned block of free
interrupt lines from 32 up (Linux allocates one irq per vector, and a
multi-message block is aligned because the device ORs the vector into the
data's low bits), programs the capability's address (the local APIC
window, 0xFEE00000) and data (the first line: this machine's interrupt
controller delivers an MSI's vector as that line), sets Multiple Message
Enable and the enable bit, and turns INTx off in the command register, as
``pci_intx_for_msi`` does. ``dev->irq`` then holds the first MSI line and
``dev->msi_enabled`` is set; freeing the vectors gives INTx back. The
functions modelled have no MSI-X capability, so MSI-X requests get what
Linux gives a device without one (-EINVAL from ``pci_enable_msix_range``,
fall-through in ``pci_alloc_irq_vectors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.pci import (
    CAPABILITY_LIST,
    COMMAND,
    COMMAND_INTX_DISABLE,
    MSI_ADDRESS,
    MSI_DATA,
    MSI_FLAGS,
    MSI_FLAGS_ENABLE,
    MSI_FLAGS_QSIZE,
    STATUS,
    STATUS_CAP_LIST,
    PciFunction,
)
from sandbox.services import service

from .layout import Fields
from .pci import PciCore, PciDevice
from .pci_managed import add_release, managed
from .registrations import EINVAL

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

PCI_IRQ_LEGACY, PCI_IRQ_MSI, PCI_IRQ_MSIX = 1, 2, 4
ENOSPC, ERANGE = 28, 34
MSI_ADDRESS_BASE = 0xFEE00000
FIRST_MSI_LINE, LAST_MSI_LINE = 32, 255  # below: the PC's legacy and I/O APIC lines
MAX_CAPABILITIES = 48  # as Linux's PCI_FIND_CAP_TTL: a looping list ends


@dataclass(slots=True)
class MsiBlock:
    """The MSI lines one device holds."""

    first: int
    count: int


@dataclass(slots=True)
class MsiLines:
    """Which interrupt lines MSI vectors occupy, by struct pci_dev."""

    blocks: dict[int, MsiBlock] = field(default_factory=dict)

    def take(self, k: Kernel, count: int) -> int | None:
        """The first line of a free, ``count``-aligned block of lines; None if none is free."""
        used = {line for b in self.blocks.values() for line in range(b.first, b.first + b.count)}
        used |= set(k.irqs.lines)
        start = (FIRST_MSI_LINE + count - 1) & ~(count - 1)
        for first in range(start, LAST_MSI_LINE + 2 - count, count):
            if not used.intersection(range(first, first + count)):
                return first
        return None


def _record(k: Kernel, pdev: int) -> PciDevice | None:
    return k.subsystem(PciCore).devices.get(pdev)


def walk_capabilities(function: PciFunction, position: int, cap: int) -> int:
    """From the list pointer at ``position`` on, the offset of capability ``cap``, or 0
    (__pci_find_next_cap_ttl: a looping list ends after MAX_CAPABILITIES steps)."""
    position = function.config_read(position, 1) & ~3
    for _ in range(MAX_CAPABILITIES):
        if position < 0x40:
            return 0
        if function.config_read(position, 1) == cap:
            return position
        position = function.config_read(position + 1, 1) & ~3
    return 0


def find_capability(k: Kernel, record: PciDevice, cap: int) -> int:
    """The config offset of capability ``cap`` in the function's list, or 0 (pci_find_capability)."""
    if not record.function.config_read(STATUS, 2) & STATUS_CAP_LIST:
        return 0
    return walk_capabilities(record.function, CAPABILITY_LIST, cap)


@service("u8 pci_find_capability(struct pci_dev *dev, int cap)")
def pci_find_capability(k: Kernel, pdev: int, cap: int) -> int:
    """Walk the capability list from CAPABILITY_LIST; the offset of ``cap``, or 0."""
    record = _record(k, pdev)
    return find_capability(k, record, cap & 0xFF) if record is not None else 0


def _set_intx(record: PciDevice, enable: bool) -> None:
    function = record.function
    command = function.config_read(COMMAND, 2)
    wanted = command & ~COMMAND_INTX_DISABLE if enable else command | COMMAND_INTX_DISABLE
    if wanted != command:
        function.config_write(COMMAND, 2, wanted)


@service("void pci_intx(struct pci_dev *pdev, int enable)")
def pci_intx(k: Kernel, pdev: int, enable: int) -> None:
    """Clear (enable) or set (disable) the command register's Interrupt Disable bit."""
    record = _record(k, pdev)
    if record is not None:
        _set_intx(record, bool(enable))


def _enable_msi(k: Kernel, record: PciDevice, wanted_min: int, wanted_max: int) -> int:
    """Give the device 2^n MSI vectors, min <= 2^n <= max; the count, or -errno as __pci_enable_msi_range."""
    fields = Fields(k.memory, "pci_dev", record.pdev)
    if fields["msi_enabled"] or k.subsystem(MsiLines).blocks.get(record.pdev):
        k.warn(f"pci {record.name}: MSI already enabled (WARN_ON(dev->msi_enabled) in __pci_enable_msi_range)")
        return -EINVAL
    if not record.function.msi_vectors or not fields["msi_cap"]:
        return -EINVAL
    if wanted_max < wanted_min:
        return -ERANGE
    count = min(wanted_max, record.function.msi_vectors)
    count = 1 << (count.bit_length() - 1)  # a power of two
    if count < wanted_min:
        return -ENOSPC
    lines = k.subsystem(MsiLines)
    first = lines.take(k, count)
    if first is None:
        return -ENOSPC
    lines.blocks[record.pdev] = MsiBlock(first, count)
    function = record.function
    function.config_write(MSI_ADDRESS, 4, MSI_ADDRESS_BASE)
    function.config_write(MSI_DATA, 2, first)
    flags = function.config_read(MSI_FLAGS, 2) & ~MSI_FLAGS_QSIZE
    function.config_write(MSI_FLAGS, 2, flags | ((count.bit_length() - 1) << 4) | MSI_FLAGS_ENABLE)
    _set_intx(record, False)
    fields["msi_enabled"] = 1
    fields["irq"] = first
    if managed(k, record.pdev) is not None:  # pcim_setup_msi_release: a managed device's vectors go at unbind
        pdev = record.pdev
        add_release(k, pdev, "pcim-msi", lambda k: _release_vectors(k, pdev))
    k.trace.add("note", "msi", fields={"device": record.name, "first_irq": first, "vectors": count})
    return count


def _release_vectors(k: Kernel, pdev: int) -> None:
    record = _record(k, pdev)
    if record is not None:
        _disable_msi(k, record)


def _disable_msi(k: Kernel, record: PciDevice) -> None:
    block = k.subsystem(MsiLines).blocks.pop(record.pdev, None)
    if block is None:
        return
    for line in range(block.first, block.first + block.count):
        if k.irqs.lines.get(line):
            # Linux: free_msi_irqs() BUG()s on a vector whose handler is still requested.
            k.warn(f"pci {record.name}: MSI vectors freed with IRQ {line} still requested "
                   f"(call free_irq() before pci_free_irq_vectors())")
    function = record.function
    function.config_write(MSI_FLAGS, 2, function.config_read(MSI_FLAGS, 2) & ~(MSI_FLAGS_ENABLE | MSI_FLAGS_QSIZE))
    _set_intx(record, True)
    fields = Fields(k.memory, "pci_dev", record.pdev)
    fields["msi_enabled"] = 0
    fields["irq"] = function.irq or 0


@service("int pci_alloc_irq_vectors_affinity(struct pci_dev *dev, unsigned int min_vecs, unsigned int max_vecs, "
         "unsigned int flags, struct irq_affinity *affd)")
def pci_alloc_irq_vectors_affinity(k: Kernel, pdev: int, min_vecs: int, max_vecs: int, flags: int,
                                   affd: int) -> int:
    """MSI-X (absent here), then MSI, then INTx as ``flags`` allow; how many vectors, or -ENOSPC/-EINVAL."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    result = -ENOSPC
    if flags & PCI_IRQ_MSI:
        result = _enable_msi(k, record, min_vecs, max_vecs)
        if result > 0:
            return result
    if flags & PCI_IRQ_LEGACY and min_vecs == 1 and Fields(k.memory, "pci_dev", pdev)["irq"]:
        return 1
    return result


@service("int pci_alloc_irq_vectors(struct pci_dev *dev, unsigned int min_vecs, unsigned int max_vecs, "
         "unsigned int flags)")
def pci_alloc_irq_vectors(k: Kernel, pdev: int, min_vecs: int, max_vecs: int, flags: int) -> int:
    """pci_alloc_irq_vectors_affinity without an affinity descriptor."""
    return pci_alloc_irq_vectors_affinity(k, pdev, min_vecs, max_vecs, flags, 0)


@service("int pci_irq_vector(struct pci_dev *dev, unsigned int nr)")
def pci_irq_vector(k: Kernel, pdev: int, nr: int) -> int:
    """The Linux IRQ of vector ``nr``: an MSI line, or (nr 0) the INTx line; else -EINVAL."""
    block = k.subsystem(MsiLines).blocks.get(pdev)
    if block is not None:
        return block.first + nr if nr < block.count else -EINVAL
    return Fields(k.memory, "pci_dev", pdev)["irq"] if nr == 0 else -EINVAL


@service("void pci_free_irq_vectors(struct pci_dev *dev)")
def pci_free_irq_vectors(k: Kernel, pdev: int) -> None:
    """Give back MSI vectors (INTx comes back on)."""
    record = _record(k, pdev)
    if record is not None:
        _disable_msi(k, record)


@service("int pci_enable_msi(struct pci_dev *dev)")
def pci_enable_msi(k: Kernel, pdev: int) -> int:
    """One MSI vector: 0 and ``dev->irq`` is the MSI line, else -errno."""
    record = _record(k, pdev)
    if record is None:
        return -EINVAL
    result = _enable_msi(k, record, 1, 1)
    return 0 if result > 0 else result


@service("void pci_disable_msi(struct pci_dev *dev)")
def pci_disable_msi(k: Kernel, pdev: int) -> None:
    """Back to INTx; ``dev->irq`` is the pin's line again."""
    pci_free_irq_vectors(k, pdev)


@service("int pci_enable_msix_range(struct pci_dev *dev, struct msix_entry *entries, int minvec, int maxvec)")
def pci_enable_msix_range(k: Kernel, pdev: int, entries: int, minvec: int, maxvec: int) -> int:
    """-EINVAL: no modelled function has an MSI-X capability (``dev->msix_cap`` is 0)."""
    return -EINVAL


@service("int pci_msi_enabled(void)")
def pci_msi_enabled(k: Kernel) -> int:
    """MSI is not disabled on the command line."""
    return 1

