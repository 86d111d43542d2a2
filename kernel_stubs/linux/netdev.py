"""Network devices (``struct net_device``) as Linux 6.1 i386 makes, registers and reports them.

``alloc_netdev_mqs`` allocates the 1536-byte ``struct net_device`` with the
driver's private area right after it (``netdev_priv()`` is inline: dev +
1536, NETDEV_ALIGN 32), the transmit queues (``struct netdev_queue``, 256
bytes each: their ``state`` bit 0 is __QUEUE_STATE_DRV_XOFF, set and tested
by inline ``netif_stop_queue``/``netif_queue_stopped``), the receive queues,
and the device address list: ``dev->dev_addr`` points into a ``struct
netdev_hw_addr`` as in 6.1, so ``eth_hw_addr_set`` goes through
``dev_addr_mod``. Then it runs the driver's setup (``ether_setup`` for
``alloc_etherdev_mqs``).

``register_netdevice`` resolves ``eth%d`` to the first free name, gives an
ifindex (from 2: 1 is loopback), runs ``ndo_init``, marks the device
present and registered and tells the netdevice notifiers (NETDEV_REGISTER);
``unregister_netdevice`` closes it if up and tells them NETDEV_UNREGISTER.
``dev->state`` bits are Linux's (__LINK_STATE_START 0, PRESENT 1,
NOCARRIER 2), since ``netif_running``/``netif_carrier_ok`` are inline.

Opening, transmitting and receiving (the stack's side) are in
:mod:`kernel_stubs.linux.netif`; skbs in :mod:`.skbuff`, NAPI in
:mod:`.napi`, ethtool helpers in :mod:`.ethtool`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service
from sandbox.services.varargs import VarArgs

from .guest_list import list_add, list_add_tail, list_del, list_init
from .layout import Fields, offset, size
from .layouts import LAYOUTS
from .memory import allocate, release
from .printk import _device_prefix, format_guest, log

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NETDEV_SIZE = size("net_device")
NETDEV_ALIGN = 32
TXQ_SIZE, RXQ_SIZE = size("netdev_queue"), size("netdev_rx_queue")
HW_ADDR_SIZE = size("netdev_hw_addr")
MAX_ADDR_LEN = 32
MAX_QUEUES = 0xFFFF
ETH_ALEN, ETH_HLEN, ETH_DATA_LEN, ETH_MIN_MTU = 6, 14, 1500, 68
ARPHRD_ETHER = 1
DEFAULT_TX_QUEUE_LEN = 1000
GSO_LEGACY_MAX_SIZE, GSO_MAX_SEGS = 65536, 65535
NET_NAME_ENUM = 1
NET_ADDR_PERM, NET_ADDR_RANDOM, NET_ADDR_SET = 0, 1, 3

# dev->flags (IFF_*), dev->priv_flags, dev->state bits, dev->reg_state.
IFF_UP, IFF_BROADCAST, IFF_PROMISC, IFF_ALLMULTI, IFF_MULTICAST = 0x1, 0x2, 0x100, 0x200, 0x1000
IFF_TX_SKB_SHARING, IFF_LIVE_ADDR_CHANGE, IFF_XMIT_DST_RELEASE = 0x800, 0x8000, 0x20
IFF_XMIT_DST_RELEASE_PERM, IFF_NO_QUEUE = 0x20000, 0x80000
LINK_STATE_START, LINK_STATE_PRESENT, LINK_STATE_NOCARRIER = 0, 1, 2
QUEUE_STATE_DRV_XOFF, QUEUE_STATE_STACK_XOFF, QUEUE_STATE_FROZEN = 0, 1, 2
NETREG_UNINITIALIZED, NETREG_REGISTERED, NETREG_UNREGISTERING, NETREG_UNREGISTERED, NETREG_RELEASED = 0, 1, 2, 3, 4
REG_STATE = LAYOUTS["net_device"]["fields"]["reg_state"][0]  # a bit-field: bits 0-7 of the word at 796
REG_STATE_TEXT = {0: " (uninitialized)", 1: "", 2: " (unregistering)", 3: " (unregistered)", 4: " (released)", 5: ""}
IF_OPER_DOWN, IF_OPER_UP = 2, 6

# enum netdev_cmd
NETDEV_UP, NETDEV_DOWN, NETDEV_CHANGE, NETDEV_REGISTER, NETDEV_UNREGISTER = 1, 2, 4, 5, 6
NETDEV_CHANGEADDR, NETDEV_PRE_CHANGEADDR, NETDEV_GOING_DOWN, NETDEV_PRE_UP = 8, 9, 10, 14

EINVAL, ENODEV, ENOMEM, EBUSY, EEXIST, ENFILE = 22, 19, 12, 16, 17, 23
EADDRNOTAVAIL, EOPNOTSUPP = 99, 95

DEV = offset("net_device", "dev")
STATE = offset("net_device", "state")
TXQ_STATE, TXQ_TRANS_START = offset("netdev_queue", "state"), offset("netdev_queue", "trans_start")

# The ethernet header_ops drivers' setup gets from ether_setup, and the ethtool ops a device
# without its own gets: Linux's eth_header_ops / default_ethtool_ops (their callbacks are the
# stack's, never called by a driver; a zeroed table stands for them).
eth_header_ops = kernel_variable("eth_header_ops", 32)
net_class = kernel_variable("net_class", size("class"))  # /sys/class/net; named at the first registration
default_ethtool_ops = kernel_variable("default_ethtool_ops", size("ethtool_ops"))


@dataclass
class NetDevice:
    """One net_device and what the kernel keeps about it outside guest memory."""

    dev: int
    block: int  # the allocation (dev - padded)
    owner: str
    blocks: tuple[int, ...] = ()  # _tx, _rx, the dev_addrs entry
    tx: int = 0  # the netdev_queue array and its length, as allocated (guest fields may be overwritten)
    txqs: int = 1
    registered: bool = False
    watchdog_due: int | None = None  # tick of the next dev_watchdog run while up
    timeouts: int = 0


@dataclass
class NetDevices:
    """Every net_device of one kernel, by address; the ifindex counter."""

    devices: dict[int, NetDevice] = field(default_factory=dict)
    next_ifindex: int = 2
    linkwatch: list[int] = field(default_factory=list)  # devices with a carrier change not yet processed
    ratelimit_name: int = 0  # the "net_ratelimit" string ___ratelimit reports suppressed messages under

    def boot(self, k: Kernel) -> None:
        """The transmit watchdog and the link watch run from the timer tick (a timer and a delayed work
        on Linux)."""
        k.add_irq_hook(0, lambda: _watchdogs(k), due=lambda: self.next_watchdog())
        k.add_irq_hook(0, lambda: run_linkwatch(k), due=lambda: k.clock.ticks + 1 if self.linkwatch else None)

    def next_watchdog(self) -> int | None:
        due = [d.watchdog_due for d in self.devices.values() if d.watchdog_due is not None]
        return min(due) if due else None

    def clone(self) -> NetDevices:
        """A copy for snapshots."""
        return NetDevices({a: NetDevice(d.dev, d.block, d.owner, d.blocks, d.tx, d.txqs, d.registered, d.watchdog_due,
                                         d.timeouts) for a, d in self.devices.items()},
                          self.next_ifindex, list(self.linkwatch), self.ratelimit_name)

    def by_name(self, k: Kernel, name: str) -> NetDevice | None:
        """The registered device called ``name``."""
        return next((d for d in self.devices.values() if d.registered and ifname(k, d.dev) == name), None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Devices the module left registered are unregistered; ones left allocated are freed."""
        leaks = []
        for record in list(self.devices.values()):
            if record.owner != module.name:
                continue
            if record.registered:
                leaks.append(f"net_device {ifname(k, record.dev)} still registered")
                try:
                    unregister(k, record.dev)
                except GuestFault as fault:
                    leaks.append(f"unregistering {ifname(k, record.dev)} faulted: {fault}")
            leaks.append(f"net_device {ifname(k, record.dev)} ({record.dev:#x}) never freed (free_netdev)")
            _put_or_free(k, record)
            if record.dev in self.devices:  # someone else still holds a reference to &dev->dev
                _freemem(k, record)
        return leaks


