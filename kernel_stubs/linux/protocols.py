"""IP protocol handler tables and socket diagnostics handlers, Linux 6.1 (net/ipv4/protocol.c,
net/ipv6/protocol.c, net/core/sock_diag.c).

- ``inet_protos[256]``/``inet6_protos[256]`` (exported arrays modules may read)
  and the GRO/GSO ``inet_offloads``/``inet6_offloads``: the protocols built
  into Debian's vmlinux are there from boot (ICMP, IGMP, TCP, UDP, UDP-Lite;
  for IPv6 also ICMPv6 and the routing, fragment, destination-options and
  no-next-header extension headers). ``inet_add_protocol`` claims an empty
  slot with Linux's compare-and-exchange: 0, or -1 when the slot is taken;
  ``inet_del_protocol`` empties it only if it holds that protocol (0, else -1).
- ``sock_diag_register``: one handler per address family (-EINVAL for a
  family >= AF_MAX, -EBUSY for a taken one), as ``ss`` reaches inet_diag,
  unix_diag, packet_diag...; the unregister of another handler than the one
  registered is Linux's BUG_ON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service

from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

MAX_INET_PROTOS = 256
AF_MAX = 46
EINVAL, EBUSY = 22, 16
IPPROTO_ICMP, IPPROTO_IGMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE = 1, 2, 4, 6, 17, 136
IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_DSTOPTS, IPPROTO_GRE = 43, 44, 58, 59, 60, 47

# The built-in handlers (their names are vmlinux's); their callbacks are the kernel's own and are not called here.
BUILTIN_V4 = {IPPROTO_ICMP: "icmp_protocol", IPPROTO_IGMP: "igmp_protocol", IPPROTO_TCP: "tcp_protocol",
              IPPROTO_UDP: "udp_protocol", IPPROTO_UDPLITE: "udplite_protocol"}
BUILTIN_V6 = {IPPROTO_TCP: "tcpv6_protocol", IPPROTO_UDP: "udpv6_protocol", IPPROTO_UDPLITE: "udplitev6_protocol",
              IPPROTO_ICMPV6: "icmpv6_protocol", IPPROTO_FRAGMENT: "frag_protocol", IPPROTO_ROUTING: "rthdr_protocol",
              IPPROTO_DSTOPTS: "destopt_protocol", IPPROTO_NONE: "nodata_protocol"}
BUILTIN_OFFLOADS_V4 = {IPPROTO_TCP: "tcpv4_offload", IPPROTO_UDP: "udpv4_offload", IPPROTO_IPIP: "ipip_offload",
                       IPPROTO_GRE: "gre_offload"}
BUILTIN_OFFLOADS_V6 = {IPPROTO_TCP: "tcpv6_offload", IPPROTO_UDP: "udpv6_offload"}

builtin_handlers = [kernel_variable(name, size("net_protocol")) for name in BUILTIN_V4.values()]
builtin_handlers += [kernel_variable(name, size("inet6_protocol")) for name in BUILTIN_V6.values()]
builtin_handlers += [kernel_variable(name, size("net_offload"))
                     for name in (*BUILTIN_OFFLOADS_V4.values(), *BUILTIN_OFFLOADS_V6.values())]
inet_protos = kernel_variable("inet_protos", 4 * MAX_INET_PROTOS, 0, {4 * p: n for p, n in BUILTIN_V4.items()})
inet6_protos = kernel_variable("inet6_protos", 4 * MAX_INET_PROTOS, 0, {4 * p: n for p, n in BUILTIN_V6.items()})
inet_offloads = kernel_variable("inet_offloads", 4 * MAX_INET_PROTOS, 0,
                                {4 * p: n for p, n in BUILTIN_OFFLOADS_V4.items()})
inet6_offloads = kernel_variable("inet6_offloads", 4 * MAX_INET_PROTOS, 0,
                                 {4 * p: n for p, n in BUILTIN_OFFLOADS_V6.items()})


def _slot(k: Kernel, table: str, protocol: int) -> int:
    return (k.export_address(table) or 0) + 4 * (protocol & 0xFF)


def _add(k: Kernel, table: str, handler: int, protocol: int) -> int:
    """cmpxchg(&table[protocol], NULL, handler): 0 if the slot was empty, else -1."""
    k.subsystem(ProtocolTables)  # so a handler left at unload is reported
    slot = _slot(k, table, protocol)
    if k.memory.read_u32(slot):
        return -1
    k.memory.write_u32(slot, handler)
    return 0


def _delete(k: Kernel, table: str, handler: int, protocol: int) -> int:
    """cmpxchg(&table[protocol], handler, NULL): 0 if it held ``handler``, else -1 (left alone)."""
    slot = _slot(k, table, protocol)
    if k.memory.read_u32(slot) != handler:
        return -1
    k.memory.write_u32(slot, 0)
    return 0


def _pair(table: str, struct: str) -> tuple[object, object]:
    def add(k: Kernel, prot: int, protocol: int) -> int:
        return _add(k, table, prot, protocol)

    def delete(k: Kernel, prot: int, protocol: int) -> int:
        return _delete(k, table, prot, protocol)

    add.__doc__ = f"Claim ``{table}[protocol]`` for ``prot``: 0, or -1 if another {struct} holds it."
    delete.__doc__ = f"Give ``{table}[protocol]`` back if ``prot`` holds it: 0, else -1."
    return add, delete


inet_add_protocol, inet_del_protocol = (
    service(f"int inet_{verb}_protocol(const struct net_protocol *prot, unsigned char protocol)")(fn)
    for verb, fn in zip(("add", "del"), _pair("inet_protos", "net_protocol")))
inet6_add_protocol, inet6_del_protocol = (
    service(f"int inet6_{verb}_protocol(const struct inet6_protocol *prot, unsigned char protocol)")(fn)
    for verb, fn in zip(("add", "del"), _pair("inet6_protos", "inet6_protocol")))
inet_add_offload, inet_del_offload = (
    service(f"int inet_{verb}_offload(const struct net_offload *prot, unsigned char protocol)")(fn)
    for verb, fn in zip(("add", "del"), _pair("inet_offloads", "net_offload")))
inet6_add_offload, inet6_del_offload = (
    service(f"int inet6_{verb}_offload(const struct net_offload *prot, unsigned char protocol)")(fn)
    for verb, fn in zip(("add", "del"), _pair("inet6_offloads", "net_offload")))


class ProtocolTables:
    """Handlers a module left in the protocol tables, and the sock_diag handlers by family."""

    def __init__(self) -> None:
        self.diag: dict[int, int] = {}  # family -> struct sock_diag_handler
        self.inet_compat = 0  # sock_diag's inet_rcv_compat

    def clone(self) -> ProtocolTables:
        """A copy for snapshots."""
        twin = ProtocolTables()
        twin.diag, twin.inet_compat = dict(self.diag), self.inet_compat
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Protocol and diag handlers pointing into a module that is going away: reported and removed."""
        leaks = []
        for table in ("inet_protos", "inet6_protos", "inet_offloads", "inet6_offloads"):
            base = k.export_address(table) or 0
            for protocol, handler in enumerate(k.memory.read(base, 4 * MAX_INET_PROTOS)[i:i + 4]
                                               for i in range(0, 4 * MAX_INET_PROTOS, 4)):
                address = int.from_bytes(handler, "little")
                if address and k.module_at(address) is module:
                    leaks.append(f"{table}[{protocol}] still {k.symbolizer.short(address)}")
                    k.memory.write_u32(base + 4 * protocol, 0)
        for family, handler in list(self.diag.items()):
            if k.module_at(handler) is module:
                leaks.append(f"sock_diag handler for family {family} still registered")
                del self.diag[family]
        if self.inet_compat and k.module_at(self.inet_compat) is module:
            leaks.append("sock_diag inet compat handler still registered")
            self.inet_compat = 0
        return leaks


