"""The crypto API from Python: each kind used as a kernel user would use it.

Every helper goes through the same services a module calls
(``crypto_alloc_*``, setkey, ``crypto_skcipher_encrypt`` over scatterlists,
``crypto_aead_*``, ``crypto_cipher_encrypt_one`` ...), so what it returns is
what the registered module's code computes, walks and bounce buffers
included. Memory is guest memory owned by the kernel; ``close()`` frees the
transform the way ``crypto_free_*`` does::

    from kernel_stubs.linux.crypto import crypto_api
    api = crypto_api(k)
    api.skcipher("ctr(aes)").encrypt(key, iv, data)      # builds ctr(aes) from ctr.ko over aes_ti.ko
    api.aead("aegis128").encrypt(key, iv, assoc, text)    # ciphertext + tag
    api.shash("xxhash64").digest(b"abc")
    api.kpp("curve25519").shared_secret(peer_public)      # after set_secret
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.errors import SandboxError

from . import flags as F
from .guest import signed
from .registry import Alg, Crypto, CryptoLookupError, lookup
from .scatterwalk import SG_SIZE, build
from .tfm import LEGACY, Frontend, create, destroy

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


class CryptoError(SandboxError):
    """An operation of the algorithm returned an error (``errno``: the negative value)."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


class _Transform:
    """A transform allocated for Python; the base of every helper."""

    frontend: Frontend = LEGACY

    def __init__(self, k: Any, name: str, type_: int = 0, mask: int = 0, alg: Alg | None = None) -> None:
        self.k = k
        self.name = name
        type_, mask = self.frontend.adjust(type_, mask) if self.frontend is not LEGACY else (type_, mask)
        if alg is None:
            try:
                alg = lookup(k, name, type_, mask)
            except CryptoLookupError as error:
                raise SandboxError(str(error)) from None
        self.alg: Alg = alg
        mem = create(k, self.alg, self.frontend)
        if mem < 0:
            raise CryptoError(f"{self.alg.driver_name}: allocating a transform returned {mem}", mem)
        self.mem = mem
        self._blocks: list[int] = []

    @property
    def driver_name(self) -> str:
        """cra_driver_name of the algorithm that answered the name."""
        return self.alg.driver_name

    def _buffer(self, data: bytes | int) -> int:
        size = data if isinstance(data, int) else len(data)
        block = self.k.memory.alloc(max(size, 1) + 16)
        if not block:
            raise SandboxError(f"cannot allocate {size} bytes of guest memory")
        self._blocks.append(block)
        if not isinstance(data, int) and data:
            self.k.memory.write(block, data)
        return block

    def _release(self) -> None:
        for block in self._blocks:
            self.k.memory.free(block)
        self._blocks.clear()

    def _check(self, result: int, what: str) -> int:
        result = signed(result)
        if result < 0:
            self._release()
            raise CryptoError(f"{self.alg.driver_name}: {what} returned {result}", result)
        return result

    def set_flags(self, bits: int) -> None:
        """crypto_tfm_set_flags (e.g. CRYPTO_TFM_REQ_FORBID_WEAK_KEYS, 0x100)."""
        from .tfm import set_flags

        set_flags(self.k, self.mem + self.frontend.base, bits)

    def close(self) -> None:
        """crypto_free_*: the algorithm's exit, then the memory."""
        self._release()
        if self.mem:
            destroy(self.k, self.mem)
            self.mem = 0

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Shash(_Transform):
    """A synchronous hash: ``crypto_alloc_shash`` + a ``shash_desc``."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        from . import hash as H

        self.frontend = H.SHASH
        super().__init__(k, name, alg=alg)
        self.digestsize = k.memory.read_u32(self.alg.address + H.DIGESTSIZE)
        self.descsize = k.memory.read_u32(self.mem)
        self.desc = k.memory.alloc(H.DESC_CTX + max(self.descsize, 4))
        k.memory.write_u32(self.desc, self.mem)
        self.reg = self.alg

    def setkey(self, key: bytes) -> None:
        """crypto_shash_setkey."""
        from .hash import shash_setkey

        self._check(shash_setkey(self.k, self.mem, self._buffer(key), len(key)), "setkey")
        self._release()

    def init(self) -> None:
        """crypto_shash_init."""
        from .hash import shash_init

        self._check(shash_init(self.k, self.desc), "init")

    def update(self, data: bytes) -> None:
        """crypto_shash_update."""
        from .hash import shash_update

        self._check(shash_update(self.k, self.desc, self._buffer(data), len(data)), "update")
        self._release()

    def final(self) -> bytes:
        """crypto_shash_final: the digest."""
        from .hash import shash_final

        out = self._buffer(max(self.digestsize, 4))
        self._check(shash_final(self.k, self.desc, out), "final")
        digest = self.k.memory.read(out, self.digestsize)
        self._release()
        return digest

    def digest(self, data: bytes, chunks: int = 1) -> bytes:
        """init, update (in ``chunks`` pieces), final."""
        self.init()
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            self.update(data[i : i + step])
        return self.final()

    def close(self) -> None:
        """Free the descriptor and the transform."""
        if self.desc:
            self.k.memory.free(self.desc)
            self.desc = 0
        super().close()


class Ahash(_Transform):
    """An asynchronous hash (over a synchronous one), driven by ``ahash_request``s over scatterlists."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        from . import hash as H

        self.frontend = H.AHASH
        super().__init__(k, name, alg=alg)
        self.digestsize = k.memory.read_u32(self.alg.address + H.DIGESTSIZE)

    def setkey(self, key: bytes) -> None:
        """crypto_ahash_setkey."""
        from .hash import crypto_ahash_setkey

        self._check(crypto_ahash_setkey(self.k, self.mem, self._buffer(key), len(key)), "setkey")
        self._release()

    def digest(self, data: bytes, pieces: int = 1) -> bytes:
        """crypto_ahash_digest of ``data`` spread over ``pieces`` scatterlist entries."""
        from . import hash as H

        mem = self.k.memory
        req = self._buffer(H.AREQ_CTX + mem.read_u32(self.mem + H.AHASH_REQSIZE))
        src = _scatter(self, data, pieces)
        result = self._buffer(max(self.digestsize, 4))
        mem.write_u32(req + H.AREQ_TFM, self.mem + H.AHASH_TFM_BASE)
        mem.write_u32(req + H.AREQ_NBYTES, len(data))
        mem.write_u32(req + H.AREQ_SRC, src)
        mem.write_u32(req + H.AREQ_RESULT, result)
        self._check(H.crypto_ahash_digest(self.k, req), "digest")
        out = mem.read(result, self.digestsize)
        self._release()
        return out