def devices(k: Kernel) -> NetDevices:
    """This kernel's net_device table."""
    return k.subsystem(NetDevices)


def record_of(k: Kernel, dev: int, what: str) -> NetDevice:
    """The NetDevice for ``dev``, or a fault naming the call."""
    record = devices(k).devices.get(dev)
    if record is None:
        raise GuestFault("bad-netdev", f"{what} of {dev:#x} at {k.symbolizer.short(k.current_caller)}: not a "
                         "net_device from alloc_netdev_mqs (freed, or never allocated)", pc=k.current_caller,
                         address=dev)
    return record


def ifname(k: Kernel, dev: int) -> str:
    """dev->name."""
    return k.memory.read_cstring(dev, 16).decode("utf-8", "replace")


def reg_state(k: Kernel, dev: int) -> int:
    """dev->reg_state (NETREG_*)."""
    return k.memory.read(dev + REG_STATE, 1)[0]


def _set_reg_state(k: Kernel, dev: int, value: int) -> None:
    k.memory.write(dev + REG_STATE, bytes([value]))


def test_bit(k: Kernel, address: int, bit: int) -> bool:
    return bool(k.memory.read_u32(address) >> bit & 1)


def change_bit(k: Kernel, address: int, bit: int, value: bool) -> bool:
    """Set or clear ``bit`` of the word at ``address``; returns its old value (test_and_set/clear_bit)."""
    word = k.memory.read_u32(address)
    k.memory.write_u32(address, word | 1 << bit if value else word & ~(1 << bit))
    return bool(word >> bit & 1)


def running(k: Kernel, dev: int) -> bool:
    """netif_running."""
    return test_bit(k, dev + STATE, LINK_STATE_START)


def carrier_ok(k: Kernel, dev: int) -> bool:
    """netif_carrier_ok."""
    return not test_bit(k, dev + STATE, LINK_STATE_NOCARRIER)


def present(k: Kernel, dev: int) -> bool:
    """netif_device_present."""
    return test_bit(k, dev + STATE, LINK_STATE_PRESENT)


def tx_queues(k: Kernel, dev: int) -> list[int]:
    """The addresses of the device's netdev_queues (as many as alloc_netdev_mqs made; a fault for a
    pointer that is not a net_device)."""
    record = record_of(k, dev, "a transmit queue lookup")
    return [record.tx + i * TXQ_SIZE for i in range(record.txqs)]


# -- printk ---------------------------------------------------------------------------------------

def netdev_prefix(k: Kernel, dev: int) -> bytes:
    """What __netdev_printk puts first: "<driver> <bus device> <ifname>[ (state)]: ", or without a parent
    "<ifname>[ (state)]: "."""
    if not dev:
        return b"(NULL net_device): "
    name = ifname(k, dev)
    shown = "(unnamed net_device)" if not name or "%" in name else name
    shown += REG_STATE_TEXT.get(reg_state(k, dev), " (unknown)")
    parent = k.memory.read_u32(dev + DEV + offset("device", "parent"))
    if parent:
        return _device_prefix(k, parent)[:-2] + b" " + shown.encode() + b": "
    return shown.encode() + b": "


def netdev_log(k: Kernel, dev: int, level: int, text: str) -> None:
    """A message as netdev_printk at ``level`` would print it (for services' own messages)."""
    log(k, b"\x01" + str(level).encode() + text.encode(), netdev_prefix(k, dev))


def _netdev_service(name: str, level: int):  # type: ignore[no-untyped-def]
    def emit(k: Kernel, dev: int, fmt: int, args: VarArgs) -> None:
        log(k, b"\x01" + str(level).encode() + format_guest(k, fmt, args), netdev_prefix(k, dev))

    emit.__doc__ = f"{name}(): the message at KERN_{['EMERG', 'ALERT', 'CRIT', 'ERR', 'WARNING', 'NOTICE', 'INFO'][level]} " \
                   "after the device's driver, bus name and interface name."
    emit.__name__ = name
    return service(f"void {name}(const struct net_device *dev, const char *fmt, ...)")(emit)


