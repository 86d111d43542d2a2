"""Protocol families and the socket core, Linux 6.1 i386 (net/socket.c, net/core/sock.c).

- **Families** (``sock_register``/``sock_unregister``): ``net_families[NPROTO]``
  with Linux's checks: a family at or above NPROTO (46) is refused with
  -ENOBUFS and a critical message, a taken slot with -EEXIST; success prints
  "NET: Registered PF_xxx protocol family" at info level, as Linux does.
  The families built into Debian's 686 kernel (unix, inet, inet6, netlink,
  packet, xdp: their ``*_family_ops`` are in vmlinux) are taken from boot.
- **Sockets from Python** (:func:`create_socket`, ``k.net.socket(...)``):
  ``__sock_create``'s order: family and type ranges (-EAFNOSUPPORT,
  -EINVAL), a ``struct socket`` as ``sock_alloc`` makes it (followed by its
  inode, as ``struct socket_alloc``; SS_UNCONNECTED, an empty wait queue,
  an inode number), a reference on the family's owner, the family's
  ``create(net, sock, protocol, kern)``, then a reference on
  ``sock->ops->owner`` for as long as the socket lives. Closing runs
  ``sock->ops->release`` and drops that reference (``__sock_release``).
- **struct sock** (``sk_alloc``, ``sock_init_data``, ``sk_free``): zeroed from
  the protocol's slab (or kmalloc of ``obj_size``), a reference on
  ``prot->owner``, ``sk_wmem_alloc`` 1; ``sock_init_data`` sets what
  modules read: the three queues empty, buffer sizes 212992
  (``net.core.[rw]mem_default``), TCP_CLOSE, SOCK_ZAPPED, the type and wait
  queue of the socket, refcount 1, the ``sock_def_*`` callbacks (kernel
  functions here too: a module calling ``sk->sk_data_ready(sk)`` wakes the
  socket's waiters). ``sk_free`` drops ``sk_wmem_alloc`` and, at zero, runs
  ``sk->sk_destruct`` and frees the object back where it came from.
- **The socket lock** (``lock_sock_nested``/``release_sock``): ``sk_lock.owned``;
  nothing runs concurrently here, so taking a lock already owned can never
  be granted and is a GuestFault naming the socket rather than a hang.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault, SandboxError
from sandbox.services import service

from .cred import current_identity, put_cred
from .layout import Fields, offset, size
from .lib import module_put, try_module_get
from .memory import __kmalloc, kfree, kmem_cache_alloc, kmem_cache_free
from .registrations import EEXIST, EINVAL, ENOMEM
from .waits import wake_up_common

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NPROTO = 46  # AF_MAX in 6.1
SOCK_MAX = 11  # SOCK_PACKET + 1
SOCK_PACKET = 10
ENOBUFS, EAFNOSUPPORT, EOPNOTSUPP, ENODEV = 105, 97, 95, 19
AF_INET, AF_PACKET = 2, 17
# net/socket.c's pf_family_names[]
PF_NAMES = (
    "PF_UNSPEC", "PF_UNIX/PF_LOCAL", "PF_INET", "PF_AX25", "PF_IPX", "PF_APPLETALK", "PF_NETROM", "PF_BRIDGE",
    "PF_ATMPVC", "PF_X25", "PF_INET6", "PF_ROSE", "PF_DECnet", "PF_NETBEUI", "PF_SECURITY", "PF_KEY",
    "PF_NETLINK/PF_ROUTE", "PF_PACKET", "PF_ASH", "PF_ECONET", "PF_ATMSVC", "PF_RDS", "PF_SNA", "PF_IRDA",
    "PF_PPPOX", "PF_WANPIPE", "PF_LLC", "PF_IB", "PF_MPLS", "PF_CAN", "PF_TIPC", "PF_BLUETOOTH", "PF_IUCV",
    "PF_RXRPC", "PF_ISDN", "PF_PHONET", "PF_IEEE802154", "PF_CAIF", "PF_ALG", "PF_NFC", "PF_VSOCK", "PF_KCM",
    "PF_QIPCRTR", "PF_SMC", "PF_XDP", "PF_MCTP",
)
# Families whose net_proto_family is part of Debian's 686 vmlinux (unix_family_ops, inet_family_ops, ...).
BUILTIN_FAMILIES = {1: "unix", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet", 44: "xdp"}

SS_UNCONNECTED = 1
TCP_CLOSE = 7
SOCK_DEAD, SOCK_ZAPPED = 0, 8
S_IFSOCK_RWXUGO = 0o140777
SK_MEM_DEFAULT = 212992  # net.core.rmem_default / wmem_default: SK_RMEM_MAX on 6.1
MAX_SCHEDULE_TIMEOUT = 0x7FFFFFFF
NO_QUEUE_MAPPING = 0xFFFF
SK_DEFAULT_STAMP = -1_000_000_000  # -1 second in ns: "no timestamp yet"
TASK_NORMAL, TASK_INTERRUPTIBLE = 3, 1
EPOLLIN, EPOLLPRI, EPOLLERR, EPOLLOUT, EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND = (
    0x1, 0x2, 0x8, 0x4, 0x40, 0x80, 0x100, 0x200)
SOCKET_ALLOC_SIZE = size("socket") + size("inode")  # struct socket_alloc: the socket, then its inode
SOCK_INODE = size("socket")
PROTO_SLAB, PROTO_OBJ_SIZE, PROTO_OWNER = offset("proto", "slab"), offset("proto", "obj_size"), offset("proto", "owner")
NPF_FAMILY, NPF_CREATE, NPF_OWNER = (offset("net_proto_family", name) for name in ("family", "create", "owner"))
SKC_FLAGS = offset("sock", "__sk_common.skc_flags")


@dataclass(frozen=True, slots=True)
class Family:
    """One slot of net_families: a module's ``struct net_proto_family`` (ops 0: built in)."""

    family: int
    ops: int
    owner: str  # the registering module, or "kernel"
    create: int = 0


