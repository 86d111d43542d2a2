/* heartbeat: a kernel timer re-armed every period_ms milliseconds
 * (module parameter, default 100 = HZ/10 jiffies) that counts beats.
 * heartbeat_beats() returns the count; exit deletes the timer.
 * Console on unload: "heartbeat: %u beat(s)". */
#include <kernel.h>

struct heartbeat {
	struct timer_list timer;
	unsigned long period; /* jiffies */
	unsigned int beats;
};

static struct heartbeat hb;

static int period_ms = 1000 / 10;
module_param(period_ms, int, 0444);
MODULE_PARM_DESC(period_ms, "milliseconds between beats");

static void heartbeat_tick(struct timer_list *t)
{
	struct heartbeat *h = from_timer(h, t, timer);

	h->beats++;
	mod_timer(&h->timer, jiffies + h->period);
}

unsigned int heartbeat_beats(void)
{
	return hb.beats;
}
EXPORT_SYMBOL(heartbeat_beats);

static int __init heartbeat_init(void)
{
	if (period_ms <= 0)
		return -EINVAL;
	hb.period = msecs_to_jiffies(period_ms);
	timer_setup(&hb.timer, heartbeat_tick, 0);
	mod_timer(&hb.timer, jiffies + hb.period);
	return 0;
}

static void __exit heartbeat_exit(void)
{
	del_timer_sync(&hb.timer);
	pr_info("heartbeat: %u beat(s)\n", hb.beats);
}

module_init(heartbeat_init);
module_exit(heartbeat_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Counts beats of a periodic kernel timer");
