"""ioremap: the address at which a driver reaches a device's MMIO window.

The sandbox maps each window at its physical address (see
``Kernel.mmio``), so ioremap is the identity on a mapped window and NULL
(traced) for an address no device answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("void __iomem *ioremap(unsigned long phys_addr, unsigned long size)")
def ioremap(k: Kernel, phys_addr: int, size: int) -> int:
    """``phys_addr`` if [phys_addr, phys_addr+size) lies in one MMIO window, else NULL."""
    window = k.mmio.window_at(phys_addr)
    if window is None or phys_addr + max(size, 1) > window.base + window.size:
        if k.current_event is not None:
            k.current_event.fields["warning"] = f"no MMIO window covers {phys_addr:#x}+{size:#x}"
        return 0
    return phys_addr


@service("void iounmap(volatile void __iomem *addr)")
def iounmap(k: Kernel, addr: int) -> None:
    """Nothing to undo: windows stay mapped while their device is attached."""
