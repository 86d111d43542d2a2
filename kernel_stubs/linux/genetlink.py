"""Generic netlink (net/netlink/genetlink.c) as built into Linux 6.1: the family registry, dispatch, nlctrl.

``genl_register_family`` checks a module's ``struct genl_family`` as Linux
does (every operation has a doit or a dumpit, no command twice, none at or
after ``resv_start_op`` asks for relaxed validation, the name not taken:
-EINVAL / -EEXIST), gives it an id (cyclically from GENL_START_ALLOC,
0x13; nlctrl is GENL_ID_CTRL, 0x10; "pmcraid" and "VFS_DQUOT" their
reserved ids) and places its multicast groups as genl_allocate_reserve_groups
does (consecutive free bits of a bitmap starting as 0x70003, so the first
family's groups start at 2), written back into ``family->id`` and
``family->mcgrp_offset``. CTRL_CMD_NEWFAMILY and NEWMCAST_GRP events go to
nlctrl's "notify" group; unregistering sends DELFAMILY.

A request on NETLINK_GENERIC is dispatched as genl_rcv_msg does: the
family by ``nlmsg_type`` (-ENOENT), the command from the full ``ops`` or
the ``small_ops`` (-EOPNOTSUPP), GENL_ADMIN_PERM / GENL_UNS_ADMIN_PERM
checked against the sender, attributes parsed into a table of
``maxattr + 1`` against the op's policy (the family's when the op has
none) strictly unless the op's ``validate`` flags relax it; a guest
``struct genl_info`` (snd_seq, snd_portid, nlhdr, genlhdr, userhdr, attrs,
_net, user_ptr, extack) and a copy of the op as ``struct genl_ops`` go to
``pre_doit``, ``doit`` and ``post_doit``. NLM_F_DUMP requests become
netlink dumps whose ``cb->data`` is a ``struct genl_dumpit_info``.

nlctrl itself is written here in Python: CTRL_CMD_GETFAMILY by id or name
answers with the family's name, id, version, header size, maxattr, its
operations (id, flags with GENL_CMD_CAP_DO/DUMP/HASPOL) and multicast
groups (id, name), and a dump lists every family. CTRL_CMD_GETPOLICY is
not modelled (-EOPNOTSUPP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from . import netlink_core as core
from . import nlmsg as wire
from .layout import bit_field, offset, size
from .memory import allocate, release
from .nlattr_policy import NL_VALIDATE_LIBERAL, NL_VALIDATE_STRICT, validate_parse
from .skbuff import live_skb

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

GENL_MIN_ID = wire.NLMSG_MIN_TYPE
GENL_ID_CTRL, GENL_ID_VFS_DQUOT, GENL_ID_PMCRAID = GENL_MIN_ID, GENL_MIN_ID + 1, GENL_MIN_ID + 2
GENL_START_ALLOC, GENL_MAX_ID = GENL_MIN_ID + 3, 1023
GENL_NAMSIZ = 16
MC_GROUP_START = 0x3 | 1 << GENL_ID_CTRL | 1 << GENL_ID_VFS_DQUOT | 1 << GENL_ID_PMCRAID
GENL_ADMIN_PERM, GENL_CMD_CAP_DO, GENL_CMD_CAP_DUMP, GENL_CMD_CAP_HASPOL, GENL_UNS_ADMIN_PERM = 1, 2, 4, 8, 16
GENL_DONT_VALIDATE_STRICT, GENL_DONT_VALIDATE_DUMP, GENL_DONT_VALIDATE_DUMP_STRICT = 1, 2, 4
CAP_NET_ADMIN = 12
(CTRL_CMD_UNSPEC, CTRL_CMD_NEWFAMILY, CTRL_CMD_DELFAMILY, CTRL_CMD_GETFAMILY, CTRL_CMD_NEWOPS, CTRL_CMD_DELOPS,
 CTRL_CMD_GETOPS, CTRL_CMD_NEWMCAST_GRP, CTRL_CMD_DELMCAST_GRP, CTRL_CMD_GETMCAST_GRP, CTRL_CMD_GETPOLICY) = range(11)
(CTRL_ATTR_UNSPEC, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_VERSION, CTRL_ATTR_HDRSIZE,
 CTRL_ATTR_MAXATTR, CTRL_ATTR_OPS, CTRL_ATTR_MCAST_GROUPS) = range(8)
CTRL_ATTR_OP_ID, CTRL_ATTR_OP_FLAGS = 1, 2
CTRL_ATTR_MCAST_GRP_NAME, CTRL_ATTR_MCAST_GRP_ID = 1, 2
ENOENT, EEXIST, EINVAL, EOPNOTSUPP, EPERM, ENOMEM, ERANGE, ENOSPC = 2, 17, 22, 95, 1, 12, 34, 28

FAM = {name: offset("genl_family", name) for name in (
    "id", "hdrsize", "name", "version", "maxattr", "mcgrp_offset", "n_ops", "n_small_ops", "n_mcgrps",
    "resv_start_op", "policy", "pre_doit", "post_doit", "ops", "small_ops", "mcgrps", "module")}
NETNSOK, PARALLEL_OPS = bit_field("genl_family", "netnsok"), bit_field("genl_family", "parallel_ops")
OPS = {name: offset("genl_ops", name) for name in (
    "doit", "start", "dumpit", "done", "policy", "maxattr", "cmd", "internal_flags", "flags", "validate")}
OPS_SIZE = size("genl_ops")
SMALL = {name: offset("genl_small_ops", name) for name in ("doit", "dumpit", "cmd", "internal_flags", "flags",
                                                             "validate")}
SMALL_SIZE = size("genl_small_ops")
MCGRP_SIZE = size("genl_multicast_group")
MCGRP_FLAGS = offset("genl_multicast_group", "flags")
INFO = {name: offset("genl_info", name) for name in (
    "snd_seq", "snd_portid", "nlhdr", "genlhdr", "userhdr", "attrs", "_net", "extack")}
INFO_SIZE = size("genl_info")
DUMPIT_INFO_SIZE = size("genl_dumpit_info")
DUMPIT = {name: offset("genl_dumpit_info", name) for name in ("family", "op", "attrs")}
NET_GENL_SOCK = offset("net", "genl_sock")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a family, as genl_op_from_full/small make it (policy, maxattr defaulted)."""

    cmd: int
    doit: int
    start: int
    dumpit: int
    done: int
    policy: int
    maxattr: int
    internal_flags: int
    flags: int
    validate: int

    def pack(self) -> bytes:
        """As a guest ``struct genl_ops``."""
        out = bytearray(OPS_SIZE)
        for name in ("doit", "start", "dumpit", "done", "policy", "maxattr"):
            struct.pack_into("<I", out, OPS[name], getattr(self, name))
        for name in ("cmd", "internal_flags", "flags", "validate"):
            out[OPS[name]] = getattr(self, name) & 0xFF
        return bytes(out)


