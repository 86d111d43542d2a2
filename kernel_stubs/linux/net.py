"""Network namespaces, netdevice notifiers and queueing disciplines, Linux 6.1 i386.

There is one network namespace, ``init_net``, a zeroed ``struct net`` in
kernel data; registered network devices are on its ``dev_base_head`` list
(kernel_stubs.linux.netdev).

- ``register_pernet_subsys/device`` do what Linux does for each existing
  namespace: give the ops an id (``*ops->id``, from 3 as
  MIN_PERNET_OPS_ID), allocate ``ops->size`` zeroed bytes reachable by
  ``net_generic(net, id)`` (``net->gen`` at 0x8c8, checked in
  xt_recent.ko; ``struct net_generic`` has len + rcu_head before ptr[], so
  ptr[id] is at 4 * id), then call ``ops->init(&init_net)``; a failing init
  undoes it all. Unregistering runs pre_exit, exit, exit_batch and
  exit_batch_rtnl and frees the data. ``struct pernet_operations`` in
  Debian's 6.1 (which has ``exit_batch_rtnl`` backported; 36 bytes): list 0,
  init 8, pre_exit 12, exit 16, exit_batch 20, exit_batch_rtnl 24, id 28,
  size 32. ``net->exit_list`` is at 36.
- ``register_netdevice_notifier`` records the notifier_block and, as Linux,
  replays NETDEV_REGISTER (and NETDEV_UP) for the devices already there;
  unregistering replays GOING_DOWN/DOWN/UNREGISTER (kernel_stubs.linux.netdev).
- ``register_qdisc``: ``struct Qdisc_ops`` next 0, cl_ops 4, id[16] 8;
  class ops need find, walk and leaf (``struct Qdisc_class_ops``: leaf 12,
  find 20, walk 32, tcf_block 36, bind_tcf 40, unbind_tcf 44; checked
  against sch_htb.ko).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.services import kernel_variable, service

from . import layout
from .locking import Mutexes, _mutex_take, mutex_trylock, mutex_unlock
from .memory import allocate, release
from .registrations import EEXIST, EINVAL, ENOENT, ENOMEM, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NET_SIZE = 0x4000  # comfortably above sizeof(struct net) on 6.1 i386
NET_EXIT_LIST, NET_DEV_BASE_HEAD, NET_GEN = 36, 0x64, 0x8C8  # dev_base_head: checked in smc.ko
MIN_PERNET_OPS_ID = 3
MAX_PERNET_IDS = 256
OPS_INIT, OPS_PRE_EXIT, OPS_EXIT, OPS_EXIT_BATCH, OPS_EXIT_BATCH_RTNL, OPS_ID, OPS_SIZE = 8, 12, 16, 20, 24, 28, 32

# net->user_ns is init_user_ns (kernel_stubs.linux.cred): x_tables' make_kuid(net->user_ns, 0) reads it;
# net->proc_net is /proc/net (kernel_stubs.linux.fs), where proc_create*(..., net->proc_net, ...) put files.
# Its exit_list and dev_base_head are empty lists from boot (aoe walks for_each_netdev before anything else).
init_net = kernel_variable("init_net", NET_SIZE, 0, {
    layout.offset("net", "user_ns"): "init_user_ns", layout.offset("net", "proc_net"): "proc_net_root",
    **{head + side: f"init_net+{head}" for head in (NET_EXIT_LIST, NET_DEV_BASE_HEAD) for side in (0, 4)}})


@dataclass(slots=True)
class PernetOps:
    """One registered pernet_operations and what registering it made."""

    address: int
    kind: str  # "pernet subsys" / "pernet device"
    owner: str
    id: int  # 0: the ops have no id pointer
    data: int  # the net_generic block for init_net, 0 if none
    fields: dict[str, int] = field(default_factory=dict)


class Pernet:
    """Registered pernet operations and the init_net net_generic array."""

    def __init__(self) -> None:
        self.ops: dict[int, PernetOps] = {}
        self.gen = 0  # guest address of init_net's struct net_generic
        self.free_ids: set[int] = set()
        self.next_id = MIN_PERNET_OPS_ID

    def clone(self) -> Pernet:
        """A copy for snapshots."""
        twin = Pernet()
        twin.ops = {a: PernetOps(o.address, o.kind, o.owner, o.id, o.data, dict(o.fields)) for a, o in self.ops.items()}
        twin.gen, twin.free_ids, twin.next_id = self.gen, set(self.free_ids), self.next_id
        return twin

    def net(self, k: Kernel) -> int:
        """&init_net, with its net_generic array in place."""
        net = k.export_address("init_net")
        assert net is not None
        if not self.gen:
            self.gen = k.memory.alloc(4 * MAX_PERNET_IDS)
            k.memory.write_u32(self.gen, MAX_PERNET_IDS)  # s.len
            k.memory.write_u32(net + NET_GEN, self.gen)
            # An empty list_head is its own neighbour: exit_list links the net into exit batches,
            # dev_base_head is the (empty: no network devices) list for_each_netdev() walks.
            for head in (NET_EXIT_LIST, NET_DEV_BASE_HEAD):
                k.memory.write_u32(net + head, net + head)
                k.memory.write_u32(net + head + 4, net + head)
        return net

    def take_id(self) -> int:
        """The lowest free id (ida_alloc_min)."""
        if self.free_ids:
            found = min(self.free_ids)
            self.free_ids.discard(found)
            return found
        self.next_id += 1
        return self.next_id - 1

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Pernet operations the module left registered: reported and dropped (their exit is not run)."""
        leaks = []
        for address, ops in list(self.ops.items()):
            if ops.owner == module.name:
                leaks.append(f"{ops.kind} {k.symbolizer.short(address)} still registered")
                self._forget(k, ops)
        return leaks

    def _forget(self, k: Kernel, ops: PernetOps) -> None:
        if ops.data:
            k.memory.write_u32(self.gen + 4 * ops.id, 0)
            release(k, ops.data)
        if ops.id:
            self.free_ids.add(ops.id)
        del self.ops[ops.address]


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def _register(k: Kernel, ops: int, kind: str) -> int:
    pernet = k.subsystem(Pernet)
    if ops in pernet.ops:
        return -EEXIST
    mem = k.memory
    net = pernet.net(k)
    id_ptr, size, init = mem.read_u32(ops + OPS_ID), mem.read_u32(ops + OPS_SIZE), mem.read_u32(ops + OPS_INIT)
    ident = 0
    if id_ptr:
        ident = pernet.take_id()
        if ident >= MAX_PERNET_IDS:
            return -ENOMEM
        mem.write_u32(id_ptr, ident)
    record = PernetOps(ops, kind, _owner(k), ident, 0, {"init": init, "exit": mem.read_u32(ops + OPS_EXIT)})
    pernet.ops[ops] = record
    if id_ptr and size:
        record.data = allocate(k, size, owner="kernel")  # freed by ops_free, never the module's leak
        if not record.data:
            pernet._forget(k, record)
            return -ENOMEM
        mem.write_u32(pernet.gen + 4 * ident, record.data)
    if init:
        try:
            result = k.call(init, net)
        except GuestFault:
            pernet._forget(k, record)
            raise
        if result:
            pernet._forget(k, record)
            return result
    return 0


