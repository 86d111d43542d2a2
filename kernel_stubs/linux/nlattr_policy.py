"""Attribute parsing and policy validation as lib/nlattr.c does it in Linux 6.1.

``__nla_parse`` fills a table ``tb[0..maxtype]`` with the last attribute of
each type found in a stream, validating each against the module's
``struct nla_policy`` array (8 bytes an entry on i386: type u8,
validation_type u8, len u16, then a union: strict_start_type, min/max,
a mask, a range pointer, a nested policy, a reject message or a validate
function). Each rule below is Linux's, in its order, and so are the errors:
-EINVAL for an unknown type under NL_VALIDATE_MAXTYPE, a wrong length
under NL_VALIDATE_STRICT_ATTRS, a missing or unexpected NLA_F_NESTED under
NL_VALIDATE_NESTED, leftover bytes under NL_VALIDATE_TRAILING; -ERANGE
for a value outside a range or an attribute too short for its type. The
message and the offending attribute go into the caller's
``struct netlink_ext_ack`` when there is one, as NL_SET_ERR_MSG_ATTR_POL
does, so the netlink ACK carries them.

The same code validates what the built-in generic netlink dispatch parses
for a family's operations (kernel_stubs.linux.genetlink).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EINVAL, ERANGE = 22, 34
NLA_HDRLEN = 4
MAX_POLICY_RECURSION_DEPTH = 10
MAX_ATTRS = 1 << 16  # a u16 type cannot name more

(NLA_UNSPEC, NLA_U8, NLA_U16, NLA_U32, NLA_U64, NLA_STRING, NLA_FLAG, NLA_MSECS, NLA_NESTED, NLA_NESTED_ARRAY,
 NLA_NUL_STRING, NLA_BINARY, NLA_S8, NLA_S16, NLA_S32, NLA_S64, NLA_BITFIELD32, NLA_REJECT, NLA_BE16,
 NLA_BE32) = range(20)
NLA_TYPE_MAX = NLA_BE32
(NLA_VALIDATE_NONE, NLA_VALIDATE_RANGE, NLA_VALIDATE_RANGE_WARN_TOO_LONG, NLA_VALIDATE_MIN, NLA_VALIDATE_MAX,
 NLA_VALIDATE_MASK, NLA_VALIDATE_RANGE_PTR, NLA_VALIDATE_FUNCTION) = range(8)
NL_VALIDATE_LIBERAL, NL_VALIDATE_TRAILING, NL_VALIDATE_MAXTYPE = 0, 1, 2
NL_VALIDATE_UNSPEC, NL_VALIDATE_STRICT_ATTRS, NL_VALIDATE_NESTED = 4, 8, 16
NL_VALIDATE_DEPRECATED_STRICT = NL_VALIDATE_TRAILING | NL_VALIDATE_MAXTYPE
NL_VALIDATE_STRICT = (NL_VALIDATE_TRAILING | NL_VALIDATE_MAXTYPE | NL_VALIDATE_UNSPEC | NL_VALIDATE_STRICT_ATTRS
                      | NL_VALIDATE_NESTED)
NLA_F_NESTED, NLA_F_NET_BYTEORDER = 0x8000, 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

POLICY_SIZE = size("nla_policy")
COMM = offset("task_struct", "comm")
EXTACK_MSG, EXTACK_BAD_ATTR, EXTACK_POLICY = (offset("netlink_ext_ack", f) for f in ("_msg", "bad_attr", "policy"))

# nla_attr_len: types whose length must be exact (a warning, an error under STRICT_ATTRS).
EXACT_LEN = {NLA_U8: 1, NLA_U16: 2, NLA_U32: 4, NLA_U64: 8, NLA_S8: 1, NLA_S16: 2, NLA_S32: 4, NLA_S64: 8,
             NLA_BE16: 2, NLA_BE32: 4}
# nla_attr_minlen: the shortest payload each type accepts when the policy gives no len.
MIN_LEN = {**EXACT_LEN, NLA_MSECS: 8, NLA_NESTED: NLA_HDRLEN}
UNSIGNED = {NLA_U8: "<B", NLA_U16: "<H", NLA_U32: "<I", NLA_U64: "<Q", NLA_MSECS: "<Q", NLA_BE16: ">H",
            NLA_BE32: ">I"}
SIGNED = {NLA_S8: "<b", NLA_S16: "<h", NLA_S32: "<i", NLA_S64: "<q"}


@dataclass(frozen=True, slots=True)
class Policy:
    """One ``struct nla_policy`` entry as read from guest memory."""

    type: int
    validation_type: int
    len: int
    word: int  # the union, as a u32 (pointer, mask, or min/max as two s16)

    @property
    def min(self) -> int:
        value = self.word & 0xFFFF
        return value - 0x10000 if value & 0x8000 else value

    @property
    def max(self) -> int:
        value = self.word >> 16
        return value - 0x10000 if value & 0x8000 else value


def read_policy(k: Kernel, policy: int, index: int) -> Policy:
    """Entry ``index`` of the policy array at ``policy``."""
    kind, vtype, length, word = struct.unpack("<BBHI", k.memory.read(policy + index * POLICY_SIZE, POLICY_SIZE))
    return Policy(kind, vtype, length, word)


@dataclass
class ErrorTexts:
    """Guest copies of the messages the kernel itself puts into an extack (one per text, kept)."""

    at: dict[str, int] = field(default_factory=dict)

    def clone(self) -> ErrorTexts:
        """A copy for snapshots (the strings live in kernel heap memory restored with it)."""
        return ErrorTexts(dict(self.at))


def error_text(k: Kernel, text: str) -> int:
    """A guest address holding ``text`` (NUL-terminated), for ``extack->_msg``."""
    texts = k.subsystem(ErrorTexts)
    where = texts.at.get(text)
    if where is None:
        data = text.encode() + b"\0"
        where = k.memory.alloc(len(data))
        k.memory.write(where, data)
        texts.at[text] = where
    return where


def set_error(k: Kernel, extack: int, text: str | None, attr: int = 0, policy: int = 0) -> None:
    """NL_SET_ERR_MSG_ATTR_POL: the message (if any), the attribute and its policy entry into ``extack``."""
    if not extack:
        return
    if text is not None:
        k.memory.write_u32(extack + EXTACK_MSG, error_text(k, text))
    k.memory.write_u32(extack + EXTACK_BAD_ATTR, attr)
    k.memory.write_u32(extack + EXTACK_POLICY, policy)


class Validator:
    """One ``__nla_validate_parse`` over guest memory (the state of Linux's recursive walk)."""

    def __init__(self, k: Kernel, extack: int) -> None:
        self.k = k
        self.extack = extack

    def _warn(self, text: str) -> None:
        self.k.console_write(f"netlink: {text}\n")

    def comm(self) -> str:
        """current->comm, as the kernel's warnings name the process."""
        task = self.k.memory.read_u32(self.k.export_address("current_task") or 0)
        return self.k.memory.read(task + COMM, 16).split(b"\0", 1)[0].decode("utf-8", "replace") if task else "?"

    def parse(self, head: int, length: int, maxtype: int, policy: int, validate: int, tb: int, depth: int) -> int:
        """Walk the attributes at ``head``; fill ``tb`` (if not 0) with ``maxtype + 1`` pointers; 0 or -errno."""
        mem = self.k.memory
        if depth >= MAX_POLICY_RECURSION_DEPTH:
            set_error(self.k, self.extack, "allowed policy recursion depth exceeded")
            return -EINVAL
        if tb:
            mem.write(tb, bytes(4 * (maxtype + 1)))
        length = length - (1 << 32) if length >> 31 else length
        at, rem = head, length
        while rem >= NLA_HDRLEN:
            nla_len, raw_type = struct.unpack("<HH", mem.read(at, 4))
            if nla_len < NLA_HDRLEN or nla_len > rem:
                break
            kind = raw_type & NLA_TYPE_MASK
            if kind == 0 or kind > maxtype:
                if validate & NL_VALIDATE_MAXTYPE:
                    set_error(self.k, self.extack, "Unknown attribute type", at)
                    return -EINVAL
            else:
                if policy:
                    err = self.attribute(at, nla_len, raw_type, maxtype, policy, validate, depth)
                    if err < 0:
                        return err
                if tb:
                    mem.write_u32(tb + 4 * kind, at)
            step = (nla_len + 3) & ~3
            at += step
            rem -= step
        if rem > 0:
            self._warn(f"{rem} bytes leftover after parsing attributes in process `{self.comm()}'.")
            if validate & NL_VALIDATE_TRAILING:
                set_error(self.k, self.extack, "bytes leftover after parsing attributes")
                return -EINVAL
        return 0

    def attribute(self, nla: int, nla_len: int, raw_type: int, maxtype: int, policy: int, validate: int,
                  depth: int) -> int:
        """validate_nla(): one attribute against its policy entry; 0 or -errno."""
        k = self.k
        strict_start = read_policy(k, policy, 0).word & 0xFFFF
        kind = raw_type & NLA_TYPE_MASK
        if strict_start and kind >= strict_start:
            validate |= NL_VALIDATE_STRICT
        if kind <= 0 or kind > maxtype:
            return 0
        pt_addr = policy + kind * POLICY_SIZE
        pt = read_policy(k, policy, kind)
        attrlen = nla_len - NLA_HDRLEN
        data = nla + NLA_HDRLEN
        if pt.type > NLA_TYPE_MAX:
            from sandbox.errors import GuestFault

            raise GuestFault("nla-policy", f"netlink policy {k.symbolizer.short(pt_addr)}: attribute {kind} has "
                             f"type {pt.type}, beyond NLA_TYPE_MAX (BUG_ON in validate_nla)", address=pt_addr)

        def bad(err: int = -ERANGE, text: str = "Attribute failed policy validation") -> int:
            set_error(k, self.extack, text, nla, pt_addr)
            return err

        exact = EXACT_LEN.get(pt.type)
        if exact is not None and attrlen != exact:
            self._warn(f"'{self.comm()}': attribute type {kind} has an invalid length.")
            if validate & NL_VALIDATE_STRICT_ATTRS:
                return bad(-EINVAL, "invalid attribute length")
        if validate & NL_VALIDATE_NESTED:
            nest_type = pt.type in (NLA_NESTED, NLA_NESTED_ARRAY)
            if nest_type and not raw_type & NLA_F_NESTED:
                return bad(-EINVAL, "NLA_F_NESTED is missing")
            if not nest_type and pt.type != NLA_UNSPEC and raw_type & NLA_F_NESTED:
                return bad(-EINVAL, "NLA_F_NESTED not expected")
        err = self._by_type(pt, pt_addr, nla, data, attrlen, validate, depth, bad)
        if err is not None:
            return err
        return self._further(pt, pt_addr, nla, data, attrlen, validate, bad)

    def _by_type(self, pt: Policy, pt_addr: int, nla: int, data: int, attrlen: int, validate: int, depth: int,
                 bad) -> int | None:
        """The per-type checks of validate_nla(); None when they pass."""
        mem = self.k.memory
        kind = pt.type
        if kind == NLA_REJECT:
            if self.extack and pt.word:
                set_error(self.k, self.extack, None, nla, 0)
                mem.write_u32(self.extack + EXTACK_MSG, pt.word)
                return -EINVAL
            return bad(-EINVAL)
        if kind == NLA_FLAG:
            return bad() if attrlen > 0 else None
        if kind == NLA_BITFIELD32:
            if attrlen != 8:
                return bad()
            value, selector = struct.unpack("<II", mem.read(data, 8))
            if value & ~pt.word or selector & ~pt.word or value & ~selector:
                return bad(-EINVAL)
            return None
        if kind in (NLA_NUL_STRING, NLA_STRING):
            if kind == NLA_NUL_STRING:
                minlen = min(attrlen, pt.len + 1) if pt.len else attrlen
                if not minlen or b"\0" not in mem.read(data, minlen):
                    return bad(-EINVAL)
            if attrlen < 1:
                return bad()
            if pt.len:
                if mem.read(data + attrlen - 1, 1) == b"\0":
                    attrlen -= 1
                if attrlen > pt.len:
                    return bad()
            return None
        if kind == NLA_BINARY:
            return bad() if pt.len and attrlen > pt.len else None
        if kind in (NLA_NESTED, NLA_NESTED_ARRAY):
            if attrlen == 0:
                return None
            if attrlen < NLA_HDRLEN:
                return bad()
            if pt.word:
                if kind == NLA_NESTED:
                    err = self.parse(data, attrlen, pt.len, pt.word, validate, 0, depth + 1)
                else:
                    err = self._array(data, attrlen, pt.len, pt.word, validate, depth)
                if err < 0:
                    return err  # the inner message and attribute stay
            return None
        if kind == NLA_UNSPEC:
            if validate & NL_VALIDATE_UNSPEC:
                set_error(self.k, self.extack, "Unsupported attribute", nla)
                return -EINVAL
            return bad() if attrlen < pt.len else None
        minlen = pt.len or MIN_LEN.get(kind, 0)
        return bad() if attrlen < minlen else None

    def _array(self, head: int, length: int, maxtype: int, policy: int, validate: int, depth: int) -> int:
        """nla_validate_array(): each nested attribute is itself a nest validated against ``policy``."""
        mem = self.k.memory
        at, rem = head, length
        while rem >= NLA_HDRLEN:
            nla_len = int.from_bytes(mem.read(at, 2), "little")
            if nla_len < NLA_HDRLEN or nla_len > rem:
                break
            if nla_len < NLA_HDRLEN:
                return -ERANGE
            err = self.parse(at + NLA_HDRLEN, nla_len - NLA_HDRLEN, maxtype, policy, validate, 0, depth + 1)
            if err < 0:
                return err
            step = (nla_len + 3) & ~3
            at += step
            rem -= step
        return 0

    def _further(self, pt: Policy, pt_addr: int, nla: int, data: int, attrlen: int, validate: int, bad) -> int:
        """The validation_type checks: ranges, masks, a validate function."""
        k = self.k
        vt = pt.validation_type
        if vt in (NLA_VALIDATE_RANGE, NLA_VALIDATE_RANGE_WARN_TOO_LONG, NLA_VALIDATE_MIN, NLA_VALIDATE_MAX,
                  NLA_VALIDATE_RANGE_PTR):
            return self._range(pt, pt_addr, nla, data, attrlen, validate)
        if vt == NLA_VALIDATE_MASK:
            fmt = UNSIGNED.get(pt.type)
            if fmt is None:
                return -EINVAL
            value = struct.unpack(fmt, k.memory.read(data, struct.calcsize(fmt)))[0]
            if value & ~pt.word:
                set_error(k, self.extack, "reserved bit set", nla, pt_addr)
                return -EINVAL
            return 0
        if vt == NLA_VALIDATE_FUNCTION and pt.word:
            result = k.call_function_pointer(pt.word, nla, self.extack)
            return result - (1 << 32) if result >> 31 else result
        return 0

    def _range(self, pt: Policy, pt_addr: int, nla: int, data: int, attrlen: int, validate: int) -> int:
        """nla_validate_int_range(): the value (or a binary's length) within the policy's bounds."""
        k = self.k
        signed = pt.type in SIGNED
        if pt.type == NLA_BINARY:
            value = attrlen
        elif pt.type in UNSIGNED or signed:
            fmt = SIGNED.get(pt.type) or UNSIGNED[pt.type]
            value = struct.unpack(fmt, k.memory.read(data, struct.calcsize(fmt)))[0]
        else:
            from sandbox.errors import GuestFault

            raise GuestFault("nla-policy", f"netlink policy {k.symbolizer.short(pt_addr)}: a range check on "
                             f"attribute type {pt.type}, which has no integer value (WARN in "
                             "nla_validate_int_range)", address=pt_addr)
        if pt.validation_type == NLA_VALIDATE_RANGE_PTR:
            lo, hi = struct.unpack("<qq" if signed else "<QQ", k.memory.read(pt.word, 16))
        else:
            lo, hi = pt.min, pt.max
            if not signed:
                lo, hi = lo & 0xFFFF, hi & 0xFFFF
            if pt.validation_type == NLA_VALIDATE_MIN:
                hi = (1 << 63) - 1 if signed else (1 << 64) - 1
            elif pt.validation_type == NLA_VALIDATE_MAX:
                lo = -(1 << 63) if signed else 0
        if lo <= value <= hi:
            return 0
        if pt.type == NLA_BINARY and pt.validation_type == NLA_VALIDATE_RANGE_WARN_TOO_LONG and value > hi \
                and not validate & NL_VALIDATE_STRICT_ATTRS:
            self._warn(f"'{self.comm()}': attribute type {k.memory.read(nla + 2, 2)[0]} exceeds maximum length.")
            return 0
        set_error(k, self.extack, "integer out of range" if pt.type != NLA_BINARY else "binary attribute size "
                  "out of range", nla, pt_addr)
        return -ERANGE


def validate_parse(k: Kernel, head: int, length: int, maxtype: int, policy: int, validate: int, extack: int,
                   tb: int) -> int:
    """__nla_validate_parse at depth 0: 0 or -errno (extack filled on error)."""
    maxtype = maxtype - (1 << 32) if maxtype >> 31 else maxtype
    if maxtype < -1 or (tb and maxtype >= MAX_ATTRS):
        from sandbox.errors import GuestFault

        # Linux clears the table with memset(tb, 0, sizeof(*tb) * (maxtype + 1)): a negative or huge
        # maxtype overruns it; no module means that.
        raise GuestFault("nla-maxtype", f"attribute parse at {k.symbolizer.short(k.current_caller)} with maxtype "
                         f"{maxtype}: the table of maxtype + 1 pointers cannot be that size", pc=k.current_caller,
                         address=tb)
    return Validator(k, extack).parse(head, length, maxtype, policy, validate, tb, 0)


@service("int __nla_parse(struct nlattr **tb, int maxtype, const struct nlattr *head, int len, "
         "const struct nla_policy *policy, unsigned int validate, struct netlink_ext_ack *extack)")
def __nla_parse(k: Kernel, tb: int, maxtype: int, head: int, length: int, policy: int, validate: int,
                extack: int) -> int:
    """Fill ``tb[0..maxtype]`` with the attributes at ``head``, validated against ``policy``: 0 or -errno."""
    return validate_parse(k, head, length, maxtype, policy, validate, extack, tb)


@service("int __nla_validate(const struct nlattr *head, int len, int maxtype, const struct nla_policy *policy, "
         "unsigned int validate, struct netlink_ext_ack *extack)")
def __nla_validate(k: Kernel, head: int, length: int, maxtype: int, policy: int, validate: int, extack: int) -> int:
    """Validate the attributes at ``head`` against ``policy`` without filling a table: 0 or -errno."""
    return validate_parse(k, head, length, maxtype, policy, validate, extack, 0)


@service("int nla_policy_len(const struct nla_policy *p, int n)")
def nla_policy_len(k: Kernel, p: int, n: int) -> int:
    """The room a message needs for the largest attributes ``p[0..n-1]`` allow (nla_total_size of each)."""
    total = 0
    for i in range(min(n, MAX_ATTRS)):
        pt = read_policy(k, p, i)
        room = pt.len or EXACT_LEN.get(pt.type) or MIN_LEN.get(pt.type, 0)
        if room:
            total += (NLA_HDRLEN + room + 3) & ~3
    return total
