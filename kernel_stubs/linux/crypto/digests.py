"""MD5, SHA-1 and SHA-224/256 over the state structs Linux 6.1 keeps them in (i386).

hashlib cannot hand out or take back a partial state, and HMAC, export/import
and modules that copy a ``shash_desc`` need exactly that, so the block
functions are written here (RFC 1321, FIPS 180-4) and run on the bytes of
the kernel's own structs, which then mean what they mean on Linux:

- ``struct sha1_state``: state[5] 0, count (u64, bytes) 20, buffer[64] 28; 92 bytes.
- ``struct sha256_state``: state[8] 0, count 32, buf[64] 40; 104 bytes (sha224 too).
- ``struct md5_state``: hash[4] 0, block[16] 16, byte_count (u64) 80; 88 bytes.

Each :class:`Digest` knows its layout, initial values and block function;
``update``/``final`` take and return the state's bytes. The tests check
them against hashlib, an implementation that shares no code with this one.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

M32 = 0xFFFFFFFF


def _rotl(v: int, n: int) -> int:
    return ((v << n) | (v >> (32 - n))) & M32


def _rotr(v: int, n: int) -> int:
    return ((v >> n) | (v << (32 - n))) & M32


# -- the block functions ------------------------------------------------------------------
def sha1_block(h: list[int], block: bytes) -> list[int]:
    """FIPS 180-4 6.1.2: one 64-byte block into the five words."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, kt = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, kt = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, kt = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, kt = b ^ c ^ d, 0xCA62C1D6
        a, b, c, d, e = (_rotl(a, 5) + f + e + kt + w[t]) & M32, a, _rotl(b, 30), c, d
    return [(x + y) & M32 for x, y in zip(h, (a, b, c, d, e))]


def _primes(count: int) -> list[int]:
    found: list[int] = []
    n = 2
    while len(found) < count:
        if all(n % p for p in found if p * p <= n):
            found.append(n)
        n += 1
    return found


def _frac_root(p: int, root: int) -> int:
    """The first 32 bits of the fractional part of p**(1/root), exactly (integer arithmetic)."""
    scaled = p << (32 * root)
    x = round(p ** (1 / root) * (1 << 32))
    while x**root > scaled:  # correct the float's last bits
        x -= 1
    while (x + 1) ** root <= scaled:
        x += 1
    return x & M32


# FIPS 180-4 4.2.2 and 5.3.3: cube and square roots of the first primes.
SHA256_K = [_frac_root(p, 3) for p in _primes(64)]
SHA256_H = [_frac_root(p, 2) for p in _primes(8)]
SHA224_H = [0xC1059ED8, 0x367CD507, 0x3070DD17, 0xF70E5939, 0xFFC00B31, 0x68581511, 0x64F98FA7, 0xBEFA4FA4]


