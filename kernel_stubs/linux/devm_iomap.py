"""The platform core's managed MMIO helpers (drivers/base/platform.c) over ``devm_ioremap_resource``.

``devm_platform_ioremap_resource(pdev, n)`` requests and maps the platform
device's ``n``-th MEM resource for its driver (released at unbind), failing
as ``devm_ioremap_resource`` does (:mod:`.devres_io`: ERR_PTR -EINVAL for
no such resource, -EBUSY for a taken region, -ENOMEM where no device's MMIO
window is); ``devm_platform_get_and_ioremap_resource`` also hands back the
resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .devres_io import devm_ioremap_resource
from .layout import offset
from .platform import IORESOURCE_MEM
from .platform_bus import platform_get_resource

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

PDEV_DEV = offset("platform_device", "dev")


@service("void __iomem *devm_platform_get_and_ioremap_resource(struct platform_device *pdev, unsigned int index, "
         "struct resource **res)")
def devm_platform_get_and_ioremap_resource(k: Kernel, pdev: int, index: int, res: int) -> int:
    """The ``index``-th MEM resource, requested and mapped for the device; ``*res`` set to it (if asked)."""
    resource = platform_get_resource(k, pdev, IORESOURCE_MEM, index)
    if res:
        k.memory.write_u32(res, resource)
    return devm_ioremap_resource(k, pdev + PDEV_DEV, resource)


@service("void __iomem *devm_platform_ioremap_resource(struct platform_device *pdev, unsigned int index)")
def devm_platform_ioremap_resource(k: Kernel, pdev: int, index: int) -> int:
    """The platform device's ``index``-th MEM resource, requested and mapped (ERR_PTR on failure)."""
    return devm_platform_get_and_ioremap_resource(k, pdev, index, 0)
