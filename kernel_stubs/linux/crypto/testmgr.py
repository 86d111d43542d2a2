"""crypto/testmgr.c's self-tests, run when an algorithm registers, as Debian's 6.1 kernel runs them.

Debian's config leaves ``CONFIG_CRYPTO_MANAGER_DISABLE_TESTS`` unset (and
``CONFIG_CRYPTO_MANAGER_EXTRA_TESTS`` unset too), so every algorithm a
module registers, and every template instance, goes through ``alg_test``
before lookups may find it: the algorithm is listed at once without
``CRYPTO_ALG_TESTED``; a pass sets the flag; a failure leaves it clear,
prints ``alg: self-tests for <driver> (<name>) failed (rc=<err>)`` (Linux's
WARN) and lookups of the name then get -ELIBBAD. Internal algorithms are
not tested (marked tested, as ``crypto_alloc_test_larval`` skips them); a
name without an entry prints ``alg: No test for <name> (<driver>)`` and
passes. ``fips_enabled`` is 0, so no vector is skipped and nothing panics.

The table and vectors are Linux's own, read from Debian's vmlinux by
``tools/testmgr_from_vmlinux.py`` into ``testmgr_vectors.json``. Entries are
looked up by cra_name and by cra_driver_name; a plain cipher ("aes") uses
the "ecb(<name>)" entry one block at a time, as ``alg_test_cipher``.

Run here: the hash entries (and crc32c's) over shash and ahash — digest,
init/update/update/final in two pieces, an export/import midway, an ahash
digest over three scatterlist entries — with each vector's
expected setkey and digest errors; the skcipher entries — encrypt and
decrypt, in place and out of place, the source in one and in three
pieces, the output IV when the vector has one, weak-key vectors with
CRYPTO_TFM_REQ_FORBID_WEAK_KEYS; plain ciphers block by block; the drbg
entries' CAVS vectors (test entropy, personalization, two generates with
additional input); the aead entries (encryption unless the vector must
fail verification, decryption with its -EBADMSG, in place and out of place,
with each vector's setkey, setauthsize and crypt errors). Linux's
further configurations (misaligned and page-crossing buffers, may-sleep
and nosimd variants) are not repeated. Other entry kinds (comp, akcipher,
kpp, cprng) are looked up but their tests are not run:
such algorithms are marked tested as if they passed. The tests are the
kernel's work, so they do not eat the registering module's time budget
(``own_budget``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.services import service

from . import flags as F
from .guest import cstring

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

    from .registry import Alg

VECTORS_FILE = Path(__file__).with_name("testmgr_vectors.json")
FORBID_WEAK_KEYS = 0x100  # CRYPTO_TFM_REQ_FORBID_WEAK_KEYS
EINVAL = -F.EINVAL
KERN_ERR, KERN_WARNING, KERN_INFO = 3, 4, 6
SELFTEST_BUDGET_FACTOR = 10


@cache
def testmgr_table() -> dict[str, dict[str, Any]]:
    """alg_test_descs by name (the generated table; empty if it was not generated)."""
    if not VECTORS_FILE.exists():
        return {}
    return {entry["alg"]: entry for entry in json.loads(VECTORS_FILE.read_text())["descs"]}


class SelfTests:
    """What the self-tests did in this kernel: driver name -> result (0 passed, else the error)."""

    def __init__(self) -> None:
        self.results: dict[str, int] = {}


def _log(k: Kernel, level: int, text: str) -> None:
    k.console_write(text + "\n", level)


def entries_for(driver: str, name: str, cipher: bool) -> list[dict[str, Any]]:
    """The table entries alg_test runs for a driver and name: "ecb(<name>)" for a plain cipher, else the
    name's and the driver's (once if they are one)."""
    table = testmgr_table()
    if cipher:
        entry = table.get(f"ecb({name})")
        return [entry] if entry is not None else []
    by_name, by_driver = table.get(name), table.get(driver)
    return [e for e in (by_name, by_driver if by_driver is not by_name else None) if e is not None]


def alg_test(k: Kernel, alg: Alg) -> int:
    """Linux's alg_test(driver, alg, type, CRYPTO_ALG_TESTED) for a registration: 0, or the first error."""
    with own_budget(k):
        return run_entries(k, alg, alg.driver_name, alg.name)


