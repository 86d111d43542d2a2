"""Streaming DMA (kernel/dma/mapping.c, direct mapping) as Linux 6.1 i386 does it, and device models' DMA.

With no IOMMU and no bounce buffering (swiotlb stays off on a 32-bit PC),
a streaming mapping is the direct map: the bus address of a page is its
physical address (``page_to_phys + offset``), provided the device can reach
it — ``dma_capable()``: the last byte at or below ``min_not_zero(*dev->dma_mask,
dev->bus_dma_limit)``. A mapping the device cannot reach fails as Linux's
does: ``dev_WARN_ONCE`` "DMA addr ... overflow" and ``DMA_MAPPING_ERROR``
(which the inline ``dma_mapping_error()`` tests); a device without a
``dma_mask`` gets the WARN and the error too. ``dma_map_sg_attrs`` maps each
entry (``sg->dma_address``/``dma_length``) and returns how many, 0 on
failure; ``dma_sync_*`` have nothing to do on x86 (DMA is cache-coherent),
but a sync or unmap of something never mapped is reported, as
CONFIG_DMA_API_DEBUG would.

Every mapping is recorded in the :class:`~kernel_stubs.linux.pci.Dma` table
beside the coherent buffers, and the device models' DMA is checked
against it: :func:`bind_model` gives a model the bus->guest offset
(PAGE_OFFSET) and a check that reports — as a kernel warning and to the
model, which raises :class:`~sandbox.devices.pci.DmaError` — any access to
memory the driver never mapped nor allocated coherent. Models of PCI
functions and of platform devices (``k.platform.add(..., model=)``) are
found from their ``struct device``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.errors import GuestFault, SandboxError
from sandbox.services import kernel_variable, service

from .layout import Fields, offset, size
from .pages import PAGE_SHIFT, PAGE_SIZE, page_of_pfn, pfn_of_page, phys_to_virt
from .pci import PAGE_OFFSET, PDEV_DEV, Dma, DmaRange, PciCore

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

DMA_MAPPING_ERROR = 0xFFFFFFFF  # (dma_addr_t)~0; dma_addr_t is 32 bits on 686 (no PAE)
DMA_BIDIRECTIONAL, DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_NONE = 0, 1, 2, 3
DIRECTIONS = {0: "DMA_BIDIRECTIONAL", 1: "DMA_TO_DEVICE", 2: "DMA_FROM_DEVICE", 3: "DMA_NONE"}
SIZE_MAX = 0xFFFFFFFF
SG_CHAIN, SG_END = 0x01, 0x02
SG_SIZE = 20
SG_PAGE_LINK, SG_OFFSET, SG_LENGTH = offset("scatterlist", "page_link"), offset("scatterlist", "offset"), offset("scatterlist", "length")
SG_DMA_ADDRESS, SG_DMA_LENGTH = offset("scatterlist", "dma_address"), offset("scatterlist", "dma_length")
MAX_SG_ENTRIES = 1 << 16


# -- which model a struct device stands for ------------------------------------------------------

def model_of(k: Kernel, dev: int) -> Any | None:
    """The device model behind ``struct device *dev``: a PCI function, or a platform device's model."""
    for record in k.subsystem(PciCore).devices.values():
        if record.pdev + PDEV_DEV == dev:
            return record.function
    try:
        from .platform_bus import PlatformCore

        platform = k.subsystem(PlatformCore)
        record = next((d for d in platform.devices.values() if d.dev == dev), None)
        if record is None or record.spec is None:
            return None
        spec = next((s for s in k.kernel.platform.specs if s.device_name == record.spec), None)  # type: ignore[attr-defined]
    except (SandboxError, AttributeError, ImportError):
        return None
    return spec.model if spec is not None else None


def bind_model(k: Kernel, dev: int) -> None:
    """Give the model behind ``dev`` the bus->guest offset and the DMA check (once)."""
    model = model_of(k, dev)
    if model is None or getattr(model, "dma_check", 1) is not None or not hasattr(model, "dma_offset"):
        return
    model.dma_offset = PAGE_OFFSET
    name = getattr(model, "name", "device")

    def check(bus: int, size: int) -> str | None:
        # Looked up at each access, so a restored snapshot's mappings are the ones checked.
        why = k.subsystem(Dma).check(bus, size)
        if why is not None:
            k.warn(f"DMA by {name} of {size} bytes at bus address {bus:#x}: {why}")
        return why

    model.dma_check = check


# -- mappings ----------------------------------------------------------------------------------

