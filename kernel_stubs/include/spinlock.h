/* Spinlocks. On the sandbox's single CPU a second acquire is a reported deadlock. */
#ifndef _SANDBOX_SPINLOCK_H
#define _SANDBOX_SPINLOCK_H

#include "compiler.h"

typedef struct {
	volatile unsigned int locked;
} spinlock_t;

#define __SPIN_LOCK_UNLOCKED(name) { 0 }
#define DEFINE_SPINLOCK(name) spinlock_t name = __SPIN_LOCK_UNLOCKED(name)

KAPI void spin_lock_init(spinlock_t *lock);
KAPI void spin_lock(spinlock_t *lock);
KAPI void spin_unlock(spinlock_t *lock);
KAPI int spin_trylock(spinlock_t *lock);
KAPI unsigned long _spin_lock_irqsave(spinlock_t *lock);
KAPI void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
KAPI void spin_lock_irq(spinlock_t *lock);
KAPI void spin_unlock_irq(spinlock_t *lock);

#define spin_lock_irqsave(lock, flags) do { (flags) = _spin_lock_irqsave(lock); } while (0)

#endif