def _diag_family(k: Kernel, hndl: int) -> int:
    return k.memory.read(hndl + offset("sock_diag_handler", "family"), 1)[0]


@service("int sock_diag_register(const struct sock_diag_handler *hndl)")
def sock_diag_register(k: Kernel, hndl: int) -> int:
    """The diag handler of ``hndl->family``: 0, -EINVAL (family >= AF_MAX) or -EBUSY (one is there)."""
    family = _diag_family(k, hndl)
    if family >= AF_MAX:
        return -EINVAL
    table = k.subsystem(ProtocolTables)
    if family in table.diag:
        return -EBUSY
    table.diag[family] = hndl
    return 0


@service("void sock_diag_unregister(const struct sock_diag_handler *hndl)")
def sock_diag_unregister(k: Kernel, hndl: int) -> None:
    """Remove the family's handler (Linux's BUG_ON if it is another one)."""
    family = _diag_family(k, hndl)
    if family >= AF_MAX:
        return
    table = k.subsystem(ProtocolTables)
    if table.diag.get(family) != hndl:
        raise GuestFault("bug", f"sock_diag_unregister of {k.symbolizer.short(hndl)} at "
                         f"{k.symbolizer.short(k.current_caller)}: not the registered handler of family {family} "
                         "(kernel BUG)", pc=k.current_caller, address=hndl)
    del table.diag[family]


