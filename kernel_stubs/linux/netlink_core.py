"""The netlink core (net/netlink/af_netlink.c) as Linux 6.1 i386 gives it to modules, and sockets for Python.

There is one network namespace, so the socket table is keyed by protocol
unit and port id. A **kernel socket** (``__netlink_kernel_create``) is a
zeroed ``struct sock`` in kernel memory (``skc_net`` = &init_net,
``sk_family`` AF_NETLINK, ``sk_type`` SOCK_RAW, ``sk_protocol`` the unit)
bound to port id 0, with the ``struct netlink_kernel_cfg``'s ``input``,
``bind``, ``unbind`` and number of groups (at least 32). As in Linux, a unit
out of range (0..31) or already holding a kernel socket gives NULL. The
built-in units are there from boot: NETLINK_GENERIC (genetlink, whose
socket is ``init_net.genl_sock``) and NETLINK_CONNECTOR.

A **user socket** is what ``k.net.netlink(NETLINK_xxx)`` opens from
Python (:class:`NetlinkSocket`): it has a ``struct sock`` in guest memory
too (``NETLINK_CB(skb).sk`` points at it), a port id chosen as autobind
does, the multicast groups it joined and a receive queue bounded by
``sk_rcvbuf`` (180224 bytes on i386). ``send(bytes)`` is netlink_sendmsg:
an skb holding the bytes, ``NETLINK_CB`` with the sender's port id (and
destination group, delivered to other members first), handed to the
kernel socket's ``input`` in guest code as netlink_unicast_kernel does
(``skb->sk`` the kernel socket, ``NETLINK_CB(skb).sk`` the sender), then
consumed. What the kernel unicasts to the port id, or multicasts to a
group the socket joined, is queued as bytes for ``recv()``; the skb is
consumed when queued (in Linux, when read: no module can tell). A full
queue drops the message as netlink_overrun does, and the next ``recv``
reports ENOBUFS.

**Dumps** (``__netlink_dump_start``, genetlink's NLM_F_DUMP requests) run
as in Linux: ``start``, then one ``dump`` call into a fresh skb at once and
another each time ``recv`` finds the queue empty, until ``dump`` returns 0
or less; NLMSG_DONE (with that result) then ends it, ``done`` runs and the
request skb is released. ``netlink_ack`` builds NLMSG_ERROR as Linux does:
the request's header (and, for an error without NETLINK_CAP_ACK, its
payload), then extended-ACK attributes (message, offset of the bad
attribute) when the socket asked for NETLINK_EXT_ACK.

Closing a user socket runs the kernel socket's ``unbind`` for its groups,
ends a running dump (``done``), and tells ``netlink_register_notifier``
blocks NETLINK_URELEASE with a ``struct netlink_notify``.
"""

from __future__ import annotations

import errno as errnos
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault, SandboxError
from sandbox.services import service

from . import nlmsg as wire
from .layout import offset, size
from .memory import allocate, release
from .notifier import BLOCKING_HEAD, NB_NEXT, call_chain, chain_register, chain_unregister
from .skbuff import (  # _owner, _where: who is calling, as the skb layer names it
    SKB_CONSUMED,
    SKB_DROP_REASON_NOT_SPECIFIED,
    Skb,
    _owner,
    _where,
    alloc_skb,
    free_skb,
    live_skb,
    skb_put,
)

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

(NETLINK_ROUTE, NETLINK_UNUSED, NETLINK_USERSOCK, NETLINK_FIREWALL, NETLINK_SOCK_DIAG, NETLINK_NFLOG, NETLINK_XFRM,
 NETLINK_SELINUX, NETLINK_ISCSI, NETLINK_AUDIT, NETLINK_FIB_LOOKUP, NETLINK_CONNECTOR, NETLINK_NETFILTER,
 NETLINK_IP6_FW, NETLINK_DNRTMSG, NETLINK_KOBJECT_UEVENT, NETLINK_GENERIC, _RESERVED_17, NETLINK_SCSITRANSPORT,
 NETLINK_ECRYPTFS, NETLINK_RDMA, NETLINK_CRYPTO, NETLINK_SMC) = range(23)
MAX_LINKS = 32
AF_NETLINK, SOCK_RAW = 16, 3
NETLINK_URELEASE = 1
RCVBUF = 180224  # sysctl_rmem_default on i386: SK_RMEM_MAX, 256 packets of SKB_TRUESIZE(256)
SNDBUF = 180224
INT_MAX = 0x7FFFFFFF
EINTR = 4
ENOBUFS, ECONNREFUSED, ESRCH, EBUSY, EPERM, EINVAL, EMSGSIZE, ENOMEM = 105, 111, 3, 16, 1, 22, 90, 12
EAGAIN, EPROTONOSUPPORT = 11, 93
PAGE_SIZE = 4096

SK_NET = offset("sock", "__sk_common.skc_net")
SK_FAMILY = offset("sock", "__sk_common.skc_family")
SK_TYPE, SK_PROTOCOL, SK_RCVBUF = offset("sock", "sk_type"), offset("sock", "sk_protocol"), offset("sock", "sk_rcvbuf")
SK_SNDBUF = offset("sock", "sk_sndbuf")
SKB_SK, SKB_CB = offset("sk_buff", "sk"), offset("sk_buff", "cb")
CB_PID = SKB_CB + offset("netlink_skb_parms", "creds")
CB_PORTID = SKB_CB + offset("netlink_skb_parms", "portid")
CB_DST_GROUP = SKB_CB + offset("netlink_skb_parms", "dst_group")
CB_SK = SKB_CB + offset("netlink_skb_parms", "sk")
CFG = {name: offset("netlink_kernel_cfg", name) for name in ("groups", "flags", "input", "bind", "unbind")}
NCB = {name: offset("netlink_callback", name) for name in (
    "skb", "nlh", "dump", "done", "data", "module", "extack", "min_dump_alloc", "strict_check")}
