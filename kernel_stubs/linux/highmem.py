"""The highmem mapping calls modules inline for kmap_local/kmap_atomic (Linux 6.1 i386, non-PAE).

Every kernel address here is lowmem, so ``kmap_local_page`` of any page is
its ``page_address`` and unmapping has nothing to undo: Linux's
``kunmap_local_indexed`` of an address outside the fixmap only returns.
``__default_kernel_pte_mask`` is the mask the inline ``kmap_prot``
(PAGE_KERNEL) applies: every bit allowed, the CPU has PGE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

default_kernel_pte_mask = kernel_variable("__default_kernel_pte_mask", 4, 0xFFFFFFFF)


@service("void kunmap_local_indexed(const void *vaddr)")
def kunmap_local_indexed(k: Kernel, vaddr: int) -> None:
    """kunmap_local/kunmap_atomic: a lowmem mapping stays; a user address is a driver bug."""
    if vaddr < amap.TASK_SIZE:
        raise GuestFault("bad-page", f"kunmap_local of {vaddr:#x} from {k.call_site()}: not a kernel mapping",
                         address=vaddr)