netdev_emerg = _netdev_service("netdev_emerg", 0)
netdev_alert = _netdev_service("netdev_alert", 1)
netdev_crit = _netdev_service("netdev_crit", 2)
netdev_err = _netdev_service("netdev_err", 3)
netdev_warn = _netdev_service("netdev_warn", 4)
netdev_notice = _netdev_service("netdev_notice", 5)
netdev_info = _netdev_service("netdev_info", 6)


@service("void netdev_printk(const char *level, const struct net_device *dev, const char *format, ...)")
def netdev_printk(k: Kernel, level: int, dev: int, fmt: int, args: VarArgs) -> None:
    """netdev_printk(KERN_x, dev, ...): ``level`` is the KERN_* prefix string."""
    prefix = k.memory.read_cstring(level, 4) if level else b""
    log(k, prefix + format_guest(k, fmt, args), netdev_prefix(k, dev))


@service("void __dynamic_netdev_dbg(struct _ddebug *descriptor, const struct net_device *dev, const char *fmt, ...)")
def __dynamic_netdev_dbg(k: Kernel, descriptor: int, dev: int, fmt: int, args: VarArgs) -> None:
    """netdev_dbg() at an enabled dynamic-debug site."""
    from .dyndbg import _enabled

    if _enabled(k, descriptor):
        log(k, b"\x017" + format_guest(k, fmt, args), netdev_prefix(k, dev))


# -- notifiers ------------------------------------------------------------------------------------

def notify(k: Kernel, event: int, dev: int) -> int:
    """call_netdevice_notifiers: each netdevice notifier, by priority; the first NOTIFY_STOP_MASK result ends it."""
    from .net import NetNotifiers

    chain = sorted(k.subsystem(NetNotifiers).of_kind("netdevice notifier"), key=lambda e: -e.fields["priority"])
    if not chain:
        return 0
    info = allocate(k, size("netdev_notifier_info"), owner="kernel")
    k.memory.write_u32(info, dev)
    result = 0
    try:
        for entry in chain:
            result = k.call_function_pointer(entry.fields["notifier_call"], entry.address, event, info)
            if result & 0x8000:  # NOTIFY_STOP_MASK
                break
    finally:
        release(k, info)
    return result


def _call(k: Kernel, nb: int, event: int, dev: int) -> None:
    info = allocate(k, size("netdev_notifier_info"), owner="kernel")
    k.memory.write_u32(info, dev)
    try:
        k.call_function_pointer(k.memory.read_u32(nb), nb, event, info)
    finally:
        release(k, info)


def replay_to_notifier(k: Kernel, nb: int, registering: bool) -> None:
    """What (un)register_netdevice_notifier replays to one notifier for the devices already registered."""
    for record in sorted(devices(k).devices.values(), key=lambda d: Fields(k.memory, "net_device", d.dev)["ifindex"]):
        if not record.registered:
            continue
        up = bool(Fields(k.memory, "net_device", record.dev)["flags"] & IFF_UP)
        events = ([NETDEV_REGISTER] + ([NETDEV_UP] if up else []) if registering
                  else ([NETDEV_GOING_DOWN, NETDEV_DOWN] if up else []) + [NETDEV_UNREGISTER])
        for event in events:
            _call(k, nb, event, record.dev)


# -- allocation -----------------------------------------------------------------------------------

@service("struct net_device *alloc_netdev_mqs(int sizeof_priv, const char *name, unsigned char name_assign_type, "
         "void (*setup)(struct net_device *), unsigned int txqs, unsigned int rxqs)")
def alloc_netdev_mqs(k: Kernel, sizeof_priv: int, name: int, name_assign_type: int, setup: int, txqs: int,
                     rxqs: int) -> int:
    """A zeroed net_device with ``sizeof_priv`` private bytes, its queues and address list, set up by ``setup``."""
    text = k.memory.read_cstring(name, 16)
    return make_netdev(k, sizeof_priv, text, name_assign_type, setup, txqs, rxqs)


def make_netdev(k: Kernel, sizeof_priv: int, name: bytes, name_assign_type: int, setup: int | None, txqs: int,
                rxqs: int) -> int:
    """alloc_netdev_mqs's work; ``setup`` None means ether_setup (alloc_etherdev_mqs)."""
    if len(name) >= 16:
        k.warn(f"alloc_netdev_mqs: name {name!r} too long")
        return 0
    if txqs < 1 or rxqs < 1:
        k.console_write("alloc_netdev: Unable to allocate device with zero queues\n", 3)
        return 0
    if txqs > MAX_QUEUES or rxqs > MAX_QUEUES or sizeof_priv >> 31:
        return 0  # netif_alloc_netdev_queues: -EINVAL above 0xffff queues; a negative private size
    alloc_size = NETDEV_SIZE + ((sizeof_priv + NETDEV_ALIGN - 1) & ~(NETDEV_ALIGN - 1) if sizeof_priv else 0)
    module = k.caller_module()
    owner = module.name if module is not None else "kernel"
    block = allocate(k, alloc_size + NETDEV_ALIGN - 1)
    if not block:
        return 0
    dev = (block + NETDEV_ALIGN - 1) & ~(NETDEV_ALIGN - 1)
    f = Fields(k.memory, "net_device", dev)
    f["padded"] = dev - block
    tx = allocate(k, TXQ_SIZE * txqs, owner="kernel")
    rx = allocate(k, RXQ_SIZE * rxqs, owner="kernel")
    ha = allocate(k, HW_ADDR_SIZE, owner="kernel")
    if not (tx and rx and ha):
        for part in (tx, rx, ha, block):
            if part:
                release(k, part)
        return 0
    # One CPU with a flat %fs: a per-CPU int is an ordinary one, so the inline dev_hold/dev_put
    # (this_cpu_inc(*dev->pcpu_refcnt)) count in it.
    refcnt = allocate(k, 4, owner="kernel")
    record = NetDevice(dev, block, owner, (tx, rx, ha, refcnt), tx, txqs)
    devices(k).devices[dev] = record
    for head in ("dev_list", "napi_list", "unreg_list", "close_list", "link_watch_list", "ptype_all",
                 "ptype_specific", "adj_list.upper", "adj_list.lower", "net_notifier_list", "todo_list",
                 "dev_addrs.list", "uc.list", "mc.list"):
        list_init(k, f.address_of(head))
    # dev_addr_init: one NETDEV_HW_ADDR_T_LAN entry holding the (zero) address; dev_addr points into it.
    h = Fields(k.memory, "netdev_hw_addr", ha)
    h["type"], h["refcount"], h["global_use"] = 1, 1, 1
    list_add(k, ha, f.address_of("dev_addrs.list"))
    f["dev_addrs.count"] = 1
    f["dev_addr"] = h.address_of("addr")
    f["nd_net"] = k.export_address("init_net") or 0
    f["pcpu_refcnt"] = refcnt
    k.memory.write_u32(refcnt, 1)  # dev_hold at allocation
    f["gso_max_size"], f["gso_max_segs"] = GSO_LEGACY_MAX_SIZE, GSO_MAX_SEGS
    f["tso_max_size"], f["tso_max_segs"] = GSO_LEGACY_MAX_SIZE, GSO_MAX_SEGS
    f["gro_max_size"] = GSO_LEGACY_MAX_SIZE
    f["upper_level"], f["lower_level"] = 1, 1
    f["priv_flags"] = IFF_XMIT_DST_RELEASE | IFF_XMIT_DST_RELEASE_PERM
    f["_tx"], f["num_tx_queues"], f["real_num_tx_queues"] = tx, txqs, txqs
    f["_rx"], f["num_rx_queues"], f["real_num_rx_queues"] = rx, rxqs, rxqs
    for i in range(txqs):
        q = Fields(k.memory, "netdev_queue", tx + i * TXQ_SIZE)
        q["dev"] = dev
        q["xmit_lock_owner"] = 0xFFFFFFFF
    for i in range(rxqs):
        k.memory.write_u32(rx + i * RXQ_SIZE + offset("netdev_rx_queue", "dev"), dev)
    f["dev.init_name"] = 0
    k.memory.write(dev, name + b"\0")
    f["name_assign_type"] = name_assign_type
    if setup is None:
        ether_setup(k, dev)
    else:
        k.call_function_pointer(setup, dev)
    if not f["tx_queue_len"]:
        f["priv_flags"] = f["priv_flags"] | IFF_NO_QUEUE
        f["tx_queue_len"] = DEFAULT_TX_QUEUE_LEN
    if not f["ethtool_ops"]:
        f["ethtool_ops"] = k.export_address("default_ethtool_ops") or 0
    return dev


