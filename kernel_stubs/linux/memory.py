"""The slab and page allocators as Linux 6.1 exports them.

``kmalloc()`` of a constant size is inline in 6.1: it picks a cache from the
exported array ``kmalloc_caches[type][index]`` and calls ``kmalloc_trace``.
The array holds fake cache pointers in a reserved corner of kernel data; the
size travels as an argument, so the cache itself is never looked at.
Allocations reuse the generic kernel's heap with owner tracking, so leaks are
reported at unload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import ZERO_SIZE_PTR, Slab, allocate, release
from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NR_KMALLOC_TYPES = 4  # NORMAL, CGROUP, RECLAIM, DMA
KMALLOC_SHIFT_HIGH = 13  # SLUB: PAGE_SHIFT + 1
KMALLOC_CACHE_BASE = amap.KDATA_BASE + amap.KDATA_SIZE - 0x1000
PAGE_SIZE = 4096

kmalloc_caches = kernel_variable(
    "kmalloc_caches",
    4 * NR_KMALLOC_TYPES * (KMALLOC_SHIFT_HIGH + 1),
    b"".join((KMALLOC_CACHE_BASE + 16 * i).to_bytes(4, "little") for i in range(NR_KMALLOC_TYPES * (KMALLOC_SHIFT_HIGH + 1))),
)
totalram_pages = kernel_variable("_totalram_pages", 4, 65536)


@dataclass(slots=True)
class Cache:
    """A kmem_cache a module created."""

    name: str
    size: int
    ctor: int
    owner: str
    objects: set[int] = field(default_factory=set)


class Caches:
    """Per-kernel kmem_cache records, keyed by the guest address of the cache."""

    def __init__(self) -> None:
        self.caches: dict[int, Cache] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Caches the module created and did not destroy."""
        leaks = []
        for address, cache in list(self.caches.items()):
            if cache.owner == module.name:
                leaks.append(f"kmem_cache {cache.name!r} ({len(cache.objects)} objects) not destroyed")
                del self.caches[address]
                k.memory.free(address)
        return leaks


def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


@service("void *__kmalloc(size_t size, gfp_t flags)")
def __kmalloc(k: Kernel, size: int, flags: int) -> int:
    """kmalloc() of a size not known at compile time."""
    return allocate(k, size)


@service("void *kmalloc_trace(struct kmem_cache *s, gfp_t flags, size_t size)")
def kmalloc_trace(k: Kernel, s: int, flags: int, size: int) -> int:
    """kmalloc() of a constant size (the cache comes from kmalloc_caches)."""
    return allocate(k, size)


@service("void *kmalloc_node_trace(struct kmem_cache *s, gfp_t flags, int node, size_t size)")
def kmalloc_node_trace(k: Kernel, s: int, flags: int, node: int, size: int) -> int:
    """kmalloc_node() of a constant size."""
    return allocate(k, size)


@service("void *__kmalloc_node(size_t size, gfp_t flags, int node)")
def __kmalloc_node(k: Kernel, size: int, flags: int, node: int) -> int:
    """kmalloc_node()."""
    return allocate(k, size)


@service("void *kmalloc_large(size_t size, gfp_t flags)")
def kmalloc_large(k: Kernel, size: int, flags: int) -> int:
    """kmalloc() above the largest cache."""
    return allocate(k, size)


@service("void *kmalloc_large_node(size_t size, gfp_t flags, int node)")
def kmalloc_large_node(k: Kernel, size: int, flags: int, node: int) -> int:
    """kmalloc_node() above the largest cache."""
    return allocate(k, size)


@service("void kfree(const void *p)")
def kfree(k: Kernel, p: int) -> None:
    """Free a kmalloc'd block."""
    release(k, p)


@service("void kfree_sensitive(const void *p)")
def kfree_sensitive(k: Kernel, p: int) -> None:
    """Zero, then free."""
    block = k.subsystem(Slab).live.get(p)
    if block is not None:
        k.memory.write(p, bytes(block.size))
    release(k, p)