def _owner(k: Kernel) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def _dev_name(k: Kernel, dev: int) -> str:
    name = Fields(k.memory, "device", dev)["kobj.name"] if dev else 0
    return k.memory.read_cstring(name, 64).decode("utf-8", "replace") if name else f"device {dev:#x}"


def _limit(k: Kernel, dev: int) -> int | None:
    """min_not_zero(*dev->dma_mask, dev->bus_dma_limit), or None without a dma_mask."""
    fields = Fields(k.memory, "device", dev)
    pointer = fields["dma_mask"]
    if not pointer:
        return None
    mask = int.from_bytes(k.memory.read(pointer, 8), "little")
    limit = fields["bus_dma_limit"]
    return min(mask, limit) if mask and limit else (mask or limit)


def _warn_once(k: Kernel, dev: int, key: str, text: str) -> None:
    dma = k.subsystem(Dma)
    warned = getattr(dma, "warned", None)
    if warned is None:
        warned = dma.warned = set()  # type: ignore[attr-defined]
    if (dev, key) in warned:
        return
    warned.add((dev, key))
    k.console_write(f"WARNING: {text}\n", 4)
    k.warn(text)


def _check_direction(k: Kernel, direction: int, what: str) -> None:
    if direction not in (DMA_BIDIRECTIONAL, DMA_TO_DEVICE, DMA_FROM_DEVICE):
        raise GuestFault("bug", f"kernel BUG in {what}: {DIRECTIONS.get(direction, direction)} is not a valid "
                         f"direction (from {k.symbolizer.short(k.current_caller)})", pc=k.current_caller)


def map_range(k: Kernel, dev: int, phys: int, size_: int, direction: int, what: str) -> int:
    """dma_direct_map_page(): the bus address of [phys, phys+size) for ``dev``, or DMA_MAPPING_ERROR."""
    _check_direction(k, direction, what)
    limit = _limit(k, dev) if dev else None
    if limit is None:
        _warn_once(k, dev, "no mask", f"{what} for {_dev_name(k, dev) if dev else 'a NULL device'} at "
                   f"{k.symbolizer.short(k.current_caller)}: the device has no dma_mask")
        return DMA_MAPPING_ERROR
    end = phys + max(size_, 1) - 1
    if end > limit:
        _warn_once(k, dev, "overflow", f"{_dev_name(k, dev)}: DMA addr {phys:#010x}+{size_} overflow "
                   f"(mask {limit:x}, bus limit {Fields(k.memory, 'device', dev)['bus_dma_limit']:x})")
        return DMA_MAPPING_ERROR
    bind_model(k, dev)
    k.subsystem(Dma).ranges.append(DmaRange(phys, size_, phys_to_virt(phys), dev, "streaming",
                                            direction=direction, owner=_owner(k)))
    return phys


def unmap_range(k: Kernel, dev: int, bus: int, size_: int, direction: int, what: str) -> None:
    """Forget a streaming mapping; one never made is reported (DMA-API debug's complaint)."""
    dma = k.subsystem(Dma)
    for r in dma.ranges:
        if r.kind == "streaming" and r.bus == bus and r.device == dev:
            if r.size != size_ or r.direction != direction:
                k.warn(f"{what} of {bus:#x} for {_dev_name(k, dev)}: mapped as {r.size} bytes "
                       f"{DIRECTIONS[r.direction]}, unmapped as {size_} bytes {DIRECTIONS.get(direction, direction)}")
            dma.ranges.remove(r)
            return
    k.warn(f"{what} of bus address {bus:#x} ({size_} bytes) for {_dev_name(k, dev)} at "
           f"{k.symbolizer.short(k.current_caller)}: the device has no such mapping")


def _check_mapped(k: Kernel, dev: int, bus: int, size_: int, what: str) -> None:
    for r in k.subsystem(Dma).ranges:
        if r.kind == "streaming" and r.device == dev and r.bus <= bus and bus + size_ <= r.bus + r.size:
            return
    k.warn(f"{what} of bus address {bus:#x} ({size_} bytes) for {_dev_name(k, dev)} at "
           f"{k.symbolizer.short(k.current_caller)}: not inside a streaming mapping of the device")


@service("dma_addr_t dma_map_page_attrs(struct device *dev, struct page *page, size_t offset, size_t size, "
         "enum dma_data_direction dir, unsigned long attrs)")