@service("struct net_device *alloc_etherdev_mqs(int sizeof_priv, unsigned int txqs, unsigned int rxqs)")
def alloc_etherdev_mqs(k: Kernel, sizeof_priv: int, txqs: int, rxqs: int) -> int:
    """An Ethernet device named ``eth%d``, set up by ether_setup."""
    return make_netdev(k, sizeof_priv, b"eth%d", NET_NAME_ENUM, None, txqs, rxqs)


@service("void ether_setup(struct net_device *dev)")
def ether_setup(k: Kernel, dev: int) -> None:
    """Ethernet defaults: type, header length 14, MTU 1500 (68..1500), 6-byte addresses, broadcast ff:..:ff."""
    f = Fields(k.memory, "net_device", dev)
    f["header_ops"] = k.export_address("eth_header_ops") or 0
    f["type"] = ARPHRD_ETHER
    f["hard_header_len"], f["min_header_len"] = ETH_HLEN, ETH_HLEN
    f["mtu"], f["min_mtu"], f["max_mtu"] = ETH_DATA_LEN, ETH_MIN_MTU, ETH_DATA_LEN
    f["addr_len"] = ETH_ALEN
    f["tx_queue_len"] = DEFAULT_TX_QUEUE_LEN
    f["flags"] = IFF_BROADCAST | IFF_MULTICAST
    f["priv_flags"] = f["priv_flags"] | IFF_TX_SKB_SHARING
    k.memory.write(f.address_of("broadcast"), b"\xff" * ETH_ALEN)


def _freemem(k: Kernel, record: NetDevice) -> None:
    """netdev_freemem: the queues, the address entry, the struct and private area."""
    from . import driver_core

    leftover = driver_core.core(k).devices.pop(record.dev + DEV, None)  # only when freed without the core
    if leftover is not None and leftover.name_block:
        release(k, leftover.name_block)
    for block in record.blocks:
        if block:
            release(k, block)
    release(k, record.block)
    del devices(k).devices[record.dev]


@service("void free_netdev(struct net_device *dev)")
def free_netdev(k: Kernel, dev: int) -> None:
    """Free a device that was never registered or has been unregistered (its NAPI contexts are deleted)."""
    if not dev:
        return
    record = record_of(k, dev, "free_netdev")
    from .napi import Softnet, __netif_napi_del

    for napi in [n for n, d in Softnet.of(k).napis.items() if d == dev]:
        __netif_napi_del(k, napi)
    state = reg_state(k, dev)
    if state not in (NETREG_UNINITIALIZED, NETREG_UNREGISTERED):
        raise GuestFault("free-netdev", f"free_netdev of {ifname(k, dev)} at {k.symbolizer.short(k.current_caller)}"
                         f": still registered (reg_state {state}; BUG_ON in free_netdev)", pc=k.current_caller,
                         address=dev)
    _set_reg_state(k, dev, NETREG_RELEASED)
    _put_or_free(k, record)


def _put_or_free(k: Kernel, record: NetDevice) -> None:
    """put_device(&dev->dev) for a device that was registered (its release frees it), else netdev_freemem."""
    from . import driver_core

    if record.dev + DEV in driver_core.core(k).devices:
        driver_core.put(k, record.dev + DEV)
    else:
        _freemem(k, record)


# -- registration ---------------------------------------------------------------------------------

def _valid_name(k: Kernel, dev: int) -> str | int:
    """dev_get_valid_name: the name, with a %d pattern resolved to the first free number; or -errno."""
    name = ifname(k, dev)
    if not name or len(name) >= 16 or "/" in name or ":" in name or name.strip() != name or name in (".", ".."):
        return -EINVAL
    taken = {ifname(k, d.dev) for d in devices(k).devices.values() if d.registered}
    if "%" in name:
        if name.count("%") != 1 or "%d" not in name:
            return -EINVAL
        for number in range(32768):
            candidate = name.replace("%d", str(number))
            if candidate not in taken:
                return candidate if len(candidate) < 16 else -EINVAL
        return -ENFILE
    return -EEXIST if name in taken else name


