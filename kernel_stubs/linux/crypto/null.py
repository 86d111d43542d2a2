"""crypto/crypto_null.c, built into Debian's kernel: the null cipher, digest, compressor and ecb(cipher_null).

They are registered by the kernel itself (owner "kernel") the first time a
lookup asks for one of their names, so a module that only lists what others
registered is not disturbed. ``crypto_get_default_null_skcipher`` hands out
one shared "ecb(cipher_null)" transform with a user count, as Linux does
(gcm, authenc and essiv copy associated data with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .guest import callback
from .registry import (
    CRA_BLOCKSIZE,
    CRA_DRIVER_NAME,
    CRA_FLAGS,
    CRA_NAME,
    CRA_PRIORITY,
    CRA_U,
    CRYPTO_ALG_SIZE,
    Crypto,
    read_alg,
    register,
)
from .scatterwalk import copy

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

NAMES = {"cipher_null", "cipher_null-generic", "ecb(cipher_null)", "ecb-cipher_null", "digest_null",
         "digest_null-generic", "compress_null", "compress_null-generic"}


class NullAlgorithms:
    """Whether the null algorithms are registered, and the default null skcipher with its users."""

    def __init__(self) -> None:
        self.registered = False
        self.default = 0
        self.users = 0


@callback("int null_setkey(void *tfm, const u8 *key, unsigned int keylen)")
def null_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Any key (of length 0) is fine."""
    return 0


@callback("void null_crypt(struct crypto_tfm *tfm, u8 *dst, const u8 *src)")
def null_crypt(k: Kernel, tfm: int, dst: int, src: int) -> None:
    """One byte through unchanged."""
    k.memory.write(dst, k.memory.read(src, 1))


@callback("int null_skcipher_crypt(struct skcipher_request *req)")
def null_skcipher_crypt(k: Kernel, req: int) -> int:
    """dst gets src (nothing to do in place)."""
    src, dst, length = k.memory.read_u32(req + 8), k.memory.read_u32(req + 12), k.memory.read_u32(req)
    if src != dst and length:
        copy(k, dst, 0, copy(k, src, 0, nbytes=length))
    return 0


@callback("int null_hash_op(struct shash_desc *desc)")
def null_init(k: Kernel, desc: int) -> int:
    """Nothing to set up."""
    return 0


@callback("int null_update(struct shash_desc *desc, const u8 *data, unsigned int len)")
def null_update(k: Kernel, desc: int, data: int, length: int) -> int:
    """Nothing to absorb."""
    return 0


@callback("int null_final(struct shash_desc *desc, u8 *out)")
def null_final(k: Kernel, desc: int, out: int) -> int:
    """An empty digest."""
    return 0


@callback("int null_compress(struct crypto_tfm *tfm, const u8 *src, unsigned int slen, u8 *dst, unsigned int *dlen)")
def null_compress(k: Kernel, tfm: int, src: int, slen: int, dst: int, dlen: int) -> int:
    """A copy; -EINVAL if it does not fit *dlen."""
    if slen > k.memory.read_u32(dlen):
        return -F.EINVAL
    if slen:
        k.memory.write(dst, k.memory.read(src, slen))
    k.memory.write_u32(dlen, slen)
    return 0


def _base(k: Kernel, base: int, name: str, driver: str, flags: int, blocksize: int, priority: int) -> None:
    k.memory.write(base + CRA_NAME, name.encode() + b"\0")
    k.memory.write(base + CRA_DRIVER_NAME, driver.encode() + b"\0")
    k.memory.write_u32(base + CRA_FLAGS, flags)
    k.memory.write_u32(base + CRA_BLOCKSIZE, blocksize)
    k.memory.write_u32(base + CRA_PRIORITY, priority)


def ensure_registered(k: Kernel) -> None:
    """Register the four null algorithms (once per kernel), in kernel-owned memory."""
    state = k.subsystem(NullAlgorithms)
    if state.registered:
        return
    state.registered = True
    mem = k.memory
    cipher = mem.alloc(CRYPTO_ALG_SIZE)
    _base(k, cipher, "cipher_null", "cipher_null-generic", F.TYPE_CIPHER, 1, 0)
    for offset, value in ((0, 0), (4, 0), (8, null_setkey.address(k)), (12, null_crypt.address(k)),
                          (16, null_crypt.address(k))):
        mem.write_u32(cipher + CRA_U + offset, value)
    compress = mem.alloc(CRYPTO_ALG_SIZE)
    _base(k, compress, "compress_null", "compress_null-generic", F.TYPE_COMPRESS, 1, 0)
    mem.write_u32(compress + CRA_U, null_compress.address(k))
    mem.write_u32(compress + CRA_U + 4, null_compress.address(k))
    digest = mem.alloc(392)
    _base(k, digest + 56, "digest_null", "digest_null-generic", F.TYPE_SHASH, 1, 0)
    for offset, op in ((0, null_init), (4, null_update), (8, null_final), (28, null_setkey)):
        mem.write_u32(digest + offset, op.address(k))
    skcipher = mem.alloc(376)
    _base(k, skcipher + 40, "ecb(cipher_null)", "ecb-cipher_null", F.TYPE_SKCIPHER, 1, 100)
    for offset, op in ((0, null_setkey), (4, null_skcipher_crypt), (8, null_skcipher_crypt)):
        mem.write_u32(skcipher + offset, op.address(k))
    from .hash import register_shash
    from .skcipher import register_skcipher

    for kind, address in (("alg", cipher), ("alg", compress)):
        alg = read_alg(k, kind, address)
        alg.owner = "kernel"
        register(k, alg)
    register_shash(k, digest)
    register_skcipher(k, skcipher)
    for alg in k.subsystem(Crypto).algs[:2]:  # the two just registered (the list is newest first)
        alg.owner = "kernel"


@service("struct crypto_sync_skcipher *crypto_get_default_null_skcipher(void)")
def crypto_get_default_null_skcipher(k: Kernel) -> int:
    """The shared "ecb(cipher_null)" transform, one more user."""
    from .skcipher import SKCIPHER
    from .tfm import alloc_tfm

    state = k.subsystem(NullAlgorithms)
    if not state.default:
        tfm = alloc_tfm(k, "ecb(cipher_null)", SKCIPHER, 0, 0, owner="kernel")
        if tfm >= 0xFFFFF001:
            return tfm
        state.default = tfm
    state.users += 1
    return state.default


@service("void crypto_put_default_null_skcipher(void)")
def crypto_put_default_null_skcipher(k: Kernel) -> None:
    """One user fewer; the last frees the transform."""
    from .tfm import destroy

    state = k.subsystem(NullAlgorithms)
    if not state.users:
        k.warn("crypto_put_default_null_skcipher without a matching get")
        return
    state.users -= 1
    if not state.users:
        destroy(k, state.default)
        state.default = 0
