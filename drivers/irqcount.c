/* irqcount: counts interrupts on IRQ 5 (shared line).
 * Console: "irqcount: handler on IRQ 5 ready" on load,
 *          "irqcount: saw %u interrupt(s)" on unload.
 */
#include <kernel.h>

#define IRQCOUNT_LINE 5

struct irqcount_dev {
	spinlock_t lock;
	unsigned int count;
};

static struct irqcount_dev dev;

static irqreturn_t irqcount_handler(int irq, void *dev_id)
{
	struct irqcount_dev *d = dev_id;
	unsigned long flags;

	if (irq != IRQCOUNT_LINE || d != &dev)
		return IRQ_NONE;
	spin_lock_irqsave(&d->lock, flags);
	d->count++;
	spin_unlock_irqrestore(&d->lock, flags);
	return IRQ_HANDLED;
}

unsigned int irqcount_get(void)
{
	return dev.count;
}
EXPORT_SYMBOL(irqcount_get);

void irqcount_reset(void)
{
	unsigned long flags;

	spin_lock_irqsave(&dev.lock, flags);
	dev.count = 0;
	spin_unlock_irqrestore(&dev.lock, flags);
}
EXPORT_SYMBOL(irqcount_reset);

static int __init irqcount_init(void)
{
	int err;

	spin_lock_init(&dev.lock);
	err = request_irq(IRQCOUNT_LINE, irqcount_handler, IRQF_SHARED, "irqcount", &dev);
	if (err) {
		pr_err("irqcount: request_irq failed: %d\n", err);
		return err;
	}
	pr_info("irqcount: handler on IRQ %d ready\n", IRQCOUNT_LINE);
	return 0;
}

static void __exit irqcount_exit(void)
{
	free_irq(IRQCOUNT_LINE, &dev);
	pr_info("irqcount: saw %u interrupt(s)\n", dev.count);
}

module_init(irqcount_init);
module_exit(irqcount_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Counts interrupts on a shared line");