@service("void sock_diag_register_inet_compat(int (*fn)(struct sk_buff *skb, struct nlmsghdr *nlh))")
def sock_diag_register_inet_compat(k: Kernel, fn: int) -> None:
    """inet_diag's handler of the old TCPDIAG_GETSOCK requests."""
    k.subsystem(ProtocolTables).inet_compat = fn


@service("void sock_diag_unregister_inet_compat(int (*fn)(struct sk_buff *skb, struct nlmsghdr *nlh))")
def sock_diag_unregister_inet_compat(k: Kernel, fn: int) -> None:
    """Remove the compat handler."""
    k.subsystem(ProtocolTables).inet_compat = 0


# -- xfrm input callbacks (net/xfrm/xfrm_input.c): tunnel4/tunnel6 take the IP-in-IP slot ------------
AF_INET, AF_INET6, EEXIST, EAFNOSUPPORT = 2, 10, 17, 97
BUILTIN_XFRM_INPUT = {(0, AF_INET): "xfrm4_input_afinfo", (0, AF_INET6): "xfrm6_input_afinfo"}


class XfrmInputAfinfo:
    """``xfrm_input_afinfo[is_ipip][family]``: the built-in IPv4/IPv6 entries and what modules added."""

    def __init__(self) -> None:
        self.slots: dict[tuple[int, int], int] = {}  # (is_ipip, family) -> struct xfrm_input_afinfo (0: built in)

    def clone(self) -> XfrmInputAfinfo:
        """A copy for snapshots."""
        twin = XfrmInputAfinfo()
        twin.slots = dict(self.slots)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Entries pointing into a module that is going away: reported and removed."""
        leaks = []
        for key, afinfo in list(self.slots.items()):
            if afinfo and k.module_at(afinfo) is module:
                leaks.append(f"xfrm input afinfo {k.symbolizer.short(afinfo)} still registered")
                del self.slots[key]
        return leaks


def _afinfo_key(k: Kernel, afinfo: int) -> tuple[int, int]:
    raw = k.memory.read(afinfo, 2)
    return raw[offset("xfrm_input_afinfo", "is_ipip")] and 1, raw[offset("xfrm_input_afinfo", "family")]


@service("int xfrm_input_register_afinfo(const struct xfrm_input_afinfo *afinfo)")
def xfrm_input_register_afinfo(k: Kernel, afinfo: int) -> int:
    """Take the (is_ipip, family) slot: 0, -EEXIST if taken, -EAFNOSUPPORT beyond AF_INET6 (with a warning)."""
    key = _afinfo_key(k, afinfo)
    if key[1] > AF_INET6:
        k.warn(f"xfrm_input_register_afinfo: family {key[1]} > AF_INET6")
        return -EAFNOSUPPORT
    slots = k.subsystem(XfrmInputAfinfo).slots
    if key in slots or key in BUILTIN_XFRM_INPUT:
        return -EEXIST
    slots[key] = afinfo
    return 0


@service("int xfrm_input_unregister_afinfo(const struct xfrm_input_afinfo *afinfo)")
def xfrm_input_unregister_afinfo(k: Kernel, afinfo: int) -> int:
    """Empty the slot if it holds ``afinfo``: 0, -EINVAL if another entry holds it (an empty slot is 0)."""
    key = _afinfo_key(k, afinfo)
    slots = k.subsystem(XfrmInputAfinfo).slots
    if key in BUILTIN_XFRM_INPUT:
        return -EINVAL
    if key in slots:
        if slots[key] != afinfo:
            return -EINVAL
        del slots[key]
    return 0


# net.core.fb_tunnels_only_for_init_net (0: every namespace gets its fallback tunnel devices, tunl0, sit0...)
sysctl_fb_tunnels_only_for_init_net = kernel_variable("sysctl_fb_tunnels_only_for_init_net", 4, 0)


@service("bool ipv6_mod_enabled(void)")
def ipv6_mod_enabled(k: Kernel) -> int:
    """IPv6 is built in and not disabled (ipv6.disable=0 on the command line): true."""
    return 1


# -- IPsec protocol handlers (net/ipv4/xfrm4_protocol.c, net/ipv6/xfrm6_protocol.c) ------------------
IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP, ENOENT, EAGAIN = 50, 51, 108, 2, 11
# The net_protocol / inet6_protocol each chain puts in inet(6)_protos while it has a handler.
XFRM_NETPROTO = {4: {IPPROTO_ESP: "esp4_protocol", IPPROTO_AH: "ah4_protocol", IPPROTO_COMP: "ipcomp4_protocol"},
                 6: {IPPROTO_ESP: "esp6_protocol", IPPROTO_AH: "ah6_protocol", IPPROTO_COMP: "ipcomp6_protocol"}}
xfrm_netprotos = [kernel_variable(name, size("net_protocol" if version == 4 else "inet6_protocol"))
                  for version, names in XFRM_NETPROTO.items() for name in names.values()]


class XfrmHandlers:
    """The esp/ah/ipcomp handler chains of each IP version, highest priority first."""

    def __init__(self) -> None:
        self.chains: dict[tuple[int, int], list[int]] = {}  # (4 or 6, protocol) -> xfrm4/6_protocol structs

    def clone(self) -> XfrmHandlers:
        """A copy for snapshots."""
        twin = XfrmHandlers()
        twin.chains = {key: list(chain) for key, chain in self.chains.items()}
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Handlers of a module that is going away: reported and unlinked."""
        leaks = []
        for (version, _protocol), chain in self.chains.items():
            for handler in [h for h in chain if k.module_at(h) is module]:
                leaks.append(f"xfrm{version} protocol handler {k.symbolizer.short(handler)} still registered")
                chain.remove(handler)
        return leaks


