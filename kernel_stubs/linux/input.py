"""Input core (drivers/input/input.c, built into Debian's 686 kernel): allocating an input_dev.

Only what a driver does before registering: ``input_allocate_device`` gives
a zeroed block and ``input_free_device`` frees it (Linux drops the device's
last reference, whose release kfrees it). The block is 2 KiB, larger than
6.1 i386's ``struct input_dev``, so the guarded heap would not catch an
overflow into the last bytes; ``input_register_device`` is not modelled.
Used by uinput.ko, which allocates the device on its first ioctl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

INPUT_DEV_BLOCK = 2048


@service("struct input_dev *input_allocate_device(void)")
def input_allocate_device(k: Kernel) -> int:
    """A zeroed input_dev owned by the caller, or NULL."""
    return allocate(k, INPUT_DEV_BLOCK)


@service("void input_free_device(struct input_dev *dev)")
def input_free_device(k: Kernel, dev: int) -> None:
    """Free a device that was never registered (NULL is allowed)."""
    if dev:
        release(k, dev)
