/* High-resolution timers of Linux 6.1 i386, for the project's sample drivers. */
#ifndef SANDBOX_LINUX_HRTIMER_H
#define SANDBOX_LINUX_HRTIMER_H
#include "linux_module.h"

typedef s64 ktime_t;
#define CLOCK_MONOTONIC 1
enum hrtimer_mode { HRTIMER_MODE_ABS = 0x00, HRTIMER_MODE_REL = 0x01, HRTIMER_MODE_REL_SOFT = 0x05,
                    HRTIMER_MODE_REL_HARD = 0x09 };
enum hrtimer_restart { HRTIMER_NORESTART, HRTIMER_RESTART };

/* struct hrtimer, 40 bytes: timerqueue node (rb node, expires), _softexpires, function, base, flags. */
struct hrtimer {
	void *rb[3];
	ktime_t expires;
	ktime_t softexpires;
	enum hrtimer_restart (*function)(struct hrtimer *);
	void *base;
	u8 state, is_rel, is_soft, is_hard;
};
_Static_assert(sizeof(struct hrtimer) == 40, "struct hrtimer is 40 bytes on Linux 6.1 i386");

void hrtimer_init(struct hrtimer *timer, int which_clock, enum hrtimer_mode mode);
void hrtimer_start_range_ns(struct hrtimer *timer, ktime_t tim, u64 range_ns, const enum hrtimer_mode mode);
static inline void hrtimer_start(struct hrtimer *timer, ktime_t tim, const enum hrtimer_mode mode)
{
	hrtimer_start_range_ns(timer, tim, 0, mode);
}
int hrtimer_cancel(struct hrtimer *timer);
int hrtimer_try_to_cancel(struct hrtimer *timer);
bool hrtimer_active(const struct hrtimer *timer);
u64 hrtimer_forward(struct hrtimer *timer, ktime_t now, ktime_t interval);
ktime_t __hrtimer_get_remaining(const struct hrtimer *timer, bool adjust);
ktime_t ktime_get(void);
static inline int hrtimer_is_queued(struct hrtimer *timer) { return timer->state & 1; }
#endif
