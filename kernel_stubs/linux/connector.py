"""The kernel connector (drivers/connector, CONFIG_CONNECTOR=y in Debian) over NETLINK_CONNECTOR.

A module registers a callback for a ``struct cb_id`` (idx, val) with
``cn_add_callback`` (-EINVAL if the id is taken); its multicast group is
``idx``. A message from user space is one netlink message whose payload is
a ``struct cn_msg`` (id, seq, ack, len u16, flags u16, then ``len`` bytes);
cn_rx_skb drops it unless it holds a whole cn_msg of at most
CONNECTOR_MAX_MSG_SIZE bytes, and calls the callback registered for its
id with the cn_msg and the skb's ``struct netlink_skb_parms`` (the
sender's port id is ``nsp->portid``). ``cn_netlink_send(_mult)`` wraps a
cn_msg in an NLMSG_DONE message from port 0: to ``portid`` when given
(unicast), else to the group (the callback's when none is given),
-ESRCH when nobody listens, -ENODEV for an id nobody registered.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.services import service

from . import netlink_core as core
from . import nlmsg as wire
from .layout import size
from .registrations import guest_string
from .skbuff import SKB_CONSUMED, SKB_DROP_REASON_NOT_SPECIFIED, Skb, free_skb

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

CN_NETLINK_USERS = 11
CONNECTOR_MAX_MSG_SIZE = 16384
CN_MSG_SIZE = size("cn_msg")
ENODEV, ESRCH, EINVAL, ENOMEM, EMSGSIZE = 19, 3, 22, 12, 90
CN_HEADER = struct.Struct("<IIIIHH")  # idx, val, seq, ack, len, flags


@dataclass(slots=True)
class Callback:
    """One registered connector callback."""

    idx: int
    val: int
    name: str
    callback: int
    owner: str
    group: int


@dataclass
class Connector:
    """The connector's callback queue (cdev.cbdev) and its kernel socket."""

    callbacks: list[Callback] = field(default_factory=list)
    sock: int = 0

    def clone(self) -> Connector:
        """A copy for snapshots."""
        return Connector([Callback(c.idx, c.val, c.name, c.callback, c.owner, c.group) for c in self.callbacks],
                         self.sock)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Callbacks the module left registered: reported and removed."""
        leaks = [f"connector callback {c.name!r} ({c.idx}:{c.val}) still registered"
                 for c in self.callbacks if c.owner == module.name]
        self.callbacks = [c for c in self.callbacks if c.owner != module.name]
        return leaks

    def find(self, idx: int, val: int) -> Callback | None:
        return next((c for c in self.callbacks if (c.idx, c.val) == (idx, val)), None)


def boot(k: Kernel, nl: core.Netlink) -> None:
    """cn_init: the NETLINK_CONNECTOR kernel socket (CN_NETLINK_USERS + 0xf groups, so 32)."""
    k.subsystem(Connector).sock = core.create_kernel_socket(k, nl, core.NETLINK_CONNECTOR, CN_NETLINK_USERS + 0xF,
                                                            builtin="connector", owner="kernel")


def connector(k: Kernel) -> Connector:
    """This kernel's connector (booted with the netlink core)."""
    core.state(k)
    return k.subsystem(Connector)


@service("int cn_add_callback(const struct cb_id *id, const char *name, "
         "void (*callback)(struct cn_msg *, struct netlink_skb_parms *))")
def cn_add_callback(k: Kernel, ident: int, name: int, callback: int) -> int:
    """Register ``callback`` for messages to ``id``: 0, or -EINVAL if the id has one already."""
    c = connector(k)
    idx, val = struct.unpack("<II", k.memory.read(ident, 8))
    if c.find(idx, val) is not None:
        return -EINVAL
    c.callbacks.append(Callback(idx, val, guest_string(k, name, 32), callback, core._owner(k), idx))
    return 0


@service("void cn_del_callback(const struct cb_id *id)")
def cn_del_callback(k: Kernel, ident: int) -> None:
    """Remove the callback registered for ``id`` (nothing if none)."""
    c = connector(k)
    idx, val = struct.unpack("<II", k.memory.read(ident, 8))
    c.callbacks = [cb for cb in c.callbacks if (cb.idx, cb.val) != (idx, val)]