NCB_SIZE = size("netlink_callback")
CONTROL = {name: offset("netlink_dump_control", name) for name in (
    "start", "dump", "done", "data", "module", "min_dump_alloc")}
EXTACK_SIZE = size("netlink_ext_ack")
EXTACK_MSG, EXTACK_BAD_ATTR = offset("netlink_ext_ack", "_msg"), offset("netlink_ext_ack", "bad_attr")
NOTIFY_SIZE = size("netlink_notify")
SHINFO_ALIGNED = (size("skb_shared_info") + 63) & ~63
NLMSG_GOODSIZE = PAGE_SIZE - SHINFO_ALIGNED  # SKB_WITH_OVERHEAD(PAGE_SIZE)
NLMSG_DEFAULT_SIZE = NLMSG_GOODSIZE - wire.NLMSG_HDRLEN
MAX_RECVMSG = 32768 - SHINFO_ALIGNED  # SKB_WITH_OVERHEAD(32768): the cap on a reader's buffer size
MAX_DUMP_ROUNDS = 100_000  # a dump that never ends is a driver bug; stop it with a clear error

# Receivers written in Python for built-in kernel sockets (genetlink, the connector), by name.
BUILTIN_INPUTS: dict[str, Callable[[Kernel, int], None]] = {}
BUILTIN_BINDS: dict[str, Callable[[Kernel, int, bool], int]] = {}  # (group, joiner privileged)


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


@dataclass
class KernelSocket:
    """A netlink socket the kernel or a module created for one protocol unit (port id 0)."""

    unit: int
    sock: int  # the guest struct sock
    input: int  # cfg->input in guest code, 0 if none
    bind: int
    unbind: int
    groups: int
    flags: int
    owner: str  # the creating module, or "kernel"
    builtin: str = ""  # a Python receiver of BUILTIN_INPUTS instead of guest code


@dataclass
class Dump:
    """A dump running on a user socket (nlk->cb while cb_running)."""

    cb: int  # the guest struct netlink_callback
    request: int  # the request skb, kept until the dump ends
    kernel_sock: int
    dump: int
    done: int
    min_alloc: int
    done_errno: int = INT_MAX
    after: str = ""  # a Python cleanup of AFTER_DUMP run after done (genetlink frees its dump info)
    rounds: int = 0


# Cleanups run when a dump ends, by name (genetlink's genl_done frees the attrs and the dump info).
AFTER_DUMP: dict[str, Callable[[Kernel, int], None]] = {}


@dataclass
class UserSocket:
    """A socket opened from Python: what its netlink_sock would hold."""

    unit: int
    portid: int
    sock: int  # its guest struct sock (what NETLINK_CB(skb).sk points at)
    cb: int  # its guest struct netlink_callback
    groups: set[int] = field(default_factory=set)
    queue: list[tuple[bytes, int]] = field(default_factory=list)  # datagrams and their truesize
    queued: int = 0  # bytes counted against RCVBUF (sk_rmem_alloc)
    error: int = 0  # sk_err: reported by the next recv
    ext_ack: bool = False
    cap_ack: bool = False
    privileged: bool = True  # opened by root (the file's credentials netlink_capable checks)
    dump: Dump | None = None
    max_recvmsg_len: int = 0
    closed: bool = False


class Netlink:
    """The socket table of one kernel (nl_table), the netlink notifier chain, the per-socket state."""

    def __init__(self) -> None:
        self.kernel_sockets: dict[int, KernelSocket] = {}  # by unit
        self.users: dict[tuple[int, int], UserSocket] = {}  # by (unit, portid)
        self.socks: dict[int, tuple[int, int]] = {}  # guest struct sock -> (unit, portid): every socket
        self.chain = 0  # the blocking_notifier_head netlink_register_notifier uses
        self.rover = -4096  # autobind's next negative port id

    def clone(self) -> Netlink:
        """A copy for snapshots."""
        twin = Netlink()
        twin.kernel_sockets = {u: replace(s) for u, s in self.kernel_sockets.items()}
        twin.users = {key: replace(u, groups=set(u.groups), queue=list(u.queue),
                                   dump=replace(u.dump) if u.dump else None) for key, u in self.users.items()}
        twin.socks, twin.chain, twin.rover = dict(self.socks), self.chain, self.rover
        return twin

    def boot(self, k: Kernel) -> None:
        """The notifier chain head and the built-in kernel sockets (genetlink, the connector)."""
        self.chain = k.memory.alloc(size("blocking_notifier_head"))
        from . import connector, genetlink

        genetlink.boot(k, self)
        connector.boot(k, self)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Kernel sockets the module created and did not release; notifier blocks it left on the chain;
        dumps still running its code (Linux would have refused the unload: the dump holds the module)."""
        leaks = []
        for user in list(self.users.values()):
            d = user.dump
            if d is not None and module in (k.module_at(d.dump), k.module_at(d.done)):
                leaks.append(f"netlink dump {k.symbolizer.short(d.dump)} for port {user.portid} still running")
                user.dump = None
                free_skb(k, d.request, SKB_CONSUMED)
        for unit, ks in list(self.kernel_sockets.items()):
            if ks.owner == module.name:
                leaks.append(f"netlink kernel socket for protocol {unit} still open")
                release_kernel_socket(k, self, ks)
        node = k.memory.read_u32(self.chain + BLOCKING_HEAD)
        while node:
            following = k.memory.read_u32(node + NB_NEXT)
            if k.module_at(node) is module:
                leaks.append(f"netlink notifier {k.symbolizer.short(node)} still registered")
                chain_unregister(k, self.chain + BLOCKING_HEAD, node)
            node = following
        return leaks

    # -- lookups ---------------------------------------------------------------------------------
    def unit_of(self, k: Kernel, sk: int, what: str) -> int:
        """The protocol unit of a netlink socket, or a fault naming the call."""
        found = self.socks.get(sk)
        if found is None:
            raise GuestFault("bad-sock", f"{what} on {sk:#x} at {_where(k)}: not a netlink socket", pc=k.current_caller,
                             address=sk)
        return found[0]

    def user_by_sock(self, sk: int) -> UserSocket | None:
        found = self.socks.get(sk)
        return self.users.get(found) if found else None

    def listeners(self, unit: int, group: int) -> list[UserSocket]:
        """The open user sockets of ``unit`` that joined ``group``."""
        return [u for (un, _), u in sorted(self.users.items()) if un == unit and group in u.groups and not u.closed]


def state(k: Kernel) -> Netlink:
    """This kernel's netlink socket table."""
    return k.subsystem(Netlink)


