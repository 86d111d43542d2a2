"""The stack's side of a network device: opening, transmitting, receiving, and ``Kernel.net`` from Python.

What ``ip link set up``, a socket's send and the protocol handlers do to a
driver, this does, in Linux's order:

- **open** (``__dev_open``): the device must be present; NETDEV_PRE_UP;
  __LINK_STATE_START set; ``ndo_validate_addr``; ``ndo_open`` (a failure
  clears START again); IFF_UP; ``ndo_set_rx_mode``; the transmit watchdog
  armed; NETDEV_UP. **close** (``__dev_close_many``): NETDEV_GOING_DOWN,
  START cleared, the queued frames dropped, ``ndo_stop``, IFF_UP cleared,
  NETDEV_DOWN.
- **transmit**: a frame becomes an skb (headroom for the link layer as
  LL_RESERVED_SPACE gives it, ``skb->dev``, ``protocol``, MAC and network
  headers set) queued on the device's qdisc (pfifo, ``tx_queue_len``
  long); the qdisc feeds ``ndo_start_xmit`` while the queue is not stopped,
  with the transmit lock's owner set and ``trans_start`` updated on
  NETDEV_TX_OK. A driver that stops its queue gets the rest of the frames
  when it calls ``netif_wake_queue`` (NET_TX runs the qdisc); NETDEV_TX_BUSY
  requeues the frame.
- **receive**: ``netif_receive_skb``/``napi_gro_receive``/``netif_rx``'s
  backlog end in :func:`deliver`, the protocol layer: the frame from its
  MAC header to ``tail``, its protocol and packet type are recorded for the
  interface; then the packet handlers modules added with ``dev_add_pack``
  get the skb in Linux's order (kernel_stubs.linux.packet), or, if none
  matches, the skb is consumed as the built-in protocols would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.errors import GuestFault, SandboxError
from sandbox.services import service

from .layout import Fields, member, offset, size
from .memory import allocate, release
from .netdev import (
    ETH_ALEN,
    ETH_HLEN,
    IFF_ALLMULTI,
    IFF_PROMISC,
    IFF_UP,
    LINK_STATE_START,
    NETDEV_CHANGEADDR,
    NETDEV_DOWN,
    NETDEV_GOING_DOWN,
    NETDEV_PRE_CHANGEADDR,
    NETDEV_PRE_UP,
    NETDEV_UP,
    QUEUE_STATE_DRV_XOFF,
    QUEUE_STATE_FROZEN,
    QUEUE_STATE_STACK_XOFF,
    STATE,
    STATS64_FIELDS,
    TXQ_STATE,
    TXQ_TRANS_START,
    carrier_ok,
    change_bit,
    dev_get_stats,
    devices,
    ifname,
    mac,
    notify,
    present,
    running,
    tx_queues,
    watchdog_up,
)
from .skbuff import SKB_DROP_REASON_NOT_SPECIFIED, Skb, alloc_skb, free_skb, live_skb

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

    from .socket import Socket

NETDEV_TX_OK, NETDEV_TX_BUSY = 0x00, 0x10
NET_XMIT_SUCCESS, NET_XMIT_DROP = 0x00, 0x01
NET_RX_SUCCESS = 0
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 1, 2, 3, 4
PACKET_TYPES = {0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}
ETH_P_802_3, ETH_P_802_2, ETH_P_802_3_MIN = 0x0001, 0x0004, 0x0600
HH_DATA_MOD = 16
QUEUE_STOPPED = 1 << QUEUE_STATE_DRV_XOFF | 1 << QUEUE_STATE_STACK_XOFF | 1 << QUEUE_STATE_FROZEN
EAGAIN, ENODEV, ENETDOWN, EINVAL, EOPNOTSUPP = 11, 19, 100, 22, 95


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame the driver delivered to the stack."""

    data: bytes  # from the MAC header to the end: what a packet socket would read
    protocol: int  # skb->protocol in host order (0x0800 IPv4, 0x0806 ARP, ...)
    pkt_type: str  # "host", "broadcast", "multicast", "otherhost"
    via: str  # the service that handed it up: netif_rx, netif_receive_skb, napi_gro_receive


