"""Netlink attributes (lib/nlattr.c) as Linux 6.1 builds them into an skb.

A ``struct nlattr`` is ``nla_len`` (u16: header + payload), ``nla_type``
(u16), then the payload, padded to NLA_ALIGNTO (4) with zeros.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .skbuff import live_skb, skb_put

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

NLA_HDRLEN, NLA_ALIGNTO = 4, 4
MAX_STRING = 1 << 20  # no attribute string buffer is bigger; a larger size is a driver bug
EMSGSIZE, E2BIG = 90, 7


def _align(n: int) -> int:
    return (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1)


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


@service("int nla_put(struct sk_buff *skb, int attrtype, int attrlen, const void *data)")
def nla_put(k: Kernel, skb: int, attrtype: int, attrlen: int, data: int) -> int:
    """Append an attribute: -EMSGSIZE if the skb's tailroom cannot hold it (header, payload, padding)."""
    attrlen = _signed(attrlen)
    total = _align(NLA_HDRLEN + attrlen)
    s = live_skb(k, skb, "nla_put")
    if attrlen < 0 or s.tailroom < total:
        return -EMSGSIZE
    at = skb_put(k, skb, total)
    payload = k.memory.read(data, attrlen) if attrlen else b""
    k.memory.write(at, (NLA_HDRLEN + attrlen).to_bytes(2, "little") + (attrtype & 0xFFFF).to_bytes(2, "little")
                   + payload + bytes(total - NLA_HDRLEN - attrlen))
    return 0


@service("int nla_put_64bit(struct sk_buff *skb, int attrtype, int attrlen, const void *data, int padattr)")
def nla_put_64bit(k: Kernel, skb: int, attrtype: int, attrlen: int, data: int, padattr: int) -> int:
    """nla_put of a 64-bit value: on i386 (efficient unaligned access) no pad attribute is needed."""
    return nla_put(k, skb, attrtype, attrlen, data)


@service("int nla_put_nohdr(struct sk_buff *skb, int attrlen, const void *data)")
def nla_put_nohdr(k: Kernel, skb: int, attrlen: int, data: int) -> int:
    """Append ``attrlen`` bytes padded to 4, without an attribute header; -EMSGSIZE if they do not fit."""
    attrlen = _signed(attrlen)
    total = _align(attrlen)
    s = live_skb(k, skb, "nla_put_nohdr")
    if attrlen < 0 or s.tailroom < total:
        return -EMSGSIZE
    at = skb_put(k, skb, total)
    k.memory.write(at, k.memory.read(data, attrlen) + bytes(total - attrlen))
    return 0


@service("ssize_t nla_strscpy(char *dst, const struct nlattr *nla, size_t dstsize)")
def nla_strscpy(k: Kernel, dst: int, nla: int, dstsize: int) -> int:
    """Copy a string attribute into ``dst`` (NUL-terminated, zero-filled): its length, or -E2BIG if cut."""
    if dstsize == 0 or dstsize > 0x7FFFFFFF:
        return -E2BIG
    if dstsize > MAX_STRING:
        raise GuestFault("nla-strscpy", f"nla_strscpy into {dst:#x} at {k.symbolizer.short(k.current_caller)}: "
                         f"a {dstsize}-byte destination (it would be zero-filled to the end)", pc=k.current_caller,
                         address=dst)
    length = int.from_bytes(k.memory.read(nla, 2), "little") - NLA_HDRLEN
    text = k.memory.read(nla + NLA_HDRLEN, max(length, 0))
    if text and text[-1:] == b"\0":
        text = text[:-1]
    text = text.split(b"\0", 1)[0] if b"\0" in text else text
    result = len(text)
    if len(text) >= dstsize:
        text = text[:dstsize - 1]
        result = -E2BIG
    k.memory.write(dst, text + bytes(dstsize - len(text)))
    return result