@dataclass(frozen=True, slots=True)
class OpenSocket:
    """A socket made through :func:`create_socket` and not yet released."""

    address: int  # the struct socket
    family: int
    type: int
    protocol: int
    ops_owner: int  # the struct module a reference is held on (sock->ops->owner at create)


class NetFamilies:
    """``net_families[]`` and the sockets created from the host."""

    def __init__(self) -> None:
        self.families: dict[int, Family] = {f: Family(f, 0, "kernel") for f in BUILTIN_FAMILIES}
        self.sockets: dict[int, OpenSocket] = {}
        self.next_ino = 1  # get_next_ino()

    def clone(self) -> NetFamilies:
        """A copy for snapshots."""
        twin = NetFamilies()
        twin.families, twin.sockets, twin.next_ino = dict(self.families), dict(self.sockets), self.next_ino
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Families a module left registered (Linux would call a freed ``create``): reported and cleared."""
        leaks = []
        for family, entry in list(self.families.items()):
            if entry.owner == module.name:
                leaks.append(f"protocol family {PF_NAMES[family]} still registered (sock_unregister not called)")
                del self.families[family]
        for sock, record in list(self.sockets.items()):
            ops = k.memory.read_u32(sock + offset("socket", "ops"))
            if ops and k.module_at(ops) is module:
                leaks.append(f"{family_name(record.family)} socket {sock:#x} still open")
                del self.sockets[sock]
        return leaks


def families(k: Kernel) -> NetFamilies:
    """This kernel's protocol family table."""
    return k.subsystem(NetFamilies)


def family_name(family: int) -> str:
    """pf_family_names[family] ("PF_BLUETOOTH"), or the number for one Linux has no name for."""
    return PF_NAMES[family] if 0 <= family < len(PF_NAMES) else str(family)


@service("int sock_register(const struct net_proto_family *ops)")
def sock_register(k: Kernel, ops: int) -> int:
    """Add a protocol family: 0, -ENOBUFS (family >= NPROTO) or -EEXIST (slot taken)."""
    f = Fields(k.memory, "net_proto_family", ops)
    family = f["family"]
    family = family - (1 << 32) if family >> 31 else family
    if family >= NPROTO:
        k.console_write(f"protocol {family} >= NPROTO({NPROTO})\n", 2)
        return -ENOBUFS
    table = families(k)
    if family in table.families:
        return -EEXIST
    module = k.caller_module()
    table.families[family] = Family(family, ops, module.name if module is not None else "kernel", f["create"])
    k.console_write(f"NET: Registered {family_name(family)} protocol family\n", 6)
    return 0