@dataclass
class Stack:
    """The protocol layer's view of each interface: frames received, frames waiting in the qdisc."""

    received: dict[int, list[Frame]] = field(default_factory=dict)  # by net_device
    qdisc: dict[int, list[int]] = field(default_factory=dict)  # skbs waiting to go to ndo_start_xmit
    transmitted: dict[int, int] = field(default_factory=dict)  # frames the driver accepted (NETDEV_TX_OK)
    dropped: dict[int, int] = field(default_factory=dict)  # frames the qdisc dropped (full, or device down)

    def clone(self) -> Stack:
        """A copy for snapshots."""
        return Stack({d: list(f) for d, f in self.received.items()}, {d: list(q) for d, q in self.qdisc.items()},
                     dict(self.transmitted), dict(self.dropped))


def stack(k: Kernel) -> Stack:
    """This kernel's protocol layer."""
    return k.subsystem(Stack)


def _ops(k: Kernel, dev: int) -> Fields:
    return Fields(k.memory, "net_device_ops", Fields(k.memory, "net_device", dev)["netdev_ops"])


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def _bh_enable(k: Kernel) -> None:
    """local_bh_enable from the host's side: softirqs raised meanwhile run now."""
    from .napi import run_softirqs
    from .netdev import run_linkwatch

    if not k.kernel.interrupts.in_service and k.cpu.depth == 0:
        run_softirqs(k)
        run_linkwatch(k)


# -- open and close -------------------------------------------------------------------------------

def open_device(k: Kernel, dev: int) -> int:
    """__dev_open: 0 (already up, or opened), or the driver's -errno."""
    f = Fields(k.memory, "net_device", dev)
    if f["flags"] & IFF_UP:
        return 0
    if not present(k, dev):
        return -ENODEV
    result = _signed(notify(k, NETDEV_PRE_UP, dev))
    if result & 0x8000:
        return -EINVAL
    change_bit(k, dev + STATE, LINK_STATE_START, True)
    ops = _ops(k, dev)
    result = 0
    if ops["ndo_validate_addr"]:
        result = _signed(k.call_function_pointer(ops["ndo_validate_addr"], dev))
    if not result and ops["ndo_open"]:
        result = _signed(k.call_function_pointer(ops["ndo_open"], dev))
    if result:
        change_bit(k, dev + STATE, LINK_STATE_START, False)
        return result
    f["flags"] = f["flags"] | IFF_UP
    set_rx_mode(k, dev)
    if carrier_ok(k, dev):
        watchdog_up(k, dev)
    k.trace.add("note", "netdev up", fields={"name": ifname(k, dev)})
    notify(k, NETDEV_UP, dev)
    return 0


def close(k: Kernel, dev: int) -> None:
    """__dev_close_many for one device: down, queued frames dropped, ndo_stop."""
    f = Fields(k.memory, "net_device", dev)
    if not f["flags"] & IFF_UP:
        return
    notify(k, NETDEV_GOING_DOWN, dev)
    change_bit(k, dev + STATE, LINK_STATE_START, False)
    record = devices(k).devices.get(dev)
    if record is not None:
        record.watchdog_due = None
    _purge_qdisc(k, dev)
    ops = _ops(k, dev)
    if ops["ndo_stop"]:
        k.call_function_pointer(ops["ndo_stop"], dev)
    f["flags"] = f["flags"] & ~IFF_UP
    k.trace.add("note", "netdev down", fields={"name": ifname(k, dev)})
    notify(k, NETDEV_DOWN, dev)


@service("int dev_open(struct net_device *dev, struct netlink_ext_ack *extack)")
def dev_open(k: Kernel, dev: int, extack: int) -> int:
    """Bring ``dev`` up (ndo_open): 0 or -errno."""
    return open_device(k, dev)


@service("void dev_close(struct net_device *dev)")
def dev_close(k: Kernel, dev: int) -> None:
    """Bring ``dev`` down (ndo_stop)."""
    close(k, dev)


def set_rx_mode(k: Kernel, dev: int) -> None:
    """__dev_set_rx_mode: ndo_set_rx_mode for an up, present device."""
    f = Fields(k.memory, "net_device", dev)
    if not f["flags"] & IFF_UP or not present(k, dev):
        return
    hook = _ops(k, dev)["ndo_set_rx_mode"]
    if hook:
        k.call_function_pointer(hook, dev)


