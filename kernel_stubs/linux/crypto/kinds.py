"""The other algorithm kinds: plain ciphers and compressors, scomp, rng, kpp, akcipher (Linux 6.1 i386).

- ``crypto_register_alg``: a ``struct crypto_alg`` as is (its type in
  cra_flags); single-block ciphers (``cra_u.cipher`` at 300: min/max key
  size, setkey, encrypt, decrypt) are used through ``crypto_cipher_*``
  (key size bounds, bounce buffers for misaligned blocks), compressors
  (``cra_u.compress``) through ``crypto_comp_*``.
- ``struct scomp_alg``: alloc_ctx 0, free_ctx 4, compress 8, decompress 12, base 16.
- ``struct rng_alg``: generate 0, seed 4, set_ent 8, seedsize 12, base 16;
  ``crypto_get_default_rng`` keeps one "stdrng" seeded from get_random_bytes.
- ``struct kpp_alg``: set_secret 0, generate_public_key 4,
  compute_shared_secret 8, max_size 12, init 16, exit 20, reqsize 24, base 32.
- ``struct akcipher_alg``: sign 0, verify 4, encrypt 8, decrypt 12,
  set_pub_key 16, set_priv_key 20, max_size 24, init 28, exit 32, base 40;
  missing operations get the kernel's -ENOSYS defaults, as akcipher_prepare_alg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from . import flags as F
from .guest import alloc, callback, cstring, free, gcall
from .registration import registration_services
from .registry import CRA_ALIGNMASK, CRA_BLOCKSIZE, CRA_U, CRYPTO_ALG_SIZE, read_alg, register
from .tfm import TFM_ALG, Frontend, Tfm, alg_init, alloc_tfm, destroy, has_for

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

CIA_MIN_KEYSIZE, CIA_MAX_KEYSIZE, CIA_SETKEY, CIA_ENCRYPT, CIA_DECRYPT = (CRA_U + i for i in range(0, 20, 4))
COA_COMPRESS, COA_DECOMPRESS = CRA_U, CRA_U + 4
SCOMP_SIZE, RNG_SIZE, KPP_SIZE, AKCIPHER_SIZE = 352, 352, 368, 376


def _u32(k: Kernel, address: int) -> int:
    return k.memory.read_u32(address)


def _typed(k: Kernel, kind: str, address: int, type_: int) -> int:
    alg = read_alg(k, kind, address)
    alg.flags = (alg.flags & ~F.TYPE_MASK) | type_
    return register(k, alg)


# -- crypto_register_alg: single-block ciphers and compressors --------------------------
def register_plain(k: Kernel, address: int) -> int:
    """crypto_register_alg: the struct as the module filled it."""
    return register(k, read_alg(k, "alg", address))


crypto_register_alg, crypto_unregister_alg, crypto_register_algs, crypto_unregister_algs = \
    registration_services("alg", "crypto_alg", CRYPTO_ALG_SIZE, register_plain)


def _cipher_alg(k: Kernel, tfm: int) -> int:
    return _u32(k, tfm + TFM_ALG)


def cipher_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """crypto_cipher_setkey: -EINVAL outside [cia_min_keysize, cia_max_keysize]; an aligned key."""
    alg = _cipher_alg(k, tfm)
    if keylen < _u32(k, alg + CIA_MIN_KEYSIZE) or keylen > _u32(k, alg + CIA_MAX_KEYSIZE):
        return -F.EINVAL
    alignmask = _u32(k, alg + CRA_ALIGNMASK)
    bounce = 0
    if key & alignmask:
        bounce = alloc(k, keylen + alignmask)
        aligned = (bounce + alignmask) & ~alignmask
        k.memory.write(aligned, k.memory.read(key, keylen))
        key = aligned
    try:
        return gcall(k, _u32(k, alg + CIA_SETKEY), tfm, key, keylen)
    finally:
        free(k, bounce)


def cipher_one(k: Kernel, tfm: int, dst: int, src: int, decrypt: bool) -> None:
    """cipher_crypt_one: one block, through an aligned copy when dst or src breaks the alignment mask."""
    alg = _cipher_alg(k, tfm)
    fn = _u32(k, alg + (CIA_DECRYPT if decrypt else CIA_ENCRYPT))
    alignmask = _u32(k, alg + CRA_ALIGNMASK)
    if not (dst | src) & alignmask:
        gcall(k, fn, tfm, dst, src)
        return
    size = _u32(k, alg + CRA_BLOCKSIZE)
    bounce = alloc(k, size + alignmask)
    aligned = (bounce + alignmask) & ~alignmask
    k.memory.write(aligned, k.memory.read(src, size))
    gcall(k, fn, tfm, aligned, aligned)
    k.memory.write(dst, k.memory.read(aligned, size))
    free(k, bounce)


@service("int crypto_cipher_setkey(struct crypto_cipher *tfm, const u8 *key, unsigned int keylen)")
def crypto_cipher_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key a single-block cipher."""
    return cipher_setkey(k, tfm, key, keylen)