def _xfrm_register(k: Kernel, version: int, handler: int, protocol: int) -> int:
    struct = f"xfrm{version}_protocol"
    netproto = XFRM_NETPROTO[version].get(protocol)
    if netproto is None:
        return -EINVAL
    chain = k.subsystem(XfrmHandlers).chains.setdefault((version, protocol), [])
    add_netproto = not chain
    priority = _signed(Fields(k.memory, struct, handler)["priority"])
    ret = -EEXIST
    if all(_signed(Fields(k.memory, struct, h)["priority"]) != priority for h in chain):
        at = next((i for i, h in enumerate(chain) if _signed(Fields(k.memory, struct, h)["priority"]) < priority),
                  len(chain))
        chain.insert(at, handler)
        _relink(k, struct, chain)
        ret = 0
    if add_netproto:
        table = "inet_protos" if version == 4 else "inet6_protos"
        if _add(k, table, k.export_address(netproto) or 0, protocol):
            k.console_write(f"xfrm{version}_protocol_register: can't add protocol\n", 3)
            ret = -EAGAIN
    return ret


def _xfrm_deregister(k: Kernel, version: int, handler: int, protocol: int) -> int:
    struct = f"xfrm{version}_protocol"
    netproto = XFRM_NETPROTO[version].get(protocol)
    if netproto is None:
        return -EINVAL
    chain = k.subsystem(XfrmHandlers).chains.setdefault((version, protocol), [])
    ret = -ENOENT
    if handler in chain:
        chain.remove(handler)
        _relink(k, struct, chain)
        ret = 0
    if not chain:
        table = "inet_protos" if version == 4 else "inet6_protos"
        if _delete(k, table, k.export_address(netproto) or 0, protocol) < 0:
            k.console_write(f"xfrm{version}_protocol_deregister: can't remove protocol\n", 3)
            ret = -EAGAIN
    return ret


def _relink(k: Kernel, struct: str, chain: list[int]) -> None:
    """handler->next as Linux links the chain (NULL-terminated, highest priority first)."""
    for handler, following in zip(chain, [*chain[1:], 0]):
        Fields(k.memory, struct, handler)["next"] = following


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


@service("int xfrm4_protocol_register(struct xfrm4_protocol *handler, unsigned char protocol)")
def xfrm4_protocol_register(k: Kernel, handler: int, protocol: int) -> int:
    """Add an ESP/AH/IPcomp handler by priority: 0, -EEXIST (same priority), -EINVAL (other protocol); the
    first one puts the chain's net_protocol in inet_protos."""
    return _xfrm_register(k, 4, handler, protocol)


@service("int xfrm4_protocol_deregister(struct xfrm4_protocol *handler, unsigned char protocol)")
def xfrm4_protocol_deregister(k: Kernel, handler: int, protocol: int) -> int:
    """Remove a handler: 0 or -ENOENT; the last one takes the net_protocol out of inet_protos."""
    return _xfrm_deregister(k, 4, handler, protocol)