@contextmanager
def own_budget(k: Kernel) -> Iterator[None]:
    """The tests are the kernel's work (cryptomgr's thread on Linux), not the registering module's: they
    run with a budget of their own (SELFTEST_BUDGET_FACTOR times a call's: a DRBG's vectors are many
    guest calls, and a budget is for runaways), and the module's init gets back the time they took."""
    cpu = k.cpu
    if not cpu.depth or not cpu.deadline or cpu.expired:
        yield
        return
    saved, started = cpu.deadline, time.monotonic()
    cpu.deadline = started + SELFTEST_BUDGET_FACTOR * cpu.budget_seconds
    try:
        yield
    finally:
        if not cpu.expired:
            cpu.deadline = saved + (time.monotonic() - started)


def run_entries(k: Kernel, alg: Alg, driver: str, name: str) -> int:
    """Run the entries of ``driver``/``name`` on ``alg``; the "No test" and "failed" lines as Linux prints them."""
    cipher = alg.type == F.TYPE_CIPHER
    entries = entries_for(driver, name, cipher)
    if not entries:
        _log(k, KERN_INFO, f"alg: No test for {name} ({driver})")
        k.subsystem(SelfTests).results[driver] = 0
        return 0
    rc = 0
    for entry in entries:
        if cipher:
            rc = rc or (_test_cipher(k, alg, entry) if entry["test"] == "skcipher" else 0)
        else:
            rc = rc or _run(k, alg, entry)
    k.subsystem(SelfTests).results[driver] = rc
    if rc:
        _log(k, KERN_WARNING, f"alg: self-tests for {driver} ({name}) failed (rc={rc})")
        k.warn(f"alg: self-tests for {driver} ({name}) failed (rc={rc})")
    return rc


@service("int alg_test(const char *driver, const char *alg, u32 type, u32 mask)")
def alg_test_service(k: Kernel, driver: int, alg: int, type_: int, mask: int) -> int:
    """cryptomgr's exported alg_test (tcrypt calls it): the algorithm ``driver`` names is allocated as the
    tests would allocate it (loaded or built from a template if need be), then tested."""
    from .registry import CryptoLookupError, lookup

    driver_name, name = cstring(k, driver), cstring(k, alg)
    cipher = type_ & F.TYPE_MASK == F.TYPE_CIPHER
    entries = entries_for(driver_name, name, cipher)
    if not entries:
        _log(k, KERN_INFO, f"alg: No test for {name} ({driver_name})")
        return 0
    try:
        found = lookup(k, driver_name, type_, mask)
    except CryptoLookupError as error:
        kind = "cipher" if cipher else entries[0]["test"]
        _log(k, KERN_ERR, f"alg: {kind}: failed to allocate transform for {driver_name}: {error.errno}")
        return error.errno
    with own_budget(k):
        return run_entries(k, found, driver_name, name)


