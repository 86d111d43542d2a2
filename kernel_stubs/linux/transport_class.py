"""Transport classes and attribute containers (drivers/base/transport_class.c, attribute_container.c), 6.1.

What libata and the SCSI transports (sas, spi, fc, iscsi, srp) do at init:
``transport_class_register`` is ``class_register(&tclass->class)`` (the
class is the struct's first member), ``attribute_container_register``
puts the container on the kernel's list (its ``node`` a real list_head,
its klist of class devices empty), ``anon_transport_class_register``
points the container at the class, marks it ATTRIBUTE_CONTAINER_NO_CLASSDEVS
and registers it. Unregistering a container that still holds class devices
is -EBUSY, as Linux. The per-device side (transport_setup_device and the
rest, run when a SCSI host or an ATA port is added) is not modelled: a
module that reaches it finds the symbol unresolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .device import __class_register, class_unregister
from .layout import offset
from .registrations import EBUSY, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

NODE = offset("attribute_container", "node")
K_LIST = offset("attribute_container", "containers.k_list")
CONT_CLASS, CONT_FLAGS = offset("attribute_container", "class"), offset("attribute_container", "flags")
CLASS_NAME = offset("class", "name")
ATC_TCLASS, ATC_CONTAINER = offset("anon_transport_class", "tclass"), offset("anon_transport_class", "container")
ATTRIBUTE_CONTAINER_NO_CLASSDEVS = 0x01


class AttributeContainers(Registry):
    """Registered attribute containers (attribute_container_list), by address."""

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Containers the module left registered: reported and taken off the list."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"attribute container {k.symbolizer.short(address)} still registered")
                del self.entries[address]
        return leaks


def _empty_list(k: Kernel, head: int) -> None:
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


@service("int attribute_container_register(struct attribute_container *cont)")
def attribute_container_register(k: Kernel, cont: int) -> int:
    """Add ``cont`` to the kernel's containers (its list of class devices empty): 0."""
    _empty_list(k, cont + NODE)
    _empty_list(k, cont + K_LIST)
    cls = k.memory.read_u32(cont + CONT_CLASS)
    name = guest_string(k, k.memory.read_u32(cls + CLASS_NAME), 64) if cls else ""
    k.subsystem(AttributeContainers).add(k, "attribute container", cont, name)
    return 0


@service("int attribute_container_unregister(struct attribute_container *cont)")
def attribute_container_unregister(k: Kernel, cont: int) -> int:
    """Take ``cont`` off the list: 0, or -EBUSY while it still has class devices."""
    head = cont + K_LIST
    if k.memory.read_u32(head) != head:
        return -EBUSY
    k.subsystem(AttributeContainers).entries.pop(cont, None)
    k.memory.write_u32(cont + NODE, 0x100)  # list_del poisons, as LIST_POISON1/2
    k.memory.write_u32(cont + NODE + 4, 0x122)
    return 0


@service("int transport_class_register(struct transport_class *tclass)")
def transport_class_register(k: Kernel, tclass: int) -> int:
    """class_register of the transport class's own class: 0 or -EEXIST."""
    return __class_register(k, tclass, 0)


@service("void transport_class_unregister(struct transport_class *tclass)")
def transport_class_unregister(k: Kernel, tclass: int) -> None:
    """class_unregister of the transport class's class."""
    class_unregister(k, tclass)


@service("int anon_transport_class_register(struct anon_transport_class *atc)")
def anon_transport_class_register(k: Kernel, atc: int) -> int:
    """A transport class without its own class devices: the container registered, pointing at the class."""
    container = atc + ATC_CONTAINER
    k.memory.write_u32(container + CONT_CLASS, atc + ATC_TCLASS)
    flags = k.memory.read_u32(container + CONT_FLAGS)
    k.memory.write_u32(container + CONT_FLAGS, flags | ATTRIBUTE_CONTAINER_NO_CLASSDEVS)
    return attribute_container_register(k, container)


@service("void anon_transport_class_unregister(struct anon_transport_class *atc)")
def anon_transport_class_unregister(k: Kernel, atc: int) -> None:
    """Unregister the container (a container with class devices left is a kernel BUG: warned)."""
    if attribute_container_unregister(k, atc + ATC_CONTAINER):
        k.warn(f"anon_transport_class_unregister of {k.symbolizer.short(atc)}: its container still has devices")