def _register_kobject(k: Kernel, dev: int, name: str) -> int:
    """netdev_register_kobject: &dev->dev becomes a "net" class device named after the interface, under
    its parent (SET_NETDEV_DEV), through the driver core; its last put_device frees the net_device."""
    from . import driver_core

    cls = k.export_address("net_class") or 0
    if cls and not k.memory.read_u32(cls):
        text = allocate(k, 4, owner="kernel")
        k.memory.write(text, b"net\0")
        k.memory.write_u32(cls, text)
    device = dev + DEV
    record = driver_core.initialize_device(k, device, owner="kernel")
    record.on_release = _netdev_release
    Fields(k.memory, "device", device)["class"] = cls
    Fields(k.memory, "device", device)["platform_data"] = dev
    result = driver_core.set_name(k, device, name.encode()) or driver_core.add_device(k, device)
    if result:
        driver_core.put(k, device)
    return result


def _netdev_release(k: Kernel, device: int) -> None:
    """netdev_release: the class device's last reference is gone, so the net_device memory goes."""
    record = devices(k).devices.get(device - DEV)
    if record is not None:
        _freemem(k, record)


@service("int register_netdevice(struct net_device *dev)")
def register_netdevice(k: Kernel, dev: int) -> int:
    """Register ``dev`` (RTNL held): name, ifindex, ndo_init, present, NETDEV_REGISTER to the notifiers."""
    record = record_of(k, dev, "register_netdevice")
    if record.registered or reg_state(k, dev) != NETREG_UNINITIALIZED:
        k.warn(f"register_netdevice of {ifname(k, dev)}: already registered")
        return -EINVAL
    name = _valid_name(k, dev)
    if isinstance(name, int):
        return name
    k.memory.write(dev, name.encode() + b"\0")
    f = Fields(k.memory, "net_device", dev)
    ops = f["netdev_ops"]
    if not ops:
        raise GuestFault("register-netdev", f"register_netdevice of {name} at {k.symbolizer.short(k.current_caller)}: "
                         "dev->netdev_ops is NULL (BUG_ON)", pc=k.current_caller, address=dev)
    init = Fields(k.memory, "net_device_ops", ops)["ndo_init"]
    if init:
        result = k.call_function_pointer(init, dev)
        if result:
            return result - (1 << 32) if result >> 31 else result
    table = devices(k)
    f["ifindex"] = table.next_ifindex
    table.next_ifindex += 1
    f["wanted_features"] = f["features"] & f["hw_features"] if f["hw_features"] else f["features"]
    result = _register_kobject(k, dev, name)
    if result:
        return result
    from .net import NET_DEV_BASE_HEAD, Pernet

    net = k.subsystem(Pernet).net(k)
    list_add_tail(k, f.address_of("dev_list"), net + NET_DEV_BASE_HEAD)  # for_each_netdev(&init_net, ...)
    change_bit(k, dev + STATE, LINK_STATE_PRESENT, True)
    f["operstate"] = IF_OPER_UP if carrier_ok(k, dev) else IF_OPER_DOWN
    _set_reg_state(k, dev, NETREG_REGISTERED)
    record.registered = True
    k.trace.add("note", "netdev register", fields={"name": name, "ifindex": f["ifindex"], "owner": record.owner})
    notify(k, NETDEV_REGISTER, dev)
    return 0


@service("int register_netdev(struct net_device *dev)")
def register_netdev(k: Kernel, dev: int) -> int:
    """register_netdevice under the RTNL."""
    from .net import rtnl_lock, rtnl_unlock

    rtnl_lock(k)
    try:
        return register_netdevice(k, dev)
    finally:
        rtnl_unlock(k)


def unregister(k: Kernel, dev: int) -> None:
    """unregister_netdevice_many for one device: closed if up, notifiers told, ndo_uninit, unregistered."""
    from .netif import close

    record = record_of(k, dev, "unregister_netdevice")
    if not record.registered:
        k.warn(f"unregister_netdevice of {ifname(k, dev)} at {k.symbolizer.short(k.current_caller)}: "
               "not registered")
        return
    if running(k, dev):
        close(k, dev)
    _set_reg_state(k, dev, NETREG_UNREGISTERING)
    notify(k, NETDEV_UNREGISTER, dev)
    ops = Fields(k.memory, "net_device", dev)["netdev_ops"]
    uninit = Fields(k.memory, "net_device_ops", ops)["ndo_uninit"] if ops else 0
    if uninit:
        k.call_function_pointer(uninit, dev)
    change_bit(k, dev + STATE, LINK_STATE_PRESENT, False)
    list_del(k, dev + offset("net_device", "dev_list"))
    from . import driver_core

    driver_core.delete_device(k, dev + DEV)  # netdev_unregister_kobject: device_del
    record.registered = False
    record.watchdog_due = None
    _set_reg_state(k, dev, NETREG_UNREGISTERED)
    k.trace.add("note", "netdev unregister", fields={"name": ifname(k, dev)})
    f = Fields(k.memory, "net_device", dev)
    if f["needs_free_netdev"]:
        destructor = f["priv_destructor"]
        if destructor:
            k.call_function_pointer(destructor, dev)
        free_netdev(k, dev)


@service("void unregister_netdevice_queue(struct net_device *dev, struct list_head *head)")
def unregister_netdevice_queue(k: Kernel, dev: int, head: int) -> None:
    """Unregister ``dev`` now (a batch ``head`` is unregistered at once here too)."""
    unregister(k, dev)


@service("void unregister_netdevice_many(struct list_head *head)")
def unregister_netdevice_many(k: Kernel, head: int) -> None:
    """Unregister the devices linked on ``head`` by their ``unreg_list`` (those queued above are
    already gone, so the list a caller built with unregister_netdevice_queue is empty), then empty it."""
    link = offset("net_device", "unreg_list")
    node = k.memory.read_u32(head)
    for _ in range(4096):
        if node in (head, 0):
            break
        following = k.memory.read_u32(node)
        if record_of(k, node - link, "unregister_netdevice_many").registered:
            unregister(k, node - link)
        node = following
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