@service("void sock_unregister(int family)")
def sock_unregister(k: Kernel, family: int) -> None:
    """Empty a family's slot (BUG_ON outside 0..NPROTO-1, as Linux)."""
    if not 0 <= family < NPROTO:
        raise GuestFault("bug", f"sock_unregister({family}) at {k.symbolizer.short(k.current_caller)}: "
                         f"kernel BUG (family outside 0..{NPROTO - 1})", pc=k.current_caller)
    families(k).families.pop(family, None)
    k.console_write(f"NET: Unregistered {family_name(family)} protocol family\n", 6)


# -- struct sock ---------------------------------------------------------------------------------

def _queue_init(k: Kernel, head: int) -> None:
    """skb_queue_head_init: an empty sk_buff_head (next = prev = itself, qlen 0)."""
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)
    k.memory.write_u32(head + 8, 0)


def _waitqueue_init(k: Kernel, wq_head: int) -> None:
    """init_waitqueue_head: lock 0, the head list empty."""
    head = wq_head + offset("wait_queue_head", "head")
    k.memory.write_u32(wq_head, 0)
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


def _set_flag(k: Kernel, sk: int, bit: int, on: bool) -> None:
    flags = k.memory.read_u32(sk + SKC_FLAGS)
    k.memory.write_u32(sk + SKC_FLAGS, flags | 1 << bit if on else flags & ~(1 << bit))


@service("struct sock *sk_alloc(struct net *net, int family, gfp_t priority, struct proto *prot, int kern)")
def sk_alloc(k: Kernel, net: int, family: int, priority: int, prot: int, kern: int) -> int:
    """A zeroed struct sock of ``prot->obj_size`` from the protocol's slab, holding a reference on its owner."""
    mem = k.memory
    slab = mem.read_u32(prot + PROTO_SLAB)
    if slab:  # proto_register made the cache without a constructor: its objects come zeroed, as __GFP_ZERO asks
        sk = kmem_cache_alloc(k, slab, priority)
    else:
        sk = __kmalloc(k, mem.read_u32(prot + PROTO_OBJ_SIZE), priority)
    if not sk:
        return 0
    owner = mem.read_u32(prot + PROTO_OWNER)
    if not try_module_get(k, owner):
        _free_object(k, prot, sk)
        return 0
    f = Fields(mem, "sock", sk)
    f["__sk_common.skc_family"] = family
    f["__sk_common.skc_prot"] = prot
    f["sk_prot_creator"] = prot
    f["sk_kern_sock"] = 1 if kern else 0
    _lock_init(k, sk)
    f["__sk_common.skc_net_refcnt"] = 0 if kern else 1
    f["__sk_common.skc_net"] = net
    f["sk_wmem_alloc"] = 1
    f["__sk_common.skc_tx_queue_mapping"] = NO_QUEUE_MAPPING
    return sk


def _lock_init(k: Kernel, sk: int) -> None:
    """sock_lock_init: unowned, spinlock free, no one waiting."""
    f = Fields(k.memory, "sock", sk)
    f["sk_lock.slock"] = 0
    f["sk_lock.owned"] = 0
    _waitqueue_init(k, f.address_of("sk_lock.wq"))


def _free_object(k: Kernel, prot: int, sk: int) -> None:
    slab = k.memory.read_u32(prot + PROTO_SLAB)
    if slab:
        kmem_cache_free(k, slab, sk)
    else:
        kfree(k, sk)


@service("void sk_free(struct sock *sk)")
def sk_free(k: Kernel, sk: int) -> None:
    """Drop the socket's own sk_wmem_alloc reference; at zero, destruct and free it."""
    f = Fields(k.memory, "sock", sk)
    count = f["sk_wmem_alloc"]
    if count == 0:
        k.warn(f"sk_free of {sk:#x} at {k.symbolizer.short(k.current_caller)}: sk_wmem_alloc already 0 "
               "(refcount_t: underflow)")
        return
    f["sk_wmem_alloc"] = count - 1
    if count == 1:
        _destruct(k, sk)


def _destruct(k: Kernel, sk: int) -> None:
    """__sk_destruct: the protocol's sk_destruct, then the object back to its slab and the owner's reference."""
    f = Fields(k.memory, "sock", sk)
    if f["sk_destruct"]:
        k.call_function_pointer(f["sk_destruct"], sk)
    if f["sk_peer_cred"]:
        put_cred(k, f["sk_peer_cred"])
    pid = f["sk_peer_pid"]
    if pid:  # put_pid: the pid's count (a pid of this task is never freed here)
        count = k.memory.read_u32(pid + offset("pid", "count"))
        k.memory.write_u32(pid + offset("pid", "count"), max(count - 1, 0))
    prot = f["sk_prot_creator"]
    owner = k.memory.read_u32(prot + PROTO_OWNER)
    _free_object(k, prot, sk)
    module_put(k, owner)