def init_net(k: Kernel) -> int:
    """&init_net, set up (kernel_stubs.linux.net)."""
    from .net import Pernet

    return k.subsystem(Pernet).net(k)


def _new_sock(k: Kernel, unit: int) -> int:
    sock = allocate(k, size("sock"), owner="kernel")
    if not sock:
        return 0
    mem = k.memory
    mem.write_u32(sock + SK_NET, init_net(k))
    mem.write(sock + SK_FAMILY, AF_NETLINK.to_bytes(2, "little"))
    mem.write(sock + SK_TYPE, SOCK_RAW.to_bytes(2, "little"))
    mem.write(sock + SK_PROTOCOL, unit.to_bytes(2, "little"))
    mem.write_u32(sock + SK_RCVBUF, RCVBUF)
    mem.write_u32(sock + SK_SNDBUF, SNDBUF)
    return sock


# -- kernel sockets -------------------------------------------------------------------------------

def create_kernel_socket(k: Kernel, nl: Netlink, unit: int, groups: int = 0, input_fn: int = 0, bind: int = 0,
                         unbind: int = 0, flags: int = 0, builtin: str = "", owner: str | None = None) -> int:
    """netlink_kernel_create's work: the new struct sock, or 0 (unit out of range or taken, no memory)."""
    if not 0 <= unit < MAX_LINKS or unit in nl.kernel_sockets:
        return 0
    sock = _new_sock(k, unit)
    if not sock:
        return 0
    nl.kernel_sockets[unit] = KernelSocket(unit, sock, input_fn, bind, unbind, max(groups, 32), flags,
                                           owner or _owner(k), builtin)
    nl.socks[sock] = (unit, 0)
    return sock


def release_kernel_socket(k: Kernel, nl: Netlink, ks: KernelSocket) -> None:
    """netlink_kernel_release's work: the unit has no kernel socket any more."""
    del nl.kernel_sockets[ks.unit]
    del nl.socks[ks.sock]
    release(k, ks.sock)


@service("struct sock *__netlink_kernel_create(struct net *net, int unit, struct module *module, "
         "struct netlink_kernel_cfg *cfg)")
def __netlink_kernel_create(k: Kernel, net: int, unit: int, module: int, cfg: int) -> int:
    """A kernel socket for protocol ``unit`` taking ``cfg->input``; NULL if the unit is out of range or taken."""
    nl = state(k)
    unit = _signed(unit)
    fields = {name: k.memory.read_u32(cfg + where) for name, where in CFG.items()} if cfg else {}
    sock = create_kernel_socket(k, nl, unit, fields.get("groups", 0), fields.get("input", 0), fields.get("bind", 0),
                                fields.get("unbind", 0), fields.get("flags", 0))
    k.trace.add("note", "netlink kernel socket", caller=k.current_caller,
                fields={"unit": unit, "sock": sock, "input": fields.get("input", 0)})
    return sock


@service("void netlink_kernel_release(struct sock *sk)")
def netlink_kernel_release(k: Kernel, sk: int) -> None:
    """Release a kernel socket (NULL is ignored); the unit is free again."""
    if not sk:
        return
    nl = state(k)
    unit = nl.unit_of(k, sk, "netlink_kernel_release")
    ks = nl.kernel_sockets.get(unit)
    if ks is None or ks.sock != sk:
        raise GuestFault("bad-sock", f"netlink_kernel_release of {sk:#x} at {_where(k)}: a user socket, not a kernel "
                         "socket", pc=k.current_caller, address=sk)
    release_kernel_socket(k, nl, ks)


# -- delivery -------------------------------------------------------------------------------------

def _queue(k: Kernel, user: UserSocket, data: bytes, truesize: int) -> bool:
    """__netlink_sendskb onto a user socket; False (overrun: ENOBUFS next recv) if its buffer is full."""
    if user.queued + truesize > RCVBUF:
        user.error = ENOBUFS
        return False
    user.queue.append((data, truesize))
    user.queued += truesize
    return True


def _truesize(k: Kernel, skb: int) -> int:
    return k.memory.read_u32(skb + offset("sk_buff", "truesize"))


def unicast_kernel(k: Kernel, nl: Netlink, ks: KernelSocket, skb: int, ssk: int) -> int:
    """netlink_unicast_kernel: hand ``skb`` to the kernel socket's input; its length, or -ECONNREFUSED."""
    if not ks.input and not ks.builtin:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return -ECONNREFUSED
    length = Skb(k, skb).len
    k.memory.write_u32(skb + SKB_SK, ks.sock)
    k.memory.write_u32(skb + CB_SK, ssk)
    if ks.builtin:
        BUILTIN_INPUTS[ks.builtin](k, skb)
    else:
        k.call_function_pointer(ks.input, skb)
    free_skb(k, skb, SKB_CONSUMED)
    return length