def change_flags(k: Kernel, dev: int, flag: int, on: bool) -> None:
    """dev_set_promiscuity / dev_set_allmulti by one: counts, the flag, ndo_change_rx_flags, ndo_set_rx_mode."""
    f = Fields(k.memory, "net_device", dev)
    counter = "promiscuity" if flag == IFF_PROMISC else "allmulti"
    count = max(f[counter] + (1 if on else -1), 0)
    f[counter] = count
    old = f["flags"]
    f["flags"] = old | flag if count else old & ~flag
    if f["flags"] != old:
        if flag == IFF_PROMISC:
            k.console_write(f"device {ifname(k, dev)} {'entered' if count else 'left'} promiscuous mode\n", 6)
        hook = _ops(k, dev)["ndo_change_rx_flags"]
        if hook:
            k.call_function_pointer(hook, dev, flag)
        set_rx_mode(k, dev)


def set_mac_address(k: Kernel, dev: int, address: bytes) -> int:
    """dev_set_mac_address: ndo_set_mac_address with a struct sockaddr; NETDEV_CHANGEADDR after."""
    ops = _ops(k, dev)
    f = Fields(k.memory, "net_device", dev)
    if not ops["ndo_set_mac_address"]:
        return -EOPNOTSUPP
    if len(address) != f["addr_len"]:
        return -EINVAL
    if not present(k, dev):
        return -ENODEV
    notify(k, NETDEV_PRE_CHANGEADDR, dev)
    sockaddr = allocate(k, size("sockaddr") + 16, owner="kernel")
    try:
        k.memory.write(sockaddr, f["type"].to_bytes(2, "little") + address)
        result = _signed(k.call_function_pointer(ops["ndo_set_mac_address"], dev, sockaddr))
    finally:
        release(k, sockaddr)
    if result:
        return result
    f["addr_assign_type"] = 3  # NET_ADDR_SET
    notify(k, NETDEV_CHANGEADDR, dev)
    return 0


# -- transmit -------------------------------------------------------------------------------------

def frame_skb(k: Kernel, dev: int, frame: bytes) -> int:
    """An skb holding ``frame`` as the stack builds one to send: link-layer headroom, dev, protocol, headers."""
    f = Fields(k.memory, "net_device", dev)
    headroom = ((f["hard_header_len"] + f["needed_headroom"]) & ~(HH_DATA_MOD - 1)) + HH_DATA_MOD
    skb = alloc_skb(k, headroom + len(frame) + f["needed_tailroom"], owner="kernel")
    if not skb:
        raise SandboxError(f"no memory for a {len(frame)}-byte frame to {ifname(k, dev)}")
    s = Skb(k, skb)
    s.data = s.tail = s.head + headroom
    k.memory.write(s.data, frame)
    s.tail = s.data + len(frame)
    s.len = len(frame)
    s.dev = dev
    s.mac_header = headroom
    s.network_header = headroom + min(ETH_HLEN, len(frame))
    if len(frame) >= ETH_HLEN:
        k.memory.write(skb + offset("sk_buff", "protocol"), frame[12:14])
    return skb


def queue_xmit(k: Kernel, dev: int, skb: int) -> int:
    """__dev_queue_xmit through the device's qdisc: NET_XMIT_SUCCESS or NET_XMIT_DROP."""
    f = Fields(k.memory, "net_device", dev)
    state = stack(k)
    queue = state.qdisc.setdefault(dev, [])
    if not f["flags"] & IFF_UP or not running(k, dev):
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        state.dropped[dev] = state.dropped.get(dev, 0) + 1
        return NET_XMIT_DROP
    if len(queue) >= max(f["tx_queue_len"], 1):
        free_skb(k, skb, 42)  # SKB_DROP_REASON_QDISC_DROP
        state.dropped[dev] = state.dropped.get(dev, 0) + 1
        return NET_XMIT_DROP
    queue.append(skb)
    qdisc_run(k, dev)
    return NET_XMIT_SUCCESS


