"""The crypto Debian's 6.1 686 kernel has built in: aes-generic, md5, sha1, sha224, sha256, and the cbc and hmac
templates over any registered algorithm, a real module's included.

References that share nothing with the implementation: FIPS 197 and NIST SP 800-38A vectors for AES and
CBC, RFC 2202 and RFC 4231 for HMAC, Python's hashlib/hmac for the digests and HMAC over real modules'
hashes, and the host's ``openssl`` for CBC over des_generic's 3DES.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import shutil
import subprocess

import pytest

from kernel_stubs.linux.crypto import Crypto, CryptoError, Transforms, crypto_api
from sandbox import Kernel

from .linux_corpus import KDIR, ko, needs_corpus


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", budget_seconds=30)


# -- what is there at boot ------------------------------------------------------------------
def test_the_builtin_algorithms_have_debians_fields(lk: Kernel) -> None:
    """Names, priorities, block, digest and descriptor sizes as Debian's vmlinux has them."""
    api = crypto_api(lk)
    algs = {a.driver_name: a for a in api.algorithms()}
    assert {d: (a.name, a.priority, a.owner, a.kind) for d, a in algs.items()} == {
        "aes-generic": ("aes", 100, "kernel", "alg"),
        "md5-generic": ("md5", 0, "kernel", "shash"),
        "sha1-generic": ("sha1", 100, "kernel", "shash"),
        "sha224-generic": ("sha224", 100, "kernel", "shash"),
        "sha256-generic": ("sha256", 100, "kernel", "shash"),
    }
    sizes = {d: (a.fields["digestsize"], a.fields["descsize"], a.fields["statesize"]) for d, a in algs.items()
             if a.kind == "shash"}
    assert sizes == {"md5-generic": (16, 88, 88), "sha1-generic": (20, 92, 92), "sha224-generic": (28, 104, 104),
                     "sha256-generic": (32, 104, 104)}
    assert all(a.flags & 0x400 for a in algs.values())  # CRYPTO_ALG_TESTED
    assert sorted(t.name for t in lk.subsystem(Crypto).templates.values()) == ["cbc", "hmac"]
    c = api.cipher("aes")
    assert (c.driver_name, c.blocksize) == ("aes-generic", 16)
    c.close()


@pytest.mark.parametrize("name", ["md5", "sha1", "sha224", "sha256"])
def test_builtin_digests_agree_with_hashlib(lk: Kernel, name: str) -> None:
    api = crypto_api(lk)
    h = api.shash(name)
    rng = random.Random(name)
    for size in (0, 1, 55, 56, 63, 64, 65, 119, 128, 1000):
        data = rng.randbytes(size)
        assert h.digest(data) == hashlib.new(name, data).digest()
        assert h.digest(data, chunks=3) == hashlib.new(name, data).digest()
    a = api.ahash(name)  # the ahash frontend walks a scatterlist over the same shash
    data = rng.randbytes(5000)
    assert a.digest(data, pieces=4) == hashlib.new(name, data).digest()
    h.close()
    a.close()


def test_aes_generic_with_fips197_vectors(lk: Kernel) -> None:
    c = crypto_api(lk).cipher("aes-generic")
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    for key, expect in ((bytes(range(16)), "69c4e0d86a7b0430d8cdb78070b4c55a"),  # FIPS 197 C.1
                        (bytes(range(24)), "dda97ca4864cdfe06eaf70a0ec0d7191"),  # C.2
                        (bytes(range(32)), "8ea2b7ca516745bfeafc49904b496089")):  # C.3
        c.setkey(key)
        assert c.encrypt_block(block).hex() == expect
        assert c.decrypt_block(bytes.fromhex(expect)) == block
    with pytest.raises(CryptoError) as error:
        c.setkey(bytes(20))
    assert error.value.errno == -22
    c.close()