def _unregister(k: Kernel, ops: int) -> None:
    pernet = k.subsystem(Pernet)
    record = pernet.ops.get(ops)
    if record is None:
        k.trace.add("note", "unregister", caller=k.current_caller,
                    fields={"warning": f"pernet operations {ops:#x} were not registered"})
        return
    mem = k.memory
    net = pernet.net(k)
    for offset in (OPS_PRE_EXIT, OPS_EXIT):
        fn = mem.read_u32(ops + offset)
        if fn:
            k.call(fn, net)
    batch, batch_rtnl = mem.read_u32(ops + OPS_EXIT_BATCH), mem.read_u32(ops + OPS_EXIT_BATCH_RTNL)
    if batch or batch_rtnl:
        # A list_head holding init_net's exit_list (and an empty dev_kill_list for the rtnl variant).
        heads = k.memory.alloc(16)
        link = net + NET_EXIT_LIST
        for address, value in ((heads, link), (heads + 4, link), (link, heads), (link + 4, heads),
                               (heads + 8, heads + 8), (heads + 12, heads + 8)):
            mem.write_u32(address, value)
        try:
            if batch_rtnl:
                k.call(batch_rtnl, heads, heads + 8)
            if batch:
                k.call(batch, heads)
        finally:
            mem.write_u32(link, link)
            mem.write_u32(link + 4, link)
            k.memory.free(heads)
    pernet._forget(k, record)


