"""IV generators' common part (crypto/geniv.c, built in): what seqiv.ko and echainiv.ko build on.

``aead_geniv_alloc`` makes the AEAD instance "<template>(<inner aead>)"
over a grabbed inner AEAD (at least 8 bytes of IV), with the kernel's
``aead_geniv_setkey``/``setauthsize`` passing through to the child and
``aead_geniv_free``; ``aead_init_geniv`` fills ``struct aead_geniv_ctx``
(lock 0, child 4, sknull 8, salt 12: 12 bytes, checked against vmlinux's
DWARF): a salt of ivsize bytes from the default rng, the default null
skcipher, the child transform, and a request size for the child's request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .aead import AEAD_BASE, IVSIZE, MAXAUTHSIZE, setauthsize, setkey
from .guest import alloc, callback, cstring, free, gcall
from .registry import CRA_ALIGNMASK, CRA_BLOCKSIZE, CRA_CTXSIZE, CRA_DRIVER_NAME, CRA_NAME, CRA_PRIORITY
from .template import (
    ERR_MAX,
    I_CTX,
    INSTANCE_AT,
    S_ALG,
    T_NAME,
    crypto_attr_alg_name,
    crypto_check_attr_type,
    crypto_spawn_tfm2,
    drop,
    grab,
)

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

CTX_LOCK, CTX_CHILD, CTX_SKNULL, CTX_SALT = 0, 4, 8, 12
GENIV_CTX_SIZE = 12
AEAD_REQUEST_SIZE = 48


def _ctx(tfm: int) -> int:
    return tfm + 8 + 24  # crypto_aead_ctx()


@callback("int aead_geniv_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int keylen)")
def aead_geniv_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """The child's key."""
    return setkey(k, k.memory.read_u32(_ctx(tfm) + CTX_CHILD), key, keylen)


@callback("int aead_geniv_setauthsize(struct crypto_aead *tfm, unsigned int authsize)")
def aead_geniv_setauthsize(k: Kernel, tfm: int, authsize: int) -> int:
    """The child's tag length."""
    return setauthsize(k, k.memory.read_u32(_ctx(tfm) + CTX_CHILD), authsize)


@callback("void aead_geniv_free(struct aead_instance *inst)")
def aead_geniv_free(k: Kernel, inst: int) -> None:
    """Drop the inner AEAD spawn, free the instance."""
    drop(k, inst + INSTANCE_AT["aead"] + I_CTX)
    free(k, inst)


@service("struct aead_instance *aead_geniv_alloc(struct crypto_template *tmpl, struct rtattr **tb)")
def aead_geniv_alloc(k: Kernel, tmpl: int, tb: int) -> int:
    """An AEAD instance named after the template over the inner AEAD; ERR_PTR on failure."""
    mem = k.memory
    mask_ret = alloc(k, 4)
    error = crypto_check_attr_type(k, tb, F.TYPE_AEAD, mask_ret)
    mask = mem.read_u32(mask_ret)
    free(k, mask_ret)
    if error:
        return error & 0xFFFFFFFF
    inst = alloc(k, 416 + 28)  # sizeof(struct aead_instance) + sizeof(struct crypto_aead_spawn)
    if not inst:
        return -F.ENOMEM & 0xFFFFFFFF
    base = inst + INSTANCE_AT["aead"]
    spawn = base + I_CTX
    from .aead import AEAD

    error = grab(k, spawn, base, crypto_attr_alg_name(k, mem.read_u32(tb + 4)), 0, mask, AEAD)
    if not error:
        inner_base = mem.read_u32(spawn + S_ALG)
        inner = inner_base - AEAD_BASE
        ivsize, maxauthsize = mem.read_u32(inner + IVSIZE), mem.read_u32(inner + MAXAUTHSIZE)
        names = [f"{cstring(k, tmpl + T_NAME)}({cstring(k, inner_base + at)})" for at in (CRA_NAME, CRA_DRIVER_NAME)]
        if ivsize < 8:
            error = -F.EINVAL
        elif any(len(n.encode()) >= F.CRYPTO_MAX_ALG_NAME for n in names):
            error = -F.ENAMETOOLONG
    if error:
        aead_geniv_free(k, inst)
        return error & 0xFFFFFFFF
    mem.write(base + CRA_NAME, names[0].encode() + b"\0")
    mem.write(base + CRA_DRIVER_NAME, names[1].encode() + b"\0")
    for at in (CRA_PRIORITY, CRA_BLOCKSIZE, CRA_ALIGNMASK):
        mem.write_u32(base + at, mem.read_u32(inner_base + at))
    mem.write_u32(base + CRA_CTXSIZE, GENIV_CTX_SIZE)
    alg = inst + 8
    mem.write_u32(alg + 0, aead_geniv_setkey.address(k))
    mem.write_u32(alg + 4, aead_geniv_setauthsize.address(k))
    mem.write_u32(alg + IVSIZE, ivsize)
    mem.write_u32(alg + MAXAUTHSIZE, maxauthsize)
    mem.write_u32(inst, aead_geniv_free.address(k))
    return inst


@service("int aead_init_geniv(struct crypto_aead *tfm)")
def aead_init_geniv(k: Kernel, tfm: int) -> int:
    """Salt from the default rng, the null skcipher, the child transform, the request size."""
    from .kinds import crypto_get_default_rng, crypto_put_default_rng, rng_alg
    from .null import crypto_get_default_null_skcipher, crypto_put_default_null_skcipher

    mem = k.memory
    ctx = _ctx(tfm)
    mem.write_u32(ctx + CTX_LOCK, 0)
    error = crypto_get_default_rng(k)
    if error:
        return error
    rng = mem.read_u32(k.export_address("crypto_default_rng"))
    ivsize = mem.read_u32(mem.read_u32(tfm + 8 + 16) - AEAD_BASE + IVSIZE)
    error = gcall(k, mem.read_u32(rng_alg(k, rng)), rng, 0, 0, ctx + CTX_SALT, ivsize)  # crypto_rng_get_bytes
    crypto_put_default_rng(k)
    if error:
        return error
    sknull = crypto_get_default_null_skcipher(k)
    if sknull >= ERR_MAX:
        return sknull - (1 << 32)
    mem.write_u32(ctx + CTX_SKNULL, sknull)
    instance = mem.read_u32(tfm + 8 + 16)  # __crt_alg: the instance's crypto_instance
    child = crypto_spawn_tfm2(k, instance + I_CTX)
    if child >= ERR_MAX:
        crypto_put_default_null_skcipher(k)
        return child - (1 << 32)
    mem.write_u32(ctx + CTX_CHILD, child)
    mem.write_u32(tfm + 4, mem.read_u32(child + 4) + AEAD_REQUEST_SIZE)  # crypto_aead_set_reqsize
    return 0


@service("void aead_exit_geniv(struct crypto_aead *tfm)")
def aead_exit_geniv(k: Kernel, tfm: int) -> None:
    """Free the child, let go of the null skcipher."""
    from .null import crypto_put_default_null_skcipher
    from .tfm import destroy

    destroy(k, k.memory.read_u32(_ctx(tfm) + CTX_CHILD))
    crypto_put_default_null_skcipher(k)