# -- cbc ------------------------------------------------------------------------------------
SP800_38A_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP800_38A_IV = bytes(range(16))
CBC_VECTORS = (  # SP 800-38A F.2.1 (AES-128) and F.2.5 (AES-256)
    ("2b7e151628aed2a6abf7158809cf4f3c",
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
     "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
    ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
     "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
     "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
)


def test_cbc_aes_with_sp800_38a_vectors(lk: Kernel) -> None:
    api = crypto_api(lk)
    s = api.skcipher("cbc(aes)")
    assert s.driver_name == "cbc(aes-generic)"
    (inst,) = [a for a in api.algorithms() if a.driver_name == "cbc(aes-generic)"]
    assert (inst.owner, inst.priority, bool(inst.instance)) == ("kernel", 100, True)
    for key, expect in CBC_VECTORS:
        key_b, ct = bytes.fromhex(key), bytes.fromhex(expect)
        assert s.encrypt(key_b, SP800_38A_IV, SP800_38A_PLAIN) == ct
        assert s.last_iv == ct[-16:]  # the IV out is the last ciphertext block
        assert s.decrypt(key_b, SP800_38A_IV, ct, pieces=5) == SP800_38A_PLAIN
        assert s.decrypt(key_b, SP800_38A_IV, ct, inplace=True) == SP800_38A_PLAIN
        assert s.last_iv == ct[-16:]
    with pytest.raises(CryptoError) as error:
        s.encrypt(None, SP800_38A_IV, SP800_38A_PLAIN[:20])  # not whole blocks
    assert error.value.errno == -22
    with pytest.raises(CryptoError) as error:
        s.setkey(bytes(17))
    assert error.value.errno == -22
    s.close()


# -- hmac -----------------------------------------------------------------------------------
RFC2202_MD5 = (  # RFC 2202 section 2, cases 1, 2, 3, 6
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
)
RFC2202_SHA1 = (  # RFC 2202 section 3, cases 1, 2, 6, 7
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First", "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
     "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
)
RFC4231_KEY6, RFC4231_DATA6 = b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
RFC4231 = {  # RFC 4231 test cases 1, 2 and 6 (a key longer than the block)
    "sha224": ("896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
               "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
               "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e"),
    "sha256": ("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    "sha512": ("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
               "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
               "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
               "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
               "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
               "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"),
}


def _rfc4231_cases(name: str) -> list[tuple[bytes, bytes, str]]:
    one, two, six = RFC4231[name]
    return [(b"\x0b" * 20, b"Hi There", one), (b"Jefe", b"what do ya want for nothing?", two),
            (RFC4231_KEY6, RFC4231_DATA6, six)]


@pytest.mark.parametrize("name", ["md5", "sha1", "sha224", "sha256"])
def test_hmac_over_the_builtin_hashes_with_rfc_vectors(lk: Kernel, name: str) -> None:
    cases = {"md5": RFC2202_MD5, "sha1": RFC2202_SHA1}.get(name) or _rfc4231_cases(name)
    api = crypto_api(lk)
    h = api.shash(f"hmac({name})")
    assert h.driver_name == f"hmac({name}-generic)"
    with pytest.raises(CryptoError) as error:
        h.digest(b"no key yet")
    assert error.value.errno == -126  # -ENOKEY: hmac needs its key first
    for key, data, expect in cases:
        h.setkey(key)
        assert h.digest(data).hex() == expect
        assert h.digest(data, chunks=3).hex() == expect  # init, updates, final over the inner descriptor
    a = api.ahash(f"hmac({name})")
    a.setkey(b"Jefe")
    data = random.Random(1).randbytes(3000)
    assert a.digest(data, pieces=3) == hmac.new(b"Jefe", data, name).digest()
    h.close()
    a.close()


def test_hmac_refuses_a_keyed_hash(lk: Kernel) -> None:
    """crypto/hmac.c: the inner hash must not need a key of its own ("hmac(hmac(sha1))")."""
    api = crypto_api(lk)
    assert not api.has("hmac(hmac(sha1))")
    assert api.has("hmac(sha1)") and not api.has("hmac(nosuchhash)")
    assert not api.has("cbc(sha1)")  # cbc wants a block cipher


# -- the templates over real modules' algorithms ---------------------------------------------
@needs_corpus
def test_hmac_sha512_over_sha512_generic_ko(lk: Kernel) -> None:
    sha = lk.load(ko("crypto/sha512_generic.ko"))
    api = crypto_api(lk)
    h = api.shash("hmac(sha512)")
    assert h.driver_name == "hmac(sha512-generic)"
    for key, data, expect in _rfc4231_cases("sha512"):
        h.setkey(key)
        assert h.digest(data).hex() == expect
    h384 = api.shash("hmac(sha384)")
    rng = random.Random(384)
    for size in (0, 127, 128, 129, 1000):
        key, data = rng.randbytes(rng.randrange(1, 200)), rng.randbytes(size)
        h384.setkey(key)
        assert h384.digest(data, chunks=2) == hmac.new(key, data, "sha384").digest()
    h.close()
    h384.close()
    assert {a.driver_name for a in api.algorithms()} >= {"hmac(sha512-generic)", "hmac(sha384-generic)"}
    # The instances go with the algorithm they were built on; the kernel's template stays.
    assert lk.unload(sha).clean
    assert not any(a.driver_name.startswith("hmac(") for a in api.algorithms())
    assert api.has("hmac(sha256)")


def _openssl_des3_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    run = subprocess.run(["openssl", "enc", "-des-ede3-cbc", "-K", key.hex(), "-iv", iv.hex(), "-nopad"],
                         input=data, capture_output=True, check=True)
    return run.stdout


@needs_corpus
def test_cbc_des3_ede_over_des_generic_ko(lk: Kernel) -> None:
    """cbc over a real module's cipher; checked against the host's openssl and ECB chained by hand over the
    ecb template (a real module) on the same cipher."""
    libdes, des, ecb = (lk.load(ko(p)) for p in ("lib/crypto/libdes.ko", "crypto/des_generic.ko", "crypto/ecb.ko"))
    api = crypto_api(lk)
    s = api.skcipher("cbc(des3_ede)")
    assert s.driver_name == "cbc(des3_ede-generic)"
    key = bytes.fromhex("0123456789abcdef23456789abcdef01456789abcdef0123")  # SP 800-67's example key
    iv = bytes.fromhex("f69f2445df4f9b17")
    text = random.Random(3).randbytes(64)
    ct = s.encrypt(key, iv, text, pieces=3)
    e = api.skcipher("ecb(des3_ede)")
    chained, prev = b"", iv
    for i in range(0, len(text), 8):
        prev = e.encrypt(key, b"", bytes(a ^ b for a, b in zip(text[i:i + 8], prev)))
        chained += prev
    assert ct == chained and s.last_iv == ct[-8:]
    if shutil.which("openssl"):
        assert ct == _openssl_des3_cbc(key, iv, text)
    assert s.decrypt(key, iv, ct, inplace=True) == text
    s.close()
    e.close()
    assert not lk.subsystem(Transforms).live
    assert lk.unload(ecb).clean
    assert lk.unload(des).clean  # cbc(des3_ede) goes with des3_ede
    assert not any(a.driver_name.startswith("cbc(") for a in api.algorithms())
    assert lk.unload(libdes).clean


class HmacDrbg:
    """SP 800-90A 10.1.2 HMAC_DRBG, written from the standard over Python's hmac."""

    def __init__(self, name: str, seed_material: bytes) -> None:
        self.name = name
        size = hashlib.new(name).digest_size
        self.key, self.v = bytes(size), b"\x01" * size
        self.update(seed_material)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self.key, data, self.name).digest()

    def update(self, data: bytes) -> None:
        self.key = self._mac(self.v + b"\0" + data)
        self.v = self._mac(self.v)
        if data:
            self.key = self._mac(self.v + b"\1" + data)
            self.v = self._mac(self.v)

    def generate(self, count: int, addtl: bytes = b"") -> bytes:
        if addtl:
            self.update(addtl)
        out = b""
        while len(out) < count:
            self.v = self._mac(self.v)
            out += self.v
        self.update(addtl)
        return out[:count]