@service("int register_pernet_subsys(struct pernet_operations *ops)")
def register_pernet_subsys(k: Kernel, ops: int) -> int:
    """Register per-namespace state and run its init on init_net."""
    return _register(k, ops, "pernet subsys")


@service("void unregister_pernet_subsys(struct pernet_operations *ops)")
def unregister_pernet_subsys(k: Kernel, ops: int) -> None:
    """Run the exit callbacks on init_net and forget the ops."""
    _unregister(k, ops)


@service("int register_pernet_device(struct pernet_operations *ops)")
def register_pernet_device(k: Kernel, ops: int) -> int:
    """As register_pernet_subsys (device ops run after subsystems'; one list here)."""
    return _register(k, ops, "pernet device")


@service("void unregister_pernet_device(struct pernet_operations *ops)")
def unregister_pernet_device(k: Kernel, ops: int) -> None:
    """As unregister_pernet_subsys."""
    _unregister(k, ops)


# -- notifier chains about network devices and addresses ------------------------------
class NetNotifiers(Registry):
    """Registered notifier_blocks (notifier_call 0, next 4, priority 8), by chain."""


def _notifier(chain: str) -> tuple[object, object]:
    def register(k: Kernel, nb: int) -> int:
        registry = k.subsystem(NetNotifiers)
        if nb in registry.entries:
            return -EEXIST  # notifier_chain_register: "notifier callback %ps already registered"
        registry.add(k, chain, nb, k.symbolizer.short(k.memory.read_u32(nb)), notifier_call=k.memory.read_u32(nb),
                     priority=k.memory.read_u32(nb + 8))
        if chain == "netdevice notifier":
            from .netdev import replay_to_notifier

            replay_to_notifier(k, nb, registering=True)
        return 0

    def unregister(k: Kernel, nb: int) -> int:
        if k.subsystem(NetNotifiers).remove(k, nb, chain) is None:
            return -ENOENT
        if chain == "netdevice notifier":
            from .netdev import replay_to_notifier

            replay_to_notifier(k, nb, registering=False)
        return 0

    register.__doc__ = (f"Add to the {chain} chain (a netdevice notifier hears NETDEV_REGISTER, and NETDEV_UP for "
                        "devices up, for every device already registered).")
    unregister.__doc__ = f"Remove from the {chain} chain: 0, or -ENOENT."
    return register, unregister


register_netdevice_notifier, unregister_netdevice_notifier = (
    service(f"int {verb}_netdevice_notifier(struct notifier_block *nb)")(fn)
    for verb, fn in zip(("register", "unregister"), _notifier("netdevice notifier")))
register_inetaddr_notifier, unregister_inetaddr_notifier = (
    service(f"int {verb}_inetaddr_notifier(struct notifier_block *nb)")(fn)
    for verb, fn in zip(("register", "unregister"), _notifier("inetaddr notifier")))
register_inet6addr_notifier, unregister_inet6addr_notifier = (
    service(f"int {verb}_inet6addr_notifier(struct notifier_block *nb)")(fn)
    for verb, fn in zip(("register", "unregister"), _notifier("inet6addr notifier")))
# net/core/netevent.c: neighbour updates, redirects, multipath changes (ib_core listens for them).
register_netevent_notifier, unregister_netevent_notifier = (
    service(f"int {verb}_netevent_notifier(struct notifier_block *nb)")(fn)
    for verb, fn in zip(("register", "unregister"), _notifier("netevent notifier")))


@service("int call_netevent_notifiers(unsigned long val, void *v)")
def call_netevent_notifiers(k: Kernel, val: int, v: int) -> int:
    """Each netevent notifier by priority, as atomic_notifier_call_chain: the last result (0 with none);
    one with NOTIFY_STOP_MASK (0x8000) ends the walk."""
    result = 0
    for entry in sorted(k.subsystem(NetNotifiers).of_kind("netevent notifier"), key=lambda e: -e.fields["priority"]):
        result = k.call_function_pointer(entry.fields["notifier_call"], entry.address, val, v)
        if result & 0x8000:
            break
    return result


