"""The templates Debian builds into its 6.1 kernel: cbc and hmac (CONFIG_CRYPTO_CBC=y, CONFIG_CRYPTO_HMAC=y).

Each is a ``struct crypto_template`` in kernel memory (module NULL, as a
built-in's THIS_MODULE) whose ``create`` is a kernel function, so
"cbc(des3_ede)" or "hmac(sha512)" is built by the same cryptomgr path as a
module's template (``template.instantiate``), over any registered algorithm,
a real module's included; the instance goes when that algorithm goes.

- cbc (crypto/cbc.c): ``skcipher_alloc_instance_simple`` over a single-block
  cipher, -EINVAL unless its block size is a power of two; encrypt and
  decrypt chain whole blocks through the cipher's own ``cia_encrypt`` /
  ``cia_decrypt`` and leave the last ciphertext block in ``req->iv``; a
  length that is not whole blocks processes the whole blocks and returns
  -EINVAL, as the walk makes it on Linux.
- hmac (crypto/hmac.c, RFC 2104): an shash instance over an unkeyed shash
  whose digest fits its block and whose state is at least a block; the
  transform context holds the inner and outer pad states (exported from the
  inner hash after one block of key ^ 0x36 / 0x5c) and then the inner
  transform; the descriptor context is the inner hash's descriptor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import flags as F
from .guest import alloc, callback, free, gcall
from .hash import (
    DESC_CTX,
    DESCSIZE,
    DIGESTSIZE,
    EXIT_TFM,
    INIT_TFM,
    SETKEY,
    STATESIZE,
    needs_key,
    shash_export,
    shash_final,
    shash_finup,
    shash_import,
    shash_init,
    shash_update,
)
from .registry import CRA_ALIGNMASK, CRA_BLOCKSIZE, CRA_CTXSIZE, CRA_PRIORITY, Crypto, Template
from .scatterwalk import copy
from .template import (
    ERR_MAX,
    I_CTX,
    INSTANCE_AT,
    S_ALG,
    T_CREATE,
    T_NAME,
    TEMPLATE_SIZE,
    crypto_attr_alg_name,
    crypto_check_attr_type,
    crypto_inst_setname,
    crypto_spawn_tfm2,
    drop,
    grab,
    shash_register_instance,
    skcipher_alloc_instance_simple,
    skcipher_register_instance,
)
from .tfm import TFM_ALG, destroy

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

SKCIPHER_BASE = 40  # struct crypto_alg in struct skcipher_alg
SHASH_BASE = 56
CIA_ENCRYPT, CIA_DECRYPT = 300 + 12, 300 + 16
# struct skcipher_request
REQ_CRYPTLEN, REQ_IV, REQ_SRC, REQ_DST, REQ_TFM = 0, 4, 8, 12, 32
HMAC_IPAD, HMAC_OPAD = 0x36, 0x5C


def _own_instance(k: Kernel, base: int) -> None:
    """Instances a built-in template makes belong to the kernel, not to whichever module asked first."""
    alg = k.subsystem(Crypto).by_base(base)
    if alg is not None:
        alg.owner = "kernel"


# -- cbc ------------------------------------------------------------------------------------
def _cbc(k: Kernel, req: int, decrypt: bool) -> int:
    mem = k.memory
    tfm = mem.read_u32(req + REQ_TFM) - 8  # the crypto_skcipher
    alg_base = mem.read_u32(tfm + 8 + TFM_ALG)
    bsize = mem.read_u32(alg_base + CRA_BLOCKSIZE)
    cipher = mem.read_u32(tfm + 8 + 24)  # skcipher_ctx_simple.cipher
    length = mem.read_u32(req + REQ_CRYPTLEN)
    if not length:
        return 0
    if length < bsize:
        return -F.EINVAL  # skcipher_walk_virt: less than one block
    whole = length - length % bsize
    data = copy(k, mem.read_u32(req + REQ_SRC), 0, nbytes=whole)
    iv_at = mem.read_u32(req + REQ_IV)
    iv = mem.read(iv_at, bsize)
    fn = mem.read_u32(mem.read_u32(cipher + TFM_ALG) + (CIA_DECRYPT if decrypt else CIA_ENCRYPT))
    scratch = alloc(k, 2 * bsize, "kernel")
    if not scratch:
        return -F.ENOMEM
    out = bytearray()
    try:
        for i in range(0, whole, bsize):
            block = data[i : i + bsize]
            if decrypt:
                mem.write(scratch, block)
                gcall(k, fn, cipher, scratch + bsize, scratch)
                plain = mem.read(scratch + bsize, bsize)
                out += bytes(a ^ b for a, b in zip(plain, iv))
                iv = block
            else:
                mem.write(scratch, bytes(a ^ b for a, b in zip(block, iv)))
                gcall(k, fn, cipher, scratch + bsize, scratch)
                iv = mem.read(scratch + bsize, bsize)
                out += iv
    finally:
        free(k, scratch)
    copy(k, mem.read_u32(req + REQ_DST), 0, bytes(out))
    mem.write(iv_at, iv)
    return -F.EINVAL if whole != length else 0


@callback("int crypto_cbc_encrypt(struct skcipher_request *req)")
def crypto_cbc_encrypt(k: Kernel, req: int) -> int:
    """C_i = E(P_i ^ C_{i-1}), C_0 the IV; the IV becomes the last C."""
    return _cbc(k, req, decrypt=False)


@callback("int crypto_cbc_decrypt(struct skcipher_request *req)")
def crypto_cbc_decrypt(k: Kernel, req: int) -> int:
    """P_i = D(C_i) ^ C_{i-1}; the IV becomes the last C."""
    return _cbc(k, req, decrypt=True)


@callback("int crypto_cbc_create(struct crypto_template *tmpl, struct rtattr **tb)")
def crypto_cbc_create(k: Kernel, tmpl: int, tb: int) -> int:
    """A cbc instance over the named cipher; -EINVAL for a block size that is not a power of two."""
    inst = skcipher_alloc_instance_simple(k, tmpl, tb)
    if inst >= ERR_MAX:
        return inst - (1 << 32)
    mem = k.memory
    base = inst + INSTANCE_AT["skcipher"]
    bsize = mem.read_u32(base + CRA_BLOCKSIZE)
    if bsize & (bsize - 1) or not bsize:
        gcall(k, mem.read_u32(inst), inst)  # inst->free
        return -F.EINVAL
    mem.write_u32(inst + 8 + 4, crypto_cbc_encrypt.address(k))
    mem.write_u32(inst + 8 + 8, crypto_cbc_decrypt.address(k))
    error = skcipher_register_instance(k, tmpl, inst)
    if error:
        gcall(k, mem.read_u32(inst), inst)
        return error
    _own_instance(k, base)
    return 0


# -- hmac -----------------------------------------------------------------------------------
SHASH_INSTANCE_SIZE = 432 + 28  # struct shash_instance + struct crypto_shash_spawn


def _hmac_layout(k: Kernel, tfm: int) -> tuple[int, int, int, int]:
    """(ipad state, opad state, the inner crypto_shash, the state size) of an hmac transform."""
    mem = k.memory
    alg = mem.read_u32(tfm + 8 + TFM_ALG) - SHASH_BASE
    statesize = mem.read_u32(alg + STATESIZE)
    alignmask = mem.read_u32(alg + SHASH_BASE + CRA_ALIGNMASK)
    ctx = tfm + 8 + 24
    ipad = (ctx + alignmask) & ~alignmask
    opad = ipad + statesize
    hmac_ctx = (opad + statesize + F.CRYPTO_MINALIGN - 1) & ~(F.CRYPTO_MINALIGN - 1)
    return ipad, opad, hmac_ctx, statesize


def _inner_desc(k: Kernel, pdesc: int) -> int:
    """shash_desc_ctx(pdesc): the inner hash's descriptor, pointed at the inner transform."""
    _, _, hmac_ctx, _ = _hmac_layout(k, k.memory.read_u32(pdesc))
    desc = pdesc + DESC_CTX
    k.memory.write_u32(desc, k.memory.read_u32(hmac_ctx))
    return desc