def _scatter(helper: _Transform, data: bytes, pieces: int, room: int = 0) -> int:
    """A scatterlist over ``data`` (plus ``room`` spare bytes at the end) cut into ``pieces`` buffers."""
    total = len(data) + room
    pieces = max(1, min(pieces, total or 1))
    step = -(-total // pieces) if total else 0
    buffers = []
    padded = data + bytes(room)
    for i in range(pieces):
        part = padded[i * step : (i + 1) * step]
        buffers.append((helper._buffer(part if part else 1), len(part)))
    table = helper._buffer(SG_SIZE * len(buffers))
    return build(helper.k, buffers, table)


def _gather(helper: _Transform, sg: int, length: int) -> bytes:
    from .scatterwalk import copy

    return copy(helper.k, sg, 0, nbytes=length)


class Skcipher(_Transform):
    """A symmetric key cipher: ``skcipher_request``s over scatterlists, as a kernel user builds them."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        from . import skcipher as S

        self.frontend = S.SKCIPHER
        super().__init__(k, name, alg=alg)
        self.ivsize = k.memory.read_u32(self.alg.address + S.IVSIZE)

    def setkey(self, key: bytes) -> None:
        """crypto_skcipher_setkey."""
        from .skcipher import setkey

        self._check(setkey(self.k, self.mem, self._buffer(key), len(key)), "setkey")
        self._release()

    def _crypt(self, key: bytes | None, iv: bytes, data: bytes, pieces: int, inplace: bool, decrypt: bool) -> bytes:
        from . import skcipher as S

        if key is not None:
            self.setkey(key)
        mem = self.k.memory
        req = self._buffer(S.REQ_TFM + 8 + mem.read_u32(self.mem))
        src = _scatter(self, data, pieces)
        dst = src if inplace else _scatter(self, bytes(len(data)), max(1, pieces - 1))
        ivbuf = self._buffer(iv.ljust(max(self.ivsize, 1), b"\0"))
        mem.write_u32(req + S.REQ_CRYPTLEN, len(data))
        mem.write_u32(req + S.REQ_IV, ivbuf)
        mem.write_u32(req + S.REQ_SRC, src)
        mem.write_u32(req + S.REQ_DST, dst)
        mem.write_u32(req + S.REQ_TFM, self.mem + S.TFM_BASE)
        self._check(S.crypt(self.k, req, S.DECRYPT if decrypt else S.ENCRYPT), "decrypt" if decrypt else "encrypt")
        out = _gather(self, dst, len(data))
        self.last_iv = mem.read(ivbuf, self.ivsize)
        self._release()
        return out

    def encrypt(self, key: bytes | None, iv: bytes, data: bytes, *, pieces: int = 1, inplace: bool = False) -> bytes:
        """Encrypt ``data`` (key set first unless None), src over ``pieces`` buffers; ``last_iv`` after."""
        return self._crypt(key, iv, data, pieces, inplace, decrypt=False)

    def decrypt(self, key: bytes | None, iv: bytes, data: bytes, *, pieces: int = 1, inplace: bool = False) -> bytes:
        """Decrypt."""
        return self._crypt(key, iv, data, pieces, inplace, decrypt=True)


class Aead(_Transform):
    """Authenticated encryption: ``aead_request``s (associated data, then text, then the tag)."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        from . import aead as A

        self.frontend = A.AEAD
        super().__init__(k, name, alg=alg)
        self.ivsize = k.memory.read_u32(self.alg.address + A.IVSIZE)

    @property
    def authsize(self) -> int:
        """crypto_aead_authsize."""
        return self.k.memory.read_u32(self.mem)

    def setkey(self, key: bytes) -> None:
        """crypto_aead_setkey."""
        from .aead import setkey

        self._check(setkey(self.k, self.mem, self._buffer(key), len(key)), "setkey")
        self._release()

    def setauthsize(self, size: int) -> None:
        """crypto_aead_setauthsize."""
        from .aead import setauthsize

        self._check(setauthsize(self.k, self.mem, size), "setauthsize")

    def _crypt(self, key: bytes | None, iv: bytes, assoc: bytes, text: bytes, pieces: int, decrypt: bool,
               inplace: bool = True) -> bytes:
        from . import aead as A

        if key is not None:
            self.setkey(key)
        mem = self.k.memory
        tag = self.authsize
        out_len = len(text) - tag if decrypt else len(text) + tag
        req = self._buffer(A.R_DST + 8 + mem.read_u32(self.mem + 4))
        src = _scatter(self, assoc + text, pieces, room=0 if decrypt else tag)
        ivbuf = self._buffer(iv.ljust(max(self.ivsize, 1), b"\0"))
        mem.write_u32(req + A.R_TFM, self.mem + A.TFM_BASE)
        mem.write_u32(req + A.R_ASSOCLEN, len(assoc))
        mem.write_u32(req + A.R_CRYPTLEN, len(text))
        mem.write_u32(req + A.R_IV, ivbuf)
        dst = src if inplace else _scatter(self, bytes(len(assoc) + max(out_len, len(text))), max(1, pieces - 1))
        mem.write_u32(req + A.R_SRC, src)
        mem.write_u32(req + A.R_DST, dst)
        self._check(A.crypt(self.k, req, decrypt), "decrypt" if decrypt else "encrypt")
        out = _gather(self, dst, len(assoc) + out_len)
        self.last_assoc = out[:len(assoc)]
        out = out[len(assoc):]
        self._release()
        return out

    def encrypt(self, key: bytes | None, iv: bytes, assoc: bytes, text: bytes, *, pieces: int = 1,
                inplace: bool = True) -> bytes:
        """Ciphertext followed by the tag (``inplace=False``: into another scatterlist; ``last_assoc``
        is then the associated data the algorithm copied there)."""
        return self._crypt(key, iv, assoc, text, pieces, False, inplace)

    def decrypt(self, key: bytes | None, iv: bytes, assoc: bytes, sealed: bytes, *, pieces: int = 1,
                inplace: bool = True) -> bytes:
        """The plaintext; CryptoError with errno -EBADMSG when the tag is wrong."""
        return self._crypt(key, iv, assoc, sealed, pieces, True, inplace)


class Cipher(_Transform):
    """A single-block cipher (``crypto_alloc_cipher``)."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        super().__init__(k, name, F.TYPE_CIPHER, F.TYPE_MASK, alg=alg)
        self.blocksize = k.memory.read_u32(self.alg.base + 20)

    def setkey(self, key: bytes) -> None:
        """crypto_cipher_setkey."""
        from .kinds import cipher_setkey

        self._check(cipher_setkey(self.k, self.mem, self._buffer(key), len(key)), "setkey")
        self._release()

    def _one(self, block: bytes, decrypt: bool) -> bytes:
        from .kinds import cipher_one

        src, dst = self._buffer(block), self._buffer(len(block))
        cipher_one(self.k, self.mem, dst, src, decrypt)
        out = self.k.memory.read(dst, self.blocksize)
        self._release()
        return out

    def encrypt_block(self, block: bytes) -> bytes:
        """crypto_cipher_encrypt_one."""
        return self._one(block, False)

    def decrypt_block(self, block: bytes) -> bytes:
        """crypto_cipher_decrypt_one."""
        return self._one(block, True)


class Compressor(_Transform):
    """A compressor: ``crypto_comp`` (crypto_register_alg) or an scomp's own calls."""

    def __init__(self, k: Any, name: str, scomp: bool = False) -> None:
        from .kinds import SCOMP

        self.scomp = scomp
        if scomp:
            self.frontend = SCOMP
            super().__init__(k, name)
            alloc_ctx = k.memory.read_u32(self.alg.address)
            self.ctx = signed(k.call_function_pointer(alloc_ctx, self.mem)) if alloc_ctx else 0
            if -4095 <= self.ctx < 0:
                raise CryptoError(f"{self.alg.driver_name}: alloc_ctx returned {self.ctx}", self.ctx)
        else:
            super().__init__(k, name, F.TYPE_COMPRESS, F.TYPE_MASK)

    def _run(self, data: bytes, room: int, decompress: bool) -> bytes:
        from .kinds import COA_COMPRESS, COA_DECOMPRESS

        mem = self.k.memory
        src, dst, dlen = self._buffer(data), self._buffer(room), self._buffer(4)
        mem.write_u32(dlen, room)
        if self.scomp:
            fn = mem.read_u32(self.alg.address + (12 if decompress else 8))
            result = self.k.call_function_pointer(fn, self.mem, src, len(data), dst, dlen, self.ctx & 0xFFFFFFFF)
        else:
            fn = mem.read_u32(self.alg.base + (COA_DECOMPRESS if decompress else COA_COMPRESS))
            result = self.k.call_function_pointer(fn, self.mem, src, len(data), dst, dlen)
        self._check(result, "decompress" if decompress else "compress")
        out = mem.read(dst, mem.read_u32(dlen))
        self._release()
        return out

    def compress(self, data: bytes, room: int | None = None) -> bytes:
        """Compressed ``data`` (``room``: the output buffer's size)."""
        return self._run(data, room if room is not None else 2 * len(data) + 64, decompress=False)

    def decompress(self, data: bytes, room: int) -> bytes:
        """Decompressed ``data`` into at most ``room`` bytes."""
        return self._run(data, room, decompress=True)

    def close(self) -> None:
        """free_ctx for an scomp, then the transform."""
        if self.scomp and self.ctx:
            free_ctx = self.k.memory.read_u32(self.alg.address + 4)
            if free_ctx:
                self.k.call_function_pointer(free_ctx, self.mem, self.ctx & 0xFFFFFFFF)
            self.ctx = 0
        super().close()


class Rng(_Transform):
    """A random number generator (``crypto_alloc_rng``)."""

    def __init__(self, k: Any, name: str, alg: Alg | None = None) -> None:
        from .kinds import RNG

        self.frontend = RNG
        super().__init__(k, name, alg=alg)
        self.seedsize = k.memory.read_u32(self.alg.address + 12)

    def seed(self, seed: bytes | None = None) -> None:
        """crypto_rng_reset (None: seedsize bytes from get_random_bytes)."""
        from .kinds import rng_reset

        if seed is None:
            self._check(rng_reset(self.k, self.mem, 0, self.seedsize), "seed")
        else:
            self._check(rng_reset(self.k, self.mem, self._buffer(seed), len(seed)), "seed")
        self._release()

    def set_entropy(self, data: bytes) -> None:
        """crypto_rng_set_entropy: the test entropy a DRBG seeds from instead of the kernel's pool."""
        fn = self.k.memory.read_u32(self.alg.address + 8)
        if not fn:
            raise CryptoError(f"{self.name}: the algorithm takes no test entropy (no set_ent)", -22)
        self.k.call_function_pointer(fn, self.mem, self._buffer(data), len(data))

    def generate(self, count: int, extra: bytes = b"") -> bytes:
        """crypto_rng_generate: ``count`` bytes (``extra``: additional input)."""
        fn = self.k.memory.read_u32(self.alg.address)
        src = self._buffer(extra) if extra else 0
        dst = self._buffer(count)
        self._check(self.k.call_function_pointer(fn, self.mem, src, len(extra), dst, count), "generate")
        out = self.k.memory.read(dst, count)
        self._release()
        return out


class Kpp(_Transform):
    """Key agreement (``crypto_alloc_kpp``): a secret, the public key, the shared secret, over scatterlists."""

    def __init__(self, k: Any, name: str) -> None:
        from .kinds import KPP

        self.frontend = KPP
        super().__init__(k, name)

    def _op(self, offset: int) -> int:
        return self.k.memory.read_u32(self.alg.address + offset)

    def set_secret(self, secret: bytes) -> None:
        """crypto_kpp_set_secret (the algorithm's own packed format: raw 32 bytes for curve25519)."""
        self._check(self.k.call_function_pointer(self._op(0), self.mem, self._buffer(secret), len(secret)),
                    "set_secret")
        self._release()

    def max_size(self) -> int:
        """crypto_kpp_maxsize: the size of a public key or shared secret."""
        return self.k.call_function_pointer(self._op(12), self.mem)

    def _request(self, offset: int, peer: bytes | None, what: str) -> bytes:
        mem = self.k.memory
        size = self.max_size()
        req = self._buffer(40 + mem.read_u32(self.alg.address + 24))
        mem.write_u32(req + 16, self.mem)
        if peer is not None:
            mem.write_u32(req + 24, _scatter(self, peer, 1))
            mem.write_u32(req + 32, len(peer))
        dst = _scatter(self, bytes(size), 1)
        mem.write_u32(req + 28, dst)
        mem.write_u32(req + 36, size)
        self._check(self.k.call_function_pointer(self._op(offset), req), what)
        out = _gather(self, dst, mem.read_u32(req + 36))
        self._release()
        return out

    def public_key(self) -> bytes:
        """crypto_kpp_generate_public_key."""
        return self._request(4, None, "generate_public_key")

    def shared_secret(self, peer_public: bytes) -> bytes:
        """crypto_kpp_compute_shared_secret with the peer's public key."""
        return self._request(8, peer_public, "compute_shared_secret")


class CryptoApi:
    """The crypto API of one kernel, for Python (``crypto_api(k)``)."""

    def __init__(self, k: Kernel | Any) -> None:
        self.k = k

    def algorithms(self, builtin: bool = True) -> list[Alg]:
        """Every registered algorithm, newest first (as /proc/crypto lists them); ``builtin=False`` leaves
        out the kernel's own (aes-generic, sha*-generic, md5-generic, the null algorithms, the
        instances of the built-in templates)."""
        crypto = k_crypto(self.k)
        return crypto.registered if builtin else crypto.from_modules

    def has(self, name: str, type_: int = 0, mask: int = 0) -> bool:
        """crypto_has_alg."""
        try:
            lookup(self.k, name, type_, mask)
        except CryptoLookupError:
            return False
        return True

    def shash(self, name: str) -> Shash:
        """crypto_alloc_shash."""
        return Shash(self.k, name)

    def ahash(self, name: str) -> Ahash:
        """crypto_alloc_ahash."""
        return Ahash(self.k, name)

    def skcipher(self, name: str) -> Skcipher:
        """crypto_alloc_skcipher."""
        return Skcipher(self.k, name)

    def aead(self, name: str) -> Aead:
        """crypto_alloc_aead."""
        return Aead(self.k, name)

    def cipher(self, name: str) -> Cipher:
        """crypto_alloc_cipher."""
        return Cipher(self.k, name)

    def comp(self, name: str) -> Compressor:
        """crypto_alloc_comp."""
        return Compressor(self.k, name)

    def scomp(self, name: str) -> Compressor:
        """An scomp's compress/decompress, as acomp drives it."""
        return Compressor(self.k, name, scomp=True)

    def rng(self, name: str) -> Rng:
        """crypto_alloc_rng."""
        return Rng(self.k, name)

    def kpp(self, name: str) -> Kpp:
        """crypto_alloc_kpp."""
        return Kpp(self.k, name)

    def autoload_from(self, tree: str) -> None:
        """Load modules of ``tree`` by ``crypto-<name>`` aliases when a lookup misses (request_module)."""
        k_crypto(self.k).autoload_from(tree)


def k_crypto(k: Any) -> Crypto:
    """The kernel's Crypto state."""
    return k.subsystem(Crypto)


def crypto_api(k: Kernel | Any) -> CryptoApi:
    """The Python front of a kernel's crypto API."""
    return CryptoApi(k)
