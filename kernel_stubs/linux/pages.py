"""Page frames as Linux 6.1 i386 (FLATMEM, HIGHMEM4G) shows them: ``mem_map``, ``struct page``, lowmem.

Physical addresses are what i386 Linux's linear map gives: lowmem, the
kernel addresses from PAGE_OFFSET (0xC0000000) up to 896 MiB above it, has
``phys = virt - PAGE_OFFSET`` (``__pa``/``__va``); the heap (0xE0000000-)
and the stacks are lowmem in that sense. Module memory is vmalloc space on
Linux (``is_vmalloc_addr`` says so here too): its virtual addresses are not
linear, so ``virt_to_page`` of it is a driver bug, reported.

``mem_map`` is the exported array of ``struct page`` (40 bytes each, from
the DWARF table) indexed by page frame number; drivers compute
``page_to_pfn(page) = page - mem_map`` and ``virt_to_page(x) = mem_map +
(__pa(x) >> PAGE_SHIFT)`` inline. The array lives at PAGE_ARRAY_BASE and
is mapped a piece at a time, when a service first hands out a page of that
piece (a page allocation, ``sg_init_one``, a DMA mapping), so untouched
frames cost no memory and snapshots stay small. Page allocations here are
page aligned (``alloc_pages_exact``, ``__alloc_pages``) and their struct
pages carry a reference count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.machine.memory import R, W
from sandbox.services import kernel_variable, service

from .layout import size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

PAGE_OFFSET = 0xC0000000
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_STRUCT_SIZE = size("page")  # 40
LOWMEM_PFNS = (amap.LOWMEM_END - PAGE_OFFSET) >> PAGE_SHIFT
# The array is mapped in pieces of this many bytes (page multiples: 40 pages of structs = 4096 frames).
PIECE_BYTES = PAGE_STRUCT_SIZE * PAGE_SIZE
REFCOUNT = 28  # struct page._refcount
MAX_ORDER = 11

mem_map = kernel_variable("mem_map", 4, amap.PAGE_ARRAY_BASE)


def is_lowmem(virtual: int) -> bool:
    """Whether ``virtual`` is in the linear map (``virt_addr_valid`` for mapped memory)."""
    return PAGE_OFFSET <= virtual < amap.LOWMEM_END


def virt_to_phys(virtual: int) -> int:
    """``__pa()``: the physical address of a lowmem address."""
    return virtual - PAGE_OFFSET


def phys_to_virt(physical: int) -> int:
    """``__va()``: the lowmem address of a physical one."""
    return physical + PAGE_OFFSET


def is_module_space(virtual: int) -> bool:
    """Module memory: Linux's vmalloc/module area, not linearly mapped."""
    return amap.MODULE_AREA_BASE <= virtual < amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE


@dataclass(slots=True)
class PageBlock:
    """Pages the page allocator handed out: the heap block behind them."""

    block: int
    size: int
    owner: str
    order: int = -1  # __alloc_pages' order; -1 for alloc_pages_exact


