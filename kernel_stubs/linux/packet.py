"""Packet handlers, Linux 6.1 (``dev_add_pack``/``dev_remove_pack``, net/core/dev.c).

A module adds a ``struct packet_type`` (type in network order, an optional
device, ``func``); received frames reach it from the receive path
(:func:`kernel_stubs.linux.netif.deliver`) in the order
``__netif_receive_skb_core`` walks the lists:

1. taps (``type == htons(ETH_P_ALL)``): all devices' first, then the
   device's own;
2. handlers of the frame's protocol: all devices', then the device's own.

Within a list the newest comes first (``list_add_rcu`` adds at the head).
Every matching handler but the last gets the skb with ``users`` raised
(``deliver_skb``), the last gets it as it is, so each frees its own
reference, as in Linux. ``pt->list`` is linked into a ring of Linux's
shape, so modules walking it see what they added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import Fields, offset
from .skbuff import Skb

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

ETH_P_ALL = 0x0003
PT_LIST = offset("packet_type", "list")


@dataclass(frozen=True, slots=True)
class Handler:
    """One added packet_type."""

    address: int
    type: int  # host order (0x0003 ETH_P_ALL, 0x0004 ETH_P_802_2, ...)
    dev: int  # 0: every device
    func: int
    owner: str


class PacketTypes:
    """``ptype_all``, ``ptype_base`` and the per-device lists, newest first."""

    def __init__(self) -> None:
        self.handlers: list[Handler] = []

    def clone(self) -> PacketTypes:
        """A copy for snapshots."""
        twin = PacketTypes()
        twin.handlers = list(self.handlers)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Packet handlers a module left added (the stack would call freed code): reported and removed."""
        leaks = []
        for handler in list(self.handlers):
            if handler.owner == module.name:
                leaks.append(f"packet_type {k.symbolizer.short(handler.address)} for protocol {handler.type:#06x} "
                             "still added (dev_remove_pack not called)")
                self.handlers.remove(handler)
        return leaks

    def matching(self, protocol: int, dev: int) -> list[Handler]:
        """The handlers a frame of ``protocol`` received on ``dev`` reaches, in delivery order."""
        taps = [h for h in self.handlers if h.type == ETH_P_ALL]
        specific = [h for h in self.handlers if h.type == protocol and h.type != ETH_P_ALL]
        return ([h for h in taps if not h.dev] + [h for h in taps if h.dev == dev]
                + [h for h in specific if not h.dev] + [h for h in specific if h.dev == dev])


def packet_types(k: Kernel) -> PacketTypes:
    """This kernel's packet handler lists."""
    return k.subsystem(PacketTypes)


def _relink(k: Kernel, table: PacketTypes) -> None:
    """Write each handler's ``list`` as a ring in table order (a module walking it sees Linux's shape)."""
    nodes = [h.address + PT_LIST for h in table.handlers]
    for i, node in enumerate(nodes):
        k.memory.write_u32(node, nodes[(i + 1) % len(nodes)])
        k.memory.write_u32(node + 4, nodes[i - 1])


@service("void dev_add_pack(struct packet_type *pt)")
def dev_add_pack(k: Kernel, pt: int) -> None:
    """Add a packet handler at the head of its list."""
    f = Fields(k.memory, "packet_type", pt)
    kind = int.from_bytes(k.memory.read(pt + offset("packet_type", "type"), 2), "big")
    module = k.caller_module()
    table = packet_types(k)
    table.handlers.insert(0, Handler(pt, kind, f["dev"], f["func"], module.name if module is not None else "kernel"))
    _relink(k, table)


@service("void __dev_remove_pack(struct packet_type *pt)")
def __dev_remove_pack(k: Kernel, pt: int) -> None:
    """Remove a packet handler; one never added is warned about, as Linux does."""
    table = packet_types(k)
    for handler in table.handlers:
        if handler.address == pt:
            table.handlers.remove(handler)
            _relink(k, table)
            return
    k.console_write(f"dev_remove_pack: {pt:08x} not found\n", 4)


@service("void dev_remove_pack(struct packet_type *pt)")
def dev_remove_pack(k: Kernel, pt: int) -> None:
    """__dev_remove_pack, then synchronize_net (nothing is in flight here once it returns)."""
    __dev_remove_pack(k, pt)


def deliver_to_handlers(k: Kernel, skb: int, dev: int, protocol: int) -> bool:
    """Hand a received skb to the matching handlers (``func(skb, dev, pt, orig_dev)``); False if none matched.

    The handlers own the skb afterwards (each frees its reference).
    """
    handlers = packet_types(k).matching(protocol, dev)
    if not handlers:
        return False
    s = Skb(k, skb)
    for i, handler in enumerate(handlers):
        if i < len(handlers) - 1:
            s.users = s.users + 1  # deliver_skb: refcount_inc(&skb->users)
        k.trace.add("note", "packet handler", fields={"handler": k.symbolizer.short(handler.func),
                                                       "protocol": protocol})
        func = Fields(k.memory, "packet_type", handler.address)["func"]  # read at delivery, as Linux does
        k.call_function_pointer(func, skb, dev, handler.address, dev)
    return True