@service("void *krealloc(const void *p, size_t new_size, gfp_t flags)")
def krealloc(k: Kernel, p: int, new_size: int, flags: int) -> int:
    """Resize a block keeping its contents."""
    from kernel_stubs.memory import krealloc as generic

    return generic(k, p, new_size, flags)


@service("size_t __ksize(const void *p)")
def __ksize(k: Kernel, p: int) -> int:
    """Usable size of a block."""
    block = k.subsystem(Slab).live.get(p)
    return block.size if block is not None else 0


@service("void *kvmalloc_node(size_t size, gfp_t flags, int node)")
def kvmalloc_node(k: Kernel, size: int, flags: int, node: int) -> int:
    """kvmalloc(): kmalloc, or vmalloc for big sizes (one heap here)."""
    return allocate(k, size)


@service("void kvfree(const void *p)")
def kvfree(k: Kernel, p: int) -> None:
    """Free a kvmalloc'd (or vmalloc'd) block."""
    k.subsystem(VmallocAreas).areas.pop(p, None)
    release(k, p)


class VmallocAreas:
    """The blocks vmalloc handed out (start -> size): what is_vmalloc_addr() answers from."""

    def __init__(self) -> None:
        self.areas: dict[int, int] = {}

    def clone(self) -> VmallocAreas:
        twin = VmallocAreas()
        twin.areas = dict(self.areas)
        return twin


def _vmalloc(k: Kernel, size: int) -> int:
    address = allocate(k, size)
    if address:
        k.subsystem(VmallocAreas).areas[address] = size
    return address


@service("void *vmalloc(unsigned long size)")
def vmalloc(k: Kernel, size: int) -> int:
    """Virtually contiguous allocation."""
    return _vmalloc(k, size)


@service("void *vzalloc(unsigned long size)")
def vzalloc(k: Kernel, size: int) -> int:
    """Zeroed vmalloc."""
    return _vmalloc(k, size)


@service("void vfree(const void *p)")
def vfree(k: Kernel, p: int) -> None:
    """Free a vmalloc'd block."""
    k.subsystem(VmallocAreas).areas.pop(p, None)
    release(k, p)


@service("bool is_vmalloc_addr(const void *x)")
def is_vmalloc_addr(k: Kernel, x: int) -> int:
    """Whether ``x`` is vmalloc space: a live block vmalloc/vzalloc returned (kvmalloc'd memory is kmalloc's
    here), or module memory (on i386 modules live in the vmalloc area)."""
    from .pages import is_module_space

    if is_module_space(x):
        return 1
    areas = k.subsystem(VmallocAreas).areas
    for start, length in list(areas.items()):
        if start <= x < start + max(length, 1):
            if k.memory.heap.describe(start) is None:  # freed with the module that leaked it
                del areas[start]
                return 0
            return 1
    return 0


@service("void *kmemdup(const void *src, size_t len, gfp_t gfp)")
def kmemdup(k: Kernel, src: int, length: int, gfp: int) -> int:
    """Copy a buffer into a new block."""
    data = k.memory.read(src, length)
    address = allocate(k, length)
    if address and address != ZERO_SIZE_PTR:
        k.memory.write(address, data)
    return address


@service("char *kstrdup(const char *s, gfp_t gfp)")
def kstrdup(k: Kernel, s: int, gfp: int) -> int:
    """Copy a string into a new block."""
    if s == 0:
        return 0
    data = k.memory.read_cstring(s) + b"\0"
    address = allocate(k, len(data))
    if address:
        k.memory.write(address, data)
    return address


@service("unsigned long __get_free_pages(gfp_t gfp, unsigned int order)")
def __get_free_pages(k: Kernel, gfp: int, order: int) -> int:
    """2^order pages (page aligned)."""
    return allocate(k, PAGE_SIZE << order)