def _run(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    kind = entry["test"]
    if kind in ("hash", "crc32c") and alg.kind in ("shash", "ahash"):
        return _test_hash(k, alg, entry)
    if kind == "skcipher" and alg.kind == "skcipher":
        return _test_skcipher(k, alg, entry)
    if kind == "aead" and alg.kind == "aead":
        return _test_aead(k, alg, entry)
    if kind == "drbg" and alg.kind == "rng":
        return _test_drbg(k, alg, entry)
    return 0  # alg_test_null, or a kind whose tests are not run here


def _open(k: Kernel, helper: Any, alg: Alg, kind: str) -> Any:
    """A transform of ``alg`` for the tests, or the error allocating it (Linux's message printed)."""
    from .helpers import CryptoError

    try:
        return helper(k, alg.driver_name, alg=alg)
    except CryptoError as error:
        _log(k, KERN_ERR, f"alg: {kind}: failed to allocate transform for {alg.driver_name}: {error.errno}")
        return error.errno


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


# -- hashes ------------------------------------------------------------------------------
def _test_hash(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    from .helpers import Ahash, Shash

    ahash = _open(k, Ahash, alg, "ahash")
    if isinstance(ahash, int):
        return ahash
    shash = _open(k, Shash, alg, "shash") if alg.kind == "shash" else None
    if isinstance(shash, int):
        ahash.close()
        return shash
    try:
        for number, vec in enumerate(entry["vectors"]):
            error = _hash_vector(k, alg, vec, number, shash, ahash)
            if error:
                return error
        return 0
    finally:
        if shash is not None:
            shash.close()
        ahash.close()


def _errno_of(call: Any) -> tuple[int, Any]:
    from .helpers import CryptoError

    try:
        return 0, call()
    except CryptoError as error:
        return error.errno, None


def _hash_vector(k: Kernel, alg: Alg, vec: dict[str, Any], number: int, shash: Any, ahash: Any) -> int:
    key, data = _hex(vec["key"]), bytes.fromhex(vec["plaintext"])
    digestsize = ahash.digestsize
    expect = bytes.fromhex(vec["digest"])[:digestsize]
    users = [("ahash", ahash)] + ([("shash", shash)] if shash is not None else [])
    for api, user in users:
        if key is not None:
            error, _ = _errno_of(lambda user=user: user.setkey(key))
            if error != vec["setkey_error"]:
                _log(k, KERN_ERR, f"alg: {api}: {alg.driver_name} setkey failed on test vector {number}; "
                     f"expected_error={vec['setkey_error']}, actual_error={error}, flags={_flags(k, user):#x}")
                return error or EINVAL
            if error:
                continue  # the expected setkey failure
        for cfg, run in _hash_configs(k, user, api, data):
            error, out = _errno_of(run)
            if error != vec["digest_error"]:
                _log(k, KERN_ERR, f"alg: {api}: {alg.driver_name} digest failed on test vector {number}; "
                     f"expected_error={vec['digest_error']}, actual_error={error}, cfg=\"{cfg}\"")
                return error or EINVAL
            if not error and out != expect:
                _log(k, KERN_ERR, f"alg: {api}: {alg.driver_name} test failed (wrong result) on test vector "
                     f"{number}, cfg=\"{cfg}\"")
                return EINVAL
    return 0


def _flags(k: Kernel, user: Any) -> int:
    return k.memory.read_u32(user.mem + user.frontend.base + 4)


def _hash_configs(k: Kernel, user: Any, api: str, data: bytes) -> list[tuple[str, Any]]:
    if api == "ahash":
        return [("digest uneven splits", lambda: user.digest(data, pieces=3))]
    return [("init+update+update+final two even splits", lambda: user.digest(data, chunks=2)),
            ("digest", lambda: _shash_digest(k, user, data)),
            ("import/export", lambda: _shash_export_import(k, user, data))]


def _shash_digest(k: Kernel, user: Any, data: bytes) -> bytes:
    from .hash import shash_digest

    src, out = user._buffer(data), user._buffer(max(user.digestsize, 4))
    user._check(shash_digest(k, user.desc, src, len(data), out), "digest")
    digest = k.memory.read(out, user.digestsize)
    user._release()
    return digest


def _shash_export_import(k: Kernel, user: Any, data: bytes) -> bytes:
    """init, update of the first half, export, a fresh descriptor imports, the rest, final."""
    from .hash import STATESIZE, shash_export, shash_import

    half = len(data) // 2
    user.init()
    if half:
        user.update(data[:half])
    state = user._buffer(max(k.memory.read_u32(user.alg.address + STATESIZE), 4))
    user._check(shash_export(k, user.desc, state), "export")
    k.memory.write(user.desc + 8, bytes(max(user.descsize, 4)))  # nothing survives but the exported state
    user._check(shash_import(k, user.desc, state), "import")
    user._blocks.remove(state)
    try:
        if data[half:]:
            user.update(data[half:])
        return user.final()
    finally:
        k.memory.free(state)


# -- symmetric ciphers -------------------------------------------------------------------
def _test_skcipher(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    from .helpers import Skcipher

    user = _open(k, Skcipher, alg, "skcipher")
    if isinstance(user, int):
        return user
    try:
        for number, vec in enumerate(entry["vectors"]):
            for enc in (True, False):
                error = _skcipher_vector(k, alg, user, vec, number, enc)
                if error:
                    return error
        return 0
    finally:
        user.close()


def _set_weak_key_flag(k: Kernel, user: Any, vec: dict[str, Any]) -> None:
    """crypto_*_clear_flags(tfm, ~0), then FORBID_WEAK_KEYS for a weak-key vector."""
    k.memory.write_u32(user.mem + user.frontend.base + 4, 0)
    if vec["wk"]:
        user.set_flags(FORBID_WEAK_KEYS)


def _skcipher_vector(k: Kernel, alg: Alg, user: Any, vec: dict[str, Any], number: int, enc: bool) -> int:
    from .helpers import CryptoError

    direction = "encryption" if enc else "decryption"
    _set_weak_key_flag(k, user, vec)
    error, _ = _errno_of(lambda: user.setkey(bytes.fromhex(vec["key"])))
    if error != vec["setkey_error"]:
        _log(k, KERN_ERR, f"alg: skcipher: {alg.driver_name} setkey failed on test vector {number}; "
             f"expected_error={vec['setkey_error']}, actual_error={error}, flags={_flags(k, user):#x}")
        return error or EINVAL
    if error:
        return 0
    ivsize = user.ivsize
    if vec["generates_iv"] and not enc:
        iv = bytes.fromhex(vec["iv_out"] or "")[:ivsize]
    else:
        iv = (bytes.fromhex(vec["iv"]) if vec["iv"] else b"")[:ivsize].ljust(ivsize, b"\0")
    source, expect = (vec["ptext"], vec["ctext"]) if enc else (vec["ctext"], vec["ptext"])
    source_b, expect_b = bytes.fromhex(source), bytes.fromhex(expect)
    iv_out = bytes.fromhex(vec["iv_out"])[:ivsize] if vec["iv_out"] else None
    for cfg, pieces, inplace in (("in-place", 1, True), ("out-of-place", 1, False),
                                 ("uneven misaligned splits", 3, False)):
        run = user.encrypt if enc else user.decrypt
        try:
            out, error = run(None, iv, source_b, pieces=pieces, inplace=inplace), 0
        except CryptoError as failure:
            out, error = None, failure.errno
        if error != vec["crypt_error"]:
            _log(k, KERN_ERR, f"alg: skcipher: {alg.driver_name} {direction} failed on test vector {number}; "
                 f"expected_error={vec['crypt_error']}, actual_error={error}, cfg=\"{cfg}\"")
            return error or EINVAL
        if error:
            continue
        if out != expect_b:
            _log(k, KERN_ERR, f"alg: skcipher: {alg.driver_name} {direction} test failed (wrong result) on test "
                 f"vector {number}, cfg=\"{cfg}\"")
            return EINVAL
        if iv_out is not None and user.last_iv != iv_out:
            _log(k, KERN_ERR, f"alg: skcipher: {alg.driver_name} {direction} test failed (wrong output IV) on "
                 f"test vector {number}, cfg=\"{cfg}\"")
            return EINVAL
    return 0


def _test_cipher(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    """test_cipher over the "ecb(<name>)" vectors: block by block, encrypt then decrypt."""
    from .helpers import Cipher

    user = _open(k, Cipher, alg, "cipher")
    if isinstance(user, int):
        return user
    try:
        for enc in (True, False):
            direction = "encryption" if enc else "decryption"
            for number, vec in enumerate(entry["vectors"], start=1):
                _set_weak_key_flag(k, user, vec)
                error, _ = _errno_of(lambda vec=vec: user.setkey(bytes.fromhex(vec["key"])))
                if error:
                    if error == vec["setkey_error"]:
                        continue
                    _log(k, KERN_ERR, f"alg: cipher: {alg.driver_name} setkey failed on test vector {number}; "
                         f"expected_error={vec['setkey_error']}, actual_error={error}, flags={_flags(k, user):#x}")
                    return error
                if vec["setkey_error"]:
                    _log(k, KERN_ERR, f"alg: cipher: {alg.driver_name} setkey unexpectedly succeeded on vector "
                         f"{number}; expected_error={vec['setkey_error']}")
                    return EINVAL
                data = bytes.fromhex(vec["ptext"] if enc else vec["ctext"])
                expect = bytes.fromhex(vec["ctext"] if enc else vec["ptext"])
                size = user.blocksize
                one = user.encrypt_block if enc else user.decrypt_block
                out = b"".join(one(data[i : i + size]) for i in range(0, len(data), size))
                if out != expect:
                    _log(k, KERN_ERR, f"alg: cipher: Test {number} failed on {direction} for {alg.driver_name}")
                    return EINVAL
        return 0
    finally:
        user.close()


# -- DRBGs -----------------------------------------------------------------------------------
def _test_drbg(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    """alg_test_drbg: each CAVS vector instantiated with its test entropy and personalization, two
    generates with their additional input (and, for "drbg_pr_*", fresh test entropy before each); the
    second output must be the vector's."""
    prediction_resistance = alg.driver_name.startswith("drbg_pr_")
    for number, vec in enumerate(entry["vectors"]):
        if _drbg_cavs(k, alg, vec, prediction_resistance):
            _log(k, KERN_ERR, f"alg: drbg: Test {number} failed for {alg.driver_name}")
            return EINVAL
    return 0


def _drbg_cavs(k: Kernel, alg: Alg, vec: dict[str, Any], prediction_resistance: bool) -> int:
    from .helpers import CryptoError, Rng

    rng = _open(k, Rng, alg, "drbg")
    if isinstance(rng, int):
        return rng
    expected = bytes.fromhex(vec["expected"])
    try:
        rng.set_entropy(bytes.fromhex(vec["entropy"]))
        try:
            rng.seed(bytes.fromhex(vec["pers"]))
        except CryptoError:
            _log(k, KERN_ERR, "alg: drbg: Failed to reset rng")
            return EINVAL
        out = b""
        for entropy, addtl in (("entpra", "addtla"), ("entprb", "addtlb")):
            if prediction_resistance:
                rng.set_entropy(bytes.fromhex(vec[entropy]))
            try:
                out = rng.generate(len(expected), extra=bytes.fromhex(vec[addtl]))
            except CryptoError:
                _log(k, KERN_ERR, f"alg: drbg: could not obtain random data for driver {alg.driver_name}")
                return EINVAL
        return 0 if out == expected else EINVAL
    finally:
        rng.close()


# -- AEADs -----------------------------------------------------------------------------------
def _test_aead(k: Kernel, alg: Alg, entry: dict[str, Any]) -> int:
    """test_aead: each vector encrypted (unless it is one that must fail verification) and decrypted, in
    place and out of place, with its key, authentication tag size and expected errors."""
    from .helpers import Aead

    user = _open(k, Aead, alg, "aead")
    if isinstance(user, int):
        return user
    try:
        for number, vec in enumerate(entry["vectors"]):
            for enc in (True, False):
                error = _aead_vector(k, alg, user, vec, number, enc)
                if error:
                    return error
        return 0
    finally:
        user.close()


def _aead_vector(k: Kernel, alg: Alg, user: Any, vec: dict[str, Any], number: int, enc: bool) -> int:
    from .helpers import CryptoError

    if enc and vec["novrfy"]:
        return 0  # a vector whose decryption must fail: nothing to encrypt
    direction = "encryption" if enc else "decryption"
    _set_weak_key_flag(k, user, vec)
    error, _ = _errno_of(lambda: user.setkey(bytes.fromhex(vec["key"])))
    if error != vec["setkey_error"]:
        _log(k, KERN_ERR, f"alg: aead: {alg.driver_name} setkey failed on test vector {number}; "
             f"expected_error={vec['setkey_error']}, actual_error={error}, flags={_flags(k, user):#x}")
        return error or EINVAL
    if error:
        return 0
    ptext, ctext = bytes.fromhex(vec["ptext"]), bytes.fromhex(vec["ctext"])
    authsize = abs(len(ctext) - len(ptext))
    error, _ = _errno_of(lambda: user.setauthsize(authsize))
    if error != vec["setauthsize_error"]:
        _log(k, KERN_ERR, f"alg: aead: {alg.driver_name} setauthsize failed on test vector {number}; "
             f"expected_error={vec['setauthsize_error']}, actual_error={error}")
        return error or EINVAL
    if error:
        return 0
    ivsize = user.ivsize
    iv = (bytes.fromhex(vec["iv"]) if vec["iv"] else b"")[:ivsize].ljust(ivsize, b"\0")
    assoc = bytes.fromhex(vec["assoc"])
    expected_error = -F.EBADMSG if not enc and vec["novrfy"] else vec["crypt_error"]
    source, expect = (ptext, ctext) if enc else (ctext, ptext)
    for cfg, inplace in (("in-place", True), ("out-of-place", False)):
        run = user.encrypt if enc else user.decrypt
        try:
            out, error = run(None, iv, assoc, source, inplace=inplace), 0
        except CryptoError as failure:
            out, error = None, failure.errno
        if error != expected_error:
            _log(k, KERN_ERR, f"alg: aead: {alg.driver_name} {direction} failed on test vector {number}; "
                 f"expected_error={expected_error}, actual_error={error}, cfg=\"{cfg}\"")
            return error or EINVAL
        if not error and out != expect:
            _log(k, KERN_ERR, f"alg: aead: {alg.driver_name} {direction} test failed (wrong result) on test "
                 f"vector {number}, cfg=\"{cfg}\"")
            return EINVAL
    return 0
