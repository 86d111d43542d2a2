"""Keys and keyrings (security/keys) as far as modules use them: cfg80211's regulatory certificates.

``keyring_alloc`` makes a ``struct key`` (the generated layout: ``usage``,
``serial``, ``description``, ...) for a keyring; ``key_create_or_update``
of type "asymmetric" parses the X.509 certificate it is given as the
kernel's x509 parser does for what a module can observe — the key's
description is x509_fabricate_name's subject (the CN, or "O: CN" unless
the CN starts with the O or shares its first 7 characters) then ": " and
the subject key identifier in hex (the serial number's content octets if
the certificate has none) — links the new key into the keyring and
returns a key reference (the pointer, bit 0 set when the keyring
reference was possessed). A payload that is not a certificate is
-EBADMSG, an unknown key type -ENODEV, a reference that is not a keyring
-ENOTDIR. ``key_put`` drops a reference; a keyring's last one unlinks
and puts its keys. Certificates' signatures are not verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .layout import offset, size
from .memory import allocate, release
from .registrations import err_ptr, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

KEY_SIZE = size("key")
K_USAGE, K_SERIAL, K_DESCRIPTION = offset("key", "usage"), offset("key", "serial"), offset("key", "description")
K_PERM, K_UID, K_GID = offset("key", "perm"), offset("key", "uid"), offset("key", "gid")
ENODEV, ENOTDIR, EBADMSG, ENOMEM = 19, 20, 74, 12
OID_CN, OID_O, OID_EMAIL = "2.5.4.3", "2.5.4.10", "1.2.840.113549.1.9.1"
OID_SKID = "2.5.29.14"


@dataclass
class KeyRecord:
    """One key or keyring: its type, description, links."""

    address: int
    type: str
    description: str
    text: int  # the guest copy of the description
    keyring: int = 0  # the keyring it is linked into
    links: list[int] = field(default_factory=list)  # a keyring's keys


class Keys:
    """Every key of one kernel, by address."""

    def __init__(self) -> None:
        self.keys: dict[int, KeyRecord] = {}
        self.serial = 0x1000

    def clone(self) -> Keys:
        """A copy for snapshots."""
        twin = Keys()
        twin.keys = {a: replace(r, links=list(r.links)) for a, r in self.keys.items()}
        twin.serial = self.serial
        return twin


def _new_key(k: Kernel, kind: str, description: str, perm: int, uid: int = 0, gid: int = 0) -> int:
    keys = k.subsystem(Keys)
    data = description.encode() + b"\0"
    text = allocate(k, len(data), owner="kernel")
    key = allocate(k, KEY_SIZE, owner="kernel")
    if not text or not key:
        return 0
    k.memory.write(text, data)
    mem = k.memory
    keys.serial += 1
    mem.write_u32(key + K_USAGE, 1)
    mem.write_u32(key + K_SERIAL, keys.serial)
    mem.write_u32(key + K_DESCRIPTION, text)
    mem.write_u32(key + K_PERM, perm)
    mem.write_u32(key + K_UID, uid)
    mem.write_u32(key + K_GID, gid)
    keys.keys[key] = KeyRecord(key, kind, description, text)
    return key


@service("struct key *keyring_alloc(const char *description, kuid_t uid, kgid_t gid, const struct cred *cred, "
         "key_perm_t perm, unsigned long flags, struct key_restriction *restrict_link, struct key *dest)")
def keyring_alloc(k: Kernel, description: int, uid: int, gid: int, cred: int, perm: int, flags: int,
                  restrict_link: int, dest: int) -> int:
    """A new keyring named ``description`` (one reference), linked into ``dest`` if given; ERR_PTR(-ENOMEM)."""
    key = _new_key(k, "keyring", guest_string(k, description), perm, uid, gid)
    if not key:
        return err_ptr(ENOMEM)
    if dest:
        _link(k, _record(k, dest, "keyring_alloc"), key)
    return key


def _record(k: Kernel, key: int, what: str) -> KeyRecord:
    found = k.subsystem(Keys).keys.get(key)
    if found is None:
        raise GuestFault("bad-key", f"{what} of {key:#x} at {k.symbolizer.short(k.current_caller)}: not a live key",
                         pc=k.current_caller, address=key)
    return found


def _link(k: Kernel, keyring: KeyRecord, key: int) -> None:
    """__key_link: the keyring holds a reference; a key of the same type and description is replaced."""
    keys = k.subsystem(Keys)
    new = keys.keys[key]
    for old in list(keyring.links):
        record = keys.keys[old]
        if (record.type, record.description) == (new.type, new.description):
            keyring.links.remove(old)
            _put(k, old)
    keyring.links.append(key)
    new.keyring = keyring.address
    k.memory.write_u32(key + K_USAGE, k.memory.read_u32(key + K_USAGE) + 1)


def _put(k: Kernel, key: int) -> None:
    usage = k.memory.read_u32(key + K_USAGE) - 1
    k.memory.write_u32(key + K_USAGE, usage)
    if usage:
        return
    record = k.subsystem(Keys).keys.pop(key)
    for linked in record.links:
        _put(k, linked)
    release(k, record.text)
    release(k, key)


@service("void key_put(struct key *key)")
def key_put(k: Kernel, key: int) -> None:
    """Drop a reference (NULL is ignored); the last one destroys the key (a keyring puts its keys)."""
    if key:
        _record(k, key, "key_put")
        _put(k, key)


@service("key_ref_t key_create_or_update(key_ref_t keyring_ref, const char *type, const char *description, "
         "const void *payload, size_t plen, key_perm_t perm, unsigned long flags)")
def key_create_or_update(k: Kernel, keyring_ref: int, kind: int, description: int, payload: int, plen: int,
                         perm: int, flags: int) -> int:
    """A new key of ``type`` from ``payload`` in the keyring: a key reference, or ERR_PTR(-errno)."""
    keyring = k.subsystem(Keys).keys.get(keyring_ref & ~1)
    if keyring is None or keyring.type != "keyring":
        return err_ptr(ENOTDIR)
    type_name = guest_string(k, kind, 32)
    if type_name != "asymmetric":
        return err_ptr(ENODEV)
    try:
        cert = parse_x509(k.memory.read(payload, plen) if plen else b"")
    except ValueError:
        return err_ptr(EBADMSG)
    name = guest_string(k, description) if description else cert.description
    key = _new_key(k, "asymmetric", name, perm)
    if not key:
        return err_ptr(ENOMEM)
    _link(k, keyring, key)
    return key | (keyring_ref & 1)


# -- X.509, as far as the description needs -----------------------------------------------------

def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise ValueError("truncated")
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or at + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated")
    return tag, at, at + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out, at = [], start
    while at < end:
        tag, begin, stop = _tlv(data, at)
        out.append((tag, begin, stop))
        at = stop
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


@dataclass(frozen=True, slots=True)
class Certificate:
    """What the key's description is made of."""

    subject: str
    key_id: bytes  # the subject key identifier, else the serial number's content octets

    @property
    def description(self) -> str:
        return f"{self.subject}: {self.key_id.hex()}"


