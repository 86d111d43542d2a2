/* Interrupt handlers and the CPU interrupt flag. */
#ifndef _SANDBOX_INTERRUPT_H
#define _SANDBOX_INTERRUPT_H

#include "compiler.h"
#include "types.h"

typedef int irqreturn_t;
#define IRQ_NONE 0
#define IRQ_HANDLED 1
#define IRQ_WAKE_THREAD 2
#define IRQ_RETVAL(x) ((x) ? IRQ_HANDLED : IRQ_NONE)

typedef irqreturn_t (*irq_handler_t)(int irq, void *dev_id);

#define IRQF_SHARED 0x00000080UL

KAPI int request_irq(unsigned int irq, irq_handler_t handler, unsigned long flags, const char *name, void *dev_id);
KAPI const void *free_irq(unsigned int irq, void *dev_id);
KAPI void disable_irq(unsigned int irq);
KAPI void enable_irq(unsigned int irq);
KAPI unsigned long arch_local_irq_save(void);
KAPI void arch_local_irq_restore(unsigned long flags);
KAPI void arch_local_irq_disable(void);
KAPI void arch_local_irq_enable(void);

#define local_irq_save(flags) do { (flags) = arch_local_irq_save(); } while (0)
#define local_irq_restore(flags) arch_local_irq_restore(flags)
#define local_irq_disable() arch_local_irq_disable()
#define local_irq_enable() arch_local_irq_enable()

#endif
