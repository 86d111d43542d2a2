"""Netfilter extension registries: x_tables matches/targets and nf_tables expressions.

x_tables.ko and nf_tables.ko export these themselves; the services stand in
for them until they are loaded. Linux only links the structs into per-family
lists here, so registration never fails apart from nf_tables' attribute
count check.

Layouts (6.1 i386; no CONFIG_NETFILTER_XTABLES_COMPAT on i386), checked
against xt_conntrack.ko and nft_limit.ko:

- ``struct xt_match`` / ``struct xt_target`` (76 bytes): list 0, name[29] 8,
  revision 37, match/target 40, checkentry 44, destroy 48, me 52, table 56,
  matchsize/targetsize 60, usersize 64, hooks 68, proto 72, family 74.
- ``struct nft_expr_type`` (40): select_ops 0, release_ops 4, ops 8,
  list 12, name 20, owner 24, policy 28, maxattr 32, family 36, flags 37.
- ``struct nft_object_type`` (36): select_ops 0, ops 4, list 8, type 16,
  maxattr 20, family 24, owner 28, policy 32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import EINVAL, ENOMEM, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

XT_SIZE = 76
XT_NAME, XT_REVISION, XT_FN, XT_CHECKENTRY, XT_DESTROY, XT_TABLE, XT_SIZE_FIELD, XT_HOOKS, XT_PROTO, XT_FAMILY = (
    8, 37, 40, 44, 48, 56, 60, 68, 72, 74)
NFT_EXPR_NAME, NFT_EXPR_MAXATTR, NFT_EXPR_FAMILY = 20, 32, 36
NFT_OBJ_TYPE, NFT_OBJ_MAXATTR, NFT_OBJ_FAMILY = 16, 20, 24
NFT_EXPR_MAXATTR = 16
NFT_OBJECT_UNSPEC = 0


class XTables(Registry):
    """Registered xt_match / xt_target structs."""


class NfTables(Registry):
    """Registered nft_expr_type / nft_object_type structs."""


def _xt_register(k: Kernel, kind: str, address: int) -> int:
    mem = k.memory
    raw = mem.read(address + XT_NAME, 29)
    name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    k.subsystem(XTables).add(
        k, kind, address, name, revision=mem.read(address + XT_REVISION, 1)[0],
        function=mem.read_u32(address + XT_FN), checkentry=mem.read_u32(address + XT_CHECKENTRY),
        destroy=mem.read_u32(address + XT_DESTROY), size=mem.read_u32(address + XT_SIZE_FIELD),
        hooks=mem.read_u32(address + XT_HOOKS), family=int.from_bytes(mem.read(address + XT_FAMILY, 2), "little"),
        proto=int.from_bytes(mem.read(address + XT_PROTO, 2), "little"), table=mem.read_u32(address + XT_TABLE))
    return 0


def _xt_register_array(k: Kernel, kind: str, first: int, n: int) -> int:
    """xt_register_{matches,targets}: all or nothing."""
    for i, address in enumerate(k.memory.array(first, n, XT_SIZE, f"xt {kind} array")):
        result = _xt_register(k, kind, address)
        if result:
            _xt_unregister_array(k, kind, first, i)
            return result
    return 0


def _xt_unregister_array(k: Kernel, kind: str, first: int, n: int) -> None:
    for address in reversed(k.memory.array(first, n, XT_SIZE, f"xt {kind} array")):
        k.subsystem(XTables).remove(k, address, kind)



@service("int xt_register_match(struct xt_match *match)", provided_by="x_tables")
def xt_register_match(k: Kernel, match: int) -> int:
    """Add a match extension to its family's list."""
    return _xt_register(k, "xt_match", match)


@service("void xt_unregister_match(struct xt_match *match)", provided_by="x_tables")
def xt_unregister_match(k: Kernel, match: int) -> None:
    """Remove a match extension."""
    k.subsystem(XTables).remove(k, match, "xt_match")


@service("int xt_register_matches(struct xt_match *match, unsigned int n)", provided_by="x_tables")
def xt_register_matches(k: Kernel, match: int, n: int) -> int:
    """Register an array of ``n`` matches."""
    return _xt_register_array(k, "xt_match", match, n)


@service("void xt_unregister_matches(struct xt_match *match, unsigned int n)", provided_by="x_tables")
def xt_unregister_matches(k: Kernel, match: int, n: int) -> None:
    """Unregister an array of matches."""
    _xt_unregister_array(k, "xt_match", match, n)


@service("int xt_register_target(struct xt_target *target)", provided_by="x_tables")
def xt_register_target(k: Kernel, target: int) -> int:
    """Add a target extension to its family's list."""
    return _xt_register(k, "xt_target", target)


@service("void xt_unregister_target(struct xt_target *target)", provided_by="x_tables")
def xt_unregister_target(k: Kernel, target: int) -> None:
    """Remove a target extension."""
    k.subsystem(XTables).remove(k, target, "xt_target")


@service("int xt_register_targets(struct xt_target *target, unsigned int n)", provided_by="x_tables")
def xt_register_targets(k: Kernel, target: int, n: int) -> int:
    """Register an array of ``n`` targets."""
    return _xt_register_array(k, "xt_target", target, n)


