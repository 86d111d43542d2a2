"""kernel/notifier.c as Linux 6.1 exports it: blocking, atomic and raw notifier chains.

A chain is the module's ``*_notifier_head`` (generated layout: for the
blocking kind an rw_semaphore then ``head``) holding a singly linked list
of ``struct notifier_block`` (notifier_call, next, priority) in guest
memory, sorted by descending priority, a new block after those of equal
priority — what ``notifier_chain_register`` builds, so a module walking
the chain inline sees Linux's order. ``*_call_chain`` calls each block's
``notifier_call(nb, action, data)`` until one returns with NOTIFY_STOP_MASK.

The kernel's PM chain is a head in kernel data: it runs only around a
system sleep, which never comes, so a block registered there just waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service

from .layout import offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EEXIST, ENOENT = 17, 2
NOTIFY_DONE, NOTIFY_STOP_MASK = 0, 0x8000
NB_CALL, NB_NEXT, NB_PRIORITY = (offset("notifier_block", f) for f in ("notifier_call", "next", "priority"))
MAX_CHAIN = 100_000


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def chain_register(k: Kernel, head_ptr: int, nb: int, unique: bool = False) -> int:
    """notifier_chain_register(): insert by priority (after equal ones); -EEXIST if already there."""
    priority = _signed(k.memory.read_u32(nb + NB_PRIORITY))
    link = head_ptr
    for _ in range(MAX_CHAIN):
        node = k.memory.read_u32(link)
        if not node:
            break
        if node == nb:
            k.warn(f"notifier callback {k.symbolizer.short(k.memory.read_u32(nb + NB_CALL))} already registered")
            return -EEXIST
        if priority > _signed(k.memory.read_u32(node + NB_PRIORITY)):
            break
        link = node + NB_NEXT
    else:
        raise _cyclic(k, head_ptr)
    k.memory.write_u32(nb + NB_NEXT, k.memory.read_u32(link))
    k.memory.write_u32(link, nb)
    return 0


def chain_unregister(k: Kernel, head_ptr: int, nb: int) -> int:
    """notifier_chain_unregister(): 0, or -ENOENT if ``nb`` is not on the chain."""
    link = head_ptr
    for _ in range(MAX_CHAIN):
        node = k.memory.read_u32(link)
        if not node:
            return -ENOENT
        if node == nb:
            k.memory.write_u32(link, k.memory.read_u32(nb + NB_NEXT))
            return 0
        link = node + NB_NEXT
    raise _cyclic(k, head_ptr)


def call_chain(k: Kernel, head_ptr: int, action: int, data: int) -> int:
    """notifier_call_chain(): each block in order until one returns with NOTIFY_STOP_MASK; the last result."""
    ret = NOTIFY_DONE
    node = k.memory.read_u32(head_ptr)
    for _ in range(MAX_CHAIN):
        if not node:
            return ret
        following = k.memory.read_u32(node + NB_NEXT)  # the callback may unregister itself
        ret = _signed(k.call_function_pointer(k.memory.read_u32(node + NB_CALL), node, action, data))
        if ret & NOTIFY_STOP_MASK:
            return ret
        node = following
    raise _cyclic(k, head_ptr)


def _cyclic(k: Kernel, head: int) -> GuestFault:
    return GuestFault("list-corrupt", f"notifier chain {k.symbolizer.short(head)} at "
                      f"{k.symbolizer.short(k.current_caller)} has more than {MAX_CHAIN} blocks: it is cyclic",
                      pc=k.current_caller, address=head)


BLOCKING_HEAD = offset("blocking_notifier_head", "head")
ATOMIC_HEAD = offset("atomic_notifier_head", "head")
RAW_HEAD = offset("raw_notifier_head", "head")


@service("int blocking_notifier_chain_register(struct blocking_notifier_head *nh, struct notifier_block *nb)")
def blocking_notifier_chain_register(k: Kernel, nh: int, nb: int) -> int:
    """Add ``nb`` to a blocking chain: 0 or -EEXIST."""
    return chain_register(k, nh + BLOCKING_HEAD, nb)


@service("int blocking_notifier_chain_unregister(struct blocking_notifier_head *nh, struct notifier_block *nb)")
def blocking_notifier_chain_unregister(k: Kernel, nh: int, nb: int) -> int:
    """Remove ``nb``: 0 or -ENOENT."""
    return chain_unregister(k, nh + BLOCKING_HEAD, nb)


@service("int blocking_notifier_call_chain(struct blocking_notifier_head *nh, unsigned long val, void *v)")
def blocking_notifier_call_chain(k: Kernel, nh: int, val: int, v: int) -> int:
    """Call the chain (in task context): the last callback's result."""
    return call_chain(k, nh + BLOCKING_HEAD, val, v)


