"""Netlink messages as bytes: what a user-space program writes to and reads from a netlink socket.

Pure functions and small records, no guest memory: tests and the Python
sockets of :mod:`kernel_stubs.linux.netlink_core` use them to speak the
wire format of ``<linux/netlink.h>`` (``struct nlmsghdr``: len u32, type
u16, flags u16, seq u32, pid u32; payload padded to NLMSG_ALIGNTO, 4) and
of attributes (``struct nlattr``: len u16, type u16, payload padded to 4),
little-endian as on i386.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

NLMSG_HDRLEN, NLA_HDRLEN, GENL_HDRLEN = 16, 4, 4
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN, NLMSG_MIN_TYPE = 1, 2, 3, 4, 0x10
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_ROOT, NLM_F_MATCH = 0x100, 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # flags of an NLMSG_ERROR
NLA_F_NESTED, NLA_F_NET_BYTEORDER = 0x8000, 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF
NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS = 1, 2

_HDR = struct.Struct("<IHHII")


def align(n: int) -> int:
    """NLMSG_ALIGN / NLA_ALIGN: up to a multiple of 4."""
    return (n + 3) & ~3


def nlmsg(msg_type: int, payload: bytes = b"", flags: int = NLM_F_REQUEST, seq: int = 0, portid: int = 0) -> bytes:
    """One netlink message: header, payload, padding to 4 (``nlmsg_len`` counts the payload, not the pad)."""
    length = NLMSG_HDRLEN + len(payload)
    return _HDR.pack(length, msg_type, flags, seq, portid) + payload + bytes(align(length) - length)


def nla(attr_type: int, payload: bytes | Iterable[bytes] = b"", nested: bool = False) -> bytes:
    """One attribute; ``payload`` may be attributes to nest (``nested=True`` sets NLA_F_NESTED)."""
    body = payload if isinstance(payload, bytes | bytearray) else b"".join(payload)
    length = NLA_HDRLEN + len(body)
    kind = attr_type | (NLA_F_NESTED if nested else 0)
    return struct.pack("<HH", length, kind) + bytes(body) + bytes(align(length) - length)


def nla_u8(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("<B", value))


def nla_u16(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("<H", value))


def nla_u32(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("<I", value))


def nla_u64(attr_type: int, value: int) -> bytes:
    return nla(attr_type, struct.pack("<Q", value))


def nla_string(attr_type: int, text: str) -> bytes:
    """A NUL-terminated string attribute (nla_put_string)."""
    return nla(attr_type, text.encode() + b"\0")


def genlmsg(family: int, cmd: int, attrs: Iterable[bytes] = (), version: int = 1, flags: int = NLM_F_REQUEST,
            seq: int = 0, header: bytes = b"") -> bytes:
    """A generic netlink request: nlmsghdr, genlmsghdr (cmd, version, reserved 0), family header, attributes."""
    return nlmsg(family, struct.pack("<BBH", cmd, version, 0) + header + b"".join(attrs), flags, seq)


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute read back: its type (flags stripped), whether NLA_F_NESTED was set, its payload."""

    type: int
    data: bytes
    nested_flag: bool = False

    @property
    def u8(self) -> int:
        return self.data[0]

    @property
    def u16(self) -> int:
        return int.from_bytes(self.data[:2], "little")

    @property
    def u32(self) -> int:
        return int.from_bytes(self.data[:4], "little")

    @property
    def u64(self) -> int:
        return int.from_bytes(self.data[:8], "little")

    @property
    def string(self) -> str:
        """The payload up to its NUL."""
        return self.data.split(b"\0", 1)[0].decode("utf-8", "replace")

    def attrs(self) -> Attrs:
        """The attributes nested in this one."""
        return parse_attrs(self.data)


class Attrs(list[Attr]):
    """Attributes in wire order, with lookup by type (the first of a type, as nla_find)."""

    def get(self, attr_type: int) -> Attr | None:
        """The first attribute of ``attr_type``, or None."""
        return next((a for a in self if a.type == attr_type), None)

    def by_type(self) -> dict[int, Attr]:
        """The last attribute of each type, as nla_parse fills its table."""
        return {a.type: a for a in self}


def parse_attrs(data: bytes) -> Attrs:
    """The attributes in ``data`` as nla_for_each_attr walks them; trailing bytes too short for one are ignored."""
    out = Attrs()
    at = 0
    while len(data) - at >= NLA_HDRLEN:
        length, kind = struct.unpack_from("<HH", data, at)
        if length < NLA_HDRLEN or length > len(data) - at:
            break
        out.append(Attr(kind & NLA_TYPE_MASK, bytes(data[at + NLA_HDRLEN:at + length]), bool(kind & NLA_F_NESTED)))
        at += align(length)
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """One netlink message read back from a socket."""

    type: int
    flags: int
    seq: int
    portid: int
    payload: bytes

    @property
    def error(self) -> int | None:
        """For NLMSG_ERROR: the (negative) errno, 0 for an ACK; for NLMSG_DONE: the dump's result; else None."""
        if self.type in (NLMSG_ERROR, NLMSG_DONE) and len(self.payload) >= 4:
            return struct.unpack_from("<i", self.payload)[0]
        return None

    @property
    def ext_ack(self) -> Attrs:
        """An NLMSG_ERROR's extended-ACK attributes (NLM_F_ACK_TLVS): NLMSGERR_ATTR_MSG, ..._OFFS."""
        if self.type != NLMSG_ERROR or not self.flags & NLM_F_ACK_TLVS:
            return Attrs()
        inner = NLMSG_HDRLEN if self.flags & NLM_F_CAPPED else struct.unpack_from("<I", self.payload, 4)[0]
        return parse_attrs(self.payload[4 + align(inner):])

    @property
    def genl_cmd(self) -> int:
        """A generic netlink message's command (the genlmsghdr's first byte)."""
        return self.payload[0]

    def attrs(self, header: int = 0) -> Attrs:
        """The attributes after ``header`` bytes of payload (GENL_HDRLEN + the family header for genl)."""
        return parse_attrs(self.payload[align(header):])


def parse_messages(data: bytes) -> list[Message]:
    """The messages in one datagram, as NLMSG_OK/NLMSG_NEXT walk them."""
    out = []
    at = 0
    while len(data) - at >= NLMSG_HDRLEN:
        length, kind, flags, seq, portid = _HDR.unpack_from(data, at)
        if length < NLMSG_HDRLEN or length > len(data) - at:
            break
        out.append(Message(kind, flags, seq, portid, bytes(data[at + NLMSG_HDRLEN:at + length])))
        at += align(length)
    return out


def iter_messages(datagrams: Iterable[bytes]) -> Iterator[Message]:
    """Every message of several datagrams, in order."""
    for datagram in datagrams:
        yield from parse_messages(datagram)
