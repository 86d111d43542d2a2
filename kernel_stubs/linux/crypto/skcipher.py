"""Symmetric key ciphers: registration, the consumer API and the walk (crypto/skcipher.c, Linux 6.1 i386).

``struct skcipher_alg``: setkey 0, encrypt 4, decrypt 8, init 12, exit 16,
min_keysize 20, max_keysize 24, ivsize 28, chunksize 32, walksize 36, base
40. ``struct crypto_skcipher``: reqsize 0, base 8. ``struct
skcipher_request``: cryptlen 0, iv 4, src 8, dst 12, base 16 (its tfm at 32,
flags at 36), __ctx 40.

The walk is Linux's virtual-address walk: each step maps at most what is
left of the current page of both lists (``walk.nbytes``), or gathers one
``min(stride, max(total, blocksize))`` chunk into a bounce buffer when a
step would be shorter than that (the slow path), or copies through a page
buffer when the addresses break the alignment mask; ``skcipher_walk_done``
takes the count of bytes the module left unprocessed, writes bounced data
back and moves on, and at the end copies an aligned IV copy back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from ..pages import PAGE_SIZE, PAGE_STRUCT_SIZE, page_to_virt
from . import flags as F
from .guest import alloc, cstring, free, gcall
from .registration import registration_services
from .registry import CRA_ALIGNMASK, CRA_BLOCKSIZE, read_alg, register
from .scatterwalk import sg_length, sg_next
from .tfm import TFM_ALG, Frontend, Tfm, alg_init, alloc_tfm, clear_flags, get_flags, has_for, set_flags

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

SKCIPHER_SIZE = 376
SETKEY, ENCRYPT, DECRYPT, INIT, EXIT, MIN_KEYSIZE, MAX_KEYSIZE, IVSIZE, CHUNKSIZE, WALKSIZE = range(0, 40, 4)
BASE = 40
TFM_BASE = 8
# struct skcipher_request
REQ_CRYPTLEN, REQ_IV, REQ_SRC, REQ_DST, REQ_TFM, REQ_FLAGS = 0, 4, 8, 12, 32, 36
# struct skcipher_walk
W_SRC_PAGE, W_SRC_ADDR, W_DST_PAGE, W_DST_ADDR = 0, 4, 8, 12
W_IN_SG, W_IN_OFF, W_NBYTES, W_OUT_SG, W_OUT_OFF, W_TOTAL = 16, 20, 24, 28, 32, 36
W_BUFFERS, W_PAGE, W_BUFFER, W_OIV, W_IV, W_IVSIZE, W_FLAGS, W_BLOCKSIZE, W_STRIDE, W_ALIGNMASK = (
    40, 48, 52, 56, 60, 64, 68, 72, 76, 80)
WALK_PHYS, WALK_SLOW, WALK_COPY, WALK_DIFF, WALK_SLEEP = 1, 2, 4, 8, 16


def alg_of(k: Kernel, tfm: int) -> int:
    """crypto_skcipher_alg(): the struct skcipher_alg of a crypto_skcipher."""
    return k.memory.read_u32(tfm + TFM_BASE + TFM_ALG) - BASE


def _u32(k: Kernel, address: int) -> int:
    return k.memory.read_u32(address)


# -- registration ---------------------------------------------------------------------
def prepare(k: Kernel, address: int) -> int:
    """skcipher_prepare_alg: sizes checked, chunk and walk sizes defaulted, the skcipher type."""
    ivsize, chunksize, walksize = _u32(k, address + IVSIZE), _u32(k, address + CHUNKSIZE), _u32(k, address + WALKSIZE)
    if max(ivsize, chunksize, walksize) > F.PAGE_SIZE // 8:
        return -F.EINVAL
    if not chunksize:
        chunksize = _u32(k, address + BASE + CRA_BLOCKSIZE)
        k.memory.write_u32(address + CHUNKSIZE, chunksize)
    if not walksize:
        k.memory.write_u32(address + WALKSIZE, chunksize)
    return 0


def register_skcipher(k: Kernel, address: int, instance: int = 0, template: int = 0) -> int:
    """crypto_register_skcipher (and the registration part of skcipher_register_instance)."""
    error = prepare(k, address)
    if error:
        return error
    alg = read_alg(k, "skcipher", address)
    alg.flags = (alg.flags & ~F.TYPE_MASK) | F.TYPE_SKCIPHER
    alg.instance, alg.template = instance, template
    return register(k, alg)


crypto_register_skcipher, crypto_unregister_skcipher, crypto_register_skciphers, crypto_unregister_skciphers = \
    registration_services("skcipher", "skcipher_alg", SKCIPHER_SIZE, register_skcipher)


# -- transforms -----------------------------------------------------------------------
def _init(k: Kernel, entry: Tfm) -> int:
    """crypto_skcipher_init_tfm: NEED_KEY when keys exist, the algorithm's init; its exit replaces cra_exit."""
    alg = entry.alg.address
    if _u32(k, alg + MAX_KEYSIZE):
        set_flags(k, entry.tfm, F.TFM_NEED_KEY)
    return alg_init(k, entry, INIT, EXIT)


