/* Waiting. Emulated time moves only when something waits, so these advance
 * the clock: msleep by whole ticks (running the timers and IRQ 0 handlers
 * that fall due), the busy-waits by their exact length. */
#ifndef _SANDBOX_DELAY_H
#define _SANDBOX_DELAY_H

#include "compiler.h"

KAPI void msleep(unsigned int msecs);
KAPI unsigned long msleep_interruptible(unsigned int msecs);
KAPI void udelay(unsigned long usecs);
KAPI void ndelay(unsigned long nsecs);
KAPI void mdelay(unsigned long msecs);
KAPI void __const_udelay(unsigned long xloops);
KAPI void usleep_range(unsigned long min, unsigned long max);

#endif