@service("unsigned long get_zeroed_page(gfp_t gfp)")
def get_zeroed_page(k: Kernel, gfp: int) -> int:
    """One zeroed page."""
    return allocate(k, PAGE_SIZE)


@service("void free_pages(unsigned long addr, unsigned int order)")
def free_pages(k: Kernel, addr: int, order: int) -> None:
    """Free what __get_free_pages returned."""
    release(k, addr)


# -- kmem_cache ----------------------------------------------------------------
@service("struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align, unsigned int flags, void *ctor)")
def kmem_cache_create(k: Kernel, name: int, size: int, align: int, flags: int, ctor: int) -> int:
    """A cache of fixed-size objects; the returned handle is a small heap block."""
    handle = k.memory.alloc(64)
    if not handle:
        return 0
    text = k.memory.read_cstring(name).decode("utf-8", "replace") if name else "?"
    k.subsystem(Caches).caches[handle] = Cache(text, size, ctor, _owner(k))
    return handle


@service("struct kmem_cache *kmem_cache_create_usercopy(const char *name, unsigned int size, unsigned int align, "
         "unsigned int flags, unsigned int useroffset, unsigned int usersize, void *ctor)")
def kmem_cache_create_usercopy(k: Kernel, name: int, size: int, align: int, flags: int, useroffset: int, usersize: int,
                               ctor: int) -> int:
    """kmem_cache_create with a usercopy window (ignored)."""
    return kmem_cache_create(k, name, size, align, flags, ctor)


def _cache(k: Kernel, s: int) -> Cache:
    cache = k.subsystem(Caches).caches.get(s)
    if cache is None:
        raise GuestFault("invalid-cache", f"kmem_cache {s:#x} at {k.symbolizer.short(k.current_caller)} is not a cache",
                         pc=k.current_caller, address=s)
    return cache


@service("void *kmem_cache_alloc(struct kmem_cache *s, gfp_t flags)")
def kmem_cache_alloc(k: Kernel, s: int, flags: int) -> int:
    """One object; the constructor runs on it."""
    if KMALLOC_CACHE_BASE <= s < KMALLOC_CACHE_BASE + 0x1000:
        index = (s - KMALLOC_CACHE_BASE) // 16 % (KMALLOC_SHIFT_HIGH + 1)
        return allocate(k, max(8, 1 << index))
    cache = _cache(k, s)
    address = allocate(k, cache.size)
    if address:
        cache.objects.add(address)
        if cache.ctor:
            k.call_function_pointer(cache.ctor, address)
    return address


@service("void *kmem_cache_alloc_lru(struct kmem_cache *s, struct list_lru *lru, gfp_t flags)")
def kmem_cache_alloc_lru(k: Kernel, s: int, lru: int, flags: int) -> int:
    """kmem_cache_alloc with an LRU (ignored)."""
    return kmem_cache_alloc(k, s, flags)


@service("void *kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node)")
def kmem_cache_alloc_node(k: Kernel, s: int, flags: int, node: int) -> int:
    """kmem_cache_alloc on a node."""
    return kmem_cache_alloc(k, s, flags)


@service("void kmem_cache_free(struct kmem_cache *s, void *p)")
def kmem_cache_free(k: Kernel, s: int, p: int) -> None:
    """Return an object to its cache."""
    cache = k.subsystem(Caches).caches.get(s)
    if cache is not None:
        cache.objects.discard(p)
    release(k, p)


@service("void kmem_cache_destroy(struct kmem_cache *s)")
def kmem_cache_destroy(k: Kernel, s: int) -> None:
    """Destroy a cache; objects still allocated are a bug Linux reports."""
    if s == 0:
        return
    cache = _cache(k, s)
    if cache.objects:
        k.console_write(f"kmem_cache_destroy {cache.name}: Slab cache still has objects\n", 3)
    del k.subsystem(Caches).caches[s]
    k.memory.free(s)
