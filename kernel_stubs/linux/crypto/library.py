"""The built-in crypto library modules import (lib/crypto, crypto/algapi.c, lib/xxhash.c; Linux 6.1).

Debian builds these into the kernel, so no module of the tree provides them:

- AES (lib/crypto/aes.c, FIPS-197): ``aes_expandkey`` fills ``struct
  crypto_aes_ctx`` exactly as Linux does (key_enc: the round keys as
  little-endian words; key_dec: the equivalent inverse cipher's keys, last
  round first; key_length at 480), ``aes_encrypt``/``aes_decrypt`` use
  those words, so a module that reads the schedule (aesni, padlock) sees
  Linux's. ``crypto_aes_sbox``/``crypto_aes_inv_sbox`` and the generic
  cipher's tables ``crypto_ft_tab``/``crypto_it_tab`` (aegis128 uses them)
  are exported.
- ChaCha (lib/crypto/chacha.c, RFC 7539): ``chacha_block_generic`` (state
  word 12 counts blocks) and ``hchacha_block_generic``.
- ``__crypto_xor``, ``crypto_inc`` (a big-endian counter), ``__crypto_memneq``
  (non-zero when different), ``fips_enabled`` (0: not in FIPS mode).
- xxHash64 (lib/xxhash.c): ``xxh64`` and the streaming ``struct
  xxh64_state`` (total_len 0, v1..v4 8..32, mem64 40, memsize 72).
- ``LZ4_decompress_safe`` (lib/lz4, the LZ4 block format): bounds-checked,
  a negative result for malformed input as Linux's.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service

from . import flags as F

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


# -- AES ----------------------------------------------------------------------------------
def _xtime(b: int) -> int:
    return ((b << 1) ^ 0x1B) & 0xFF if b & 0x80 else b << 1


def _gmul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a, b = _xtime(a), b >> 1
    return out


def _sbox() -> list[int]:
    inverse = [0] * 256
    for x in range(1, 256):
        for y in range(1, 256):
            if _gmul(x, y) == 1:
                inverse[x] = y
                break
    box = []
    for x in range(256):
        b = inverse[x]
        s = b
        for shift in range(1, 5):
            s ^= ((b << shift) | (b >> (8 - shift))) & 0xFF
        box.append(s ^ 0x63)
    return box


SBOX = _sbox()
INV_SBOX = [0] * 256
for _i, _v in enumerate(SBOX):
    INV_SBOX[_v] = _i
RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36]


def _le(word: bytes) -> int:
    return int.from_bytes(word, "little")


def _sub_word(w: int) -> int:
    return SBOX[w & 0xFF] | SBOX[(w >> 8) & 0xFF] << 8 | SBOX[(w >> 16) & 0xFF] << 16 | SBOX[w >> 24] << 24


def _ror8(w: int) -> int:
    return ((w >> 8) | (w << 24)) & M32


def _inv_mix_word(w: int) -> int:
    """InvMixColumns of one column held as a little-endian word."""
    col = [(w >> (8 * i)) & 0xFF for i in range(4)]
    out = [
        _gmul(col[0], 14) ^ _gmul(col[1], 11) ^ _gmul(col[2], 13) ^ _gmul(col[3], 9),
        _gmul(col[0], 9) ^ _gmul(col[1], 14) ^ _gmul(col[2], 11) ^ _gmul(col[3], 13),
        _gmul(col[0], 13) ^ _gmul(col[1], 9) ^ _gmul(col[2], 14) ^ _gmul(col[3], 11),
        _gmul(col[0], 11) ^ _gmul(col[1], 13) ^ _gmul(col[2], 9) ^ _gmul(col[3], 14),
    ]
    return out[0] | out[1] << 8 | out[2] << 16 | out[3] << 24


def aes_key_schedule(key: bytes) -> tuple[list[int], list[int]]:
    """(key_enc, key_dec) words of lib/crypto/aes.c's aes_expandkey."""
    kwords = len(key) // 4
    rounds = 6 + kwords
    enc = [_le(key[4 * i : 4 * i + 4]) for i in range(kwords)]
    for i in range(kwords, 4 * (rounds + 1)):
        w = enc[i - 1]
        if i % kwords == 0:
            w = _sub_word(_ror8(w)) ^ RCON[i // kwords - 1]
        elif kwords > 6 and i % kwords == 4:
            w = _sub_word(w)
        enc.append(enc[i - kwords] ^ w)
    dec = list(enc[4 * rounds : 4 * rounds + 4])
    for r in range(rounds - 1, 0, -1):
        dec += [_inv_mix_word(w) for w in enc[4 * r : 4 * r + 4]]
    dec += enc[0:4]
    return enc, dec


def _rotl_word(w: int, n: int) -> int:
    return ((w << n) | (w >> (32 - n))) & M32 if n else w


def _round_tables(box: list[int], coefficients: tuple[int, int, int, int]) -> list[list[int]]:
    """The four round tables: a byte's S-box value times the MixColumns (or InvMixColumns) column, as a
    little-endian column word, rotated for the state row the byte comes from."""
    base = []
    for x in range(256):
        y = box[x]
        c0, c1, c2, c3 = (_gmul(y, c) for c in coefficients)
        base.append(c0 | c1 << 8 | c2 << 16 | c3 << 24)
    return [[_rotl_word(w, 8 * row) for w in base] for row in range(4)]


# FIPS-197 5.1.3 / 5.3.3 folded with the S-boxes: one lookup per state byte and round.
TE = _round_tables(SBOX, (2, 1, 1, 3))
TD = _round_tables(INV_SBOX, (14, 9, 13, 11))


def _columns(block: bytes) -> list[int]:
    return [int.from_bytes(block[4 * c : 4 * c + 4], "little") for c in range(4)]


def aes_encrypt_block(enc: list[int], rounds: int, block: bytes) -> bytes:
    """FIPS-197 Cipher with the key_enc words (state columns as little-endian words)."""
    t0, t1, t2, t3 = TE
    s = [w ^ k for w, k in zip(_columns(block), enc[0:4])]
    for r in range(1, rounds):
        rk = enc[4 * r : 4 * r + 4]
        s = [t0[s[c] & 0xFF] ^ t1[(s[(c + 1) % 4] >> 8) & 0xFF] ^ t2[(s[(c + 2) % 4] >> 16) & 0xFF]
             ^ t3[s[(c + 3) % 4] >> 24] ^ rk[c] for c in range(4)]
    rk = enc[4 * rounds : 4 * rounds + 4]
    out = bytearray(16)
    for c in range(4):
        for row in range(4):
            out[4 * c + row] = SBOX[(s[(c + row) % 4] >> (8 * row)) & 0xFF] ^ ((rk[c] >> (8 * row)) & 0xFF)
    return bytes(out)


def aes_decrypt_block(dec: list[int], rounds: int, block: bytes) -> bytes:
    """FIPS-197 Equivalent Inverse Cipher with the key_dec words."""
    t0, t1, t2, t3 = TD
    s = [w ^ k for w, k in zip(_columns(block), dec[0:4])]
    for r in range(1, rounds):
        rk = dec[4 * r : 4 * r + 4]
        s = [t0[s[c] & 0xFF] ^ t1[(s[(c - 1) % 4] >> 8) & 0xFF] ^ t2[(s[(c - 2) % 4] >> 16) & 0xFF]
             ^ t3[s[(c - 3) % 4] >> 24] ^ rk[c] for c in range(4)]
    rk = dec[4 * rounds : 4 * rounds + 4]
    out = bytearray(16)
    for c in range(4):
        for row in range(4):
            out[4 * c + row] = INV_SBOX[(s[(c - row) % 4] >> (8 * row)) & 0xFF] ^ ((rk[c] >> (8 * row)) & 0xFF)
    return bytes(out)


AES_KEY_ENC, AES_KEY_DEC, AES_KEY_LENGTH = 0, 240, 480


@service("int aes_expandkey(struct crypto_aes_ctx *ctx, const u8 *in_key, unsigned int key_len)")
def aes_expandkey(k: Kernel, ctx: int, in_key: int, key_len: int) -> int:
    """The AES key schedule into ``ctx``; -EINVAL unless the key is 16, 24 or 32 bytes."""
    if key_len not in (16, 24, 32):
        return -F.EINVAL
    enc, dec = aes_key_schedule(k.memory.read(in_key, key_len))
    k.memory.write(ctx + AES_KEY_ENC, b"".join(w.to_bytes(4, "little") for w in enc).ljust(240, b"\0"))
    k.memory.write(ctx + AES_KEY_DEC, b"".join(w.to_bytes(4, "little") for w in dec).ljust(240, b"\0"))
    k.memory.write_u32(ctx + AES_KEY_LENGTH, key_len)
    return 0


def _ctx_words(k: Kernel, ctx: int, at: int) -> tuple[list[int], int]:
    length = k.memory.read_u32(ctx + AES_KEY_LENGTH)
    rounds = 6 + length // 4
    raw = k.memory.read(ctx + at, 16 * (rounds + 1))
    return [_le(raw[i : i + 4]) for i in range(0, len(raw), 4)], rounds


@service("void aes_encrypt(const struct crypto_aes_ctx *ctx, u8 *out, const u8 *in)")
def aes_encrypt(k: Kernel, ctx: int, out: int, in_: int) -> None:
    """Encrypt one 16-byte block."""
    words, rounds = _ctx_words(k, ctx, AES_KEY_ENC)
    k.memory.write(out, aes_encrypt_block(words, rounds, k.memory.read(in_, 16)))


@service("void aes_decrypt(const struct crypto_aes_ctx *ctx, u8 *out, const u8 *in)")
def aes_decrypt(k: Kernel, ctx: int, out: int, in_: int) -> None:
    """Decrypt one 16-byte block."""
    words, rounds = _ctx_words(k, ctx, AES_KEY_DEC)
    k.memory.write(out, aes_decrypt_block(words, rounds, k.memory.read(in_, 16)))


def _tables(box: list[int], coefficients: tuple[int, int, int, int]) -> bytes:
    """crypto/aes_generic.c's 4 x 256 u32 tables: column (c0*s, c1*s, c2*s, c3*s), rotated by row."""
    rows = []
    for rot in range(4):
        table = []
        for x in range(256):
            s = box[x]
            col = [_gmul(s, c) for c in coefficients]
            w = col[0] | col[1] << 8 | col[2] << 16 | col[3] << 24
            table.append(((w << (8 * rot)) | (w >> (32 - 8 * rot))) & M32 if rot else w)
        rows.append(b"".join(v.to_bytes(4, "little") for v in table))
    return b"".join(rows)


crypto_aes_sbox = kernel_variable("crypto_aes_sbox", 256, bytes(SBOX))
crypto_aes_inv_sbox = kernel_variable("crypto_aes_inv_sbox", 256, bytes(INV_SBOX))
crypto_ft_tab = kernel_variable("crypto_ft_tab", 4096, _tables(SBOX, (2, 1, 1, 3)))
crypto_it_tab = kernel_variable("crypto_it_tab", 4096, _tables(INV_SBOX, (14, 9, 13, 11)))


# -- ChaCha -------------------------------------------------------------------------------
def _rotl(v: int, n: int) -> int:
    return ((v << n) | (v >> (32 - n))) & M32


def chacha_permute(x: list[int], nrounds: int) -> list[int]:
    """The ChaCha double rounds over 16 words."""
    x = list(x)

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] = (x[a] + x[b]) & M32
        x[d] = _rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & M32
        x[b] = _rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & M32
        x[d] = _rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & M32
        x[b] = _rotl(x[b] ^ x[c], 7)

    for _ in range(nrounds // 2):
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return x


def _words(raw: bytes) -> list[int]:
    return [_le(raw[i : i + 4]) for i in range(0, len(raw), 4)]


def _check_rounds(k: Kernel, nrounds: int, what: str) -> None:
    """Linux WARNs on anything but ChaCha20 and ChaCha12 and would then loop nrounds/2 times."""
    if nrounds not in (12, 20):
        raise GuestFault("bad-argument", f"{what} with {nrounds} rounds (only 12 and 20 exist)", address=0)


@service("void chacha_block_generic(u32 *state, u8 *stream, int nrounds)")
def chacha_block_generic(k: Kernel, state: int, stream: int, nrounds: int) -> None:
    """One 64-byte key stream block; the block counter (state[12]) moves on."""
    _check_rounds(k, nrounds, "chacha_block_generic")
    x = _words(k.memory.read(state, 64))
    mixed = chacha_permute(x, nrounds)
    k.memory.write(stream, b"".join(((a + b) & M32).to_bytes(4, "little") for a, b in zip(mixed, x)))
    k.memory.write_u32(state + 48, (x[12] + 1) & M32)


@service("void hchacha_block_generic(const u32 *state, u32 *out, int nrounds)")
def hchacha_block_generic(k: Kernel, state: int, out: int, nrounds: int) -> None:
    """HChaCha: words 0-3 and 12-15 of the permuted state (XChaCha's subkey)."""
    _check_rounds(k, nrounds, "hchacha_block_generic")
    mixed = chacha_permute(_words(k.memory.read(state, 64)), nrounds)
    k.memory.write(out, b"".join(w.to_bytes(4, "little") for w in mixed[0:4] + mixed[12:16]))


# -- small algapi helpers -----------------------------------------------------------------
fips_enabled = kernel_variable("fips_enabled", 4, 0)


@service("void __crypto_xor(u8 *dst, const u8 *src1, const u8 *src2, unsigned int size)")
def __crypto_xor(k: Kernel, dst: int, src1: int, src2: int, size: int) -> None:
    """dst = src1 ^ src2 over ``size`` bytes."""
    a = int.from_bytes(k.memory.read(src1, size), "little")
    b = int.from_bytes(k.memory.read(src2, size), "little")
    k.memory.write(dst, (a ^ b).to_bytes(size, "little"))


@service("void crypto_inc(u8 *a, unsigned int size)")
def crypto_inc(k: Kernel, a: int, size: int) -> None:
    """Add one to a ``size``-byte big-endian counter (wrapping)."""
    value = (int.from_bytes(k.memory.read(a, size), "big") + 1) % (1 << (8 * size))
    k.memory.write(a, value.to_bytes(size, "big"))


@service("unsigned long __crypto_memneq(const void *a, const void *b, size_t size)")
def __crypto_memneq(k: Kernel, a: int, b: int, size: int) -> int:
    """0 when the buffers are equal, non-zero otherwise (every byte is read, as Linux's constant-time loop)."""
    neq = 0
    for x, y in zip(k.memory.read(a, size), k.memory.read(b, size)):
        neq |= x ^ y
    return neq


# -- xxHash64 -----------------------------------------------------------------------------
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl64(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & M64


def _round(acc: int, lane: int) -> int:
    return (_rotl64((acc + lane * P2) & M64, 31) * P1) & M64


def _merge(acc: int, v: int) -> int:
    return ((acc ^ _round(0, v)) * P1 + P4) & M64


def _tail(h: int, data: bytes) -> int:
    i = 0
    while i + 8 <= len(data):
        h = (_rotl64(h ^ _round(0, int.from_bytes(data[i : i + 8], "little")), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= len(data):
        h = (_rotl64(h ^ (int.from_bytes(data[i : i + 4], "little") * P1) & M64, 23) * P2 + P3) & M64
        i += 4
    while i < len(data):
        h = (_rotl64(h ^ (data[i] * P5) & M64, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


def _stripes(v: list[int], data: bytes) -> None:
    for i in range(0, len(data) - len(data) % 32, 32):
        for lane in range(4):
            v[lane] = _round(v[lane], int.from_bytes(data[i + 8 * lane : i + 8 * lane + 8], "little"))


def _converge(v: list[int]) -> int:
    h = (_rotl64(v[0], 1) + _rotl64(v[1], 7) + _rotl64(v[2], 12) + _rotl64(v[3], 18)) & M64
    for lane in v:
        h = _merge(h, lane)
    return h


def xxh64_reference(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` (the algorithm's specification)."""
    if len(data) >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        _stripes(v, data)
        h = _converge(v)
    else:
        h = (seed + P5) & M64
    h = (h + len(data)) & M64
    return _tail(h, data[len(data) - len(data) % 32 :])


@service("uint64_t xxh64(const void *input, size_t length, uint64_t seed)")
def xxh64(k: Kernel, input_: int, length: int, seed: int) -> int:
    """XXH64 of a buffer."""
    return xxh64_reference(k.memory.read(input_, length) if length else b"", seed)


# struct xxh64_state
X_TOTAL, X_V, X_MEM, X_MEMSIZE = 0, 8, 40, 72


@service("void xxh64_reset(struct xxh64_state *state, uint64_t seed)")
def xxh64_reset(k: Kernel, state: int, seed: int) -> None:
    """Start a streaming hash."""
    v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed & M64, (seed - P1) & M64]
    k.memory.write(state, bytes(76))
    k.memory.write(state + X_V, b"".join(x.to_bytes(8, "little") for x in v))


def _load(k: Kernel, state: int) -> tuple[int, list[int], bytes]:
    raw = k.memory.read(state, 76)
    total = _le(raw[0:8])
    v = [_le(raw[8 + 8 * i : 16 + 8 * i]) for i in range(4)]
    memsize = _le(raw[72:76])
    return total, v, raw[40 : 40 + memsize]


def _store(k: Kernel, state: int, total: int, v: list[int], pending: bytes) -> None:
    k.memory.write(state, total.to_bytes(8, "little") + b"".join(x.to_bytes(8, "little") for x in v)
                   + pending.ljust(32, b"\0") + len(pending).to_bytes(4, "little"))


@service("int xxh64_update(struct xxh64_state *state, const void *input, size_t length)")
def xxh64_update(k: Kernel, state: int, input_: int, length: int) -> int:
    """Feed data; -EINVAL for a NULL input."""
    if not input_:
        return -F.EINVAL
    total, v, pending = _load(k, state)
    data = pending + (k.memory.read(input_, length) if length else b"")
    total += length
    whole = len(data) - len(data) % 32
    _stripes(v, data[:whole])
    _store(k, state, total & M64, v, data[whole:])
    return 0


@service("uint64_t xxh64_digest(const struct xxh64_state *state)")
def xxh64_digest(k: Kernel, state: int) -> int:
    """The hash of everything fed so far."""
    total, v, pending = _load(k, state)
    if total >= 32:
        h = _converge(v)
    else:
        h = (v[2] + P5) & M64  # v3 is the seed
    return _tail((h + total) & M64, pending)


# -- LZ4 ----------------------------------------------------------------------------------
def lz4_block_decompress(src: bytes, capacity: int) -> bytes | None:
    """The LZ4 block format; None when the input is malformed or would overflow ``capacity``."""
    out = bytearray()
    i = 0
    while i < len(src):
        token = src[i]
        i += 1
        literals = token >> 4
        if literals == 15:
            while True:
                if i >= len(src):
                    return None
                extra = src[i]
                i += 1
                literals += extra
                if extra != 255:
                    break
        if i + literals > len(src) or len(out) + literals > capacity:
            return None
        out += src[i : i + literals]
        i += literals
        if i == len(src):
            return bytes(out)  # the last sequence has literals only
        if i + 2 > len(src):
            return None
        offset = src[i] | src[i + 1] << 8
        i += 2
        if not offset or offset > len(out):
            return None
        match = (token & 15) + 4
        if token & 15 == 15:
            while True:
                if i >= len(src):
                    return None
                extra = src[i]
                i += 1
                match += extra
                if extra != 255:
                    break
        if len(out) + match > capacity:
            return None
        start = len(out) - offset
        for j in range(match):
            out.append(out[start + j])
    return None if src else bytes(out)


@service("int LZ4_decompress_safe(const char *source, char *dest, int compressedSize, int maxDecompressedSize)")
def LZ4_decompress_safe(k: Kernel, source: int, dest: int, compressed: int, capacity: int) -> int:
    """Decompress an LZ4 block into at most ``capacity`` bytes; its length, or a negative value if malformed."""
    if compressed <= 0 or capacity < 0:
        return -1
    out = lz4_block_decompress(k.memory.read(source, compressed), capacity)
    if out is None:
        return -1
    if out:
        k.memory.write(dest, out)
    return len(out)


@service("int LZ4_decompress_safe_partial(const char *src, char *dst, int srcSize, int targetOutputSize, "
         "int dstCapacity)")
def LZ4_decompress_safe_partial(k: Kernel, src: int, dst: int, size: int, target: int, capacity: int) -> int:
    """Decompress at least ``target`` bytes (here exactly that many, or all there is) into ``dst``."""
    if size <= 0 or capacity < 0:
        return -1
    out = lz4_block_decompress(k.memory.read(src, size), 1 << 24)
    if out is None:
        return -1
    out = out[: min(target, capacity)]
    if out:
        k.memory.write(dst, out)
    return len(out)


# The digests of the empty message (crypto/sha1_generic.c, sha256_generic.c export them for drivers).
sha1_zero_message_hash = kernel_variable("sha1_zero_message_hash", 20, hashlib.sha1(b"").digest())
sha224_zero_message_hash = kernel_variable("sha224_zero_message_hash", 28, hashlib.sha224(b"").digest())
sha256_zero_message_hash = kernel_variable("sha256_zero_message_hash", 32, hashlib.sha256(b"").digest())