@needs_corpus
@pytest.mark.parametrize("name", ["sha1", "sha256"])
def test_drbg_ko_hmac_drbg_over_the_builtin_hmac_matches_sp800_90a(lk: Kernel, name: str) -> None:
    """drbg.ko's HMAC DRBG allocates "hmac(<hash>)" (built in, as on Debian) when instantiated; with test
    entropy (crypto_rng_set_entropy, as testmgr's CAVS test) its output is the standard's."""
    lk.load(ko("crypto/drbg.ko"))
    api = crypto_api(lk)
    r = api.rng(f"drbg_nopr_hmac_{name}")
    rng = random.Random(name)
    entropy, pers, addtl = rng.randbytes(48), rng.randbytes(32), rng.randbytes(32)
    r.set_entropy(entropy)
    r.seed(pers)
    ref = HmacDrbg(name, entropy + pers)
    assert r.generate(64) == ref.generate(64)
    assert r.generate(100, extra=addtl) == ref.generate(100, addtl)
    assert any(a.driver_name == f"hmac({name}-generic)" for a in api.algorithms())
    r.close()


@needs_corpus
def test_a_module_allocating_builtin_algorithms_unloads_clean(lk: Kernel) -> None:
    """Transforms a module allocates are its to free; the instances a built-in template built for it are the
    kernel's and outlive it."""
    api = crypto_api(lk)
    drbg = lk.load(ko("crypto/drbg.ko"))
    r = api.rng("drbg_nopr_hmac_sha256")
    r.seed()  # from the kernel's random pool
    assert len(r.generate(32)) == 32
    r.close()
    assert lk.unload(drbg).clean
    assert any(a.driver_name == "hmac(sha256-generic)" and a.owner == "kernel" for a in api.algorithms())


