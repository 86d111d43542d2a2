"""The myos kernel as the sandbox runs it: its four services, in Python.

Each service is a Python function with the C prototype from myos.h; its first
argument is the :class:`~sandbox.services.ServiceContext` of the kernel the
calling driver runs in (guest memory, the console, the caller, guest calls,
IRQ lines, the leak-checked heap, per-kernel state). Only public names.
"""

from __future__ import annotations

import struct

from sandbox.services import IRQF_SHARED, KERNEL_OWNER, IrqAction, ServiceContext, Subsystem, service

# struct myos_driver { const char *name; int irq; probe; irq_handler; remove; }
DRIVER = struct.Struct("<IiIII")
# struct myos_device { int irq; void *priv; }
DEVICE = struct.Struct("<iI")


class Myos(Subsystem):
    """The kernel's own state, one per Kernel: each module's driver (myos allows one)."""

    def __init__(self) -> None:
        self.drivers: dict[str, tuple[int, int, int]] = {}  # module -> (device, line, remove)

    def remove_callback(self, ctx: ServiceContext, module) -> int | None:
        """The exit of a myos module: its driver's remove (the profile's exit entry)."""
        found = self.drivers.get(module.name)
        return found[2] if found else None

    def device_of(self, ctx: ServiceContext, module) -> tuple[int]:
        """What remove is called with: the driver's device."""
        return (self.drivers[module.name][0],)

    def release_module(self, ctx: ServiceContext, module) -> list[str]:
        """After remove ran: take back the line and the device (the heap reports the module's own blocks)."""
        found = self.drivers.pop(module.name, None)
        if found is not None:
            device, line, _ = found
            ctx.free_irq(line, device)
            ctx.free(device)
        return []


@service("void myos_log(const char *text)")
def myos_log(ctx: ServiceContext, text: int) -> None:
    """One line on the console."""
    ctx.console_write(ctx.read_string(text, 256) + "\n")


@service("int myos_register_driver(struct myos_driver *driver)")
def myos_register_driver(ctx: ServiceContext, driver: int) -> int:
    """Make a device for the driver, probe it, and give it the IRQ line it asks for (one driver per module)."""
    module = ctx.caller_module()
    owner = module.name if module is not None else KERNEL_OWNER
    drivers = ctx.subsystem(Myos).drivers
    if owner in drivers:
        return -16  # EBUSY: a myos module registers one driver
    name, line, probe, handler, remove = ctx.read_struct(driver, DRIVER)
    label = ctx.read_string(name, 32)
    device = ctx.alloc(DEVICE.size, owner=KERNEL_OWNER)  # the kernel's, not the driver's
    ctx.write_struct(device, DEVICE, line, 0)
    result = ctx.call_function_pointer(probe, device) if probe else 0
    if result >> 31:  # a negative errno
        ctx.free(device)
        return result - (1 << 32)
    if handler:
        # The kernel owns the line (it frees it at unload), on the driver's behalf.
        ctx.register_irq(IrqAction(line, handler, device, label, IRQF_SHARED, KERNEL_OWNER))
    drivers[owner] = (device, line, remove)
    ctx.console_write(f"myos: {label} on IRQ {line}\n")
    return 0


@service("void *myos_alloc(size_t size)")
def myos_alloc(ctx: ServiceContext, size: int) -> int:
    """Zeroed memory owned by the calling module (a leak if still held at unload)."""
    return ctx.alloc(size)


@service("void myos_free(void *block)")
def myos_free(ctx: ServiceContext, block: int) -> None:
    """Free a myos_alloc block (a bad or double free is a fault naming both sites)."""
    if block:
        ctx.free(block)
