"""Linux 6.1's crypto API (i386): what modules register, what modules and Python use.

- Registration of every kind a module registers (``registry``, ``hash``,
  ``skcipher``, ``aead``, ``kinds``): shash, skcipher, aead, scomp, rng,
  kpp, akcipher and plain ciphers/compressors, each checked as Linux's
  ``*_prepare_alg`` checks it, unregistered at module exit; lookup by
  ``cra_driver_name`` or highest-priority ``cra_name``.
- The consumer API (``tfm`` and the kinds): ``crypto_alloc_*``,
  ``crypto_has_*``, ``crypto_destroy_tfm``, setkey/encrypt/decrypt, shash
  and ahash-over-shash, the skcipher walk over scatterlists
  (``scatterwalk``), single-block ciphers, compressors, rngs with the
  default rng.
- Templates (``template``): "ctr(aes)" asks the ctr module's template to
  build an instance over the aes module, spawns and all, as cryptomgr does.
- What Debian builds in, registered when the API is first used
  (``builtin``, ``builtin_templates``, ``digests``): aes-generic,
  md5/sha1/sha224/sha256-generic and the cbc and hmac templates.
- testmgr's self-tests on each registration, with Linux's vectors
  (``testmgr``, ``testmgr_vectors.json``).
- The built-in library modules import (``library``): AES, ChaCha blocks,
  xxHash64, LZ4 decompression, ``__crypto_xor``, ``crypto_inc``,
  ``__crypto_memneq``, ``fips_enabled``.
- Python helpers (``helpers``): ``crypto_api(k).skcipher("ctr(aes)")`` and
  one class per kind (:class:`Shash`, :class:`Ahash`, :class:`Skcipher`,
  :class:`Aead`, :class:`Cipher`, :class:`Compressor`, :class:`Rng`, :class:`Kpp`).

Struct offsets come from the generated layout table (tools/layouts_from_dwarf.py);
each file's docstring lists the ones it uses.
"""

from __future__ import annotations

from .helpers import Aead, Ahash, Cipher, Compressor, CryptoApi, CryptoError, Kpp, Rng, Shash, Skcipher, crypto_api
from .registry import Alg, Crypto, CryptoLookupError, Template
from .tfm import Transforms

__all__ = [
    "Aead", "Ahash", "Alg", "Cipher", "Compressor", "Crypto", "CryptoApi", "CryptoError",
    "CryptoLookupError", "Kpp", "Rng", "Shash", "Skcipher", "Template", "Transforms", "crypto_api",
]