@dataclass
class Family:
    """A registered family: what nlctrl reports and what dispatch needs."""

    id: int
    name: str
    address: int  # the module's struct genl_family; 0 for nlctrl (Python)
    version: int
    hdrsize: int
    maxattr: int
    policy: int
    netnsok: bool
    parallel_ops: bool
    pre_doit: int
    post_doit: int
    resv_start_op: int
    ops: list[Op]
    groups: list[tuple[str, int]]  # multicast groups: name, flags
    mcgrp_offset: int
    owner: str


class Genl:
    """The family registry (genl_fam_idr), the multicast group bitmap, genl_lock's holder count."""

    def __init__(self) -> None:
        self.families: dict[int, Family] = {}
        self.last_id = GENL_START_ALLOC - 1  # idr_alloc_cyclic's cursor
        self.mc_groups = MC_GROUP_START
        self.mc_bits = 32  # mc_groups_longs * BITS_PER_LONG
        self.sock = 0
        self.locked = 0

    def clone(self) -> Genl:
        """A copy for snapshots."""
        twin = Genl()
        twin.families = {i: replace(f, ops=list(f.ops), groups=list(f.groups)) for i, f in self.families.items()}
        twin.last_id, twin.mc_groups, twin.mc_bits = self.last_id, self.mc_groups, self.mc_bits
        twin.sock, twin.locked = self.sock, self.locked
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Families the module left registered: reported and unregistered."""
        leaks = []
        for family in list(self.families.values()):
            if family.owner == module.name:
                leaks.append(f"generic netlink family {family.name!r} still registered")
                _unregister(k, self, family)
        return leaks

    def by_name(self, name: str) -> Family | None:
        return next((f for f in self.families.values() if f.name == name), None)


def genl(k: Kernel) -> Genl:
    """This kernel's generic netlink registry (the netlink core boots it with NETLINK_GENERIC)."""
    core.state(k)
    return k.subsystem(Genl)