@callback("int hmac_setkey(struct crypto_shash *parent, const u8 *inkey, unsigned int keylen)")
def hmac_setkey(k: Kernel, parent: int, key: int, keylen: int) -> int:
    """RFC 2104: a key longer than a block is hashed first; the pads' states are precomputed."""
    mem = k.memory
    ipad, opad, hmac_ctx, _ = _hmac_layout(k, parent)
    hash_tfm = mem.read_u32(hmac_ctx)
    inner_alg = mem.read_u32(hash_tfm + 8 + TFM_ALG) - SHASH_BASE
    bs = mem.read_u32(inner_alg + SHASH_BASE + CRA_BLOCKSIZE)
    ds = mem.read_u32(inner_alg + DIGESTSIZE)
    desc = alloc(k, DESC_CTX + mem.read_u32(hash_tfm), "kernel")
    if not desc:
        return -F.ENOMEM
    try:
        mem.write_u32(desc, hash_tfm)
        if keylen > bs:
            from .hash import shash_digest

            error = shash_digest(k, desc, key, keylen, ipad)
            if error:
                return error
            material = mem.read(ipad, ds)
        else:
            material = mem.read(key, keylen) if keylen else b""
        material = material.ljust(bs, b"\0")
        for pad, value in ((ipad, HMAC_IPAD), (opad, HMAC_OPAD)):
            mem.write(pad, bytes(b ^ value for b in material))
            error = shash_init(k, desc) or shash_update(k, desc, pad, bs) or shash_export(k, desc, pad)
            if error:
                return error
        return 0
    finally:
        free(k, desc)


