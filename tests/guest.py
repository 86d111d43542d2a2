"""Guest C sources shared by the device tests: register access from real guest code."""

# Port and MMIO accessors, plus interrupt-flag games, callable from Python.
PIO = r"""
#include <kernel.h>

unsigned int read8(unsigned int port) { return inb(port); }
void write8(unsigned int port, unsigned int v) { outb(v, port); }
unsigned int mmio_read32(unsigned int addr) { return readl((void *)addr); }
unsigned int mmio_read8(unsigned int addr) { return readb((void *)addr); }
void mmio_write32(unsigned int addr, unsigned int v) { writel(v, (void *)addr); }
void mmio_write16(unsigned int addr, unsigned int v) { writew(v, (void *)addr); }
unsigned int map(unsigned int phys, unsigned int size) { return (unsigned int)ioremap(phys, size); }

static unsigned int count;
static irqreturn_t counting(int irq, void *dev_id) { (void)irq; (void)dev_id; count++; return IRQ_HANDLED; }
int hook(unsigned int line) { return request_irq(line, counting, IRQF_SHARED, "pio", &count); }
void unhook(unsigned int line) { free_irq(line, &count); }
unsigned int irq_count(void) { return count; }

/* Write to a port with interrupts off; report the count seen before
 * re-enabling (tens) and after (units). */
unsigned int write8_irqs_off(unsigned int port, unsigned int v)
{
	unsigned long flags;
	unsigned int before;

	local_irq_save(flags);
	outb(v, port);
	before = count;
	local_irq_restore(flags);
	return before * 10 + count;
}

static DEFINE_SPINLOCK(lock);
unsigned int write8_locked(unsigned int port, unsigned int v)
{
	unsigned long flags;
	unsigned int before;

	spin_lock_irqsave(&lock, flags);
	outb(v, port);
	before = count;
	spin_unlock_irqrestore(&lock, flags);
	return before * 10 + count;
}
"""
