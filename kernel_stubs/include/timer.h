/* Time: jiffies (HZ ticks a second) and kernel timers (struct timer_list).
 * A timer fires in interrupt context on the first tick at or after its
 * expiry, with the timer's address as argument (use from_timer to get the
 * enclosing structure). */
#ifndef _SANDBOX_TIMER_H
#define _SANDBOX_TIMER_H

#include "compiler.h"
#include "types.h"

#define HZ 100

/* Ticks since boot, updated by the kernel on every tick. */
#ifdef _WIN32
/* PE: kernel data is reached through the import address table. */
extern __declspec(dllimport) volatile unsigned long jiffies;
extern __declspec(dllimport) volatile u64 jiffies_64;
#else
extern volatile unsigned long jiffies;
extern volatile u64 jiffies_64;
#endif

struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct timer_list {
	struct hlist_node entry; /* the kernel's: entry.pprev is non-NULL while the timer is armed */
	unsigned long expires;   /* in jiffies */
	void (*function)(struct timer_list *);
	u32 flags;
};

#define TIMER_DEFERRABLE 0x00080000
#define TIMER_PINNED 0x00200000
#define TIMER_IRQSAFE 0x00400000

/* Wrap-safe comparisons of jiffies values. */
#define time_after(a, b) ((long)((b) - (a)) < 0)
#define time_before(a, b) time_after(b, a)
#define time_after_eq(a, b) ((long)((a) - (b)) >= 0)
#define time_before_eq(a, b) time_after_eq(b, a)

#define from_timer(var, callback_timer, timer_fieldname) \
	container_of(callback_timer, __typeof__(*var), timer_fieldname)

static inline unsigned int jiffies_to_msecs(unsigned long j)
{
	return j * (1000 / HZ);
}

static inline unsigned int jiffies_to_usecs(unsigned long j)
{
	return j * (1000000 / HZ);
}

/* Rounded up, as Linux does: a wait is never shorter than asked. */
static inline unsigned long msecs_to_jiffies(unsigned int m)
{
	return (m + (1000 / HZ) - 1) / (1000 / HZ);
}

static inline unsigned long usecs_to_jiffies(unsigned int u)
{
	return (u + (1000000 / HZ) - 1) / (1000000 / HZ);
}

static inline int timer_pending(const struct timer_list *timer)
{
	return timer->entry.pprev != NULL;
}

KAPI void timer_setup(struct timer_list *timer, void (*callback)(struct timer_list *), unsigned int flags);
KAPI int mod_timer(struct timer_list *timer, unsigned long expires);
KAPI void add_timer(struct timer_list *timer);
KAPI int del_timer(struct timer_list *timer);
KAPI int del_timer_sync(struct timer_list *timer);
KAPI int timer_delete(struct timer_list *timer);
KAPI int timer_delete_sync(struct timer_list *timer);
KAPI u64 get_jiffies_64(void);

#endif