@service("void sock_init_data(struct socket *sock, struct sock *sk)")
def sock_init_data(k: Kernel, sock: int, sk: int) -> None:
    """Give a new sock its queues, buffer sizes, default callbacks and link it to ``sock`` (may be NULL)."""
    mem = k.memory
    f = Fields(mem, "sock", sk)
    for queue in ("sk_receive_queue", "sk_write_queue", "sk_error_queue"):
        _queue_init(k, f.address_of(queue))
    f["sk_send_head"] = 0
    f["sk_allocation"] = 0xCC0  # GFP_KERNEL
    f["sk_rcvbuf"] = SK_MEM_DEFAULT
    f["sk_sndbuf"] = SK_MEM_DEFAULT
    f["__sk_common.skc_state"] = TCP_CLOSE
    f["sk_socket"] = sock
    _set_flag(k, sk, SOCK_ZAPPED, True)
    if sock:
        s = Fields(mem, "socket", sock)
        f["sk_type"] = s["type"]
        f["sk_wq"] = s.address_of("wq")
        s["sk"] = sk
        f["sk_uid"] = mem.read_u32(sock + SOCK_INODE + offset("inode", "i_uid"))
    else:
        f["sk_wq"] = 0
        f["sk_uid"] = 0  # make_kuid(&init_user_ns, 0)
    f["sk_callback_lock"] = 0
    for member, callback in (("sk_state_change", "sock_def_wakeup"), ("sk_data_ready", "sock_def_readable"),
                             ("sk_write_space", "sock_def_write_space"),
                             ("sk_error_report", "sock_def_error_report"), ("sk_destruct", "sock_def_destruct")):
        f[member] = k.export_address(callback) or 0
    f["sk_peek_off"] = 0xFFFFFFFF
    f["sk_rcvlowat"] = 1
    f["sk_rcvtimeo"] = MAX_SCHEDULE_TIMEOUT
    f["sk_sndtimeo"] = MAX_SCHEDULE_TIMEOUT
    f["sk_stamp"] = SK_DEFAULT_STAMP & 0xFFFFFFFFFFFFFFFF
    f["sk_max_pacing_rate"] = 0xFFFFFFFF
    f["sk_pacing_rate"] = 0xFFFFFFFF
    f["sk_pacing_shift"] = 10
    f["__sk_common.skc_incoming_cpu"] = 0xFFFFFFFF
    f["__sk_common.skc_rx_queue_mapping"] = NO_QUEUE_MAPPING
    f["__sk_common.skc_refcnt"] = 1
    f["sk_drops"] = 0


def _wait_queue(k: Kernel, sk: int) -> int:
    """&sk->sk_wq->wait if the socket has a wait queue with someone on it (skwq_has_sleeper), else 0."""
    wq = Fields(k.memory, "sock", sk)["sk_wq"]
    if not wq:
        return 0
    head = wq + offset("socket_wq", "wait.head")
    return wq + offset("socket_wq", "wait") if k.memory.read_u32(head) != head else 0


@service("void sock_def_wakeup(struct sock *sk)")
def sock_def_wakeup(k: Kernel, sk: int) -> None:
    """The default sk_state_change: wake every waiter on the socket."""
    wait = _wait_queue(k, sk)
    if wait:
        wake_up_common(k, wait, TASK_INTERRUPTIBLE, 0, 0, 0)


@service("void sock_def_readable(struct sock *sk)")
def sock_def_readable(k: Kernel, sk: int) -> None:
    """The default sk_data_ready: wake one reader (EPOLLIN)."""
    wait = _wait_queue(k, sk)
    if wait:
        wake_up_common(k, wait, TASK_INTERRUPTIBLE, 1, 1, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND)


@service("void sock_def_write_space(struct sock *sk)")
def sock_def_write_space(k: Kernel, sk: int) -> None:
    """The default sk_write_space: wake a writer once half the send buffer is free."""
    f = Fields(k.memory, "sock", sk)
    if f["sk_wmem_alloc"] << 1 <= f["sk_sndbuf"]:
        wait = _wait_queue(k, sk)
        if wait:
            wake_up_common(k, wait, TASK_INTERRUPTIBLE, 1, 1, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND)