@service("void unregister_netdev(struct net_device *dev)")
def unregister_netdev(k: Kernel, dev: int) -> None:
    """unregister_netdevice under the RTNL."""
    from .net import rtnl_lock, rtnl_unlock

    rtnl_lock(k)
    try:
        unregister(k, dev)
    finally:
        rtnl_unlock(k)


@service("int dev_alloc_name(struct net_device *dev, const char *name)")
def dev_alloc_name(k: Kernel, dev: int, name: int) -> int:
    """Resolve ``name`` (with %d) to a free interface name in dev->name; the number used, or -errno."""
    pattern = k.memory.read_cstring(name, 16)
    k.memory.write(dev, pattern + b"\0")
    found = _valid_name(k, dev)
    if isinstance(found, int):
        return found
    k.memory.write(dev, found.encode() + b"\0")
    digits = re.findall(r"\d+", found)
    return int(digits[-1]) if "%" in pattern.decode("utf-8", "replace") and digits else 0


# -- lookups --------------------------------------------------------------------------------------

def _find(k: Kernel, net: int, match) -> int:  # type: ignore[no-untyped-def]
    for record in devices(k).devices.values():
        if record.registered and match(record.dev):
            return record.dev
    return 0


def _hold(k: Kernel, dev: int) -> int:
    if dev:
        refcnt = Fields(k.memory, "net_device", dev)["pcpu_refcnt"]
        k.memory.write_u32(refcnt, k.memory.read_u32(refcnt) + 1)
    return dev


@service("struct net_device *__dev_get_by_name(struct net *net, const char *name)")
def __dev_get_by_name(k: Kernel, net: int, name: int) -> int:
    """The registered device called ``name`` (RTNL held), or NULL."""
    wanted = k.memory.read_cstring(name, 16).decode("utf-8", "replace")
    return _find(k, net, lambda dev: ifname(k, dev) == wanted)


@service("struct net_device *dev_get_by_name_rcu(struct net *net, const char *name)")
def dev_get_by_name_rcu(k: Kernel, net: int, name: int) -> int:
    """__dev_get_by_name under RCU."""
    return __dev_get_by_name(k, net, name)


@service("struct net_device *dev_get_by_name(struct net *net, const char *name)")
def dev_get_by_name(k: Kernel, net: int, name: int) -> int:
    """The device called ``name`` with a reference taken (dev_put it), or NULL."""
    return _hold(k, __dev_get_by_name(k, net, name))


@service("struct net_device *__dev_get_by_index(struct net *net, int ifindex)")
def __dev_get_by_index(k: Kernel, net: int, ifindex: int) -> int:
    """The registered device with ``ifindex``, or NULL."""
    return _find(k, net, lambda dev: Fields(k.memory, "net_device", dev)["ifindex"] == ifindex)


@service("struct net_device *dev_get_by_index_rcu(struct net *net, int ifindex)")
def dev_get_by_index_rcu(k: Kernel, net: int, ifindex: int) -> int:
    """__dev_get_by_index under RCU."""
    return __dev_get_by_index(k, net, ifindex)


@service("struct net_device *dev_get_by_index(struct net *net, int ifindex)")
def dev_get_by_index(k: Kernel, net: int, ifindex: int) -> int:
    """The device with ``ifindex`` with a reference taken, or NULL."""
    return _hold(k, __dev_get_by_index(k, net, ifindex))


@service("int call_netdevice_notifiers(unsigned long val, struct net_device *dev)")
def call_netdevice_notifiers(k: Kernel, val: int, dev: int) -> int:
    """Tell every netdevice notifier ``val`` about ``dev``; the last notifier's result."""
    return notify(k, val, dev)


@service("void synchronize_net(void)")
def synchronize_net(k: Kernel) -> None:
    """synchronize_rcu: a grace period for readers of the device lists (queued RCU callbacks may run)."""
    from .rcu import synchronize_rcu

    synchronize_rcu(k)


# -- addresses ------------------------------------------------------------------------------------

@service("void dev_addr_mod(struct net_device *dev, unsigned int offset, const void *addr, size_t len)")
def dev_addr_mod(k: Kernel, dev: int, start: int, addr: int, length: int) -> None:
    """Change part of dev->dev_addr (and its shadow copy) — what eth_hw_addr_set does."""
    if start + length > MAX_ADDR_LEN:
        k.warn(f"dev_addr_mod of {ifname(k, dev)}: {start}+{length} beyond MAX_ADDR_LEN")
        return
    f = Fields(k.memory, "net_device", dev)
    data = k.memory.read(addr, length)
    k.memory.write(f["dev_addr"] + start, data)
    k.memory.write(f.address_of("dev_addr_shadow") + start, data)


def mac(k: Kernel, dev: int) -> bytes:
    """The device's 6-byte address."""
    return k.memory.read(Fields(k.memory, "net_device", dev)["dev_addr"], ETH_ALEN)


def valid_ether_addr(addr: bytes) -> bool:
    """is_valid_ether_addr: not multicast (nor broadcast), not all zeros."""
    return not addr[0] & 1 and any(addr)


@service("int eth_validate_addr(struct net_device *dev)")
def eth_validate_addr(k: Kernel, dev: int) -> int:
    """0 if dev->dev_addr is a valid unicast address, else -EADDRNOTAVAIL."""
    return 0 if valid_ether_addr(mac(k, dev)) else -EADDRNOTAVAIL


@service("int eth_mac_addr(struct net_device *dev, void *p)")
def eth_mac_addr(k: Kernel, dev: int, p: int) -> int:
    """ndo_set_mac_address for Ethernet: -EBUSY while running (unless live change), -EADDRNOTAVAIL if invalid."""
    f = Fields(k.memory, "net_device", dev)
    if not f["priv_flags"] & IFF_LIVE_ADDR_CHANGE and running(k, dev):
        return -EBUSY
    addr = k.memory.read(p + 2, ETH_ALEN)  # struct sockaddr: sa_family, then sa_data
    if not valid_ether_addr(addr):
        return -EADDRNOTAVAIL
    dev_addr_mod(k, dev, 0, p + 2, ETH_ALEN)
    f["addr_assign_type"] = f["addr_assign_type"] & ~NET_ADDR_RANDOM
    return 0