def qdisc_run(k: Kernel, dev: int) -> None:
    """Feed queued frames to ndo_start_xmit while the transmit queue is not stopped (sch_direct_xmit)."""
    from .napi import Softnet

    state = stack(k)
    queue = state.qdisc.get(dev)
    if not queue:
        return
    txqs = tx_queues(k, dev)
    xmit = _ops(k, dev)["ndo_start_xmit"]
    while queue and running(k, dev):
        skb = queue[0]
        txq = txqs[int.from_bytes(k.memory.read(skb + offset("sk_buff", "queue_mapping"), 2), "little")
                   % max(len(txqs), 1)]
        if k.memory.read_u32(txq + TXQ_STATE) & QUEUE_STOPPED or not present(k, dev):
            return  # netif_xmit_frozen_or_stopped: netif_wake_queue reschedules the qdisc
        queue.pop(0)
        q = Fields(k.memory, "netdev_queue", txq)
        q["xmit_lock_owner"] = 0  # HARD_TX_LOCK: CPU 0 holds the queue's transmit lock
        try:
            context = "irq" if Softnet.of(k).running else "task"
            rc = _signed(k.call_function_pointer(xmit, skb, dev, context=context))
        finally:
            q["xmit_lock_owner"] = 0xFFFFFFFF
        k.trace.add("note", "xmit", fields={"name": ifname(k, dev), "skb": skb, "result": rc})
        if rc == NETDEV_TX_OK:
            k.memory.write_u32(txq + TXQ_TRANS_START, k.clock.jiffies & 0xFFFFFFFF)
            state.transmitted[dev] = state.transmitted.get(dev, 0) + 1
        elif rc == NETDEV_TX_BUSY:
            queue.insert(0, skb)  # dev_requeue_skb: tried again when the queue wakes or the next frame comes
            return
        # Any other value is a driver's NET_XMIT_* verdict: the skb is the driver's now either way.


def _purge_qdisc(k: Kernel, dev: int) -> None:
    """dev_deactivate: frames still queued are dropped."""
    for skb in stack(k).qdisc.pop(dev, []):
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)


@service("int __dev_queue_xmit(struct sk_buff *skb, struct net_device *sb_dev)")
def __dev_queue_xmit(k: Kernel, skb: int, sb_dev: int) -> int:
    """dev_queue_xmit(): send ``skb`` through ``skb->dev``'s qdisc."""
    s = live_skb(k, skb, "dev_queue_xmit")
    if not s.dev:
        raise GuestFault("xmit-no-dev", f"dev_queue_xmit of skb {skb:#x} at {k.symbolizer.short(k.current_caller)} "
                         "with skb->dev NULL", pc=k.current_caller, address=skb)
    return queue_xmit(k, s.dev, skb)


# -- receive --------------------------------------------------------------------------------------

def deliver(k: Kernel, skb: int, via: str) -> int:
    """__netif_receive_skb: the protocol layer takes the frame (recorded for its interface) and consumes it."""
    from .skbuff import SKB_CONSUMED

    s = live_skb(k, skb, via)
    dev = s.dev
    if not dev or dev not in devices(k).devices:
        raise GuestFault("rx-no-dev", f"{via} of skb {skb:#x} at {k.symbolizer.short(k.current_caller)}: skb->dev "
                         f"is {dev:#x}, not a net_device (eth_type_trans sets it)", pc=k.current_caller, address=skb)
    protocol = int.from_bytes(k.memory.read(skb + offset("sk_buff", "protocol"), 2), "big")
    frame = Frame(s.frame(), protocol, PACKET_TYPES.get(s.pkt_type, str(s.pkt_type)), via)
    stack(k).received.setdefault(dev, []).append(frame)
    k.trace.add("note", "rx", fields={"name": ifname(k, dev), "len": len(frame.data), "protocol": protocol,
                                      "via": via})
    from .packet import deliver_to_handlers

    if not deliver_to_handlers(k, skb, dev, protocol):  # a module's dev_add_pack handlers own it now
        free_skb(k, skb, SKB_CONSUMED)  # the built-in protocols (IPv4, ARP, IPv6) take what no module claims
    return NET_RX_SUCCESS