def boot(k: Kernel, nl: core.Netlink) -> None:
    """genl_init: the NETLINK_GENERIC kernel socket (``init_net.genl_sock``) and the nlctrl family."""
    g = k.subsystem(Genl)
    g.sock = core.create_kernel_socket(k, nl, core.NETLINK_GENERIC, g.mc_bits, builtin="genl", owner="kernel")
    k.memory.write_u32(core.init_net(k) + NET_GENL_SOCK, g.sock)
    # nlctrl's operations are Python: their non-zero "addresses" only say which callbacks exist (for
    # GENL_CMD_CAP_DO/DUMP/HASPOL), as genl_ctrl_ops has them.
    nlctrl = Family(GENL_ID_CTRL, "nlctrl", 0, 2, 0, 0, 0, True, False, 0, 0, CTRL_CMD_GETPOLICY + 1,
                    [Op(CTRL_CMD_GETFAMILY, 1, 0, 1, 0, 1, 2, 0, 0, GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP),
                     Op(CTRL_CMD_GETPOLICY, 0, 1, 1, 1, 1, 10, 0, 0, 0)],
                    [("notify", 0)], GENL_ID_CTRL, "kernel")
    g.families[GENL_ID_CTRL] = nlctrl


# -- registration ---------------------------------------------------------------------------------

def _read_ops(k: Kernel, fam: int, maxattr: int, policy: int) -> list[Op] | None:
    """The family's operations, full ones first (genl_get_cmd_by_index order); None if a table is missing."""
    mem = k.memory
    n_ops, n_small = mem.read(fam + FAM["n_ops"], 1)[0], mem.read(fam + FAM["n_small_ops"], 1)[0]
    ops_at, small_at = mem.read_u32(fam + FAM["ops"]), mem.read_u32(fam + FAM["small_ops"])
    if (n_ops and not ops_at) or (n_small and not small_at):
        return None
    out = []
    for i in range(n_ops):
        raw = mem.read(ops_at + i * OPS_SIZE, OPS_SIZE)

        def word(name: str, raw: bytes = raw) -> int:
            return struct.unpack_from("<I", raw, OPS[name])[0]

        out.append(Op(raw[OPS["cmd"]], word("doit"), word("start"), word("dumpit"), word("done"),
                      word("policy") or policy, word("maxattr") or maxattr, raw[OPS["internal_flags"]],
                      raw[OPS["flags"]], raw[OPS["validate"]]))
    for i in range(n_small):
        raw = mem.read(small_at + i * SMALL_SIZE, SMALL_SIZE)
        out.append(Op(raw[SMALL["cmd"]], struct.unpack_from("<I", raw, SMALL["doit"])[0], 0,
                      struct.unpack_from("<I", raw, SMALL["dumpit"])[0], 0, policy, maxattr,
                      raw[SMALL["internal_flags"]], raw[SMALL["flags"]], raw[SMALL["validate"]]))
    return out


def _allocate_id(g: Genl, name: str) -> int:
    """idr_alloc_cyclic over [start, end]: the next free id after the last one given, wrapping."""
    if name == "pmcraid":
        return GENL_ID_PMCRAID if GENL_ID_PMCRAID not in g.families else -ENOSPC
    if name == "VFS_DQUOT":
        return GENL_ID_VFS_DQUOT if GENL_ID_VFS_DQUOT not in g.families else -ENOSPC
    span = GENL_MAX_ID - GENL_START_ALLOC + 1
    for step in range(1, span + 1):
        candidate = GENL_START_ALLOC + (g.last_id + step - GENL_START_ALLOC) % span
        if candidate not in g.families:
            g.last_id = candidate
            return candidate
    return -ENOSPC


def _reserve_groups(g: Genl, count: int) -> int:
    """genl_allocate_reserve_groups: the first run of ``count`` free bits (the bitmap grows as needed)."""
    start = 0
    while True:
        while g.mc_groups >> start & 1:
            start += 1
        if all(not g.mc_groups >> i & 1 for i in range(start, start + count)):
            break
        start += 1
    for i in range(start, start + count):
        g.mc_groups |= 1 << i
    while start + count > g.mc_bits:
        g.mc_bits += 32
    return start


