"""mm/mempool.c and the per-CPU allocator as Linux 6.1 exports them (one CPU).

A ``mempool_t`` (``struct mempool_s``, generated layout) keeps ``min_nr``
elements in reserve, made at creation with the pool's own ``alloc``
callback; ``mempool_alloc`` tries the callback first and falls back on the
reserve, ``mempool_free`` refills the reserve before freeing through the
``free`` callback — Linux's order, so a module's callbacks see the same
calls. The stock callbacks (``mempool_alloc_slab``, ``mempool_kmalloc``...)
are services. A pool with an empty reserve whose callback fails sleeps
until an element is freed, as with __GFP_DIRECT_RECLAIM; without it, NULL.

Per-CPU memory: ``__per_cpu_offset[0]`` is 0 and ``%fs`` is flat, so a
per-CPU pointer is the address of CPU 0's copy: ``__alloc_percpu`` is a
zeroed, aligned allocation and ``per_cpu_ptr`` needs nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

from .layout import Fields, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

__GFP_IO, __GFP_DIRECT_RECLAIM, __GFP_NOWARN, __GFP_NORETRY, __GFP_NOMEMALLOC = 0x40, 0x400, 0x2000, 0x10000, 0x80000
MAX_RESERVE = 1 << 16


# -- per-CPU ----------------------------------------------------------------------------------
def _percpu(k: Kernel, length: int, align: int) -> int:
    if not length or length > (1 << 20):
        return 0
    address = allocate(k, length)
    if address:
        k.memory.write(address, bytes(length))
    return address


@service("void *__alloc_percpu(size_t size, size_t align)")
def __alloc_percpu(k: Kernel, length: int, align: int) -> int:
    """Zeroed per-CPU memory (CPU 0's copy is the pointer itself); NULL for 0 or huge sizes."""
    return _percpu(k, length, align)


@service("void *__alloc_percpu_gfp(size_t size, size_t align, gfp_t gfp)")
def __alloc_percpu_gfp(k: Kernel, length: int, align: int, gfp: int) -> int:
    """__alloc_percpu() with allocation flags."""
    return _percpu(k, length, align)


@service("void free_percpu(void *ptr)")
def free_percpu(k: Kernel, ptr: int) -> None:
    """Free per-CPU memory (NULL is ignored)."""
    if ptr:
        release(k, ptr)


# -- mempools -----------------------------------------------------------------------------------
def _pool(k: Kernel, pool: int) -> Fields:
    return Fields(k.memory, "mempool_s", pool)


def _call_alloc(k: Kernel, p: Fields, gfp: int) -> int:
    return k.call_function_pointer(p["alloc"], gfp, p["pool_data"])


def _call_free(k: Kernel, p: Fields, element: int) -> None:
    k.call_function_pointer(p["free"], element, p["pool_data"])


@service("int mempool_init(mempool_t *pool, int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn, "
         "void *pool_data)")
def mempool_init(k: Kernel, pool: int, min_nr: int, alloc_fn: int, free_fn: int, pool_data: int) -> int:
    """Set up ``pool`` with ``min_nr`` elements in reserve: 0, or -ENOMEM (the pool torn down)."""
    from .waits import __init_waitqueue_head

    k.memory.write(pool, bytes(size("mempool_s")))
    p = _pool(k, pool)
    p["min_nr"], p["alloc"], p["free"], p["pool_data"] = min_nr, alloc_fn, free_fn, pool_data
    __init_waitqueue_head(k, p.address_of("wait"), 0, 0)
    if min_nr < 0 or min_nr > MAX_RESERVE:
        return -22
    elements = allocate(k, 4 * max(min_nr, 1))
    if not elements:
        return -12
    p["elements"] = elements
    for _ in range(min_nr):
        element = _call_alloc(k, p, 0xCC0)  # GFP_KERNEL
        if not element:
            mempool_exit(k, pool)
            return -12
        k.memory.write_u32(elements + 4 * p["curr_nr"], element)
        p["curr_nr"] = p["curr_nr"] + 1
    return 0


@service("void mempool_exit(mempool_t *pool)")
def mempool_exit(k: Kernel, pool: int) -> None:
    """Free the reserved elements (through the pool's free callback) and the reserve array."""
    p = _pool(k, pool)
    while p["curr_nr"]:
        p["curr_nr"] = p["curr_nr"] - 1
        _call_free(k, p, k.memory.read_u32(p["elements"] + 4 * p["curr_nr"]))
    if p["elements"]:
        release(k, p["elements"])
        p["elements"] = 0


@service("mempool_t *mempool_create(int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn, "
         "void *pool_data)")
def mempool_create(k: Kernel, min_nr: int, alloc_fn: int, free_fn: int, pool_data: int) -> int:
    """A new pool (mempool_init on a kzalloc'd mempool_t), or NULL."""
    pool = allocate(k, size("mempool_s"))
    if not pool:
        return 0
    if mempool_init(k, pool, min_nr, alloc_fn, free_fn, pool_data):
        release(k, pool)
        return 0
    return pool


@service("mempool_t *mempool_create_node(int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn, "
         "void *pool_data, gfp_t gfp_mask, int node_id)")
def mempool_create_node(k: Kernel, min_nr: int, alloc_fn: int, free_fn: int, pool_data: int, gfp_mask: int,
                        node_id: int) -> int:
    """mempool_create() (one NUMA node)."""
    return mempool_create(k, min_nr, alloc_fn, free_fn, pool_data)


@service("void mempool_destroy(mempool_t *pool)")
def mempool_destroy(k: Kernel, pool: int) -> None:
    """mempool_exit() and free the pool (NULL is ignored)."""
    if pool:
        mempool_exit(k, pool)
        release(k, pool)


def _take(k: Kernel, p: Fields) -> int:
    p["curr_nr"] = p["curr_nr"] - 1
    return k.memory.read_u32(p["elements"] + 4 * p["curr_nr"])


@service("void *mempool_alloc(mempool_t *pool, gfp_t gfp_mask)")
def mempool_alloc(k: Kernel, pool: int, gfp_mask: int) -> int:
    """An element from the allocator, else from the reserve; with an empty reserve NULL, or (if the
    caller may sleep) a sleep until mempool_free gives one back."""
    from .waits import sleep_until, waiter

    p = _pool(k, pool)
    gfp_mask |= __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN
    # first without reclaim or I/O, then (if the caller may sleep) with the caller's full mask
    for gfp in (gfp_mask & ~(__GFP_DIRECT_RECLAIM | __GFP_IO), gfp_mask):
        element = _call_alloc(k, p, gfp)
        if element:
            return element
        if p["curr_nr"]:
            return _take(k, p)
        if not gfp_mask & __GFP_DIRECT_RECLAIM:
            return 0
    return sleep_until(k, lambda: p["curr_nr"] > 0, None,
                       lambda: f"mempool_alloc({k.symbolizer.short(pool)}) from {waiter(k)} (reserve empty)",
                       then=lambda _: _take(k, p))


@service("void mempool_free(void *element, mempool_t *pool)")
def mempool_free(k: Kernel, element: int, pool: int) -> None:
    """Refill the reserve if it is short, else free through the pool's callback (NULL is ignored)."""
    if not element:
        return
    p = _pool(k, pool)
    if p["curr_nr"] < p["min_nr"]:
        k.memory.write_u32(p["elements"] + 4 * p["curr_nr"], element)
        p["curr_nr"] = p["curr_nr"] + 1
        from .waits import __wake_up

        __wake_up(k, p.address_of("wait"), 3, 1, 0)
        return
    _call_free(k, p, element)


@service("void *mempool_alloc_slab(gfp_t gfp_mask, void *pool_data)")
def mempool_alloc_slab(k: Kernel, gfp_mask: int, pool_data: int) -> int:
    """The stock callback for a kmem_cache pool: kmem_cache_alloc(pool_data)."""
    from .memory import kmem_cache_alloc

    return kmem_cache_alloc(k, pool_data, gfp_mask)


@service("void mempool_free_slab(void *element, void *pool_data)")
def mempool_free_slab(k: Kernel, element: int, pool_data: int) -> None:
    """kmem_cache_free(pool_data, element)."""
    from .memory import kmem_cache_free

    kmem_cache_free(k, pool_data, element)


@service("void *mempool_kmalloc(gfp_t gfp_mask, void *pool_data)")
def mempool_kmalloc(k: Kernel, gfp_mask: int, pool_data: int) -> int:
    """The stock callback for a kmalloc pool: kmalloc(pool_data bytes)."""
    return allocate(k, pool_data)


@service("void mempool_kfree(void *element, void *pool_data)")
def mempool_kfree(k: Kernel, element: int, pool_data: int) -> None:
    """kfree(element)."""
    release(k, element)