@dataclass
class Pages:
    """The page allocator's blocks (by their page-aligned address)."""

    blocks: dict[int, PageBlock] = field(default_factory=dict)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Pages a module allocated and did not free."""
        leaks = []
        for address, entry in list(self.blocks.items()):
            if entry.owner == module.name:
                leaks.append(f"{entry.size // PAGE_SIZE} page(s) at {address:#x} not freed")
                del self.blocks[address]
                release(k, entry.block)
        return leaks


def ensure_page_structs(k: Kernel, first_pfn: int, count: int = 1) -> None:
    """Map the pieces of the struct page array that describe frames [first_pfn, first_pfn+count)."""
    start = amap.PAGE_ARRAY_BASE + first_pfn * PAGE_STRUCT_SIZE
    end = amap.PAGE_ARRAY_BASE + (first_pfn + count) * PAGE_STRUCT_SIZE
    piece = (start - amap.PAGE_ARRAY_BASE) // PIECE_BYTES
    while amap.PAGE_ARRAY_BASE + piece * PIECE_BYTES < end:
        base = amap.PAGE_ARRAY_BASE + piece * PIECE_BYTES
        if k.memory.region_at(base) is None:
            k.memory.map(base, PIECE_BYTES, R | W, f"struct page array (mem_map) for frames {piece * PAGE_SIZE:#x}-")
        piece += 1


def page_of_pfn(k: Kernel, pfn: int) -> int:
    """``pfn_to_page()``: the struct page of frame ``pfn`` (its piece of the array mapped)."""
    ensure_page_structs(k, pfn)
    return amap.PAGE_ARRAY_BASE + pfn * PAGE_STRUCT_SIZE


def pfn_of_page(k: Kernel, page: int) -> int:
    """``page_to_pfn()``; a pointer that is not a struct page of lowmem is a driver bug (GuestFault)."""
    index, rest = divmod(page - amap.PAGE_ARRAY_BASE, PAGE_STRUCT_SIZE)
    if rest or not 0 <= index < LOWMEM_PFNS:
        raise GuestFault("bad-page", f"{page:#x} from {k.symbolizer.short(k.current_caller)} is not a struct page "
                         f"(mem_map is {amap.PAGE_ARRAY_BASE:#x}, {PAGE_STRUCT_SIZE} bytes each)",
                         pc=k.current_caller, address=page)
    return index


def page_to_virt(k: Kernel, page: int) -> int:
    """``page_address()`` of a lowmem page."""
    return phys_to_virt(pfn_of_page(k, page) << PAGE_SHIFT)


def virt_to_page(k: Kernel, virtual: int, what: str = "virt_to_page") -> int:
    """``virt_to_page()``: the struct page of a lowmem address. Module (vmalloc) memory and
    addresses outside the linear map are reported as the driver bug they are on Linux."""
    if is_module_space(virtual):
        k.warn(f"{what} of {virtual:#x} from {k.symbolizer.short(k.current_caller)}: module (vmalloc) memory "
               "is not in the linear map; its struct page is not virt_to_page() (use vmalloc_to_page)")
    elif not is_lowmem(virtual):
        raise GuestFault("bad-page", f"{what} of {virtual:#x} from {k.symbolizer.short(k.current_caller)}: "
                         "not a lowmem (linearly mapped) address", pc=k.current_caller, address=virtual)
    return page_of_pfn(k, virt_to_phys(virtual) >> PAGE_SHIFT)


def allocate_pages(k: Kernel, nbytes: int, owner: str | None = None, order: int = -1, align: int = PAGE_SIZE) -> int:
    """Zeroed memory of ``nbytes`` (a page multiple) aligned to ``align`` (a power of two, at least a
    page), with struct pages holding one reference."""
    block = allocate(k, nbytes + align, owner=owner)
    if not block:
        return 0
    address = (block + align - 1) & ~(align - 1)
    module = k.caller_module()
    k.subsystem(Pages).blocks[address] = PageBlock(block, nbytes, owner or (module.name if module else "kernel"), order)
    first = virt_to_phys(address) >> PAGE_SHIFT
    ensure_page_structs(k, first, nbytes // PAGE_SIZE)
    for pfn in range(first, first + nbytes // PAGE_SIZE):
        k.memory.write_u32(amap.PAGE_ARRAY_BASE + pfn * PAGE_STRUCT_SIZE + REFCOUNT, 1)
    return address


def order_alignment(nbytes: int) -> int:
    """The alignment Linux gives a buffer of ``nbytes`` from the page allocator: its power-of-two page order."""
    size_ = PAGE_SIZE
    while size_ < nbytes:
        size_ <<= 1
    return size_


def free_page_block(k: Kernel, address: int, what: str) -> bool:
    """Give back what :func:`allocate_pages` returned; False (and a warning) for anything else."""
    entry = k.subsystem(Pages).blocks.pop(address, None)
    if entry is None:
        k.warn(f"{what} of {address:#x} from {k.symbolizer.short(k.current_caller)}: not pages the page allocator gave")
        return False
    first = virt_to_phys(address) >> PAGE_SHIFT
    for pfn in range(first, first + entry.size // PAGE_SIZE):
        k.memory.write_u32(amap.PAGE_ARRAY_BASE + pfn * PAGE_STRUCT_SIZE + REFCOUNT, 0)
    release(k, entry.block)
    return True


# -- services ---------------------------------------------------------------------------------

@service("void *page_address(const struct page *page)")
def page_address(k: Kernel, page: int) -> int:
    """The kernel address of a page (every page is lowmem here, so always mapped)."""
    return page_to_virt(k, page)


@service("bool is_vmalloc_addr(const void *x)")
def is_vmalloc_addr(k: Kernel, x: int) -> int:
    """Whether ``x`` is in vmalloc space: the module area here (vmalloc() itself gives lowmem heap)."""
    return int(is_module_space(x))


@service("void *alloc_pages_exact(size_t size, gfp_t gfp_mask)")
def alloc_pages_exact(k: Kernel, size_: int, gfp: int) -> int:
    """``size`` bytes rounded up to whole pages, page aligned and zeroed; NULL when too large."""
    nbytes = (size_ + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if not nbytes or nbytes > PAGE_SIZE << (MAX_ORDER - 1):
        return 0
    return allocate_pages(k, nbytes)


@service("void free_pages_exact(void *virt, size_t size)")
def free_pages_exact(k: Kernel, virt: int, size_: int) -> None:
    """Free what alloc_pages_exact returned."""
    if virt:
        free_page_block(k, virt, "free_pages_exact")


@service("struct page *__alloc_pages(gfp_t gfp, unsigned int order, int preferred_nid, nodemask_t *nodemask)")
def __alloc_pages(k: Kernel, gfp: int, order: int, nid: int, nodemask: int) -> int:
    """2^order contiguous pages (alloc_pages() inlines to this); their first struct page, or NULL."""
    if order >= MAX_ORDER:
        k.warn(f"__alloc_pages order {order} from {k.symbolizer.short(k.current_caller)}: above MAX_ORDER")
        return 0
    address = allocate_pages(k, PAGE_SIZE << order, order=order)
    return page_of_pfn(k, virt_to_phys(address) >> PAGE_SHIFT) if address else 0


@service("void __free_pages(struct page *page, unsigned int order)")
def __free_pages(k: Kernel, page: int, order: int) -> None:
    """Free pages from __alloc_pages (a struct page with references left is only released)."""
    if not page:
        return
    address = page_to_virt(k, page)
    count = k.memory.read_u32(page + REFCOUNT)
    if count > 1:  # put_page_testzero(): somebody else still holds the page
        k.memory.write_u32(page + REFCOUNT, count - 1)
        return
    free_page_block(k, address, "__free_pages")


@service("void *__kmap_local_page_prot(struct page *page, pgprot_t prot)")
def __kmap_local_page_prot(k: Kernel, page: int, prot: int) -> int:
    """kmap_local_page(): a lowmem page is already mapped, so its address (every page here is lowmem)."""
    return page_to_virt(k, page)


@service("void kunmap_local_indexed(const void *vaddr)")
def kunmap_local_indexed(k: Kernel, vaddr: int) -> None:
    """kunmap_local() of a lowmem address: nothing was mapped, nothing to undo."""