@service("void crypto_cipher_encrypt_one(struct crypto_cipher *tfm, u8 *dst, const u8 *src)")
def crypto_cipher_encrypt_one(k: Kernel, tfm: int, dst: int, src: int) -> None:
    """Encrypt one block."""
    cipher_one(k, tfm, dst, src, decrypt=False)


@service("void crypto_cipher_decrypt_one(struct crypto_cipher *tfm, u8 *dst, const u8 *src)")
def crypto_cipher_decrypt_one(k: Kernel, tfm: int, dst: int, src: int) -> None:
    """Decrypt one block."""
    cipher_one(k, tfm, dst, src, decrypt=True)


@service("int crypto_comp_compress(struct crypto_comp *tfm, const u8 *src, unsigned int slen, u8 *dst, "
         "unsigned int *dlen)")
def crypto_comp_compress(k: Kernel, tfm: int, src: int, slen: int, dst: int, dlen: int) -> int:
    """The compressor's coa_compress; *dlen is the room in, the length out."""
    return gcall(k, _u32(k, _cipher_alg(k, tfm) + COA_COMPRESS), tfm, src, slen, dst, dlen)


@service("int crypto_comp_decompress(struct crypto_comp *tfm, const u8 *src, unsigned int slen, u8 *dst, "
         "unsigned int *dlen)")
def crypto_comp_decompress(k: Kernel, tfm: int, src: int, slen: int, dst: int, dlen: int) -> int:
    """The compressor's coa_decompress."""
    return gcall(k, _u32(k, _cipher_alg(k, tfm) + COA_DECOMPRESS), tfm, src, slen, dst, dlen)


# -- scomp ------------------------------------------------------------------------------
def register_scomp(k: Kernel, address: int) -> int:
    """crypto_register_scomp."""
    return _typed(k, "scomp", address, F.TYPE_SCOMPRESS)


crypto_register_scomp, crypto_unregister_scomp, crypto_register_scomps, crypto_unregister_scomps = \
    registration_services("scomp", "scomp_alg", SCOMP_SIZE, register_scomp)


SCOMP = Frontend("scomp", 0, F.TYPE_SCOMPRESS, F.TYPE_MASK)


# -- rng --------------------------------------------------------------------------------
def register_rng(k: Kernel, address: int) -> int:
    """crypto_register_rng: seedsize at most PAGE_SIZE / 8."""
    if _u32(k, address + 12) > F.PAGE_SIZE // 8:
        return -F.EINVAL
    return _typed(k, "rng", address, F.TYPE_RNG)


crypto_register_rng, crypto_unregister_rng, crypto_register_rngs, crypto_unregister_rngs = \
    registration_services("rng", "rng_alg", RNG_SIZE, register_rng)


RNG = Frontend("rng", 0, F.TYPE_RNG, F.TYPE_MASK)


def rng_alg(k: Kernel, tfm: int) -> int:
    """crypto_rng_alg(): the struct rng_alg of a crypto_rng."""
    return _u32(k, tfm + TFM_ALG) - 16


