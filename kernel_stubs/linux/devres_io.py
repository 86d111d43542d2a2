"""Managed I/O and DMA (lib/devres.c, kernel/dma/mapping.c): ``devm_ioremap*``, managed regions, ``dmam_*``.

Each call takes what its unmanaged twin takes and queues the undo on the
device (:mod:`.devres`): the region is released, the DMA buffer freed, when
the driver unbinds or its probe fails. ``devm_ioremap_resource`` does
what a driver would otherwise write by hand — check the resource, request
it, map it — and fails as Linux does: ``-EINVAL`` ("invalid resource") for
a missing or non-memory resource, ``-EBUSY`` ("can't request region") for
a taken one, returned as ``ERR_PTR``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.iomem import ioremap
from sandbox.services import service

from . import devres
from .layout import Fields
from .pci import dma_alloc_attrs, dma_free_attrs, ioport_map
from .platform import IORESOURCE_MEM, __release_region, __request_region
from .registrations import EINVAL, err_ptr, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EBUSY = 16


def _device_name(k: Kernel, dev: int) -> str:
    return guest_string(k, Fields(k.memory, "device", dev)["kobj.name"], 64) or f"device {dev:#x}"


@service("void __iomem *devm_ioremap(struct device *dev, resource_size_t offset, resource_size_t size)")
def devm_ioremap(k: Kernel, dev: int, offset: int, size_: int) -> int:
    """ioremap, forgotten at unbind (the window itself stays with its device model)."""
    cookie = ioremap(k, offset, size_)
    if cookie:
        devres.add(k, dev, "ioremap", cookie)
    return cookie


@service("void devm_iounmap(struct device *dev, void __iomem *addr)")
def devm_iounmap(k: Kernel, dev: int, addr: int) -> None:
    """Drop a managed mapping early; one the device does not hold gets Linux's WARN."""
    if devres.take(k, dev, "ioremap", addr) is None:
        k.warn(f"devm_iounmap of {addr:#x} on {_device_name(k, dev)}: not a managed mapping of this device")


@service("void __iomem *devm_ioport_map(struct device *dev, unsigned long port, unsigned int nr)")
def devm_ioport_map(k: Kernel, dev: int, port: int, nr: int) -> int:
    """ioport_map, forgotten at unbind."""
    cookie = ioport_map(k, port, nr)
    if cookie:
        devres.add(k, dev, "ioport_map", cookie)
    return cookie


def _managed_region(k: Kernel, dev: int, parent: int, start: int, n: int, name: int) -> int:
    res = __request_region(k, parent, start, n, name, 0)
    if res:
        devres.add(k, dev, "region", res, release_fn=lambda k: __release_region(k, parent, start, n))
    return res


@service("struct resource *__devm_request_region(struct device *dev, struct resource *parent, "
         "resource_size_t start, resource_size_t n, const char *name)")
def __devm_request_region(k: Kernel, dev: int, parent: int, start: int, n: int, name: int) -> int:
    """__request_region, released at unbind; NULL if any of it is taken."""
    return _managed_region(k, dev, parent, start, n, name)


@service("void __devm_release_region(struct device *dev, struct resource *parent, resource_size_t start, "
         "resource_size_t n)")
def __devm_release_region(k: Kernel, dev: int, parent: int, start: int, n: int) -> None:
    """Release a managed region early."""
    for entry in reversed(devres.table(k).of(dev)):
        if entry.kind == "region" and k.memory.read_u32(entry.value) == start \
                and k.memory.read_u32(entry.value + 4) == start + n - 1:
            devres.take(k, dev, "region", entry.value)
            __release_region(k, parent, start, n)
            return
    k.warn(f"__devm_release_region of {start:#x}+{n:#x} on {_device_name(k, dev)}: not a managed region")


@service("void __iomem *devm_ioremap_resource(struct device *dev, const struct resource *res)")
def devm_ioremap_resource(k: Kernel, dev: int, res: int) -> int:
    """Check a memory resource, request it, map it; ERR_PTR(-EINVAL/-EBUSY/-ENOMEM) as Linux."""
    name = _device_name(k, dev)
    if not res or not Fields(k.memory, "resource", res)["flags"] & IORESOURCE_MEM:
        k.console_write(f"{name}: invalid resource\n", 3)
        return err_ptr(EINVAL)
    fields = Fields(k.memory, "resource", res)
    start, end = fields["start"], fields["end"]
    tree = k.export_address("iomem_resource") or 0
    label = fields["name"] or Fields(k.memory, "device", dev)["kobj.name"]
    if not _managed_region(k, dev, tree, start, end - start + 1, label):
        k.console_write(f"{name}: can't request region for resource [mem {start:#010x}-{end:#010x}]\n", 3)
        return err_ptr(EBUSY)
    cookie = devm_ioremap(k, dev, start, end - start + 1)
    if not cookie:
        k.console_write(f"{name}: ioremap failed for resource [mem {start:#010x}-{end:#010x}]\n", 3)
        return err_ptr(12)
    return cookie


@service("void *dmam_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t gfp, "
         "unsigned long attrs)")
def dmam_alloc_attrs(k: Kernel, dev: int, size_: int, handle: int, gfp: int, attrs: int) -> int:
    """dma_alloc_attrs, freed at unbind."""
    virtual = dma_alloc_attrs(k, dev, size_, handle, gfp, attrs)
    if virtual:
        bus = k.memory.read_u32(handle)
        devres.add(k, dev, "dma-coherent", virtual,
                   release_fn=lambda k: dma_free_attrs(k, dev, size_, virtual, bus, attrs))
    return virtual


@service("void dmam_free_coherent(struct device *dev, size_t size, void *vaddr, dma_addr_t dma_handle)")
def dmam_free_coherent(k: Kernel, dev: int, size_: int, vaddr: int, handle: int) -> None:
    """Free a managed coherent buffer early."""
    if devres.take(k, dev, "dma-coherent", vaddr) is None:
        k.warn(f"dmam_free_coherent of {vaddr:#x} on {_device_name(k, dev)}: not a managed buffer of this device")
        return
    dma_free_attrs(k, dev, size_, vaddr, handle, 0)