def unicast(k: Kernel, ssk: int, skb: int, portid: int) -> int:
    """netlink_unicast: to the socket bound to ``portid`` on ssk's unit; the length sent or -errno (skb consumed)."""
    nl = state(k)
    live_skb(k, skb, "netlink_unicast")
    unit = nl.unit_of(k, ssk, "netlink_unicast")
    if portid == 0:
        ks = nl.kernel_sockets.get(unit)
        if ks is None:
            free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
            return -ECONNREFUSED
        return unicast_kernel(k, nl, ks, skb, ssk)
    user = nl.users.get((unit, portid))
    if user is None or user.closed:
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return -ECONNREFUSED
    s = Skb(k, skb)
    length = s.len
    if not _queue(k, user, s.payload(), _truesize(k, skb)):
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return -EAGAIN
    free_skb(k, skb, SKB_CONSUMED)
    return length


@service("int netlink_unicast(struct sock *ssk, struct sk_buff *skb, __u32 portid, int nonblock)")
def netlink_unicast(k: Kernel, ssk: int, skb: int, portid: int, nonblock: int) -> int:
    """Send ``skb`` to the socket bound to ``portid``: its length, -ECONNREFUSED if none, -EAGAIN if full."""
    return unicast(k, ssk, skb, portid)


def broadcast(k: Kernel, ssk: int, skb: int, portid: int, group: int,
              keep: Callable[[UserSocket], bool] | None = None) -> int:
    """netlink_broadcast: a copy to each member of ``group`` but ``portid``; 0, -ESRCH (nobody), -ENOBUFS."""
    nl = state(k)
    live_skb(k, skb, "netlink_broadcast")
    unit = nl.unit_of(k, ssk, "netlink_broadcast")
    ks = nl.kernel_sockets.get(unit)
    ngroups = ks.groups if ks else 32
    s = Skb(k, skb)
    data, truesize = s.payload(), _truesize(k, skb)
    delivered = False
    if 1 <= group <= ngroups:
        for user in nl.listeners(unit, group):
            if user.portid == portid or (keep is not None and not keep(user)):
                continue
            if _queue(k, user, data, truesize):
                delivered = True
    free_skb(k, skb, SKB_CONSUMED)
    return 0 if delivered else -ESRCH


@service("int netlink_broadcast(struct sock *ssk, struct sk_buff *skb, __u32 portid, __u32 group, gfp_t allocation)")
def netlink_broadcast(k: Kernel, ssk: int, skb: int, portid: int, group: int, allocation: int) -> int:
    """Multicast ``skb`` to ``group`` (not to ``portid``): 0 if someone got it, -ESRCH if nobody listens."""
    return broadcast(k, ssk, skb, portid, group)


@service("int netlink_has_listeners(struct sock *sk, unsigned int group)")
def netlink_has_listeners(k: Kernel, sk: int, group: int) -> int:
    """Whether any socket joined ``group`` of the kernel socket's unit."""
    nl = state(k)
    unit = nl.unit_of(k, sk, "netlink_has_listeners")
    ks = nl.kernel_sockets.get(unit)
    if ks is None or ks.sock != sk:
        raise GuestFault("bad-sock", f"netlink_has_listeners on {sk:#x} at {_where(k)}: not a kernel socket (BUG_ON)",
                         pc=k.current_caller, address=sk)
    return int(1 <= group <= ks.groups and bool(nl.listeners(unit, group)))


@service("int netlink_set_err(struct sock *ssk, __u32 portid, __u32 group, int code)")
def netlink_set_err(k: Kernel, ssk: int, portid: int, group: int, code: int) -> int:
    """Report error ``code`` to every member of ``group`` but ``portid`` (their next recv fails with it): 0."""
    nl = state(k)
    unit = nl.unit_of(k, ssk, "netlink_set_err")
    for user in nl.listeners(unit, group):
        if user.portid != portid:
            user.error = abs(_signed(code))
    return 0


@service("int nlmsg_notify(struct sock *sk, struct sk_buff *skb, u32 portid, unsigned int group, int report, "
         "gfp_t flags)")
def nlmsg_notify(k: Kernel, sk: int, skb: int, portid: int, group: int, report: int, flags: int) -> int:
    """Multicast to ``group`` and, if ``report``, unicast to ``portid`` as well (NLM_F_ECHO): 0 or -errno."""
    err = 0
    if group:
        exclude = 0
        if report:
            s = live_skb(k, skb, "nlmsg_notify")
            s.users = s.users + 1
            exclude = portid
        k.memory.write_u32(skb + CB_DST_GROUP, group)
        err = broadcast(k, sk, skb, exclude, group)
        if err == -ESRCH:
            err = 0
    if report:
        err2 = unicast(k, sk, skb, portid)
        err2 = 0 if err2 > 0 else err2
        if not err:
            err = err2
    return err


# -- building messages ----------------------------------------------------------------------------

def put_header(k: Kernel, skb: int, portid: int, seq: int, msg_type: int, length: int, flags: int) -> int:
    """__nlmsg_put: a header for ``length`` payload bytes at the tail, padding zeroed; where it starts."""
    msg_size = wire.NLMSG_HDRLEN + length
    at = skb_put(k, skb, wire.align(msg_size))
    k.memory.write(at, struct.pack("<IHHII", msg_size, msg_type & 0xFFFF, flags & 0xFFFF, seq, portid))
    pad = wire.align(msg_size) - msg_size
    if pad:
        k.memory.write(at + msg_size, bytes(pad))
    return at


