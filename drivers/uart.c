/* uart: a 16550 driver for COM1 (port 0x3F8, IRQ 4).
 * Init checks the scratch register, programs the baud rate through the
 * divisor latch (module parameter "baud", default 115200), 8N1, FIFO with a
 * 14-byte trigger, DTR|RTS|OUT2 (OUT2 lets the interrupt reach the PIC), and
 * enables the received-data and line-status interrupts. The handler drains
 * RBR while LSR.DR into a ring buffer; uart_read() takes bytes from it and
 * uart_write() transmits, polling LSR.THRE before each byte.
 * Console on load: "uart: COM1 at %d baud (divisor %u)". */
#include <kernel.h>

#define UART_BASE 0x3F8
#define UART_IRQ 4
#define UART_CLOCK_BAUD 115200

#define UART_RBR 0 /* receive buffer (read, DLAB=0) */
#define UART_THR 0 /* transmit holding (write, DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1 /* interrupt enable (DLAB=0) */
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_IIR 2 /* interrupt identification (read) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define UART_IER_RDI 0x01
#define UART_IER_RLSI 0x04
#define UART_IIR_NO_INT 0x01
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_TRIGGER_14 0xC0
#define UART_LCR_WLEN8 0x03
#define UART_LCR_DLAB 0x80
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08
#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_THRE 0x20

#define RING_SIZE 256 /* a power of two: indexes wrap with a mask */
#define THRE_SPINS 100000

struct uart_port {
	spinlock_t lock;
	unsigned char ring[RING_SIZE];
	unsigned int head; /* next slot the handler fills */
	unsigned int tail; /* next byte uart_read takes */
	unsigned int dropped; /* bytes lost because the ring was full */
	unsigned int overruns; /* LSR.OE seen: bytes the UART itself lost */
};

static struct uart_port port;

static int baud = UART_CLOCK_BAUD;
module_param(baud, int, 0444);
MODULE_PARM_DESC(baud, "line speed, a divisor of 115200");

static irqreturn_t uart_interrupt(int irq, void *dev_id)
{
	struct uart_port *p = dev_id;
	unsigned char lsr;

	(void)irq;
	if (inb(UART_BASE + UART_IIR) & UART_IIR_NO_INT)
		return IRQ_NONE;
	spin_lock(&p->lock);
	while ((lsr = inb(UART_BASE + UART_LSR)) & (UART_LSR_DR | UART_LSR_OE)) {
		if (lsr & UART_LSR_OE)
			p->overruns++;
		if (!(lsr & UART_LSR_DR))
			continue;
		unsigned char c = inb(UART_BASE + UART_RBR);
		if (p->head - p->tail < RING_SIZE)
			p->ring[p->head++ & (RING_SIZE - 1)] = c;
		else
			p->dropped++;
	}
	spin_unlock(&p->lock);
	return IRQ_HANDLED;
}

int uart_read(char *buf, int n)
{
	unsigned long flags;
	int count = 0;

	spin_lock_irqsave(&port.lock, flags);
	while (count < n && port.tail != port.head)
		buf[count++] = port.ring[port.tail++ & (RING_SIZE - 1)];
	spin_unlock_irqrestore(&port.lock, flags);
	return count;
}
EXPORT_SYMBOL(uart_read);

int uart_write(const char *buf, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		int spins = 0;

		while (!(inb(UART_BASE + UART_LSR) & UART_LSR_THRE))
			if (++spins == THRE_SPINS)
				return i ? i : -EIO;
		outb(buf[i], UART_BASE + UART_THR);
	}
	return n;
}
EXPORT_SYMBOL(uart_write);

unsigned int uart_overruns(void)
{
	return port.overruns;
}
EXPORT_SYMBOL(uart_overruns);

static int __init uart_init(void)
{
	unsigned int divisor;
	int err;

	if (baud <= 0 || baud > UART_CLOCK_BAUD || UART_CLOCK_BAUD % baud) {
		pr_err("uart: unsupported baud rate %d\n", baud);
		return -EINVAL;
	}
	outb(0x5A, UART_BASE + UART_SCR);
	if (inb(UART_BASE + UART_SCR) != 0x5A) {
		pr_err("uart: no UART at %#x\n", UART_BASE);
		return -ENODEV;
	}
	divisor = UART_CLOCK_BAUD / baud;
	spin_lock_init(&port.lock);
	outb(0, UART_BASE + UART_IER);
	outb(UART_LCR_DLAB, UART_BASE + UART_LCR);
	outb(divisor & 0xFF, UART_BASE + UART_DLL);
	outb(divisor >> 8, UART_BASE + UART_DLM);
	outb(UART_LCR_WLEN8, UART_BASE + UART_LCR);
	outb(UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT | UART_FCR_TRIGGER_14, UART_BASE + UART_FCR);
	outb(UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2, UART_BASE + UART_MCR);
	err = request_irq(UART_IRQ, uart_interrupt, 0, "uart", &port);
	if (err) {
		pr_err("uart: request_irq failed: %d\n", err);
		return err;
	}
	outb(UART_IER_RDI | UART_IER_RLSI, UART_BASE + UART_IER);
	pr_info("uart: COM1 at %d baud (divisor %u)\n", baud, divisor);
	return 0;
}

static void __exit uart_exit(void)
{
	outb(0, UART_BASE + UART_IER);
	outb(0, UART_BASE + UART_MCR);
	free_irq(UART_IRQ, &port);
}

module_init(uart_init);
module_exit(uart_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("16550 UART on COM1, interrupt-driven receive");
