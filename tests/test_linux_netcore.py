"""The networking core real Debian modules need from the kernel, with their dependency chains loaded first.

Each of these used to fail every module depending on it (issue 11 item 6): libphy's init
(``ethtool_set_ethtool_phy_ops``, and ``mdio_bus`` being libphy's own class and bus), the protocol
families (``sock_register``: bluetooth, atm, mISDN, ax25, vsock), fragment reassembly
(``inet_frags_init``/``fqdir_init``: nf_defrag_ipv6), packet handlers (``dev_add_pack``: llc, hdlc),
user-namespace ids (``make_kuid``: x_tables), netevent notifiers (ib_core) and /proc/net files
(``proc_create_net_*``: tls, phonet). Sockets of a module's family are created from Python and the
``struct socket`` its ``create`` built is checked.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.ethtool import EthtoolPhyOps
from kernel_stubs.linux.inet_frags import Fqdirs
from kernel_stubs.linux.packet import packet_types
from kernel_stubs.linux.skbuff import Skbs
from kernel_stubs.linux.socket import NetFamilies
from sandbox import Kernel
from sandbox.errors import SandboxError
from tests.linux_corpus import KDIR, needs_corpus
from tests.test_linux_net import DRIVER_MAC, FifoNic

pytestmark = needs_corpus

AF_ATMPVC, AF_ATMSVC, AF_BLUETOOTH, AF_ISDN, AF_VSOCK, AF_INET = 8, 20, 31, 34, 40, 2
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
BTPROTO_L2CAP, BTPROTO_HCI, BTPROTO_SCO = 0, 1, 2
SS_UNCONNECTED, BT_OPEN = 1, 2
ESOCKTNOSUPPORT, EINVAL, ENODEV = 94, 22, 19


def _kernel() -> Kernel:
    return Kernel("linux", unresolved="trap")


def _unload_all(k: Kernel) -> list[str]:
    leaks = []
    for module in reversed(list(k.modules)):
        leaks += k.unload(module).leaks
    return leaks


# -- libphy --------------------------------------------------------------------------------------

def test_libphy_hands_ethtool_its_phy_ops_and_takes_them_back_at_exit() -> None:
    k = _kernel()
    k.modprobe("libphy", KDIR)
    state = k.subsystem(EthtoolPhyOps)
    assert k.symbolizer.short(state.ops) == "libphy:phy_ethtool_phy_ops" and state.owner == "libphy"
    assert {name: k.symbolizer.short(fn) for name, fn in state.callbacks(k.service_context).items()} == {
        "get_sset_count": "libphy:phy_ethtool_get_sset_count", "get_strings": "libphy:phy_ethtool_get_strings",
        "get_stats": "libphy:phy_ethtool_get_stats", "start_cable_test": "libphy:phy_start_cable_test",
        "start_cable_test_tdr": "libphy:phy_start_cable_test_tdr"}
    calls = {e.name: e.result for e in k.trace if e.kind == "service"}
    assert calls["__class_register"] == 0 and calls["bus_register"] == 0  # mdio_bus is libphy's to register
    assert _unload_all(k) == []
    assert state.ops == 0  # libphy's exit: ethtool_set_ethtool_phy_ops(NULL)


@pytest.mark.parametrize("name", ["realtek", "marvell", "tg3", "ixgbe", "et131x", "r8169", "fixed_phy"])
def test_drivers_needing_libphy_load_after_it(name: str) -> None:
    k = _kernel()
    loaded = [m.name for m in k.modprobe(name, KDIR)]
    assert "libphy" in loaded and loaded[-1] == name
    assert _unload_all(k) == []


def test_an_mdio_bus_asks_the_board_info_list_for_its_devices() -> None:
    k = _kernel()
    k.modprobe("fixed_phy", KDIR)  # registers "Fixed MDIO bus" through __mdiobus_register
    calls = [(e.name, e.result) for e in k.trace if e.kind == "service"]
    assert ("mdiobus_setup_mdiodev_from_board_info", 0) in calls


# -- protocol families and sockets ------------------------------------------------------------------

def test_bluetooth_registers_its_family_as_linux_prints_it() -> None:
    k = _kernel()
    k.modprobe("bluetooth", KDIR)
    assert "NET: Registered PF_BLUETOOTH protocol family\n" in k.console
    assert "Bluetooth: HCI socket layer initialized" in k.console  # bt_info's %pV
    assert k.net.families() == {1: "kernel", 2: "kernel", 10: "kernel", 16: "kernel", 17: "kernel",
                                AF_BLUETOOTH: "bluetooth", 44: "kernel"}
    assert _unload_all(k) == []
    assert k.console.endswith("NET: Unregistered PF_BLUETOOTH protocol family\n")
    assert AF_BLUETOOTH not in k.net.families()


def test_an_hci_socket_is_what_bt_sock_create_and_hci_sock_create_make_it() -> None:
    k = _kernel()
    k.modprobe("bluetooth", KDIR)
    with k.net.socket(AF_BLUETOOTH, SOCK_RAW, BTPROTO_HCI) as sock:
        assert k.symbolizer.short(sock.ops) == "bluetooth:hci_sock_ops"
        assert sock.state == SS_UNCONNECTED and sock.fields["type"] == SOCK_RAW and sock.inode > 0
        sk = sock.sock
        assert sk is not None
        assert (sk["__sk_common.skc_family"], sk["sk_protocol"], sk["sk_type"]) == (AF_BLUETOOTH, BTPROTO_HCI, SOCK_RAW)
        assert sk["__sk_common.skc_state"] == BT_OPEN
        assert k.symbolizer.short(sk["__sk_common.skc_prot"]) == "bluetooth:hci_sk_proto"
        assert k.symbolizer.short(sk["sk_destruct"]) == "bluetooth:hci_sock_destruct"
        assert sk["sk_socket"] == sock.address and sk["sk_wq"] == sock.fields.address_of("wq")
        # sock_init_data's refcount 1, and bt_sock_link's sock_hold for hci_sk_list
        assert (sk["sk_rcvbuf"], sk["sk_sndbuf"], sk["__sk_common.skc_refcnt"]) == (212992, 212992, 2)
    assert sock.closed and k.subsystem(NetFamilies).sockets == {}
    assert _unload_all(k) == []  # hci_sock_release freed the sock through sk_free


def test_bluetooth_refuses_what_linux_refuses() -> None:
    k = _kernel()
    k.modprobe("bluetooth", KDIR)
    with pytest.raises(SandboxError, match=f"failed with -{ESOCKTNOSUPPORT}"):
        k.net.socket(AF_BLUETOOTH, SOCK_STREAM, BTPROTO_HCI)  # hci_sock_create: SOCK_RAW only
    with pytest.raises(SandboxError, match=f"failed with -{EINVAL}"):
        k.net.socket(AF_BLUETOOTH, SOCK_RAW, 99)  # bt_sock_create: proto >= BT_MAX_PROTO
    with pytest.raises(SandboxError, match="failed with -97"):
        k.net.socket(AF_ISDN, SOCK_RAW, 0)  # no module registered PF_ISDN: -EAFNOSUPPORT
    with pytest.raises(SandboxError, match="part of the kernel itself"):
        k.net.socket(AF_INET, SOCK_STREAM, 0)


@pytest.mark.parametrize(("module", "family", "type_", "protocol", "ops"), [
    ("bluetooth", AF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_L2CAP, "bluetooth:l2cap_sock_ops"),
    ("bluetooth", AF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_SCO, "bluetooth:sco_sock_ops"),
    ("atm", AF_ATMPVC, SOCK_DGRAM, 0, "atm:pvc_proto_ops"),
    ("atm", AF_ATMSVC, SOCK_DGRAM, 0, "atm:svc_proto_ops"),
    ("mISDN_core", AF_ISDN, SOCK_RAW, 0, "mISDN_core:base_sock_ops"),
    ("vsock", AF_VSOCK, SOCK_STREAM, 0, "vsock:vsock_stream_ops"),
])
def test_sockets_of_module_families_open_and_close(module: str, family: int, type_: int, protocol: int,
                                                    ops: str) -> None:
    k = _kernel()
    k.modprobe(module, KDIR)
    sock = k.net.socket(family, type_, protocol)
    assert k.symbolizer.short(sock.ops) == ops and sock.sock is not None
    sock.close()
    assert _unload_all(k) == []


def test_vsock_datagrams_need_a_transport() -> None:
    k = _kernel()
    k.modprobe("vsock", KDIR)
    with pytest.raises(SandboxError, match=f"failed with -{ENODEV}"):
        k.net.socket(AF_VSOCK, SOCK_DGRAM, 0)


@pytest.mark.parametrize("name", ["ath3k", "eni", "hfcpci", "mkiss", "vsockmon", "6pack"])
def test_drivers_of_socket_families_load_after_their_family(name: str) -> None:
    k = _kernel()
    assert k.modprobe(name, KDIR)[-1].name.replace("-", "_") == name.replace("-", "_")


# -- fragments, packet handlers, ids, notifiers, /proc/net ---------------------------------------

def test_nf_defrag_ipv6_keeps_a_fragment_directory_until_its_exit() -> None:
    k = _kernel()
    k.modprobe("nf_defrag_ipv6", KDIR)
    state = k.subsystem(Fqdirs)
    assert [k.symbolizer.short(f) for f in state.fqdirs.values()] == ["nf_defrag_ipv6:nf_frags"]
    assert [e.name for e in k.trace if e.kind == "service" and e.name in ("inet_frags_init", "fqdir_init")] == [
        "inet_frags_init", "fqdir_init"]
    assert _unload_all(k) == []
    # fqdir_exit queued its destruction; inet_frags_fini's wait let that work run.
    assert state.fqdirs == {} and state.frags == {}
    names = [e.name for e in k.trace if e.kind == "service"]
    assert names.index("fqdir_exit") < names.index("inet_frags_fini") < names.index("fqdir_work_fn")


def test_llc_receives_802_2_frames_from_a_real_network_driver(built: dict) -> None:
    k = Kernel("linux", check_vermagic=False, unresolved="trap")
    card = k.devices.add(FifoNic())
    k.load(built[("gcc", "linux", "netdemo")])
    k.modprobe("psnap", KDIR)
    assert [(k.symbolizer.short(h.address), h.type) for h in packet_types(k.service_context).handlers] == [
        ("llc:llc_packet_type", 0x0004)]
    eth = k.net["eth0"]
    eth.up()
    llc_snap = bytes([0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]) + bytes(38)  # DSAP/SSAP SNAP, UI, OUI 0, IPv4
    card.deliver(DRIVER_MAC + bytes.fromhex("02aabbccdd01") + len(llc_snap).to_bytes(2, "big") + llc_snap)
    assert [f.protocol for f in eth.received] == [0x0004]
    handled = [e.fields for e in k.trace if e.kind == "note" and e.name == "packet handler"]
    assert handled == [{"handler": "llc:llc_rcv", "protocol": 0x0004}]
    assert k.subsystem(Skbs).live == {}  # llc_rcv -> snap_rcv freed it (no SNAP client for IPv4)


@pytest.mark.parametrize("name", ["garp", "p8022", "farsync", "pci200syn", "ipddp"])
def test_drivers_needing_llc_or_hdlc_load_after_them(name: str) -> None:
    k = _kernel()
    assert k.modprobe(name, KDIR)[-1].name == name
    assert _unload_all(k) == []


def test_ip_tables_maps_root_through_init_user_ns_and_claims_its_socket_options() -> None:
    k = _kernel()
    k.modprobe("iptable_filter", KDIR)
    kuids = [(e.args, e.result) for e in k.trace if e.kind == "service" and e.name == "make_kuid"]
    init_user_ns = k.export_address("init_user_ns")
    assert kuids and all(args[0] == init_user_ns and result == 0 for args, result in kuids)  # root_uid
    sockopts = [(e.name, e.result) for e in k.trace if e.kind == "service" and e.name == "nf_register_sockopt"]
    assert sockopts == [("nf_register_sockopt", 0)]
    assert _unload_all(k) == []


def test_tls_statistics_are_a_proc_net_file_read_from_python() -> None:
    k = _kernel()
    k.modprobe("tls", KDIR)
    text = k.open("/proc/net/tls_stat").read(4096).decode()
    assert text.splitlines()[0].split() == ["TlsCurrTxSw", "0"]
    assert all(line.split()[1] == "0" for line in text.splitlines())


def test_8021q_plugs_its_ioctl_handler_into_sockets_and_unplugs_it() -> None:
    from kernel_stubs.linux.socket import IoctlHooks

    k = _kernel()
    k.modprobe("8021q", KDIR)  # after mrp, llc, stp, garp
    hooks = k.subsystem(IoctlHooks).hooks
    assert {name: k.symbolizer.short(hook) for name, hook in hooks.items()} == {"vlan": "8021q:vlan_ioctl_handler"}
    assert _unload_all(k) == []
    assert hooks == {}  # vlan_cleanup_module: vlan_ioctl_set(NULL)


def test_cxgb4_listens_for_ipv6_address_changes() -> None:
    k = _kernel()
    k.modprobe("cxgb4", KDIR)
    calls = {e.name: e.result for e in k.trace if e.kind == "service"}
    assert calls["register_inet6addr_notifier"] == 0 and calls["register_netdevice_notifier"] == 0


def test_aoe_walks_init_nets_device_list_from_boot() -> None:
    k = _kernel()
    k.modprobe("aoe", KDIR)  # aoecmd_cfg: for_each_netdev_rcu(&init_net, ...) finds the list empty, not NULL
    assert "aoe: AoE v85 initialised.\n" in k.console


# -- PHYs on MDIO buses, and ethtool's use of libphy's ops ---------------------------------------------

def _rtl8139(k: Kernel) -> str:
    from sandbox.devices.rtl8139 import Rtl8139

    k.pci.add(Rtl8139(mac=bytes.fromhex("525400abcdef")))
    k.modprobe("8139too", KDIR)
    return "eth0"


def test_a_fixed_phy_is_created_on_libphys_fixed_bus_and_attaches_with_the_generic_driver() -> None:
    from kernel_stubs.linux.layout import Fields, offset

    k = _kernel()
    eth = _rtl8139(k)
    fixed_phy, libphy = (next(m for m in k.modprobe("fixed_phy", KDIR) + list(k.modules) if m.name == n)
                         for n in ("fixed_phy", "libphy"))
    status = k.memory.alloc(20)  # struct fixed_phy_status: link 1, speed 1000, duplex full
    for i, value in enumerate((1, 1000, 1, 0, 0)):
        k.memory.write_u32(status + 4 * i, value)
    phydev = fixed_phy.call("fixed_phy_register", 0xFFFFFFFF, status, 0) & 0xFFFFFFFF  # PHY_POLL, no DT node
    f = Fields(k.memory, "phy_device", phydev)
    name = k.memory.read_u32(f.address_of("mdio.dev") + offset("device", "kobj.name"))
    assert k.memory.read_cstring(name) == b"fixed-0:00" and f["phy_id"] == 0 and f["drv"] == 0  # swphy: ID 0
    assert libphy.call("phy_attach_direct", k.net[eth].dev, phydev, 0, 0) == 0
    assert k.symbolizer.short(f["drv"]) == "libphy:genphy_driver"  # attach binds the generic driver
    assert Fields(k.memory, "net_device", k.net[eth].dev)["phydev"] == phydev
    assert k.sysfs.readlink(f"/sys/class/net/{eth}/phydev").endswith("/fixed-0:00")  # sysfs_create_link
    with pytest.raises(SandboxError, match="failed with -95"):  # genphy has no statistics
        k.net[eth].phy_statistics()


def test_a_marvell_phy_model_binds_marvell_ko_and_its_counters_reach_ethtool() -> None:
    from kernel_stubs.linux import mdio
    from kernel_stubs.linux.layout import Fields

    k = _kernel()
    eth = _rtl8139(k)
    k.modprobe("marvell", KDIR)
    libphy = next(m for m in k.modules if m.name == "libphy")
    phy = mdio.PhyModel(0x01410CC2, page_register=22)  # an 88E1111, which pages its registers at 22
    phy.registers[(0, 21)] = 7  # receive error counter
    phy.registers[(0, 10)] = 0x2003  # idle error count in bits 0-7
    bus = mdio.register_bus(k, "sandbox-0", {1: phy})  # libphy scans it and creates the phy_device
    phydev = mdio.phy_device(k, bus, 1)
    f = Fields(k.memory, "phy_device", phydev)
    assert f["phy_id"] == 0x01410CC2 and k.symbolizer.short(f["drv"]).startswith("marvell:marvell_drivers")
    assert phy.writes == [(18, 0)]  # probe: marvell_config_intr with interrupts off (MII_M1011_IMASK)
    assert libphy.call("phy_attach_direct", k.net[eth].dev, phydev, 0, 0) == 0
    assert any(reg == 0 and value & 0x8000 for reg, value in phy.writes)  # phy_init_hw: config_init resets BMCR
    # ethtool --phy-statistics: ETH_SS_PHY_STATS through libphy's ethtool_phy_ops, marvell's get_stats
    assert k.net[eth].phy_statistics() == {"phy_receive_errors_copper": 7, "phy_idle_errors": 3}


# -- IP protocol tables, socket diagnostics, xfrm input -------------------------------------------------

def _inet_protos(k: Kernel, table: str, protocol: int) -> int:
    return k.memory.read_u32(k.export_address(table) + 4 * protocol)


def test_gre_claims_ip_protocol_47_and_gives_it_back() -> None:
    k = _kernel()
    assert k.symbolizer.short(_inet_protos(k, "inet_protos", 6)) == "tcp_protocol"  # built in from boot
    k.modprobe("gre", KDIR)
    assert k.symbolizer.short(_inet_protos(k, "inet_protos", 47)) == "gre:net_gre_protocol"
    assert k.call(k.export_address("inet_add_protocol"), k.export_address("tcp_protocol"), 47) == -1  # taken
    assert _unload_all(k) == []
    assert _inet_protos(k, "inet_protos", 47) == 0


def test_tunnel4_and_tunnel6_take_the_ip_in_ip_slots() -> None:
    from kernel_stubs.linux.protocols import XfrmInputAfinfo

    k = _kernel()
    k.modprobe("tunnel4", KDIR)
    k.modprobe("tunnel6", KDIR)
    assert {key: k.symbolizer.short(a) for key, a in k.subsystem(XfrmInputAfinfo).slots.items()} == {
        (1, 2): "tunnel4:tunnel4_input_afinfo", (1, 10): "tunnel6:tunnel6_input_afinfo"}
    assert k.symbolizer.short(_inet_protos(k, "inet_protos", 4)) == "tunnel4:tunnel4_protocol"  # IPPROTO_IPIP
    assert k.symbolizer.short(_inet_protos(k, "inet6_protos", 41)) == "tunnel6:tunnel6_protocol"  # IPPROTO_IPV6 (IPv6 in IPv6)
    assert _unload_all(k) == []
    assert k.subsystem(XfrmInputAfinfo).slots == {} and _inet_protos(k, "inet_protos", 4) == 0


def test_diag_modules_register_one_handler_per_family() -> None:
    from kernel_stubs.linux.protocols import ProtocolTables

    k = _kernel()
    for name in ("tcp_diag", "unix_diag", "af_packet_diag"):
        k.modprobe(name, KDIR)
    diag = k.subsystem(ProtocolTables).diag
    assert {family: k.symbolizer.short(h) for family, h in diag.items()} == {
        2: "inet_diag:inet_diag_handler", 10: "inet_diag:inet6_diag_handler", 1: "unix_diag:unix_diag_handler",
        17: "af_packet_diag:packet_diag_handler"}
    assert k.call(k.export_address("sock_diag_register"), diag[1]) == -16  # -EBUSY: AF_UNIX has one
    assert _unload_all(k) == []
    assert diag == {}


def test_ipsec_handlers_chain_by_priority_and_own_the_protocol_slot_while_they_last() -> None:
    from kernel_stubs.linux.protocols import XfrmHandlers

    k = _kernel()
    k.modprobe("esp4_offload", KDIR)  # after xfrm_algo and esp4
    k.modprobe("esp6", KDIR)
    assert k.symbolizer.short(_inet_protos(k, "inet_offloads", 50)) == "esp4_offload:esp4_offload"
    chains = k.subsystem(XfrmHandlers).chains
    assert [k.symbolizer.short(h) for h in chains[(4, 50)]] == ["esp4:esp4_protocol"]
    assert k.symbolizer.short(_inet_protos(k, "inet_protos", 50)) == "esp4_protocol"  # the kernel's, for IPPROTO_ESP
    assert k.symbolizer.short(_inet_protos(k, "inet6_protos", 50)) == "esp6_protocol"
    esp = chains[(4, 50)][0]
    assert k.call(k.export_address("xfrm4_protocol_register"), esp, 50) == -17  # same priority: -EEXIST
    assert k.call(k.export_address("xfrm4_protocol_register"), esp, 6) == -22  # TCP is not an IPsec protocol
    assert _unload_all(k) == []
    assert _inet_protos(k, "inet_protos", 50) == 0 and _inet_protos(k, "inet6_protos", 50) == 0
    assert _inet_protos(k, "inet_offloads", 50) == 0


# -- IP tunnels: each namespace's fallback devices ----------------------------------------------------------

@pytest.mark.parametrize(("name", "devices"), [
    ("ipip", {"tunl0": 1480}), ("sit", {"sit0": 1480}),
    ("ip_gre", {"gre0": 1476, "gretap0": 1462, "erspan0": 1450}),
    ("ip6_tunnel", {"ip6tnl0": 1452}), ("ip6_gre", {"ip6tnl0": 1452, "ip6gre0": 1448}),
    ("ip_vti", {"ip_vti0": 1480}), ("ip6_vti", {"ip6tnl0": 1452, "ip6_vti0": 1332}),
])
def test_tunnel_modules_make_their_fallback_devices_with_linuxs_mtus(name: str, devices: dict[str, int]) -> None:
    k = _kernel()
    k.modprobe(name, KDIR)
    assert {i.name: i.mtu for i in k.net.interfaces()} == devices  # dst_cache_init, gro_cells_init in ndo_init
    assert _unload_all(k) == []
    assert list(k.net) == []  # pernet exit: unregister_netdevice_many


def test_ipv6_address_classes_are_linuxs() -> None:
    from kernel_stubs.linux.protocols import ipv6_addr_type

    assert ipv6_addr_type(bytes(15) + b"\x01") == 0x0010 | 0x0001 | 0x02 << 16  # ::1 loopback
    assert ipv6_addr_type(bytes.fromhex("fe80" + "00" * 13 + "01")) == 0x0020 | 0x0001 | 0x02 << 16
    assert ipv6_addr_type(bytes.fromhex("ff02" + "00" * 13 + "01")) == 0x0002 | 0x0020 | 0x02 << 16  # all-nodes
    assert ipv6_addr_type(bytes(10) + b"\xff\xff\x0a\x00\x00\x01") == 0x1000 | 0x0E << 16  # ::ffff:10.0.0.1
    assert ipv6_addr_type(bytes(16)) == 0
    assert ipv6_addr_type(bytes.fromhex("2001" + "00" * 14)) == 0x0001 | 0x0E << 16