@service("__be16 eth_type_trans(struct sk_buff *skb, struct net_device *dev)")
def eth_type_trans(k: Kernel, skb: int, dev: int) -> int:
    """Set skb->dev, the MAC header and pkt_type, pull the 14-byte header; the protocol (network order)."""
    s = live_skb(k, skb, "eth_type_trans")
    s.dev = dev
    s.mac_header = s.data - s.head
    if s.len < ETH_HLEN or s.tail - s.data < ETH_HLEN:
        raise GuestFault("eth-type-trans", f"eth_type_trans of a {s.len}-byte skb at "
                         f"{k.symbolizer.short(k.current_caller)}: shorter than an Ethernet header (BUG_ON)",
                         pc=k.current_caller, address=skb)
    header = k.memory.read(s.data, ETH_HLEN)
    s.len = s.len - ETH_HLEN
    s.data = s.data + ETH_HLEN
    dest = header[:ETH_ALEN]
    broadcast = k.memory.read(Fields(k.memory, "net_device", dev).address_of("broadcast"), ETH_ALEN)
    if dest[0] & 1:
        s.pkt_type = PACKET_BROADCAST if dest == broadcast else PACKET_MULTICAST
    elif dest != mac(k, dev):
        s.pkt_type = PACKET_OTHERHOST
    proto = int.from_bytes(header[12:14], "big")
    if proto >= ETH_P_802_3_MIN:
        return int.from_bytes(header[12:14], "little")  # __be16 as the register holds it
    if k.memory.read(s.data, 2) == b"\xff\xff":
        return int.from_bytes(ETH_P_802_3.to_bytes(2, "big"), "little")
    return int.from_bytes(ETH_P_802_2.to_bytes(2, "big"), "little")


# -- Kernel.net ----------------------------------------------------------------------------------------

class Interface:
    """One registered network interface, driven from Python as the stack would."""

    def __init__(self, kernel: Kernel, dev: int) -> None:
        self._kernel = kernel
        self._k = kernel.service_context
        self.dev = dev

    def __repr__(self) -> str:
        return f"<Interface {self.name} {'up' if self.is_up else 'down'} {self.mac.hex(':')}>"

    @property
    def _fields(self) -> Fields:
        return Fields(self._k.memory, "net_device", self.dev)

    @property
    def name(self) -> str:
        """The interface name (``eth0``)."""
        return ifname(self._k, self.dev)

    @property
    def ifindex(self) -> int:
        """The interface index."""
        return self._fields["ifindex"]

    @property
    def mac(self) -> bytes:
        """dev->dev_addr."""
        return mac(self._k, self.dev)

    @property
    def mtu(self) -> int:
        """dev->mtu."""
        return self._fields["mtu"]

    @property
    def flags(self) -> int:
        """dev->flags (IFF_UP, IFF_BROADCAST, IFF_PROMISC, ...)."""
        return self._fields["flags"]

    @property
    def is_up(self) -> bool:
        """IFF_UP."""
        return bool(self.flags & IFF_UP)

    @property
    def carrier(self) -> bool:
        """netif_carrier_ok."""
        return carrier_ok(self._k, self.dev)

    @property
    def operstate(self) -> int:
        """RFC 2863 state (IF_OPER_UP 6, IF_OPER_DOWN 2)."""
        return self._fields["operstate"]

    @property
    def queue_stopped(self) -> bool:
        """Whether the driver stopped transmit queue 0 (netif_stop_queue)."""
        return bool(self._k.memory.read_u32(tx_queues(self._k, self.dev)[0] + TXQ_STATE) & QUEUE_STOPPED)

    @property
    def queued(self) -> int:
        """Frames waiting in the qdisc for the driver to take them."""
        return len(stack(self._k).qdisc.get(self.dev, []))

    @property
    def received(self) -> list[Frame]:
        """Every frame the driver delivered to the stack, oldest first."""
        return list(stack(self._k).received.get(self.dev, []))

    @property
    def transmitted(self) -> int:
        """Frames the driver accepted from the stack (ndo_start_xmit returned NETDEV_TX_OK)."""
        return stack(self._k).transmitted.get(self.dev, 0)

    def receive(self) -> list[bytes]:
        """The frames delivered since the last call (and forget them)."""
        frames = stack(self._k).received.pop(self.dev, [])
        return [frame.data for frame in frames]

    def up(self) -> None:
        """Bring the interface up (ndo_open); a driver's refusal raises SandboxError with its errno."""
        result = open_device(self._k, self.dev)
        _bh_enable(self._k)
        if result:
            raise SandboxError(f"{self.name}: ndo_open failed with {result}")

    def down(self) -> None:
        """Bring the interface down (ndo_stop)."""
        close(self._k, self.dev)
        _bh_enable(self._k)

    def send(self, frame: bytes) -> int:
        """Transmit one Ethernet frame (destination, source, type, payload) through the driver.

        Returns NET_XMIT_SUCCESS (0) when the qdisc took it, NET_XMIT_DROP (1)
        when the interface is down or the queue is full. A frame the driver's
        stopped queue holds back goes out when the driver wakes the queue.
        """
        if not 0 < len(frame) <= 65535:
            raise ValueError(f"a frame is 1..65535 bytes, not {len(frame)}")
        result = queue_xmit(self._k, self.dev, frame_skb(self._k, self.dev, bytes(frame)))
        _bh_enable(self._k)
        return result

    def set_mac(self, address: bytes) -> None:
        """Change the address through ndo_set_mac_address (as ``ip link set address``)."""
        result = set_mac_address(self._k, self.dev, bytes(address))
        _bh_enable(self._k)
        if result:
            raise SandboxError(f"{self.name}: ndo_set_mac_address failed with {result}")

    def set_promiscuous(self, on: bool = True) -> None:
        """dev_set_promiscuity(+1/-1): the driver's ndo_set_rx_mode sees IFF_PROMISC."""
        change_flags(self._k, self.dev, IFF_PROMISC, on)
        _bh_enable(self._k)

    def set_allmulti(self, on: bool = True) -> None:
        """dev_set_allmulti(+1/-1)."""
        change_flags(self._k, self.dev, IFF_ALLMULTI, on)
        _bh_enable(self._k)

    def phy_statistics(self) -> dict[str, int]:
        """``ethtool --phy-statistics``: the PHY's counters through libphy's ethtool_phy_ops on
        ``dev->phydev`` (or the driver's own); SandboxError with the -errno when there are none."""
        from .ethtool import phy_statistics

        result = phy_statistics(self._k, self.dev)
        if isinstance(result, int):
            raise SandboxError(f"{self.name}: PHY statistics failed with {result}")
        return result

    def stats(self) -> dict[str, int]:
        """dev_get_stats: the driver's counters as ``struct rtnl_link_stats64`` fields."""
        k = self._k
        storage = allocate(k, size("rtnl_link_stats64"), owner="kernel")
        try:
            dev_get_stats(k, self.dev, storage)
            raw = k.memory.read(storage, size("rtnl_link_stats64"))
        finally:
            release(k, storage)
        return {name: int.from_bytes(raw[member("rtnl_link_stats64", name)[0]:][:8], "little")
                for name in STATS64_FIELDS}


