"""Hashes: shash registration and use, and ahash over shash (crypto/shash.c, crypto/ahash.c, Linux 6.1).

``struct shash_alg`` (i386): init 0, update 4, final 8, finup 12, digest 16,
export 20, import 24, setkey 28, init_tfm 32, exit_tfm 36, descsize 40,
digestsize 48, statesize 52, base 56. ``struct crypto_shash``: descsize 0,
base 8. ``struct shash_desc``: tfm 0, __ctx 8.

An ahash transform of a synchronous hash is what ``crypto_init_shash_ops_async``
makes: its context holds a ``struct crypto_shash *`` and its function
pointers (``crypto_ahash.init`` at 0 ... ``setkey`` at 28, which modules
call inline) are the kernel's ``shash_async_*``, here :class:`Callback`
stubs; the request context is a ``shash_desc`` (reqsize 8 + descsize). The
data of an ahash request is walked over its scatterlist page by page, as
``crypto_hash_walk`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .guest import alloc, callback, cstring, free, gcall
from .registration import registration_services
from .registry import CRA_ALIGNMASK, CRA_FLAGS, KINDS, Alg, read_alg, register
from .scatterwalk import chunks
from .tfm import TFM_ALG, Frontend, Tfm, alg_extsize, alg_init, alloc_tfm, clear_flags, create, destroy, get_flags, has_for, set_flags

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

SHASH_SIZE = 392
INIT, UPDATE, FINAL, FINUP, DIGEST, EXPORT, IMPORT, SETKEY, INIT_TFM, EXIT_TFM = range(0, 40, 4)
DESCSIZE, DIGESTSIZE, STATESIZE = 40, 48, 52
SHASH_TFM_BASE = 8
DESC_CTX = 8
AHASH_TFM_BASE = 40
AHASH_REQSIZE = 32
# struct ahash_request
AREQ_TFM = 16  # base.tfm
AREQ_NBYTES = 24
AREQ_SRC = 28
AREQ_RESULT = 32
AREQ_CTX = 40


# -- the shash_alg of a transform -------------------------------------------------------
def shash_alg(k: Kernel, hash_tfm: int) -> int:
    """crypto_shash_alg(): the struct shash_alg of a crypto_shash."""
    return k.memory.read_u32(hash_tfm + SHASH_TFM_BASE + TFM_ALG) - KINDS["shash"].base


def _field(k: Kernel, alg: int, offset: int) -> int:
    return k.memory.read_u32(alg + offset)


def needs_key(k: Kernel, alg: int) -> bool:
    """crypto_shash_alg_needs_key: a setkey, and the key is not optional."""
    flags = k.memory.read_u32(alg + KINDS["shash"].base + CRA_FLAGS)
    return bool(_field(k, alg, SETKEY)) and not flags & F.OPTIONAL_KEY


def _init_shash(k: Kernel, entry: Tfm) -> int:
    """crypto_shash_init_tfm."""
    alg = entry.alg.address
    k.memory.write_u32(entry.mem, _field(k, alg, DESCSIZE))
    if needs_key(k, alg):
        set_flags(k, entry.tfm, F.TFM_NEED_KEY)
    return alg_init(k, entry, INIT_TFM, EXIT_TFM)


SHASH = Frontend("shash", SHASH_TFM_BASE, F.TYPE_SHASH, F.TYPE_MASK, _init_shash)


def _with_aligned(k: Kernel, tfm_alg_base: int, data: int, length: int) -> tuple[int, int]:
    """(pointer to use, bounce block or 0): a copy when ``data`` breaks the algorithm's alignment mask."""
    alignmask = k.memory.read_u32(tfm_alg_base + CRA_ALIGNMASK)
    if not data & alignmask or not length:
        return data, 0
    bounce = alloc(k, length + alignmask)
    aligned = (bounce + alignmask) & ~alignmask
    k.memory.write(aligned, k.memory.read(data, length))
    return aligned, bounce


def shash_update(k: Kernel, desc: int, data: int, length: int) -> int:
    """crypto_shash_update."""
    hash_tfm = k.memory.read_u32(desc)
    alg = shash_alg(k, hash_tfm)
    pointer, bounce = _with_aligned(k, alg + KINDS["shash"].base, data, length)
    try:
        return gcall(k, _field(k, alg, UPDATE), desc, pointer, length)
    finally:
        free(k, bounce)


def shash_final(k: Kernel, desc: int, out: int) -> int:
    """crypto_shash_final."""
    alg = shash_alg(k, k.memory.read_u32(desc))
    return gcall(k, _field(k, alg, FINAL), desc, out)


