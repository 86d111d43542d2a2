"""Linux 6.1's crypto API constants (include/linux/crypto.h, crypto/internal.h, include/crypto/algapi.h)."""

from __future__ import annotations

# cra_flags: the algorithm type in the low nibble
TYPE_MASK = 0x0000000F
TYPE_CIPHER = 0x1
TYPE_COMPRESS = 0x2
TYPE_AEAD = 0x3
TYPE_SKCIPHER = 0x5
TYPE_AKCIPHER = 0x6
TYPE_KPP = 0x8
TYPE_ACOMPRESS = 0xA
TYPE_SCOMPRESS = 0xB
TYPE_RNG = 0xC
TYPE_SHASH = 0xE
TYPE_AHASH = 0xF
TYPE_HASH_MASK = 0xE  # ahash frontends accept shash and ahash algorithms
TYPE_ACOMPRESS_MASK = 0xE

LARVAL = 0x10
DEAD = 0x20
DYING = 0x40
ASYNC = 0x80
NEED_FALLBACK = 0x100
TESTED = 0x400
INSTANCE = 0x800
KERN_DRIVER_ONLY = 0x1000
INTERNAL = 0x2000
OPTIONAL_KEY = 0x4000
NOLOAD = 0x8000
ALLOCATES_MEMORY = 0x10000
FIPS_INTERNAL = 0x20000
# What a template instance inherits from the algorithms it wraps (crypto_algt_inherited_mask).
INHERITED_FLAGS = ASYNC | NEED_FALLBACK | ALLOCATES_MEMORY

# crt_flags of a transform
TFM_NEED_KEY = 0x1
TFM_REQ_MASK = 0x000FFF00
TFM_REQ_MAY_SLEEP = 0x200

# Notifier chain messages (crypto/internal.h's enum).
MSG_ALG_REQUEST = 0
MSG_ALG_REGISTER = 1
MSG_ALG_LOADED = 2

# Template attributes (include/linux/crypto.h's enum): rtattr types in tb[].
CRYPTOA_ALG = 1
CRYPTOA_TYPE = 2
CRYPTO_MAX_ATTRS = 32
CRYPTO_MAX_ALG_NAME = 128

# Limits the registration checks enforce.
PAGE_SIZE = 4096
MAX_ALGAPI_ALIGNMASK = 63
MAX_CIPHER_BLOCKSIZE = 16
HASH_MAX_DIGESTSIZE = 64
HASH_MAX_DESCSIZE = 8 + 360  # sizeof(struct shash_desc) + 360
HASH_MAX_STATESIZE = 512
CRYPTO_MINALIGN = 8  # i386: __alignof__(unsigned long long)

EPERM = 1
ENOENT = 2
EINTR = 4
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EEXIST = 17
EINVAL = 22
ENOSPC = 28
ENOSYS = 38
ENAMETOOLONG = 36
ENOKEY = 126
EBADMSG = 74
EINPROGRESS = 115
EDEADLK = 35
EOVERFLOW = 75
ELIBBAD = 80
