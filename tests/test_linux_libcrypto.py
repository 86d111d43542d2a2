"""Real lib/crypto and lib/math modules of Linux 6.1 (RC4, Poly1305, Curve25519, CORDIC) against Python references.

The references are written here from the algorithms' specifications (RFC
7539 for Poly1305, RFC 7748 for X25519); none of them comes from the module.
"""

from __future__ import annotations

import random

import pytest

from sandbox import Kernel

from .crypto_references import x25519
from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", budget_seconds=10)


# -- references --------------------------------------------------------------------
def rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) & 0xFF])
    return bytes(out)


def poly1305(key: bytes, message: bytes) -> bytes:
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for start in range(0, len(message), 16):
        block = message[start:start + 16] + b"\x01"
        acc = (acc + int.from_bytes(block, "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def test_references_match_the_rfc_vectors() -> None:
    # RFC 7539 2.5.2 and RFC 7748 5.2: the references are right before they judge the modules.
    key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    assert poly1305(key, b"Cryptographic Forum Research Group").hex() == "a8061dc1305136c6c22b8baf0c0127a9"
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519(scalar, u).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"


# -- the modules -------------------------------------------------------------------
ARC4_CTX = 256 * 4 + 8  # struct arc4_ctx { u32 S[256]; u32 x, y; }


def test_libarc4_matches_rc4(lk: Kernel) -> None:
    m = lk.load(ko("lib/crypto/libarc4.ko"))
    rng = random.Random(4)
    for _ in range(6):
        key = rng.randbytes(rng.randrange(1, 33))
        data = rng.randbytes(rng.randrange(1, 400))
        ctx = lk.memory.alloc(ARC4_CTX)
        assert m.call("arc4_setkey", ctx, key, len(key)) == 0
        # Two calls: the key stream must continue where the first stopped (ctx.x, ctx.y).
        half = len(data) // 2
        first, second = bytearray(half), bytearray(len(data) - half)
        m.call("arc4_crypt", ctx, first, data[:half], half)
        m.call("arc4_crypt", ctx, second, data[half:], len(data) - half)
        assert bytes(first + second) == rc4(key, data)
        lk.memory.free(ctx)


POLY1305_DESC = 256  # struct poly1305_desc_ctx is 96 bytes on i386; room to spare


def test_libpoly1305_generic_matches_rfc7539(lk: Kernel) -> None:
    m = lk.load(ko("lib/crypto/libpoly1305.ko"))
    rng = random.Random(1305)
    messages = [b"", b"Cryptographic Forum Research Group"] + [rng.randbytes(rng.randrange(1, 300)) for _ in range(8)]
    for message in messages:
        key = rng.randbytes(32)
        desc = lk.memory.alloc(POLY1305_DESC)
        m.call("poly1305_init_generic", desc, key)
        cut = len(message) // 3  # uneven pieces exercise the partial-block buffer
        for piece in (message[:cut], message[cut:]):
            m.call("poly1305_update_generic", desc, piece, len(piece))
        tag = bytearray(16)
        m.call("poly1305_final_generic", desc, tag)
        assert bytes(tag) == poly1305(key, message)
        lk.memory.free(desc)


def test_libcurve25519_generic_matches_rfc7748(lk: Kernel) -> None:
    m = lk.load(ko("lib/crypto/libcurve25519-generic.ko"))
    base = lk.memory.read(m.exports["curve25519_base_point"], 32)
    assert base == (9).to_bytes(32, "little")
    rng = random.Random(25519)
    for _ in range(3):
        alice, bob = rng.randbytes(32), rng.randbytes(32)
        alice_public, bob_public, shared = bytearray(32), bytearray(32), bytearray(32)
        m.call("curve25519_generic", alice_public, alice, base)
        m.call("curve25519_generic", bob_public, bob, base)
        assert bytes(alice_public) == x25519(alice, base)
        m.call("curve25519_generic", shared, alice, bytes(bob_public))
        assert bytes(shared) == x25519(alice, bytes(bob_public)) == x25519(bob, bytes(alice_public))


def test_cordic_returns_its_struct_in_edx_eax(lk: Kernel) -> None:
    # struct cordic_iq { s32 i, q; } comes back by value: Linux i386 builds
    # with -freg-struct-return, so it is EDX:EAX, not a hidden pointer.
    import math

    m = lk.load(ko("lib/math/cordic.ko"))
    for degrees in (0, 30, 45, 90, 135, -60, 200, 359, 730, -1000):
        packed = m.call("cordic_calc_iq", degrees, returns="u64")
        i, q = (int.from_bytes(packed.to_bytes(8, "little")[n:n + 4], "little", signed=True) for n in (0, 4))
        # 16 fractional bits, 18 iterations: within a few units of the float result.
        assert abs(i - 65536 * math.cos(math.radians(degrees))) < 8, degrees
        assert abs(q - 65536 * math.sin(math.radians(degrees))) < 8, degrees