@service("void sock_def_error_report(struct sock *sk)")
def sock_def_error_report(k: Kernel, sk: int) -> None:
    """The default sk_error_report: wake the waiters with EPOLLERR."""
    wait = _wait_queue(k, sk)
    if wait:
        wake_up_common(k, wait, TASK_INTERRUPTIBLE, 0, 0, EPOLLERR)


@service("void sock_def_destruct(struct sock *sk)")
def sock_def_destruct(k: Kernel, sk: int) -> None:
    """The default sk_destruct: Linux's does nothing (the object is freed by __sk_destruct)."""


@service("void lock_sock_nested(struct sock *sk, int subclass)")
def lock_sock_nested(k: Kernel, sk: int, subclass: int) -> None:
    """Own the socket (``sk_lock.owned``); owned already means waiting for ever: a GuestFault."""
    f = Fields(k.memory, "sock", sk)
    if f["sk_lock.owned"]:
        raise GuestFault("deadlock", f"lock_sock of socket {sk:#x} at {k.symbolizer.short(k.current_caller)}: "
                         "already owned and nothing else runs to release it", pc=k.current_caller, address=sk)
    f["sk_lock.owned"] = 1


@service("void release_sock(struct sock *sk)")
def release_sock(k: Kernel, sk: int) -> None:
    """Run the protocol's release_cb, give up ownership and wake those waiting for the lock."""
    f = Fields(k.memory, "sock", sk)
    prot = f["__sk_common.skc_prot"]
    release_cb = Fields(k.memory, "proto", prot)["release_cb"] if prot else 0
    if release_cb:
        k.call_function_pointer(release_cb, sk)
    f["sk_lock.owned"] = 0
    wq = f.address_of("sk_lock.wq")
    if k.memory.read_u32(wq + offset("wait_queue_head", "head")) != wq + offset("wait_queue_head", "head"):
        wake_up_common(k, wq, TASK_NORMAL, 1, 0, 0)


@service("unsigned long sock_i_ino(struct sock *sk)")
def sock_i_ino(k: Kernel, sk: int) -> int:
    """The inode number of the socket ``sk`` belongs to (0 if orphaned)."""
    sock = Fields(k.memory, "sock", sk)["sk_socket"]
    return k.memory.read_u32(sock + SOCK_INODE + offset("inode", "i_ino")) if sock else 0


@service("kuid_t sock_i_uid(struct sock *sk)")
def sock_i_uid(k: Kernel, sk: int) -> int:
    """The owner of the socket's inode; GLOBAL_ROOT_UID (0) for a sock without a socket."""
    sock = Fields(k.memory, "sock", sk)["sk_socket"]
    return k.memory.read_u32(sock + SOCK_INODE + offset("inode", "i_uid")) if sock else 0


# -- ioctl hooks protocol modules plug into sock_ioctl (SIOCGIFVLAN, SIOCGIFBR) --------------------
class IoctlHooks:
    """``vlan_ioctl_hook`` and ``br_ioctl_hook`` of net/socket.c: set by 8021q and bridge at init."""

    def __init__(self) -> None:
        self.hooks: dict[str, int] = {}

    def clone(self) -> IoctlHooks:
        """A copy for snapshots."""
        twin = IoctlHooks()
        twin.hooks = dict(self.hooks)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """A hook left pointing into a module that is going away: reported and cleared."""
        leaks = []
        for name, hook in list(self.hooks.items()):
            if hook and k.module_at(hook) is module:
                leaks.append(f"{name} ioctl hook {k.symbolizer.short(hook)} still set")
                del self.hooks[name]
        return leaks


def _set_hook(k: Kernel, name: str, hook: int) -> None:
    hooks = k.subsystem(IoctlHooks).hooks
    if hook:
        hooks[name] = hook
    else:
        hooks.pop(name, None)


@service("void vlan_ioctl_set(int (*hook)(struct net *, void *))")
def vlan_ioctl_set(k: Kernel, hook: int) -> None:
    """Install (NULL: remove) the handler sock_ioctl calls for SIOCGIFVLAN/SIOCSIFVLAN."""
    _set_hook(k, "vlan", hook)