def _rx(k: Kernel, skb: int) -> None:
    """cn_rx_skb + cn_call_callback: a whole cn_msg to the callback registered for its id."""
    s = Skb(k, skb)
    if s.len < wire.NLMSG_HDRLEN:
        return
    nlh = s.data
    nlmsg_len = k.memory.read_u32(nlh)
    length = nlmsg_len - wire.NLMSG_HDRLEN
    if length < CN_MSG_SIZE or s.len < nlmsg_len or length > CONNECTOR_MAX_MSG_SIZE:
        return
    msg = nlh + wire.NLMSG_HDRLEN
    idx, val, _, _, msg_len, _ = CN_HEADER.unpack(k.memory.read(msg, CN_MSG_SIZE))
    s.users = s.users + 1  # skb_get: the callback runs on a reference of its own
    if nlmsg_len < wire.NLMSG_HDRLEN + CN_MSG_SIZE + msg_len:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return
    found = connector(k).find(idx, val)
    if found is None:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return
    k.call_function_pointer(found.callback, msg, skb + core.SKB_CB)
    free_skb(k, skb, SKB_CONSUMED)


core.BUILTIN_INPUTS["connector"] = _rx


def send(k: Kernel, msg: int, length: int, portid: int, group: int) -> int:
    """cn_netlink_send_mult's work: 0 / the unicast length, or -errno."""
    c = connector(k)
    nl = core.state(k)
    mem = k.memory
    if not portid and not group:
        idx, val = struct.unpack("<II", mem.read(msg, 8))
        found = c.find(idx, val)
        if found is None:
            return -ENODEV
        group = found.group
    if not portid and not (1 <= group <= 32 and nl.listeners(core.NETLINK_CONNECTOR, group)):
        return -ESRCH
    total = CN_MSG_SIZE + length
    skb = core.new_message(k, total)
    if not skb:
        return -ENOMEM
    seq = mem.read_u32(msg + 8)
    at = core.put_header(k, skb, 0, seq, wire.NLMSG_DONE, total, 0)
    mem.write(at + wire.NLMSG_HDRLEN, mem.read(msg, total))
    mem.write_u32(skb + core.CB_DST_GROUP, group)
    if group:
        return core.broadcast(k, c.sock, skb, portid, group)
    return core.unicast(k, c.sock, skb, portid)


@service("int cn_netlink_send_mult(struct cn_msg *msg, u16 len, u32 portid, u32 group, gfp_t gfp_mask)")
def cn_netlink_send_mult(k: Kernel, msg: int, length: int, portid: int, group: int, gfp: int) -> int:
    """Send ``msg`` with ``len`` bytes of data to ``portid`` or ``group`` (the callback's group if neither)."""
    return send(k, msg, length & 0xFFFF, portid, group)


@service("int cn_netlink_send(struct cn_msg *msg, u32 portid, u32 group, gfp_t gfp_mask)")
def cn_netlink_send(k: Kernel, msg: int, portid: int, group: int, gfp: int) -> int:
    """cn_netlink_send_mult with the message's own ``len``."""
    return send(k, msg, int.from_bytes(k.memory.read(msg + 16, 2), "little"), portid, group)


# -- messages from Python -------------------------------------------------------------------------

def cn_message(idx: int, val: int, data: bytes = b"", seq: int = 0, ack: int = 0, flags: int = 0) -> bytes:
    """A netlink message carrying one ``struct cn_msg`` (what a connector user writes)."""
    return wire.nlmsg(wire.NLMSG_DONE, CN_HEADER.pack(idx, val, seq, ack, len(data), flags) + data, 0, seq)


@dataclass(frozen=True, slots=True)
class CnMsg:
    """A ``struct cn_msg`` read back."""

    idx: int
    val: int
    seq: int
    ack: int
    flags: int
    data: bytes


def parse_cn(message: wire.Message) -> CnMsg:
    """The cn_msg in a connector message."""
    idx, val, seq, ack, length, flags = CN_HEADER.unpack_from(message.payload)
    return CnMsg(idx, val, seq, ack, flags, message.payload[CN_MSG_SIZE:CN_MSG_SIZE + length])
