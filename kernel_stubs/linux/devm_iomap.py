"""Managed MMIO mappings (lib/devres.c, drivers/base/platform.c): ``devm_ioremap*`` and the platform helpers.

``devm_ioremap_resource(dev, res)`` does what the drivers that use it rely
on: a MEM resource only ("invalid resource" and -EINVAL otherwise), its
range requested busy under ``iomem_resource`` in the resource's name (or
the device's) — "can't request region" and -EBUSY if another driver holds
any of it — then mapped (``ioremap``: the address itself where a device's
MMIO window covers it; "ioremap failed" and -ENOMEM where none does). Both
the mapping and the region are device-managed: released when the driver
unbinds. ``devm_platform_ioremap_resource(pdev, n)`` does it for the
platform device's ``n``-th MEM resource; ``devm_platform_get_and_ioremap_resource``
also hands back the resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.iomem import ioremap
from sandbox.services import service

from . import devres
from .layout import Fields, offset
from .platform import IORESOURCE_MEM, __release_region, __request_region
from .platform_bus import platform_get_resource
from .printk import _device_prefix, log
from .registrations import EBUSY, EINVAL, ENOMEM, err_ptr, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

IORESOURCE_TYPE_BITS = 0x1F00
PDEV_DEV = offset("platform_device", "dev")


def _error(k: Kernel, dev: int, text: str) -> None:
    log(k, b"\x013" + text.encode() + b"\n", _device_prefix(k, dev))


def _describe(start: int, end: int) -> str:
    return f"[mem {start:#010x}-{end:#010x}]"  # %pR of a MEM resource


@service("void __iomem *devm_ioremap(struct device *dev, resource_size_t offset, resource_size_t size)")
def devm_ioremap(k: Kernel, dev: int, start: int, size_: int) -> int:
    """ioremap, unmapped when the driver unbinds; NULL where no device's window is."""
    address = ioremap(k, start, size_)
    if address:
        devres.add(k, dev, "ioremap", address, size_, release_fn=None)
    return address


@service("void __iomem *devm_ioremap_resource(struct device *dev, const struct resource *res)")
def devm_ioremap_resource(k: Kernel, dev: int, res: int) -> int:
    """Request and map a MEM resource for the device (see the module docstring); ERR_PTR on failure."""
    if not res:
        _error(k, dev, "invalid resource (null)")
        return err_ptr(EINVAL)
    fields = Fields(k.memory, "resource", res)
    start, end, flags = fields["start"], fields["end"], fields["flags"]
    if flags & IORESOURCE_TYPE_BITS != IORESOURCE_MEM:
        _error(k, dev, f"invalid resource {_describe(start, end)}")
        return err_ptr(EINVAL)
    size_ = end - start + 1
    name = fields["name"] or Fields(k.memory, "device", dev)["kobj.name"]
    tree = k.export_address("iomem_resource") or 0
    if not __request_region(k, tree, start, size_, name, 0):
        _error(k, dev, f"can't request region for resource {_describe(start, end)}")
        return err_ptr(EBUSY)
    address = ioremap(k, start, size_)
    if not address:
        __release_region(k, tree, start, size_)
        _error(k, dev, f"ioremap failed for resource {_describe(start, end)}")
        return err_ptr(ENOMEM)

    def release(kernel: Kernel) -> None:
        __release_region(kernel, tree, start, size_)

    devres.add(k, dev, "ioremap_resource", address, size_, release_fn=release)
    k.trace.add("note", "devm_ioremap_resource",
                fields={"region": guest_string(k, name, 64), "start": start, "size": size_})
    return address


@service("void __iomem *devm_platform_get_and_ioremap_resource(struct platform_device *pdev, unsigned int index, "
         "struct resource **res)")
def devm_platform_get_and_ioremap_resource(k: Kernel, pdev: int, index: int, res: int) -> int:
    """The ``index``-th MEM resource, mapped for the device; ``*res`` set to it."""
    resource = platform_get_resource(k, pdev, IORESOURCE_MEM, index)
    if res:
        k.memory.write_u32(res, resource)
    return devm_ioremap_resource(k, pdev + PDEV_DEV, resource)


@service("void __iomem *devm_platform_ioremap_resource(struct platform_device *pdev, unsigned int index)")
def devm_platform_ioremap_resource(k: Kernel, pdev: int, index: int) -> int:
    """The platform device's ``index``-th MEM resource, requested and mapped (ERR_PTR on failure)."""
    return devm_platform_get_and_ioremap_resource(k, pdev, index, 0)