def dma_map_page_attrs(k: Kernel, dev: int, page: int, offset_: int, size_: int, direction: int, attrs: int) -> int:
    """Map ``size`` bytes at ``offset`` into ``page`` for the device: its bus address, or DMA_MAPPING_ERROR."""
    phys = (pfn_of_page(k, page) << PAGE_SHIFT) + offset_
    return map_range(k, dev, phys, size_, direction, "dma_map_page_attrs")


@service("void dma_unmap_page_attrs(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir, "
         "unsigned long attrs)")
def dma_unmap_page_attrs(k: Kernel, dev: int, addr: int, size_: int, direction: int, attrs: int) -> None:
    """End a streaming mapping: the device may no longer reach it."""
    unmap_range(k, dev, addr, size_, direction, "dma_unmap_page_attrs")


@service("dma_addr_t dma_map_resource(struct device *dev, phys_addr_t phys_addr, size_t size, "
         "enum dma_data_direction dir, unsigned long attrs)")
def dma_map_resource(k: Kernel, dev: int, phys: int, size_: int, direction: int, attrs: int) -> int:
    """Map an MMIO resource for peer DMA (the direct map: its physical address)."""
    _check_direction(k, direction, "dma_map_resource")
    return phys


@service("void dma_unmap_resource(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir, "
         "unsigned long attrs)")
def dma_unmap_resource(k: Kernel, dev: int, addr: int, size_: int, direction: int, attrs: int) -> None:
    """Nothing to undo for a direct-mapped resource."""


def sg_entries(k: Kernel, sg: int, nents: int) -> list[int]:
    """The first ``nents`` entries of a scatterlist, chains followed (for_each_sg)."""
    entries = []
    for _ in range(MAX_SG_ENTRIES):
        if not sg or len(entries) >= nents:
            return entries
        link = k.memory.read_u32(sg + SG_PAGE_LINK)
        if link & SG_CHAIN:
            sg = link & ~3
            continue
        entries.append(sg)
        if link & SG_END:
            return entries
        sg += SG_SIZE
    raise GuestFault("bad-sg", f"scatterlist at {sg:#x} from {k.symbolizer.short(k.current_caller)} does not end",
                     pc=k.current_caller, address=sg)


def sg_page(k: Kernel, sg: int) -> int:
    """sg_page(): the struct page of an entry."""
    return k.memory.read_u32(sg + SG_PAGE_LINK) & ~3


@service("int dma_map_sg_attrs(struct device *dev, struct scatterlist *sg, int nents, enum dma_data_direction dir, "
         "unsigned long attrs)")
def dma_map_sg_attrs(k: Kernel, dev: int, sg: int, nents: int, direction: int, attrs: int) -> int:
    """Map each entry (``dma_address``/``dma_length``): how many were mapped, 0 if one could not be."""
    if nents <= 0:
        return 0
    done: list[int] = []
    for entry in sg_entries(k, sg, nents):
        phys = (pfn_of_page(k, sg_page(k, entry)) << PAGE_SHIFT) + k.memory.read_u32(entry + SG_OFFSET)
        length = k.memory.read_u32(entry + SG_LENGTH)
        bus = map_range(k, dev, phys, length, direction, "dma_map_sg_attrs")
        if bus == DMA_MAPPING_ERROR:
            for mapped in done:
                unmap_range(k, dev, k.memory.read_u32(mapped + SG_DMA_ADDRESS), k.memory.read_u32(mapped + SG_DMA_LENGTH),
                            direction, "dma_map_sg_attrs")
            return 0
        k.memory.write_u32(entry + SG_DMA_ADDRESS, bus)
        k.memory.write_u32(entry + SG_DMA_LENGTH, length)
        done.append(entry)
    return len(done)


@service("void dma_unmap_sg_attrs(struct device *dev, struct scatterlist *sg, int nents, enum dma_data_direction dir, "
         "unsigned long attrs)")
def dma_unmap_sg_attrs(k: Kernel, dev: int, sg: int, nents: int, direction: int, attrs: int) -> None:
    """Unmap the entries dma_map_sg_attrs mapped (``nents`` as given to it)."""
    for entry in sg_entries(k, sg, nents):
        unmap_range(k, dev, k.memory.read_u32(entry + SG_DMA_ADDRESS), k.memory.read_u32(entry + SG_DMA_LENGTH),
                    direction, "dma_unmap_sg_attrs")


@service("void dma_sync_single_for_cpu(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)")
def dma_sync_single_for_cpu(k: Kernel, dev: int, addr: int, size_: int, direction: int) -> None:
    """Hand a mapped range back to the CPU (coherent on x86: nothing to flush)."""
    _check_direction(k, direction, "dma_sync_single_for_cpu")
    _check_mapped(k, dev, addr, size_, "dma_sync_single_for_cpu")