# -- queueing disciplines -----------------------------------------------------------
QDISC_CL_OPS, QDISC_ID = 4, 8
CL_LEAF, CL_FIND, CL_WALK, CL_TCF_BLOCK, CL_BIND_TCF, CL_UNBIND_TCF = 12, 20, 32, 36, 40, 44
BUILTIN_QDISCS = ("pfifo_fast", "pfifo", "bfifo", "pfifo_head_drop", "mq", "noqueue")


class Qdiscs(Registry):
    """Registered Qdisc_ops (modules' ones; BUILTIN_QDISCS are built in)."""


@service("int register_qdisc(struct Qdisc_ops *qops)")
def register_qdisc(k: Kernel, qops: int) -> int:
    """Add a qdisc kind: -EEXIST for a known id, -EINVAL for incomplete class ops."""
    mem = k.memory
    name = mem.read(qops + QDISC_ID, 16).split(b"\0", 1)[0].decode("utf-8", "replace")
    registry = k.subsystem(Qdiscs)
    if name in BUILTIN_QDISCS or registry.find(name):
        return -EEXIST
    cops = mem.read_u32(qops + QDISC_CL_OPS)
    if cops:
        if not (mem.read_u32(cops + CL_FIND) and mem.read_u32(cops + CL_WALK) and mem.read_u32(cops + CL_LEAF)):
            return -EINVAL
        if mem.read_u32(cops + CL_TCF_BLOCK) and not (mem.read_u32(cops + CL_BIND_TCF) and mem.read_u32(cops + CL_UNBIND_TCF)):
            return -EINVAL
    mem.write_u32(qops, 0)  # qops->next = NULL: Linux appends it to qdisc_base
    registry.add(k, "qdisc", qops, name, cl_ops=cops)
    return 0


@service("int unregister_qdisc(struct Qdisc_ops *qops)")
def unregister_qdisc(k: Kernel, qops: int) -> int:
    """Remove a qdisc kind: 0, or -ENOENT."""
    return 0 if k.subsystem(Qdiscs).remove(k, qops, "qdisc") is not None else -ENOENT




# -- TCP congestion control, tc actions, rtnetlink link kinds ----------------------------------
# struct tcp_congestion_ops (6.1 i386, checked against tcp_bbr.ko): ssthresh 0, cong_avoid 4,
# cong_control 28, undo_cwnd 32, name[16] 44, owner 60, list 64, key 72, flags 76, init 80.
CA_SSTHRESH, CA_CONG_AVOID, CA_CONG_CONTROL, CA_UNDO_CWND, CA_NAME, CA_INIT = 0, 4, 28, 32, 44, 80
BUILTIN_CONGESTION = ("reno", "cubic")


class NetExtensions(Registry):
    """TCP congestion controls, tc action kinds and rtnetlink link kinds modules registered."""


@service("int tcp_register_congestion_control(struct tcp_congestion_ops *ca)")
def tcp_register_congestion_control(k: Kernel, ca: int) -> int:
    """Add a congestion control: -EINVAL without the required ops, -EEXIST for a known name."""
    mem = k.memory
    name = mem.read(ca + CA_NAME, 16).split(b"\0", 1)[0].decode("utf-8", "replace")
    if not (mem.read_u32(ca + CA_SSTHRESH) and mem.read_u32(ca + CA_UNDO_CWND)
            and (mem.read_u32(ca + CA_CONG_AVOID) or mem.read_u32(ca + CA_CONG_CONTROL))):
        k.console_write(f"{name} does not implement required ops\n", 3)
        return -EINVAL
    registry = k.subsystem(NetExtensions)
    if name in BUILTIN_CONGESTION or registry.find(name, "tcp congestion control"):
        k.console_write(f"{name} already registered or non-unique key\n", 5)
        return -EEXIST
    registry.add(k, "tcp congestion control", ca, name, init=mem.read_u32(ca + CA_INIT))
    return 0


@service("void tcp_unregister_congestion_control(struct tcp_congestion_ops *ca)")
def tcp_unregister_congestion_control(k: Kernel, ca: int) -> None:
    """Remove a congestion control."""
    k.subsystem(NetExtensions).remove(k, ca, "tcp congestion control")


# struct tc_action_ops (checked against act_gact.ko): head 0, kind[16] 8, id 24, net_id 28,
# size 32, owner 36, act 40, dump 44, cleanup 48, lookup 52, init 56.
ACT_KIND, ACT_ID, ACT_NET_ID, ACT_ACT, ACT_DUMP, ACT_INIT = 8, 24, 28, 40, 44, 56


