"""A network device end to end with the project's own Linux driver (drivers/linux/netdemo.c, gcc and clang).

The driver drives a frame-FIFO card modelled here; through it the netdev
core (alloc_etherdev_mqs, register_netdev, the ndo_* callbacks as the stack
calls them), skbs, NAPI (poll from the softirq after the IRQ handler, its
budget), queue control, the transmit watchdog, carrier, stats and
``k.net`` are checked without the Linux corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernel_stubs.linux.layout import offset, size
from kernel_stubs.linux.skbuff import Skbs
from sandbox import Kernel
from sandbox.devices.device import Device
from sandbox.errors import SandboxError

SOURCE = Path(__file__).resolve().parent.parent / "drivers" / "linux" / "netdemo.c"
IO, IRQ = 0x340, 5
DATA, TXLEN, STATUS, RXLEN, RXPOP, IMR, PROMISC, MAC = range(0, 32, 4)
RX_READY, TX_DONE, TX_FULL = 1, 2, 4
DRIVER_MAC = bytes.fromhex("020000000042")


class FifoNic(Device):
    """The card netdemo drives: a transmit FIFO two frames deep, a receive FIFO, one IRQ."""

    name = "netdemo-card"
    port_ranges = ((IO, 32),)
    port_base = IO
    irq = IRQ

    def __init__(self) -> None:
        super().__init__()
        self.tx = bytearray()
        self.wire: list[bytes] = []
        self.held: list[bytes] = []  # sent while the link is paused
        self.paused = False
        self.rx: list[bytes] = []
        self.rx_offset = 0
        self.status = self.imr = self.promisc = 0
        self.mac = bytearray()

    def _status(self) -> int:
        return self.status | (RX_READY if self.rx else 0) | (TX_FULL if len(self.held) >= 2 else 0)

    def _update(self) -> None:
        if self._status() & self.imr & (RX_READY | TX_DONE):
            self.raise_irq()

    def port_read(self, port: int, width: int) -> int:
        reg = port - IO
        if reg == STATUS:
            return self._status()
        if reg == RXLEN:
            return len(self.rx[0]) if self.rx else 0
        if reg == DATA and self.rx:
            word = self.rx[0][self.rx_offset:self.rx_offset + 4].ljust(4, b"\0")
            self.rx_offset += 4
            return int.from_bytes(word, "little")
        return 0

    def port_write(self, port: int, width: int, value: int) -> None:
        reg = port - IO
        if reg == DATA:
            self.tx += value.to_bytes(4, "little")
        elif reg == TXLEN:
            if value == 0xFFFFFFFF:
                self.held.clear()
            else:
                frame, self.tx = bytes(self.tx[:value]), bytearray()
                if self.paused:
                    self.held.append(frame)
                else:
                    self.wire.append(frame)
                    self.status |= TX_DONE
                    self._update()
        elif reg == STATUS:
            self.status &= ~value
        elif reg == RXPOP and self.rx:
            self.rx.pop(0)
            self.rx_offset = 0
        elif reg == IMR:
            self.imr = value
            self._update()
        elif reg == PROMISC:
            self.promisc = value
        elif reg == MAC:
            if width == 4 and value == 0xFFFFFFFF:
                self.mac = bytearray()
            else:
                self.mac.append(value & 0xFF)

    def deliver(self, *frames: bytes) -> None:
        """Frames arrive from the wire (one interrupt for the lot)."""
        self.rx.extend(frames)
        self._update()

    def resume(self) -> None:
        """The link drains what it held: those frames go out, TX_DONE interrupts."""
        self.paused = False
        self.wire.extend(self.held)
        self.held.clear()
        self.status |= TX_DONE
        self._update()


@pytest.fixture(params=["gcc", "clang"])
def netdemo(request: pytest.FixtureRequest, built) -> Path:  # type: ignore[no-untyped-def]
    """drivers/linux/netdemo.c as drivers/build.py builds Linux modules (-mregparm=3, ld -r), by gcc and clang."""
    key = (request.param, "linux", "netdemo")
    if key not in built:
        pytest.skip(f"{request.param} is not installed")
    return built[key]


def _kernel(netdemo: Path) -> tuple[Kernel, FifoNic]:
    k = Kernel("linux", check_vermagic=False)
    card = k.devices.add(FifoNic())
    k.load(netdemo)
    return k, card


def _frame(dest: bytes, payload: bytes, ethertype: bytes = b"\x08\x00", src: bytes = bytes.fromhex("02aabbccdd01")
           ) -> bytes:
    return dest + src + ethertype + payload


def test_the_drivers_offsets_are_linux_6_1_i386s() -> None:
    defines = dict(re.findall(r"#define (\w+) (\d+)\n", SOURCE.read_text()))
    expected = {
        "ND_NAME": offset("net_device", "name"), "ND_BASE_ADDR": offset("net_device", "base_addr"),
        "ND_STATE": offset("net_device", "state"), "ND_FLAGS": offset("net_device", "flags"),
        "ND_NETDEV_OPS": offset("net_device", "netdev_ops"), "ND_STATS": offset("net_device", "stats"),
        "ND_ETHTOOL_OPS": offset("net_device", "ethtool_ops"), "ND_IRQ": offset("net_device", "irq"),
        "ND_DEV_ADDR": offset("net_device", "dev_addr"), "ND_TX": offset("net_device", "_tx"),
        "ND_WATCHDOG_TIMEO": offset("net_device", "watchdog_timeo"), "ND_SIZE": size("net_device"),
        "ST_TX_BYTES": offset("net_device_stats", "tx_bytes"), "ST_RX_ERRORS": offset("net_device_stats", "rx_errors"),
        "TXQ_STATE": offset("netdev_queue", "state"), "SKB_LEN": offset("sk_buff", "len"),
        "SKB_PROTOCOL": offset("sk_buff", "protocol"), "SKB_TAIL": offset("sk_buff", "tail"),
        "SKB_HEAD": offset("sk_buff", "head"), "SKB_DATA": offset("sk_buff", "data"),
        "NAPI_SIZE": size("napi_struct"), "NDO_START_XMIT": offset("net_device_ops", "ndo_start_xmit"),
        "NDO_SET_RX_MODE": offset("net_device_ops", "ndo_set_rx_mode"),
        "NDO_SET_MAC_ADDRESS": offset("net_device_ops", "ndo_set_mac_address"),
        "NDO_TX_TIMEOUT": offset("net_device_ops", "ndo_tx_timeout"), "NDO_SIZE": size("net_device_ops"),
        "ETO_GET_LINK": offset("ethtool_ops", "get_link"), "ETO_GET_TS_INFO": offset("ethtool_ops", "get_ts_info"),
        "ETO_SIZE": size("ethtool_ops"),
    }
    assert {name: int(defines[name]) for name in expected} == expected


def test_register_names_the_interface_and_the_carrier_starts_off(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    assert k.console == "eth0: netdemo at 0x340, IRQ 5, 02:00:00:00:00:42\n"
    assert list(k.net) == ["eth0"]
    eth = k.net["eth0"]
    assert (eth.ifindex, eth.mac, eth.mtu, eth.is_up, eth.carrier) == (2, DRIVER_MAC, 1500, False, False)
    assert bytes(card.mac) == DRIVER_MAC
    with pytest.raises(KeyError, match=r"no network interface 'eth1' \(registered: eth0\)"):
        k.net["eth1"]


def test_up_calls_ndo_open_and_set_rx_mode_and_the_frame_leaves_byte_for_byte(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    assert eth.is_up and eth.carrier and eth.operstate == 6
    assert "eth0: link up" in k.console and [a.handler for a in k.irqs.actions(IRQ)]
    frame = _frame(b"\xff" * 6, bytes(range(46)), b"\x08\x06")
    assert eth.send(frame) == 0
    assert card.wire == [frame]
    stats = eth.stats()
    assert (stats["tx_packets"], stats["tx_bytes"]) == (1, len(frame))
    assert eth.transmitted == 1
    assert k.subsystem(Skbs).live == {}  # the driver freed the skb (dev_consume_skb_any)


def test_received_frames_go_up_through_napi_after_the_irq_handler(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    frame = _frame(DRIVER_MAC, b"hello, stack" + bytes(40))
    card.deliver(frame)
    assert eth.receive() == [frame]
    events = [(e.kind, e.name) for e in k.trace if e.kind in ("irq", "note") and e.name in ("handler", "napi poll")]
    assert events[-2:] == [("irq", "handler"), ("note", "napi poll")]
    got = eth.received  # receive() emptied it
    assert got == []
    card.deliver(_frame(b"\xff" * 6, bytes(50), b"\x08\x06"), _frame(bytes.fromhex("0200000000ff"), bytes(50)))
    assert [(f.protocol, f.pkt_type, f.via) for f in eth.received] == [
        (0x0806, "broadcast", "napi_gro_receive"), (0x0800, "otherhost", "napi_gro_receive")]
    stats = eth.stats()
    assert (stats["rx_packets"], stats["rx_bytes"]) == (3, len(frame) + 2 * 64)


def test_a_poll_takes_at_most_its_weight_and_runs_again_until_done(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    frames = [_frame(DRIVER_MAC, i.to_bytes(2, "big") + bytes(48)) for i in range(40)]
    card.deliver(*frames)
    assert eth.receive() == frames
    polls = [e.fields["weight"] for e in k.trace.of_kind("note") if e.name == "napi poll"]
    assert polls == [16, 16, 16]  # 16 + 16 + 8: the third completes and re-enables the interrupt
    assert card.imr == RX_READY | TX_DONE


def test_a_full_card_stops_the_queue_and_the_qdisc_holds_frames_until_wake(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    card.paused = True
    frames = [_frame(b"\xff" * 6, bytes([i]) * 50) for i in range(5)]
    for frame in frames:
        assert eth.send(frame) == 0
    assert card.held == frames[:2] and eth.queue_stopped and eth.queued == 3
    card.resume()  # TX_DONE: the handler wakes the queue, NET_TX runs the qdisc
    assert card.wire == frames and eth.queued == 0 and not eth.queue_stopped


def test_the_watchdog_calls_ndo_tx_timeout_for_a_queue_stopped_too_long(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    card.paused = True
    for i in range(3):
        eth.send(_frame(b"\xff" * 6, bytes([i]) * 50))
    assert eth.queue_stopped
    # watchdog_timeo is HZ (250 ticks): the check a second after up finds the queue stopped for exactly
    # that long (not yet "after" it), the next one times it out, as dev_watchdog's timer does.
    k.tick(250)
    assert "NETDEV WATCHDOG" not in k.console
    k.tick(250)
    assert "NETDEV WATCHDOG: eth0 (): transmit queue 0 timed out" in k.console
    assert "eth0: transmit queue 0 timed out, resetting the card" in k.console
    assert [e.fields for e in k.trace.of_kind("note") if e.name == "tx timeout"] == [{"name": "eth0", "queue": 0}]
    assert card.held == [_frame(b"\xff" * 6, bytes([2]) * 50)]  # the reset flushed two, the qdisc sent the third


def test_promiscuous_mode_reaches_ndo_set_rx_mode(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    eth.set_promiscuous()
    assert card.promisc == 1 and "device eth0 entered promiscuous mode" in k.console
    eth.set_promiscuous(False)
    assert card.promisc == 0


def test_the_address_changes_through_ndo_set_mac_address_only_while_down(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    new = bytes.fromhex("020000000099")
    with pytest.raises(SandboxError, match="failed with -16"):  # eth_mac_addr: -EBUSY while running
        eth.set_mac(new)
    eth.down()
    with pytest.raises(SandboxError, match="failed with -99"):  # multicast: -EADDRNOTAVAIL
        eth.set_mac(bytes.fromhex("010000000001"))
    eth.set_mac(new)
    assert eth.mac == new and bytes(card.mac) == new


def test_down_runs_ndo_stop_and_unload_is_clean(netdemo: Path) -> None:
    k, _ = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    eth.down()
    assert not eth.is_up and not eth.carrier and k.irqs.actions(IRQ) == []
    eth.up()  # up again, then unload while up: unregister_netdev closes it first
    report = k.unload("netdemo")
    assert report.clean, report.leaks
    assert list(k.net) == [] and k.irqs.actions(IRQ) == []


def test_skb_helpers_behave_as_linux(netdemo: Path) -> None:
    k, _ = _kernel(netdemo)
    ok = k.call(k.module("netdemo").address_of("netdemo_skb_selftest"))
    assert ok == 0x7FF, f"{ok:#x}"
    assert k.subsystem(Skbs).live == {}


def test_ethtool_get_link_follows_the_carrier(netdemo: Path) -> None:
    k, _ = _kernel(netdemo)
    eth = k.net["eth0"]
    ops = k.memory.read_u32(eth.dev + offset("net_device", "ethtool_ops"))
    get_link = k.memory.read_u32(ops + offset("ethtool_ops", "get_link"))
    assert k.call(get_link, eth.dev) == 0
    eth.up()
    assert k.call(get_link, eth.dev) == 1


def test_a_snapshot_restores_interfaces_and_frames(netdemo: Path) -> None:
    k, card = _kernel(netdemo)
    eth = k.net["eth0"]
    eth.up()
    snap = k.snapshot()
    card.deliver(_frame(DRIVER_MAC, bytes(50)))
    assert len(eth.received) == 1
    k.restore(snap)
    assert k.net["eth0"].received == [] and k.net["eth0"].is_up
    frame = _frame(DRIVER_MAC, b"again" + bytes(45))
    card.deliver(frame)
    assert k.net["eth0"].receive() == [frame]


def test_a_double_free_of_an_skb_is_stopped(compile_c) -> None:
    source = r"""