@service("void dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)")
def dma_sync_single_for_device(k: Kernel, dev: int, addr: int, size_: int, direction: int) -> None:
    """Hand a mapped range to the device (coherent on x86: nothing to flush)."""
    _check_direction(k, direction, "dma_sync_single_for_device")
    _check_mapped(k, dev, addr, size_, "dma_sync_single_for_device")


@service("void dma_sync_sg_for_cpu(struct device *dev, struct scatterlist *sg, int nelems, enum dma_data_direction dir)")
def dma_sync_sg_for_cpu(k: Kernel, dev: int, sg: int, nelems: int, direction: int) -> None:
    """dma_sync_single_for_cpu for each mapped entry."""
    for entry in sg_entries(k, sg, nelems):
        dma_sync_single_for_cpu(k, dev, k.memory.read_u32(entry + SG_DMA_ADDRESS),
                                k.memory.read_u32(entry + SG_DMA_LENGTH), direction)


@service("void dma_sync_sg_for_device(struct device *dev, struct scatterlist *sg, int nelems, enum dma_data_direction dir)")
def dma_sync_sg_for_device(k: Kernel, dev: int, sg: int, nelems: int, direction: int) -> None:
    """dma_sync_single_for_device for each mapped entry."""
    for entry in sg_entries(k, sg, nelems):
        dma_sync_single_for_device(k, dev, k.memory.read_u32(entry + SG_DMA_ADDRESS),
                                   k.memory.read_u32(entry + SG_DMA_LENGTH), direction)


@service("size_t dma_max_mapping_size(struct device *dev)")
def dma_max_mapping_size(k: Kernel, dev: int) -> int:
    """The direct map has no limit (no swiotlb bouncing): SIZE_MAX."""
    return SIZE_MAX


@service("bool dma_need_sync(struct device *dev, dma_addr_t dma_addr)")
def dma_need_sync(k: Kernel, dev: int, dma_addr: int) -> int:
    """Whether dma_sync_* calls matter: not on a coherent x86 without bouncing."""
    return 0


def page_for_bus(k: Kernel, bus: int) -> int:
    """The struct page of a bus (physical) address."""
    return page_of_pfn(k, bus >> PAGE_SHIFT)


__all__ = ["DMA_MAPPING_ERROR", "PAGE_SIZE", "bind_model", "map_range", "model_of", "page_for_bus", "sg_entries",
           "unmap_range"]


# -- ISA DMA channels (kernel/dma.c): the 8237's eight channels, 4 the cascade ---------------------

MAX_DMA_CHANNELS = 8
dma_spin_lock = kernel_variable("dma_spin_lock", size("spinlock"), 0)


class IsaDmaChannels:
    """Which ISA DMA channels are taken: channel -> (device id, owning module); 4 cascades the two 8237s."""

    def __init__(self) -> None:
        self.busy: dict[int, tuple[str, str]] = {4: ("cascade", "kernel")}

    def release_module(self, k: Kernel, module: Any) -> list[str]:
        """Channels a module left requested: freed and reported."""
        mine = [n for n, (_, owner) in self.busy.items() if owner == module.name]
        for n in mine:
            del self.busy[n]
        return [f"ISA DMA channel {n} still requested" for n in mine]


@service("int request_dma(unsigned int dmanr, const char *device_id)")
def request_dma(k: Kernel, dmanr: int, device_id: int) -> int:
    """Reserve an ISA DMA channel: -EINVAL beyond 7, -EBUSY if taken."""
    if dmanr >= MAX_DMA_CHANNELS:
        return -22
    channels = k.subsystem(IsaDmaChannels)
    if dmanr in channels.busy:
        return -16
    name = k.memory.read_cstring(device_id, 64).decode("utf-8", "replace") if device_id else "?"
    channels.busy[dmanr] = (name, _owner(k))
    return 0


@service("void free_dma(unsigned int dmanr)")
def free_dma(k: Kernel, dmanr: int) -> None:
    """Give an ISA DMA channel back (freeing a free one is reported, as Linux prints it)."""
    channels = k.subsystem(IsaDmaChannels)
    if dmanr >= MAX_DMA_CHANNELS:
        k.console_write(f"Trying to free DMA{dmanr}\n", 4)
        return
    if dmanr not in channels.busy or dmanr == 4:
        k.console_write(f"Trying to free free DMA{dmanr}\n", 4)
        return
    del channels.busy[dmanr]