class Network(Mapping[str, Interface]):
    """``Kernel.net``: the registered network interfaces by name."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def _names(self) -> dict[str, int]:
        ctx = self._kernel.service_context
        table = devices(ctx)
        return {ifname(ctx, d.dev): d.dev for d in sorted(table.devices.values(), key=lambda d: d.dev)
                if d.registered}

    def __getitem__(self, name: str) -> Interface:
        found = self._names().get(name)
        if found is None:
            known = ", ".join(self._names()) or "none"
            raise KeyError(f"no network interface {name!r} (registered: {known})")
        return Interface(self._kernel, found)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def interfaces(self) -> list[Interface]:
        """Every registered interface, in ifindex order."""
        return sorted((Interface(self._kernel, dev) for dev in self._names().values()), key=lambda i: i.ifindex)

    def socket(self, family: int, type: int, protocol: int = 0) -> Socket:
        """``socket(family, type, protocol)`` in init_net: the family's ``create`` runs
        (kernel_stubs.linux.socket); SandboxError with Linux's -errno if it refuses."""
        from .socket import open_socket

        return open_socket(self._kernel, family, type, protocol)

    def families(self) -> dict[int, str]:
        """The registered protocol families (``net_families``): number -> who registered it."""
        from .socket import families

        return {f: e.owner for f, e in sorted(families(self._kernel.service_context).families.items())}

    def netlink(self, protocol: int, portid: int | None = None, groups: int = 0, privileged: bool = True) -> Any:
        """A netlink socket of ``protocol`` (NETLINK_GENERIC, ...) as a user program opens one: see
        :class:`kernel_stubs.linux.netlink_core.NetlinkSocket` (``portid`` None: autobind; ``groups``: a
        bitmask to join at bind, as ``nl_groups``; ``privileged=False``: opened without capabilities)."""
        from .netlink_core import NetlinkSocket

        return NetlinkSocket(self._kernel, protocol, portid, groups, privileged)
