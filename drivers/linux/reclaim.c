/* A cache the kernel may shrink, a note left on the panic notifier chain, a CPU hotplug state.
 *
 * init fills the cache with `objects` entries (a parameter-like global)
 * and registers a shrinker named "reclaim-cache": count_objects reports
 * what is left, scan_objects frees up to nr_to_scan and counts its calls.
 * It also registers on panic_notifier_list; reclaim_panic() panics, and
 * the notifier copies the panic message into `last_panic`. With
 * forget_panic_note set, exit leaves the block on the chain (a leak).
 * A dynamic CPU hotplug state counts the CPUs that came online and went.
 */
#define KBUILD_MODNAME reclaim
#include "linux_reclaim.h"

unsigned long objects = 300;
int scans, counts;
unsigned long last_batch;
char last_panic[64];
unsigned long last_action = 99;

static unsigned long cache_count(struct shrinker *s, struct shrink_control *sc)
{
	(void)s;
	(void)sc;
	counts++;
	return objects ? objects : SHRINK_EMPTY;
}

static unsigned long cache_scan(struct shrinker *s, struct shrink_control *sc)
{
	unsigned long freed = sc->nr_to_scan < objects ? sc->nr_to_scan : objects;

	(void)s;
	scans++;
	last_batch = sc->nr_to_scan;
	objects -= freed;
	return freed;
}

static struct shrinker cache_shrinker = {
	.count_objects = cache_count,
	.scan_objects = cache_scan,
	.batch = 64,
	.seeks = DEFAULT_SEEKS,
};

static int on_panic(struct notifier_block *nb, unsigned long action, void *data)
{
	const char *text = data;
	int i;

	(void)nb;
	last_action = action;
	for (i = 0; i < 63 && text && text[i]; i++)
		last_panic[i] = text[i];
	last_panic[i] = 0;
	return NOTIFY_DONE;
}

static struct notifier_block panic_note = { .notifier_call = on_panic };

int hp_state, cpus_online, cpus_down;

static int cpu_online(unsigned int cpu)
{
	cpus_online += 1 + (int)cpu;
	return 0;
}

static int cpu_down(unsigned int cpu)
{
	cpus_down += 1 + (int)cpu;
	return 0;
}

void reclaim_panic(int code)
{
	panic("reclaim: code %d", code);
}

static int __init reclaim_init(void)
{
	int err = register_shrinker(&cache_shrinker, "reclaim-%s", "cache");

	if (err)
		return err;
	atomic_notifier_chain_register(&panic_notifier_list, &panic_note);
	hp_state = __cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "reclaim:online", true, cpu_online, cpu_down, false);
	if (hp_state < 0) {
		atomic_notifier_chain_unregister(&panic_notifier_list, &panic_note);
		unregister_shrinker(&cache_shrinker);
		return hp_state;
	}
	return 0;
}

int forget_panic_note;

static void __exit reclaim_exit(void)
{
	__cpuhp_remove_state(hp_state, true);
	if (!forget_panic_note)
		atomic_notifier_chain_unregister(&panic_notifier_list, &panic_note);
	unregister_shrinker(&cache_shrinker);
}

module_init(reclaim_init);
module_exit(reclaim_exit);
MODULE_LICENSE("GPL");