@service("int genl_register_family(struct genl_family *family)")
def genl_register_family(k: Kernel, fam: int) -> int:
    """Register a generic netlink family: its id and group offset are written back; 0 or -errno."""
    g = genl(k)
    mem = k.memory
    name = mem.read(fam + FAM["name"], GENL_NAMSIZ).split(b"\0", 1)[0].decode("utf-8", "replace")
    maxattr, policy = mem.read_u32(fam + FAM["maxattr"]), mem.read_u32(fam + FAM["policy"])
    resv = mem.read(fam + FAM["resv_start_op"], 1)[0]
    ops = _read_ops(k, fam, maxattr, policy)
    if ops is None:
        k.warn(f"genl_register_family {name!r} at {k.symbolizer.short(k.current_caller)}: ops count without a table")
        return -EINVAL
    cmds = [op.cmd for op in ops]
    for op in ops:
        if not op.doit and not op.dumpit:
            return -EINVAL
        if op.cmd >= resv and op.validate:
            k.warn(f"genl family {name!r}: command {op.cmd} >= resv_start_op {resv} relaxes validation")
            return -EINVAL
    if len(set(cmds)) != len(cmds):
        return -EINVAL
    if g.by_name(name) is not None:
        return -EEXIST
    n_groups, groups_at = mem.read(fam + FAM["n_mcgrps"], 1)[0], mem.read_u32(fam + FAM["mcgrps"])
    groups = []
    for i in range(n_groups):
        raw = mem.read(groups_at + i * MCGRP_SIZE, MCGRP_SIZE)
        group_name = raw[:GENL_NAMSIZ]
        if not group_name[:1].strip(b"\0") or b"\0" not in group_name:
            k.warn(f"genl family {name!r}: multicast group {i} has an empty or unterminated name")
            return -EINVAL
        groups.append((group_name.split(b"\0", 1)[0].decode("utf-8", "replace"), raw[MCGRP_FLAGS]))
    ident = _allocate_id(g, name)
    if ident < 0:
        return ident
    first = 0
    if groups:
        if name == "NET_DM":
            first = 1
        elif ident in (GENL_ID_VFS_DQUOT, GENL_ID_PMCRAID):
            first = ident
        else:
            first = _reserve_groups(g, len(groups))
    assert NETNSOK is not None and PARALLEL_OPS is not None
    unit = mem.read_u32(fam + NETNSOK[0])
    family = Family(ident, name, fam, mem.read_u32(fam + FAM["version"]), mem.read_u32(fam + FAM["hdrsize"]), maxattr,
                    policy, bool(unit >> NETNSOK[2] & 1), bool(unit >> PARALLEL_OPS[2] & 1), mem.read_u32(fam + FAM["pre_doit"]),
                    mem.read_u32(fam + FAM["post_doit"]), resv, ops, groups, first, core._owner(k))
    g.families[ident] = family
    mem.write_u32(fam + FAM["id"], ident)
    mem.write_u32(fam + FAM["mcgrp_offset"], first)
    ks = core.state(k).kernel_sockets.get(core.NETLINK_GENERIC)
    if ks is not None:
        ks.groups = g.mc_bits  # netlink_change_ngroups
    k.trace.add("note", "genl family", caller=k.current_caller,
                fields={"name": name, "id": ident, "mcgrp_offset": first, "ops": len(ops)})
    _ctrl_event(k, g, CTRL_CMD_NEWFAMILY, family)
    for i in range(len(groups)):
        _ctrl_event(k, g, CTRL_CMD_NEWMCAST_GRP, family, i)
    return 0


def _unregister(k: Kernel, g: Genl, family: Family) -> None:
    for i in range(len(family.groups)):
        group = family.mcgrp_offset + i
        for user in core.state(k).listeners(core.NETLINK_GENERIC, group):
            user.groups.discard(group)  # netlink_clear_multicast_users
        if group not in (1, GENL_ID_CTRL, GENL_ID_VFS_DQUOT, GENL_ID_PMCRAID):
            g.mc_groups &= ~(1 << group)
    del g.families[family.id]
    _ctrl_event(k, g, CTRL_CMD_DELFAMILY, family)


@service("int genl_unregister_family(const struct genl_family *family)")
def genl_unregister_family(k: Kernel, fam: int) -> int:
    """Unregister a family: its groups' members are dropped; 0, or -ENOENT if it was not registered."""
    g = genl(k)
    family = g.families.get(k.memory.read_u32(fam + FAM["id"]))
    if family is None or family.address != fam:
        return -ENOENT
    _unregister(k, g, family)
    return 0


# -- messages -------------------------------------------------------------------------------------

def _family_at(k: Kernel, fam: int, what: str) -> Family:
    family = genl(k).families.get(k.memory.read_u32(fam + FAM["id"]))
    if family is None or family.address != fam:
        raise GuestFault("genl-family", f"{what} at {k.symbolizer.short(k.current_caller)}: family {fam:#x} is not "
                         "registered", pc=k.current_caller, address=fam)
    return family


@service("void *genlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, const struct genl_family *family, int flags, "
         "u8 cmd)")
