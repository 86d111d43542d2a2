"""The restart handler chain (kernel/reboot.c): how a watchdog or a board driver offers to reset the machine.

``register_restart_handler(nb)`` puts the block on the kernel's atomic
chain by priority (128 is "default restart handler", 255 the last resort);
``do_kernel_restart`` calls the chain with the reboot mode and command
until a handler stops it. The emulated machine never reboots by itself;
the host asks for one with :func:`kernel_restart`, which calls the chain
and says whether a handler claimed the restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .layout import offset, size
from .notifier import MAX_CHAIN, NB_NEXT, NOTIFY_STOP_MASK, call_chain, chain_register, chain_unregister

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

ATOMIC_HEAD = offset("atomic_notifier_head", "head")
REBOOT_COLD = 0

restart_handler_list = kernel_variable("restart_handler_list", size("atomic_notifier_head"), 0)


def _head(k: Kernel) -> int:
    return (k.export_address("restart_handler_list") or 0) + ATOMIC_HEAD


class RestartHandlers:
    """Blocks a module left on the restart chain at unload: unlinked and reported."""

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        leaks, node = [], k.memory.read_u32(_head(k))
        for _ in range(MAX_CHAIN):
            if not node:
                break
            following = k.memory.read_u32(node + NB_NEXT)
            if k.module_at(node) is module:
                leaks.append(f"restart handler {k.symbolizer.short(node)} still registered")
                chain_unregister(k, _head(k), node)
            node = following
        return leaks


@service("int register_restart_handler(struct notifier_block *nb)")
def register_restart_handler(k: Kernel, nb: int) -> int:
    """Join the restart chain by the block's priority: 0, or -EEXIST if it is there already."""
    k.subsystem(RestartHandlers)
    return chain_register(k, _head(k), nb)


@service("int unregister_restart_handler(struct notifier_block *nb)")
def unregister_restart_handler(k: Kernel, nb: int) -> int:
    """Leave the restart chain: 0 or -ENOENT."""
    return chain_unregister(k, _head(k), nb)


def kernel_restart(k: Kernel, command: bytes | None = None, mode: int = REBOOT_COLD) -> bool:
    """do_kernel_restart from the host: call the chain (mode, command); True if a handler stopped it."""
    text = 0
    if command is not None:
        text = k.memory.alloc(len(command) + 1)
        k.memory.write(text, command + b"\0")
    try:
        return bool(call_chain(k, _head(k), mode, text) & NOTIFY_STOP_MASK)
    finally:
        if text:
            k.memory.free(text)