@service("int tcf_register_action(struct tc_action_ops *act, struct pernet_operations *ops)")
def tcf_register_action(k: Kernel, act: int, ops: int) -> int:
    """Register the action's pernet ops (running its init on init_net), then the action kind."""
    mem = k.memory
    if not (mem.read_u32(act + ACT_ACT) and mem.read_u32(act + ACT_DUMP) and mem.read_u32(act + ACT_INIT)):
        return -EINVAL
    result = _register(k, ops, "pernet subsys")
    if result:
        return result
    id_ptr = mem.read_u32(ops + OPS_ID)
    if id_ptr:
        mem.write_u32(act + ACT_NET_ID, mem.read_u32(id_ptr))
    kind = mem.read(act + ACT_KIND, 16).split(b"\0", 1)[0].decode("utf-8", "replace")
    registry = k.subsystem(NetExtensions)
    ident = mem.read_u32(act + ACT_ID)
    if any(e.name == kind or e.fields["id"] == ident for e in registry.of_kind("tc action")):
        _unregister(k, ops)
        return -EEXIST
    registry.add(k, "tc action", act, kind, id=ident, ops=ops)
    return 0


@service("int tcf_unregister_action(struct tc_action_ops *act, struct pernet_operations *ops)")
def tcf_unregister_action(k: Kernel, act: int, ops: int) -> int:
    """Remove the action kind, then its pernet ops: 0, or -ENOENT."""
    if k.subsystem(NetExtensions).remove(k, act, "tc action") is None:
        return -ENOENT
    _unregister(k, ops)
    return 0


RTNL_KIND = 8  # struct rtnl_link_ops: list 0, kind 8, priv_size 12, alloc 16, setup 20 (checked against dummy.ko)


@service("int rtnl_link_register(struct rtnl_link_ops *ops)")
def rtnl_link_register(k: Kernel, ops: int) -> int:
    """Add a link kind ("ip link add type <kind>"); -EEXIST if the kind is known."""
    kind = guest_string(k, k.memory.read_u32(ops + RTNL_KIND), 64)
    registry = k.subsystem(NetExtensions)
    if registry.find(kind, "rtnl link"):
        return -EEXIST
    registry.add(k, "rtnl link", ops, kind)
    return 0


@service("void rtnl_link_unregister(struct rtnl_link_ops *ops)")
def rtnl_link_unregister(k: Kernel, ops: int) -> None:
    """Remove a link kind (no devices of it exist here to delete)."""
    k.subsystem(NetExtensions).remove(k, ops, "rtnl link")


# -- the RTNL mutex -------------------------------------------------------------------------
# rtnl_mutex is static in Linux: a fixed spot in a reserved corner of kernel data stands for it,
# so the mutex checks (deadlock, unlock of a free mutex, held at unload) apply.
RTNL_MUTEX = amap.KDATA_BASE + amap.KDATA_SIZE - 0x6400


@service("void rtnl_lock(void)")
def rtnl_lock(k: Kernel) -> None:
    """Take the RTNL."""
    _mutex_take(k, RTNL_MUTEX)


@service("void rtnl_unlock(void)")
def rtnl_unlock(k: Kernel) -> None:
    """Release the RTNL."""
    mutex_unlock(k, RTNL_MUTEX)


@service("int rtnl_trylock(void)")
def rtnl_trylock(k: Kernel) -> int:
    """1 if the RTNL was free and is now taken."""
    return mutex_trylock(k, RTNL_MUTEX)


@service("int rtnl_is_locked(void)")
def rtnl_is_locked(k: Kernel) -> int:
    """Whether anyone holds the RTNL."""
    return int(RTNL_MUTEX in k.subsystem(Mutexes).held)


# net/ipv4/udp_tunnel_stub.c: set by udp_tunnel.ko's init, read by drivers offloading tunnels.
udp_tunnel_nic_ops = kernel_variable("udp_tunnel_nic_ops", 4)

TCF_IDRINFO_IDR = 20  # struct tcf_idrinfo: struct mutex lock (20 bytes), struct idr action_idr, struct net *net


