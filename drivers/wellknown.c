/* wellknown: a hobby-OS style driver with no module_init. The kernel finds
 * its entry points by name (the well-known names table): irqhandler is put
 * on an IRQ line, opendevice/readdevice/writedevice make /dev/wellknown. */
#include <kernel.h>

static unsigned int interrupts;
static char last[32];
static int last_length;

int irqhandler(int irq, void *dev)
{
	(void)irq;
	(void)dev;
	interrupts++;
	return IRQ_HANDLED;
}

int opendevice(void)
{
	return 0;
}

int readdevice(char *buf, int count)
{
	return snprintf(buf, count, "irqs=%u last=%s", interrupts, last_length ? last : "-");
}

int writedevice(const char *buf, int count)
{
	if (count > (int)sizeof(last) - 1)
		count = sizeof(last) - 1;
	memcpy(last, buf, count);
	last[count] = 0;
	last_length = count;
	return count;
}

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Entry points found by well-known names");