@callback("int hmac_init(struct shash_desc *pdesc)")
def hmac_init(k: Kernel, pdesc: int) -> int:
    """The inner hash resumes from the inner pad's state."""
    ipad, _, _, _ = _hmac_layout(k, k.memory.read_u32(pdesc))
    return shash_import(k, _inner_desc(k, pdesc), ipad)


@callback("int hmac_update(struct shash_desc *pdesc, const u8 *data, unsigned int nbytes)")
def hmac_update(k: Kernel, pdesc: int, data: int, nbytes: int) -> int:
    """Feed the inner hash."""
    return shash_update(k, pdesc + DESC_CTX, data, nbytes)


def _outer(k: Kernel, pdesc: int, out: int) -> int:
    """H(opad || inner digest) into ``out`` (where the inner digest is)."""
    _, opad, _, _ = _hmac_layout(k, k.memory.read_u32(pdesc))
    desc = pdesc + DESC_CTX
    ds = k.memory.read_u32(k.memory.read_u32(pdesc) + 8 + TFM_ALG) - SHASH_BASE + DIGESTSIZE
    return shash_import(k, desc, opad) or shash_finup(k, desc, out, k.memory.read_u32(ds), out)


@callback("int hmac_final(struct shash_desc *pdesc, u8 *out)")
def hmac_final(k: Kernel, pdesc: int, out: int) -> int:
    """The inner digest, then the outer hash over it."""
    return shash_final(k, pdesc + DESC_CTX, out) or _outer(k, pdesc, out)


@callback("int hmac_finup(struct shash_desc *pdesc, const u8 *data, unsigned int nbytes, u8 *out)")
def hmac_finup(k: Kernel, pdesc: int, data: int, nbytes: int, out: int) -> int:
    """The last data and the inner digest, then the outer hash."""
    return shash_finup(k, pdesc + DESC_CTX, data, nbytes, out) or _outer(k, pdesc, out)


@callback("int hmac_export(struct shash_desc *pdesc, void *out)")
def hmac_export(k: Kernel, pdesc: int, out: int) -> int:
    """The inner hash's partial state."""
    return shash_export(k, pdesc + DESC_CTX, out)


@callback("int hmac_import(struct shash_desc *pdesc, const void *in)")
def hmac_import(k: Kernel, pdesc: int, data: int) -> int:
    """Resume the inner hash from a partial state."""
    return shash_import(k, _inner_desc(k, pdesc), data)


@callback("int hmac_init_tfm(struct crypto_shash *parent)")
def hmac_init_tfm(k: Kernel, parent: int) -> int:
    """The inner transform from the instance's spawn; the descriptor holds the inner one's."""
    mem = k.memory
    base = mem.read_u32(parent + 8 + TFM_ALG)  # the instance's struct crypto_instance
    hash_tfm = crypto_spawn_tfm2(k, base + I_CTX)
    if hash_tfm >= ERR_MAX:
        return hash_tfm - (1 << 32)
    _, _, hmac_ctx, _ = _hmac_layout(k, parent)
    mem.write_u32(hmac_ctx, hash_tfm)
    mem.write_u32(parent, DESC_CTX + mem.read_u32(hash_tfm))  # crypto_shash.descsize
    return 0


