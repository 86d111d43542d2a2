"""Netfilter socket options (net/netfilter/nf_sockopt.c) as Linux 6.1 registers them.

ip_set, ip_tables, ebtables and ipvs hand over a ``struct nf_sockopt_ops``:
a protocol family and the ranges [optmin, optmax) of the ``setsockopt`` and
``getsockopt`` option numbers they answer. As nf_register_sockopt, a range
overlapping one already registered for the same family is -EBUSY. The
kernel's list is kept here (no module walks it); ``list`` is poisoned at
unregistration as list_del does. :func:`serving` finds the ops an option
number goes to, as nf_sockopt_find does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import offset
from .registrations import EBUSY, Registry

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

FIELDS = {name: offset("nf_sockopt_ops", name) for name in (
    "pf", "set_optmin", "set_optmax", "set", "get_optmin", "get_optmax", "get")}
LIST = offset("nf_sockopt_ops", "list")


@dataclass(frozen=True, slots=True)
class SockoptRange:
    """What one registered nf_sockopt_ops serves."""

    address: int
    pf: int
    set_range: tuple[int, int]
    get_range: tuple[int, int]
    set: int
    get: int


class NfSockopts(Registry):
    """Registered nf_sockopt_ops (nf_sockopts), by address."""

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Ranges the module left registered: reported and dropped."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"netfilter socket options {k.symbolizer.short(address)} still registered")
                del self.entries[address]
        return leaks


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def read_ops(k: Kernel, reg: int) -> SockoptRange:
    """The ranges and callbacks of the nf_sockopt_ops at ``reg``."""
    mem = k.memory
    word = {name: _signed(mem.read_u32(reg + where)) for name, where in FIELDS.items() if name != "pf"}
    return SockoptRange(reg, mem.read(reg + FIELDS["pf"], 1)[0], (word["set_optmin"], word["set_optmax"]),
                        (word["get_optmin"], word["get_optmax"]), word["set"] & 0xFFFFFFFF,
                        word["get"] & 0xFFFFFFFF)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[1] > b[0] and a[0] < b[1]


def registered(k: Kernel) -> list[SockoptRange]:
    """Every registered nf_sockopt_ops, oldest first."""
    return [read_ops(k, address) for address in k.subsystem(NfSockopts).entries]


@service("int nf_register_sockopt(struct nf_sockopt_ops *reg)")
def nf_register_sockopt(k: Kernel, reg: int) -> int:
    """Serve a family's socket option ranges: 0, or -EBUSY if one overlaps a registered range."""
    new = read_ops(k, reg)
    for old in registered(k):
        if old.pf == new.pf and (_overlap(old.set_range, new.set_range) or _overlap(old.get_range, new.get_range)):
            return -EBUSY
    k.subsystem(NfSockopts).add(k, "nf_sockopt", reg, f"pf {new.pf}", pf=new.pf)
    return 0


@service("void nf_unregister_sockopt(struct nf_sockopt_ops *reg)")
def nf_unregister_sockopt(k: Kernel, reg: int) -> None:
    """Stop serving the ranges (list_del)."""
    if k.subsystem(NfSockopts).entries.pop(reg, None) is None:
        k.warn(f"nf_unregister_sockopt of {k.symbolizer.short(reg)}, which was not registered")
        return
    k.memory.write_u32(reg + LIST, 0x100)  # LIST_POISON1/2
    k.memory.write_u32(reg + LIST + 4, 0x122)


def serving(k: Kernel, pf: int, optname: int, get: bool) -> SockoptRange | None:
    """The ops nf_sockopt_find would pick for ``optname`` of family ``pf``."""
    for ops in registered(k):
        lo, hi = ops.get_range if get else ops.set_range
        if ops.pf == pf and lo <= optname < hi:
            return ops
    return None
