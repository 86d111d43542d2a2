"""The service heap: guest memory handed out to modules, owned and leak-checked.

Every block records who asked for it (the calling module and the call site),
so when a module unloads, what it still holds is freed and reported as a
leak, and a bad free names both the free and the allocation site. A double
free and a free of something never allocated raise a GuestFault the way
KASAN reports them (kinds ``double-free`` and ``invalid-free``).

Services use it through their context::

    @service("void *myos_alloc(size_t size)")
    def myos_alloc(ctx, size):
        return ctx.heap.alloc(ctx, size)      # or ctx.alloc(size)

The blocks come from the machine's allocator (``Kernel(memcheck=True)``
gives them red zones); this class only keeps the records.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GuestFault
from .subsystem import Subsystem

if TYPE_CHECKING:
    from ..module import Module
    from .context import ServiceContext

__all__ = ["KERNEL_OWNER", "MAX_ALLOCATION", "ZERO_SIZE_PTR", "Block", "Heap"]

# What a zero-byte allocation returns: non-NULL, and any use of it faults
# (Linux's ZERO_SIZE_PTR; the NULL page is never mapped).
ZERO_SIZE_PTR = 0x10
# Larger requests fail with NULL (Linux's KMALLOC_MAX_SIZE on i386).
MAX_ALLOCATION = 4 << 20
# The owner of memory the kernel allocates on a module's behalf and frees
# itself: never reported as the module's leak.
KERNEL_OWNER = "kernel"
_FREED_REMEMBERED = 4096


@dataclass(slots=True)
class Block:
    """A live allocation: where, how big, the call site and the owning module."""

    address: int
    size: int
    site: int  # return address of the allocating call
    owner: str  # module name, or KERNEL_OWNER


class Heap(Subsystem):
    """Per-kernel allocation records (a subsystem: ``ctx.heap`` is this kernel's one)."""

    # The name the fault messages give the free function ("kfree of ...").
    free_name = "kfree"

    def __init__(self) -> None:
        self.live: dict[int, Block] = {}
        # Recently freed addresses -> the free call site, to tell a double
        # free from a free of garbage.
        self.freed: OrderedDict[int, int] = OrderedDict()

    def clone(self) -> Heap:
        """A copy for snapshots (Block records are never mutated, so they are shared)."""
        twin = type(self)()
        twin.live = dict(self.live)
        twin.freed = OrderedDict(self.freed)
        return twin

    # ----------------------------------------------------------------- API
    def alloc(self, ctx: ServiceContext, size: int, owner: str | None = None) -> int:
        """A zeroed block of ``size`` bytes owned by the calling module; 0 when impossible.

        ``size == 0`` gives :data:`ZERO_SIZE_PTR`; more than
        :data:`MAX_ALLOCATION` gives 0. ``owner=KERNEL_OWNER`` marks memory
        the kernel frees itself (not the module's to leak).
        """
        if size == 0:
            return ZERO_SIZE_PTR
        if size > MAX_ALLOCATION:
            return 0
        site = ctx.current_caller
        address = ctx.memory.alloc(size, site)
        if address:
            if owner is None:
                module = ctx.caller_module()
                owner = module.name if module is not None else KERNEL_OWNER
            self.live[address] = Block(address, size, site, owner)
            self.freed.pop(address, None)
            _trace_heap(ctx, "alloc", address, size, site)
        return address

    def free(self, ctx: ServiceContext, address: int) -> None:
        """Free a block (NULL and ZERO_SIZE_PTR are ignored).

        Raises GuestFault ``double-free`` (naming where it was first freed) or
        ``invalid-free`` (naming what lives at the address).
        """
        if address in (0, ZERO_SIZE_PTR):
            return
        site = ctx.current_caller
        block = self.live.pop(address, None)
        if block is None:
            caller = ctx.symbolizer.short(site)
            if address in self.freed:
                raise GuestFault(
                    "double-free",
                    f"double free of {address:#x} at {caller}; first freed at {ctx.symbolizer.short(self.freed[address])}",
                    pc=site, address=address,
                )
            raise GuestFault(
                "invalid-free",
                f"{self.free_name} of {address:#x} at {caller}: not an allocated block ({ctx.describe_address(address)})",
                pc=site, address=address,
            )
        ctx.memory.free(address, site)
        _trace_heap(ctx, "free", address, block.size, site)
        self.freed[address] = site
        if len(self.freed) > _FREED_REMEMBERED:
            self.freed.popitem(last=False)

    def block(self, address: int) -> Block | None:
        """The live block starting at ``address``, or None."""
        return self.live.get(address)

    def size_of(self, address: int) -> int:
        """Size of the live block at ``address`` (0 if none)."""
        block = self.live.get(address)
        return block.size if block is not None else 0

    def owned_by(self, owner: str) -> list[Block]:
        """The live blocks ``owner`` (a module name) holds, in allocation order."""
        return [b for b in self.live.values() if b.owner == owner]

    # ------------------------------------------------------------ protocol
    def release_module(self, ctx: ServiceContext, module: Module) -> list[str]:
        """Free the module's remaining blocks and describe each as a leak."""
        leaks = []
        for block in self.owned_by(module.name):
            leaks.append(
                f"{block.size} bytes at {block.address:#x} allocated at {ctx.symbolizer.short(block.site)} not freed"
            )
            self.live.pop(block.address)
            try:
                ctx.memory.free(block.address)
            except GuestFault as fault:  # the leaked block was also corrupted: say so, keep unloading
                leaks.append(str(fault))
            _trace_heap(ctx, "free", block.address, block.size, block.site, leaked=True)
        return leaks


def _trace_heap(ctx: Any, kind: str, address: int, size: int, site: int, **extra: object) -> None:
    """An ``alloc``/``free`` event nested like the service call that made it."""
    call = ctx.current_event
    ctx.trace.add(
        kind, call.name if call is not None else kind, caller=site,
        depth=call.depth if call is not None else 0, context=call.context if call is not None else "task",
        fields={"size": size, "address": address, "site": site, **extra},
    )