@callback("void hmac_exit_tfm(struct crypto_shash *parent)")
def hmac_exit_tfm(k: Kernel, parent: int) -> None:
    """Free the inner transform."""
    _, _, hmac_ctx, _ = _hmac_layout(k, parent)
    destroy(k, k.memory.read_u32(hmac_ctx))


@callback("void hmac_free_instance(struct shash_instance *inst)")
def hmac_free_instance(k: Kernel, inst: int) -> None:
    """shash_free_singlespawn_instance: drop the spawn, free the instance."""
    drop(k, inst + INSTANCE_AT["shash"] + I_CTX)
    free(k, inst)


_HMAC_OPS = ((0, hmac_init), (4, hmac_update), (8, hmac_final), (12, hmac_finup), (20, hmac_export),
             (24, hmac_import), (SETKEY, hmac_setkey), (INIT_TFM, hmac_init_tfm), (EXIT_TFM, hmac_exit_tfm))


@callback("int hmac_create(struct crypto_template *tmpl, struct rtattr **tb)")
def hmac_create(k: Kernel, tmpl: int, tb: int) -> int:
    """An hmac instance over the named shash, checked as crypto/hmac.c checks it."""
    mem = k.memory
    mask_ret = alloc(k, 4, "kernel")
    error = crypto_check_attr_type(k, tb, F.TYPE_SHASH, mask_ret)
    mask = mem.read_u32(mask_ret)
    free(k, mask_ret)
    if error:
        return error
    inst = alloc(k, SHASH_INSTANCE_SIZE, "kernel")
    if not inst:
        return -F.ENOMEM
    base = inst + INSTANCE_AT["shash"]
    spawn = base + I_CTX
    mem.write_u32(inst, hmac_free_instance.address(k))
    error = grab(k, spawn, base, crypto_attr_alg_name(k, mem.read_u32(tb + 4)), 0, mask, _shash_frontend())
    if error:
        free(k, inst)
        return error
    inner_base = mem.read_u32(spawn + S_ALG)
    salg = inner_base - SHASH_BASE
    ds, ss = mem.read_u32(salg + DIGESTSIZE), mem.read_u32(salg + STATESIZE)
    bs, alignmask = mem.read_u32(inner_base + CRA_BLOCKSIZE), mem.read_u32(inner_base + CRA_ALIGNMASK)
    error = -F.EINVAL if needs_key(k, salg) or ds > bs or ss < bs else 0
    error = error or crypto_inst_setname(k, base, tmpl + T_NAME, inner_base)
    if error:
        hmac_free_instance(k, inst)
        return error
    alg = inst + 8
    mem.write_u32(base + CRA_PRIORITY, mem.read_u32(inner_base + CRA_PRIORITY))
    mem.write_u32(base + CRA_BLOCKSIZE, bs)
    mem.write_u32(base + CRA_ALIGNMASK, alignmask)
    ss = (ss + alignmask) & ~alignmask
    mem.write_u32(alg + DIGESTSIZE, ds)
    mem.write_u32(alg + STATESIZE, ss)
    mem.write_u32(alg + DESCSIZE, DESC_CTX + mem.read_u32(salg + DESCSIZE))
    mem.write_u32(base + CRA_CTXSIZE, 4 + ((2 * ss + F.CRYPTO_MINALIGN - 1) & ~(F.CRYPTO_MINALIGN - 1)))
    for offset, op in _HMAC_OPS:
        mem.write_u32(alg + offset, op.address(k))
    error = shash_register_instance(k, tmpl, inst)
    if error:
        hmac_free_instance(k, inst)
        return error
    _own_instance(k, base)
    return 0


def _shash_frontend():
    from .hash import SHASH

    return SHASH


# -- registration at boot -------------------------------------------------------------------
def register_builtin_templates(k: Kernel) -> None:
    """The cbc and hmac templates, as the kernel's crypto_register_template at boot leaves them."""
    mem = k.memory
    crypto = k.subsystem(Crypto)
    for name, create in (("cbc", crypto_cbc_create), ("hmac", hmac_create)):
        tmpl = mem.alloc(TEMPLATE_SIZE)
        mem.write(tmpl + T_NAME, name.encode() + b"\0")
        mem.write_u32(tmpl + T_CREATE, create.address(k))
        crypto.templates[tmpl] = Template(tmpl, name, "kernel", create.address(k))
