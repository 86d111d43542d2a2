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


# -- IRQ autodetection (kernel/irq/autoprobe.c), for ISA drivers that make their card interrupt ----
class IrqProbe:
    """probe_irq_on/off: which unclaimed lines fired while a probe was armed."""

    def __init__(self) -> None:
        self.armed = False
        self.fired: list[int] = []
        self.hooked = False

    def arm(self, k: Kernel) -> None:
        if not self.hooked:
            self.hooked = True
            for line in range(1, 16):
                k.add_irq_hook(line, lambda line=line: self._seen(k, line), due=lambda: None)
        self.armed, self.fired = True, []

    def _seen(self, k: Kernel, line: int) -> None:
        if self.armed and not k.irqs.actions(line) and line not in self.fired:
            self.fired.append(line)


@service("unsigned long probe_irq_on(void)")
def probe_irq_on(k: Kernel) -> int:
    """Start autodetection: a mask of the lines no driver holds (the candidates)."""
    k.subsystem(IrqProbe).arm(k)
    mask = 0
    for line in range(1, 16):
        if not k.irqs.actions(line):
            mask |= 1 << line
    return mask


@service("int probe_irq_off(unsigned long val)")
def probe_irq_off(k: Kernel, val: int) -> int:
    """End autodetection: the one candidate line that fired, 0 if none, -(first) if several did."""
    probe = k.subsystem(IrqProbe)
    probe.armed = False
    fired = [line for line in probe.fired if val >> line & 1]
    if not fired:
        return 0
    return fired[0] if len(fired) == 1 else -fired[0]


@service("unsigned int probe_irq_mask(unsigned long val)")
def probe_irq_mask(k: Kernel, val: int) -> int:
    """End autodetection: the mask of candidate lines that fired."""
    probe = k.subsystem(IrqProbe)
    probe.armed = False
    return sum(1 << line for line in probe.fired if val >> line & 1) & 0xFFFF
from sandbox.machine.irq import NR_IRQS  # noqa: E402 - the machine's lines: legacy, I/O APIC and MSI


@service("int irq_set_irq_wake(unsigned int irq, unsigned int on)")
def irq_set_irq_wake(k: Kernel, irq: int, on: int) -> int:
    """Mark a line as a wake-up source: -EINVAL for a line that does not exist; the PC's interrupt
    controller has no wake logic (IRQCHIP_SKIP_SET_WAKE), so 0 otherwise."""
    return 0 if irq < NR_IRQS else -EINVAL
