"""Unbalanced spinlocks and interrupts left disabled are reported, and the kernel carries on."""

from __future__ import annotations

from sandbox import Kernel

SOURCE = """
#include <kernel.h>
static DEFINE_SPINLOCK(lock);
static int dev;
static irqreturn_t forgetful(int irq, void *d) { (void)irq; (void)d; spin_lock(&lock); return IRQ_HANDLED; }
int hook(void) { return request_irq(3, forgetful, 0, "forgetful", &dev); }
int leave_irqs_off(void) { unsigned long flags; local_irq_save(flags); (void)flags; return 0; }
int balanced(void) { unsigned long flags; spin_lock_irqsave(&lock, flags); spin_unlock_irqrestore(&lock, flags); return 1; }
"""


def test_lock_held_at_end_of_handler(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c(SOURCE, "balance"))
    m.call("hook")
    kernel.raise_irq(3)
    assert len(kernel.warnings) == 1
    warning = kernel.warnings[0]
    assert "spinlock balance:lock still held (taken at balance:forgetful+" in warning
    assert warning.endswith("at the end of IRQ 3 handler balance:forgetful")
    assert kernel.trace.of_kind("warning")[0].fields["text"] == warning
    kernel.raise_irq(3)  # the lock was released by the kernel, so no deadlock now
    assert m.call("balanced") == 1


def test_interrupts_left_disabled(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c(SOURCE, "balance"))
    m.call("leave_irqs_off")
    assert kernel.warnings == ["interrupts left disabled at the end of balance:leave_irqs_off"]
    assert kernel.irqs_enabled
    m.call("balanced")
    assert len(kernel.warnings) == 1
