/* pefwd: a PE library whose export pefwd_print is a forwarder to the
 * kernel's printk (kernel.printk), and pefwd_self one to its own export
 * (pefwd.pefwd_answer). Console on load: "pefwd: ready". */
// pe-forward: pefwd_print=kernel.printk
// pe-forward: pefwd_self=pefwd.pefwd_answer
#include <kernel.h>

int pefwd_answer(void)
{
	return 42;
}
EXPORT_SYMBOL(pefwd_answer);

static int __init pefwd_init(void)
{
	pr_info("pefwd: ready\n");
	return 0;
}

module_init(pefwd_init);
MODULE_LICENSE("GPL");
