"""Open Firmware (device tree) lookups on a PC booted without a device tree.

x86 PCs describe their devices through ACPI or not at all. Debian's 686
kernel is built with CONFIG_OF (for the few boards that pass a tree), so
the lookups are exported; on a PC no tree is loaded, every node pointer a
driver holds is NULL (``dev->of_node`` stays NULL), and these return what
Linux's do for a NULL node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("struct property *of_find_property(const struct device_node *np, const char *name, int *lenp)")
def of_find_property(k: Kernel, np: int, name: int, lenp: int) -> int:
    """No property: NULL (``*lenp`` untouched, as for a NULL node)."""
    return 0


@service("int of_device_is_compatible(const struct device_node *device, const char *compat)")
def of_device_is_compatible(k: Kernel, device: int, compat: int) -> int:
    """No node is compatible with anything: 0."""
    return 0


@service("struct device_node *of_get_next_available_child(const struct device_node *node, struct device_node *prev)")
def of_get_next_available_child(k: Kernel, node: int, prev: int) -> int:
    """No children: NULL."""
    return 0
