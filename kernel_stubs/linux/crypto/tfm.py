"""Transforms: crypto_alloc_* and crypto_destroy_tfm as crypto/api.c builds them (Linux 6.1 i386).

A frontend (``crypto_skcipher``, ``crypto_shash`` ...) is a struct with the
``struct crypto_tfm`` at a fixed offset (``crypto_skcipher.base`` at 8) and
the algorithm's context after it (``__crt_ctx`` at tfm + 24, so
``crypto_skcipher_ctx()`` is what the module's own code computes). The
frontend's type and mask narrow the lookup (an ahash frontend accepts
shash algorithms: ``CRYPTO_ALG_TYPE_AHASH_MASK``). Creation is
``crypto_create_tfm_node``: zeroed memory owned by the calling module,
``__crt_alg``, the frontend's ``init_tfm`` (flags such as
``CRYPTO_TFM_NEED_KEY``, the algorithm's own ``init``), then ``cra_init``
unless the frontend installed an exit. Legacy single-block ciphers and
compressors are ``__crypto_alloc_tfm``: the tfm itself, then ``cra_init``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.services import service

from . import flags as F
from .guest import alloc, free, gcall, owner_of
from .registry import CRA_ALIGNMASK, CRA_CTXSIZE, CRA_EXIT, CRA_INIT, Alg, Crypto, CryptoLookupError, hold, lookup, put

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

# struct crypto_tfm
TFM_REFCNT = 0
TFM_FLAGS = 4
TFM_NODE = 8
TFM_EXIT = 12
TFM_ALG = 16
TFM_CTX = 24


@dataclass(frozen=True, slots=True)
class Frontend:
    """A crypto_type: what crypto_alloc_<kind> makes."""

    name: str
    base: int  # offset of struct crypto_tfm in the frontend struct
    type: int
    maskset: int
    init: Callable[[Kernel, Tfm], int] | None = None  # crypto_<kind>_init_tfm
    extsize: Callable[[Kernel, Alg], int] | None = None

    def adjust(self, type_: int, mask: int) -> tuple[int, int]:
        """crypto_alloc_tfm_node's narrowing: type bits from the frontend."""
        return (type_ & ~F.TYPE_MASK) | self.type, (mask & ~F.TYPE_MASK) | self.maskset


@dataclass(slots=True)
class Tfm:
    """A live transform."""

    frontend: Frontend
    alg: Alg
    mem: int  # what crypto_alloc_* returned
    owner: str
    exit: Callable[[Kernel, Tfm], None] | None = None  # the frontend's exit (tfm->exit)
    inner: int = 0  # an ahash over an shash: the crypto_shash it drives
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def tfm(self) -> int:
        """The struct crypto_tfm."""
        return self.mem + self.frontend.base

    @property
    def ctx(self) -> int:
        """crypto_tfm_ctx()."""
        return self.tfm + TFM_CTX


class Transforms:
    """Every live transform, by the address crypto_alloc_* returned."""

    def __init__(self) -> None:
        self.live: dict[int, Tfm] = {}

    def of_tfm(self, tfm: int) -> Tfm | None:
        """The transform whose struct crypto_tfm is at ``tfm``."""
        for entry in self.live.values():
            if entry.tfm == tfm:
                return entry
        return None

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Transforms the module allocated and did not free (their memory is its heap leak too)."""
        leaks = []
        for mem, entry in list(self.live.items()):
            if entry.owner == module.name:
                leaks.append(f"crypto transform {entry.alg.driver_name} ({entry.frontend.name}) at {mem:#x} not freed")
                put(entry.alg)
                del self.live[mem]
        return leaks


def alg_extsize(k: Kernel, alg: Alg) -> int:
    """crypto_alg_extsize: the context plus the part of the alignment mask kmalloc does not give."""
    return k.memory.read_u32(alg.base + CRA_CTXSIZE) + (k.memory.read_u32(alg.base + CRA_ALIGNMASK)
                                                       & ~(F.CRYPTO_MINALIGN - 1))


def alg_init(k: Kernel, entry: Tfm, init_at: int, exit_at: int) -> int:
    """The frontend's last step: the algorithm's own exit (at ``exit_at`` in its struct) becomes the
    transform's exit, replacing cra_exit at destroy; then its init (at ``init_at``), if any, on the tfm."""
    alg = entry.alg.address
    if k.memory.read_u32(alg + exit_at):
        entry.exit = lambda k, e: (gcall(k, k.memory.read_u32(e.alg.address + exit_at), e.mem), None)[1]
    init = k.memory.read_u32(alg + init_at)
    return gcall(k, init, entry.mem) if init else 0