def genlmsg_put(k: Kernel, skb: int, portid: int, seq: int, fam: int, flags: int, cmd: int) -> int:
    """Start a generic netlink message: where the family header goes, or NULL if the skb has no room."""
    s = live_skb(k, skb, "genlmsg_put")
    mem = k.memory
    family_id, hdrsize = mem.read_u32(fam + FAM["id"]), mem.read_u32(fam + FAM["hdrsize"])
    payload = wire.GENL_HDRLEN + hdrsize
    if s.tailroom < wire.align(wire.NLMSG_HDRLEN + payload):
        return 0
    nlh = core.put_header(k, skb, portid, seq, family_id, payload, flags)
    mem.write(nlh + wire.NLMSG_HDRLEN, struct.pack("<BBH", cmd & 0xFF, mem.read_u32(fam + FAM["version"]) & 0xFF, 0))
    return nlh + wire.NLMSG_HDRLEN + wire.GENL_HDRLEN


def _multicast(k: Kernel, skb: int, portid: int, group: int) -> int:
    """genlmsg_mcast over the one namespace: nlmsg_multicast from genl_sock; 0 or -ESRCH / -errno."""
    k.memory.write_u32(skb + core.CB_DST_GROUP, group)
    err = core.broadcast(k, genl(k).sock, skb, portid, group)
    return 0 if err > 0 else err


@service("int genlmsg_multicast_allns(const struct genl_family *family, struct sk_buff *skb, u32 portid, "
         "unsigned int group, gfp_t flags)")
def genlmsg_multicast_allns(k: Kernel, fam: int, skb: int, portid: int, group: int, flags: int) -> int:
    """Multicast to the family's group ``group`` (an index into its groups): 0, -ESRCH if nobody, -EINVAL."""
    family = _family_at(k, fam, "genlmsg_multicast_allns")
    if group >= len(family.groups):
        k.warn(f"genlmsg_multicast_allns: group {group} of family {family.name!r}, which has {len(family.groups)}")
        core.free_skb(k, skb, core.SKB_DROP_REASON_NOT_SPECIFIED)
        return -EINVAL
    return _multicast(k, skb, portid, family.mcgrp_offset + group)


@service("void genl_notify(const struct genl_family *family, struct sk_buff *skb, struct genl_info *info, u32 group, "
         "gfp_t flags)")
def genl_notify(k: Kernel, fam: int, skb: int, info: int, group: int, flags: int) -> None:
    """Notify the family's group ``group``, echoing to the requester if it asked (NLM_F_ECHO)."""
    family = _family_at(k, fam, "genl_notify")
    if group >= len(family.groups):
        k.warn(f"genl_notify: group {group} of family {family.name!r}, which has {len(family.groups)}")
        return
    mem = k.memory
    nlh = mem.read_u32(info + INFO["nlhdr"])
    report = bool(nlh and struct.unpack("<H", mem.read(nlh + 6, 2))[0] & wire.NLM_F_ECHO)
    core.nlmsg_notify(k, genl(k).sock, skb, mem.read_u32(info + INFO["snd_portid"]), family.mcgrp_offset + group,
                      int(report), flags)


@service("void genl_lock(void)")
def genl_lock(k: Kernel) -> None:
    """Take genl_mutex (one task: never contended)."""
    genl(k).locked += 1


@service("void genl_unlock(void)")
def genl_unlock(k: Kernel) -> None:
    """Release genl_mutex."""
    g = genl(k)
    if not g.locked:
        k.warn(f"genl_unlock at {k.symbolizer.short(k.current_caller)} without genl_lock")
        return
    g.locked -= 1


# -- dispatch -------------------------------------------------------------------------------------

def _read_request(k: Kernel, nlh: int) -> tuple[int, int, int, int, int]:
    return struct.unpack("<IHHII", k.memory.read(nlh, wire.NLMSG_HDRLEN))


def _parse_attrs(k: Kernel, family: Family, op: Op, nlh: int, hdrlen: int, extack: int, no_strict: int) -> int:
    """genl_family_rcv_msg_attrs_parse: a kmalloc'd table of ``maxattr + 1`` (0 when the op has no attributes)."""
    if not op.maxattr:
        return 0
    validate = NL_VALIDATE_LIBERAL if op.validate & no_strict else NL_VALIDATE_STRICT
    table = allocate(k, 4 * (op.maxattr + 1), owner="kernel")
    if not table:
        return -ENOMEM
    length = _read_request(k, nlh)[0]
    start = wire.NLMSG_HDRLEN + wire.align(hdrlen)
    err = validate_parse(k, nlh + start, length - start, op.maxattr, op.policy, validate, extack, table)
    if err:
        release(k, table)
        return err
    return table