@service("int atomic_notifier_chain_register(struct atomic_notifier_head *nh, struct notifier_block *nb)")
def atomic_notifier_chain_register(k: Kernel, nh: int, nb: int) -> int:
    """Add ``nb`` to an atomic chain: 0 or -EEXIST."""
    if nh == k.export_address("panic_notifier_list"):
        _track(k)  # a block a module leaves on the kernel's panic chain is reported at its unload
    return chain_register(k, nh + ATOMIC_HEAD, nb)


@service("int atomic_notifier_chain_unregister(struct atomic_notifier_head *nh, struct notifier_block *nb)")
def atomic_notifier_chain_unregister(k: Kernel, nh: int, nb: int) -> int:
    """Remove ``nb``: 0 or -ENOENT."""
    return chain_unregister(k, nh + ATOMIC_HEAD, nb)


@service("int atomic_notifier_call_chain(struct atomic_notifier_head *nh, unsigned long val, void *v)")
def atomic_notifier_call_chain(k: Kernel, nh: int, val: int, v: int) -> int:
    """Call the chain: the last callback's result."""
    return call_chain(k, nh + ATOMIC_HEAD, val, v)


@service("int raw_notifier_chain_register(struct raw_notifier_head *nh, struct notifier_block *nb)")
def raw_notifier_chain_register(k: Kernel, nh: int, nb: int) -> int:
    """Add ``nb`` to a raw chain (the caller locks): 0 or -EEXIST."""
    return chain_register(k, nh + RAW_HEAD, nb)


@service("int raw_notifier_chain_unregister(struct raw_notifier_head *nh, struct notifier_block *nb)")
def raw_notifier_chain_unregister(k: Kernel, nh: int, nb: int) -> int:
    """Remove ``nb``: 0 or -ENOENT."""
    return chain_unregister(k, nh + RAW_HEAD, nb)


@service("int raw_notifier_call_chain(struct raw_notifier_head *nh, unsigned long val, void *v)")
def raw_notifier_call_chain(k: Kernel, nh: int, val: int, v: int) -> int:
    """Call the chain: the last callback's result."""
    return call_chain(k, nh + RAW_HEAD, val, v)


# The kernel's PM chain modules register with (kernel/power/main.c); the reboot chain is in extensions.py.
pm_chain_head = kernel_variable("pm_chain_head", size("blocking_notifier_head"), 0)
# kernel/panic.c: modules add their blocks with atomic_notifier_chain_register(&panic_notifier_list, ...);
# panic() (lib.py) calls the chain with (0, message) after printing, before the machine stops.
panic_notifier_list = kernel_variable("panic_notifier_list", size("atomic_notifier_head"), 0)


def call_panic_chain(k: Kernel, message: int) -> None:
    """panic()'s ``atomic_notifier_call_chain(&panic_notifier_list, 0, buf)``."""
    _track(k)
    head = k.export_address("panic_notifier_list")
    if head:
        call_chain(k, head + ATOMIC_HEAD, 0, message)


def _kernel_chain(k: Kernel, name: str) -> int:
    return (k.export_address(name) or 0) + BLOCKING_HEAD


@service("int register_pm_notifier(struct notifier_block *nb)")
def register_pm_notifier(k: Kernel, nb: int) -> int:
    """Join the suspend/hibernate chain (no system sleep happens here): 0 or -EEXIST."""
    _track(k)
    return chain_register(k, _kernel_chain(k, "pm_chain_head"), nb)


@service("int unregister_pm_notifier(struct notifier_block *nb)")
def unregister_pm_notifier(k: Kernel, nb: int) -> int:
    """Leave the suspend/hibernate chain: 0 or -ENOENT."""
    return chain_unregister(k, _kernel_chain(k, "pm_chain_head"), nb)


