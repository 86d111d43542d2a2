"""Power capping control types (drivers/powercap/powercap_sys.c), Linux 6.1 i386.

A power-capping driver (intel_rapl) registers a control type: its own
``struct powercap_control_type`` or, given NULL, one the kernel allocates
(``allocated`` set). It becomes a device of the ``powercap`` class named
after the type (/sys/class/powercap/intel-rapl), joins the list of
control types, and a second registration of the same struct is -EEXIST.
Unregistering refuses (-EINVAL, with Linux's message) while zones of the
type remain, -ENODEV for a type not on the list; the device's release
frees an allocated type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from ..memory import allocate, release
from . import driver_core
from .device import builtin_class
from .layout import Fields, offset, size
from .registrations import EEXIST, EINVAL, ENOMEM, err_ptr, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

ENODEV = 19
# EXPORT_SYMBOL_GPL in drivers/powercap/powercap_sys.c
GPL_ONLY = frozenset({"powercap_register_control_type", "powercap_unregister_control_type"})
CT_DEV = offset("powercap_control_type", "dev")


class ControlTypes:
    """powercap_cntrl_list: the registered control types, in order, with who registered them."""

    def __init__(self) -> None:
        self.types: dict[int, str] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Control types a module left registered: reported and unregistered."""
        leaks = []
        for control_type, owner in list(self.types.items()):
            if owner == module.name:
                leaks.append(f"powercap control type {driver_core.device_name(k, control_type + CT_DEV)} "
                             "still registered")
                unregister(k, control_type)
        return leaks


def _release(k: Kernel, dev: int) -> None:
    """powercap_release for a control type: kfree it if the kernel allocated it."""
    control_type = dev - CT_DEV
    if Fields(k.memory, "powercap_control_type", control_type)["allocated"]:
        release(k, control_type)


@service("struct powercap_control_type *powercap_register_control_type(struct powercap_control_type *control_type, "
         "const char *name, const struct powercap_control_type_ops *ops)")
def powercap_register_control_type(k: Kernel, control_type: int, name: int, ops: int) -> int:
    """Register a control type (allocated when NULL): it, or ERR_PTR(-EINVAL/-EEXIST/-ENOMEM/device error)."""
    if not name:
        return err_ptr(EINVAL)
    state = k.subsystem(ControlTypes)
    if control_type in state.types:
        return err_ptr(EEXIST)
    if not control_type:
        control_type = allocate(k, size("powercap_control_type"), owner="kernel")
        if not control_type:
            return err_ptr(ENOMEM)
        Fields(k.memory, "powercap_control_type", control_type)["allocated"] = 1
    f = Fields(k.memory, "powercap_control_type", control_type)
    f["ops"] = ops
    node = f.address_of("node")
    k.memory.write_u32(node, node)
    k.memory.write_u32(node + 4, node)
    dev = control_type + CT_DEV
    driver_core.initialize_device(k, dev, owner="kernel").on_release = _release
    Fields(k.memory, "device", dev)["class"] = builtin_class(k, "powercap")
    result = driver_core.set_name(k, dev, guest_string(k, name, 64).encode()) or driver_core.add_device(k, dev)
    if result:
        driver_core.put(k, dev)
        return err_ptr(-result)
    caller = k.caller_module()
    state.types[control_type] = caller.name if caller else "kernel"
    return control_type


def unregister(k: Kernel, control_type: int) -> None:
    """Off the list; the device goes (its release frees an allocated type)."""
    k.subsystem(ControlTypes).types.pop(control_type, None)
    driver_core.delete_device(k, control_type + CT_DEV)
    driver_core.put(k, control_type + CT_DEV)


@service("int powercap_unregister_control_type(struct powercap_control_type *control_type)")
def powercap_unregister_control_type(k: Kernel, control_type: int) -> int:
    """0; -EINVAL while zones remain; -ENODEV if it is not registered."""
    if not control_type or control_type not in k.subsystem(ControlTypes).types:
        return -ENODEV
    f = Fields(k.memory, "powercap_control_type", control_type)
    if f["nr_zones"]:
        name = driver_core.device_name(k, control_type + CT_DEV)
        k.console_write(f"powercap {name}: Zones of this type still not freed\n", 3)
        return -EINVAL
    unregister(k, control_type)
    return 0
