"""The ethtool helpers drivers put in their ``struct ethtool_ops`` or call, Linux 6.1.

Link modes are bitmaps of ``__ETHTOOL_LINK_MODE_MASK_NBITS`` (93 in 6.1)
bits in unsigned longs; the legacy 32-bit ``SUPPORTED_*``/``ADVERTISED_*``
masks are their first word.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import Fields
from .netdev import carrier_ok

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

LINK_MODE_NBITS = 93
LINK_MODE_WORDS = (LINK_MODE_NBITS + 31) // 32
SOF_TIMESTAMPING_TX_SOFTWARE, SOF_TIMESTAMPING_RX_SOFTWARE, SOF_TIMESTAMPING_SOFTWARE = 1 << 1, 1 << 3, 1 << 4


@service("u32 ethtool_op_get_link(struct net_device *dev)")
def ethtool_op_get_link(k: Kernel, dev: int) -> int:
    """``ethtool eth0``'s "Link detected": 1 if the carrier is on."""
    return int(carrier_ok(k, dev))


@service("int ethtool_op_get_ts_info(struct net_device *dev, struct ethtool_ts_info *info)")
def ethtool_op_get_ts_info(k: Kernel, dev: int, info: int) -> int:
    """Software timestamping only, no PTP clock (phc_index -1)."""
    f = Fields(k.memory, "ethtool_ts_info", info)
    f["so_timestamping"] = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
    f["phc_index"] = 0xFFFFFFFF
    return 0


@service("void ethtool_convert_legacy_u32_to_link_mode(unsigned long *dst, u32 legacy_u32)")
def ethtool_convert_legacy_u32_to_link_mode(k: Kernel, dst: int, legacy_u32: int) -> None:
    """A link-mode bitmap holding the legacy mask in its first 32 bits."""
    k.memory.write(dst, legacy_u32.to_bytes(4, "little") + bytes(4 * (LINK_MODE_WORDS - 1)))


@service("bool ethtool_convert_link_mode_to_legacy_u32(u32 *legacy_u32, const unsigned long *src)")
def ethtool_convert_link_mode_to_legacy_u32(k: Kernel, legacy_u32: int, src: int) -> int:
    """The first 32 bits of a link-mode bitmap; false if higher modes were set (they do not fit)."""
    words = [k.memory.read_u32(src + 4 * i) for i in range(LINK_MODE_WORDS)]
    words[-1] &= (1 << (LINK_MODE_NBITS - 32 * (LINK_MODE_WORDS - 1))) - 1
    k.memory.write_u32(legacy_u32, words[0])
    return int(not any(words[1:]))


# -- the PHY library's hooks into ethtool ------------------------------------------------------------
class EthtoolPhyOps:
    """``ethtool_phy_ops`` (net/ethtool/common.c): the ``struct ethtool_phy_ops`` libphy's init hands over.

    Built-in ethtool reaches PHY statistics and cable tests through it; libphy
    sets it at init and clears it (NULL) at exit. A module unloading while
    the pointer still points into it is reported as a leak, since ethtool
    would call into freed code.
    """

    def __init__(self) -> None:
        self.ops = 0
        self.owner = ""

    def clone(self) -> EthtoolPhyOps:
        """A copy for snapshots."""
        twin = EthtoolPhyOps()
        twin.ops, twin.owner = self.ops, self.owner
        return twin

    def callbacks(self, k: Kernel) -> dict[str, int]:
        """The installed ops' function pointers by member name (empty when none are installed)."""
        if not self.ops:
            return {}
        f = Fields(k.memory, "ethtool_phy_ops", self.ops)
        return {name: f[name] for name in PHY_OPS_MEMBERS}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """The ops left installed by a module that is going away: reported and cleared."""
        if self.ops and self.owner == module.name:
            self.ops, self.owner = 0, ""
            return ["ethtool_phy_ops still set (ethtool_set_ethtool_phy_ops(NULL) not called)"]
        return []


PHY_OPS_MEMBERS = ("get_sset_count", "get_strings", "get_stats", "start_cable_test", "start_cable_test_tdr")


@service("void ethtool_set_ethtool_phy_ops(const struct ethtool_phy_ops *ops)")
def ethtool_set_ethtool_phy_ops(k: Kernel, ops: int) -> None:
    """Install (or with NULL remove) the PHY library's ethtool callbacks, under the RTNL as Linux does."""
    from .net import rtnl_lock, rtnl_unlock

    rtnl_lock(k)
    try:
        state = k.subsystem(EthtoolPhyOps)
        module = k.caller_module()
        state.ops, state.owner = ops, (module.name if module is not None and ops else "")
    finally:
        rtnl_unlock(k)


ETH_SS_PHY_STATS = 4
ETH_GSTRING_LEN = 32
EOPNOTSUPP = 95
MAX_PHY_STATS = 1024  # a count beyond this is a driver bug, not a list to allocate


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def phy_statistics(k: Kernel, dev: int) -> dict[str, int] | int:
    """``ethtool --phy-statistics``: ETHTOOL_GPHYSTATS's names and values, or a -errno.

    As net/ethtool/ioctl.c does it: the driver's own ``get_ethtool_phy_stats``
    if it has one (its count and strings from ``get_sset_count``/``get_strings``
    of ETH_SS_PHY_STATS), else the PHY library's ``ethtool_phy_ops`` on
    ``dev->phydev``; -EOPNOTSUPP when neither applies.
    """
    from .memory import allocate, release

    nd = Fields(k.memory, "net_device", dev)
    ops = Fields(k.memory, "ethtool_ops", nd["ethtool_ops"]) if nd["ethtool_ops"] else None
    phydev, phy_ops = nd["phydev"], k.subsystem(EthtoolPhyOps).callbacks(k)
    own = ops is not None and ops["get_ethtool_phy_stats"]
    if own:
        if not (ops["get_sset_count"] and ops["get_strings"]):
            return -EOPNOTSUPP
        count = _signed(k.call_function_pointer(ops["get_sset_count"], dev, ETH_SS_PHY_STATS))
    elif phydev and phy_ops.get("get_sset_count"):
        count = _signed(k.call_function_pointer(phy_ops["get_sset_count"], phydev))
    else:
        return -EOPNOTSUPP
    if count < 0:
        return count
    count = min(count, MAX_PHY_STATS)
    strings = allocate(k, max(count * ETH_GSTRING_LEN, 1), owner="kernel")
    values = allocate(k, max(count * 8, 1), owner="kernel")
    stats = allocate(k, 8, owner="kernel")  # struct ethtool_stats { u32 cmd; u32 n_stats; } before the data
    try:
        k.memory.write_u32(stats + 4, count)
        if own:
            k.call_function_pointer(ops["get_strings"], dev, ETH_SS_PHY_STATS, strings)
            k.call_function_pointer(ops["get_ethtool_phy_stats"], dev, stats, values)
        else:
            k.call_function_pointer(phy_ops["get_strings"], phydev, strings)
            result = _signed(k.call_function_pointer(phy_ops["get_stats"], phydev, stats, values))
            if result < 0:
                return result
        names = [k.memory.read(strings + i * ETH_GSTRING_LEN, ETH_GSTRING_LEN).split(b"\0", 1)[0].decode("latin-1")
                 for i in range(count)]
        raw = k.memory.read(values, count * 8) if count else b""
        return {name: int.from_bytes(raw[8 * i:8 * i + 8], "little") for i, name in enumerate(names)}
    finally:
        for block in (strings, values, stats):
            release(k, block)
