"""Netlink as Linux 6.1 gives it: kernel sockets, generic netlink, the connector, spoken to from Python.

A compiled sample (drivers/linux/nlecho.c, gcc and clang) creates a kernel
socket of its own; Debian's scsi_mod, nfnetlink + nfnetlink_acct, wire (w1),
psample, macsec and ieee802154 are driven through the real protocols when
the corpus is there.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from kernel_stubs.linux import connector as cn
from kernel_stubs.linux import genetlink as genl
from kernel_stubs.linux import nlmsg as wire
from kernel_stubs.linux.layout import bit_field, offset, size
from kernel_stubs.linux.netlink_core import (
    NETLINK_CONNECTOR,
    NETLINK_GENERIC,
    NETLINK_NETFILTER,
    NETLINK_SCSITRANSPORT,
    NLMSG_GOODSIZE,
    NetlinkError,
)
from kernel_stubs.linux.skbuff import Skbs
from sandbox import Kernel
from tests.linux_corpus import KDIR, needs_corpus

SOURCE = Path(__file__).resolve().parent.parent / "drivers" / "linux" / "nlecho.c"
NLECHO_UNIT, NLECHO_ECHO, NLECHO_SHOUT, NLECHO_SUM = 31, 0x10, 0x11, 0x12
EINVAL, ERANGE, ESRCH, ENOENT, EOPNOTSUPP, EEXIST, EPERM = 22, 34, 3, 2, 95, 17, 1
REQ, ACK = wire.NLM_F_REQUEST, wire.NLM_F_ACK


@pytest.fixture(params=["gcc", "clang"])
def nlecho(request: pytest.FixtureRequest, built) -> Path:  # type: ignore[no-untyped-def]
    """drivers/linux/nlecho.c as drivers/build.py builds Linux modules, by gcc and clang."""
    key = (request.param, "linux", "nlecho")
    if key not in built:
        pytest.skip(f"{request.param} is not installed")
    return built[key]


def _echo_kernel(nlecho: Path) -> Kernel:
    k = Kernel("linux", check_vermagic=False)
    k.load(nlecho)
    return k


def test_the_samples_offsets_are_linux_6_1_i386s() -> None:
    defines = {name: int(value) for name, value in re.findall(r"#define (\w+) (\d+)\n", SOURCE.read_text())}
    assert defines["SKB_CB"] == offset("sk_buff", "cb")
    assert defines["SKB_LEN"] == offset("sk_buff", "len")
    assert defines["SKB_DATA"] == offset("sk_buff", "data")
    assert defines["NLCB_PORTID"] == offset("netlink_skb_parms", "portid")
    assert defines["CFG_GROUPS"] == offset("netlink_kernel_cfg", "groups")
    assert defines["CFG_INPUT"] == offset("netlink_kernel_cfg", "input")
    assert defines["CFG_SIZE"] == size("netlink_kernel_cfg")
    assert defines["POLICY_SIZE"] == size("nla_policy")
    for name, field in (("FAM_ID", "id"), ("FAM_NAME", "name"), ("FAM_VERSION", "version"), ("FAM_MAXATTR", "maxattr"),
                        ("FAM_MCGRP_OFFSET", "mcgrp_offset"), ("FAM_N_SMALL_OPS", "n_small_ops"),
                        ("FAM_N_MCGRPS", "n_mcgrps"), ("FAM_RESV_START_OP", "resv_start_op"),
                        ("FAM_POLICY", "policy"), ("FAM_SMALL_OPS", "small_ops"), ("FAM_MCGRPS", "mcgrps")):
        assert defines[name] == offset("genl_family", field), name
    assert defines["FAM_SIZE"] == size("genl_family")
    assert defines["FAM_BITS"] == bit_field("genl_family", "netnsok")[0]
    assert (defines["SOP_DOIT"], defines["SOP_CMD"], defines["SOP_SIZE"]) == (
        offset("genl_small_ops", "doit"), offset("genl_small_ops", "cmd"), size("genl_small_ops"))
    assert (defines["INFO_SND_SEQ"], defines["INFO_SND_PORTID"], defines["INFO_ATTRS"]) == (
        offset("genl_info", "snd_seq"), offset("genl_info", "snd_portid"), offset("genl_info", "attrs"))
    assert defines["NET_GENL_SOCK"] == offset("net", "genl_sock")
    assert defines["SOP_DUMPIT"] == offset("genl_small_ops", "dumpit")
    assert (defines["NCB_SKB"], defines["NCB_NLH"], defines["NCB_ARGS"]) == (
        offset("netlink_callback", "skb"), offset("netlink_callback", "nlh"), offset("netlink_callback", "args"))
    assert (defines["SKB_TAIL"], defines["SKB_END"]) == (offset("sk_buff", "tail"), offset("sk_buff", "end"))
    assert defines["MCGRP_SIZE"] == size("genl_multicast_group")


def test_a_kernel_socket_is_one_per_unit_and_its_input_echoes_with_an_ack(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    # a second socket on the unit and unit 32 were refused; the family got the first free id and groups
    assert "nlecho: listening on netlink protocol 31, genl family 19 (groups from 2)" in k.console
    sock = k.net.netlink(NLECHO_UNIT)
    echo, ack = sock.request(wire.nlmsg(NLECHO_ECHO, b"hello", REQ | ACK, seq=5))
    assert (echo.type, echo.seq, echo.portid, echo.payload) == (NLECHO_ECHO, 5, sock.portid, b"hello")
    assert (ack.type, ack.error, ack.seq) == (wire.NLMSG_ERROR, 0, 5)
    assert ack.flags == wire.NLM_F_CAPPED  # an ACK echoes only the request's header
    assert struct.unpack_from("<IHHII", ack.payload, 4) == (21, NLECHO_ECHO, REQ | ACK, 5, 0)
    assert not k.subsystem(Skbs).live  # the request and the reply were freed


def test_an_error_ack_carries_the_whole_request_and_multicast_reaches_only_members(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sender = k.net.netlink(NLECHO_UNIT)
    (nack,) = sender.request(wire.nlmsg(NLECHO_SHOUT, b"hey", REQ, seq=6))
    assert nack.error == -ESRCH and nack.flags == 0
    assert nack.payload[4 + 16:] == b"hey\0"  # header and payload of the request, padded
    member = k.net.netlink(NLECHO_UNIT, groups=1)
    bystander = k.net.netlink(NLECHO_UNIT)
    assert sender.request(wire.nlmsg(NLECHO_SHOUT, b"hey", REQ, seq=7)) == []
    (shout,) = member.messages()
    assert (shout.type, shout.payload, shout.seq) == (NLECHO_SHOUT, b"hey", 7)
    assert bystander.messages() == []
    member.leave(1)
    assert sender.request(wire.nlmsg(NLECHO_SHOUT, b"x", REQ, seq=8))[0].error == -ESRCH


def test_attributes_are_parsed_against_the_modules_policy_with_linuxs_errors(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sock = k.net.netlink(NLECHO_UNIT)
    (reply,) = sock.request(wire.nlmsg(NLECHO_SUM, wire.nla_u32(1, 5) + wire.nla_u32(1, 7)
                                       + wire.nla_string(2, "total"), REQ, seq=7))
    attrs = reply.attrs().by_type()
    assert attrs[1].u32 == 12 and attrs[2].string == "total"
    sock.set_ext_ack()
    bad_len = sock.request(wire.nlmsg(NLECHO_SUM, wire.nla_u32(1, 5) + wire.nla(1, b"\1\2"), REQ, seq=8))[0]
    assert bad_len.error == -EINVAL and bad_len.flags == wire.NLM_F_ACK_TLVS
    tlvs = bad_len.ext_ack.by_type()
    assert tlvs[wire.NLMSGERR_ATTR_MSG].string == "invalid attribute length"
    assert tlvs[wire.NLMSGERR_ATTR_OFFS].u32 == 16 + 8  # the second attribute of the request
    too_long = sock.request(wire.nlmsg(NLECHO_SUM, wire.nla_string(2, "much too long"), REQ, seq=9))[0]
    assert too_long.error == -ERANGE
    assert too_long.ext_ack.by_type()[wire.NLMSGERR_ATTR_MSG].string == "Attribute failed policy validation"
    unknown = sock.request(wire.nlmsg(NLECHO_SUM, wire.nla_u32(3, 5), REQ, seq=10))[0]
    assert unknown.error == -EINVAL
    assert unknown.ext_ack.by_type()[wire.NLMSGERR_ATTR_MSG].string == "Unknown attribute type"
    assert "netlink: '" in k.console and "attribute type 1 has an invalid length." in k.console


def test_unload_releases_the_unit_and_sockets_say_what_the_system_calls_say(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sock = k.net.netlink(NLECHO_UNIT)
    sock.join(5)  # the module asked for 4 groups: a kernel socket has at least 32
    with pytest.raises(NetlinkError) as bad_group:
        sock.join(33)
    assert bad_group.value.errno == EINVAL
    sock.request(wire.nlmsg(NLECHO_ECHO, b"1", REQ, seq=1))
    report = k.unload("nlecho")
    assert report.leaks == [] and "nlecho: 1 requests served" in k.console
    with pytest.raises(NetlinkError) as refused:
        sock.send(wire.nlmsg(NLECHO_ECHO, b"2", REQ))
    assert refused.value.errno == 111  # ECONNREFUSED: nobody serves the unit any more
    with pytest.raises(NetlinkError) as unsupported:
        k.net.netlink(NLECHO_UNIT)
    assert unsupported.value.errno == 93  # EPROTONOSUPPORT


def test_a_modules_genl_family_is_resolved_dispatched_and_gone_after_unload(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sock = k.net.netlink(NETLINK_GENERIC)
    family = genl.resolve(sock, "nlecho")
    assert (family.id, family.version, family.maxattr, family.groups) == (0x13, 1, 2, {"events": 2})
    assert family.ops == {1: genl.GENL_CMD_CAP_DO | genl.GENL_CMD_CAP_HASPOL,  # small ops: the family's policy
                          2: genl.GENL_CMD_CAP_DUMP | genl.GENL_CMD_CAP_HASPOL}
    with pytest.raises(NetlinkError) as refused:
        k.net.netlink(NETLINK_GENERIC, privileged=False).join(family.groups["events"])
    assert refused.value.errno == EPERM  # a GENL_UNS_ADMIN_PERM group
    listener = k.net.netlink(NETLINK_GENERIC)
    listener.join(family.groups["events"])
    reply, ack = sock.request(wire.genlmsg(family.id, 1, [wire.nla_string(2, "hi")], flags=REQ | ACK, seq=9))
    assert (reply.type, reply.genl_cmd, reply.seq, reply.portid) == (family.id, 1, 9, sock.portid)
    assert reply.payload[1] == 1  # genlmsghdr version: the family's
    attrs = reply.attrs(wire.GENL_HDRLEN).by_type()
    assert (attrs[2].string, attrs[1].u32) == ("hi", 1)
    assert ack.error == 0
    (event,) = listener.messages()
    assert (event.genl_cmd, event.portid, event.attrs(wire.GENL_HDRLEN).by_type()[2].string) == (1, 0, "hi")
    sock.set_ext_ack()
    (strict,) = sock.request(wire.genlmsg(family.id, 1, [wire.nla_u32(7, 1)], flags=REQ | ACK, seq=10))
    assert strict.error == -EINVAL  # the op asks for no relaxed validation: parsed strictly
    assert strict.ext_ack.by_type()[wire.NLMSGERR_ATTR_MSG].string == "Unknown attribute type"
    (reserved,) = sock.request(wire.nlmsg(family.id, struct.pack("<BBH", 1, 1, 7), REQ | ACK, seq=11))
    assert reserved.error == -EINVAL  # the genlmsghdr's reserved bytes must be 0 from resv_start_op on
    (missing,) = sock.request(wire.genlmsg(family.id, 9, flags=REQ | ACK, seq=12))
    assert missing.error == -EOPNOTSUPP
    assert k.unload("nlecho").leaks == []
    assert listener.groups == set()  # unregistering dropped the group's members
    with pytest.raises(NetlinkError):
        genl.resolve(sock, "nlecho")


def test_a_dump_fills_one_skb_per_read_until_the_module_is_done(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    family = genl.resolve(k.net.netlink(NETLINK_GENERIC), "nlecho")
    sock = k.net.netlink(NETLINK_GENERIC)  # it never read: its first dump skb is NLMSG_GOODSIZE
    sock.send(wire.genlmsg(family.id, 2, flags=REQ | wire.NLM_F_DUMP, seq=21))
    sizes, datagrams = [], []
    while (data := sock.recv(4096)) is not None:  # a reader with a 4 KiB buffer: skbs of at most that
        sizes.append(len(data))
        datagrams.append(wire.parse_messages(data))
    assert len(datagrams) >= 3 and max(sizes) <= 4096  # 300 messages of 28 bytes
    assert NLMSG_GOODSIZE - 64 < sizes[0] <= NLMSG_GOODSIZE  # the first skb, filled
    messages = [m for d in datagrams for m in d]
    values = [m.attrs(wire.GENL_HDRLEN).by_type()[1].u32 for m in messages if m.type == family.id]
    assert values == list(range(300))
    assert all(m.flags == wire.NLM_F_MULTI and m.seq == 21 for m in messages)
    assert (messages[-1].type, messages[-1].error) == (wire.NLMSG_DONE, 0)
    assert not k.subsystem(Skbs).live  # every skb of the dump and the request were freed


def test_a_connector_message_reaches_the_modules_callback_and_comes_back(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sock = k.net.netlink(NETLINK_CONNECTOR)
    (reply,) = sock.request(cn.cn_message(0x4C45, 1, b"ping", seq=41))
    assert (reply.type, reply.seq, reply.portid) == (wire.NLMSG_DONE, 41, 0)
    msg = cn.parse_cn(reply)
    assert (msg.idx, msg.val, msg.seq, msg.ack, msg.data) == (0x4C45, 1, 41, 42, b"ping")
    assert sock.request(cn.cn_message(0x4C45, 2, b"ping", seq=43)) == []  # no callback for that id
    # a cn_msg claiming more data than the message holds is dropped before any callback
    short = wire.nlmsg(wire.NLMSG_DONE, struct.pack("<IIIIHH", 0x4C45, 1, 44, 0, 100, 0) + b"ping")
    assert sock.request(short) == []
    assert not k.subsystem(Skbs).live


def test_nlctrl_describes_itself_and_refuses_what_does_not_exist() -> None:
    k = Kernel("linux")
    sock = k.net.netlink(NETLINK_GENERIC)
    ctrl = genl.resolve(sock, "nlctrl")
    assert (ctrl.id, ctrl.version, ctrl.hdrsize, ctrl.maxattr) == (0x10, 2, 0, 0)
    assert ctrl.groups == {"notify": 0x10}
    assert ctrl.ops == {genl.CTRL_CMD_GETFAMILY: genl.GENL_CMD_CAP_DO | genl.GENL_CMD_CAP_DUMP
                        | genl.GENL_CMD_CAP_HASPOL,
                        genl.CTRL_CMD_GETPOLICY: genl.GENL_CMD_CAP_DUMP | genl.GENL_CMD_CAP_HASPOL}
    with pytest.raises(NetlinkError) as missing:
        genl.resolve(sock, "no-such-family")
    assert missing.value.errno == ENOENT
    (nack,) = sock.request(wire.genlmsg(0x3FF, 1, seq=3))
    assert nack.error == -ENOENT  # no family has that id
    with pytest.raises(NetlinkError) as unsupported:
        k.net.netlink(30)
    assert unsupported.value.errno == 93


# -- Debian's modules -------------------------------------------------------------------------------

def _corpus_kernel(*names: str) -> Kernel:
    k = Kernel("linux", unresolved="trap")
    for name in names:
        k.modprobe(name, KDIR)
    return k


@needs_corpus
def test_psample_registers_its_family_and_nlctrl_announces_and_resolves_it() -> None:
    k = Kernel("linux", unresolved="trap")
    watcher = k.net.netlink(NETLINK_GENERIC)
    watcher.join(genl.GENL_ID_CTRL)
    k.modprobe("psample", KDIR)
    events = watcher.messages()
    assert [(m.genl_cmd, genl.parse_family(m).name) for m in events[:1]] == [(genl.CTRL_CMD_NEWFAMILY, "psample")]
    assert [m.genl_cmd for m in events[1:]] == [genl.CTRL_CMD_NEWMCAST_GRP] * 2
    sock = k.net.netlink(NETLINK_GENERIC)
    family = genl.resolve(sock, "psample")
    assert family.id == genl.GENL_START_ALLOC  # the first id after nlctrl's reserved ones
    assert family.groups == {"config": 2, "packets": 3}  # the first free multicast bits
    assert family.ops == {1: genl.GENL_CMD_CAP_DUMP}  # PSAMPLE_CMD_GET_GROUP: dump only
    (done,) = sock.request(wire.genlmsg(family.id, 1, flags=REQ | wire.NLM_F_DUMP, seq=7))
    assert (done.type, done.error, done.flags, done.seq) == (wire.NLMSG_DONE, 0, wire.NLM_F_MULTI, 7)
    (nack,) = sock.request(wire.genlmsg(family.id, 1, flags=REQ | ACK, seq=8))
    assert nack.error == -EOPNOTSUPP  # no doit for GET_GROUP
    assert k.unload("psample").leaks == []
    assert watcher.messages()[-1].genl_cmd == genl.CTRL_CMD_DELFAMILY
    with pytest.raises(NetlinkError):
        genl.resolve(sock, "psample")


@needs_corpus
def test_every_family_is_listed_by_an_nlctrl_dump_with_cyclic_ids() -> None:
    k = _corpus_kernel("psample", "macsec", "ieee802154")
    sock = k.net.netlink(NETLINK_GENERIC)
    answer = sock.request(wire.genlmsg(genl.GENL_ID_CTRL, genl.CTRL_CMD_GETFAMILY, flags=REQ | wire.NLM_F_DUMP, seq=2))
    families = {genl.parse_family(m).name: genl.parse_family(m).id for m in answer if m.type == genl.GENL_ID_CTRL}
    assert families == {"nlctrl": 0x10, "psample": 0x13, "macsec": 0x14, "802.15.4 MAC": 0x15, "nl802154": 0x16}
    assert answer[-1].type == wire.NLMSG_DONE
    k.unload("psample")
    k.modprobe("psample", KDIR)
    assert genl.resolve(sock, "psample").id == 0x17  # idr_alloc_cyclic: not the freed 0x13


@needs_corpus
def test_a_genl_command_runs_the_modules_doit_with_its_policy() -> None:
    k = _corpus_kernel("macsec")
    sock = k.net.netlink(NETLINK_GENERIC)
    sock.set_ext_ack()
    family = genl.resolve(sock, "macsec")
    # MACSEC_CMD_ADD_RXSC (1): MACSEC_ATTR_IFINDEX (1) naming no device, MACSEC_ATTR_RXSC_CONFIG (2) with
    # an SCI: the doit parses the nest itself, then finds no device: its own -ENODEV
    rxsc = wire.nla(2, [wire.nla_u64(1, 0x1122334455667788)])
    (nack,) = sock.request(wire.genlmsg(family.id, 1, [wire.nla_u32(1, 99), rxsc], flags=REQ | ACK, seq=4))
    assert nack.error == -19
    # without the nest the doit refuses the request
    (nack,) = sock.request(wire.genlmsg(family.id, 1, [wire.nla_u32(1, 99)], flags=REQ | ACK, seq=5))
    assert nack.error == -EINVAL
    # macsec's commands predate resv_start_op and ask for liberal parsing: a longer u32 is only a warning,
    # a shorter one fails the policy (-ERANGE) before the doit runs
    (nack,) = sock.request(wire.genlmsg(family.id, 1, [wire.nla_u64(1, 99), rxsc], flags=REQ | ACK, seq=6))
    assert nack.error == -19 and "attribute type 1 has an invalid length." in k.console
    (short,) = sock.request(wire.genlmsg(family.id, 1, [wire.nla_u16(1, 99), rxsc], flags=REQ | ACK, seq=6))
    assert short.error == -ERANGE
    assert short.ext_ack.by_type()[wire.NLMSGERR_ATTR_OFFS].u32 == 16 + 4  # after nlmsghdr and genlmsghdr
    unprivileged = k.net.netlink(NETLINK_GENERIC, privileged=False)
    (denied,) = unprivileged.request(wire.genlmsg(family.id, 1, [wire.nla_u32(1, 99), rxsc], flags=REQ | ACK,
                                                  seq=7))
    assert denied.error == -EPERM  # GENL_ADMIN_PERM


@needs_corpus
def test_scsi_transport_messages_reach_scsi_mods_receiver() -> None:
    k = _corpus_kernel("scsi_mod")
    sock = k.net.netlink(NETLINK_SCSITRANSPORT)
    (wrong_type,) = sock.request(wire.nlmsg(0x12, bytes(8), REQ, seq=1))
    assert wrong_type.error == -74  # EBADMSG: not SCSI_TRANSPORT_MSG
    (wrong_magic,) = sock.request(wire.nlmsg(0x11, struct.pack("<BBHHH", 1, 0, 0xBEEF, 1, 0), REQ, seq=2))
    assert wrong_magic.error == -91  # EPROTOTYPE
    (unknown,) = sock.request(wire.nlmsg(0x11, struct.pack("<BBHHH", 1, 0, 0xA1B2, 5, 0), REQ, seq=3))
    assert unknown.error == -53  # EBADR
    assert "scsi_nl_rcv_msg: Msgtype 5 failed - err -53" in k.console
    unprivileged = k.net.netlink(NETLINK_SCSITRANSPORT, privileged=False)
    (denied,) = unprivileged.request(wire.nlmsg(0x11, struct.pack("<BBHHH", 1, 0, 0xA1B2, 1, 0), REQ, seq=4))
    assert denied.error == -EPERM


NFNL_SUBSYS_ACCT, NFNL_MSG_ACCT_NEW, NFNL_MSG_ACCT_GET = 7, 0, 1
NFACCT_NAME, NFACCT_PKTS, NFACCT_BYTES, NFACCT_USE = 1, 2, 3, 4
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11


@needs_corpus
def test_nfnetlink_acct_creates_and_dumps_accounting_objects() -> None:
    k = _corpus_kernel("nfnetlink_acct")
    assert [m.state for m in k.modules] == ["live", "live"]  # nfnetlink's init returned 0, then the acct's
    sock = k.net.netlink(NETLINK_NETFILTER)
    nfgenmsg = struct.pack("<BBH", 0, 0, 0)
    new = (NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_NEW
    body = nfgenmsg + wire.nla_string(NFACCT_NAME, "web") + wire.nla(NFACCT_PKTS, struct.pack(">Q", 5))
    (ack,) = sock.request(wire.nlmsg(new, body, REQ | ACK | NLM_F_CREATE | NLM_F_EXCL, seq=3))
    assert ack.error == 0
    (exists,) = sock.request(wire.nlmsg(new, body, REQ | ACK | NLM_F_CREATE | NLM_F_EXCL, seq=4))
    assert exists.error == -EEXIST
    answer = sock.request(wire.nlmsg((NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_GET, nfgenmsg, REQ | wire.NLM_F_DUMP,
                                     seq=5))
    assert [m.type for m in answer] == [(NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_NEW, wire.NLMSG_DONE]
    attrs = answer[0].attrs(4).by_type()
    assert attrs[NFACCT_NAME].string == "web"
    assert struct.unpack(">Q", attrs[NFACCT_PKTS].data)[0] == 5
    assert struct.unpack(">Q", attrs[NFACCT_BYTES].data)[0] == 0
    assert struct.unpack(">I", attrs[NFACCT_USE].data)[0] == 1
    # a batch for a subsystem without commit/abort (nfnetlink_rcv_skb_batch): refused on the BEGIN message
    begin = wire.nlmsg(NFNL_MSG_BATCH_BEGIN, struct.pack("<BBH", 0, 0, 0), REQ, seq=6)
    begin = begin[:wire.NLMSG_HDRLEN + 2] + struct.pack(">H", NFNL_SUBSYS_ACCT)  # res_id: the subsystem, big-endian
    (nack,) = sock.request(begin + wire.nlmsg(NFNL_MSG_BATCH_END, nfgenmsg, REQ, seq=7))
    assert (nack.error, nack.seq) == (-EOPNOTSUPP, 6)
    assert not k.subsystem(Skbs).live  # the clone nfnetlink made of the batch was freed too


CN_W1_IDX, CN_W1_VAL, W1_LIST_MASTERS = 3, 1, 6


@needs_corpus
def test_a_w1_connector_request_reaches_wires_callback_and_its_reply_comes_back() -> None:
    k = _corpus_kernel("wire")
    sock = k.net.netlink(NETLINK_CONNECTOR)
    w1_msg = struct.pack("<BBH8s", W1_LIST_MASTERS, 0, 0, bytes(8))
    (reply,) = sock.request(cn.cn_message(CN_W1_IDX, CN_W1_VAL, w1_msg, seq=11))
    assert (reply.type, reply.portid) == (wire.NLMSG_DONE, 0)
    msg = cn.parse_cn(reply)
    assert (msg.idx, msg.val, msg.seq, msg.ack) == (CN_W1_IDX, CN_W1_VAL, 11, 12)
    assert msg.data == struct.pack("<BBH8s", W1_LIST_MASTERS, 0, 0, bytes(8))  # no bus masters
    assert sock.request(cn.cn_message(9, 9, b"", seq=12)) == []  # nobody registered 9:9: dropped
    assert k.unload("wire").leaks == []


NL80211_CMD_GET_WIPHY, NL80211_CMD_GET_REG, NL80211_CMD_GET_PROTOCOL_FEATURES = 1, 31, 95
NL80211_ATTR_REG_ALPHA2, NL80211_ATTR_REG_RULES, NL80211_ATTR_PROTOCOL_FEATURES = 33, 34, 173
NL80211_ATTR_FREQ_RANGE_START, NL80211_ATTR_FREQ_RANGE_END, NL80211_ATTR_FREQ_RANGE_MAX_BW = 2, 3, 4


@needs_corpus
def test_cfg80211_loads_its_regulatory_certificates_and_answers_nl80211_requests() -> None:
    k = _corpus_kernel("cfg80211")
    assert [m.name for m in k.modules] == ["rfkill", "cfg80211"]
    assert "cfg80211: Loaded X.509 cert 'sforshee: 00b28ddf47aef9cea7'" in k.console
    assert "cfg80211: Loaded X.509 cert 'wens: 61c038651aabdcf94bd0ac7ff06c7248db18c600'" in k.console
    sock = k.net.netlink(NETLINK_GENERIC)
    nl80211 = genl.resolve(sock, "nl80211")
    assert nl80211.groups == {"config": 2, "scan": 3, "regulatory": 4, "mlme": 5, "vendor": 6, "nan": 7}
    assert nl80211.ops[NL80211_CMD_GET_WIPHY] & genl.GENL_CMD_CAP_DUMP
    (features,) = sock.request(wire.genlmsg(nl80211.id, NL80211_CMD_GET_PROTOCOL_FEATURES, seq=3))
    assert (features.type, features.genl_cmd, features.seq) == (nl80211.id, NL80211_CMD_GET_PROTOCOL_FEATURES, 3)
    assert features.attrs(wire.GENL_HDRLEN).by_type()[NL80211_ATTR_PROTOCOL_FEATURES].u32 == 1  # SPLIT_WIPHY_DUMP
    (done,) = sock.request(wire.genlmsg(nl80211.id, NL80211_CMD_GET_WIPHY, flags=REQ | wire.NLM_F_DUMP, seq=4))
    assert (done.type, done.error) == (wire.NLMSG_DONE, 0)  # no wireless hardware
    (reg,) = sock.request(wire.genlmsg(nl80211.id, NL80211_CMD_GET_REG, seq=5))
    attrs = reg.attrs(wire.GENL_HDRLEN).by_type()
    assert attrs[NL80211_ATTR_REG_ALPHA2].string == "00"  # the world regulatory domain
    rules = [rule.attrs().by_type() for rule in attrs[NL80211_ATTR_REG_RULES].attrs()]
    assert [(r[NL80211_ATTR_FREQ_RANGE_START].u32, r[NL80211_ATTR_FREQ_RANGE_END].u32,
             r[NL80211_ATTR_FREQ_RANGE_MAX_BW].u32) for r in rules[:2]] == [(2402000, 2472000, 40000),
                                                                            (2457000, 2482000, 20000)]
    assert k.unload("cfg80211").leaks == []
    with pytest.raises(NetlinkError):
        genl.resolve(sock, "nl80211")


def test_a_snapshot_puts_back_queues_groups_and_families(nlecho: Path) -> None:
    k = _echo_kernel(nlecho)
    sock = k.net.netlink(NLECHO_UNIT)
    snap = k.snapshot()
    sock.send(wire.nlmsg(NLECHO_ECHO, b"later", REQ, seq=1))
    sock.join(2)
    k.unload("nlecho")
    k.restore(snap)
    assert sock.messages() == [] and sock.groups == set()  # the queue and the membership as they were
    (echo,) = sock.request(wire.nlmsg(NLECHO_ECHO, b"again", REQ, seq=2))
    assert echo.payload == b"again"
    assert genl.resolve(k.net.netlink(NETLINK_GENERIC), "nlecho").id == 0x13


NL802154_CMD_GET_WPAN_PHY, NL802154_ATTR_WPAN_PHY_NAME = 1, 2
HWSIM_CMD_GET_RADIO, HWSIM_CMD_NEW_RADIO, HWSIM_ATTR_RADIO_ID = 1, 3, 1


@needs_corpus
def test_mac802154_hwsim_radios_are_listed_by_nl802154_and_a_new_one_is_announced() -> None:
    k = _corpus_kernel("mac802154_hwsim")
    assert "Added 2 mac802154 hwsim hardware radios" in k.console
    sock = k.net.netlink(NETLINK_GENERIC)
    nl802154, hwsim = genl.resolve(sock, "nl802154"), genl.resolve(sock, "MAC802154_HWSIM")

    def phys() -> list[str]:
        answer = sock.request(wire.genlmsg(nl802154.id, NL802154_CMD_GET_WPAN_PHY, flags=REQ | wire.NLM_F_DUMP))
        assert answer[-1].type == wire.NLMSG_DONE
        return sorted(m.attrs(wire.GENL_HDRLEN).by_type()[NL802154_ATTR_WPAN_PHY_NAME].string for m in answer[:-1])

    assert phys() == ["phy0", "phy1"]
    radios = sock.request(wire.genlmsg(hwsim.id, HWSIM_CMD_GET_RADIO, flags=REQ | wire.NLM_F_DUMP, seq=4))
    assert sorted(m.attrs(wire.GENL_HDRLEN).by_type()[HWSIM_ATTR_RADIO_ID].u32 for m in radios[:-1]) == [0, 1]
    watcher = k.net.netlink(NETLINK_GENERIC)
    watcher.join(hwsim.groups["config"])
    (ack,) = sock.request(wire.genlmsg(hwsim.id, HWSIM_CMD_NEW_RADIO, flags=REQ | ACK, seq=5))
    assert ack.error == 2  # the doit returned the new radio's index, and Linux acks with what it returned
    (event,) = watcher.messages()
    assert (event.genl_cmd, event.attrs(wire.GENL_HDRLEN).by_type()[HWSIM_ATTR_RADIO_ID].u32) == (
        HWSIM_CMD_NEW_RADIO, 2)
    assert phys() == ["phy0", "phy1", "phy2"]


@needs_corpus
def test_libata_and_the_scsi_transports_register_their_classes_and_iscsis_socket() -> None:
    from kernel_stubs.linux.netlink_core import NETLINK_ISCSI

    k = _corpus_kernel("libata", "scsi_transport_sas", "scsi_transport_iscsi")
    classes = set(k.sysfs.ls("/sys/class"))
    assert {"ata_port", "ata_link", "ata_device", "sas_host", "sas_phy", "iscsi_session"} <= classes
    iscsi = k.net.netlink(NETLINK_ISCSI)  # scsi_transport_iscsi's kernel socket
    for name in ("scsi_transport_iscsi", "scsi_transport_sas", "libata"):
        assert k.unload(name).leaks == []
    assert set(k.sysfs.ls("/sys/class")) == {"scsi_device", "scsi_host"}
    with pytest.raises(NetlinkError):
        iscsi.send(wire.nlmsg(0x11, bytes(16)))  # ECONNREFUSED: the unit has no kernel socket any more
