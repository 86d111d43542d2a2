"""testmgr's self-tests, run as Debian's 6.1 kernel runs them (CONFIG_CRYPTO_MANAGER_DISABLE_TESTS unset).

The vectors are Linux's own (read from Debian's vmlinux by tools/testmgr_from_vmlinux.py); the table is
checked here against hashlib/hmac, which share nothing with the sandbox or the kernel. Registrations by
real modules are tested before lookups may find them; an algorithm whose module is corrupted fails them
and is marked as Linux marks it; tcrypt.ko drives the exported alg_test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kernel_stubs.linux.crypto import crypto_api
from kernel_stubs.linux.crypto.registry import CryptoLookupError, lookup
from kernel_stubs.linux.crypto.testmgr import SelfTests
from kernel_stubs.linux.crypto.testmgr import testmgr_table as vector_table  # not a test: pytest collects test*
from sandbox import Kernel

from .linux_corpus import KDIR, ko, needs_corpus

TESTED = 0x400  # CRYPTO_ALG_TESTED


@pytest.fixture
def lk() -> Kernel:
    return Kernel("linux", budget_seconds=60)


def test_the_table_is_debians_and_its_vectors_are_right() -> None:
    table = vector_table()
    assert len(table) == 217 and list(table) == sorted(table)  # alg_test_descs is sorted (a binary search)
    assert (table["sha256"]["test"], table["cbc(aes)"]["test"], table["gcm(aes)"]["test"]) == \
        ("hash", "skcipher", "aead")
    for name in ("md5", "sha1", "sha256", "sha512"):
        vectors = table[name]["vectors"]
        assert len(vectors) >= 4
        size = hashlib.new(name).digest_size
        for vec in vectors:
            assert bytes.fromhex(vec["digest"])[:size] == hashlib.new(name, bytes.fromhex(vec["plaintext"])).digest()
    for vec in table["hmac(sha256)"]["vectors"]:
        mac = hmac.new(bytes.fromhex(vec["key"]), bytes.fromhex(vec["plaintext"]), "sha256").digest()
        assert bytes.fromhex(vec["digest"])[:32] == mac


@needs_corpus
def test_real_modules_registrations_are_self_tested(lk: Kernel) -> None:
    lk.load(ko("lib/crypto/libdes.ko"))
    lk.load(ko("crypto/des_generic.ko"))
    lk.load(ko("crypto/sha512_generic.ko"))
    api = crypto_api(lk)
    results = lk.subsystem(SelfTests).results
    assert results == {"des-generic": 0, "des3_ede-generic": 0, "sha512-generic": 0, "sha384-generic": 0}
    assert all(a.flags & TESTED for a in api.algorithms(builtin=False))
    # Instances of the built-in templates over them are tested when they register.
    assert api.has("cbc(des3_ede)") and api.has("hmac(sha512)")
    assert results["cbc(des3_ede-generic)"] == 0 and results["hmac(sha512-generic)"] == 0
    assert "self-tests" not in lk.console and not lk.warnings


@needs_corpus
def test_a_corrupted_cipher_fails_its_self_tests_and_is_marked_as_linux_marks_it(lk: Kernel) -> None:
    """One bit of libdes's first S-box flipped: des_generic's registrations still succeed (Linux's
    crypto_register_alg returns 0), but the tests fail, CRYPTO_ALG_TESTED stays clear and a lookup gets
    -ELIBBAD, which is what a module asking for "des" sees."""
    lib = lk.load(ko("lib/crypto/libdes.ko"))
    sbox = lib.symbols["S1"]
    lk.memory.write_raw(sbox, bytes([lk.memory.read(sbox, 1)[0] ^ 1]))
    des = lk.load(ko("crypto/des_generic.ko"))
    assert des.state == "live"
    assert "alg: cipher: Test 3 failed on encryption for des-generic" in lk.console
    assert "alg: self-tests for des-generic (des) failed (rc=-22)" in lk.console
    assert "alg: self-tests for des3_ede-generic (des3_ede) failed (rc=-22)" in lk.console
    assert lk.warnings == ["alg: self-tests for des-generic (des) failed (rc=-22)",
                           "alg: self-tests for des3_ede-generic (des3_ede) failed (rc=-22)"]
    api = crypto_api(lk)
    algs = {a.driver_name: a for a in api.algorithms(builtin=False)}
    assert not algs["des-generic"].flags & TESTED and not algs["des3_ede-generic"].flags & TESTED
    assert not api.has("des") and not api.has("cbc(des3_ede)")
    with pytest.raises(CryptoLookupError) as error:
        lookup(lk, "des", 0, 0)
    assert error.value.errno == -80  # -ELIBBAD
    assert lk.unload(des).clean  # still registered, so unregistered at exit as usual


@needs_corpus
def test_an_instance_without_a_test_entry_passes_with_linuxs_line(lk: Kernel) -> None:
    lk.load(ko("crypto/fcrypt.ko"))
    api = crypto_api(lk)
    s = api.skcipher("cbc(fcrypt)")  # no "cbc(fcrypt)" in alg_test_descs
    assert "alg: No test for cbc(fcrypt) (cbc(fcrypt-generic))" in lk.console
    assert lk.subsystem(SelfTests).results["cbc(fcrypt-generic)"] == 0
    s.close()


@needs_corpus
@pytest.mark.parametrize(("mode", "tested"), [
    (6, {"sha256"}),
    (3, {"ecb(des)", "cbc(des)", "ctr(des)"}),
    (103, {"hmac(sha384)"}),
])
def test_tcrypt_runs_the_self_tests_through_alg_test(lk: Kernel, mode: int, tested: set[str]) -> None:
    """tcrypt.ko's modes call cryptomgr's exported alg_test; its init returns -EAGAIN when every test passed
    (Linux's own way to not stay loaded) and the error otherwise, with "one or more tests failed!"."""
    assert KDIR is not None
    crypto_api(lk).autoload_from(str(KDIR))  # des_generic, ecb, ctr, sha512_generic come by request_module
    with pytest.raises(Exception) as failure:
        lk.load(ko("crypto/tcrypt.ko"), params={"mode": mode})
    assert "returned -11" in str(failure.value)  # -EAGAIN: all passed
    assert "failed" not in lk.console
    results = lk.subsystem(SelfTests).results
    assert tested <= set(results) and all(results[name] == 0 for name in tested)


DRBG_ENTRIES = {"drbg_nopr_ctr_aes128", "drbg_nopr_ctr_aes192", "drbg_nopr_ctr_aes256", "drbg_nopr_hmac_sha256",
                "drbg_nopr_hmac_sha512", "drbg_nopr_sha256", "drbg_pr_ctr_aes128", "drbg_pr_hmac_sha256",
                "drbg_pr_sha256"}


@needs_corpus
def test_drbg_ko_passes_testmgrs_cavs_vectors_over_the_builtins(lk: Kernel) -> None:
    """drbg.ko's 22 registrations: the 9 with a testmgr entry run its CAVS vectors, so the HMAC DRBGs
    instantiate over the built-in hmac (and sha512_generic's hash), the hash DRBG over sha256, the CTR
    DRBGs over the ctr template (ctr.ko) and aes-generic; every output is the vector's."""
    lk.load(ko("crypto/ctr.ko"))
    lk.load(ko("crypto/sha512_generic.ko"))
    lk.load(ko("crypto/drbg.ko"))
    results = lk.subsystem(SelfTests).results
    assert set(results) >= DRBG_ENTRIES and all(results[name] == 0 for name in DRBG_ENTRIES)
    assert "failed" not in lk.console
    api = crypto_api(lk)
    drbgs = [a for a in api.algorithms(builtin=False) if a.driver_name.startswith("drbg_")]
    assert len(drbgs) == 22 and all(a.flags & TESTED for a in drbgs)
    assert {"ctr(aes-generic)", "hmac(sha256-generic)", "hmac(sha512-generic)"} <= set(results)


@needs_corpus
def test_ctr_drbgs_fail_their_self_tests_without_the_ctr_template(lk: Kernel) -> None:
    """No ctr.ko and no modprobe: the CTR DRBGs cannot instantiate, so their self-tests fail as they would on
    a Linux without the module, and "stdrng" is the highest-priority DRBG that passed."""
    lk.load(ko("crypto/drbg.ko"))
    assert "DRBG: could not allocate CTR cipher TFM handle: ctr(aes)" in lk.console
    assert "alg: self-tests for drbg_nopr_ctr_aes128 (stdrng) failed (rc=-22)" in lk.console
    results = lk.subsystem(SelfTests).results
    assert results["drbg_nopr_hmac_sha256"] == results["drbg_pr_sha256"] == 0
    assert results["drbg_nopr_ctr_aes128"] == -22
    assert lookup(lk, "stdrng", 0, 0).driver_name == "drbg_nopr_hmac_sha256"
    with pytest.raises(CryptoLookupError) as error:
        lookup(lk, "drbg_nopr_ctr_aes128", 0, 0)
    assert error.value.errno == -80


@needs_corpus
def test_authenc_over_the_builtin_hmac_and_cbc_passes_testmgrs_aead_vectors(lk: Kernel) -> None:
    """authenc.ko's template over the built-in hmac(sha1) and cbc(aes): testmgr's vectors for
    "authenc(hmac(sha1),cbc(aes))" (RFC 3602's, sealed with HMAC-SHA1) run on the instance as it registers."""
    lk.load(ko("crypto/authenc.ko"))
    api = crypto_api(lk)
    entry = vector_table()["authenc(hmac(sha1),cbc(aes))"]
    assert entry["test"] == "aead" and len(entry["vectors"]) >= 5
    a = api.aead("authenc(hmac(sha1),cbc(aes))")
    assert a.driver_name == "authenc(hmac(sha1-generic),cbc(aes-generic))"
    results = lk.subsystem(SelfTests).results
    assert results["authenc(hmac(sha1-generic),cbc(aes-generic))"] == 0
    assert results["hmac(sha1-generic)"] == results["cbc(aes-generic)"] == 0  # the instances it was built on
    a.close()


def test_the_builtins_pass_testmgrs_vectors(lk: Kernel) -> None:
    """Linux tests its built-ins at boot; the sandbox registers them tested, and they pass the same tests."""
    from kernel_stubs.linux.crypto.testmgr import alg_test

    builtins = crypto_api(lk).algorithms()
    assert {a.driver_name for a in builtins} == {"aes-generic", "md5-generic", "sha1-generic", "sha224-generic",
                                                 "sha256-generic"}
    for alg in builtins:
        assert alg_test(lk, alg) == 0, alg.driver_name
    assert set(lk.subsystem(SelfTests).results) == {a.driver_name for a in builtins}
    assert "alg:" not in lk.console  # each had an entry ("ecb(aes)" for the cipher), and each passed
