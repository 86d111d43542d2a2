"""The algorithms Debian builds into its 6.1 686 kernel: aes-generic, md5, sha1, sha224, sha256.

``CONFIG_CRYPTO_AES``, ``MD5``, ``SHA1`` and ``SHA256`` are ``=y``, so no
module of the tree registers them; a module asking for "sha256" or "aes"
finds the kernel's own. They are registered the first time the crypto API
is used in a kernel (``Crypto.boot``), owned by "kernel", with the fields
Debian's vmlinux has in its ``struct crypto_alg``/``struct shash_alg``
(read from its debug image: names, priorities 100, md5's 0, block sizes,
context and descriptor sizes, which operations are set):

==============  ======  ====  =====  ===========================================
driver          prio    bs    ctx    operations
==============  ======  ====  =====  ===========================================
aes-generic     100     16    484    cipher: keys 16..32, setkey/encrypt/decrypt
md5-generic     0       64    88     init update final export import
sha1-generic    100     64    92     init update final finup
sha224-generic  100     64    104    init update final finup
sha256-generic  100     64    104    init update final finup
==============  ======  ====  =====  ===========================================

The descriptor context is Linux's state struct (``digests``), so export,
import and HMAC's precomputed pads are byte-for-byte what Linux holds. AES
is the library's (``library.aes_expandkey``: the same ``crypto_aes_ctx``).
Built-in algorithms are not put through the self-tests at registration
(Linux tests them at boot and they pass; the test suite runs testmgr's
vectors on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .digests import DIGESTS, Digest
from .guest import Callback, callback
from .registry import CRA_BLOCKSIZE, CRA_CTXSIZE, CRA_DRIVER_NAME, CRA_FLAGS, CRA_NAME, CRA_PRIORITY, CRA_U, KINDS

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

SHASH_SIZE = 392
DESC_CTX = 8  # shash_desc.__ctx
SHASH_TFM_ALG = 8 + 16  # crypto_shash.base.__crt_alg
AES_CTX_SIZE = 484
TFM_CTX = 24


class BuiltinAlgorithms:
    """Which shash_alg structs are the kernel's own, and the digest each computes."""

    def __init__(self) -> None:
        self.digests: dict[int, Digest] = {}  # struct shash_alg address -> digest


def _digest_of(k: Kernel, desc: int) -> Digest:
    hash_tfm = k.memory.read_u32(desc)
    alg = k.memory.read_u32(hash_tfm + SHASH_TFM_ALG) - KINDS["shash"].base
    return k.subsystem(BuiltinAlgorithms).digests[alg]


def _state(k: Kernel, desc: int, digest: Digest) -> bytes:
    return k.memory.read(desc + DESC_CTX, digest.statesize)


@callback("int builtin_hash_init(struct shash_desc *desc)")
def builtin_hash_init(k: Kernel, desc: int) -> int:
    """<name>_base_init: the initial words, nothing counted."""
    k.memory.write(desc + DESC_CTX, _digest_of(k, desc).init())
    return 0


@callback("int builtin_hash_update(struct shash_desc *desc, const u8 *data, unsigned int len)")
def builtin_hash_update(k: Kernel, desc: int, data: int, length: int) -> int:
    """Feed ``len`` bytes."""
    digest = _digest_of(k, desc)
    chunk = k.memory.read(data, length) if length else b""
    k.memory.write(desc + DESC_CTX, digest.update(_state(k, desc, digest), chunk))
    return 0


@callback("int builtin_hash_final(struct shash_desc *desc, u8 *out)")
def builtin_hash_final(k: Kernel, desc: int, out: int) -> int:
    """The digest; the state is wiped (memzero_explicit), as Linux leaves it."""
    digest = _digest_of(k, desc)
    k.memory.write(out, digest.final(_state(k, desc, digest)))
    k.memory.write(desc + DESC_CTX, bytes(digest.statesize))
    return 0


@callback("int builtin_hash_finup(struct shash_desc *desc, const u8 *data, unsigned int len, u8 *out)")
def builtin_hash_finup(k: Kernel, desc: int, data: int, length: int, out: int) -> int:
    """The last bytes and the digest."""
    builtin_hash_update(k, desc, data, length)
    return builtin_hash_final(k, desc, out)


@callback("int builtin_hash_export(struct shash_desc *desc, void *out)")
def builtin_hash_export(k: Kernel, desc: int, out: int) -> int:
    """md5_export: the state struct as it is."""
    digest = _digest_of(k, desc)
    k.memory.write(out, _state(k, desc, digest))
    return 0


