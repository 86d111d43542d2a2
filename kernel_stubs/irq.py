"""request_irq/free_irq and the CPU interrupt flag, as drivers see them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.machine.irq import IrqAction
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

X86_EFLAGS_IF = 0x200


@service("int request_irq(unsigned int irq, irq_handler_t handler, unsigned long flags, const char *name, void *dev_id)")
def request_irq(k: Kernel, irq: int, handler: int, flags: int, name: int, dev_id: int) -> int:
    """Register ``handler`` on line ``irq``; 0, -EBUSY (line not shareable) or -EINVAL."""
    if handler == 0:
        return -22
    label = k.memory.read_cstring(name, 64).decode("utf-8", "replace") if name else "?"
    module = k.caller_module()
    owner = module.name if module is not None else "kernel"
    return k.register_irq(IrqAction(irq, handler, dev_id, label, flags, owner, devname=name))


@service("const void *free_irq(unsigned int irq, void *dev_id)")
def free_irq(k: Kernel, irq: int, dev_id: int) -> int:
    """Remove the handler registered with ``dev_id``; returns the name it was requested with
    (as Linux does). A stray free is traced and returns NULL."""
    action = k.irqs.unregister(irq, dev_id)
    if action is None:
        k.trace.add("note", "free_irq", caller=k.current_caller,
                    fields={"warning": f"trying to free already-free IRQ {irq} (dev_id {dev_id:#x})"})
        return 0
    return action.devname


@service("void disable_irq(unsigned int irq)")
def disable_irq(k: Kernel, irq: int) -> None:
    """Mask a line."""
    k.irqs.disabled.add(irq)


@service("void enable_irq(unsigned int irq)")
def enable_irq(k: Kernel, irq: int) -> None:
    """Unmask a line; an interrupt raised on it while masked is delivered now (Linux's resend)."""
    k.irqs.disabled.discard(irq)
    k.kernel.interrupts.unmask(irq)


def save_and_disable(k: Kernel) -> int:
    """The EFLAGS-style word local_irq_save returns, then interrupts off."""
    flags = X86_EFLAGS_IF if k.irqs_enabled else 0
    k.irqs_enabled = False
    return flags


def restore(k: Kernel, flags: int) -> None:
    """Put the interrupt flag back as ``flags`` says."""
    k.irqs_enabled = bool(flags & X86_EFLAGS_IF)


@service("unsigned long arch_local_irq_save(void)")
def arch_local_irq_save(k: Kernel) -> int:
    """Disable interrupts and return the previous state."""
    return save_and_disable(k)


@service("void arch_local_irq_restore(unsigned long flags)")
def arch_local_irq_restore(k: Kernel, flags: int) -> None:
    """Restore the interrupt state saved by arch_local_irq_save."""
    restore(k, flags)


@service("void arch_local_irq_disable(void)")
def arch_local_irq_disable(k: Kernel) -> None:
    """cli."""
    k.irqs_enabled = False


@service("void arch_local_irq_enable(void)")
def arch_local_irq_enable(k: Kernel) -> None:
    """sti."""
    k.irqs_enabled = True