def _rcv_msg(k: Kernel, skb: int, nlh: int, extack: int) -> int:
    """genl_rcv_msg + genl_family_rcv_msg: one request to its family's operation."""
    g = genl(k)
    length, family_id, flags, seq, _ = _read_request(k, nlh)
    family = g.families.get(family_id)
    if family is None:
        return -ENOENT
    hdrlen = wire.GENL_HDRLEN + family.hdrsize
    if length < wire.NLMSG_HDRLEN + hdrlen:
        return -EINVAL
    cmd, _, reserved = struct.unpack("<BBH", k.memory.read(nlh + wire.NLMSG_HDRLEN, 4))
    if cmd >= family.resv_start_op and reserved:
        return -EINVAL
    op = next((o for o in family.ops if o.cmd == cmd), None)
    if op is None:
        return -EOPNOTSUPP
    if op.flags & (GENL_ADMIN_PERM | GENL_UNS_ADMIN_PERM) and not core._sender_capable(k, skb, CAP_NET_ADMIN):
        return -EPERM
    if not family.address:
        return _ctrl(k, skb, nlh, op, flags)
    if flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP:
        return _dumpit(k, family, op, skb, nlh, hdrlen, extack)
    return _doit(k, family, op, skb, nlh, hdrlen, extack, seq)


def _doit(k: Kernel, family: Family, op: Op, skb: int, nlh: int, hdrlen: int, extack: int, seq: int) -> int:
    if not op.doit:
        return -EOPNOTSUPP
    attrs = _parse_attrs(k, family, op, nlh, hdrlen, extack, GENL_DONT_VALIDATE_STRICT)
    if attrs < 0:
        return attrs
    mem = k.memory
    info = allocate(k, INFO_SIZE + OPS_SIZE, owner="kernel")
    ops = info + INFO_SIZE
    mem.write(ops, op.pack())
    for name, value in (("snd_seq", seq), ("snd_portid", mem.read_u32(skb + core.CB_PORTID)), ("nlhdr", nlh),
                        ("genlhdr", nlh + wire.NLMSG_HDRLEN), ("userhdr", nlh + wire.NLMSG_HDRLEN + wire.GENL_HDRLEN),
                        ("attrs", attrs), ("_net", core.init_net(k)), ("extack", extack)):
        mem.write_u32(info + INFO[name], value)
    try:
        if family.pre_doit:
            err = core._signed(k.call_function_pointer(family.pre_doit, ops, skb, info))
            if err:
                return err
        err = core._signed(k.call_function_pointer(op.doit, skb, info))
        if family.post_doit:
            k.call_function_pointer(family.post_doit, ops, skb, info)
        return err
    finally:
        if attrs:
            release(k, attrs)
        release(k, info)


def _dumpit(k: Kernel, family: Family, op: Op, skb: int, nlh: int, hdrlen: int, extack: int) -> int:
    if not op.dumpit:
        return -EOPNOTSUPP

    def genl_start(cb: int) -> int:
        attrs = 0
        if not op.validate & GENL_DONT_VALIDATE_DUMP:
            if _read_request(k, nlh)[0] < wire.NLMSG_HDRLEN + hdrlen:
                return -EINVAL
            attrs = _parse_attrs(k, family, op, nlh, hdrlen, extack, GENL_DONT_VALIDATE_DUMP_STRICT)
            if attrs < 0:
                return attrs
        info = allocate(k, DUMPIT_INFO_SIZE, owner="kernel")
        k.memory.write_u32(info + DUMPIT["family"], family.address)
        k.memory.write(info + DUMPIT["op"], op.pack())
        k.memory.write_u32(info + DUMPIT["attrs"], attrs)
        k.memory.write_u32(cb + core.NCB["data"], info)
        rc = core._signed(k.call_function_pointer(op.start, cb)) if op.start else 0
        if rc:
            _free_dumpit_info(k, cb)
        return rc

    return core.start_dump(k, genl(k).sock, skb, nlh, 0, op.dumpit, op.done, 0, 0, 0, after="genl",
                           python_start=genl_start)


def _free_dumpit_info(k: Kernel, cb: int) -> None:
    """genl_done's cleanup: the attribute table and the genl_dumpit_info."""
    info = k.memory.read_u32(cb + core.NCB["data"])
    if not info:
        return
    attrs = k.memory.read_u32(info + DUMPIT["attrs"])
    if attrs:
        release(k, attrs)
    release(k, info)
    k.memory.write_u32(cb + core.NCB["data"], 0)


def _rcv(k: Kernel, skb: int) -> None:
    """genl_rcv: every request of the skb through genl_rcv_msg."""
    core.rcv_skb(k, skb, lambda s, nlh, extack: _rcv_msg(k, s, nlh, extack))