@service("void xt_unregister_targets(struct xt_target *target, unsigned int n)", provided_by="x_tables")
def xt_unregister_targets(k: Kernel, target: int, n: int) -> None:
    """Unregister an array of targets."""
    _xt_unregister_array(k, "xt_target", target, n)


@service("int nft_register_expr(struct nft_expr_type *type)", provided_by="nf_tables")
def nft_register_expr(k: Kernel, expr_type: int) -> int:
    """Add an expression type; -ENOMEM (with a WARN in Linux) above 16 attributes."""
    mem = k.memory
    maxattr = mem.read_u32(expr_type + NFT_EXPR_MAXATTR)
    if maxattr > NFT_EXPR_MAXATTR:
        return -ENOMEM
    k.subsystem(NfTables).add(k, "nft_expr_type", expr_type, guest_string(k, mem.read_u32(expr_type + NFT_EXPR_NAME)),
                              maxattr=maxattr, family=mem.read(expr_type + NFT_EXPR_FAMILY, 1)[0])
    return 0


@service("void nft_unregister_expr(struct nft_expr_type *type)", provided_by="nf_tables")
def nft_unregister_expr(k: Kernel, expr_type: int) -> None:
    """Remove an expression type."""
    k.subsystem(NfTables).remove(k, expr_type, "nft_expr_type")


@service("int nft_register_obj(struct nft_object_type *obj_type)", provided_by="nf_tables")
def nft_register_obj(k: Kernel, obj_type: int) -> int:
    """Add a stateful object type; -EINVAL for NFT_OBJECT_UNSPEC."""
    mem = k.memory
    kind = mem.read_u32(obj_type + NFT_OBJ_TYPE)
    if kind == NFT_OBJECT_UNSPEC:
        return -EINVAL
    k.subsystem(NfTables).add(k, "nft_object_type", obj_type, f"object type {kind}", type=kind,
                              maxattr=mem.read_u32(obj_type + NFT_OBJ_MAXATTR),
                              family=mem.read(obj_type + NFT_OBJ_FAMILY, 1)[0])
    return 0


@service("void nft_unregister_obj(struct nft_object_type *obj_type)", provided_by="nf_tables")
def nft_unregister_obj(k: Kernel, obj_type: int) -> None:
    """Remove a stateful object type."""
    k.subsystem(NfTables).remove(k, obj_type, "nft_object_type")


# ip_tables/ip6_tables/arp_tables: a table module's pernet exit unregisters its table from the
# namespace. Tables are only instantiated on first use from user space (xt_register_template's
# table_init), which never comes here, so there is none to find and nothing to undo.
def _table_exit(name: str, provider: str) -> Callable[..., None]:
    def table_exit(k: Kernel, net: int, table: int) -> None:
        k.trace.add("note", name, caller=k.current_caller,
                    fields={"table": guest_string(k, table, 32), "instantiated": False})

    table_exit.__doc__ = "Unregister a per-namespace table: none was instantiated here."
    return service(f"void {name}(struct net *net, const char *name)", provided_by=provider)(table_exit)


ipt_unregister_table_pre_exit = _table_exit("ipt_unregister_table_pre_exit", "ip_tables")
ipt_unregister_table_exit = _table_exit("ipt_unregister_table_exit", "ip_tables")
ip6t_unregister_table_pre_exit = _table_exit("ip6t_unregister_table_pre_exit", "ip6_tables")
ip6t_unregister_table_exit = _table_exit("ip6t_unregister_table_exit", "ip6_tables")
arpt_unregister_table_pre_exit = _table_exit("arpt_unregister_table_pre_exit", "arp_tables")


# -- socket options (net/netfilter/nf_sockopt.c): ip_tables' IPT_SO_SET_REPLACE and friends ----------
class NfSockopts(Registry):
    """Registered nf_sockopt_ops (newest first, as list_add keeps them)."""


def _sockopt_ranges(k: Kernel, ops: int) -> tuple[int, int, int, int, int]:
    from .layout import Fields

    f = Fields(k.memory, "nf_sockopt_ops", ops)
    return f["pf"], f["set_optmin"], f["set_optmax"], f["get_optmin"], f["get_optmax"]


@service("int nf_register_sockopt(struct nf_sockopt_ops *reg)")
def nf_register_sockopt(k: Kernel, reg: int) -> int:
    """Claim option ranges of a protocol family: -EBUSY if a set or get range overlaps a registered one."""

    def overlap(min1: int, max1: int, min2: int, max2: int) -> bool:
        return max1 > min2 and min1 < max2

    pf, smin, smax, gmin, gmax = _sockopt_ranges(k, reg)
    registry = k.subsystem(NfSockopts)
    for entry in registry.entries.values():
        opf, osmin, osmax, ogmin, ogmax = _sockopt_ranges(k, entry.address)
        if opf == pf and (overlap(osmin, osmax, smin, smax) or overlap(ogmin, ogmax, gmin, gmax)):
            return -16  # -EBUSY
    registry.add(k, "nf sockopt", reg, f"pf {pf} set {smin}-{smax} get {gmin}-{gmax}", pf=pf)
    return 0


@service("void nf_unregister_sockopt(struct nf_sockopt_ops *reg)")
def nf_unregister_sockopt(k: Kernel, reg: int) -> None:
    """Give the option ranges back."""
    k.subsystem(NfSockopts).remove(k, reg, "nf sockopt")