def shash_init(k: Kernel, desc: int) -> int:
    """crypto_shash_init (inline in Linux): -ENOKEY before a key is set."""
    hash_tfm = k.memory.read_u32(desc)
    if get_flags(k, hash_tfm + SHASH_TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    return gcall(k, _field(k, shash_alg(k, hash_tfm), INIT), desc)


def shash_finup(k: Kernel, desc: int, data: int, length: int, out: int) -> int:
    """crypto_shash_finup: the algorithm's finup, or update then final."""
    alg = shash_alg(k, k.memory.read_u32(desc))
    if _field(k, alg, FINUP):
        return gcall(k, _field(k, alg, FINUP), desc, data, length, out)
    error = shash_update(k, desc, data, length)
    return error or shash_final(k, desc, out)


def shash_digest(k: Kernel, desc: int, data: int, length: int, out: int) -> int:
    """crypto_shash_digest: -ENOKEY without a key; the algorithm's digest, or init then finup."""
    hash_tfm = k.memory.read_u32(desc)
    if get_flags(k, hash_tfm + SHASH_TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    alg = shash_alg(k, hash_tfm)
    if _field(k, alg, DIGEST):
        return gcall(k, _field(k, alg, DIGEST), desc, data, length, out)
    error = gcall(k, _field(k, alg, INIT), desc)
    return error or shash_finup(k, desc, data, length, out)


def shash_setkey(k: Kernel, hash_tfm: int, key: int, keylen: int) -> int:
    """crypto_shash_setkey: -ENOSYS without a setkey; NEED_KEY kept on failure, cleared on success."""
    alg = shash_alg(k, hash_tfm)
    setkey = _field(k, alg, SETKEY)
    error = gcall(k, setkey, hash_tfm, key, keylen) if setkey else -F.ENOSYS
    if error:
        if needs_key(k, alg):
            set_flags(k, hash_tfm + SHASH_TFM_BASE, F.TFM_NEED_KEY)
        return error
    clear_flags(k, hash_tfm + SHASH_TFM_BASE, F.TFM_NEED_KEY)
    return 0


def shash_export(k: Kernel, desc: int, out: int) -> int:
    """crypto_shash_export: the algorithm's export, or a copy of the descriptor context."""
    hash_tfm = k.memory.read_u32(desc)
    alg = shash_alg(k, hash_tfm)
    if _field(k, alg, EXPORT):
        return gcall(k, _field(k, alg, EXPORT), desc, out)
    k.memory.write(out, k.memory.read(desc + DESC_CTX, k.memory.read_u32(hash_tfm)))
    return 0


def shash_import(k: Kernel, desc: int, data: int) -> int:
    """crypto_shash_import: the algorithm's import, or a copy into the descriptor context."""
    hash_tfm = k.memory.read_u32(desc)
    alg = shash_alg(k, hash_tfm)
    if get_flags(k, hash_tfm + SHASH_TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    if _field(k, alg, IMPORT):
        return gcall(k, _field(k, alg, IMPORT), desc, data)
    k.memory.write(desc + DESC_CTX, k.memory.read(data, k.memory.read_u32(hash_tfm)))
    return 0


# -- registration ---------------------------------------------------------------------
def _prepare_shash(k: Kernel, address: int) -> Alg | int:
    """shash_prepare_alg: limits on digest, descriptor and state sizes; the shash type."""
    alg = read_alg(k, "shash", address)
    digestsize, descsize = _field(k, address, DIGESTSIZE), _field(k, address, DESCSIZE)
    statesize = _field(k, address, STATESIZE)
    if digestsize > F.HASH_MAX_DIGESTSIZE or descsize > F.HASH_MAX_DESCSIZE or statesize > F.HASH_MAX_STATESIZE:
        return -F.EINVAL
    if not _field(k, address, EXPORT):
        # shash_default_export/import: the state is the descriptor context.
        k.memory.write_u32(address + STATESIZE, descsize)
    alg.flags = (alg.flags & ~F.TYPE_MASK) | F.TYPE_SHASH
    alg.fields.update(digestsize=digestsize, descsize=descsize, statesize=k.memory.read_u32(address + STATESIZE))
    return alg


def register_shash(k: Kernel, address: int, instance: int = 0, template: int = 0) -> int:
    """crypto_register_shash (and shash_register_instance's part)."""
    alg = _prepare_shash(k, address)
    if isinstance(alg, int):
        return alg
    alg.instance, alg.template = instance, template
    return register(k, alg)


crypto_register_shash, crypto_unregister_shash, crypto_register_shashes, crypto_unregister_shashes = \
    registration_services("shash", "shash_alg", SHASH_SIZE, register_shash, plural="shashes")


# -- the shash consumer API -------------------------------------------------------------
@service("struct crypto_shash *crypto_alloc_shash(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_shash(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A synchronous hash transform (ERR_PTR(-ENOENT) if nothing answers the name)."""
    return alloc_tfm(k, cstring(k, alg_name), SHASH, type_, mask)


@service("int crypto_has_shash(const char *alg_name, u32 type, u32 mask)")
def crypto_has_shash(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """Whether a synchronous hash of that name can be had."""
    return has_for(k, alg_name, SHASH, type_, mask)


@service("int crypto_shash_setkey(struct crypto_shash *tfm, const u8 *key, unsigned int keylen)")
def crypto_shash_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key the hash (HMAC, keyed CRCs)."""
    return shash_setkey(k, tfm, key, keylen)


@service("int crypto_shash_update(struct shash_desc *desc, const u8 *data, unsigned int len)")
def crypto_shash_update(k: Kernel, desc: int, data: int, length: int) -> int:
    """Feed data."""
    return shash_update(k, desc, data, length)


@service("int crypto_shash_final(struct shash_desc *desc, u8 *out)")
def crypto_shash_final(k: Kernel, desc: int, out: int) -> int:
    """The digest."""
    return shash_final(k, desc, out)


@service("int crypto_shash_finup(struct shash_desc *desc, const u8 *data, unsigned int len, u8 *out)")
def crypto_shash_finup(k: Kernel, desc: int, data: int, length: int, out: int) -> int:
    """Last data and the digest."""
    return shash_finup(k, desc, data, length, out)


@service("int crypto_shash_digest(struct shash_desc *desc, const u8 *data, unsigned int len, u8 *out)")
def crypto_shash_digest(k: Kernel, desc: int, data: int, length: int, out: int) -> int:
    """init, update and final in one."""
    return shash_digest(k, desc, data, length, out)


@service("int crypto_shash_tfm_digest(struct crypto_shash *tfm, const u8 *data, unsigned int len, u8 *out)")
def crypto_shash_tfm_digest(k: Kernel, tfm: int, data: int, length: int, out: int) -> int:
    """A digest with a descriptor of the kernel's own (on its stack in Linux), wiped after."""
    desc = alloc(k, DESC_CTX + k.memory.read_u32(tfm))
    if not desc:
        return -F.ENOMEM
    try:
        k.memory.write_u32(desc, tfm)
        return shash_digest(k, desc, data, length, out)
    finally:
        free(k, desc)


@service("int crypto_shash_export(struct shash_desc *desc, void *out)")
def crypto_shash_export_service(k: Kernel, desc: int, out: int) -> int:
    """The partial state."""
    return shash_export(k, desc, out)


# -- ahash over shash -------------------------------------------------------------------
def _req_desc(k: Kernel, req: int) -> int:
    """The shash_desc in an ahash request's context, pointed at the inner crypto_shash."""
    ahash_tfm = k.memory.read_u32(req + AREQ_TFM)
    desc = req + AREQ_CTX
    k.memory.write_u32(desc, k.memory.read_u32(ahash_tfm + 24))
    return desc


def _walk_update(k: Kernel, req: int, desc: int, finish: int = 0) -> int:
    """shash_ahash_update / shash_ahash_finup: the request's data, page by page; ``finish``: the result."""
    pieces = list(chunks(k, k.memory.read_u32(req + AREQ_SRC), k.memory.read_u32(req + AREQ_NBYTES)))
    if finish and not pieces:
        return shash_final(k, desc, finish)
    for i, (address, length) in enumerate(pieces):
        if finish and i == len(pieces) - 1:
            return shash_finup(k, desc, address, length, finish)
        error = shash_update(k, desc, address, length)
        if error:
            return error
    return 0


@callback("int shash_async_init(struct ahash_request *req)")
def shash_async_init(k: Kernel, req: int) -> int:
    """crypto_ahash_init of an shash: the descriptor's init."""
    return shash_init(k, _req_desc(k, req))


@callback("int shash_async_update(struct ahash_request *req)")
def shash_async_update(k: Kernel, req: int) -> int:
    """crypto_ahash_update of an shash."""
    return _walk_update(k, req, req + AREQ_CTX)


@callback("int shash_async_final(struct ahash_request *req)")
def shash_async_final(k: Kernel, req: int) -> int:
    """crypto_ahash_final of an shash."""
    return shash_final(k, req + AREQ_CTX, k.memory.read_u32(req + AREQ_RESULT))


@callback("int shash_async_finup(struct ahash_request *req)")
def shash_async_finup(k: Kernel, req: int) -> int:
    """crypto_ahash_finup of an shash."""
    return _walk_update(k, req, req + AREQ_CTX, k.memory.read_u32(req + AREQ_RESULT))


@callback("int shash_async_digest(struct ahash_request *req)")
def shash_async_digest(k: Kernel, req: int) -> int:
    """crypto_ahash_digest of an shash: init, then the data with the last piece's finup."""
    desc = _req_desc(k, req)
    error = shash_init(k, desc)
    return error or _walk_update(k, req, desc, k.memory.read_u32(req + AREQ_RESULT))


@callback("int shash_async_setkey(struct crypto_ahash *tfm, const u8 *key, unsigned int keylen)")
def shash_async_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """crypto_ahash_setkey of an shash: the inner transform's key."""
    return shash_setkey(k, k.memory.read_u32(tfm + AHASH_TFM_BASE + 24), key, keylen)


@callback("int shash_async_export(struct ahash_request *req, void *out)")
def shash_async_export(k: Kernel, req: int, out: int) -> int:
    """The partial state of the request's descriptor."""
    return shash_export(k, req + AREQ_CTX, out)


@callback("int shash_async_import(struct ahash_request *req, const void *in)")
def shash_async_import(k: Kernel, req: int, data: int) -> int:
    """Resume from a partial state."""
    return shash_import(k, _req_desc(k, req), data)


ASYNC_OPS = (shash_async_init, shash_async_update, shash_async_final, shash_async_finup, shash_async_digest,
             shash_async_export, shash_async_import, shash_async_setkey)


def _init_ahash(k: Kernel, entry: Tfm) -> int:
    """crypto_ahash_init_tfm: an ahash algorithm's own ops, or an shash's through shash_async_*."""
    if entry.alg.kind != "shash":
        return _init_native_ahash(k, entry)
    inner = create(k, entry.alg, SHASH)
    if inner < 0:
        return inner
    entry.inner = inner
    k.memory.write_u32(entry.ctx, inner)
    for offset, op in zip(range(0, 32, 4), ASYNC_OPS):
        k.memory.write_u32(entry.mem + offset, op.address(k))
    if not _field(k, entry.alg.address, SETKEY):
        k.memory.write_u32(entry.mem + SETKEY, ahash_nosetkey.address(k))
    set_flags(k, entry.tfm, get_flags(k, inner + SHASH_TFM_BASE) & F.TFM_NEED_KEY)
    k.memory.write_u32(entry.mem + AHASH_REQSIZE, DESC_CTX + k.memory.read_u32(inner))
    entry.exit = lambda k, e: destroy(k, e.inner)
    return 0


def _init_native_ahash(k: Kernel, entry: Tfm) -> int:
    """The ahash_alg's ops copied into the crypto_ahash; NEED_KEY for a key that is not optional."""
    alg = entry.alg.address
    for offset in range(0, 28, 4):
        k.memory.write_u32(entry.mem + offset, _field(k, alg, offset))
    setkey = _field(k, alg, SETKEY)
    k.memory.write_u32(entry.mem + SETKEY, setkey or ahash_nosetkey.address(k))
    if setkey and not entry.alg.flags & F.OPTIONAL_KEY:
        set_flags(k, entry.tfm, F.TFM_NEED_KEY)
    return alg_init(k, entry, INIT_TFM, EXIT_TFM)


def _ahash_extsize(k: Kernel, alg: Alg) -> int:
    """crypto_ahash_extsize: a pointer to the inner shash, for an shash algorithm."""
    return 4 if alg.kind == "shash" else alg_extsize(k, alg)


AHASH = Frontend("ahash", AHASH_TFM_BASE, F.TYPE_AHASH, F.TYPE_HASH_MASK, _init_ahash, _ahash_extsize)


@service("struct crypto_ahash *crypto_alloc_ahash(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_ahash(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """An asynchronous hash transform (over a synchronous hash here)."""
    return alloc_tfm(k, cstring(k, alg_name), AHASH, type_, mask)


@service("int crypto_has_ahash(const char *alg_name, u32 type, u32 mask)")
def crypto_has_ahash(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """Whether an ahash of that name can be had."""
    return has_for(k, alg_name, AHASH, type_, mask)


def _ahash_of_req(k: Kernel, req: int) -> int:
    return k.memory.read_u32(req + AREQ_TFM) - AHASH_TFM_BASE


def _ahash_op(k: Kernel, req: int, offset: int, keyed: bool = False) -> int:
    tfm = _ahash_of_req(k, req)
    if keyed and get_flags(k, tfm + AHASH_TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    return gcall(k, k.memory.read_u32(tfm + offset), req)


@service("int crypto_ahash_setkey(struct crypto_ahash *tfm, const u8 *key, unsigned int keylen)")
def crypto_ahash_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key the hash; NEED_KEY kept on failure (unless the hash takes no key or it is optional), else cleared."""
    setkey = k.memory.read_u32(tfm + SETKEY)
    error = gcall(k, setkey, tfm, key, keylen)
    if error:
        flags = k.memory.read_u32(k.memory.read_u32(tfm + AHASH_TFM_BASE + TFM_ALG) + CRA_FLAGS)
        if setkey != ahash_nosetkey.address(k) and not flags & F.OPTIONAL_KEY:
            set_flags(k, tfm + AHASH_TFM_BASE, F.TFM_NEED_KEY)
        return error
    clear_flags(k, tfm + AHASH_TFM_BASE, F.TFM_NEED_KEY)
    return 0


@service("int crypto_ahash_final(struct ahash_request *req)")
def crypto_ahash_final(k: Kernel, req: int) -> int:
    """The digest of what the request's updates fed."""
    return _ahash_op(k, req, FINAL)


@service("int crypto_ahash_finup(struct ahash_request *req)")
def crypto_ahash_finup(k: Kernel, req: int) -> int:
    """The request's data, then the digest."""
    return _ahash_op(k, req, FINUP)


@service("int crypto_ahash_digest(struct ahash_request *req)")
def crypto_ahash_digest(k: Kernel, req: int) -> int:
    """init, the request's data, final; -ENOKEY before a needed key."""
    return _ahash_op(k, req, DIGEST, keyed=True)


@service("bool crypto_shash_alg_has_setkey(struct shash_alg *alg)")
def crypto_shash_alg_has_setkey(k: Kernel, alg: int) -> int:
    """Whether the hash takes a key (its setkey is not the kernel's shash_no_setkey)."""
    return int(bool(_field(k, alg, SETKEY)))


@service("int shash_ahash_update(struct ahash_request *req, struct shash_desc *desc)")
def shash_ahash_update(k: Kernel, req: int, desc: int) -> int:
    """Feed an ahash request's data to a shash descriptor."""
    return _walk_update(k, req, desc)


@service("int shash_ahash_finup(struct ahash_request *req, struct shash_desc *desc)")
def shash_ahash_finup(k: Kernel, req: int, desc: int) -> int:
    """The request's data, then the digest into req->result."""
    return _walk_update(k, req, desc, k.memory.read_u32(req + AREQ_RESULT))


@service("int shash_ahash_digest(struct ahash_request *req, struct shash_desc *desc)")
def shash_ahash_digest(k: Kernel, req: int, desc: int) -> int:
    """init, the request's data, the digest."""
    error = shash_init(k, desc)
    return error or _walk_update(k, req, desc, k.memory.read_u32(req + AREQ_RESULT))


# -- asynchronous hashes registered as such (struct ahash_alg: the ops 0-28, init_tfm 32, exit_tfm 36,
# halg at 40: digestsize 40, statesize 44, base 48) ------------------------------------------------
AHASH_ALG_SIZE = 384


def register_ahash(k: Kernel, address: int, instance: int = 0, template: int = 0) -> int:
    """crypto_register_ahash (ahash_prepare_alg: digest and state sizes bounded, a state needed)."""
    digestsize, statesize = _field(k, address, 40), _field(k, address, 44)
    if digestsize > F.HASH_MAX_DIGESTSIZE or statesize > F.HASH_MAX_STATESIZE or not statesize:
        return -F.EINVAL
    alg = read_alg(k, "ahash", address)
    alg.flags = (alg.flags & ~F.TYPE_MASK) | F.TYPE_AHASH
    alg.instance, alg.template = instance, template
    return register(k, alg)


crypto_register_ahash, crypto_unregister_ahash = registration_services(
    "ahash", "ahash_alg", AHASH_ALG_SIZE, register_ahash, arrays=False)


@callback("int ahash_nosetkey(struct crypto_ahash *tfm, const u8 *key, unsigned int keylen)")
def ahash_nosetkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """The setkey of a hash that takes no key."""
    return -F.ENOSYS