def _bind(k: Kernel, group: int, privileged: bool) -> int:
    """genl_bind: joining a family's group needs CAP_NET_ADMIN only for GENL_UNS_ADMIN_PERM groups (-EPERM)."""
    for family in genl(k).families.values():
        index = group - family.mcgrp_offset
        if 0 <= index < len(family.groups):
            return -EPERM if family.groups[index][1] & GENL_UNS_ADMIN_PERM and not privileged else 0
    return 0


core.BUILTIN_INPUTS["genl"] = _rcv
core.BUILTIN_BINDS["genl"] = _bind
core.AFTER_DUMP["genl"] = _free_dumpit_info


# -- nlctrl ---------------------------------------------------------------------------------------

def family_message(family: Family, cmd: int, portid: int = 0, seq: int = 0, flags: int = 0) -> bytes:
    """ctrl_fill_info: one nlctrl message describing ``family``."""
    attrs = [wire.nla_string(CTRL_ATTR_FAMILY_NAME, family.name), wire.nla_u16(CTRL_ATTR_FAMILY_ID, family.id),
             wire.nla_u32(CTRL_ATTR_VERSION, family.version), wire.nla_u32(CTRL_ATTR_HDRSIZE, family.hdrsize),
             wire.nla_u32(CTRL_ATTR_MAXATTR, family.maxattr)]
    if family.ops:
        entries = []
        for i, op in enumerate(family.ops):
            op_flags = op.flags | (GENL_CMD_CAP_DUMP if op.dumpit else 0) | (GENL_CMD_CAP_DO if op.doit else 0) \
                | (GENL_CMD_CAP_HASPOL if op.policy else 0)
            entries.append(wire.nla(i + 1, [wire.nla_u32(CTRL_ATTR_OP_ID, op.cmd),
                                             wire.nla_u32(CTRL_ATTR_OP_FLAGS, op_flags)]))
        attrs.append(wire.nla(CTRL_ATTR_OPS, entries))
    if family.groups:
        attrs.append(wire.nla(CTRL_ATTR_MCAST_GROUPS, [
            wire.nla(i + 1, [wire.nla_u32(CTRL_ATTR_MCAST_GRP_ID, family.mcgrp_offset + i),
                             wire.nla_string(CTRL_ATTR_MCAST_GRP_NAME, name)])
            for i, (name, _) in enumerate(family.groups)]))
    return _ctrl_message(cmd, attrs, portid, seq, flags)


def _ctrl_message(cmd: int, attrs: list[bytes], portid: int, seq: int, flags: int) -> bytes:
    return wire.nlmsg(GENL_ID_CTRL, struct.pack("<BBH", cmd, 2, 0) + b"".join(attrs), flags, seq, portid)


def _group_message(family: Family, cmd: int, index: int) -> bytes:
    """ctrl_fill_mcgrp_info: a NEWMCAST_GRP / DELMCAST_GRP event."""
    name, _ = family.groups[index]
    return _ctrl_message(cmd, [wire.nla_string(CTRL_ATTR_FAMILY_NAME, family.name),
                               wire.nla_u16(CTRL_ATTR_FAMILY_ID, family.id),
                               wire.nla(CTRL_ATTR_MCAST_GROUPS, [wire.nla(1, [
                                   wire.nla_u32(CTRL_ATTR_MCAST_GRP_ID, family.mcgrp_offset + index),
                                   wire.nla_string(CTRL_ATTR_MCAST_GRP_NAME, name)])])], 0, 0, 0)


def _ctrl_event(k: Kernel, g: Genl, cmd: int, family: Family, group: int = 0) -> None:
    """genl_ctrl_event: to nlctrl's "notify" group, when anyone listens."""
    if not g.sock or not core.state(k).listeners(core.NETLINK_GENERIC, GENL_ID_CTRL):
        return
    data = _group_message(family, cmd, group) if cmd in (CTRL_CMD_NEWMCAST_GRP, CTRL_CMD_DELMCAST_GRP) \
        else family_message(family, cmd)
    core.broadcast_bytes(k, g.sock, GENL_ID_CTRL, data)