def _subject(data: bytes, start: int, end: int) -> str:
    """x509_fabricate_name over a Name's CN, O and emailAddress."""
    found: dict[str, bytes] = {}
    for _, rdn_start, rdn_end in _children(data, start, end):
        for _, atv_start, atv_end in _children(data, rdn_start, rdn_end):
            (_, oid_start, oid_end), (_, value_start, value_end) = _children(data, atv_start, atv_end)[:2]
            found[_oid(data[oid_start:oid_end])] = data[value_start:value_end]
    cn, o, email = found.get(OID_CN, b""), found.get(OID_O, b""), found.get(OID_EMAIL, b"")
    if cn and o:
        if (len(cn) >= len(o) and cn.startswith(o)) or (len(cn) >= 7 and len(o) >= 7 and cn[:7] == o[:7]):
            name = cn
        else:
            name = o + b": " + cn
    else:
        name = cn or o or email
    return name.decode("utf-8", "replace")


def parse_x509(data: bytes) -> Certificate:
    """The subject name and key id of a DER certificate; ValueError if it is not one."""
    tag, start, end = _tlv(data, 0)
    if tag != 0x30:
        raise ValueError("not a SEQUENCE")
    _, tbs_start, tbs_end = _children(data, start, end)[0]
    fields = _children(data, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 6 or fields[0][0] != 0x02:
        raise ValueError("not a TBSCertificate")
    serial = data[fields[0][1]:fields[0][2]]
    subject = _subject(data, fields[4][1], fields[4][2])
    key_id = serial
    for tag, ext_start, ext_end in fields[6:]:
        if tag != 0xA3:
            continue
        (_, list_start, list_end), = _children(data, ext_start, ext_end)
        for _, one_start, one_end in _children(data, list_start, list_end):
            parts = _children(data, one_start, one_end)
            if _oid(data[parts[0][1]:parts[0][2]]) == OID_SKID:
                _, inner_start, inner_end = _tlv(data, parts[-1][1])
                key_id = data[inner_start:inner_end]
    return Certificate(subject, key_id)