def set_flags(k: Kernel, tfm: int, bits: int) -> None:
    """crypto_tfm_set_flags."""
    k.memory.write_u32(tfm + TFM_FLAGS, k.memory.read_u32(tfm + TFM_FLAGS) | bits)


def clear_flags(k: Kernel, tfm: int, bits: int) -> None:
    """crypto_tfm_clear_flags."""
    k.memory.write_u32(tfm + TFM_FLAGS, k.memory.read_u32(tfm + TFM_FLAGS) & ~bits)


def get_flags(k: Kernel, tfm: int) -> int:
    """crypto_tfm_get_flags."""
    return k.memory.read_u32(tfm + TFM_FLAGS)


def create(k: Kernel, alg: Alg, frontend: Frontend, owner: str | None = None) -> int:
    """crypto_create_tfm_node: a frontend struct for ``alg``; its address, or a negative errno.

    ``owner``: who must free it (default: the calling module, whose unload reports it otherwise).
    """
    extsize = frontend.extsize(k, alg) if frontend.extsize else alg_extsize(k, alg)
    mem = alloc(k, frontend.base + TFM_CTX + extsize, owner)
    if not mem:
        return -F.ENOMEM
    hold(alg)
    entry = Tfm(frontend, alg, mem, owner or owner_of(k))
    tfm = entry.tfm
    k.memory.write_u32(tfm + TFM_REFCNT, 1)
    k.memory.write_u32(tfm + TFM_NODE, 0xFFFFFFFF)  # NUMA_NO_NODE
    k.memory.write_u32(tfm + TFM_ALG, alg.base)
    transforms = k.subsystem(Transforms)
    transforms.live[mem] = entry
    error = frontend.init(k, entry) if frontend.init else 0
    if not error and entry.exit is None:
        cra_init = k.memory.read_u32(alg.base + CRA_INIT)
        if cra_init:
            error = gcall(k, cra_init, tfm)
    if error:
        del transforms.live[mem]
        put(alg)
        free(k, mem)
        return error
    return mem


def destroy(k: Kernel, mem: int) -> None:
    """crypto_destroy_tfm: cra_exit (unless the frontend has its own exit), the exit, then free."""
    if not mem or mem >= 0xFFFFF001:  # IS_ERR_OR_NULL
        return
    entry = k.subsystem(Transforms).live.pop(mem, None)
    if entry is None:
        k.warn(f"crypto_destroy_tfm of {mem:#x}: not a live transform")
        return
    if entry.exit is None:
        cra_exit = k.memory.read_u32(entry.alg.base + CRA_EXIT)
        if cra_exit:
            gcall(k, cra_exit, entry.tfm)
    else:
        entry.exit(k, entry)
    put(entry.alg)
    free(k, mem)


def alloc_tfm(k: Kernel, name: str, frontend: Frontend, type_: int, mask: int, owner: str | None = None) -> int:
    """crypto_alloc_tfm_node: look up (loading, instantiating) and create; the tfm or ERR_PTR."""
    type_, mask = frontend.adjust(type_, mask)
    try:
        alg = lookup(k, name, type_, mask)
    except CryptoLookupError as error:
        return error.errno & 0xFFFFFFFF
    result = create(k, alg, frontend, owner)
    return result & 0xFFFFFFFF


def entry_of(k: Kernel, mem: int, what: str) -> Tfm:
    """The live transform at ``mem``; GuestFault naming the caller if there is none."""
    from sandbox.errors import GuestFault

    entry = k.subsystem(Transforms).live.get(mem)
    if entry is None:
        raise GuestFault("bad-tfm", f"{what}: {mem:#x} is not a live crypto transform", address=mem)
    return entry


# -- legacy transforms: single-block ciphers and compressors ------------------------------
LEGACY = Frontend("base", 0, 0, 0)


