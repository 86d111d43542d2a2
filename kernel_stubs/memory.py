"""kmalloc and friends: the kernel heap as drivers see it.

The records live in the engine's :class:`sandbox.services.heap.Heap`: every
block knows who allocated it (the calling module and call site), so an
unload reports leaks by module and a bad kfree names both sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service
from sandbox.services.heap import MAX_ALLOCATION as KMALLOC_MAX_SIZE
from sandbox.services.heap import ZERO_SIZE_PTR, Block, Heap

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# The engine's heap is the slab: older code (and the linux profile) names it so.
Slab = Heap

__all__ = ["KMALLOC_MAX_SIZE", "ZERO_SIZE_PTR", "Block", "Slab", "allocate", "release"]


def allocate(k: Kernel, size: int, owner: str | None = None) -> int:
    """Allocate a zeroed block for the calling module; 0 when impossible.

    ``owner="kernel"`` is for memory the kernel allocates on a module's
    behalf and frees itself (pernet data): it is not the module's to leak.
    ``k`` is a service context or a Kernel.
    """
    return k.subsystem(Heap).alloc(k, size, owner)


def release(k: Kernel, address: int) -> None:
    """Free a block, refusing double and invalid frees the way KASAN reports them."""
    k.subsystem(Heap).free(k, address)


@service("void *kmalloc(size_t size, gfp_t flags)")
def kmalloc(k: Kernel, size: int, flags: int) -> int:
    """Allocate ``size`` bytes; NULL when too large."""
    return allocate(k, size)


@service("void *kzalloc(size_t size, gfp_t flags)")
def kzalloc(k: Kernel, size: int, flags: int) -> int:
    """Allocate ``size`` zeroed bytes."""
    return allocate(k, size)


@service("void *kcalloc(size_t n, size_t size, gfp_t flags)")
def kcalloc(k: Kernel, n: int, size: int, flags: int) -> int:
    """Allocate an array of ``n`` zeroed elements; NULL if n*size overflows."""
    total = n * size
    return 0 if total > 0xFFFFFFFF else allocate(k, total)


@service("void *krealloc(const void *p, size_t new_size, gfp_t flags)")
def krealloc(k: Kernel, p: int, new_size: int, flags: int) -> int:
    """Resize a block, keeping its contents; the old block is freed."""
    if new_size == 0:
        release(k, p)
        return ZERO_SIZE_PTR
    old = k.subsystem(Slab).live.get(p) if p not in (0, ZERO_SIZE_PTR) else None
    if p not in (0, ZERO_SIZE_PTR) and old is None:
        release(k, p)  # reports the invalid pointer
    new = allocate(k, new_size)
    if new and old is not None:
        k.memory.write(new, k.memory.read(p, min(old.size, new_size)))
        release(k, p)
    return new


@service("void kfree(const void *p)")
def kfree(k: Kernel, p: int) -> None:
    """Free a kmalloc'd block (NULL is fine; anything else not allocated faults)."""
    release(k, p)


@service("size_t ksize(const void *p)")
def ksize(k: Kernel, p: int) -> int:
    """Usable size of a block (0 for NULL)."""
    block = k.subsystem(Slab).live.get(p)
    return block.size if block is not None else 0