@service("void brioctl_set(int (*hook)(struct net *, struct net_bridge *, unsigned int, struct ifreq *, void *))")
def brioctl_set(k: Kernel, hook: int) -> None:
    """Install (NULL: remove) the handler sock_ioctl calls for the bridge ioctls."""
    _set_hook(k, "bridge", hook)


# -- proto_ops defaults modules put in their tables ---------------------------------------------
def _not_supported(name: str, prototype: str, errno: int = EOPNOTSUPP, doc: str = "") -> object:
    def op(k: Kernel, *args: int) -> int:
        return -errno

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or f"-{'EOPNOTSUPP' if errno == EOPNOTSUPP else errno}: the family has no {name[8:]}."
    return service(prototype)(op)


sock_no_bind = _not_supported("sock_no_bind", "int sock_no_bind(struct socket *sock, struct sockaddr *saddr, int len)")
sock_no_connect = _not_supported("sock_no_connect",
                                 "int sock_no_connect(struct socket *sock, struct sockaddr *saddr, int len, int flags)")
sock_no_socketpair = _not_supported("sock_no_socketpair",
                                    "int sock_no_socketpair(struct socket *sock1, struct socket *sock2)")
sock_no_accept = _not_supported("sock_no_accept", "int sock_no_accept(struct socket *sock, struct socket *newsock, "
                                "int flags, bool kern)")
sock_no_getname = _not_supported("sock_no_getname",
                                 "int sock_no_getname(struct socket *sock, struct sockaddr *saddr, int peer)")
sock_no_ioctl = _not_supported("sock_no_ioctl", "int sock_no_ioctl(struct socket *sock, unsigned int cmd, "
                               "unsigned long arg)")
sock_no_listen = _not_supported("sock_no_listen", "int sock_no_listen(struct socket *sock, int backlog)")
sock_no_shutdown = _not_supported("sock_no_shutdown", "int sock_no_shutdown(struct socket *sock, int how)")
sock_no_sendmsg = _not_supported("sock_no_sendmsg", "int sock_no_sendmsg(struct socket *sock, struct msghdr *m, "
                                 "size_t len)")
sock_no_sendmsg_locked = _not_supported("sock_no_sendmsg_locked", "int sock_no_sendmsg_locked(struct sock *sk, "
                                        "struct msghdr *m, size_t len)")
sock_no_recvmsg = _not_supported("sock_no_recvmsg", "int sock_no_recvmsg(struct socket *sock, struct msghdr *m, "
                                 "size_t len, int flags)")
sock_no_mmap = _not_supported("sock_no_mmap", "int sock_no_mmap(struct file *file, struct socket *sock, "
                              "struct vm_area_struct *vma)", ENODEV, "-ENODEV: the family's sockets cannot be mapped.")


# -- sockets made from the host ------------------------------------------------------------------

def _sock_alloc(k: Kernel) -> int:
    """sock_alloc: a struct socket_alloc, SS_UNCONNECTED, an empty wait queue, a socket inode."""
    from .memory import allocate

    sock = allocate(k, SOCKET_ALLOC_SIZE, owner="kernel")
    if not sock:
        return 0
    s = Fields(k.memory, "socket", sock)
    s["state"] = SS_UNCONNECTED
    _waitqueue_init(k, s.address_of("wq.wait"))
    table = families(k)
    inode = Fields(k.memory, "inode", sock + SOCK_INODE)
    inode["i_ino"] = table.next_ino
    table.next_ino += 1
    inode["i_mode"] = S_IFSOCK_RWXUGO
    return sock


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def create_socket(k: Kernel, family: int, type_: int, protocol: int, kern: bool = False) -> int:
    """__sock_create in init_net: the new struct socket's address, or -errno as Linux returns it.

    A family built into the kernel has no module behind it here: creating
    one of its sockets is a SandboxError rather than a made-up result.
    """
    from .memory import release
    from .net import Pernet

    if not 0 <= family < NPROTO:
        return -EAFNOSUPPORT
    if not 0 <= type_ < SOCK_MAX:
        return -EINVAL
    if family == AF_INET and type_ == SOCK_PACKET:
        family = AF_PACKET  # the compatibility rewrite Linux makes (with a once-only warning)
    entry = families(k).families.get(family)
    if entry is None:
        return -EAFNOSUPPORT  # request_module("net-pf-%d") would find nothing loaded by the sandbox
    if not entry.ops:
        raise SandboxError(f"{family_name(family)} sockets are part of the kernel itself ({BUILTIN_FAMILIES[family]}), "
                           "which the sandbox does not emulate; only families a module registers can be created")
    sock = _sock_alloc(k)
    if not sock:
        return -ENOMEM
    s = Fields(k.memory, "socket", sock)
    s["type"] = type_
    pf = Fields(k.memory, "net_proto_family", entry.ops)
    if not try_module_get(k, pf["owner"]):
        release(k, sock)
        return -EAFNOSUPPORT
    net = k.subsystem(Pernet).net(k)
    current_identity(k)  # the family may take current's pid and credentials (sk_peer_pid, sk_peer_cred)
    result = _signed(k.call_function_pointer(pf["create"], net, sock, protocol, int(kern)))
    if result < 0:
        s["ops"] = 0
        module_put(k, pf["owner"])
        _free_socket(k, sock)
        return result
    ops_owner = Fields(k.memory, "proto_ops", s["ops"])["owner"] if s["ops"] else 0
    if not try_module_get(k, ops_owner):
        module_put(k, pf["owner"])
        release_socket(k, sock)
        return -EAFNOSUPPORT
    module_put(k, pf["owner"])
    families(k).sockets[sock] = OpenSocket(sock, family, type_, protocol, ops_owner)
    return sock