@service("struct crypto_tfm *crypto_alloc_base(const char *alg_name, u32 type, u32 mask)")
def crypto_alloc_base(k: Kernel, alg_name: int, type_: int, mask: int) -> int:
    """A transform of a plain algorithm (cipher, compression): __crypto_alloc_tfm after the lookup."""
    name = k.memory.read_cstring(alg_name, F.CRYPTO_MAX_ALG_NAME).decode("utf-8", "replace")
    try:
        alg = lookup(k, name, type_, mask)
    except CryptoLookupError as error:
        return error.errno & 0xFFFFFFFF
    return create(k, alg, LEGACY) & 0xFFFFFFFF


@service("void crypto_destroy_tfm(void *mem, struct crypto_tfm *tfm)")
def crypto_destroy_tfm(k: Kernel, mem: int, tfm: int) -> None:
    """crypto_free_*: the algorithm's exit, then the memory."""
    destroy(k, mem)


@service("int crypto_has_alg(const char *name, u32 type, u32 mask)")
def crypto_has_alg(k: Kernel, name: int, type_: int, mask: int) -> int:
    """1 if ``name`` can be had (registered, loadable or buildable from a template), else 0."""
    text = k.memory.read_cstring(name, F.CRYPTO_MAX_ALG_NAME).decode("utf-8", "replace")
    try:
        lookup(k, text, type_, mask)
    except CryptoLookupError:
        return 0
    return 1


def has_for(k: Kernel, name: int, frontend: Frontend, type_: int, mask: int) -> int:
    """crypto_has_<kind>: crypto_type_has_alg."""
    type_, mask = frontend.adjust(type_, mask)
    return crypto_has_alg(k, name, type_, mask)


@service("int crypto_register_notifier(struct notifier_block *nb)")
def crypto_register_notifier(k: Kernel, nb: int) -> int:
    """Hear of algorithms being registered and loaded (CRYPTO_MSG_ALG_*), by priority."""
    priority = k.memory.read_u32(nb + 8)
    k.subsystem(Crypto).notifiers.append((priority - (1 << 32) if priority >> 31 else priority, nb))
    return 0


@service("int crypto_unregister_notifier(struct notifier_block *nb)")
def crypto_unregister_notifier(k: Kernel, nb: int) -> int:
    """Stop hearing; -ENOENT if ``nb`` was not registered."""
    crypto = k.subsystem(Crypto)
    kept = [(p, n) for p, n in crypto.notifiers if n != nb]
    if len(kept) == len(crypto.notifiers):
        return -F.ENOENT
    crypto.notifiers = kept
    return 0


@service("void crypto_req_done(struct crypto_async_request *req, int err)")
def crypto_req_done(k: Kernel, req: int, err: int) -> None:
    """The completion callback of crypto_wait_req: store the result in the crypto_wait, complete it."""
    from ..completion import complete

    if err == -F.EINPROGRESS:
        return
    wait = k.memory.read_u32(req + 12)  # crypto_async_request.data
    k.memory.write_u32(wait + 16, err & 0xFFFFFFFF)  # crypto_wait.err
    complete(k, wait)


@service("struct crypto_alg *crypto_mod_get(struct crypto_alg *alg)")
def crypto_mod_get(k: Kernel, alg: int) -> int:
    """Hold a registered algorithm; NULL if it is not (or no longer) registered."""
    entry = k.subsystem(Crypto).by_base(alg)
    if entry is None:
        return 0
    hold(entry)
    return alg


@service("void crypto_mod_put(struct crypto_alg *alg)")
def crypto_mod_put(k: Kernel, alg: int) -> None:
    """Release a hold."""
    entry = k.subsystem(Crypto).by_base(alg)
    if entry is not None:
        put(entry)


@service("struct crypto_alg *crypto_alg_mod_lookup(const char *name, u32 type, u32 mask)")
def crypto_alg_mod_lookup(k: Kernel, name: int, type_: int, mask: int) -> int:
    """The algorithm answering ``name`` (loaded or built if need be), held; ERR_PTR(-ENOENT) if none."""
    try:
        alg = lookup(k, k.memory.read_cstring(name, F.CRYPTO_MAX_ALG_NAME).decode("utf-8", "replace"), type_, mask)
    except CryptoLookupError as error:
        return error.errno & 0xFFFFFFFF
    hold(alg)
    return alg.base


