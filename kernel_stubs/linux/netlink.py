"""Netlink attributes (lib/nlattr.c) as Linux 6.1 builds them into an skb and reads them back.

A ``struct nlattr`` is ``nla_len`` (u16: header + payload), ``nla_type``
(u16), then the payload, padded to NLA_ALIGNTO (4) with zeros.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.machine.memory import W
from sandbox.services import service

from .memory import allocate
from .skbuff import live_skb, skb_put

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

NLA_HDRLEN, NLA_ALIGNTO = 4, 4
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
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


def _attrs(k: Kernel, head: int, length: int):
    """(address, nla_len, type) of each attribute nla_for_each_attr visits."""
    at, rem = head, _signed(length)
    while rem >= NLA_HDRLEN:
        nla_len = int.from_bytes(k.memory.read(at, 2), "little")
        if nla_len < NLA_HDRLEN or nla_len > rem:
            return
        yield at, nla_len, int.from_bytes(k.memory.read(at + 2, 2), "little") & NLA_TYPE_MASK
        at += _align(nla_len)
        rem -= _align(nla_len)


@service("struct nlattr *nla_find(const struct nlattr *head, int len, int attrtype)")
def nla_find(k: Kernel, head: int, length: int, attrtype: int) -> int:
    """The first attribute of ``attrtype`` in the stream, or NULL."""
    return next((at for at, _, kind in _attrs(k, head, length) if kind == attrtype), 0)


@service("int nla_memcpy(void *dest, const struct nlattr *src, int count)")
def nla_memcpy(k: Kernel, dest: int, src: int, count: int) -> int:
    """Copy at most ``count`` payload bytes, zero-filling the rest of ``count``; the bytes copied."""
    count = max(_signed(count), 0)
    payload = max(int.from_bytes(k.memory.read(src, 2), "little") - NLA_HDRLEN, 0)
    n = min(payload, count)
    k.memory.check(dest, count, W, "nla_memcpy destination")  # a count the guest chose: bounded by what is mapped
    k.memory.write(dest, k.memory.read(src + NLA_HDRLEN, n) + bytes(count - n))
    return n


def _reserve(k: Kernel, skb: int, attrtype: int, attrlen: int, what: str) -> int:
    attrlen = _signed(attrlen)
    total = _align(NLA_HDRLEN + attrlen)
    if attrlen < 0 or live_skb(k, skb, what).tailroom < total:
        return 0
    at = skb_put(k, skb, total)
    k.memory.write(at, (NLA_HDRLEN + attrlen).to_bytes(2, "little") + (attrtype & 0xFFFF).to_bytes(2, "little")
                   + bytes(total - NLA_HDRLEN))
    return at


@service("struct nlattr *nla_reserve(struct sk_buff *skb, int attrtype, int attrlen)")
def nla_reserve(k: Kernel, skb: int, attrtype: int, attrlen: int) -> int:
    """Room for an attribute (payload zeroed, padding too); NULL if the skb has no tailroom for it."""
    return _reserve(k, skb, attrtype, attrlen, "nla_reserve")


@service("struct nlattr *nla_reserve_64bit(struct sk_buff *skb, int attrtype, int attrlen, int padattr)")
def nla_reserve_64bit(k: Kernel, skb: int, attrtype: int, attrlen: int, padattr: int) -> int:
    """nla_reserve for 64-bit data: i386 needs no pad attribute."""
    return _reserve(k, skb, attrtype, attrlen, "nla_reserve_64bit")


@service("void *nla_reserve_nohdr(struct sk_buff *skb, int attrlen)")
def nla_reserve_nohdr(k: Kernel, skb: int, attrlen: int) -> int:
    """Room for ``attrlen`` bytes (padded, zeroed) without a header; NULL if they do not fit."""
    attrlen = _signed(attrlen)
    total = _align(attrlen)
    if attrlen < 0 or live_skb(k, skb, "nla_reserve_nohdr").tailroom < total:
        return 0
    at = skb_put(k, skb, total)
    k.memory.write(at, bytes(total))
    return at


@service("int nla_append(struct sk_buff *skb, int attrlen, const void *data)")
def nla_append(k: Kernel, skb: int, attrlen: int, data: int) -> int:
    """Append ``attrlen`` bytes, padded to 4, without a header: 0 or -EMSGSIZE."""
    attrlen = _signed(attrlen)
    total = _align(attrlen)
    if attrlen < 0 or live_skb(k, skb, "nla_append").tailroom < total:
        return -EMSGSIZE
    at = skb_put(k, skb, total)
    k.memory.write(at, k.memory.read(data, attrlen) + bytes(total - attrlen))
    return 0


@service("int nla_strcmp(const struct nlattr *nla, const char *str)")
def nla_strcmp(k: Kernel, nla: int, text: int) -> int:
    """Compare a string attribute (trailing NULs ignored) with ``str``: the length difference, else memcmp's."""
    attrlen = max(int.from_bytes(k.memory.read(nla, 2), "little") - NLA_HDRLEN, 0)
    payload = k.memory.read(nla + NLA_HDRLEN, attrlen).rstrip(b"\0")
    other = k.memory.read_cstring(text, MAX_STRING)
    if len(payload) != len(other):
        return len(payload) - len(other)
    return next((a - b for a, b in zip(payload, other, strict=True) if a != b), 0)


@service("char *nla_strdup(const struct nlattr *nla, gfp_t flags)")
def nla_strdup(k: Kernel, nla: int, flags: int) -> int:
    """A kmalloc'd NUL-terminated copy of a string attribute (up to its first NUL), or NULL."""
    attrlen = max(int.from_bytes(k.memory.read(nla, 2), "little") - NLA_HDRLEN, 0)
    text = k.memory.read(nla + NLA_HDRLEN, attrlen).split(b"\0", 1)[0]
    dst = allocate(k, len(text) + 1)
    if dst:
        k.memory.write(dst, text + b"\0")
    return dst