@service("struct crypto_rng *crypto_alloc_rng(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_rng(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A random number generator transform ("stdrng", "ansi_cprng", "jitterentropy_rng"...)."""
    return alloc_tfm(k, cstring(k, alg_name), RNG, type_, mask)


def rng_reset(k: Kernel, tfm: int, seed: int, slen: int) -> int:
    """crypto_rng_reset: seed from ``seed``, or from get_random_bytes when it is NULL."""
    from ..lib import get_random_bytes

    buf = 0
    if not seed and slen:
        buf = alloc(k, slen)
        if not buf:
            return -F.ENOMEM
        get_random_bytes(k, buf, slen)
        seed = buf
    try:
        return gcall(k, _u32(k, rng_alg(k, tfm) + 4), tfm, seed, slen)
    finally:
        free(k, buf)


@service("int crypto_rng_reset(struct crypto_rng *tfm, const u8 *seed, unsigned int slen)")
def crypto_rng_reset(k: Kernel, tfm: int, seed: int, slen: int) -> int:
    """Reseed the generator."""
    return rng_reset(k, tfm, seed, slen)


crypto_default_rng = kernel_variable("crypto_default_rng", 4, 0)


class DefaultRng:
    """crypto_get_default_rng's reference count."""

    def __init__(self) -> None:
        self.users = 0


@service("int crypto_get_default_rng(void)")
def crypto_get_default_rng(k: Kernel) -> int:
    """Make (once) and hold the default "stdrng", seeded from get_random_bytes; 0 or the error."""
    where = k.export_address("crypto_default_rng")
    if not _u32(k, where):
        rng = alloc_tfm(k, "stdrng", RNG, 0, 0, owner="kernel")  # the kernel's own, not the first caller's
        if rng >= 0xFFFFF001:
            return rng - (1 << 32)
        error = rng_reset(k, rng, 0, _u32(k, rng_alg(k, rng) + 12))
        if error:
            destroy(k, rng)
            return error
        k.memory.write_u32(where, rng)
    k.subsystem(DefaultRng).users += 1
    return 0


@service("void crypto_put_default_rng(void)")
def crypto_put_default_rng(k: Kernel) -> None:
    """Release the hold (the generator itself stays, as in Linux, until crypto_del_default_rng)."""
    state = k.subsystem(DefaultRng)
    state.users = max(0, state.users - 1)


# -- kpp --------------------------------------------------------------------------------
def register_kpp(k: Kernel, address: int) -> int:
    """crypto_register_kpp."""
    return _typed(k, "kpp", address, F.TYPE_KPP)


crypto_register_kpp, crypto_unregister_kpp = registration_services(
    "kpp", "kpp_alg", KPP_SIZE, register_kpp, arrays=False)


def _init_kpp(k: Kernel, entry: Tfm) -> int:
    """crypto_kpp_init_tfm: the algorithm's exit replaces cra_exit; its init."""
    return alg_init(k, entry, 16, 20)


KPP = Frontend("kpp", 0, F.TYPE_KPP, F.TYPE_MASK, _init_kpp)


@service("struct crypto_kpp *crypto_alloc_kpp(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_kpp(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A key agreement transform."""
    return alloc_tfm(k, cstring(k, alg_name), KPP, type_, mask)


@service("int crypto_has_kpp(const char *alg_name, u32 type, u32 mask)")
def crypto_has_kpp(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """Whether a kpp of that name can be had."""
    return has_for(k, alg_name, KPP, type_, mask)


# -- akcipher ---------------------------------------------------------------------------
@callback("int akcipher_default_op(struct akcipher_request *req)")
def akcipher_default_op(k: Kernel, req: int) -> int:
    """An operation the algorithm does not have."""
    return -F.ENOSYS


@callback("int akcipher_default_set_key(struct crypto_akcipher *tfm, const void *key, unsigned int keylen)")
def akcipher_default_set_key(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """A key kind the algorithm does not take."""
    return -F.ENOSYS


def register_akcipher(k: Kernel, address: int) -> int:
    """crypto_register_akcipher: akcipher_prepare_alg's defaults for missing operations."""
    for offset in (0, 4, 8, 12):
        if not _u32(k, address + offset):
            k.memory.write_u32(address + offset, akcipher_default_op.address(k))
    if not _u32(k, address + 20):
        k.memory.write_u32(address + 20, akcipher_default_set_key.address(k))
    return _typed(k, "akcipher", address, F.TYPE_AKCIPHER)


crypto_register_akcipher, crypto_unregister_akcipher = registration_services(
    "akcipher", "akcipher_alg", AKCIPHER_SIZE, register_akcipher, arrays=False)


@service("int crypto_del_default_rng(void)")
def crypto_del_default_rng(k: Kernel) -> int:
    """Free the default rng; -EBUSY while someone holds it."""
    if k.subsystem(DefaultRng).users:
        return -F.EBUSY
    where = k.export_address("crypto_default_rng")
    rng = _u32(k, where)
    if rng:
        destroy(k, rng)
        k.memory.write_u32(where, 0)
    return 0