@service("struct nlmsghdr *__nlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int type, int len, int flags)")
def __nlmsg_put(k: Kernel, skb: int, portid: int, seq: int, msg_type: int, length: int, flags: int) -> int:
    """Append a netlink header for ``len`` payload bytes (the caller checked the tailroom)."""
    return put_header(k, skb, portid, seq, msg_type, _signed(length), flags)


def put_bytes(k: Kernel, skb: int, data: bytes) -> bool:
    """Append raw message bytes if the tailroom holds them."""
    if Skb(k, skb).tailroom < len(data):
        return False
    k.memory.write(skb_put(k, skb, len(data)), data)
    return True


def new_message(k: Kernel, payload: int) -> int:
    """nlmsg_new(payload): an skb with room for one message of ``payload`` bytes."""
    return alloc_skb(k, wire.align(wire.NLMSG_HDRLEN + payload), owner="kernel")


def send_bytes(k: Kernel, ssk: int, portid: int, data: bytes) -> int:
    """Unicast ready-made message bytes from kernel socket ``ssk`` (Python-built replies)."""
    skb = new_message(k, len(data))
    if not skb:
        return -ENOMEM
    put_bytes(k, skb, data)
    return unicast(k, ssk, skb, portid)


def broadcast_bytes(k: Kernel, ssk: int, group: int, data: bytes) -> int:
    """Multicast ready-made message bytes from kernel socket ``ssk`` (Python-built notifications)."""
    skb = new_message(k, len(data))
    if not skb:
        return -ENOMEM
    put_bytes(k, skb, data)
    return broadcast(k, ssk, skb, 0, group)


def _message_header(k: Kernel, nlh: int) -> tuple[int, int, int, int, int]:
    return struct.unpack("<IHHII", k.memory.read(nlh, wire.NLMSG_HDRLEN))


def ack(k: Kernel, in_skb: int, nlh: int, err: int, extack: int) -> None:
    """netlink_ack: NLMSG_ERROR to the request's sender, with its header (and payload on error), ext-ack TLVs."""
    nl = state(k)
    portid = k.memory.read_u32(in_skb + CB_PORTID)
    sender = nl.user_by_sock(k.memory.read_u32(in_skb + CB_SK))
    length, _, _, seq, _ = _message_header(k, nlh)
    err = _signed(err)
    flags = 0
    capped = not err or (sender is not None and sender.cap_ack)
    echoed = k.memory.read(nlh, wire.NLMSG_HDRLEN if capped else max(length, wire.NLMSG_HDRLEN))
    if capped:
        flags |= wire.NLM_F_CAPPED
    tlvs = b""
    if extack and sender is not None and sender.ext_ack:
        text_at = k.memory.read_u32(extack + EXTACK_MSG)
        if text_at:
            tlvs += wire.nla(wire.NLMSGERR_ATTR_MSG, k.memory.read_cstring(text_at, 256) + b"\0")
        bad = k.memory.read_u32(extack + EXTACK_BAD_ATTR)
        if err and not capped and bad and nlh <= bad < nlh + length:
            tlvs += wire.nla(wire.NLMSGERR_ATTR_OFFS, struct.pack("<I", bad - nlh))
    if tlvs:
        flags |= wire.NLM_F_ACK_TLVS
    body = struct.pack("<i", err) + echoed
    body = body + bytes(wire.align(len(body)) - len(body)) + tlvs
    reply = wire.nlmsg(wire.NLMSG_ERROR, body, flags, seq, portid)
    ks = nl.kernel_sockets.get(nl.unit_of(k, k.memory.read_u32(in_skb + SKB_SK), "netlink_ack"))
    if ks is not None:
        send_bytes(k, ks.sock, portid, reply)


@service("void netlink_ack(struct sk_buff *in_skb, struct nlmsghdr *nlh, int err, const struct netlink_ext_ack *extack)")
def netlink_ack(k: Kernel, in_skb: int, nlh: int, err: int, extack: int) -> None:
    """Acknowledge request ``nlh`` of ``in_skb`` with ``err`` (0: an ACK) to its sender."""
    live_skb(k, in_skb, "netlink_ack")
    ack(k, in_skb, nlh, err, extack)


def rcv_skb(k: Kernel, skb: int, handle: Callable[[int, int, int], int]) -> int:
    """netlink_rcv_skb: each request of ``skb`` to ``handle(skb, nlh, extack)``, acked as Linux acks it."""
    s = Skb(k, skb)
    extack = allocate(k, EXTACK_SIZE, owner="kernel")
    try:
        while s.len >= wire.NLMSG_HDRLEN:
            k.memory.write(extack, bytes(EXTACK_SIZE))
            nlh = s.data
            length, msg_type, flags, _, _ = _message_header(k, nlh)
            if length < wire.NLMSG_HDRLEN or s.len < length:
                return 0
            err = 0
            if flags & wire.NLM_F_REQUEST and msg_type >= wire.NLMSG_MIN_TYPE:
                err = _signed(handle(skb, nlh, extack))
            if err != -EINTR and (flags & wire.NLM_F_ACK or err):
                ack(k, skb, nlh, err, extack)
            step = min(wire.align(length), s.len)
            s.len = s.len - step
            s.data = s.data + step
        return 0
    finally:
        release(k, extack)


@service("int netlink_rcv_skb(struct sk_buff *skb, int (*cb)(struct sk_buff *, struct nlmsghdr *, "
         "struct netlink_ext_ack *))")