@service("int eth_platform_get_mac_address(struct device *dev, u8 *mac_addr)")
def eth_platform_get_mac_address(k: Kernel, dev: int, mac_addr: int) -> int:
    """An address from firmware (device tree, nvmem): a PC has none for the driver, -ENODEV."""
    return -ENODEV


# -- carrier, presence, queues ------------------------------------------------------------------

def _linkwatch(k: Kernel, dev: int) -> None:
    """linkwatch_fire_event: the change is processed later, as Linux's link watch work does (by the next
    tick, or when the host-side operation that caused it returns)."""
    pending = devices(k).linkwatch
    if dev not in pending:
        pending.append(dev)


def run_linkwatch(k: Kernel) -> None:
    """linkwatch_do_dev for each pending device: operstate follows the carrier; an up device's notifiers
    hear NETDEV_CHANGE."""
    table = devices(k)
    while table.linkwatch:
        dev = table.linkwatch.pop(0)
        record = table.devices.get(dev)
        if record is None or not record.registered:
            continue
        f = Fields(k.memory, "net_device", dev)
        f["operstate"] = IF_OPER_UP if carrier_ok(k, dev) else IF_OPER_DOWN
        if f["flags"] & IFF_UP:
            notify(k, NETDEV_CHANGE, dev)


@service("void linkwatch_fire_event(struct net_device *dev)")
def linkwatch_fire_event(k: Kernel, dev: int) -> None:
    """Queue ``dev`` for the link watch (operstate, NETDEV_CHANGE)."""
    _linkwatch(k, dev)


@service("void netif_carrier_on(struct net_device *dev)")
def netif_carrier_on(k: Kernel, dev: int) -> None:
    """The link is up: carrier_up_count, operstate UP, the transmit watchdog armed if running."""
    if not change_bit(k, dev + STATE, LINK_STATE_NOCARRIER, False):
        return
    if reg_state(k, dev) == NETREG_UNINITIALIZED:
        return
    f = Fields(k.memory, "net_device", dev)
    f["carrier_up_count"] = f["carrier_up_count"] + 1
    k.trace.add("note", "carrier", fields={"name": ifname(k, dev), "carrier": "on"})
    _linkwatch(k, dev)
    if running(k, dev):
        watchdog_up(k, dev)


@service("void netif_carrier_off(struct net_device *dev)")
def netif_carrier_off(k: Kernel, dev: int) -> None:
    """The link is down: carrier_down_count, operstate DOWN."""
    if change_bit(k, dev + STATE, LINK_STATE_NOCARRIER, True):
        return
    if reg_state(k, dev) == NETREG_UNINITIALIZED:
        return
    f = Fields(k.memory, "net_device", dev)
    f["carrier_down_count"] = f["carrier_down_count"] + 1
    k.trace.add("note", "carrier", fields={"name": ifname(k, dev), "carrier": "off"})
    _linkwatch(k, dev)


@service("void netif_carrier_event(struct net_device *dev)")
def netif_carrier_event(k: Kernel, dev: int) -> None:
    """A carrier flap the driver saw without a state change: counted both ways."""
    if reg_state(k, dev) == NETREG_UNINITIALIZED:
        return
    f = Fields(k.memory, "net_device", dev)
    f["carrier_up_count"] = f["carrier_up_count"] + 1
    f["carrier_down_count"] = f["carrier_down_count"] + 1
    _linkwatch(k, dev)


def _schedule_queue(k: Kernel, dev: int) -> None:
    """__netif_schedule: the device's qdisc runs in NET_TX."""
    from .napi import Softnet

    net = Softnet.of(k)
    if dev not in net.output:
        net.output.append(dev)
    net.raise_softirq(k)


@service("void netif_tx_wake_queue(struct netdev_queue *dev_queue)")
def netif_tx_wake_queue(k: Kernel, txq: int) -> None:
    """Restart a stopped queue: the frames waiting in its qdisc go to the driver from NET_TX."""
    if change_bit(k, txq + TXQ_STATE, QUEUE_STATE_DRV_XOFF, False):
        _schedule_queue(k, k.memory.read_u32(txq))


@service("void netif_tx_stop_all_queues(struct net_device *dev)")
def netif_tx_stop_all_queues(k: Kernel, dev: int) -> None:
    """Stop every transmit queue."""
    for txq in tx_queues(k, dev):
        change_bit(k, txq + TXQ_STATE, QUEUE_STATE_DRV_XOFF, True)


def wake_all_queues(k: Kernel, dev: int) -> None:
    """netif_tx_wake_all_queues."""
    for txq in tx_queues(k, dev):
        netif_tx_wake_queue(k, txq)


@service("void netif_device_detach(struct net_device *dev)")
def netif_device_detach(k: Kernel, dev: int) -> None:
    """The device went away (suspend, unplug): not present; a running one's queues stop."""
    if change_bit(k, dev + STATE, LINK_STATE_PRESENT, False) and running(k, dev):
        netif_tx_stop_all_queues(k, dev)


@service("void netif_device_attach(struct net_device *dev)")
def netif_device_attach(k: Kernel, dev: int) -> None:
    """The device is back: present; a running one's queues wake and the watchdog is re-armed."""
    if not change_bit(k, dev + STATE, LINK_STATE_PRESENT, True) and running(k, dev):
        wake_all_queues(k, dev)
        watchdog_up(k, dev)


@service("unsigned long dev_trans_start(struct net_device *dev)")
def dev_trans_start(k: Kernel, dev: int) -> int:
    """The latest jiffies any transmit queue started a transmission."""
    latest = 0
    for txq in tx_queues(k, dev):
        value = k.memory.read_u32(txq + TXQ_TRANS_START)
        if not latest or (value - latest) & 0x80000000 == 0:
            latest = value
    return latest


@service("void netif_set_tso_max_size(struct net_device *dev, unsigned int size)")
def netif_set_tso_max_size(k: Kernel, dev: int, size_: int) -> None:
    """Cap TSO frames; gso_max_size follows if it was above."""
    f = Fields(k.memory, "net_device", dev)
    f["tso_max_size"] = min(size_, GSO_LEGACY_MAX_SIZE)
    if f["gso_max_size"] > f["tso_max_size"]:
        f["gso_max_size"] = f["tso_max_size"]


