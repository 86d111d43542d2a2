"""The myos kernel as the sandbox runs it: its four services, in Python.

Each service is a Python function with the C prototype from myos.h; its first
argument ``k`` is the kernel the calling driver runs in (guest memory, the
console, the caller, guest calls, IRQ lines, per-kernel state).
"""

from __future__ import annotations

import struct

from sandbox.machine.irq import IRQF_SHARED, IrqAction
from sandbox.services import service

# struct myos_driver { const char *name; int irq; probe; irq_handler; remove; }
DRIVER = struct.Struct("<IiIII")
# struct myos_device { int irq; void *priv; }
DEVICE = struct.Struct("<iI")


class Myos:
    """The kernel's own state, one per Kernel: registered drivers and myos_alloc blocks."""

    def __init__(self) -> None:
        self.drivers: dict[str, tuple[int, int, int]] = {}  # module -> (device, line, remove)
        self.blocks: dict[int, tuple[str, int]] = {}  # address -> (module, size)

    def remove_callback(self, k, module) -> int | None:
        """The exit of a myos module: its driver's remove (the profile's exit entry)."""
        found = self.drivers.get(module.name)
        return found[2] if found else None

    def device_of(self, k, module) -> tuple[int]:
        """What remove is called with: the driver's device."""
        return (self.drivers[module.name][0],)

    def release_module(self, k, module) -> list[str]:
        """After remove ran: take back the line and the device, report myos_alloc blocks still held."""
        found = self.drivers.pop(module.name, None)
        if found is not None:
            device, line, _ = found
            k.irqs.unregister(line, device)
            k.memory.free(device)
        leaks = []
        for address, (owner, size) in list(self.blocks.items()):
            if owner == module.name:
                leaks.append(f"{size} bytes at {address:#x} from myos_alloc not freed")
                del self.blocks[address]
                k.memory.free(address)
        return leaks


def _owner(k) -> str:
    module = k.caller_module()
    return module.name if module is not None else "kernel"


@service("void myos_log(const char *text)")
def myos_log(k, text: int) -> None:
    """One line on the console."""
    k.console_write(k.memory.read_cstring(text, 256).decode("utf-8", "replace") + "\n")


@service("int myos_register_driver(struct myos_driver *driver)")
def myos_register_driver(k, driver: int) -> int:
    """Make a device for the driver, probe it, and give it the IRQ line it asks for (one driver per module)."""
    name, line, probe, handler, remove = DRIVER.unpack(k.memory.read(driver, DRIVER.size))
    if _owner(k) in k.subsystem(Myos).drivers:
        return -16  # EBUSY: myos modules register one driver
    label = k.memory.read_cstring(name, 32).decode("utf-8", "replace")
    device = k.memory.alloc(DEVICE.size)
    k.memory.write(device, DEVICE.pack(line, 0))
    result = k.call_function_pointer(probe, device) if probe else 0
    if result >> 31:  # a negative errno
        k.memory.free(device)
        return result - (1 << 32)
    if handler:
        # The kernel owns the line (it frees it at unload), on the driver's behalf.
        k.register_irq(IrqAction(line, handler, device, label, IRQF_SHARED, "kernel"))
    k.subsystem(Myos).drivers[_owner(k)] = (device, line, remove)
    k.console_write(f"myos: {label} on IRQ {line}\n")
    return 0


@service("void *myos_alloc(size_t size)")
def myos_alloc(k, size: int) -> int:
    """Zeroed memory owned by the calling module (a leak if still held at unload)."""
    address = k.memory.alloc(size, k.current_caller)
    if address:
        k.subsystem(Myos).blocks[address] = (_owner(k), size)
    return address


@service("void myos_free(void *block)")
def myos_free(k, block: int) -> None:
    """Free a myos_alloc block; anything else is a warning, as myos's own heap says."""
    if not block:
        return
    if k.subsystem(Myos).blocks.pop(block, None) is None:
        k.warn(f"myos_free({block:#x}): not a block from myos_alloc")
        return
    k.memory.free(block)