SKCIPHER = Frontend("skcipher", TFM_BASE, F.TYPE_SKCIPHER, F.TYPE_MASK, _init)


@service("struct crypto_skcipher *crypto_alloc_skcipher(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_skcipher(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A cipher transform: "cbc(aes)", "chacha20", a driver name... (templates instantiated on demand)."""
    return alloc_tfm(k, cstring(k, alg_name), SKCIPHER, type_, mask)


@service("struct crypto_sync_skcipher *crypto_alloc_sync_skcipher(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_sync_skcipher(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A synchronous cipher: asynchronous implementations excluded, -EINVAL if the request size is too big."""
    from .tfm import destroy

    tfm = alloc_tfm(k, cstring(k, alg_name), SKCIPHER, type_ & ~F.ASYNC,
                    mask | F.ASYNC)
    if tfm < 0xFFFFF001 and _u32(k, tfm) > 384:  # MAX_SYNC_SKCIPHER_REQSIZE
        destroy(k, tfm)
        return -F.EINVAL & 0xFFFFFFFF
    return tfm


@service("int crypto_has_skcipher(const char *alg_name, u32 type, u32 mask)")
def crypto_has_skcipher(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """Whether a cipher of that name can be had."""
    return has_for(k, alg_name, SKCIPHER, type_, mask)


def setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """crypto_skcipher_setkey: key size bounds, aligned key, NEED_KEY cleared on success."""
    alg = alg_of(k, tfm)
    if keylen < _u32(k, alg + MIN_KEYSIZE) or keylen > _u32(k, alg + MAX_KEYSIZE):
        return -F.EINVAL
    alignmask = _u32(k, alg + BASE + CRA_ALIGNMASK)
    bounce = 0
    if key & alignmask:  # skcipher_setkey_unaligned
        bounce = alloc(k, keylen + alignmask)
        aligned = (bounce + alignmask) & ~alignmask
        k.memory.write(aligned, k.memory.read(key, keylen))
        key = aligned
    try:
        error = gcall(k, _u32(k, alg + SETKEY), tfm, key, keylen)
    finally:
        free(k, bounce)
    if error:
        if _u32(k, alg + MAX_KEYSIZE):
            set_flags(k, tfm + TFM_BASE, F.TFM_NEED_KEY)
        return error
    clear_flags(k, tfm + TFM_BASE, F.TFM_NEED_KEY)
    return 0


def crypt(k: Kernel, req: int, offset: int) -> int:
    """crypto_skcipher_encrypt/decrypt: -ENOKEY before a key, else the algorithm's own."""
    tfm = _u32(k, req + REQ_TFM) - TFM_BASE
    if get_flags(k, tfm + TFM_BASE) & F.TFM_NEED_KEY:
        return -F.ENOKEY
    return gcall(k, _u32(k, alg_of(k, tfm) + offset), req)


@service("int crypto_skcipher_setkey(struct crypto_skcipher *tfm, const u8 *key, unsigned int keylen)")
def crypto_skcipher_setkey(k: Kernel, tfm: int, key: int, keylen: int) -> int:
    """Key the cipher."""
    return setkey(k, tfm, key, keylen)


@service("int crypto_skcipher_encrypt(struct skcipher_request *req)")
def crypto_skcipher_encrypt(k: Kernel, req: int) -> int:
    """Encrypt req->cryptlen bytes from req->src to req->dst."""
    return crypt(k, req, ENCRYPT)


@service("int crypto_skcipher_decrypt(struct skcipher_request *req)")
def crypto_skcipher_decrypt(k: Kernel, req: int) -> int:
    """Decrypt."""
    return crypt(k, req, DECRYPT)


# -- the walk -------------------------------------------------------------------------
class _Side:
    """One scatter_walk (in at 16, out at 28) of a struct skcipher_walk."""

    def __init__(self, k: Kernel, walk: int, at: int) -> None:
        self.k, self.at = k, walk + at

    @property
    def sg(self) -> int:
        return self.k.memory.read_u32(self.at)

    @property
    def offset(self) -> int:
        return self.k.memory.read_u32(self.at + 4)

    def start(self, sg: int) -> None:
        """scatterwalk_start."""
        self.k.memory.write_u32(self.at, sg)
        self.k.memory.write_u32(self.at + 4, self.k.memory.read_u32(sg + 4) if sg else 0)

    def pagelen(self) -> int:
        """scatterwalk_pagelen: what is left of this entry within the current page."""
        sg = self.sg
        left = _u32(self.k, sg + 4) + sg_length(self.k, sg) - self.offset
        return min(left, PAGE_SIZE - (self.offset & (PAGE_SIZE - 1)))

    def page(self) -> int:
        """scatterwalk_page: the struct page of the current position."""
        return (_u32(self.k, self.sg) & ~3) + (self.offset >> 12) * PAGE_STRUCT_SIZE

    def address(self) -> int:
        """scatterwalk_map: the current position's address."""
        return page_to_virt(self.k, _u32(self.k, self.sg) & ~3) + self.offset

    def advance(self, n: int) -> None:
        self.k.memory.write_u32(self.at + 4, self.offset + n)

    def pagedone(self, more: int) -> None:
        """scatterwalk_pagedone: on to the next entry when this one is used up."""
        sg = self.sg
        if more and self.offset >= _u32(self.k, sg + 4) + sg_length(self.k, sg):
            self.start(sg_next(self.k, sg))

    def done(self, more: int) -> None:
        """scatterwalk_done."""
        sg = self.sg
        if not more or self.offset >= _u32(self.k, sg + 4) + sg_length(self.k, sg) or \
                not self.offset & (PAGE_SIZE - 1):
            self.pagedone(more)

    def copychunks(self, buf: int, nbytes: int, out: int) -> None:
        """scatterwalk_copychunks: ``out`` 0 list->buf, 1 buf->list, 2 only advance."""
        from .scatterwalk import MAX_ENTRIES

        budget = nbytes // PAGE_SIZE + MAX_ENTRIES  # page steps, and empty entries, a real list can have
        while True:
            budget -= 1
            if budget < 0:
                raise GuestFault("bad-scatterlist", f"scatter_walk at {self.at:#x}: its list goes round",
                                 address=self.sg)
            step = min(self.pagelen(), nbytes)
            if out != 2 and step:
                if out:
                    self.k.memory.write(self.address(), self.k.memory.read(buf, step))
                else:
                    self.k.memory.write(buf, self.k.memory.read(self.address(), step))
            self.advance(step)
            if nbytes == step:
                break
            buf += step
            nbytes -= step
            self.pagedone(1)


def _walk_next(k: Kernel, walk: int) -> int:
    """skcipher_walk_next: the next step (fast, bounced or copied)."""
    mem = k.memory
    flags = _u32(k, walk + W_FLAGS) & ~(WALK_SLOW | WALK_COPY | WALK_DIFF)
    mem.write_u32(walk + W_FLAGS, flags)
    inside, outside = _Side(k, walk, W_IN_SG), _Side(k, walk, W_OUT_SG)
    total, blocksize = _u32(k, walk + W_TOTAL), _u32(k, walk + W_BLOCKSIZE)
    bsize = min(_u32(k, walk + W_STRIDE), max(total, blocksize))
    n = min(total, inside.pagelen(), outside.pagelen())
    alignmask = _u32(k, walk + W_ALIGNMASK)
    if n < bsize:
        if total < blocksize:
            return walk_done(k, walk, -F.EINVAL)
        return _next_slow(k, walk, bsize, inside)
    if (inside.offset | outside.offset) & alignmask:
        page = _u32(k, walk + W_PAGE)
        if not page:
            page = alloc(k, PAGE_SIZE)
            if not page:
                return _next_slow(k, walk, bsize, inside)
            mem.write_u32(walk + W_PAGE, page)
        n = min(n, PAGE_SIZE - (page & (PAGE_SIZE - 1)))
        mem.write_u32(walk + W_NBYTES, n)
        mem.write_u32(walk + W_FLAGS, flags | WALK_COPY)
        mem.write(page, mem.read(inside.address(), n))
        mem.write_u32(walk + W_SRC_ADDR, page)
        mem.write_u32(walk + W_DST_ADDR, page)
        return 0
    mem.write_u32(walk + W_NBYTES, n)
    src_page, dst_page = inside.page(), outside.page()
    mem.write_u32(walk + W_SRC_PAGE, src_page)
    mem.write_u32(walk + W_DST_PAGE, dst_page)
    mem.write_u32(walk + W_SRC_ADDR, inside.address())
    if src_page != dst_page or (inside.offset ^ outside.offset) & (PAGE_SIZE - 1):
        mem.write_u32(walk + W_FLAGS, flags | WALK_DIFF)
        mem.write_u32(walk + W_DST_ADDR, outside.address())
    else:
        mem.write_u32(walk + W_DST_ADDR, inside.address())
    return 0


def _spot(k: Kernel, walk: int, bsize: int) -> int:
    """Where in walk->buffer a bounced block goes: aligned, not straddling a page (skcipher_get_spot)."""
    alignmask = _u32(k, walk + W_ALIGNMASK)
    start = (_u32(k, walk + W_BUFFER) + alignmask) & ~alignmask
    end_page = (start + bsize - 1) & ~(PAGE_SIZE - 1)
    return max(start, end_page)


def _next_slow(k: Kernel, walk: int, bsize: int, inside: _Side) -> int:
    """skcipher_next_slow: gather ``bsize`` bytes into the bounce buffer."""
    mem = k.memory
    if not _u32(k, walk + W_BUFFER):
        mem.write_u32(walk + W_BUFFER, _u32(k, walk + W_PAGE))
    if not _u32(k, walk + W_BUFFER):
        buffer = alloc(k, bsize + _u32(k, walk + W_ALIGNMASK) + bsize)
        if not buffer:
            return walk_done(k, walk, -F.ENOMEM)
        mem.write_u32(walk + W_BUFFER, buffer)
    spot = _spot(k, walk, bsize)
    mem.write_u32(walk + W_SRC_ADDR, spot)
    mem.write_u32(walk + W_DST_ADDR, spot)
    inside.copychunks(spot, bsize, 0)
    mem.write_u32(walk + W_NBYTES, bsize)
    mem.write_u32(walk + W_FLAGS, _u32(k, walk + W_FLAGS) | WALK_SLOW)
    return 0


def walk_done(k: Kernel, walk: int, err: int) -> int:
    """skcipher_walk_done: ``err`` bytes of this step were left; bounce back, advance, next step or finish."""
    mem = k.memory
    n = _u32(k, walk + W_NBYTES)
    nbytes = 0
    inside, outside = _Side(k, walk, W_IN_SG), _Side(k, walk, W_OUT_SG)
    if n:
        if err >= 0:
            n -= err
            nbytes = _u32(k, walk + W_TOTAL) - n
        flags = _u32(k, walk + W_FLAGS)
        if flags & WALK_COPY and not flags & WALK_DIFF:
            mem.write(outside.address(), mem.read(_u32(k, walk + W_PAGE), n))
        elif flags & WALK_SLOW and not flags & WALK_DIFF:
            if err > 0:  # the module left bytes of a bounced block: the message is not whole blocks
                err, nbytes = -F.EINVAL, 0
            else:
                outside.copychunks(_spot(k, walk, n), n, 1)
                n = 0
        if err > 0:
            err = 0
        mem.write_u32(walk + W_TOTAL, nbytes)
        mem.write_u32(walk + W_NBYTES, 0)
        inside.advance(n)
        outside.advance(n)
        inside.done(nbytes)
        outside.done(nbytes)
        if nbytes:
            return _walk_next(k, walk)
    # finish
    buffer, page = _u32(k, walk + W_BUFFER), _u32(k, walk + W_PAGE)
    if buffer | page:
        iv, oiv = _u32(k, walk + W_IV), _u32(k, walk + W_OIV)
        if iv != oiv:
            mem.write(oiv, mem.read(iv, _u32(k, walk + W_IVSIZE)))
        if buffer != page:
            free(k, buffer)
        if page:
            free(k, page)
        mem.write_u32(walk + W_BUFFER, 0)
        mem.write_u32(walk + W_PAGE, 0)
    return err


def _walk_first(k: Kernel, walk: int) -> int:
    """skcipher_walk_first: an aligned copy of a misaligned IV, then the first step."""
    mem = k.memory
    mem.write_u32(walk + W_BUFFER, 0)
    mem.write_u32(walk + W_PAGE, 0)
    alignmask, iv = _u32(k, walk + W_ALIGNMASK), _u32(k, walk + W_IV)
    if iv & alignmask:  # skcipher_copy_iv
        ivsize = _u32(k, walk + W_IVSIZE)
        buffer = alloc(k, ivsize + alignmask + 2 * max(_u32(k, walk + W_STRIDE), 1))
        if not buffer:
            return -F.ENOMEM
        aligned = (buffer + alignmask) & ~alignmask
        mem.write(aligned, mem.read(iv, ivsize))
        mem.write_u32(walk + W_BUFFER, buffer)
        mem.write_u32(walk + W_IV, aligned)
    return _walk_next(k, walk)


def _walk_start(k: Kernel, walk: int, total: int, iv: int, src: int, dst: int, sleep: bool, tfm_alg: int,
                ivsize: int, chunk: int) -> None:
    mem = k.memory
    mem.write_u32(walk + W_TOTAL, total)
    mem.write_u32(walk + W_NBYTES, 0)
    mem.write_u32(walk + W_IV, iv)
    mem.write_u32(walk + W_OIV, iv)
    _Side(k, walk, W_IN_SG).start(src)
    _Side(k, walk, W_OUT_SG).start(dst)
    flags = _u32(k, walk + W_FLAGS) & ~(WALK_SLEEP | WALK_PHYS)
    mem.write_u32(walk + W_FLAGS, flags | (WALK_SLEEP if sleep else 0))
    mem.write_u32(walk + W_BLOCKSIZE, _u32(k, tfm_alg + CRA_BLOCKSIZE))
    mem.write_u32(walk + W_STRIDE, chunk)
    mem.write_u32(walk + W_IVSIZE, ivsize)
    mem.write_u32(walk + W_ALIGNMASK, _u32(k, tfm_alg + CRA_ALIGNMASK))


@service("int skcipher_walk_virt(struct skcipher_walk *walk, struct skcipher_request *req, bool atomic)")
def skcipher_walk_virt(k: Kernel, walk: int, req: int, atomic: int) -> int:
    """Start walking a request's src/dst by virtual address; the first step is mapped on return."""
    tfm = _u32(k, req + REQ_TFM) - TFM_BASE
    alg = alg_of(k, tfm)
    k.memory.write_u32(walk + W_FLAGS, _u32(k, walk + W_FLAGS) & ~WALK_PHYS)
    total = _u32(k, req + REQ_CRYPTLEN)
    sleep = bool(_u32(k, req + REQ_FLAGS) & F.TFM_REQ_MAY_SLEEP)
    _walk_start(k, walk, total, _u32(k, req + REQ_IV), _u32(k, req + REQ_SRC), _u32(k, req + REQ_DST), sleep,
                alg + BASE, _u32(k, alg + IVSIZE), _u32(k, alg + WALKSIZE))
    error = _walk_first(k, walk) if total else 0
    if atomic:
        k.memory.write_u32(walk + W_FLAGS, _u32(k, walk + W_FLAGS) & ~WALK_SLEEP)
    return error


@service("int skcipher_walk_done(struct skcipher_walk *walk, int err)")
def skcipher_walk_done(k: Kernel, walk: int, err: int) -> int:
    """End a step: ``err`` >= 0 is how many of walk->nbytes bytes were left unprocessed."""
    return walk_done(k, walk, err)


def _walk_aead(k: Kernel, walk: int, req: int, atomic: int, decrypt: bool) -> int:
    """skcipher_walk_aead_common: past the associated data, over the text (less the tag to decrypt)."""
    from .aead import AEAD_BASE, R_ASSOCLEN, R_CRYPTLEN, R_DST, R_FLAGS, R_IV, R_SRC, R_TFM
    from .aead import CHUNKSIZE as A_CHUNK
    from .aead import IVSIZE as A_IVSIZE
    from .aead import alg_of as aead_alg_of

    mem = k.memory
    tfm = _u32(k, req + R_TFM) - 8
    alg = aead_alg_of(k, tfm)
    total = _u32(k, req + R_CRYPTLEN) - (_u32(k, tfm) if decrypt else 0)  # crypto_aead.authsize at 0
    sleep = bool(_u32(k, req + R_FLAGS) & F.TFM_REQ_MAY_SLEEP)
    _walk_start(k, walk, total, _u32(k, req + R_IV), _u32(k, req + R_SRC), _u32(k, req + R_DST), sleep,
                alg + AEAD_BASE, _u32(k, alg + A_IVSIZE), _u32(k, alg + A_CHUNK))
    if not total:
        return 0
    mem.write_u32(walk + W_FLAGS, _u32(k, walk + W_FLAGS) & ~WALK_PHYS)
    assoclen = _u32(k, req + R_ASSOCLEN)
    inside, outside = _Side(k, walk, W_IN_SG), _Side(k, walk, W_OUT_SG)
    inside.copychunks(0, assoclen, 2)
    outside.copychunks(0, assoclen, 2)
    inside.done(total)
    outside.done(total)
    error = _walk_first(k, walk)
    if atomic:
        mem.write_u32(walk + W_FLAGS, _u32(k, walk + W_FLAGS) & ~WALK_SLEEP)
    return error


@service("int skcipher_walk_aead_encrypt(struct skcipher_walk *walk, struct aead_request *req, bool atomic)")
def skcipher_walk_aead_encrypt(k: Kernel, walk: int, req: int, atomic: int) -> int:
    """Walk an AEAD request's plaintext (after its associated data)."""
    return _walk_aead(k, walk, req, atomic, decrypt=False)


@service("int skcipher_walk_aead_decrypt(struct skcipher_walk *walk, struct aead_request *req, bool atomic)")
def skcipher_walk_aead_decrypt(k: Kernel, walk: int, req: int, atomic: int) -> int:
    """Walk an AEAD request's ciphertext, without the tag."""
    return _walk_aead(k, walk, req, atomic, decrypt=True)


@service("void scatterwalk_copychunks(void *buf, struct scatter_walk *walk, size_t nbytes, int out)")
def scatterwalk_copychunks(k: Kernel, buf: int, walk: int, nbytes: int, out: int) -> None:
    """Copy between a buffer and a scatter_walk's position, page by page, advancing it."""
    _Side(k, walk, 0).copychunks(buf, nbytes, out)
