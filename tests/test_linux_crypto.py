"""The crypto API with Debian's real Linux 6.1 modules: registration, lookup, transforms, templates.

Each algorithm is judged against a reference that does not come from the
module or from the sandbox's own library: a CRC table written here, the
published vectors of the algorithms' specifications (FIPS-197 and NIST SP
800-38A for AES and its modes, RFC 7539 for ChaCha20, FIPS 46-3 / SP 800-67
for DES and 3DES, the xxHash specification), and frames made by the host's
``lz4`` tool.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from kernel_stubs.linux.crypto import Crypto, CryptoError, Transforms, crypto_api
from sandbox import Kernel

from .crypto_references import x25519
from .linux_corpus import KDIR, ko, needs_corpus

pytestmark = needs_corpus


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", budget_seconds=30)


def load(k: Kernel, *paths: str) -> list:
    return [k.load(ko(p)) for p in paths]


def needs_page_services(k: Kernel) -> None:
    """aegis128 and gcm build and map scatterlists inline (mem_map, sg_next, kmap_local): skip without them."""
    missing = [n for n in ("mem_map", "sg_next", "sg_init_one", "sg_init_table", "__kmap_local_page_prot")
               if not k.can_resolve(n)]
    if missing:
        pytest.skip(f"the page and scatterlist services are not in this tree yet ({', '.join(missing)})")


# -- references written from the specifications ---------------------------------------
def crc_table(poly: int, reflected: bool, width: int) -> list[int]:
    table = []
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    for n in range(256):
        if reflected:
            c = n
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
        else:
            c = n << (width - 8)
            for _ in range(8):
                c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
        table.append(c)
    return table


CRC32C = crc_table(0x82F63B78, True, 32)
T10DIF = crc_table(0x8BB7, False, 16)


def crc32c(data: bytes, crc: int = 0xFFFFFFFF) -> int:
    for b in data:
        crc = CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc_t10dif(data: bytes, crc: int = 0) -> int:
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ T10DIF[((crc >> 8) ^ b) & 0xFF]
    return crc


def chacha20(key: bytes, counter: int, nonce: bytes, data: bytes, rounds: int = 20) -> bytes:
    """RFC 7539 section 2.4, written from the RFC."""

    def rotl(v: int, n: int) -> int:
        return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF

    def block(count: int) -> bytes:
        const = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
        state = const + [int.from_bytes(key[i:i + 4], "little") for i in range(0, 32, 4)] + [count] + \
            [int.from_bytes(nonce[i:i + 4], "little") for i in range(0, 12, 4)]
        x = list(state)
        for _ in range(rounds // 2):
            for a, b, c, d in ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
                               (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)):
                x[a] = (x[a] + x[b]) & 0xFFFFFFFF
                x[d] = rotl(x[d] ^ x[a], 16)
                x[c] = (x[c] + x[d]) & 0xFFFFFFFF
                x[b] = rotl(x[b] ^ x[c], 12)
                x[a] = (x[a] + x[b]) & 0xFFFFFFFF
                x[d] = rotl(x[d] ^ x[a], 8)
                x[c] = (x[c] + x[d]) & 0xFFFFFFFF
                x[b] = rotl(x[b] ^ x[c], 7)
        return b"".join(((p + q) & 0xFFFFFFFF).to_bytes(4, "little") for p, q in zip(x, state))

    stream = b"".join(block(counter + i) for i in range(-(-len(data) // 64)))
    return bytes(a ^ b for a, b in zip(data, stream))


def hchacha(key: bytes, nonce16: bytes, rounds: int) -> bytes:
    """HChaCha (draft-irtf-cfrg-xchacha section 2.2): the permuted state's words 0-3 and 12-15."""
    block = chacha20(key, int.from_bytes(nonce16[:4], "little"), nonce16[4:], bytes(64), rounds)
    # chacha20() adds the input state back; take it off again for the words HChaCha keeps.
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574] + \
        [int.from_bytes(key[i:i + 4], "little") for i in range(0, 32, 4)] + \
        [int.from_bytes(nonce16[i:i + 4], "little") for i in range(0, 16, 4)]
    words = [(int.from_bytes(block[i:i + 4], "little") - state[i // 4]) & 0xFFFFFFFF for i in range(0, 64, 4)]
    return b"".join(w.to_bytes(4, "little") for w in words[0:4] + words[12:16])


def xchacha(key: bytes, iv: bytes, data: bytes, rounds: int) -> bytes:
    """XChaCha as Linux's IV lays it out: 24 nonce bytes, then the 64-bit block counter."""
    subkey = hchacha(key, iv[:16], rounds)
    counter = int.from_bytes(iv[24:28], "little")
    return chacha20(subkey, counter, bytes(4) + iv[16:24], data, rounds)


M64 = (1 << 64) - 1
XP = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 from the xxHash specification (doc/xxhash_spec.md)."""
    p1, p2, p3, p4, p5 = XP

    def rotl(v: int, n: int) -> int:
        return ((v << n) | (v >> (64 - n))) & M64

    def rnd(acc: int, lane: int) -> int:
        return rotl((acc + lane * p2) & M64, 31) * p1 & M64

    n = len(data)
    i = 0
    if n >= 32:
        acc = [(seed + p1 + p2) & M64, (seed + p2) & M64, seed, (seed - p1) & M64]
        while i + 32 <= n:
            acc = [rnd(acc[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little")) for j in range(4)]
            i += 32
        h = (rotl(acc[0], 1) + rotl(acc[1], 7) + rotl(acc[2], 12) + rotl(acc[3], 18)) & M64
        for a in acc:
            h = ((h ^ rnd(0, a)) * p1 + p4) & M64
    else:
        h = (seed + p5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, int.from_bytes(data[i:i + 8], "little")), 27) * p1 + p4) & M64
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (int.from_bytes(data[i:i + 4], "little") * p1 & M64), 23) * p2 + p3) & M64
        i += 4
    while i < n:
        h = rotl(h ^ (data[i] * p5 & M64), 11) * p1 & M64
        i += 1
    h = (h ^ (h >> 33)) * p2 & M64
    h = (h ^ (h >> 29)) * p3 & M64
    return h ^ (h >> 32)


def test_references_match_published_vectors() -> None:
    assert crc32c(b"123456789") ^ 0xFFFFFFFF == 0xE3069283  # the CRC-32C check value
    assert crc_t10dif(b"123456789") == 0xD0DB  # CRC-16/T10-DIF check value
    assert xxh64(b"") == 0xEF46DB3751D8E999 and xxh64(b"abc") == 0x44BC2CF5AD770999
    # RFC 7539 2.4.2, the first block of the sunscreen text.
    key = bytes(range(32))
    text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " \
           b"sunscreen would be it."
    out = chacha20(key, 1, bytes.fromhex("000000000000004a00000000"), text)
    assert out[:16].hex() == "6e2e359a2568f98041ba0728dd0d6981" and out[-2:].hex() == "874d"


# -- hashes -----------------------------------------------------------------------------
def test_libcrc32c_allocates_the_shash_registered_by_crc32c_generic(lk: Kernel) -> None:
    _, lib = load(lk, "crypto/crc32c_generic.ko", "lib/libcrc32c.ko")
    (tfm,) = lk.subsystem(Transforms).live.values()  # libcrc32c's init allocated it
    assert (tfm.alg.driver_name, tfm.owner) == ("crc32c-generic", "libcrc32c")
    assert lk.memory.read_cstring(lib.call("crc32c_impl") & 0xFFFFFFFF) == b"crc32c-generic"
    rng = random.Random(32)
    for size in (0, 1, 7, 64, 1000):
        data = rng.randbytes(size)
        seed = rng.getrandbits(32)
        assert lib.call("crc32c", seed, data, size) & 0xFFFFFFFF == crc32c(data, seed)
    # The shash holds crc32c_generic: unloading the user frees the transform, then the provider goes cleanly.
    assert lk.unload(lib).clean and not lk.subsystem(Transforms).live
    assert lk.unload("crc32c_generic").clean and not lk.subsystem(Crypto).from_modules


def test_crc_t10dif_library_over_crct10dif_generic(lk: Kernel) -> None:
    *_, lib = load(lk, "crypto/crct10dif_common.ko", "crypto/crct10dif_generic.ko", "lib/crc-t10dif.ko")
    rng = random.Random(10)
    for size in (1, 9, 100, 4096 + 3):
        data = rng.randbytes(size)
        assert lib.call("crc_t10dif", data, size) & 0xFFFF == crc_t10dif(data)
    assert lib.call("crc_t10dif_update", 0x1234, b"123456789", 9) & 0xFFFF == crc_t10dif(b"123456789", 0x1234)
    assert lk.unload(lib).clean


def test_xxhash64_generic_against_the_specification(lk: Kernel) -> None:
    (m,) = load(lk, "crypto/xxhash_generic.ko")
    api = crypto_api(lk)
    h = api.shash("xxhash64")
    assert h.driver_name == "xxhash64-generic" and h.digestsize == 8
    rng = random.Random(64)
    for size in (0, 3, 31, 32, 33, 100, 1000):
        data = rng.randbytes(size)
        assert h.digest(data, chunks=3) == xxh64(data).to_bytes(8, "little")
    h.setkey((0x0123456789ABCDEF).to_bytes(8, "little"))  # the key is the seed
    data = rng.randbytes(77)
    assert h.digest(data) == xxh64(data, 0x0123456789ABCDEF).to_bytes(8, "little")
    h.close()
    assert lk.unload(m).clean and not api.algorithms(builtin=False)


def test_an_ahash_over_a_registered_shash_walks_its_scatterlist(lk: Kernel) -> None:
    load(lk, "crypto/crc32c_generic.ko")
    a = crypto_api(lk).ahash("crc32c")
    data = random.Random(3).randbytes(5000)  # crosses pages; cut into 4 scatterlist entries
    assert a.digest(data, pieces=4) == (crc32c(data) ^ 0xFFFFFFFF).to_bytes(4, "little")
    a.close()
    assert not lk.subsystem(Transforms).live  # the inner shash went with it


# -- ciphers ----------------------------------------------------------------------------
AES_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
SP800_38A_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")


def test_aes_ti_is_a_cipher_with_the_fips197_results(lk: Kernel) -> None:
    load(lk, "crypto/aes_ti.ko")
    c = crypto_api(lk).cipher("aes")
    assert c.driver_name == "aes-fixed-time" and c.blocksize == 16
    c.setkey(bytes(range(16)))  # FIPS-197 appendix C.1
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert c.encrypt_block(block).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert c.decrypt_block(bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")) == block
    c.setkey(bytes(range(32)))  # C.3
    assert c.encrypt_block(block).hex() == "8ea2b7ca516745bfeafc49904b496089"
    with pytest.raises(CryptoError) as error:
        c.setkey(bytes(15))
    assert error.value.errno == -22  # -EINVAL: crypto_cipher_setkey's key size bounds
    c.close()


def test_ecb_and_ctr_templates_build_instances_over_aes(lk: Kernel) -> None:
    """"ecb(aes)" and "ctr(aes)" are not registered by anyone: the ecb and ctr modules' templates
    build them over aes_ti's cipher, as cryptomgr does; the NIST vectors come out."""
    _, ecb, ctr = load(lk, "crypto/aes_ti.ko", "crypto/ecb.ko", "crypto/ctr.ko")
    api = crypto_api(lk)
    e = api.skcipher("ecb(aes)")
    assert e.driver_name == "ecb(aes-fixed-time)"
    expect = bytes.fromhex("3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
                           "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4")
    assert e.encrypt(AES_KEY, b"", SP800_38A_PLAIN) == expect  # SP 800-38A F.1.1
    assert e.decrypt(AES_KEY, b"", expect, pieces=3) == SP800_38A_PLAIN
    with pytest.raises(CryptoError) as error:
        e.encrypt(AES_KEY, b"", SP800_38A_PLAIN[:20])  # not whole blocks
    assert error.value.errno == -22
    c = api.skcipher("ctr(aes)")
    iv = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    expect = bytes.fromhex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
                           "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")
    assert c.encrypt(AES_KEY, iv, SP800_38A_PLAIN) == expect  # SP 800-38A F.5.1
    assert c.last_iv == (int.from_bytes(iv, "big") + 4).to_bytes(16, "big")  # the counter moved on
    # A stream cipher: any length, any cut of the scatterlist (walk steps and bounce buffers).
    for length, pieces in ((37, 1), (37, 5), (64, 7), (1, 1)):
        assert c.encrypt(None, iv, SP800_38A_PLAIN[:length], pieces=pieces) == expect[:length]
        assert c.decrypt(None, iv, expect[:length], pieces=pieces, inplace=True) == SP800_38A_PLAIN[:length]
    names = {a.driver_name: a for a in api.algorithms(builtin=False)}
    assert names["ctr(aes-fixed-time)"].owner == "ctr" and names["ctr(aes-fixed-time)"].instance
    e.close()
    c.close()
    # Unloading a template's module takes its instances away; they were freed by the module's own free.
    assert lk.unload(ctr).clean and "ctr(aes-fixed-time)" not in {a.driver_name for a in api.algorithms(builtin=False)}
    assert lk.unload(ecb).clean and [a.driver_name for a in api.algorithms(builtin=False)] == ["aes-fixed-time"]


def test_a_template_needs_its_module_or_a_tree_to_load_it_from(lk: Kernel) -> None:
    load(lk, "crypto/aes_ti.ko")
    api = crypto_api(lk)
    assert not api.has("ctr(aes)")  # no template yet, and no tree to load it from
    api.autoload_from(str(KDIR))
    assert api.has("ctr(aes)")  # request_module("crypto-ctr") loaded ctr.ko, its template built the instance
    assert "ctr" in [m.name for m in lk.modules]
    assert any(e.name == "request_module" and e.fields.get("module") == "crypto-ctr" for e in lk.trace.events)


def test_chacha_generic_over_libchacha_matches_rfc7539(lk: Kernel) -> None:
    load(lk, "lib/crypto/libchacha.ko", "crypto/chacha_generic.ko")
    api = crypto_api(lk)
    names = sorted(a.name for a in api.algorithms(builtin=False))
    assert names == ["chacha20", "xchacha12", "xchacha20"]
    s = api.skcipher("chacha20")
    key = bytes(range(32))
    nonce = bytes.fromhex("000000000000004a00000000")
    text = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " \
           b"sunscreen would be it."
    iv = (1).to_bytes(4, "little") + nonce  # Linux's chacha20 IV: the 32-bit counter, then the nonce
    assert s.encrypt(key, iv, text) == chacha20(key, 1, nonce, text)
    rng = random.Random(20)
    for length, pieces in ((1, 1), (63, 2), (64, 1), (65, 3), (300, 5), (5000, 4)):
        data = rng.randbytes(length)
        assert s.encrypt(key, iv, data, pieces=pieces) == chacha20(key, 1, nonce, data)
    s.close()
    # XChaCha: HChaCha of the key and the first 16 IV bytes gives the subkey (hchacha_block_generic).
    x = api.skcipher("xchacha12")
    xiv = rng.randbytes(24) + (7).to_bytes(8, "little")
    data = rng.randbytes(200)
    assert x.encrypt(key, xiv, data, pieces=2) == xchacha(key, xiv, data, rounds=12)
    x.close()


def test_des_generic_over_libdes_with_published_vectors(lk: Kernel) -> None:
    load(lk, "lib/crypto/libdes.ko", "crypto/des_generic.ko")
    api = crypto_api(lk)
    d = api.cipher("des")
    d.setkey(bytes.fromhex("133457799bbcdff1"))  # the classic worked example of FIPS 46
    assert d.encrypt_block(bytes.fromhex("0123456789abcdef")).hex() == "85e813540f0ab405"
    assert d.decrypt_block(bytes.fromhex("85e813540f0ab405")).hex() == "0123456789abcdef"
    d.setkey(bytes.fromhex("0101010101010101"))  # a weak key: accepted unless the user forbids weak keys
    d.set_flags(0x100)  # CRYPTO_TFM_REQ_FORBID_WEAK_KEYS
    with pytest.raises(CryptoError) as error:
        d.setkey(bytes.fromhex("0101010101010101"))
    assert error.value.errno == -22
    t = api.cipher("des3_ede")
    t.setkey(bytes.fromhex("0123456789abcdef23456789abcdef01456789abcdef0123"))  # SP 800-67 example
    text = b"The qufck brown fox jump"
    out = b"".join(t.encrypt_block(text[i:i + 8]) for i in range(0, 24, 8))
    assert out.hex() == "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900"
    d.close()
    t.close()


# -- compression ------------------------------------------------------------------------
def lz4_frame_blocks(frame: bytes) -> list[tuple[bytes, bool]]:
    """The data blocks of an LZ4 frame (lz4 frame format: magic, FLG, BD, [size], HC, blocks, end mark)."""
    assert frame[:4] == bytes.fromhex("04224d18")
    flg = frame[4]
    at = 7 + (8 if flg & 0x08 else 0)
    blocks = []
    while True:
        size = int.from_bytes(frame[at:at + 4], "little")
        at += 4
        if size == 0:
            return blocks
        blocks.append((frame[at:at + (size & 0x7FFFFFFF)], bool(size & 0x80000000)))
        at += (size & 0x7FFFFFFF) + (4 if flg & 0x10 else 0)


def test_lz4_module_round_trips_and_reads_the_host_tools_blocks(lk: Kernel, tmp_path) -> None:
    load(lk, "lib/lz4/lz4_compress.ko", "crypto/lz4.ko")
    api = crypto_api(lk)
    assert sorted((a.kind, a.driver_name) for a in api.algorithms(builtin=False)) == [("alg", "lz4-generic"),
                                                                           ("scomp", "lz4-scomp")]
    rng = random.Random(4)
    samples = [b"", b"a", bytes(1000), b"abcabcabd" * 300, rng.randbytes(700),
               b"".join(rng.choice([b"alpha ", b"beta ", b"gamma "]) for _ in range(2000))]
    for comp in (api.comp("lz4"), api.scomp("lz4")):
        for data in samples[1:]:
            packed = comp.compress(data)
            assert comp.decompress(packed, len(data)) == data
        with pytest.raises(CryptoError):
            comp.decompress(b"\xf0\x00", 100)  # a literal run longer than the input
        comp.close()
    if shutil.which("lz4") is None:
        pytest.skip("the host's lz4 tool is not installed (tools/setup installs it)")
    data = samples[-1] + bytes(70000)  # more than one 64 KiB block
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    frame = subprocess.run(["lz4", "-q", "-c", "-B4", "-BI", str(source)], capture_output=True,
                           check=True).stdout
    comp = api.comp("lz4")
    out = b"".join(block if stored else comp.decompress(block, 1 << 16) for block, stored in lz4_frame_blocks(frame))
    assert out == data
    comp.close()


# -- registration rules ---------------------------------------------------------------
def test_registrations_go_at_unload_and_duplicates_are_refused(lk: Kernel) -> None:
    xx, = load(lk, "crypto/xxhash_generic.ko")
    api = crypto_api(lk)
    (alg,) = api.algorithms(builtin=False)
    assert (alg.kind, alg.name, alg.driver_name, alg.priority, alg.owner) == (
        "shash", "xxhash64", "xxhash64-generic", 100, "xxhash_generic")
    assert alg.flags & 0x40F == 0x40E  # CRYPTO_ALG_TYPE_SHASH, and tested
    from kernel_stubs.linux.crypto.hash import crypto_register_shash

    assert crypto_register_shash(lk, alg.address) == -17  # -EEXIST: the same struct again
    assert api.has("xxhash64-generic") and api.has("xxhash64") and not api.has("xxhash32")
    assert lk.unload(xx).clean and not api.algorithms(builtin=False) and not api.has("xxhash64")


def test_zstd_module_compresses_with_the_real_compressor_and_reads_the_tools_frames(lk: Kernel) -> None:
    """zstd.ko over Debian's zstd_compress.ko (real) and the kernel's built-in decompressor: what the module
    compresses the host's zstd reads back, and frames the host's zstd makes the module decompresses."""
    load(lk, "lib/zstd/zstd_compress.ko", "crypto/zstd.ko")
    api = crypto_api(lk)
    assert sorted(a.driver_name for a in api.algorithms(builtin=False)) == ["zstd-generic", "zstd-scomp"]
    rng = random.Random(22)
    text = b"".join(rng.choice([b"alpha ", b"beta ", b"gamma ", b"delta\n"]) for _ in range(3000))
    z = api.comp("zstd")
    packed = z.compress(text)
    assert len(packed) < len(text) // 3 and z.decompress(packed, len(text)) == text
    with pytest.raises(CryptoError) as error:
        z.decompress(packed, len(text) - 1)  # the destination is one byte short
    assert error.value.errno == -22
    with pytest.raises(CryptoError):
        z.decompress(packed[:-9], len(text))  # truncated
    if shutil.which("zstd") is None:
        pytest.skip("the host's zstd tool is not installed (tools/setup installs it)")
    assert subprocess.run(["zstd", "-d", "-q", "-c"], input=packed, capture_output=True, check=True).stdout == text
    for level in ("-1", "-19"):
        for data in (text, bytes(50000), rng.randbytes(3000)):
            frame = subprocess.run(["zstd", level, "-q", "-c"], input=data, capture_output=True, check=True).stdout
            assert z.decompress(frame, len(data)) == data
    z.close()


def test_crc_t10dif_hears_of_the_algorithm_through_the_crypto_notifier(lk: Kernel) -> None:
    """Loaded before crct10dif_generic, crc-t10dif falls back to its table; registering the shash sends
    CRYPTO_MSG_ALG_LOADED down the notifier chain, its work re-allocates the transform."""
    from kernel_stubs.linux.workqueue import run_work

    _, lib = load(lk, "crypto/crct10dif_common.ko", "lib/crc-t10dif.ko")
    assert not lk.subsystem(Transforms).live
    assert lib.call("crc_t10dif", b"123456789", 9) & 0xFFFF == 0xD0DB  # the fallback
    load(lk, "crypto/crct10dif_generic.ko")
    run_work(lk)
    (tfm,) = lk.subsystem(Transforms).live.values()
    assert (tfm.alg.driver_name, tfm.owner) == ("crct10dif-generic", "crc_t10dif")
    data = random.Random(16).randbytes(999)
    assert lib.call("crc_t10dif", data, len(data)) & 0xFFFF == crc_t10dif(data)
    assert lk.unload(lib).clean


def test_the_kernels_null_algorithms_and_the_default_null_skcipher(lk: Kernel) -> None:
    from kernel_stubs.linux.crypto.null import crypto_get_default_null_skcipher, crypto_put_default_null_skcipher

    api = crypto_api(lk)
    at_boot = {a.driver_name for a in api.algorithms()}
    assert at_boot == {"aes-generic", "md5-generic", "sha1-generic", "sha224-generic", "sha256-generic"}
    s = api.skcipher("ecb(cipher_null)")  # the null algorithms are registered the first time one is asked for
    assert s.driver_name == "ecb-cipher_null"
    data = random.Random(0).randbytes(300)
    assert s.encrypt(b"", b"", data, pieces=3) == data
    s.close()
    assert {a.driver_name for a in api.algorithms()} - at_boot == {
        "cipher_null-generic", "compress_null-generic", "digest_null-generic", "ecb-cipher_null"}
    first = crypto_get_default_null_skcipher(lk)
    assert crypto_get_default_null_skcipher(lk) == first  # shared
    crypto_put_default_null_skcipher(lk)
    assert first in lk.subsystem(Transforms).live
    crypto_put_default_null_skcipher(lk)
    assert first not in lk.subsystem(Transforms).live  # the last user freed it


def test_ansi_cprng_draws_on_a_cipher_of_its_own(lk: Kernel) -> None:
    """ansi_cprng (X9.31 over AES) allocates "aes" with crypto_alloc_base and keys it from its seed."""
    if not lk.can_resolve("panic") or not lk.can_resolve("print_hex_dump"):
        pytest.skip("ansi_cprng also imports panic and print_hex_dump (the kernel library's)")
    load(lk, "crypto/aes_ti.ko", "crypto/ansi_cprng.ko")
    api = crypto_api(lk)
    r = api.rng("ansi_cprng")
    assert r.seedsize == 48  # V (16) + key (16) + DT (16)
    v, key, dt = bytes(16), bytes(range(16)), bytes(16)
    r.seed(v + key + dt)
    out = r.generate(32)
    # X9.31 with AES, written out: I = E(DT); R = E(I ^ V); V' = E(R ^ I); DT + 1 each block.
    c = api.cipher("aes")
    c.setkey(key)

    def xor(a: bytes, b: bytes) -> bytes:
        return bytes(x ^ y for x, y in zip(a, b))

    expect = b""
    for _ in range(2):
        i = c.encrypt_block(dt)
        block = c.encrypt_block(xor(i, v))
        v = c.encrypt_block(xor(block, i))
        dt = (int.from_bytes(dt, "big") + 1).to_bytes(16, "big")
        expect += block
    assert out == expect
    r.close()
    c.close()


# -- AEAD -------------------------------------------------------------------------------
def _gmul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a = ((a << 1) ^ 0x11B) if a & 0x80 else a << 1
        b >>= 1
    return out


def _aes_sbox() -> list[int]:
    box = []
    for x in range(256):
        inv = next((y for y in range(1, 256) if _gmul(x, y) == 1), 0)
        s = inv
        for shift in range(1, 5):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        box.append(s ^ 0x63)
    return box


SBOX = _aes_sbox()


def aes_round(state: bytes, key: bytes) -> bytes:
    """One AES encryption round (SubBytes, ShiftRows, MixColumns, AddRoundKey), FIPS-197 section 5.1."""
    s = [SBOX[b] for b in state]
    s = [s[4 * ((c + r) % 4) + r] for c in range(4) for r in range(4)]
    out = []
    for c in range(4):
        a = s[4 * c:4 * c + 4]
        out += [_gmul(a[0], 2) ^ _gmul(a[1], 3) ^ a[2] ^ a[3], a[0] ^ _gmul(a[1], 2) ^ _gmul(a[2], 3) ^ a[3],
                a[0] ^ a[1] ^ _gmul(a[2], 2) ^ _gmul(a[3], 3), _gmul(a[0], 3) ^ a[1] ^ a[2] ^ _gmul(a[3], 2)]
    return bytes(x ^ y for x, y in zip(out, key))


def aegis128(key: bytes, iv: bytes, assoc: bytes, text: bytes, decrypt: bool = False) -> tuple[bytes, bytes]:
    """AEGIS-128 from its specification (Wu and Preneel, CAESAR final round): (output text, 16-byte tag)."""
    def xor(*blocks: bytes) -> bytes:
        out = bytes(16)
        for b in blocks:
            out = bytes(x ^ y for x, y in zip(out, b))
        return out

    def update(s: list[bytes], m: bytes) -> list[bytes]:
        return [aes_round(s[4], xor(s[0], m)), aes_round(s[0], s[1]), aes_round(s[1], s[2]),
                aes_round(s[2], s[3]), aes_round(s[3], s[4])]

    const0 = bytes.fromhex("000101020305080d1522375990e97962")
    const1 = bytes.fromhex("db3d18556dc22ff12011314273b528dd")
    s = [xor(key, iv), const1, const0, xor(key, const0), xor(key, const1)]
    for i in range(10):
        s = update(s, key if i % 2 == 0 else xor(key, iv))
    for i in range(0, len(assoc), 16):
        s = update(s, assoc[i:i + 16].ljust(16, b"\0"))
    out = b""
    for i in range(0, len(text), 16):
        chunk = text[i:i + 16]
        stream = xor(s[1], s[4], bytes(x & y for x, y in zip(s[2], s[3])))
        piece = bytes(x ^ y for x, y in zip(chunk, stream))
        out += piece
        s = update(s, (piece if decrypt else chunk).ljust(16, b"\0"))
    lengths = (8 * len(assoc)).to_bytes(8, "little") + (8 * len(text)).to_bytes(8, "little")
    tmp = xor(s[3], lengths)
    for _ in range(7):
        s = update(s, tmp)
    return out, xor(*s)


def test_aegis128_matches_its_specification(lk: Kernel) -> None:
    """aegis128.ko's generic code (the AES round from crypto_ft_tab, the walk over its text, associated data
    read with scatterwalk and kmap) against the specification; a wrong tag is -EBADMSG."""
    needs_page_services(lk)
    load(lk, "crypto/aegis128.ko")
    a = crypto_api(lk).aead("aegis128")
    assert a.driver_name == "aegis128-generic" and a.authsize == 16 and a.ivsize == 16
    rng = random.Random(128)
    key, iv = rng.randbytes(16), rng.randbytes(16)
    a.setkey(key)
    for alen, tlen, pieces in ((0, 0, 1), (0, 16, 1), (5, 17, 2), (16, 64, 3), (33, 100, 4), (0, 3000, 5)):
        assoc, text = rng.randbytes(alen), rng.randbytes(tlen)
        ciphertext, tag = aegis128(key, iv, assoc, text)
        sealed = a.encrypt(None, iv, assoc, text, pieces=pieces)
        assert sealed == ciphertext + tag
        assert a.decrypt(None, iv, assoc, sealed, pieces=pieces) == text
    with pytest.raises(CryptoError) as error:
        a.decrypt(None, iv, b"", sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert error.value.errno == -74  # -EBADMSG: __crypto_memneq saw the tags differ
    a.setauthsize(8)
    assert a.encrypt(None, iv, b"ad", b"text") == b"".join(aegis128(key, iv, b"ad", b"text"))[:4 + 8]
    a.close()


def test_gcm_template_over_ctr_and_ghash_matches_the_gcm_specification(lk: Kernel) -> None:
    """"gcm(aes)": gcm.ko's template grabs "ctr(aes)" (built by ctr.ko's template over aes_ti) and
    "ghash" (ghash-generic over gf128mul) as an ahash; the GCM specification's test cases come out."""
    needs_page_services(lk)
    load(lk, "crypto/aes_ti.ko", "crypto/ctr.ko", "crypto/gf128mul.ko", "crypto/ghash-generic.ko", "crypto/gcm.ko")
    api = crypto_api(lk)
    g = api.aead("gcm(aes)")
    assert g.driver_name == "gcm_base(ctr(aes-fixed-time),ghash-generic)" and g.ivsize == 12
    # Test case 2 of McGrew and Viega's GCM specification: zero key, zero block.
    assert g.encrypt(bytes(16), bytes(12), b"", bytes(16)).hex() == \
        "0388dace60b6a392f328c2b971b2fe78" "ab6e47d42cec13bdf53a67b21257bddf"
    # Test case 4: associated data and a partial last block.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    text = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    assoc = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    sealed = g.encrypt(key, iv, assoc, text, pieces=3)
    assert sealed.hex() == ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
                            "5bc94fbc3221a5db94fae95ae7121a47")
    assert g.decrypt(None, iv, assoc, sealed) == text
    with pytest.raises(CryptoError) as error:
        g.decrypt(None, iv, assoc[:-1] + b"\0", sealed)
    assert error.value.errno == -74
    g.close()


def test_curve25519_kpp_agrees_with_rfc7748(lk: Kernel) -> None:
    """curve25519-generic registers a kpp; secrets in, public keys and shared secrets out through
    scatterlists (sg_copy_from/to_buffer), as the RFC's Diffie-Hellman example computes them."""
    load(lk, "lib/crypto/libcurve25519-generic.ko", "crypto/curve25519-generic.ko")
    kpp = crypto_api(lk).kpp("curve25519")
    assert kpp.driver_name == "curve25519-generic" and kpp.max_size() == 32
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")  # RFC 7748 6.1
    bob_public = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    kpp.set_secret(alice)
    assert kpp.public_key().hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert kpp.shared_secret(bob_public).hex() == \
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    mine = random.Random(7).randbytes(32)
    kpp.set_secret(mine)
    assert kpp.shared_secret(bob_public) == x25519(mine, bob_public)
    with pytest.raises(CryptoError) as error:
        kpp.set_secret(bytes(31))  # not a 32-byte key
    assert error.value.errno == -22
    kpp.close()


def test_seqiv_generates_ivs_over_rfc4106_gcm(lk: Kernel) -> None:
    """seqiv.ko's instance comes from aead_geniv_alloc; its IV is the sequence number XOR a salt drawn
    from the default rng ("stdrng": ansi_cprng here), and what it seals is rfc4106(gcm(aes)) with that IV."""
    needs_page_services(lk)
    load(lk, "crypto/aes_ti.ko", "crypto/ansi_cprng.ko", "crypto/ctr.ko", "crypto/gf128mul.ko",
         "crypto/ghash-generic.ko", "crypto/gcm.ko", "crypto/seqiv.ko")
    api = crypto_api(lk)
    s = api.aead("seqiv(rfc4106(gcm(aes)))")
    assert s.driver_name == "seqiv(rfc4106(gcm_base(ctr(aes-fixed-time),ghash-generic)))" and s.ivsize == 8
    key = bytes(range(20))  # AES-128 key and rfc4106's 4-byte nonce
    inner = api.aead("rfc4106(gcm(aes))")
    inner.setkey(key)
    assoc, text = b"SPI+SEQ!", b"an IPsec payload of some length"
    ivs = []
    for seq in (1, 2):
        sealed = s.encrypt(key, seq.to_bytes(8, "big"), assoc, bytes(8) + text)
        iv = sealed[:8]
        ivs.append(int.from_bytes(iv, "big") ^ seq)
        assert sealed[8:] == inner.encrypt(None, iv, assoc + iv, text)  # the IV is authenticated data
        assert s.decrypt(None, seq.to_bytes(8, "big"), assoc, sealed) == iv + text
    assert ivs[0] == ivs[1]  # one salt per transform
    s.close()
    inner.close()


def test_authenc_over_the_null_algorithms_copies_between_lists(lk: Kernel) -> None:
    """authenc(digest_null,ecb(cipher_null)), as the kernel's own self-tests name it: the key is the
    rtattr authenc packs (no keys), the associated data reaches a separate dst list (memcpy_sglist) and
    the text goes through the null cipher; a zero-length tag."""
    load(lk, "crypto/authenc.ko")
    a = crypto_api(lk).aead("authenc(digest_null,ecb(cipher_null))")
    assert a.driver_name == "authenc(digest_null-generic,ecb-cipher_null)" and a.authsize == 0
    key = (8).to_bytes(2, "little") + (1).to_bytes(2, "little") + (0).to_bytes(4, "big")  # KEYA_PARAM, enckeylen 0
    assoc, text = b"header-bytes", random.Random(5).randbytes(100)
    assert a.encrypt(key, b"", assoc, text, pieces=3, inplace=False) == text
    assert a.last_assoc == assoc
    with pytest.raises(CryptoError) as error:
        a.setkey(b"\x08\x00\x02\x00\x00\x00\x00\x00")  # not a CRYPTO_AUTHENC_KEYA_PARAM attribute
    assert error.value.errno == -22
    a.close()


def test_highest_priority_wins_a_name_and_a_driver_name_picks_exactly(lk: Kernel) -> None:
    """Two "ecb(cipher_null)": the kernel's ecb-cipher_null (priority 100) and the ecb template's instance
    over cipher_null-generic (priority 0, built when its driver name is asked for). The name gives the
    higher priority; the driver name gives exactly that one."""
    load(lk, "crypto/ecb.ko")
    api = crypto_api(lk)
    built = api.skcipher("ecb(cipher_null-generic)")
    assert (built.alg.name, built.driver_name, built.alg.priority) == ("ecb(cipher_null)", "ecb(cipher_null-generic)", 0)
    chosen = api.skcipher("ecb(cipher_null)")
    assert (chosen.driver_name, chosen.alg.priority) == ("ecb-cipher_null", 100)
    # crypto_has_alg from the type/mask a caller gives: a shash is not an skcipher.
    assert api.has("ecb(cipher_null)", 0x5, 0xF) and not api.has("ecb(cipher_null)", 0xE, 0xF)
    built.close()
    chosen.close()


def test_the_default_rng_is_held_and_released(lk: Kernel) -> None:
    """crypto_get_default_rng makes one "stdrng" (ansi_cprng's) for the kernel; -EBUSY deleting it while held."""
    from kernel_stubs.linux.crypto.kinds import crypto_del_default_rng, crypto_get_default_rng, crypto_put_default_rng
    from kernel_stubs.linux.crypto.tfm import crypto_alg_mod_lookup, crypto_mod_put

    load(lk, "crypto/aes_ti.ko", "crypto/ansi_cprng.ko")
    assert crypto_get_default_rng(lk) == 0
    rng = lk.memory.read_u32(lk.export_address("crypto_default_rng"))
    entry = lk.subsystem(Transforms).live[rng]
    assert (entry.alg.driver_name, entry.owner) == ("ansi_cprng", "kernel")
    assert crypto_del_default_rng(lk) == -16  # -EBUSY: still held
    crypto_put_default_rng(lk)
    assert crypto_del_default_rng(lk) == 0 and not lk.memory.read_u32(lk.export_address("crypto_default_rng"))
    name = lk.memory.alloc(16)
    lk.memory.write(name, b"stdrng\0")
    alg = crypto_alg_mod_lookup(lk, name, 0, 0)
    (held,) = [a for a in crypto_api(lk).algorithms() if a.base == alg]
    assert (held.driver_name, held.users) == ("ansi_cprng", 1)
    crypto_mod_put(lk, alg)
    assert held.users == 0
    lk.memory.write(name, b"nothing\0")
    assert crypto_alg_mod_lookup(lk, name, 0, 0) == (-2) & 0xFFFFFFFF  # ERR_PTR(-ENOENT)