extern void *__alloc_skb(unsigned int size, unsigned int gfp, int flags, int node);
extern void consume_skb(void *skb);
int init_module(void) { void *skb = __alloc_skb(64, 0x820, 0, -1); consume_skb(skb); consume_skb(skb); return 0; }
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""
    k = Kernel("linux", check_vermagic=False)
    with pytest.raises(Exception, match=r"consume_skb of 0x[0-9a-f]+ at .*not a live sk_buff"):
        k.load(compile_c(source, "skbtwice", "-mregparm=3"))


NOTIFIER = r"""
struct notifier_block { int (*notifier_call)(struct notifier_block *, unsigned long, void *); void *next; int priority; };
extern int register_netdevice_notifier(struct notifier_block *nb);
extern int unregister_netdevice_notifier(struct notifier_block *nb);
extern char init_net[];
unsigned long events[16]; int count; char names[4][16];
static int seen(struct notifier_block *nb, unsigned long event, void *ptr)
{
	char *dev = *(char **)ptr;                   /* netdev_notifier_info_to_dev */
	int i;
	if (count < 16)
		events[count] = event;
	if (count < 4)
		for (i = 0; i < 16; i++)
			names[count][i] = dev[i];
	count++;
	return 0;
}
static struct notifier_block nb = { .notifier_call = seen };
int devices_listed;
int init_module(void)
{
	char *head = (char *)&init_net + 0x64, *pos;   /* for_each_netdev(&init_net, dev): dev_base_head */
	for (pos = *(char **)head; pos != head; pos = *(char **)pos)
		devices_listed++;
	return register_netdevice_notifier(&nb);
}
void cleanup_module(void) { unregister_netdevice_notifier(&nb); }
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


def test_netdevice_notifiers_hear_of_existing_devices_and_every_change(netdemo: Path, compile_c) -> None:
    k, _ = _kernel(netdemo)
    m = k.load(compile_c(NOTIFIER, "netwatch", "-mregparm=3"))
    assert k.memory.read_u32(m.address_of("devices_listed")) == 1  # eth0 is on init_net's device list
    eth = k.net["eth0"]
    eth.up()
    eth.down()
    events = [k.memory.read_u32(m.address_of("events") + 4 * i) for i in range(k.memory.read_u32(m.address_of("count")))]
    # NETDEV_REGISTER replayed at registration; PRE_UP, UP, then the link watch's CHANGE for the carrier
    # ndo_open turned on; GOING_DOWN, DOWN (the carrier ndo_stop turned off is seen after IFF_UP is gone).
    assert events == [5, 14, 1, 4, 10, 2]
    assert k.memory.read_cstring(m.address_of("names")) == b"eth0"
    assert k.unload("netwatch").clean


LOOKUPS = r"""
extern char init_net[];
extern void *dev_get_by_name(void *net, const char *name);
extern void *dev_get_by_index(void *net, int ifindex);
extern void *__dev_get_by_name(void *net, const char *name);
extern void *__alloc_skb(unsigned int size, unsigned int gfp, int flags, int node);
extern void kfree_skb_reason(void *skb, int reason);
extern int nla_put(void *skb, int attrtype, int attrlen, const void *data);
void *by_name, *by_index, *missing; int refs_held, refs_after; int put_ok, put_full; unsigned char attr[12];
int init_module(void)
{
	void *skb = __alloc_skb(64, 0x820, 0, -1);
	int **refcnt;
	by_name = dev_get_by_name(init_net, "eth0");
	by_index = dev_get_by_index(init_net, 2);
	missing = __dev_get_by_name(init_net, "eth9");
	refcnt = (int **)((char *)by_name + 784);          /* dev->pcpu_refcnt */
	refs_held = **refcnt;
	(**refcnt) -= 2;                                   /* dev_put twice, as the inline does */
	refs_after = **refcnt;
	put_ok = nla_put(skb, 7, 5, "hello");
	__builtin_memcpy(attr, *(char **)((char *)skb + 172), 12);
	put_full = nla_put(skb, 8, 300, attr);
	kfree_skb_reason(skb, 2);
	return 0;
}
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


def test_device_lookups_take_references_and_nla_put_builds_attributes(netdemo: Path, compile_c) -> None:
    k, _ = _kernel(netdemo)
    m = k.load(compile_c(LOOKUPS, "lookups", "-mregparm=3"))
    dev = k.net["eth0"].dev
    read = lambda name: k.memory.read_u32(m.address_of(name))  # noqa: E731
    assert (read("by_name"), read("by_index"), read("missing")) == (dev, dev, 0)
    assert (read("refs_held"), read("refs_after")) == (3, 1)  # one at allocation, one per lookup
    assert read("put_ok") == 0 and read("put_full") == 0xFFFFFFA6  # -EMSGSIZE: 256 bytes of room (a 512-byte kmalloc block), not 304
    assert k.memory.read(m.address_of("attr"), 12) == b"\x09\x00\x07\x00hello\x00\x00\x00"