@service("void tcf_idrinfo_destroy(const struct tc_action_ops *ops, struct tcf_idrinfo *idrinfo)")
def tcf_idrinfo_destroy(k: Kernel, ops: int, idrinfo: int) -> None:
    """Release a namespace's actions of one kind and destroy their IDR.

    No action instances are ever created here (that takes netlink requests),
    so the IDR is empty; any id found is reported rather than torn down.
    """
    from .idr import Ids, idr_destroy

    left = k.subsystem(Ids).tables.get(idrinfo + TCF_IDRINFO_IDR)
    if left:
        k.warn(f"tcf_idrinfo_destroy: {len(left)} actions left in {k.symbolizer.short(idrinfo)}")
    idr_destroy(k, idrinfo + TCF_IDRINFO_IDR)


# -- socket protocols -----------------------------------------------------------------------
# struct proto (6.1 i386, checked against af_key.ko's key_proto): slab 176, obj_size 180,
# slab_flags 184, useroffset 188, usersize 192, owner 212, name[32] 216.
PROTO_SLAB, PROTO_OBJ_SIZE, PROTO_SLAB_FLAGS, PROTO_USEROFFSET, PROTO_USERSIZE, PROTO_NAME = 176, 180, 184, 188, 192, 216
SLAB_HWCACHE_ALIGN = 0x2000


@service("int proto_register(struct proto *prot, int alloc_slab)")
def proto_register(k: Kernel, prot: int, alloc_slab: int) -> int:
    """Add a socket protocol; with ``alloc_slab`` its sock cache is created first (named after it)."""
    from .memory import kmem_cache_create_usercopy

    mem = k.memory
    name = mem.read(prot + PROTO_NAME, 32).split(b"\0", 1)[0].decode("utf-8", "replace")
    registry = k.subsystem(NetExtensions)
    if prot in registry.entries:
        return -EEXIST
    if alloc_slab:
        slab = kmem_cache_create_usercopy(
            k, prot + PROTO_NAME, mem.read_u32(prot + PROTO_OBJ_SIZE), 0,
            SLAB_HWCACHE_ALIGN | mem.read_u32(prot + PROTO_SLAB_FLAGS), mem.read_u32(prot + PROTO_USEROFFSET),
            mem.read_u32(prot + PROTO_USERSIZE), 0)
        if not slab:
            k.console_write(f"{name}: Can't create sock SLAB cache!\n", 2)
            return -105  # -ENOBUFS
        mem.write_u32(prot + PROTO_SLAB, slab)
    registry.add(k, "proto", prot, name, slab=mem.read_u32(prot + PROTO_SLAB))
    return 0


@service("void proto_unregister(struct proto *prot)")
def proto_unregister(k: Kernel, prot: int) -> None:
    """Remove a protocol and destroy the sock cache proto_register made."""
    from .memory import kmem_cache_destroy

    if k.subsystem(NetExtensions).remove(k, prot, "proto") is None:
        return
    slab = k.memory.read_u32(prot + PROTO_SLAB)
    if slab:
        kmem_cache_destroy(k, slab)
        k.memory.write_u32(prot + PROTO_SLAB, 0)


# -- TCP upper-layer protocols (net/ipv4/tcp_ulp.c): kTLS, espintcp ------------------------------------
BUILTIN_ULPS = ("mptcp",)  # subflow_ulp_ops is part of Debian's vmlinux (CONFIG_MPTCP=y)


@service("int tcp_register_ulp(struct tcp_ulp_ops *type)")
def tcp_register_ulp(k: Kernel, type: int) -> int:
    """Add a ULP ("setsockopt(TCP_ULP, name)"): 0, or -EEXIST for a name already there."""
    name = k.memory.read(type + layout.offset("tcp_ulp_ops", "name"), 16).split(b"\0", 1)[0].decode("utf-8", "replace")
    registry = k.subsystem(NetExtensions)
    if name in BUILTIN_ULPS or registry.find(name, "tcp ulp"):
        return -EEXIST
    registry.add(k, "tcp ulp", type, name, init=layout.Fields(k.memory, "tcp_ulp_ops", type)["init"])
    return 0


@service("void tcp_unregister_ulp(struct tcp_ulp_ops *type)")
def tcp_unregister_ulp(k: Kernel, type: int) -> None:
    """Remove a ULP."""
    k.subsystem(NetExtensions).remove(k, type, "tcp ulp")
