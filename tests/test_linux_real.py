"""Debian's real Linux 6.1 i386 modules: lib/ CRCs and crypto/*_generic hashes.

Skipped when the package was not fetched (tools/fetch-linux-modules). The
reference implementations here are independent bitwise Python versions (or
hashlib / zlib), compared over random inputs.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from pathlib import Path

import pytest

from kernel_stubs.linux.crypto import Crypto, Shash
from sandbox import Kernel, LoadError
from sandbox.corpus import load_corpus

from .linux_corpus import KDIR, ko, needs_corpus

pytestmark = needs_corpus


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", budget_seconds=10)


def samples(seed: int, count: int = 12) -> list[bytes]:
    rng = random.Random(seed)
    return [b"", b"123456789"] + [rng.randbytes(rng.randrange(1, 300)) for _ in range(count)]


# -- independent bitwise references ------------------------------------------------
def ref_msb(data: bytes, crc: int, poly: int, bits: int) -> int:
    top, mask = 1 << (bits - 1), (1 << bits) - 1
    for byte in data:
        crc ^= byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


def ref_lsb(data: bytes, crc: int, poly: int) -> int:
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc


def crc32c(data: bytes) -> int:
    return ref_lsb(data, 0xFFFFFFFF, 0x82F63B78) ^ 0xFFFFFFFF


def test_crc_itu_t(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc-itu-t.ko"))
    for i, data in enumerate(samples(1)):
        seed = (i * 0x1357) & 0xFFFF
        # A u16 comes back in AX; the rest of EAX is whatever the code left there.
        assert m.call("crc_itu_t", seed, data, len(data), returns="uint") & 0xFFFF == ref_msb(data, seed, 0x1021, 16)


def test_crc16(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc16.ko"))
    for i, data in enumerate(samples(2)):
        seed = (i * 0x2468) & 0xFFFF
        assert m.call("crc16", seed, data, len(data), returns="uint") & 0xFFFF == ref_lsb(data, seed, 0xA001)


def test_crc7_be(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc7.ko"))
    for i, data in enumerate(samples(3)):
        seed = (i * 0x22) & 0xFE  # crc7_be keeps the CRC in the top 7 bits
        assert m.call("crc7_be", seed, data, len(data), returns="uint") & 0xFF == ref_msb(data, seed, 0x12, 8)


def test_crc8_table_from_module(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc8.ko"))
    table = lk.memory.alloc(256)
    for poly in (0x07, 0x31, 0x9B):
        m.call("crc8_populate_msb", table, poly)
        for i, data in enumerate(samples(poly)):
            seed = (i * 37) & 0xFF
            got = m.call("crc8", table, data, len(data), seed, returns="uint") & 0xFF
            assert got == ref_msb(data, seed, poly, 8)


def test_crc64(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc64.ko"))
    mask = (1 << 64) - 1
    for i, data in enumerate(samples(4)):
        seed = (0x0123456789ABCDEF * (i + 1)) & mask
        lo, hi = seed & 0xFFFFFFFF, seed >> 32
        assert m.call("crc64_be", lo, hi, data, len(data), returns="u64") == ref_msb(data, seed, 0x42F0E1EBA9EA3693, 64)
        expect = ref_lsb(data, seed ^ mask, 0x9A6C9329AC4BC9B5) ^ mask
        assert m.call("crc64_rocksoft_generic", lo, hi, data, len(data), returns="u64") == expect


# -- crypto/*_generic: real init registers, Python calls the captured pointers --------
def test_crc32c_generic_registers_and_hashes(lk: Kernel) -> None:
    m = lk.load(ko("crypto/crc32c_generic.ko"))
    reg = lk.subsystem(Crypto).find("crc32c")
    assert (reg.driver_name, reg.fields["digestsize"], reg.fields["descsize"]) == ("crc32c-generic", 4, 4)
    assert reg.owner == "crc32c_generic"
    h = Shash(lk, "crc32c")
    assert h.digest(b"123456789") == (0xE3069283).to_bytes(4, "little")
    for data in samples(5):
        assert h.digest(data, chunks=3) == crc32c(data).to_bytes(4, "little")
    h.setkey((0x12345678).to_bytes(4, "little"))  # the key is the seed (pre-inverted)
    data = b"keyed"
    assert h.digest(data) == (ref_lsb(data, 0x12345678, 0x82F63B78) ^ 0xFFFFFFFF).to_bytes(4, "little")
    h.close()
    assert lk.unload(m).clean
    assert lk.subsystem(Crypto).from_modules == []


def test_crc32_generic_matches_zlib(lk: Kernel) -> None:
    lk.load(ko("crypto/crc32_generic.ko"))
    h = Shash(lk, "crc32")
    for data in samples(6):
        # Linux's "crc32" shash: seed 0 unless keyed, no final inversion.
        raw = zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
        assert h.digest(data, chunks=2) == raw.to_bytes(4, "little")
    h.setkey(b"\xff\xff\xff\xff")
    assert h.digest(b"hello") == zlib.crc32(b"hello").__xor__(0xFFFFFFFF).to_bytes(4, "little")


@pytest.mark.parametrize(("module", "names"), [
    ("crypto/sha512_generic.ko", {"sha512": "sha512", "sha384": "sha384"}),
    ("crypto/sha3_generic.ko", {"sha3-224": "sha3_224", "sha3-256": "sha3_256", "sha3-384": "sha3_384", "sha3-512": "sha3_512"}),
    ("crypto/rmd160.ko", {"rmd160": "ripemd160"}),
])
def test_generic_hashes_match_hashlib(lk: Kernel, module: str, names: dict[str, str]) -> None:
    if any(v not in hashlib.algorithms_available for v in names.values()):
        pytest.skip("hashlib lacks a reference")
    m = lk.load(ko(module))
    for linux_name, py_name in names.items():
        h = Shash(lk, linux_name)
        for data in samples(len(linux_name)):
            assert h.digest(data, chunks=4) == hashlib.new(py_name, data).digest(), linux_name
        h.close()
    assert lk.unload(m).clean


def test_blake2b_generic_keyed_and_unkeyed(lk: Kernel) -> None:
    lk.load(ko("crypto/blake2b_generic.ko"))
    for bits in (160, 256, 384, 512):
        h = Shash(lk, f"blake2b-{bits}")
        data = random.Random(bits).randbytes(333)
        assert h.digest(data, chunks=3) == hashlib.blake2b(data, digest_size=bits // 8).digest()
        key = bytes(range(32))
        h.setkey(key)
        assert h.digest(data) == hashlib.blake2b(data, digest_size=bits // 8, key=key).digest()


def test_crct10dif_needs_its_provider(lk: Kernel) -> None:
    with pytest.raises(LoadError, match="crc_t10dif_generic"):
        lk.load(ko("crypto/crct10dif_generic.ko"))
    lk.load_all([ko("crypto/crct10dif_generic.ko"), ko("crypto/crct10dif_common.ko")])
    h = Shash(lk, "crct10dif")
    for data in samples(7):
        assert h.digest(data, chunks=2) == ref_msb(data, 0, 0x8BB7, 16).to_bytes(2, "little")


# -- module conventions on real files ----------------------------------------------
def test_real_modinfo_exports_and_entry_points(lk: Kernel) -> None:
    m = lk.load(ko("lib/crc8.ko"))
    assert set(m.exports) == {"crc8", "crc8_populate_lsb", "crc8_populate_msb"}
    assert m.info("vermagic")[0].startswith("6.1.0-")
    m2 = lk.load(ko("crypto/crc32c_generic.ko"))
    assert m2.init_address == m2.symbols["init_module"]


def test_vermagic_refused_unless_skipped(tmp_path) -> None:
    original = Path(ko("lib/crc8.ko")).read_bytes()
    # With symbol versions (__versions) Linux compares only what follows the
    # release: another 6.1.0-N build loads, another CPU family does not.
    other_build = tmp_path / "other" / "crc8.ko"
    other_build.parent.mkdir()
    other_build.write_bytes(original.replace(b"vermagic=6.1.0-50-686 ", b"vermagic=6.1.0-99-686 "))
    Kernel("linux").load(other_build)
    bad = tmp_path / "crc8.ko"
    bad.write_bytes(original.replace(b" GEODE ", b" PENTM "))
    with pytest.raises(LoadError, match=r"vermagic.*PENTM"):
        Kernel("linux").load(bad)
    Kernel("linux", check_vermagic=False).load(bad)


def test_unresolved_symbols_error_or_trap() -> None:
    path = ko("drivers/net/dummy.ko")
    with pytest.raises(LoadError, match="unresolved-symbols"):
        Kernel("linux").load(path, run_init=False)
    k = Kernel("linux", unresolved="trap")
    with pytest.raises(Exception, match="unresolved kernel symbol") as info:
        k.load(path)
    # a trapped call, guest code touching a trapped variable, or a service following a pointer to one
    # (dummy's init hands down_write the unresolved pernet_ops_rwsem)
    assert getattr(info.value, "kind", "") in ("unresolved-symbol", "read-unmapped", "fetch-unmapped", "write-unmapped",
                                               "bad-pointer")
    m = k.load(path, run_init=False)
    assert k.unload(m).clean


def test_xz_compressed_module(lk: Kernel, tmp_path) -> None:
    import lzma

    packed = tmp_path / "crc16.ko.xz"
    packed.write_bytes(lzma.compress(Path(ko("lib/crc16.ko")).read_bytes(), format=lzma.FORMAT_XZ))
    m = lk.load(packed)
    assert m.call("crc16", 0, b"123456789", 9, returns="uint") & 0xFFFF == ref_lsb(b"123456789", 0, 0xA001)


def test_corpus_slice_loads_with_traps() -> None:
    result = load_corpus(KDIR / "crypto", limit=40)
    assert result.files == 40
    assert result.loaded == 40, result.failures


def test_real_bus_module_replaces_the_kernels_stand_in() -> None:
    # hid.ko exports __hid_register_driver itself; the kernel's service only
    # stands in for it. Loaded, hid's export wins and its users depend on it.
    k = Kernel("linux", unresolved="trap")
    stand_in = k.resolve("__hid_register_driver")
    hid = k.load(ko("drivers/hid/hid.ko"), run_init=False)
    assert k.export_owner("__hid_register_driver") == "hid"
    assert k.resolve("__hid_register_driver") == hid.exports["__hid_register_driver"] != stand_in
    generic = k.load(ko("drivers/hid/hid-generic.ko"), run_init=False)
    assert generic.uses == {"hid"} and hid.used_by == {"hid_generic"}
    k.unload(generic)
    k.unload(hid)
    assert k.export_owner("__hid_register_driver") == "kernel"
    assert k.resolve("__hid_register_driver") == stand_in
