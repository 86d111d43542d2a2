"""Socket buffers (``struct sk_buff``) as Linux 6.1 i386 lays them out and exports their helpers.

An skb is a 192-byte ``struct sk_buff`` (fields from the DWARF table) and a
linear data block: ``head`` .. ``end`` is the buffer, ``data`` .. ``tail``
the bytes in use (on i386 ``tail``/``end`` are pointers, not offsets), and
``struct skb_shared_info`` sits at ``end`` (its ``dataref`` counts the skbs
sharing the block: clones). Drivers do much inline (``skb_reserve``,
``skb_headroom``, ``skb->len``), so the fields must be exactly where Linux
has them. As ``__alloc_skb`` does, the block is sized as kmalloc would
(its bucket: ``ksize``), so tailroom is what a driver would see.

Freeing follows ``kfree_skb_reason``: ``users`` is dropped, the last
reference runs ``skb->destructor``, drops the data block's reference and
frees the struct. Every live skb is known here, so a double free or a free
of something that is not an skb stops with a clear error, and skbs a module
allocated and never freed are reported at unload. Page fragments
(``nr_frags``) are not modelled: only linear skbs exist, and a service
asked to walk fragments says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault, ServiceError
from sandbox.services import service

from .layout import Fields, member, offset, size
from .memory import allocate, release

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

SKB_SIZE = size("sk_buff")
SHINFO_SIZE = size("skb_shared_info")
SMP_CACHE_BYTES = 64  # CONFIG_X86_L1_CACHE_SHIFT=6 in Debian's 686 config
NET_SKB_PAD = 64  # max(32, L1_CACHE_BYTES)
NET_IP_ALIGN = 0  # x86: unaligned loads are cheap
HEADER_UNSET = 0xFFFF  # mac/transport header offsets before they are set

F_HEAD, F_DATA, F_TAIL, F_END = (offset("sk_buff", n) for n in ("head", "data", "tail", "end"))
F_LEN, F_DATA_LEN, F_USERS, F_TRUESIZE = (offset("sk_buff", n) for n in ("len", "data_len", "users", "truesize"))
F_DEV, F_DESTRUCTOR, F_NEXT, F_PREV = (offset("sk_buff", n) for n in ("dev", "destructor", "next", "prev"))
F_MAC, F_NETWORK, F_TRANSPORT = (offset("sk_buff", n) for n in ("mac_header", "network_header", "transport_header"))
INNER_HEADERS = tuple(offset("sk_buff", n) for n in ("inner_mac_header", "inner_network_header",
                                                     "inner_transport_header"))
F_PROTOCOL = offset("sk_buff", "protocol")
SH_DATAREF, SH_NR_FRAGS, SH_FRAG_LIST = (offset("skb_shared_info", n) for n in ("dataref", "nr_frags", "frag_list"))
# Bit-fields, as (byte, bit) of their storage: cloned is bit 16 of the word at 96, pkt_type bits 0-2
# of the word at 100, ip_summed bits 5-6 of it.
CLONED_BYTE, CLONED_BIT = 96 + 16 // 8, 16 % 8
PKT_TYPE_BYTE = 100
CHECKSUM_PARTIAL = 3

# enum skb_drop_reason (6.1), the ones a driver or this stack uses.
SKB_CONSUMED, SKB_DROP_REASON_NOT_SPECIFIED = 1, 2
DROP_REASONS = {1: "CONSUMED", 2: "NOT_SPECIFIED", 3: "NO_SOCKET", 4: "PKT_TOO_SMALL", 9: "OTHERHOST",
                16: "UNHANDLED_PROTO", 42: "QDISC_DROP", 43: "CPU_BACKLOG", 58: "DEV_READY"}
SKB_REASON_CONSUMED, SKB_REASON_DROPPED = 0, 1  # enum skb_free_reason of __dev_kfree_skb_irq/any


def ksize(n: int) -> int:
    """What kmalloc really gives for ``n`` bytes: its size class (8..8192 powers of two, 96, 192)."""
    if n <= 8:
        return 8
    if 64 < n <= 96:
        return 96
    if 128 < n <= 192:
        return 192
    return 1 << (n - 1).bit_length() if n <= 8192 else (n + 0xFFF) & ~0xFFF


def data_align(n: int) -> int:
    """SKB_DATA_ALIGN: up to a cache line."""
    return (n + SMP_CACHE_BYTES - 1) & ~(SMP_CACHE_BYTES - 1)


@dataclass(slots=True)
class SkbRecord:
    """One live sk_buff: who allocated it (for the leak report)."""

    owner: str
    allocated_at: str


@dataclass
class Skbs:
    """Every live sk_buff of one kernel, by address."""

    live: dict[int, SkbRecord] = field(default_factory=dict)
    freed: int = 0
    dropped: int = 0

    def clone(self) -> Skbs:
        """A copy for snapshots."""
        return Skbs(dict(self.live), self.freed, self.dropped)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """skbs the module allocated and never freed nor handed to the stack."""
        leaks = []
        for skb, record in list(self.live.items()):
            if record.owner == module.name:
                leaks.append(f"sk_buff {skb:#x} allocated at {record.allocated_at} never freed")
                del self.live[skb]
        return leaks


# -- reading and writing the struct ----------------------------------------------------------

class Skb:
    """Named access to one sk_buff in guest memory (a Python-side view)."""

    __slots__ = ("address", "k")

    def __init__(self, k: Kernel, address: int) -> None:
        self.k = k
        self.address = address

    def _u32(self, where: int) -> int:
        return self.k.memory.read_u32(self.address + where)

    def _set32(self, where: int, value: int) -> None:
        self.k.memory.write_u32(self.address + where, value & 0xFFFFFFFF)

    def _u16(self, where: int) -> int:
        return int.from_bytes(self.k.memory.read(self.address + where, 2), "little")

    def _set16(self, where: int, value: int) -> None:
        self.k.memory.write(self.address + where, (value & 0xFFFF).to_bytes(2, "little"))

    head = property(lambda s: s._u32(F_HEAD), lambda s, v: s._set32(F_HEAD, v))
    data = property(lambda s: s._u32(F_DATA), lambda s, v: s._set32(F_DATA, v))
    tail = property(lambda s: s._u32(F_TAIL), lambda s, v: s._set32(F_TAIL, v))
    end = property(lambda s: s._u32(F_END), lambda s, v: s._set32(F_END, v))
    len = property(lambda s: s._u32(F_LEN), lambda s, v: s._set32(F_LEN, v))
    data_len = property(lambda s: s._u32(F_DATA_LEN), lambda s, v: s._set32(F_DATA_LEN, v))
    users = property(lambda s: s._u32(F_USERS), lambda s, v: s._set32(F_USERS, v))
    dev = property(lambda s: s._u32(F_DEV), lambda s, v: s._set32(F_DEV, v))
    protocol = property(lambda s: s._u16(F_PROTOCOL), lambda s, v: s._set16(F_PROTOCOL, v))
    mac_header = property(lambda s: s._u16(F_MAC), lambda s, v: s._set16(F_MAC, v))
    network_header = property(lambda s: s._u16(F_NETWORK), lambda s, v: s._set16(F_NETWORK, v))

    @property
    def shinfo(self) -> int:
        """Address of the skb_shared_info (at ``end``)."""
        return self.end

    @property
    def cloned(self) -> bool:
        return bool(self.k.memory.read(self.address + CLONED_BYTE, 1)[0] >> CLONED_BIT & 1)

    @cloned.setter
    def cloned(self, value: bool) -> None:
        byte = self.k.memory.read(self.address + CLONED_BYTE, 1)[0]
        byte = byte | 1 << CLONED_BIT if value else byte & ~(1 << CLONED_BIT)
        self.k.memory.write(self.address + CLONED_BYTE, bytes([byte]))

    @property
    def pkt_type(self) -> int:
        return self.k.memory.read(self.address + PKT_TYPE_BYTE, 1)[0] & 7

    @pkt_type.setter
    def pkt_type(self, value: int) -> None:
        byte = self.k.memory.read(self.address + PKT_TYPE_BYTE, 1)[0]
        self.k.memory.write(self.address + PKT_TYPE_BYTE, bytes([(byte & ~7) | (value & 7)]))

    @property
    def ip_summed(self) -> int:
        return self.k.memory.read(self.address + PKT_TYPE_BYTE, 1)[0] >> 5 & 3

    @property
    def headroom(self) -> int:
        return self.data - self.head

    @property
    def tailroom(self) -> int:
        return self.end - self.tail

    @property
    def dataref(self) -> int:
        return self.k.memory.read_u32(self.shinfo + SH_DATAREF)

    @dataref.setter
    def dataref(self, value: int) -> None:
        self.k.memory.write_u32(self.shinfo + SH_DATAREF, value)

    def payload(self) -> bytes:
        """The bytes from ``data`` to ``tail`` (a linear skb's contents)."""
        return self.k.memory.read(self.data, self.tail - self.data)

    def frame(self) -> bytes:
        """The frame from the MAC header (if set) to ``tail``."""
        mac = self.mac_header
        start = self.head + mac if mac != HEADER_UNSET else self.data
        return self.k.memory.read(start, self.tail - start)


def _where(k: Kernel) -> str:
    caller = k.current_caller
    return k.symbolizer.short(caller) if caller else "the host"


def _owner(k: Kernel) -> str:
    module = k.caller_module() if k.current_caller else None
    return module.name if module is not None else "kernel"


def live_skb(k: Kernel, skb: int, what: str) -> Skb:
    """The skb at ``skb``, or a fault naming the call if it is not a live sk_buff."""
    if skb not in k.subsystem(Skbs).live:
        raise GuestFault("bad-skb", f"{what} of {skb:#x} at {_where(k)}: not a live sk_buff "
                         "(freed already, or never allocated by __alloc_skb)", pc=k.current_caller, address=skb)
    return Skb(k, skb)


# -- allocation ---------------------------------------------------------------------------------

def alloc_skb(k: Kernel, length: int, owner: str | None = None) -> int:
    """__alloc_skb: a zeroed sk_buff with a ``length``-byte (at least) linear buffer; 0 if impossible."""
    if length < 0 or length > 1 << 20:
        return 0
    skb = allocate(k, SKB_SIZE, owner="kernel")
    if not skb:
        return 0
    want = data_align(length) + data_align(SHINFO_SIZE)
    block = allocate(k, ksize(want), owner="kernel")
    if not block:
        release(k, skb)
        return 0
    room = ksize(want) - data_align(SHINFO_SIZE)  # SKB_WITH_OVERHEAD(ksize(data))
    s = Skb(k, skb)
    s.head = s.data = s.tail = block
    s.end = block + room
    k.memory.write_u32(skb + F_TRUESIZE, room + data_align(SKB_SIZE) + data_align(SHINFO_SIZE))
    s.users = 1
    s.mac_header = HEADER_UNSET
    k.memory.write(skb + F_TRANSPORT, HEADER_UNSET.to_bytes(2, "little"))
    s.dataref = 1
    k.subsystem(Skbs).live[skb] = SkbRecord(owner or _owner(k), _where(k))
    return skb


@service("struct sk_buff *__alloc_skb(unsigned int size, gfp_t gfp_mask, int flags, int node)")
def __alloc_skb(k: Kernel, size_: int, gfp: int, flags: int, node: int) -> int:
    """A new skb with ``size`` bytes of linear room (alloc_skb())."""
    return alloc_skb(k, size_)


def _reserve(k: Kernel, skb: int, length: int) -> None:
    s = Skb(k, skb)
    s.data = s.data + length
    s.tail = s.tail + length


@service("struct sk_buff *__netdev_alloc_skb(struct net_device *dev, unsigned int length, gfp_t gfp_mask)")
def __netdev_alloc_skb(k: Kernel, dev: int, length: int, gfp: int) -> int:
    """An rx skb: ``length`` bytes after NET_SKB_PAD of headroom, ``skb->dev`` set."""
    skb = alloc_skb(k, length + NET_SKB_PAD)
    if skb:
        _reserve(k, skb, NET_SKB_PAD)
        Skb(k, skb).dev = dev
    return skb


@service("struct sk_buff *__napi_alloc_skb(struct napi_struct *napi, unsigned int len, gfp_t gfp_mask)")
def __napi_alloc_skb(k: Kernel, napi: int, length: int, gfp: int) -> int:
    """As __netdev_alloc_skb for a NAPI poll: NET_SKB_PAD + NET_IP_ALIGN headroom, dev from the napi."""
    skb = alloc_skb(k, length + NET_SKB_PAD + NET_IP_ALIGN)
    if skb:
        _reserve(k, skb, NET_SKB_PAD + NET_IP_ALIGN)
        Skb(k, skb).dev = Fields(k.memory, "napi_struct", napi)["dev"]
    return skb


# -- freeing ------------------------------------------------------------------------------------

def free_skb(k: Kernel, skb: int, reason: int) -> None:
    """kfree_skb_reason's work: drop a reference; the last one releases the skb."""
    s = live_skb(k, skb, "kfree_skb" if reason != SKB_CONSUMED else "consume_skb")
    users = s.users
    if users > 1:
        s.users = users - 1
        return
    state = k.subsystem(Skbs)
    if reason != SKB_CONSUMED:
        state.dropped += 1
        k.trace.add("note", "skb drop", caller=k.current_caller,
                    fields={"skb": skb, "reason": DROP_REASONS.get(reason, str(reason)), "len": s.len})
    destructor = k.memory.read_u32(skb + F_DESTRUCTOR)
    if destructor:
        k.call_function_pointer(destructor, skb)
    _release_data(k, s)
    del state.live[skb]
    state.freed += 1
    release(k, skb)


def _release_data(k: Kernel, s: Skb) -> None:
    """skb_release_data: the block goes when its last sharer (clone) lets go."""
    head = s.head
    if not head:
        return
    refs = s.dataref
    if refs > 1:
        s.dataref = refs - 1
        return
    frag_list = k.memory.read_u32(s.shinfo + SH_FRAG_LIST)
    if frag_list:
        kfree_skb_list_reason(k, frag_list, SKB_CONSUMED)
    release(k, head)


@service("void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason)")
def kfree_skb_reason(k: Kernel, skb: int, reason: int) -> None:
    """Drop a reference to ``skb`` (a drop: traced with its reason); NULL is ignored."""
    if skb:
        free_skb(k, skb, reason)


@service("void kfree_skb_list_reason(struct sk_buff *segs, enum skb_drop_reason reason)")
def kfree_skb_list_reason(k: Kernel, segs: int, reason: int) -> None:
    """Free a ->next-linked list of skbs."""
    while segs:
        following = k.memory.read_u32(segs + F_NEXT)
        free_skb(k, segs, reason)
        segs = following


@service("void consume_skb(struct sk_buff *skb)")
def consume_skb(k: Kernel, skb: int) -> None:
    """Free ``skb`` after successful use (not a drop)."""
    if skb:
        free_skb(k, skb, SKB_CONSUMED)


@service("void __dev_kfree_skb_irq(struct sk_buff *skb, enum skb_free_reason reason)")
def __dev_kfree_skb_irq(k: Kernel, skb: int, reason: int) -> None:
    """Free from hard-IRQ context: the skb goes to the completion queue, freed in NET_TX softirq."""
    if not skb:
        return
    s = live_skb(k, skb, "__dev_kfree_skb_irq")
    if s.users > 1:
        s.users = s.users - 1
        return
    from .napi import Softnet

    Softnet.of(k).completion.append((skb, SKB_CONSUMED if reason == SKB_REASON_CONSUMED else SKB_DROP_REASON_NOT_SPECIFIED))
    Softnet.of(k).raise_softirq(k)


@service("void __dev_kfree_skb_any(struct sk_buff *skb, enum skb_free_reason reason)")
def __dev_kfree_skb_any(k: Kernel, skb: int, reason: int) -> None:
    """In hard IRQ context or with interrupts off, as __dev_kfree_skb_irq; else freed now."""
    if k.kernel.interrupts.in_service or not k.kernel.interrupts.guest_enabled():
        __dev_kfree_skb_irq(k, skb, reason)
    elif skb:
        free_skb(k, skb, SKB_CONSUMED if reason == SKB_REASON_CONSUMED else SKB_DROP_REASON_NOT_SPECIFIED)


# -- data area ----------------------------------------------------------------------------------

def _panic(k: Kernel, kind: str, s: Skb, length: int) -> None:
    dev = s.dev
    name = k.memory.read_cstring(dev, 16).decode("utf-8", "replace") if dev else "<NULL>"
    raise GuestFault(kind, f"{kind.replace('-', '_')}: text:{_where(k)} len:{s.len} put:{length} head:{s.head:#x} "
                     f"data:{s.data:#x} tail:{s.tail:#x} end:{s.end:#x} dev:{name}", pc=k.current_caller,
                     address=s.address)


@service("void *skb_put(struct sk_buff *skb, unsigned int len)")
def skb_put(k: Kernel, skb: int, length: int) -> int:
    """Extend the data at the tail by ``len``; returns where the new bytes go (skb_over_panic past end)."""
    s = live_skb(k, skb, "skb_put")
    tail = s.tail
    if s.data_len:
        raise GuestFault("skb-put-nonlinear", f"skb_put on a nonlinear skb {skb:#x} at {_where(k)} (SKB_LINEAR_ASSERT)",
                         pc=k.current_caller, address=skb)
    if tail + length > s.end:
        _panic(k, "skb-over-panic", s, length)
    s.tail = tail + length
    s.len = s.len + length
    return tail


@service("void *skb_push(struct sk_buff *skb, unsigned int len)")
def skb_push(k: Kernel, skb: int, length: int) -> int:
    """Extend the data at the front by ``len`` (skb_under_panic below head); returns the new data."""
    s = live_skb(k, skb, "skb_push")
    data = s.data - length
    if data < s.head:
        _panic(k, "skb-under-panic", s, length)
    s.data = data
    s.len = s.len + length
    return data


@service("void *skb_pull(struct sk_buff *skb, unsigned int len)")
def skb_pull(k: Kernel, skb: int, length: int) -> int:
    """Remove ``len`` bytes from the front; NULL if the skb is shorter."""
    s = live_skb(k, skb, "skb_pull")
    if length > s.len:
        return 0
    if s.len - length < s.data_len:
        raise GuestFault("skb-pull-nonlinear", f"skb_pull past the linear part of {skb:#x} at {_where(k)}",
                         pc=k.current_caller, address=skb)
    s.len = s.len - length
    s.data = s.data + length
    return s.data


@service("void *skb_pull_data(struct sk_buff *skb, size_t len)")
def skb_pull_data(k: Kernel, skb: int, length: int) -> int:
    """skb_pull returning the old data pointer (the bytes pulled), or NULL."""
    data = live_skb(k, skb, "skb_pull_data").data
    return data if skb_pull(k, skb, length) or length == 0 else 0


@service("void skb_trim(struct sk_buff *skb, unsigned int len)")
def skb_trim(k: Kernel, skb: int, length: int) -> None:
    """Cut the data to ``len`` bytes (nothing if already shorter)."""
    s = live_skb(k, skb, "skb_trim")
    if s.len > length:
        if s.data_len:
            k.warn(f"skb_trim of a nonlinear skb {skb:#x} at {_where(k)}")
            return
        s.len = length
        s.tail = s.data + length


def _linear(k: Kernel, s: Skb, what: str) -> None:
    if s.data_len or k.memory.read(s.shinfo + SH_NR_FRAGS, 1)[0]:
        raise ServiceError(f"{what} at {_where(k)}: skb {s.address:#x} has page fragments, which this "
                           "kernel does not model (only linear skbs)")


@service("int skb_copy_bits(const struct sk_buff *skb, int offset, void *to, int len)")
def skb_copy_bits(k: Kernel, skb: int, start: int, to: int, length: int) -> int:
    """Copy ``len`` bytes from ``offset`` in the skb's data; -EFAULT past its end."""
    s = live_skb(k, skb, "skb_copy_bits")
    start, length = _signed(start), _signed(length)
    if start > s.len - length or start < 0 or length < 0:
        return -14
    _linear(k, s, "skb_copy_bits")
    k.memory.write(to, k.memory.read(s.data + start, length))
    return 0


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def _csum(data: bytes) -> int:
    """The ones' complement sum as csum_partial folds it (16 bits)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@service("void skb_copy_and_csum_dev(const struct sk_buff *skb, u8 *to)")
def skb_copy_and_csum_dev(k: Kernel, skb: int, to: int) -> None:
    """Copy the whole frame to ``to``; for CHECKSUM_PARTIAL, fill in the checksum the stack left to do."""
    s = live_skb(k, skb, "skb_copy_and_csum_dev")
    _linear(k, s, "skb_copy_and_csum_dev")
    data = bytearray(s.payload())
    if s.ip_summed == CHECKSUM_PARTIAL:
        start = int.from_bytes(k.memory.read(skb + offset("sk_buff", "csum_start"), 2), "little") - s.headroom
        where = start + int.from_bytes(k.memory.read(skb + offset("sk_buff", "csum_offset"), 2), "little")
        if 0 <= start < len(data) and where + 2 <= len(data):
            data[where:where + 2] = b"\0\0"
            folded = ~_csum(bytes(data[start:])) & 0xFFFF
            data[where:where + 2] = (folded or 0xFFFF).to_bytes(2, "little")
    k.memory.write(to, bytes(data))


@service("int __skb_pad(struct sk_buff *skb, int pad, bool free_on_error)")
def __skb_pad(k: Kernel, skb: int, pad: int, free_on_error: int) -> int:
    """Zero ``pad`` bytes after the data, growing the buffer if needed; -ENOMEM (skb freed if asked)."""
    s = live_skb(k, skb, "__skb_pad")
    pad = _signed(pad)
    if (s.cloned or s.tailroom < pad) and pskb_expand_head(k, skb, 0, max(pad - s.tailroom, 0), 0):
        if free_on_error & 0xFF:
            free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
        return -12
    k.memory.write(s.data + s.len, bytes(max(pad, 0)))
    return 0


# -- copies and clones --------------------------------------------------------------------------

def _headers_offset_update(k: Kernel, skb: int, delta: int) -> None:
    """skb_headers_offset_update: the header offsets move with the data."""
    for where in (F_MAC, F_NETWORK, F_TRANSPORT, *INNER_HEADERS):
        value = int.from_bytes(k.memory.read(skb + where, 2), "little")
        if where in (F_MAC, F_TRANSPORT) and value == HEADER_UNSET:
            continue
        k.memory.write(skb + where, ((value + delta) & 0xFFFF).to_bytes(2, "little"))


# Header fields __copy_skb_header copies: everything but the list links, socket, destructor,
# users and the buffer pointers (which the caller sets).
_COPIED = tuple(member("sk_buff", name) for name in (
    "tstamp", "cb", "_skb_refdst", "priority", "protocol", "skb_iif", "hash", "vlan_proto", "vlan_tci", "mark",
    "queue_mapping", "headers", "mac_len", "hdr_len", "csum", "dev", "inner_protocol"))


def _copy_header(k: Kernel, new: int, old: int) -> None:
    for where, width in _COPIED:
        k.memory.write(new + where, k.memory.read(old + where, width))


@service("struct sk_buff *skb_clone(struct sk_buff *skb, gfp_t gfp_mask)")
def skb_clone(k: Kernel, skb: int, gfp: int) -> int:
    """A new sk_buff sharing ``skb``'s data block (both marked cloned, dataref counted)."""
    s = live_skb(k, skb, "skb_clone")
    new = allocate(k, SKB_SIZE, owner="kernel")
    if not new:
        return 0
    _copy_header(k, new, skb)
    n = Skb(k, new)
    for where in (F_HEAD, F_DATA, F_TAIL, F_END, F_LEN, F_DATA_LEN, F_TRUESIZE):
        k.memory.write_u32(new + where, k.memory.read_u32(skb + where))
    n.users = 1
    n.cloned = True
    s.cloned = True
    s.dataref = s.dataref + 1
    k.subsystem(Skbs).live[new] = SkbRecord(_owner(k), _where(k))
    return new


def _copy_into_new(k: Kernel, s: Skb, headroom: int, tailroom: int) -> int:
    """A private linear copy of ``s`` with the given head/tail room; header offsets kept relative."""
    new = alloc_skb(k, headroom + s.len + tailroom, _owner(k))
    if not new:
        return 0
    _reserve(k, new, headroom)
    old_headroom = s.headroom
    keep = min(old_headroom, headroom)  # copy the headers in front of the data too, as far as they fit
    n = Skb(k, new)
    k.memory.write(n.data - keep, k.memory.read(s.data - keep, keep + s.len))
    n.tail = n.data + s.len
    n.len = s.len
    _copy_header(k, new, s.address)
    _headers_offset_update(k, new, headroom - old_headroom)
    return new


@service("struct sk_buff *skb_copy(const struct sk_buff *skb, gfp_t gfp_mask)")
def skb_copy(k: Kernel, skb: int, gfp: int) -> int:
    """A private copy of ``skb``, data and headers, with the same headroom."""
    s = live_skb(k, skb, "skb_copy")
    _linear(k, s, "skb_copy")
    return _copy_into_new(k, s, s.headroom, s.tailroom)


@service("struct sk_buff *skb_copy_expand(const struct sk_buff *skb, int newheadroom, int newtailroom, gfp_t priority)")
def skb_copy_expand(k: Kernel, skb: int, newheadroom: int, newtailroom: int, gfp: int) -> int:
    """A private copy with ``newheadroom``/``newtailroom`` bytes of room."""
    s = live_skb(k, skb, "skb_copy_expand")
    _linear(k, s, "skb_copy_expand")
    return _copy_into_new(k, s, max(_signed(newheadroom), 0), max(_signed(newtailroom), 0))


@service("struct sk_buff *__pskb_copy_fclone(struct sk_buff *skb, int headroom, gfp_t gfp_mask, bool fclone)")
def __pskb_copy_fclone(k: Kernel, skb: int, headroom: int, gfp: int, fclone: int) -> int:
    """pskb_copy(): a copy of the (linear) data with ``headroom`` bytes in front."""
    s = live_skb(k, skb, "pskb_copy")
    _linear(k, s, "pskb_copy")
    return _copy_into_new(k, s, max(_signed(headroom), 0), s.tailroom)


@service("int pskb_expand_head(struct sk_buff *skb, int nhead, int ntail, gfp_t gfp_mask)")
def pskb_expand_head(k: Kernel, skb: int, nhead: int, ntail: int, gfp: int) -> int:
    """Reallocate the data block with ``nhead``/``ntail`` more bytes of room; the skb is no longer cloned."""
    s = live_skb(k, skb, "pskb_expand_head")
    nhead, ntail = _signed(nhead), _signed(ntail)
    if nhead < 0 or s.users > 1:
        raise GuestFault("pskb-expand-head", f"pskb_expand_head of {'a shared' if s.users > 1 else 'negative room for'} "
                         f"skb {skb:#x} at {_where(k)} (BUG_ON)", pc=k.current_caller, address=skb)
    old_head, used = s.head, s.tail - s.head
    want = data_align(nhead + (s.end - old_head) + ntail) + data_align(SHINFO_SIZE)
    block = allocate(k, ksize(want), owner="kernel")
    if not block:
        return -12
    room = ksize(want) - data_align(SHINFO_SIZE)
    k.memory.write(block + nhead, k.memory.read(old_head, used))
    k.memory.write(block + room, k.memory.read(s.shinfo, SH_DATAREF))
    delta = block + nhead - old_head
    _release_data(k, s)
    s.head = block
    s.data = s.data + delta
    s.tail = s.tail + delta
    s.end = block + room
    _headers_offset_update(k, skb, nhead)
    s.cloned = False
    s.dataref = 1
    return 0


@service("struct sk_buff *skb_realloc_headroom(struct sk_buff *skb, unsigned int headroom)")
def skb_realloc_headroom(k: Kernel, skb: int, headroom: int) -> int:
    """A copy of ``skb`` with at least ``headroom`` bytes in front (the original is untouched)."""
    s = live_skb(k, skb, "skb_realloc_headroom")
    _linear(k, s, "skb_realloc_headroom")
    return _copy_into_new(k, s, max(headroom, s.headroom), s.tailroom)


@service("int skb_ensure_writable(struct sk_buff *skb, unsigned int write_len)")
def skb_ensure_writable(k: Kernel, skb: int, write_len: int) -> int:
    """Make the first ``write_len`` bytes private and linear: 0, or -ENOMEM past the data."""
    s = live_skb(k, skb, "skb_ensure_writable")
    if write_len > s.len - s.data_len:
        return -12
    if not s.cloned or s.dataref == 1:
        return 0
    return pskb_expand_head(k, skb, 0, 0, 0)


@service("void *__pskb_pull_tail(struct sk_buff *skb, int delta)")
def __pskb_pull_tail(k: Kernel, skb: int, delta: int) -> int:
    """Move ``delta`` bytes of fragments into the linear part (only linear skbs exist: none to move)."""
    s = live_skb(k, skb, "__pskb_pull_tail")
    _linear(k, s, "__pskb_pull_tail")
    return s.tail if _signed(delta) <= 0 else 0


# -- timestamps: no PHY timestamper, no socket here ---------------------------------------------

@service("void skb_clone_tx_timestamp(struct sk_buff *skb)")
def skb_clone_tx_timestamp(k: Kernel, skb: int) -> None:
    """skb_tx_timestamp's PHY half: only PHYs with a timestamper clone the skb; none here has one."""


@service("bool skb_defer_rx_timestamp(struct sk_buff *skb)")
def skb_defer_rx_timestamp(k: Kernel, skb: int) -> int:
    """Whether a PHY timestamper keeps the skb: false (no PHY timestamps)."""
    return 0


@service("void skb_tstamp_tx(struct sk_buff *orig_skb, struct skb_shared_hwtstamps *hwtstamps)")
def skb_tstamp_tx(k: Kernel, orig_skb: int, hwtstamps: int) -> None:
    """Report a transmit timestamp to the sending socket; stack frames here have no socket."""


# -- queues (struct sk_buff_head: next 0, prev 4, qlen 8, lock 12) -------------------------------
QLEN = offset("sk_buff_head", "qlen")


def _link(k: Kernel, new: int, prev: int, following: int, head: int) -> None:
    mem = k.memory
    mem.write_u32(new + F_NEXT, following)
    mem.write_u32(new + F_PREV, prev)
    mem.write_u32(following + F_PREV, new)
    mem.write_u32(prev + F_NEXT, new)
    mem.write_u32(head + QLEN, mem.read_u32(head + QLEN) + 1)


def _unlink(k: Kernel, skb: int, head: int) -> None:
    mem = k.memory
    mem.write_u32(head + QLEN, mem.read_u32(head + QLEN) - 1)
    following, prev = mem.read_u32(skb + F_NEXT), mem.read_u32(skb + F_PREV)
    mem.write_u32(skb + F_NEXT, 0)
    mem.write_u32(skb + F_PREV, 0)
    mem.write_u32(following + F_PREV, prev)
    mem.write_u32(prev + F_NEXT, following)


@service("void skb_queue_tail(struct sk_buff_head *list, struct sk_buff *newsk)")
def skb_queue_tail(k: Kernel, head: int, newsk: int) -> None:
    """Append to a queue."""
    live_skb(k, newsk, "skb_queue_tail")
    _link(k, newsk, k.memory.read_u32(head + 4), head, head)


@service("void skb_queue_head(struct sk_buff_head *list, struct sk_buff *newsk)")
def skb_queue_head(k: Kernel, head: int, newsk: int) -> None:
    """Prepend to a queue."""
    live_skb(k, newsk, "skb_queue_head")
    _link(k, newsk, head, k.memory.read_u32(head), head)


@service("struct sk_buff *skb_dequeue(struct sk_buff_head *list)")
def skb_dequeue(k: Kernel, head: int) -> int:
    """Take the first skb off a queue, or NULL."""
    first = k.memory.read_u32(head)
    if first == head or not first:
        return 0
    _unlink(k, first, head)
    return first


@service("struct sk_buff *skb_dequeue_tail(struct sk_buff_head *list)")
def skb_dequeue_tail(k: Kernel, head: int) -> int:
    """Take the last skb off a queue, or NULL."""
    last = k.memory.read_u32(head + 4)
    if last == head or not last:
        return 0
    _unlink(k, last, head)
    return last


@service("void skb_unlink(struct sk_buff *skb, struct sk_buff_head *list)")
def skb_unlink(k: Kernel, skb: int, head: int) -> None:
    """Remove ``skb`` from the queue it is on."""
    _unlink(k, skb, head)


@service("void skb_queue_purge(struct sk_buff_head *list)")
def skb_queue_purge(k: Kernel, head: int) -> None:
    """Dequeue and free (as drops) every skb on a queue."""
    while True:
        skb = skb_dequeue(k, head)
        if not skb:
            return
        free_skb(k, skb, SKB_DROP_REASON_NOT_SPECIFIED)