# -- real modules that need the built-ins -------------------------------------------------------
def _rc4(key: bytes, data: bytes) -> bytes:
    """RC4 (the cipher MPPE uses), written here as the reference."""
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 255
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) & 255
        j = (j + s[i]) & 255
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) & 255])
    return bytes(out)


@needs_corpus
def test_ppp_mppe_derives_its_keys_with_the_builtin_sha1() -> None:
    """ppp_mppe's init refused to load (-ENODEV) while no "sha1" existed; now its compressor derives RFC
    3079 session keys through crypto_alloc_shash("sha1") and encrypts with libarc4 as RFC 3078 says."""
    assert KDIR is not None
    k = Kernel("linux", unresolved="trap", budget_seconds=30)  # ppp_generic imports netdev calls not here
    *_, mppe = k.modprobe("ppp_mppe", str(KDIR))
    assert mppe.state == "live" and "PPP MPPE Compression module registered" in k.console
    mem = k.memory
    master = bytes(range(16))
    options = bytes([18, 6, 0x01, 0, 0, 0x40])  # CI_MPPE, CILEN_MPPE, stateless (H), 128-bit (S)
    buf = mem.alloc(64)
    mem.write(buf, options + master)
    state = mppe.call("mppe_alloc", buf, len(options) + 16) & 0xFFFFFFFF
    assert state and [t.alg.driver_name for t in k.subsystem(Transforms).live.values()] == ["sha1-generic"]
    assert mppe.call("mppe_comp_init", state, buf, len(options), 0, 4, 0) == 1
    packet = b"\xff\x03\x00\x21" + b"an IP datagram, say"
    ibuf, obuf = mem.alloc(128), mem.alloc(256)
    mem.write(ibuf, packet)
    size = mppe.call("mppe_compress", state, ibuf, obuf, len(packet), 256)
    pad1, pad2 = bytes(40), b"\xf2" * 40
    session = hashlib.sha1(master + pad1 + master + pad2).digest()[:16]  # the initial key
    interim = hashlib.sha1(master + pad1 + session + pad2).digest()[:16]  # stateless: rekeyed per packet
    session = _rc4(interim, interim)
    expect = bytes([0xFF, 0x03, 0x00, 0xFD, 0x90, 0x00]) + _rc4(session, packet[2:])  # A|encrypted, ccount 0
    assert mem.read(obuf, size) == expect
    mppe.call("mppe_free", state)
    assert not k.subsystem(Transforms).live


@needs_corpus
def test_xfrm_algo_finds_the_builtin_ipsec_algorithms(lk: Kernel) -> None:
    """xfrm_algo probes its tables with crypto_has_ahash/crypto_has_skcipher: the built-in hmac and cbc
    answer; hmac(sha384) and cbc(des3_ede) only once their modules registered the hash and cipher."""
    m = lk.load(ko("net/xfrm/xfrm_algo.ko"))
    mem = lk.memory

    def available(function: str, name: str) -> bool:
        text = mem.alloc(64)
        mem.write(text, name.encode() + b"\0")
        desc = m.call(function, text, 1) & 0xFFFFFFFF  # probe=1: only an available entry is returned
        return bool(desc) and bool(mem.read(desc + 8, 1)[0] & 1)  # xfrm_algo_desc.available

    assert available("xfrm_aalg_get_byname", "hmac(sha256)") and available("xfrm_aalg_get_byname", "hmac(md5)")
    assert available("xfrm_ealg_get_byname", "cbc(aes)")
    assert not available("xfrm_aalg_get_byname", "hmac(sha384)")
    assert not available("xfrm_ealg_get_byname", "cbc(des3_ede)")
    for path in ("crypto/sha512_generic.ko", "lib/crypto/libdes.ko", "crypto/des_generic.ko"):
        lk.load(ko(path))
    assert available("xfrm_aalg_get_byname", "hmac(sha384)")
    assert available("xfrm_ealg_get_byname", "cbc(des3_ede)")
