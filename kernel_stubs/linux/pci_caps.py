"""The rest of the PCI core ``virtio_pci.ko`` reaches for: capability walks, selected regions, SR-IOV, affinity.

- ``pci_find_next_capability(dev, pos, cap)`` continues a walk of the
  capability list after the one at ``pos`` (vendor-specific capabilities
  come several to a device); ``pci_find_ext_capability`` finds nothing,
  as the emulated functions have only the 256-byte conventional space.
- ``pci_request_selected_regions(dev, bars, name)`` claims the BARs in the
  ``bars`` mask (all or none), ``pci_release_selected_regions`` gives them
  back.
- ``pci_device_is_present``: the vendor id does not read all ones.
- SR-IOV: no function here has the capability, so enabling virtual
  functions is -ENOSYS (``!dev->is_physfn``), none are assigned.
- IRQ affinity: one CPU; an INTx or MSI line's affinity is the possible
  mask, and applying a hint has nothing to move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.pci import VENDOR_ID
from sandbox.services import service

from .pci import PCI_STD_NUM_BARS, PciCore, pci_release_region, pci_request_region
from .pci_irq import walk_capabilities

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ENOSYS = 38


def _function(k: Kernel, pdev: int):  # type: ignore[no-untyped-def]
    record = k.subsystem(PciCore).devices.get(pdev)
    return record.function if record is not None else None


@service("u8 pci_find_next_capability(struct pci_dev *dev, u8 pos, int cap)")
def pci_find_next_capability(k: Kernel, pdev: int, pos: int, cap: int) -> int:
    """The next capability ``cap`` after the one at ``pos``, or 0."""
    function = _function(k, pdev)
    return walk_capabilities(function, pos + 1, cap) if function is not None else 0


@service("u16 pci_find_ext_capability(struct pci_dev *dev, int cap)")
def pci_find_ext_capability(k: Kernel, pdev: int, cap: int) -> int:
    """No extended configuration space (cfg_size 256): 0."""
    return 0


@service("int pci_request_selected_regions(struct pci_dev *pdev, int bars, const char *res_name)")
def pci_request_selected_regions(k: Kernel, pdev: int, bars: int, name: int) -> int:
    """Claim every BAR in the mask; on failure the ones claimed are given back (-EBUSY)."""
    taken = []
    for bar in range(PCI_STD_NUM_BARS):
        if bars >> bar & 1:
            result = pci_request_region(k, pdev, bar, name)
            if result:
                for done in taken:
                    pci_release_region(k, pdev, done)
                return result
            taken.append(bar)
    return 0


@service("void pci_release_selected_regions(struct pci_dev *pdev, int bars)")
def pci_release_selected_regions(k: Kernel, pdev: int, bars: int) -> None:
    """Give back the BARs in the mask."""
    for bar in range(PCI_STD_NUM_BARS):
        if bars >> bar & 1:
            pci_release_region(k, pdev, bar)


@service("bool pci_device_is_present(struct pci_dev *pdev)")
def pci_device_is_present(k: Kernel, pdev: int) -> int:
    """Whether the function still answers configuration reads (not surprise-removed)."""
    function = _function(k, pdev)
    return int(function is not None and function.host is not None and function.config_read(VENDOR_ID, 2) != 0xFFFF)


@service("int pci_enable_sriov(struct pci_dev *dev, int nr_virtfn)")
def pci_enable_sriov(k: Kernel, pdev: int, nr_virtfn: int) -> int:
    """No SR-IOV capability: -ENOSYS."""
    return -ENOSYS


@service("void pci_disable_sriov(struct pci_dev *dev)")
def pci_disable_sriov(k: Kernel, pdev: int) -> None:
    """No virtual functions to remove."""


@service("int pci_vfs_assigned(struct pci_dev *dev)")
def pci_vfs_assigned(k: Kernel, pdev: int) -> int:
    """No virtual functions: 0 assigned."""
    return 0


@service("const struct cpumask *pci_irq_get_affinity(struct pci_dev *dev, int nr)")
def pci_irq_get_affinity(k: Kernel, pdev: int, nr: int) -> int:
    """One CPU: the possible mask for the device's only vector; NULL for a vector it does not have."""
    return (k.export_address("__cpu_possible_mask") or 0) if nr == 0 else 0


@service("int __irq_apply_affinity_hint(unsigned int irq, const struct cpumask *m, bool setaffinity)")
def __irq_apply_affinity_hint(k: Kernel, irq: int, m: int, setaffinity: int) -> int:
    """One CPU: nothing to move (0), -EINVAL for a line no handler holds."""
    return 0 if k.irqs.actions(irq) or not setaffinity else -22
