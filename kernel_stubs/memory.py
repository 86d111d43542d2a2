"""kmalloc and friends: the kernel heap as drivers see it.

Every block records who allocated it (the calling module and call site), so
an unload can report leaks by module and a bad kfree names both sites.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

ZERO_SIZE_PTR = 0x10  # what Linux returns for kmalloc(0): non-NULL, faults on use
KMALLOC_MAX_SIZE = 4 << 20
_FREED_REMEMBERED = 4096


@dataclass(slots=True)
class Block:
    """A live allocation."""

    address: int
    size: int
    site: int  # return address of the kmalloc call
    owner: str


class Slab:
    """Per-kernel allocation records."""

    def __init__(self) -> None:
        self.live: dict[int, Block] = {}
        # Recently freed addresses -> the kfree call site, to tell a double
        # free from a free of garbage.
        self.freed: OrderedDict[int, int] = OrderedDict()

    def clone(self) -> Slab:
        """A copy for snapshots (Block records are never mutated, so they are shared)."""
        twin = Slab()
        twin.live = dict(self.live)
        twin.freed = OrderedDict(self.freed)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Free the module's remaining blocks and describe them as leaks."""
        leaks = []
        for block in [b for b in self.live.values() if b.owner == module.name]:
            leaks.append(
                f"{block.size} bytes at {block.address:#x} allocated at {k.symbolizer.short(block.site)} not freed"
            )
            self.live.pop(block.address)
            try:
                k.memory.free(block.address)
            except GuestFault as fault:  # the leaked block was also corrupted: say so, keep unloading
                leaks.append(str(fault))
            _trace_heap(k, "free", block.address, block.size, block.site, leaked=True)
        return leaks


def _trace_heap(k: Kernel, kind: str, address: int, size: int, site: int, **extra: object) -> None:
    """An ``alloc``/``free`` event nested like the service call that made it."""
    call = k.current_event
    k.trace.add(
        kind, call.name if call is not None else kind, caller=site,
        depth=call.depth if call is not None else 0, context=call.context if call is not None else "task",
        fields={"size": size, "address": address, "site": site, **extra},
    )


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def allocate(k: Kernel, size: int, owner: str | None = None) -> int:
    """Allocate a zeroed block for the calling module; 0 when impossible.

    ``owner="kernel"`` is for memory the kernel allocates on a module's
    behalf and frees itself (pernet data): it is not the module's to leak.
    """
    if size == 0:
        return ZERO_SIZE_PTR
    if size > KMALLOC_MAX_SIZE:
        return 0
    address = k.memory.alloc(size, k.current_caller)
    if address:
        slab = k.subsystem(Slab)
        slab.live[address] = Block(address, size, k.current_caller, owner or _owner(k))
        slab.freed.pop(address, None)
        _trace_heap(k, "alloc", address, size, k.current_caller)
    return address


def release(k: Kernel, address: int) -> None:
    """Free a block, refusing double and invalid frees the way KASAN reports them."""
    if address in (0, ZERO_SIZE_PTR):
        return
    slab = k.subsystem(Slab)
    block = slab.live.pop(address, None)
    if block is None:
        caller = k.symbolizer.short(k.current_caller)
        if address in slab.freed:
            raise GuestFault(
                "double-free",
                f"double free of {address:#x} at {caller}; first freed at {k.symbolizer.short(slab.freed[address])}",
                pc=k.current_caller, address=address,
            )
        raise GuestFault(
            "invalid-free", f"kfree of {address:#x} at {caller}: not a kmalloc'd block ({k.describe_address(address)})",
            pc=k.current_caller, address=address,
        )
    k.memory.free(address, k.current_caller)
    _trace_heap(k, "free", address, block.size, k.current_caller)
    slab.freed[address] = k.current_caller
    if len(slab.freed) > _FREED_REMEMBERED:
        slab.freed.popitem(last=False)


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