def sha256_block(h: list[int], block: bytes) -> list[int]:
    """FIPS 180-4 6.2.2: one block into the eight words."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & M32)
    a, b, c, d, e, f, g, hh = h
    for t in range(64):
        t1 = (hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[t] + w[t]) & M32
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & M32
        a, b, c, d, e, f, g, hh = (t1 + t2) & M32, a, b, c, (d + t1) & M32, e, f, g
    return [(x + y) & M32 for x, y in zip(h, (a, b, c, d, e, f, g, hh))]


# RFC 1321 3.4: T[i] = floor(2**32 * abs(sin(i))), the per-round shifts, the message word order.
MD5_T = [int(abs(math.sin(i + 1)) * (1 << 32)) & M32 for i in range(64)]
MD5_S = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4
MD5_H = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]


def md5_block(h: list[int], block: bytes) -> list[int]:
    """RFC 1321 3.4: one block (little-endian words) into the four words."""
    x = struct.unpack("<16I", block)
    a, b, c, d = h
    for i in range(64):
        if i < 16:
            f, g = (b & c) | (~b & d), i
        elif i < 32:
            f, g = (d & b) | (~d & c), (5 * i + 1) % 16
        elif i < 48:
            f, g = b ^ c ^ d, (3 * i + 5) % 16
        else:
            f, g = c ^ (b | (~d & M32)), (7 * i) % 16
        a, b, c, d = d, (b + _rotl((a + f + MD5_T[i] + x[g]) & M32, MD5_S[i])) & M32, b, c
    return [(p + q) & M32 for p, q in zip(h, (a, b, c, d))]


# -- the state structs ---------------------------------------------------------------------
@dataclass(frozen=True)
class Digest:
    """One hash over its Linux state struct."""

    name: str
    words: int  # chaining words
    initial: tuple[int, ...]
    digestsize: int
    block: Callable[[list[int], bytes], list[int]]
    big_endian: bool  # word order of the digest and the length
    md5_layout: bool = False  # md5_state puts the buffer before the count

    @property
    def statesize(self) -> int:
        """sizeof the state struct."""
        return 4 * self.words + 8 + 64

    @property
    def _count_at(self) -> int:
        return 4 * self.words + (64 if self.md5_layout else 0)

    @property
    def _buffer_at(self) -> int:
        return 4 * self.words + (0 if self.md5_layout else 8)

    def _unpack(self, state: bytes) -> tuple[list[int], int, bytes]:
        words = list(struct.unpack(f"<{self.words}I", state[: 4 * self.words]))
        count = int.from_bytes(state[self._count_at : self._count_at + 8], "little")
        return words, count, state[self._buffer_at : self._buffer_at + 64]

    def _pack(self, words: list[int], count: int, buffer: bytes) -> bytes:
        out = bytearray(self.statesize)
        out[: 4 * self.words] = struct.pack(f"<{self.words}I", *words)
        out[self._count_at : self._count_at + 8] = (count & ((1 << 64) - 1)).to_bytes(8, "little")
        out[self._buffer_at : self._buffer_at + 64] = buffer.ljust(64, b"\0")
        return bytes(out)

    def init(self) -> bytes:
        """The state after <name>_init: the initial words, no bytes counted."""
        return self._pack(list(self.initial), 0, b"")

    def update(self, state: bytes, data: bytes) -> bytes:
        """The state after feeding ``data`` (whole blocks hashed, the rest kept in the buffer)."""
        words, count, buffer = self._unpack(state)
        partial = count % 64
        pending = buffer[:partial] + data
        whole = len(pending) - len(pending) % 64
        for i in range(0, whole, 64):
            words = self.block(words, pending[i : i + 64])
        rest = pending[whole:]
        # Bytes of the buffer past what is pending stay as they were, as Linux's memcpy leaves them.
        return self._pack(words, count + len(data), rest + buffer[len(rest):])

    def final(self, state: bytes) -> bytes:
        """The digest of everything fed (the standard padding with the bit length)."""
        words, count, buffer = self._unpack(state)
        length = (count * 8) & ((1 << 64) - 1)
        tail = buffer[: count % 64] + b"\x80"
        tail += bytes((56 - len(tail)) % 64)
        tail += length.to_bytes(8, "big" if self.big_endian else "little")
        for i in range(0, len(tail), 64):
            words = self.block(words, tail[i : i + 64])
        out = struct.pack(f"{'>' if self.big_endian else '<'}{self.words}I", *words)
        return out[: self.digestsize]


SHA1 = Digest("sha1", 5, (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0), 20, sha1_block, True)
SHA256 = Digest("sha256", 8, tuple(SHA256_H), 32, sha256_block, True)
SHA224 = Digest("sha224", 8, tuple(SHA224_H), 28, sha256_block, True)
MD5 = Digest("md5", 4, tuple(MD5_H), 16, md5_block, False, md5_layout=True)
DIGESTS = {d.name: d for d in (SHA1, SHA224, SHA256, MD5)}