@callback("int builtin_hash_import(struct shash_desc *desc, const void *in)")
def builtin_hash_import(k: Kernel, desc: int, data: int) -> int:
    """md5_import: the state struct back."""
    digest = _digest_of(k, desc)
    k.memory.write(desc + DESC_CTX, k.memory.read(data, digest.statesize))
    return 0


@service("int crypto_aes_set_key(struct crypto_tfm *tfm, const u8 *in_key, unsigned int key_len)")
def crypto_aes_set_key(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """aes-generic's setkey (exported, as Linux's): the library key schedule into the transform's context."""
    from .library import aes_expandkey

    return aes_expandkey(k, tfm + TFM_CTX, key, keylen)


aes_setkey_callback = Callback(crypto_aes_set_key)


@callback("void crypto_aes_encrypt(struct crypto_tfm *tfm, u8 *out, const u8 *in)")
def crypto_aes_encrypt(k: Kernel, tfm: int, out: int, in_: int) -> None:
    """One block with the context's encryption schedule."""
    from .library import aes_encrypt

    aes_encrypt(k, tfm + TFM_CTX, out, in_)


@callback("void crypto_aes_decrypt(struct crypto_tfm *tfm, u8 *out, const u8 *in)")
def crypto_aes_decrypt(k: Kernel, tfm: int, out: int, in_: int) -> None:
    """One block with the decryption schedule."""
    from .library import aes_decrypt

    aes_decrypt(k, tfm + TFM_CTX, out, in_)


# (name, driver, priority, operations set) as Debian's vmlinux has them.
HASHES = (
    ("md5", "md5-generic", 0, ("init", "update", "final", "export", "import")),
    ("sha1", "sha1-generic", 100, ("init", "update", "final", "finup")),
    ("sha224", "sha224-generic", 100, ("init", "update", "final", "finup")),
    ("sha256", "sha256-generic", 100, ("init", "update", "final", "finup")),
)
_OPS = {"init": (0, builtin_hash_init), "update": (4, builtin_hash_update), "final": (8, builtin_hash_final),
        "finup": (12, builtin_hash_finup), "export": (20, builtin_hash_export), "import": (24, builtin_hash_import)}


def _names(k: Kernel, base: int, name: str, driver: str, flags: int, blocksize: int, priority: int) -> None:
    mem = k.memory
    mem.write(base + CRA_NAME, name.encode() + b"\0")
    mem.write(base + CRA_DRIVER_NAME, driver.encode() + b"\0")
    mem.write_u32(base + CRA_FLAGS, flags)
    mem.write_u32(base + CRA_BLOCKSIZE, blocksize)
    mem.write_u32(base + CRA_PRIORITY, priority)


def register_builtins(k: Kernel) -> None:
    """Register the built-in algorithms and templates, in kernel memory, owned by "kernel"."""
    from .builtin_templates import register_builtin_templates
    from .hash import _prepare_shash
    from .registry import read_alg, register

    mem = k.memory
    aes = mem.alloc(336)
    _names(k, aes, "aes", "aes-generic", F.TYPE_CIPHER, 16, 100)
    mem.write_u32(aes + CRA_CTXSIZE, AES_CTX_SIZE)
    for offset, value in ((0, 16), (4, 32), (8, aes_setkey_callback.address(k)), (12, crypto_aes_encrypt.address(k)),
                          (16, crypto_aes_decrypt.address(k))):
        mem.write_u32(aes + CRA_U + offset, value)
    alg = read_alg(k, "alg", aes)
    alg.owner = "kernel"
    register(k, alg, selftest=False)
    state = k.subsystem(BuiltinAlgorithms)
    for name, driver, priority, ops in HASHES:
        digest = DIGESTS[name]
        address = mem.alloc(SHASH_SIZE)
        state.digests[address] = digest
        for op in ops:
            offset, fn = _OPS[op]
            mem.write_u32(address + offset, fn.address(k))
        mem.write_u32(address + 40, digest.statesize)  # descsize
        mem.write_u32(address + 48, digest.digestsize)
        if "export" in ops:
            mem.write_u32(address + 52, digest.statesize)
        _names(k, address + KINDS["shash"].base, name, driver, F.TYPE_SHASH, 64, priority)
        prepared = _prepare_shash(k, address)
        assert not isinstance(prepared, int), f"built-in {driver} does not pass shash_prepare_alg"
        prepared.owner = "kernel"
        register(k, prepared, selftest=False)
    register_builtin_templates(k)