# -- request queues (crypto/algapi.c): struct crypto_queue { list 0, backlog 8, qlen 12, max_qlen 16 } ------
LIST_POISON1, LIST_POISON2 = 0x100, 0x122
REQ_MAY_BACKLOG = 0x400


@service("void crypto_init_queue(struct crypto_queue *queue, unsigned int max_qlen)")
def crypto_init_queue(k: Kernel, queue: int, max_qlen: int) -> None:
    """An empty queue of at most ``max_qlen`` requests before the backlog."""
    mem = k.memory
    mem.write_u32(queue, queue)
    mem.write_u32(queue + 4, queue)
    mem.write_u32(queue + 8, queue)
    mem.write_u32(queue + 12, 0)
    mem.write_u32(queue + 16, max_qlen)


def _list_insert(k: Kernel, entry: int, prev: int, nxt: int) -> None:
    mem = k.memory
    mem.write_u32(nxt + 4, entry)
    mem.write_u32(entry, nxt)
    mem.write_u32(entry + 4, prev)
    mem.write_u32(prev, entry)


@service("int crypto_enqueue_request(struct crypto_queue *queue, struct crypto_async_request *request)")
def crypto_enqueue_request(k: Kernel, queue: int, request: int) -> int:
    """Queue a request: -EINPROGRESS; when full, -EBUSY into the backlog if it may, else -ENOSPC."""
    mem = k.memory
    error = -F.EINPROGRESS
    if mem.read_u32(queue + 12) >= mem.read_u32(queue + 16):
        if not mem.read_u32(request + 20) & REQ_MAY_BACKLOG:
            return -F.ENOSPC
        error = -F.EBUSY
        if mem.read_u32(queue + 8) == queue:
            mem.write_u32(queue + 8, request)
    mem.write_u32(queue + 12, mem.read_u32(queue + 12) + 1)
    _list_insert(k, request, mem.read_u32(queue + 4), queue)  # list_add_tail
    return error


@service("void crypto_enqueue_request_head(struct crypto_queue *queue, struct crypto_async_request *request)")
def crypto_enqueue_request_head(k: Kernel, queue: int, request: int) -> None:
    """Put a request back at the head (a retry)."""
    mem = k.memory
    if mem.read_u32(queue + 12) >= mem.read_u32(queue + 16):
        mem.write_u32(queue + 8, mem.read_u32(mem.read_u32(queue + 8) + 4))  # backlog = backlog->prev
    mem.write_u32(queue + 12, mem.read_u32(queue + 12) + 1)
    _list_insert(k, request, queue, mem.read_u32(queue))  # list_add


@service("struct crypto_async_request *crypto_dequeue_request(struct crypto_queue *queue)")
def crypto_dequeue_request(k: Kernel, queue: int) -> int:
    """The oldest request, unlinked (its list pointers poisoned as list_del does); NULL when empty."""
    mem = k.memory
    qlen = mem.read_u32(queue + 12)
    if not qlen:
        return 0
    mem.write_u32(queue + 12, qlen - 1)
    backlog = mem.read_u32(queue + 8)
    if backlog != queue:
        mem.write_u32(queue + 8, mem.read_u32(backlog))  # backlog = backlog->next
    request = mem.read_u32(queue)
    nxt, prev = mem.read_u32(request), mem.read_u32(request + 4)
    mem.write_u32(nxt + 4, prev)
    mem.write_u32(prev, nxt)
    mem.write_u32(request, LIST_POISON1)
    mem.write_u32(request + 4, LIST_POISON2)
    return request


@service("void *crypto_alloc_tfm_node(const char *alg_name, const struct crypto_type *frontend, u32 type, u32 mask, "
         "int node)")
def crypto_alloc_tfm_node(k: Kernel, alg_name: int, frontend: int, type_: int, mask: int, node: int) -> int:
    """A transform by an explicit frontend (one of the crypto_type pointers the grab services hand out)."""
    from .guest import cstring
    from .template import FrontendTypes

    chosen = k.subsystem(FrontendTypes).frontend.get(frontend)
    if chosen is None:
        k.warn(f"crypto_alloc_tfm_node: {frontend:#x} is not a crypto_type this kernel knows")
        return -F.EINVAL & 0xFFFFFFFF
    return alloc_tfm(k, cstring(k, alg_name), chosen, type_, mask)