def netlink_rcv_skb(k: Kernel, skb: int, cb: int) -> int:
    """Run ``cb`` on each request message of ``skb`` and acknowledge it (errors, or NLM_F_ACK): 0."""
    live_skb(k, skb, "netlink_rcv_skb")
    return rcv_skb(k, skb, lambda s, nlh, extack: k.call_function_pointer(cb, s, nlh, extack))


# -- capabilities ---------------------------------------------------------------------------------

def _sender_capable(k: Kernel, skb: int, cap: int) -> int:
    user = state(k).user_by_sock(k.memory.read_u32(skb + CB_SK))
    privileged = True if user is None else user.privileged  # a kernel socket's sender is the kernel
    return int(privileged and 0 <= _signed(cap) <= 40)


@service("bool netlink_capable(const struct sk_buff *skb, int cap)")
def netlink_capable(k: Kernel, skb: int, cap: int) -> int:
    """Whether the socket that sent ``skb`` was opened with capability ``cap`` (root has them all)."""
    return _sender_capable(k, skb, cap)


@service("bool netlink_net_capable(const struct sk_buff *skb, int cap)")
def netlink_net_capable(k: Kernel, skb: int, cap: int) -> int:
    """netlink_capable in the socket's network namespace (there is one)."""
    return _sender_capable(k, skb, cap)


@service("bool netlink_ns_capable(const struct sk_buff *skb, struct user_namespace *user_ns, int cap)")
def netlink_ns_capable(k: Kernel, skb: int, user_ns: int, cap: int) -> int:
    """netlink_capable in ``user_ns`` (the initial namespace is the only one)."""
    return _sender_capable(k, skb, cap)


@service("bool netlink_strict_get_check(struct sk_buff *skb)")
def netlink_strict_get_check(k: Kernel, skb: int) -> int:
    """Whether the sender set NETLINK_GET_STRICT_CHK: sockets opened here never do."""
    return 0


# -- the notifier chain ---------------------------------------------------------------------------

@service("int netlink_register_notifier(struct notifier_block *nb)")
def netlink_register_notifier(k: Kernel, nb: int) -> int:
    """Be told NETLINK_URELEASE when a user socket with a port id closes."""
    return chain_register(k, state(k).chain + BLOCKING_HEAD, nb)


@service("int netlink_unregister_notifier(struct notifier_block *nb)")
def netlink_unregister_notifier(k: Kernel, nb: int) -> int:
    """Leave the netlink notifier chain: 0 or -ENOENT."""
    return chain_unregister(k, state(k).chain + BLOCKING_HEAD, nb)


# -- dumps ----------------------------------------------------------------------------------------

def start_dump(k: Kernel, ssk: int, skb: int, nlh: int, start: int, dump: int, done: int, data: int,
               module: int, min_alloc: int, after: str = "",
               python_start: Callable[[int], int] | None = None) -> int:
    """__netlink_dump_start: -EINTR once the dump started (no ACK follows), else -errno (skb reference dropped)."""
    nl = state(k)
    s = live_skb(k, skb, "netlink_dump_start")
    s.users = s.users + 1
    unit = nl.unit_of(k, ssk, "netlink_dump_start")
    user = nl.users.get((unit, k.memory.read_u32(skb + CB_PORTID)))
    if user is None or user.closed:
        free_skb(k, skb, SKB_CONSUMED)
        return -ECONNREFUSED
    if user.dump is not None:
        free_skb(k, skb, SKB_CONSUMED)
        return -EBUSY
    cb = user.cb
    mem = k.memory
    mem.write(cb, bytes(NCB_SIZE))
    for name, value in (("dump", dump), ("done", done), ("nlh", nlh), ("data", data), ("module", module),
                        ("min_dump_alloc", min_alloc), ("skb", skb)):
        mem.write_u32(cb + NCB[name], value)
    if start or python_start:
        ret = python_start(cb) if python_start else _signed(k.call_function_pointer(start, cb))
        if ret:
            free_skb(k, skb, SKB_CONSUMED)
            return ret
    user.dump = Dump(cb, skb, ssk, dump, done, min_alloc, after=after)
    ret = run_dump(k, user)
    return ret if ret else -EINTR


@service("int __netlink_dump_start(struct sock *ssk, struct sk_buff *skb, const struct nlmsghdr *nlh, "
         "struct netlink_dump_control *control)")
def __netlink_dump_start(k: Kernel, ssk: int, skb: int, nlh: int, control: int) -> int:
    """Start a dump for request ``nlh``: -EINTR (the dump runs as the sender reads), or -errno."""
    c = {name: k.memory.read_u32(control + where) for name, where in CONTROL.items()}
    return start_dump(k, ssk, skb, nlh, c["start"], c["dump"], c["done"], c["data"], c["module"],
                      c["min_dump_alloc"])


