/* A periodic high-resolution timer: every 3 ms the callback counts and forwards itself.
 *
 * init starts it (relative, soft); hrtick_stop() cancels it and returns
 * whether it was queued; a one-shot timer 10 ms out checks ABS mode. With
 * forget_to_cancel set, exit leaves both queued (a leak the unload reports).
 */
#define KBUILD_MODNAME hrtick
#include "linux_hrtimer.h"

#define PERIOD_NS 3000000LL

static struct hrtimer periodic, oneshot;
int ticks, oneshot_fired;
u64 overruns;
ktime_t oneshot_at;

static enum hrtimer_restart periodic_fn(struct hrtimer *t)
{
	ticks++;
	overruns += hrtimer_forward(t, ktime_get(), PERIOD_NS);
	return HRTIMER_RESTART;
}

static enum hrtimer_restart oneshot_fn(struct hrtimer *t)
{
	(void)t;
	oneshot_fired++;
	oneshot_at = ktime_get();
	return HRTIMER_NORESTART;
}

int hrtick_stop(void) { return hrtimer_cancel(&periodic); }
int hrtick_queued(void) { return hrtimer_is_queued(&periodic); }
int oneshot_queued(void) { return hrtimer_active(&oneshot); }
long long oneshot_remaining(void) { return __hrtimer_get_remaining(&oneshot, 0); }

static int __init hrtick_init(void)
{
	hrtimer_init(&periodic, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	periodic.function = periodic_fn;
	hrtimer_start(&periodic, PERIOD_NS, HRTIMER_MODE_REL_SOFT);
	hrtimer_init(&oneshot, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	oneshot.function = oneshot_fn;
	hrtimer_start(&oneshot, ktime_get() + 10000000LL, HRTIMER_MODE_ABS);
	return 0;
}

int forget_to_cancel;

static void __exit hrtick_exit(void)
{
	if (forget_to_cancel)
		return;
	hrtimer_cancel(&periodic);
	hrtimer_cancel(&oneshot);
}

module_init(hrtick_init);
module_exit(hrtick_exit);
MODULE_LICENSE("GPL");