def _free_socket(k: Kernel, sock: int) -> None:
    from .memory import release

    if Fields(k.memory, "socket", sock)["wq.fasync_list"]:
        k.console_write("__sock_release: fasync list not empty!\n", 3)
    release(k, sock)


def release_socket(k: Kernel, sock: int) -> None:
    """__sock_release: the family's release, the ops owner's reference dropped, the socket freed."""
    s = Fields(k.memory, "socket", sock)
    record = families(k).sockets.pop(sock, None)
    if s["ops"]:
        owner = Fields(k.memory, "proto_ops", s["ops"])["owner"]
        release = Fields(k.memory, "proto_ops", s["ops"])["release"]
        if release:
            k.call_function_pointer(release, sock)
        s["sk"] = 0
        s["ops"] = 0
        if record is not None:
            module_put(k, record.ops_owner if record.ops_owner else owner)
    _free_socket(k, sock)


class Socket:
    """A socket created from Python (``k.net.socket(family, type, protocol)``), as the family's create left it."""

    def __init__(self, kernel: Kernel, address: int) -> None:
        self._kernel = kernel
        self._k = kernel.service_context
        self.address = address
        record = families(self._k).sockets[address]
        self.family, self.type, self.protocol = record.family, record.type, record.protocol
        self.closed = False

    def __repr__(self) -> str:
        return (f"<Socket {family_name(self.family)} type {self.type} protocol {self.protocol} at {self.address:#x}"
                f"{' closed' if self.closed else ''}>")

    @property
    def fields(self) -> Fields:
        """The ``struct socket`` members (state, type, flags, ops, sk, ...)."""
        return Fields(self._k.memory, "socket", self.address)

    @property
    def sock(self) -> Fields | None:
        """The ``struct sock`` the family attached (``sock->sk``), or None."""
        sk = self.fields["sk"]
        return Fields(self._k.memory, "sock", sk) if sk else None

    @property
    def ops(self) -> int:
        """``sock->ops``: the family's ``struct proto_ops`` for this socket."""
        return self.fields["ops"]

    @property
    def state(self) -> int:
        """``sock->state`` (SS_UNCONNECTED 1, SS_CONNECTING 2, SS_CONNECTED 3, ...)."""
        return self.fields["state"]

    @property
    def inode(self) -> int:
        """The socket inode's number (what /proc/net tables print)."""
        return self._k.memory.read_u32(self.address + SOCK_INODE + offset("inode", "i_ino"))

    def close(self) -> None:
        """Release the socket (``sock->ops->release``), as the last close() of its file does."""
        if not self.closed:
            self.closed = True
            release_socket(self._k, self.address)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_socket(kernel: Kernel, family: int, type_: int, protocol: int = 0) -> Socket:
    """``socket(family, type, protocol)`` from the host: a :class:`Socket`, or SandboxError with Linux's errno."""
    from .netif import _bh_enable

    ctx = kernel.service_context
    result = create_socket(ctx, family, type_, protocol)
    _bh_enable(ctx)
    if result < 0:
        raise SandboxError(f"socket({family_name(family)}, {type_}, {protocol}) failed with {result}")
    return Socket(kernel, result)