def run_dump(k: Kernel, user: UserSocket) -> int:
    """netlink_dump: one more skb of the dump onto the reader's queue; at the end NLMSG_DONE and ``done``."""
    d = user.dump
    assert d is not None
    d.rounds += 1
    if d.rounds > MAX_DUMP_ROUNDS:
        raise SandboxError(f"netlink dump {k.symbolizer.short(d.dump)} on port {user.portid} produced more than "
                           f"{MAX_DUMP_ROUNDS} skbs without ending")
    alloc = max(d.min_alloc, NLMSG_GOODSIZE, user.max_recvmsg_len)
    skb = alloc_skb(k, alloc, owner="kernel")
    if not skb:
        return -ENOMEM
    s = Skb(k, skb)
    trim = s.tailroom - alloc  # skb_reserve so the dump sees exactly ``alloc`` bytes of room
    s.data, s.tail = s.data + trim, s.tail + trim
    k.memory.write_u32(skb + SKB_SK, user.sock)
    extack = allocate(k, EXTACK_SIZE, owner="kernel")
    try:
        if d.done_errno > 0:
            k.memory.write_u32(d.cb + NCB["extack"], extack)
            d.done_errno = _signed(k.call_function_pointer(d.dump, skb, d.cb))
            k.memory.write_u32(d.cb + NCB["extack"], 0)
        if d.done_errno > 0 or s.tailroom < wire.align(wire.NLMSG_HDRLEN + 4):
            _queue(k, user, s.payload(), _truesize(k, skb))
            free_skb(k, skb, SKB_CONSUMED)
            return 0
        request_nlh = k.memory.read_u32(d.cb + NCB["nlh"])
        seq = _message_header(k, request_nlh)[3]
        at = put_header(k, skb, user.portid, seq, wire.NLMSG_DONE, 4, wire.NLM_F_MULTI)
        k.memory.write(at + wire.NLMSG_HDRLEN, struct.pack("<i", d.done_errno))
        _queue(k, user, s.payload(), _truesize(k, skb))
        free_skb(k, skb, SKB_CONSUMED)
        finish_dump(k, user)
        return 0
    finally:
        release(k, extack)


def finish_dump(k: Kernel, user: UserSocket) -> None:
    """The end of a dump: ``done``, the Python cleanup, the request skb released."""
    d = user.dump
    if d is None:
        return
    user.dump = None
    if d.done:
        k.call_function_pointer(d.done, d.cb)
    if d.after:
        AFTER_DUMP[d.after](k, d.cb)
    free_skb(k, d.request, SKB_CONSUMED)


# -- user sockets (Python) ------------------------------------------------------------------------

class NetlinkError(SandboxError):
    """A netlink socket call from Python failed as the system call would (``errno`` set)."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


def open_user_socket(k: Kernel, unit: int, portid: int | None = None, groups: int = 0,
                     privileged: bool = True) -> UserSocket:
    """socket(AF_NETLINK, SOCK_RAW, unit) + bind: a user socket on ``unit`` bound to ``portid`` (autobind if None)."""
    nl = state(k)
    if not 0 <= unit < MAX_LINKS or unit not in nl.kernel_sockets:
        raise NetlinkError(f"socket(AF_NETLINK, SOCK_RAW, {unit}): no kernel socket serves protocol {unit} "
                           "(EPROTONOSUPPORT)", EPROTONOSUPPORT)
    if portid is None:
        portid = _autobind(k, nl, unit)
    elif portid == 0 or (unit, portid) in nl.users:
        raise NetlinkError(f"bind to netlink port {portid} of protocol {unit}: in use (EADDRINUSE)",
                           errnos.EADDRINUSE)
    sock = _new_sock(k, unit)
    cb = allocate(k, NCB_SIZE, owner="kernel")
    user = UserSocket(unit, portid & 0xFFFFFFFF, sock, cb, privileged=privileged)
    nl.users[(unit, user.portid)] = user
    nl.socks[sock] = (unit, user.portid)
    for bit in range(32):
        if groups >> bit & 1:
            join(k, user, bit + 1)
    return user


def _autobind(k: Kernel, nl: Netlink, unit: int) -> int:
    """netlink_autobind: the task's tgid first, then -4096, -4097, ... (as u32)."""
    task = k.memory.read_u32(k.export_address("current_task") or 0)
    tgid = k.memory.read_u32(task + offset("task_struct", "tgid")) if task else 0
    if tgid and (unit, tgid) not in nl.users:
        return tgid
    while (unit, nl.rover & 0xFFFFFFFF) in nl.users:
        nl.rover -= 1
    portid = nl.rover & 0xFFFFFFFF
    nl.rover -= 1
    return portid


def join(k: Kernel, user: UserSocket, group: int) -> None:
    """setsockopt(NETLINK_ADD_MEMBERSHIP): cfg->bind may refuse; then the socket receives ``group``."""
    nl = state(k)
    ks = nl.kernel_sockets.get(user.unit)
    ngroups = ks.groups if ks else 32
    if not 1 <= group <= ngroups:
        raise NetlinkError(f"NETLINK_ADD_MEMBERSHIP {group} on protocol {user.unit}: it has {ngroups} groups "
                           "(EINVAL)", EINVAL)
    err = 0
    if ks is not None and ks.builtin in BUILTIN_BINDS:
        err = BUILTIN_BINDS[ks.builtin](k, group, user.privileged)
    elif ks is not None and ks.bind:
        err = _signed(k.call_function_pointer(ks.bind, init_net(k), group))
    if err:
        raise NetlinkError(f"NETLINK_ADD_MEMBERSHIP {group} on protocol {user.unit}: refused by the kernel "
                           f"socket's bind ({errnos.errorcode.get(-err, err)})", -err)
    user.groups.add(group)


def leave(k: Kernel, user: UserSocket, group: int) -> None:
    """setsockopt(NETLINK_DROP_MEMBERSHIP): the group is left, then cfg->unbind runs."""
    user.groups.discard(group)
    ks = state(k).kernel_sockets.get(user.unit)
    if ks is not None and ks.unbind:
        k.call_function_pointer(ks.unbind, init_net(k), group)


