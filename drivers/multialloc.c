/* multialloc: an init with three allocations and an IRQ, written the way
 * drivers often get their error paths wrong. With careful=1 (the default)
 * every failure unwinds; careful=0 leaks the first buffer when the second
 * allocation fails. Used by the fault-injection tests. */
#include <kernel.h>

static bool careful = 1;
module_param(careful, bool, 0444);

static char *rx, *tx;
static int *table;
static int dev;

static irqreturn_t multialloc_irq(int irq, void *d)
{
	(void)irq;
	(void)d;
	return IRQ_HANDLED;
}

static int __init multialloc_init(void)
{
	int err;

	rx = kmalloc(64, GFP_KERNEL);
	if (!rx)
		return -ENOMEM;
	tx = kmalloc(64, GFP_KERNEL);
	if (!tx) {
		if (careful)
			kfree(rx);
		return -ENOMEM;
	}
	table = kcalloc(16, sizeof(int), GFP_KERNEL);
	if (!table) {
		err = -ENOMEM;
		goto free_tx;
	}
	err = request_irq(9, multialloc_irq, 0, "multialloc", &dev);
	if (err)
		goto free_table;
	pr_info("multialloc: ready\n");
	return 0;

free_table:
	kfree(table);
free_tx:
	kfree(tx);
	kfree(rx);
	return err;
}

static void __exit multialloc_exit(void)
{
	free_irq(9, &dev);
	kfree(table);
	kfree(tx);
	kfree(rx);
}

module_init(multialloc_init);
module_exit(multialloc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Error paths for fault injection");
