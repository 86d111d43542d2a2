"""Authenticated encryption: registration and the consumer API (crypto/aead.c, Linux 6.1 i386).

``struct aead_alg``: setkey 0, setauthsize 4, encrypt 8, decrypt 12, init
16, exit 20, ivsize 24, maxauthsize 28, chunksize 32, base 40. ``struct
crypto_aead``: authsize 0, reqsize 4, base 8. ``struct aead_request``: base
0 (its tfm at 16, flags at 20), assoclen 24, cryptlen 28, iv 32, src 36,
dst 40, __ctx 48. A new transform's authsize is the algorithm's
maxauthsize and it needs a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .guest import alloc, cstring, free, gcall
from .registration import registration_services
from .registry import CRA_ALIGNMASK, CRA_BLOCKSIZE, read_alg, register
from .tfm import TFM_ALG, Frontend, Tfm, alg_init, alloc_tfm, clear_flags, get_flags, has_for, set_flags

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

AEAD_SIZE = 376
SETKEY, SETAUTHSIZE, ENCRYPT, DECRYPT, INIT, EXIT, IVSIZE, MAXAUTHSIZE, CHUNKSIZE = range(0, 36, 4)
AEAD_BASE = 40
TFM_BASE = 8
R_TFM, R_FLAGS, R_ASSOCLEN, R_CRYPTLEN, R_IV, R_SRC, R_DST = 16, 20, 24, 28, 32, 36, 40


def _u32(k: Kernel, address: int) -> int:
    return k.memory.read_u32(address)


def alg_of(k: Kernel, tfm: int) -> int:
    """crypto_aead_alg(): the struct aead_alg of a crypto_aead."""
    return _u32(k, tfm + TFM_BASE + TFM_ALG) - AEAD_BASE


def register_aead(k: Kernel, address: int, instance: int = 0, template: int = 0) -> int:
    """crypto_register_aead (and aead_register_instance's registration): aead_prepare_alg's checks first."""
    if max(_u32(k, address + MAXAUTHSIZE), _u32(k, address + IVSIZE), _u32(k, address + CHUNKSIZE)) > F.PAGE_SIZE // 8:
        return -F.EINVAL
    if not _u32(k, address + CHUNKSIZE):
        k.memory.write_u32(address + CHUNKSIZE, _u32(k, address + AEAD_BASE + CRA_BLOCKSIZE))
    alg = read_alg(k, "aead", address)
    alg.flags = (alg.flags & ~F.TYPE_MASK) | F.TYPE_AEAD
    alg.instance, alg.template = instance, template
    return register(k, alg)


crypto_register_aead, crypto_unregister_aead, crypto_register_aeads, crypto_unregister_aeads = \
    registration_services("aead", "aead_alg", AEAD_SIZE, register_aead)


def _init(k: Kernel, entry: Tfm) -> int:
    """crypto_aead_init_tfm: needs a key, authsize = maxauthsize, the algorithm's init."""
    alg = entry.alg.address
    set_flags(k, entry.tfm, F.TFM_NEED_KEY)
    k.memory.write_u32(entry.mem, _u32(k, alg + MAXAUTHSIZE))
    return alg_init(k, entry, INIT, EXIT)


AEAD = Frontend("aead", TFM_BASE, F.TYPE_AEAD, F.TYPE_MASK, _init)


@service("struct crypto_aead *crypto_alloc_aead(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_aead(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """An AEAD transform ("gcm(aes)", "aegis128", "rfc4106(gcm(aes))"...)."""
    return alloc_tfm(k, cstring(k, alg_name), AEAD, type_, mask)


@service("int crypto_has_aead(const char *alg_name, u32 type, u32 mask)")
def crypto_has_aead(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """Whether an AEAD of that name can be had."""
    return has_for(k, alg_name, AEAD, type_, mask)


def setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """crypto_aead_setkey."""
    alg = alg_of(k, tfm)
    alignmask = _u32(k, alg + AEAD_BASE + CRA_ALIGNMASK)
    bounce = 0
    if key & alignmask:
        bounce = alloc(k, keylen + alignmask)
        aligned = (bounce + alignmask) & ~alignmask
        k.memory.write(aligned, k.memory.read(key, keylen))
        key = aligned
    try:
        error = gcall(k, _u32(k, alg + SETKEY), tfm, key, keylen)
    finally:
        free(k, bounce)
    if error:
        set_flags(k, tfm + TFM_BASE, F.TFM_NEED_KEY)
        return error
    clear_flags(k, tfm + TFM_BASE, F.TFM_NEED_KEY)
    return 0


def setauthsize(k: Kernel, tfm: int, authsize: int) -> int:
    """crypto_aead_setauthsize: at most maxauthsize, the algorithm may refuse, then stored."""
    alg = alg_of(k, tfm)
    if authsize > _u32(k, alg + MAXAUTHSIZE):
        return -F.EINVAL
    if _u32(k, alg + SETAUTHSIZE):
        error = gcall(k, _u32(k, alg + SETAUTHSIZE), tfm, authsize)
        if error:
            return error
    k.memory.write_u32(tfm, authsize)
    return 0


def crypt(k: Kernel, req: int, decrypt: bool) -> int:
    """crypto_aead_encrypt/decrypt: -ENOKEY without a key; a decryption shorter than the tag is -EINVAL."""
    tfm = _u32(k, req + R_TFM) - TFM_BASE
    if get_flags(k, tfm + TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    if decrypt and _u32(k, req + R_CRYPTLEN) < _u32(k, tfm):
        return -F.EINVAL
    return gcall(k, _u32(k, alg_of(k, tfm) + (DECRYPT if decrypt else ENCRYPT)), req)


@service("int crypto_aead_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int keylen)")
def crypto_aead_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key the AEAD."""
    return setkey(k, tfm, key, keylen)


@service("int crypto_aead_setauthsize(struct crypto_aead *tfm, unsigned int authsize)")
def crypto_aead_setauthsize(k: Kernel, tfm: int, authsize: int) -> int:
    """Choose the tag length."""
    return setauthsize(k, tfm, authsize)


@service("int crypto_aead_encrypt(struct aead_request *req)")
def crypto_aead_encrypt(k: Kernel, req: int) -> int:
    """Encrypt and tag: dst gets assoclen bytes, the ciphertext, then the tag."""
    return crypt(k, req, decrypt=False)


@service("int crypto_aead_decrypt(struct aead_request *req)")
def crypto_aead_decrypt(k: Kernel, req: int) -> int:
    """Check the tag and decrypt; -EBADMSG when the tag does not match."""
    return crypt(k, req, decrypt=True)