def close(k: Kernel, user: UserSocket) -> None:
    """netlink_release: unbind each group, end a dump, NETLINK_URELEASE to the notifier chain, free the sock."""
    if user.closed:
        return
    nl = state(k)
    ks = nl.kernel_sockets.get(user.unit)
    if ks is not None and ks.unbind:
        for group in sorted(user.groups):
            k.call_function_pointer(ks.unbind, init_net(k), group)
    user.groups.clear()
    finish_dump(k, user)
    notify = allocate(k, NOTIFY_SIZE, owner="kernel")
    k.memory.write(notify, struct.pack("<IIi", init_net(k), user.portid, user.unit))
    call_chain(k, nl.chain + BLOCKING_HEAD, NETLINK_URELEASE, notify)
    release(k, notify)
    user.closed = True
    del nl.users[(user.unit, user.portid)]
    del nl.socks[user.sock]
    release(k, user.sock)
    release(k, user.cb)


class NetlinkSocket:
    """A netlink socket opened from Python: ``k.net.netlink(NETLINK_GENERIC)``.

    ``send(bytes)`` writes one datagram (messages built with
    :mod:`kernel_stubs.linux.nlmsg`), ``recv()`` reads one (None when
    nothing is queued and no dump has more), ``messages()`` reads all that
    is there as parsed :class:`~kernel_stubs.linux.nlmsg.Message` records,
    ``request(bytes)`` sends and reads the answer. Errors are raised as
    :class:`NetlinkError` with the errno the system call gives.
    """

    def __init__(self, kernel: Kernel, unit: int, portid: int | None = None, groups: int = 0,
                 privileged: bool = True) -> None:
        self._kernel = kernel
        self.protocol = unit
        self.portid = open_user_socket(self._ctx, unit, portid, groups, privileged).portid

    @property
    def _ctx(self) -> Kernel:
        return self._kernel.service_context  # type: ignore[return-value]

    def _state(self) -> UserSocket:
        user = state(self._ctx).users.get((self.protocol, self.portid))
        if user is None:
            raise NetlinkError(f"netlink socket {self.protocol}:{self.portid} is closed (EBADF)", errnos.EBADF)
        return user

    @property
    def groups(self) -> set[int]:
        """The multicast groups joined."""
        return set(self._state().groups)

    @property
    def sock(self) -> int:
        """The guest ``struct sock`` of this socket (what ``NETLINK_CB(skb).sk`` is)."""
        return self._state().sock

    def set_ext_ack(self, on: bool = True) -> None:
        """setsockopt(NETLINK_EXT_ACK): error ACKs carry the kernel's message and the bad attribute's offset."""
        self._state().ext_ack = on

    def set_cap_ack(self, on: bool = True) -> None:
        """setsockopt(NETLINK_CAP_ACK): error ACKs carry only the request's header."""
        self._state().cap_ack = on

    def join(self, group: int) -> None:
        """setsockopt(NETLINK_ADD_MEMBERSHIP, group)."""
        join(self._ctx, self._state(), group)

    def leave(self, group: int) -> None:
        """setsockopt(NETLINK_DROP_MEMBERSHIP, group)."""
        leave(self._ctx, self._state(), group)

    def send(self, data: bytes, portid: int = 0, group: int = 0) -> int:
        """sendto(): ``data`` to the kernel (``portid`` 0) and to ``group``'s members; the bytes sent."""
        k = self._ctx
        user = self._state()
        if len(data) > SNDBUF - 32:
            raise NetlinkError(f"netlink send of {len(data)} bytes: more than the send buffer (EMSGSIZE)", EMSGSIZE)
        skb = alloc_skb(k, len(data), owner="kernel")
        if not skb:
            raise NetlinkError("netlink send: no memory for the skb (ENOBUFS)", ENOBUFS)
        put_bytes(k, skb, bytes(data))
        task = k.memory.read_u32(k.export_address("current_task") or 0)
        tgid = k.memory.read_u32(task + offset("task_struct", "tgid")) if task else 0
        k.memory.write(skb + CB_PID, struct.pack("<III", tgid, 0, 0))
        k.memory.write_u32(skb + CB_PORTID, user.portid)
        k.memory.write_u32(skb + CB_DST_GROUP, group)
        if group:
            Skb(k, skb).users = Skb(k, skb).users + 1
            broadcast(k, user.sock, skb, user.portid, group)
        err = unicast(k, user.sock, skb, portid)
        if err < 0:
            raise NetlinkError(f"netlink send to port {portid} of protocol {self.protocol}: "
                               f"{errnos.errorcode.get(-err, err)}", -err)
        return len(data)

    def recv(self, bufsize: int = 32768) -> bytes | None:
        """One datagram (a running dump makes the next one when the queue is empty); None if there is none."""
        k = self._ctx
        user = self._state()
        user.max_recvmsg_len = min(max(user.max_recvmsg_len, bufsize), MAX_RECVMSG)
        if user.error:
            code, user.error = user.error, 0
            raise NetlinkError(f"netlink recv on port {user.portid}: {errnos.errorcode.get(code, code)}", code)
        if not user.queue and user.dump is not None:
            err = run_dump(k, user)
            if err:
                raise NetlinkError(f"netlink dump on port {user.portid}: {errnos.errorcode.get(-err, err)}", -err)
        if not user.queue:
            return None
        data, truesize = user.queue.pop(0)
        user.queued -= truesize
        return data

    def messages(self) -> list[wire.Message]:
        """Every message waiting (running dumps to their end), parsed."""
        out: list[wire.Message] = []
        while True:
            data = self.recv()
            if data is None:
                return out
            out.extend(wire.parse_messages(data))

    def request(self, data: bytes) -> list[wire.Message]:
        """send() then messages(): the kernel's whole answer to a request."""
        self.send(data)
        return self.messages()

    def close(self) -> None:
        """close(): the kernel socket's unbind for each group, NETLINK_URELEASE to the notifier chain."""
        user = state(self._ctx).users.get((self.protocol, self.portid))
        if user is not None:
            close(self._ctx, user)

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
