"""The networking core with the project's own protocol module (drivers/linux/netcoredemo.c, gcc and clang).

Without the Linux corpus: a protocol family with its sockets created from Python, packet
handlers fed by a network driver's receive path (drivers/linux/netdemo.c on the FIFO card of
test_linux_net), init_user_ns id mapping, a fragment directory, a netevent notifier and a
/proc/net file, each as the module observes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernel_stubs.linux.inet_frags import Fqdirs
from kernel_stubs.linux.layout import offset, size
from kernel_stubs.linux.packet import packet_types
from kernel_stubs.linux.skbuff import Skbs
from sandbox import Kernel
from sandbox.errors import SandboxError
from tests.test_linux_net import DRIVER_MAC, FifoNic

SOURCE = Path(__file__).resolve().parent.parent / "drivers" / "linux" / "netcoredemo.c"
PF_DEMO, SOCK_DGRAM, SOCK_STREAM = 19, 2, 1


@pytest.fixture(params=["gcc", "clang"])
def netcoredemo(request: pytest.FixtureRequest, built) -> Path:  # type: ignore[no-untyped-def]
    """drivers/linux/netcoredemo.c built as a Linux module by gcc and by clang."""
    key = (request.param, "linux", "netcoredemo")
    if key not in built:
        pytest.skip(f"{request.param} is not installed")
    return built[key]


def _kernel(built: dict, netcoredemo: Path):  # type: ignore[no-untyped-def]
    k = Kernel("linux", check_vermagic=False)
    card = k.devices.add(FifoNic())
    k.load(built[("gcc", "linux", "netdemo")])
    return k, card, k.load(netcoredemo)


def _u32(k: Kernel, module, name: str) -> int:  # type: ignore[no-untyped-def]
    return k.memory.read_u32(module.address_of(name))


def test_the_samples_offsets_are_linux_6_1_i386s() -> None:
    defines = {name: int(value) for name, value in re.findall(r"#define (\w+) (\d+)\n", SOURCE.read_text())}
    expected = {
        "SOCKET_STATE": offset("socket", "state"), "SOCKET_TYPE": offset("socket", "type"),
        "SOCKET_SK": offset("socket", "sk"), "SOCKET_OPS": offset("socket", "ops"),
        "SK_PROTOCOL": offset("sock", "sk_protocol"), "SK_SIZE": size("sock"),
        "PROTO_OBJ_SIZE": offset("proto", "obj_size"), "PROTO_OWNER": offset("proto", "owner"),
        "PROTO_NAME": offset("proto", "name"), "PROTO_SIZE": size("proto"),
        "NPF_FAMILY": offset("net_proto_family", "family"), "NPF_CREATE": offset("net_proto_family", "create"),
        "NPF_OWNER": offset("net_proto_family", "owner"), "NPF_SIZE": size("net_proto_family"),
        "OPS_FAMILY": offset("proto_ops", "family"), "OPS_OWNER": offset("proto_ops", "owner"),
        "OPS_RELEASE": offset("proto_ops", "release"), "OPS_SIZE": size("proto_ops"),
        "PT_TYPE": offset("packet_type", "type"), "PT_FUNC": offset("packet_type", "func"),
        "PT_SIZE": size("packet_type"), "IF_QSIZE": offset("inet_frags", "qsize"),
        "IF_CACHE_NAME": offset("inet_frags", "frags_cache_name"),
        "IF_KEY_LEN": offset("inet_frags", "rhash_params.key_len"), "IF_SIZE": size("inet_frags"),
        "NET_PROC_NET": offset("net", "proc_net"), "SEQ_PRIVATE": offset("seq_file", "private"),
    }
    assert {name: defines[name] for name in expected} == expected


def test_a_family_registers_once_and_not_beyond_nproto(built: dict, netcoredemo: Path) -> None:
    k, _card, m = _kernel(built, netcoredemo)
    assert "NET: Registered PF_ECONET protocol family\n" in k.console
    assert _u32(k, m, "dup_result") == (-17) & 0xFFFFFFFF  # -EEXIST: the slot is taken
    assert _u32(k, m, "big_result") == (-105) & 0xFFFFFFFF  # -ENOBUFS
    assert "protocol 46 >= NPROTO(46)\n" in k.console
    assert k.net.families()[PF_DEMO] == "netcoredemo"
    assert k.unload(m).leaks == []
    assert k.console.endswith("NET: Unregistered PF_ECONET protocol family\n")


def test_sockets_of_the_family_run_its_create_and_release(built: dict, netcoredemo: Path) -> None:
    k, _card, m = _kernel(built, netcoredemo)
    sock = k.net.socket(PF_DEMO, SOCK_DGRAM, 7)
    sk = sock.sock
    assert sk is not None and sk["sk_protocol"] == 7 and sk["__sk_common.skc_family"] == PF_DEMO
    assert sk["sk_socket"] == sock.address and sk["sk_type"] == SOCK_DGRAM
    assert sk["sk_prot_creator"] == m.address_of("demo_proto")
    assert k.symbolizer.short(sk["sk_data_ready"]) == "sock_def_readable"
    sock.close()
    assert (_u32(k, m, "creates"), _u32(k, m, "releases")) == (1, 1)
    with pytest.raises(SandboxError, match="failed with -94"):  # -ESOCKTNOSUPPORT from demo_create
        k.net.socket(PF_DEMO, SOCK_STREAM, 0)
    with pytest.raises(SandboxError, match="failed with -22"):  # type beyond SOCK_MAX
        k.net.socket(PF_DEMO, 11, 0)
    assert k.unload(m).leaks == []  # the sock went back to the NETCOREDEMO slab


def test_received_frames_reach_the_handler_of_their_type_and_the_tap(built: dict, netcoredemo: Path) -> None:
    k, card, m = _kernel(built, netcoredemo)
    assert [h.type for h in packet_types(k.service_context).handlers] == [0x0003, 0x88B5]  # newest first
    eth = k.net["eth0"]
    eth.up()
    card.deliver(DRIVER_MAC + bytes(6) + b"\x88\xb5" + bytes(50), DRIVER_MAC + bytes(6) + b"\x08\x00" + bytes(50))
    assert (_u32(k, m, "frames"), _u32(k, m, "frame_bytes"), _u32(k, m, "tapped")) == (1, 50, 2)
    assert [f.protocol for f in eth.received] == [0x88B5, 0x0800]
    assert k.subsystem(Skbs).live == {}  # the tap's extra reference and the handler's were both dropped
    assert k.unload(m).leaks == []
    assert packet_types(k.service_context).handlers == []


def test_ids_map_through_init_user_ns(built: dict, netcoredemo: Path) -> None:
    k, _card, m = _kernel(built, netcoredemo)
    assert (_u32(k, m, "kuid_1000"), _u32(k, m, "uid_back")) == (1000, 1000)
    assert _u32(k, m, "munged") == 65534  # INVALID_UID shown as overflowuid


def test_the_fragment_directory_lives_until_exit(built: dict, netcoredemo: Path) -> None:
    k, _card, m = _kernel(built, netcoredemo)
    fqdir = _u32(k, m, "demo_fqdir")
    assert k.subsystem(Fqdirs).fqdirs == {fqdir: m.address_of("demo_frags")}
    assert k.memory.read_u32(m.address_of("demo_frags") + offset("inet_frags", "refcnt")) == 2
    assert k.unload(m).leaks == []  # fqdir_exit's work ran inside inet_frags_fini's wait; the cache is gone
    assert k.subsystem(Fqdirs).fqdirs == {}


def test_netevents_reach_the_notifier_and_proc_net_shows_the_counters(built: dict, netcoredemo: Path) -> None:
    k, _card, m = _kernel(built, netcoredemo)
    assert m.call("demo_fire_netevent", 1) == 0  # NETEVENT_NEIGH_UPDATE
    assert (_u32(k, m, "netevents"), _u32(k, m, "last_netevent")) == (1, 1)
    text = k.open("/proc/net/netcoredemo").read(200)
    assert text == b"creates 0 releases 0 frames 0 bytes 0 tapped 0\n"
    assert _u32(k, m, "shown_net") == k.export_address("init_net")  # single_open_net: m->private is the net
    assert k.unload(m).leaks == []
