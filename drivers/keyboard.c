/* keyboard: an i8042 keyboard driver (ports 0x60/0x64, IRQ 1).
 * The handler reads one scancode per interrupt (after checking the status
 * register's OBF bit), tracks the shift keys, translates set-1 make codes of
 * letters, digits, space and enter (and their shifted forms) to ASCII, and
 * stores the characters in a buffer that kbd_read() empties.
 * Console on load: "keyboard: ready on IRQ 1". */
#include <kernel.h>

#define KBD_DATA 0x60
#define KBD_STATUS 0x64
#define KBD_IRQ 1
#define KBD_STAT_OBF 0x01

#define SC_LSHIFT 0x2A
#define SC_RSHIFT 0x36
#define SC_RELEASE 0x80

#define BUF_SIZE 128 /* a power of two */

static const char keymap[2][0x3A] = {
	{
		[0x02] = '1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
		[0x10] = 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p',
		[0x1C] = '\n',
		[0x1E] = 'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l',
		[0x2C] = 'z', 'x', 'c', 'v', 'b', 'n', 'm',
		[0x39] = ' ',
	},
	{
		[0x02] = '!', '@', '#', '$', '%', '^', '&', '*', '(', ')',
		[0x10] = 'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P',
		[0x1C] = '\n',
		[0x1E] = 'A', 'S', 'D', 'F', 'G', 'H', 'J', 'K', 'L',
		[0x2C] = 'Z', 'X', 'C', 'V', 'B', 'N', 'M',
		[0x39] = ' ',
	},
};

struct kbd_state {
	spinlock_t lock;
	char buf[BUF_SIZE];
	unsigned int head, tail;
	unsigned int shift; /* bit 0: left shift down, bit 1: right shift down */
	unsigned int ignored; /* scancodes with no character (other keys) */
};

static struct kbd_state kbd;

static irqreturn_t kbd_interrupt(int irq, void *dev_id)
{
	struct kbd_state *s = dev_id;
	unsigned char sc;
	char c = 0;

	(void)irq;
	if (!(inb(KBD_STATUS) & KBD_STAT_OBF))
		return IRQ_NONE;
	sc = inb(KBD_DATA);
	spin_lock(&s->lock);
	if ((sc & ~SC_RELEASE) == SC_LSHIFT || (sc & ~SC_RELEASE) == SC_RSHIFT) {
		unsigned int bit = (sc & ~SC_RELEASE) == SC_LSHIFT ? 1 : 2;

		if (sc & SC_RELEASE)
			s->shift &= ~bit;
		else
			s->shift |= bit;
	} else if (!(sc & SC_RELEASE)) {
		if (sc < sizeof(keymap[0]))
			c = keymap[s->shift ? 1 : 0][sc];
		if (c && s->head - s->tail < BUF_SIZE)
			s->buf[s->head++ & (BUF_SIZE - 1)] = c;
		else
			s->ignored++;
	}
	spin_unlock(&s->lock);
	return IRQ_HANDLED;
}

int kbd_read(char *buf, int n)
{
	unsigned long flags;
	int count = 0;

	spin_lock_irqsave(&kbd.lock, flags);
	while (count < n && kbd.tail != kbd.head)
		buf[count++] = kbd.buf[kbd.tail++ & (BUF_SIZE - 1)];
	spin_unlock_irqrestore(&kbd.lock, flags);
	return count;
}
EXPORT_SYMBOL(kbd_read);

static int __init kbd_init(void)
{
	int err, i;

	spin_lock_init(&kbd.lock);
	err = request_irq(KBD_IRQ, kbd_interrupt, 0, "keyboard", &kbd);
	if (err) {
		pr_err("keyboard: request_irq failed: %d\n", err);
		return err;
	}
	/* Drop anything left in the output buffer from before. */
	for (i = 0; i < 16 && (inb(KBD_STATUS) & KBD_STAT_OBF); i++)
		inb(KBD_DATA);
	pr_info("keyboard: ready on IRQ %d\n", KBD_IRQ);
	return 0;
}

static void __exit kbd_exit(void)
{
	free_irq(KBD_IRQ, &kbd);
}

module_init(kbd_init);
module_exit(kbd_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("i8042 keyboard, set-1 scancodes to ASCII");
