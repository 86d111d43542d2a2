/* Shrinkers, the panic notifier chain and CPU hotplug states of Linux 6.1 i386, for the project's sample drivers. */
#ifndef SANDBOX_LINUX_RECLAIM_H
#define SANDBOX_LINUX_RECLAIM_H
#include "linux_module.h"

struct list_head { struct list_head *next, *prev; };

/* struct shrink_control, 20 bytes: what reclaim asks a shrinker for. */
struct shrink_control {
	gfp_t gfp_mask;
	int nid;
	unsigned long nr_to_scan;
	unsigned long nr_scanned;
	void *memcg;
};
_Static_assert(sizeof(struct shrink_control) == 20, "struct shrink_control is 20 bytes on Linux 6.1 i386");

#define SHRINK_STOP (~0UL)
#define SHRINK_EMPTY (~0UL - 1)
#define DEFAULT_SEEKS 2

/* struct shrinker, 36 bytes. */
struct shrinker {
	unsigned long (*count_objects)(struct shrinker *, struct shrink_control *sc);
	unsigned long (*scan_objects)(struct shrinker *, struct shrink_control *sc);
	long batch;
	int seeks;
	unsigned flags;
	struct list_head list;
	int id;
	long *nr_deferred;
};
_Static_assert(sizeof(struct shrinker) == 36, "struct shrinker is 36 bytes on Linux 6.1 i386");

int register_shrinker(struct shrinker *shrinker, const char *fmt, ...) __attribute__((regparm(0)));
void unregister_shrinker(struct shrinker *shrinker);

/* struct notifier_block, 12 bytes; struct atomic_notifier_head, 8 bytes (spinlock, head). */
struct notifier_block {
	int (*notifier_call)(struct notifier_block *nb, unsigned long action, void *data);
	struct notifier_block *next;
	int priority;
};
struct atomic_notifier_head { u32 lock; struct notifier_block *head; };
#define NOTIFY_DONE 0

extern struct atomic_notifier_head panic_notifier_list;
int atomic_notifier_chain_register(struct atomic_notifier_head *nh, struct notifier_block *nb);
int atomic_notifier_chain_unregister(struct atomic_notifier_head *nh, struct notifier_block *nb);
void panic(const char *fmt, ...) __attribute__((noreturn, regparm(0)));

/* CPU hotplug states (enum cpuhp_state values of Debian's 686 kernel). */
#define CPUHP_AP_ONLINE_DYN 201
int __cpuhp_setup_state(int state, const char *name, bool invoke, int (*startup)(unsigned int cpu),
                        int (*teardown)(unsigned int cpu), bool multi_instance);
void __cpuhp_remove_state(int state, bool invoke);

#endif