# -- net_ratelimit (net/core/utils.c) -----------------------------------------------------------
# DEFINE_RATELIMIT_STATE(net_ratelimit_state, 5 * HZ, 10): interval at 4, burst at 8 (HZ 250).
net_ratelimit_state = kernel_variable("net_ratelimit_state", size("ratelimit_state"),
                                      bytes(4) + (5 * 250).to_bytes(4, "little") + (10).to_bytes(4, "little"))


@service("int net_ratelimit(void)")
def net_ratelimit(k: Kernel) -> int:
    """1 for at most 10 network messages every 5 seconds, then 0 ("net_ratelimit: N callbacks suppressed")."""
    from .printk import ___ratelimit

    name = devices(k).ratelimit_name
    if not name:
        name = devices(k).ratelimit_name = allocate(k, 16, owner="kernel")
        k.memory.write(name, b"net_ratelimit\0")
    return ___ratelimit(k, k.export_address("net_ratelimit_state") or 0, name)


# -- the transmit watchdog (dev_watchdog) --------------------------------------------------------

def watchdog_up(k: Kernel, dev: int) -> None:
    """__netdev_watchdog_up: a driver with ndo_tx_timeout gets its queues watched every watchdog_timeo."""
    ops = Fields(k.memory, "net_device", dev)["netdev_ops"]
    if not ops or not Fields(k.memory, "net_device_ops", ops)["ndo_tx_timeout"]:
        return
    f = Fields(k.memory, "net_device", dev)
    if _signed(f["watchdog_timeo"]) <= 0:
        f["watchdog_timeo"] = 5 * k.clock.hz
    record = devices(k).devices.get(dev)
    if record is not None and record.watchdog_due is None:
        record.watchdog_due = k.clock.ticks + f["watchdog_timeo"]


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def _watchdogs(k: Kernel) -> None:
    now = k.clock.ticks
    for record in list(devices(k).devices.values()):
        if record.watchdog_due is not None and record.watchdog_due <= now:
            record.watchdog_due = None
            _watchdog(k, record)


def _watchdog(k: Kernel, record: NetDevice) -> None:
    """dev_watchdog: a queue stopped for longer than watchdog_timeo since its last start times out."""
    dev = record.dev
    if not (present(k, dev) and running(k, dev) and carrier_ok(k, dev)):
        return
    f = Fields(k.memory, "net_device", dev)
    timeo = f["watchdog_timeo"]
    jiffies = k.clock.jiffies & 0xFFFFFFFF
    for index, txq in enumerate(tx_queues(k, dev)[:f["real_num_tx_queues"]]):
        if not test_bit(k, txq + TXQ_STATE, QUEUE_STATE_DRV_XOFF):
            continue
        trans_start = k.memory.read_u32(txq + TXQ_TRANS_START)
        if (jiffies - (trans_start + timeo)) & 0xFFFFFFFF and not (jiffies - (trans_start + timeo)) & 0x80000000:
            q = Fields(k.memory, "netdev_queue", txq)
            q["trans_timeout"] = q["trans_timeout"] + 1
            record.timeouts += 1
            driver = _driver_name(k, dev)
            k.console_write(f"NETDEV WATCHDOG: {ifname(k, dev)} ({driver}): transmit queue {index} timed out "
                            f"{(jiffies - trans_start) * 1000 // k.clock.hz} ms\n", 6)
            k.trace.add("note", "tx timeout", fields={"name": ifname(k, dev), "queue": index})
            ops = f["netdev_ops"]
            k.call_function_pointer(Fields(k.memory, "net_device_ops", ops)["ndo_tx_timeout"], dev, index,
                                    context="irq")
            break
    if running(k, dev):
        record.watchdog_due = k.clock.ticks + max(timeo, 1)


def _driver_name(k: Kernel, dev: int) -> str:
    parent = k.memory.read_u32(dev + DEV + offset("device", "parent"))
    if not parent:
        return ""
    driver = k.memory.read_u32(parent + offset("device", "driver"))
    return k.memory.read_cstring(k.memory.read_u32(driver), 64).decode("utf-8", "replace") if driver else ""


# -- statistics -----------------------------------------------------------------------------------
STATS64_FIELDS = tuple(sorted(LAYOUTS["rtnl_link_stats64"]["fields"],
                              key=lambda name: LAYOUTS["rtnl_link_stats64"]["fields"][name][0]))
LEGACY_STATS = size("net_device_stats") // 4  # the leading fields both structs share


@service("void netdev_stats_to_stats64(struct rtnl_link_stats64 *stats64, const struct net_device_stats *netdev_stats)")
def netdev_stats_to_stats64(k: Kernel, stats64: int, netdev_stats: int) -> None:
    """Widen the unsigned long counters to u64; the fields net_device_stats lacks are zeroed."""
    words = [k.memory.read_u32(netdev_stats + 4 * i) for i in range(LEGACY_STATS)]
    data = b"".join(w.to_bytes(8, "little") for w in words)
    k.memory.write(stats64, data.ljust(size("rtnl_link_stats64"), b"\0"))


@service("struct rtnl_link_stats64 *dev_get_stats(struct net_device *dev, struct rtnl_link_stats64 *storage)")
def dev_get_stats(k: Kernel, dev: int, storage: int) -> int:
    """The device's counters: ndo_get_stats64, else ndo_get_stats, else dev->stats; returns ``storage``."""
    f = Fields(k.memory, "net_device", dev)
    ops = f["netdev_ops"]
    o = Fields(k.memory, "net_device_ops", ops) if ops else None
    if o is not None and o["ndo_get_stats64"]:
        k.memory.write(storage, bytes(size("rtnl_link_stats64")))
        k.call_function_pointer(o["ndo_get_stats64"], dev, storage)
    elif o is not None and o["ndo_get_stats"]:
        netdev_stats_to_stats64(k, storage, k.call_function_pointer(o["ndo_get_stats"], dev))
    else:
        netdev_stats_to_stats64(k, storage, f.address_of("stats"))
    return storage