class KernelChains:
    """Blocks a module left on the kernel's own chains at unload: unlinked and reported."""

    def release_module(self, k: Kernel, module: object) -> list[str]:
        """One leak line per block of ``module`` still registered on the PM or panic chain."""
        leaks = []
        for name, what, field in (("pm_chain_head", "PM", BLOCKING_HEAD), ("panic_notifier_list", "panic", ATOMIC_HEAD)):
            head = (k.export_address(name) or 0) + field
            node = k.memory.read_u32(head)
            for _ in range(MAX_CHAIN):
                if not node:
                    break
                following = k.memory.read_u32(node + NB_NEXT)
                if k.module_at(node) is module:
                    leaks.append(f"{what} notifier {k.symbolizer.short(node)} still registered")
                    chain_unregister(k, head, node)
                node = following
        return leaks


def _track(k: Kernel) -> None:
    k.subsystem(KernelChains)


# -- bus notifiers (drivers/base/bus.c): device and binding events of one bus --------------------
BUS_NOTIFY_ADD_DEVICE, BUS_NOTIFY_DEL_DEVICE, BUS_NOTIFY_REMOVED_DEVICE = 1, 2, 3
BUS_NOTIFY_BIND_DRIVER, BUS_NOTIFY_BOUND_DRIVER, BUS_NOTIFY_UNBIND_DRIVER = 4, 5, 6
BUS_NOTIFY_UNBOUND_DRIVER, BUS_NOTIFY_DRIVER_NOT_BOUND = 7, 8


class BusNotifiers:
    """Each bus's notifier chain (a guest blocking_notifier_head the kernel allocates, as the
    bus's subsys_private holds one), by struct bus_type address."""

    def __init__(self) -> None:
        self.heads: dict[int, int] = {}

    def clone(self) -> BusNotifiers:
        twin = BusNotifiers()
        twin.heads = dict(self.heads)
        return twin

    def release_module(self, k: Kernel, module: object) -> list[str]:
        """Blocks of ``module`` still on a bus's chain at unload: unlinked and reported."""
        leaks = []
        for bus, head in self.heads.items():
            node = k.memory.read_u32(head + BLOCKING_HEAD)
            for _ in range(MAX_CHAIN):
                if not node:
                    break
                following = k.memory.read_u32(node + NB_NEXT)
                if k.module_at(node) is module:
                    leaks.append(f"bus notifier {k.symbolizer.short(node)} still registered on "
                                 f"{k.symbolizer.short(bus)}")
                    chain_unregister(k, head + BLOCKING_HEAD, node)
                node = following
        return leaks


def _bus_head(k: Kernel, bus: int) -> int:
    from kernel_stubs.memory import allocate

    state = k.subsystem(BusNotifiers)
    if bus not in state.heads:
        head = allocate(k, size("blocking_notifier_head"), owner="kernel")
        k.memory.write(head, bytes(size("blocking_notifier_head")))
        state.heads[bus] = head
    return state.heads[bus]


@service("int bus_register_notifier(const struct bus_type *bus, struct notifier_block *nb)")
def bus_register_notifier(k: Kernel, bus: int, nb: int) -> int:
    """Be told of the bus's device and binding events (BUS_NOTIFY_*): 0 or -EEXIST."""
    return chain_register(k, _bus_head(k, bus) + BLOCKING_HEAD, nb)


@service("int bus_unregister_notifier(const struct bus_type *bus, struct notifier_block *nb)")
def bus_unregister_notifier(k: Kernel, bus: int, nb: int) -> int:
    """Stop being told: 0 or -ENOENT."""
    return chain_unregister(k, _bus_head(k, bus) + BLOCKING_HEAD, nb)


def notify_bus(k: Kernel, bus: int, action: int, dev: int) -> None:
    """blocking_notifier_call_chain(&bus->p->bus_notifier, action, dev), from the driver core."""
    if not bus:
        return
    head = k.subsystem(BusNotifiers).heads.get(bus)
    if head is not None:
        call_chain(k, head + BLOCKING_HEAD, action, dev)