@service("int xfrm6_protocol_register(struct xfrm6_protocol *handler, unsigned char protocol)")
def xfrm6_protocol_register(k: Kernel, handler: int, protocol: int) -> int:
    """xfrm4_protocol_register for IPv6 (inet6_protos)."""
    return _xfrm_register(k, 6, handler, protocol)


@service("int xfrm6_protocol_deregister(struct xfrm6_protocol *handler, unsigned char protocol)")
def xfrm6_protocol_deregister(k: Kernel, handler: int, protocol: int) -> int:
    """xfrm4_protocol_deregister for IPv6."""
    return _xfrm_deregister(k, 6, handler, protocol)


# -- IPv6 address classes (net/ipv6/addrconf_core.c) ----------------------------------------------------
IPV6_ADDR_UNICAST, IPV6_ADDR_MULTICAST, IPV6_ADDR_LOOPBACK, IPV6_ADDR_LINKLOCAL = 0x0001, 0x0002, 0x0010, 0x0020
IPV6_ADDR_SITELOCAL, IPV6_ADDR_COMPATV4, IPV6_ADDR_MAPPED = 0x0040, 0x0080, 0x1000
SCOPE_NODELOCAL, SCOPE_LINKLOCAL, SCOPE_SITELOCAL, SCOPE_GLOBAL = 0x01, 0x02, 0x05, 0x0E


def ipv6_addr_type(addr: bytes) -> int:
    """Linux's classification of a 16-byte IPv6 address (type bits | scope << 16)."""
    def scoped(scope: int) -> int:
        return scope << 16

    words = [int.from_bytes(addr[i:i + 4], "big") for i in range(0, 16, 4)]
    st = words[0]
    if st & 0xE0000000 not in (0, 0xE0000000):
        return IPV6_ADDR_UNICAST | scoped(SCOPE_GLOBAL)
    if st & 0xFF000000 == 0xFF000000:
        scope = addr[1] & 0x0F
        extra = {SCOPE_NODELOCAL: IPV6_ADDR_LOOPBACK, SCOPE_LINKLOCAL: IPV6_ADDR_LINKLOCAL,
                 SCOPE_SITELOCAL: IPV6_ADDR_SITELOCAL}.get(scope, 0)
        return IPV6_ADDR_MULTICAST | scoped(scope) | extra
    if st & 0xFFC00000 == 0xFE800000:
        return IPV6_ADDR_LINKLOCAL | IPV6_ADDR_UNICAST | scoped(SCOPE_LINKLOCAL)
    if st & 0xFFC00000 == 0xFEC00000:
        return IPV6_ADDR_SITELOCAL | IPV6_ADDR_UNICAST | scoped(SCOPE_SITELOCAL)
    if st & 0xFE000000 == 0xFC000000:
        return IPV6_ADDR_UNICAST | scoped(SCOPE_GLOBAL)  # RFC 4193 unique local
    if words[0] | words[1] == 0:
        if words[2] == 0:
            if words[3] == 0:
                return 0  # IPV6_ADDR_ANY
            if words[3] == 1:
                return IPV6_ADDR_LOOPBACK | IPV6_ADDR_UNICAST | scoped(SCOPE_LINKLOCAL)
            return IPV6_ADDR_COMPATV4 | IPV6_ADDR_UNICAST | scoped(SCOPE_GLOBAL)
        if words[2] == 0x0000FFFF:
            return IPV6_ADDR_MAPPED | scoped(SCOPE_GLOBAL)
    return IPV6_ADDR_UNICAST | scoped(SCOPE_GLOBAL)


@service("int __ipv6_addr_type(const struct in6_addr *addr)")
def __ipv6_addr_type(k: Kernel, addr: int) -> int:
    """The address's type and scope bits (IPV6_ADDR_UNICAST, _MULTICAST, _LINKLOCAL, ... | scope << 16)."""
    return ipv6_addr_type(k.memory.read(addr, 16))


# -- the IPsec state database (net/xfrm/xfrm_state.c): no SA is ever added here (that takes netlink/PF_KEY)
ESRCH = 3


@service("int xfrm_state_flush(struct net *net, u8 proto, bool task_valid, bool sync)")
def xfrm_state_flush(k: Kernel, net: int, proto: int, task_valid: int, sync: int) -> int:
    """Delete the namespace's states of ``proto``: none exist, so -ESRCH, as Linux returns for nothing flushed."""
    return -ESRCH


@service("void xfrm_flush_gc(void)")
def xfrm_flush_gc(k: Kernel) -> None:
    """Wait for the state garbage collector: no state was ever deleted, so it has nothing queued."""
