"""Interrupt lines as Linux 6.1 exports them: request_threaded_irq and friends.

``request_irq`` is an inline wrapper in Linux, so modules import
``request_threaded_irq`` (with a NULL thread function). A handler that
returns IRQ_WAKE_THREAD gets its thread function run in task context after
it (sandbox/interrupts.py); a NULL handler is Linux's default primary
handler, which only wakes the thread, and then IRQF_ONESHOT is required.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.irq import disable_irq, enable_irq, free_irq  # noqa: F401 (the same services here)
from sandbox.machine.irq import IrqAction
from sandbox.services import service

from .registrations import EINVAL, guest_string, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

IRQF_ONESHOT = 0x00002000


@service("int request_threaded_irq(unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn, "
         "unsigned long irqflags, const char *devname, void *dev_id)")
def request_threaded_irq(k: Kernel, irq: int, handler: int, thread_fn: int, irqflags: int, devname: int,
                         dev_id: int) -> int:
    """Register a hard handler and/or a thread function on ``irq``; 0, -EINVAL or -EBUSY, as Linux."""
    if not handler and not thread_fn:
        return -EINVAL
    if not handler and not irqflags & IRQF_ONESHOT:
        return -EINVAL  # Linux refuses a default primary handler without IRQF_ONESHOT
    action = IrqAction(irq, handler, dev_id, guest_string(k, devname, 64) or "?", irqflags, owner_name(k),
                       thread_fn, devname)
    return k.register_irq(action)


@service("void disable_irq_nosync(unsigned int irq)")
def disable_irq_nosync(k: Kernel, irq: int) -> None:
    """Mask a line without waiting."""
    k.irqs.disabled.add(irq)


@service("void synchronize_irq(unsigned int irq)")
def synchronize_irq(k: Kernel, irq: int) -> None:
    """Wait for running handlers of ``irq``: one CPU, nothing runs concurrently."""


NR_IRQS = 16  # the PC's legacy lines (the sandbox's interrupt controller)


@service("int irq_set_irq_wake(unsigned int irq, unsigned int on)")
def irq_set_irq_wake(k: Kernel, irq: int, on: int) -> int:
    """Mark a line as a wake-up source: -EINVAL for a line that does not exist; the PC's interrupt
    controller has no wake logic (IRQCHIP_SKIP_SET_WAKE), so 0 otherwise."""
    return 0 if irq < NR_IRQS else -EINVAL