def _ctrl(k: Kernel, skb: int, nlh: int, op: Op, flags: int) -> int:
    """nlctrl's operations: CTRL_CMD_GETFAMILY (doit and dump); GETPOLICY is not modelled."""
    g = genl(k)
    length, _, _, seq, _ = _read_request(k, nlh)
    portid = k.memory.read_u32(skb + core.CB_PORTID)
    if op.cmd != CTRL_CMD_GETFAMILY:
        return -EOPNOTSUPP
    if flags & wire.NLM_F_DUMP == wire.NLM_F_DUMP:
        return _ctrl_dump(k, g, portid, seq)
    body = k.memory.read(nlh + wire.NLMSG_HDRLEN + wire.GENL_HDRLEN, max(length - wire.NLMSG_HDRLEN - wire.GENL_HDRLEN,
                                                                        0))
    found: Family | None = None
    err = -EINVAL
    table = wire.parse_attrs(body).by_type()
    name_attr, id_attr = table.get(CTRL_ATTR_FAMILY_NAME), table.get(CTRL_ATTR_FAMILY_ID)
    if name_attr is not None:  # NLA_NUL_STRING of at most GENL_NAMSIZ - 1 characters (validate_nla)
        raw = name_attr.data
        if not raw or b"\0" not in raw[:GENL_NAMSIZ]:
            return -EINVAL
        if len(raw[:-1] if raw.endswith(b"\0") else raw) > GENL_NAMSIZ - 1:
            return -ERANGE
    if id_attr is not None:
        found = g.families.get(id_attr.u16)
        err = -ENOENT
    if name_attr is not None:
        found = g.by_name(name_attr.string)
        err = -ENOENT
    if found is None:
        return err
    return min(core.send_bytes(k, g.sock, portid, family_message(found, CTRL_CMD_NEWFAMILY, portid, seq)), 0)


def _ctrl_dump(k: Kernel, g: Genl, portid: int, seq: int) -> int:
    """ctrl_dumpfamily: every family, NLM_F_MULTI, skbs of NLMSG_GOODSIZE, then NLMSG_DONE; -EINTR (no ACK)."""
    chunks: list[bytes] = []
    current = b""
    for family in sorted(g.families.values(), key=lambda f: f.id):
        message = family_message(family, CTRL_CMD_NEWFAMILY, portid, seq, wire.NLM_F_MULTI)
        if current and len(current) + len(message) > core.NLMSG_GOODSIZE:
            chunks.append(current)
            current = b""
        current += message
    done = wire.nlmsg(wire.NLMSG_DONE, struct.pack("<i", 0), wire.NLM_F_MULTI, seq, portid)
    if len(current) + len(done) > core.NLMSG_GOODSIZE:
        chunks.append(current)
        current = b""
    chunks.append(current + done)
    for chunk in chunks:
        core.send_bytes(k, g.sock, portid, chunk)
    return -core.EINTR


@dataclass
class FamilyInfo:
    """What nlctrl answered about a family: its id, version, header size, maxattr, ops and groups."""

    name: str
    id: int
    version: int
    hdrsize: int
    maxattr: int
    ops: dict[int, int] = field(default_factory=dict)  # cmd -> flags (GENL_CMD_CAP_*)
    groups: dict[str, int] = field(default_factory=dict)  # name -> multicast group id


def parse_family(message: wire.Message) -> FamilyInfo:
    """A CTRL_CMD_NEWFAMILY message, decoded."""
    attrs = message.attrs(wire.GENL_HDRLEN).by_type()
    info = FamilyInfo(attrs[CTRL_ATTR_FAMILY_NAME].string, attrs[CTRL_ATTR_FAMILY_ID].u16,
                      attrs[CTRL_ATTR_VERSION].u32, attrs[CTRL_ATTR_HDRSIZE].u32, attrs[CTRL_ATTR_MAXATTR].u32)
    if CTRL_ATTR_OPS in attrs:
        for entry in attrs[CTRL_ATTR_OPS].attrs():
            fields = entry.attrs().by_type()
            info.ops[fields[CTRL_ATTR_OP_ID].u32] = fields[CTRL_ATTR_OP_FLAGS].u32
    if CTRL_ATTR_MCAST_GROUPS in attrs:
        for entry in attrs[CTRL_ATTR_MCAST_GROUPS].attrs():
            fields = entry.attrs().by_type()
            info.groups[fields[CTRL_ATTR_MCAST_GRP_NAME].string] = fields[CTRL_ATTR_MCAST_GRP_ID].u32
    return info


def resolve(sock: core.NetlinkSocket, name: str, seq: int = 1) -> FamilyInfo:
    """CTRL_CMD_GETFAMILY by name over ``sock`` (a NETLINK_GENERIC socket), as libnl's genl_ctrl_resolve does."""
    answer = sock.request(wire.genlmsg(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, [wire.nla_string(CTRL_ATTR_FAMILY_NAME,
                                                                                           name)], seq=seq))
    for message in answer:
        if message.type == wire.NLMSG_ERROR:
            raise core.NetlinkError(f"nlctrl: no generic netlink family {name!r} (error {message.error})",
                                    -(message.error or 0))
        if message.type == GENL_ID_CTRL:
            return parse_family(message)
    raise core.NetlinkError(f"nlctrl sent no answer about {name!r}", 0)
