/* A loopback tty driver with two lines, /dev/ttydemo0 and /dev/ttydemo1, each with a tty_port.
 *
 * What is written to a line comes back as input: line 0 queues it with tty_insert_flip_string,
 * line 1 a byte at a time with the inline tty_insert_flip_char; both push the flip buffer.
 * set_termios records the speed the line asks for and clamps it to 115200 (written back with
 * tty_encode_baud_rate); the port's activate/shutdown/dtr_rts count what the core asks of them.
 * ttydemo_receive() injects input as a UART's interrupt would (flagged as a break if asked).
 * The module also registers a line discipline, "ttydemo-upper" (N_DEVELOPMENT, 29): N_TTY's ops
 * (n_tty_inherit_ops) with a receive_buf2 that upper-cases letters before N_TTY sees them.
 */
#define KBUILD_MODNAME ttydemo
#include "linux_tty.h"

#define LINES 2
#define MAX_BAUD 115200

static struct tty_driver *demo_driver;
static struct tty_port demo_ports[LINES];

unsigned int ttydemo_last_baud, ttydemo_old_baud, ttydemo_set_termios_calls;
unsigned int ttydemo_activations, ttydemo_shutdowns, ttydemo_dtr, ttydemo_opens, ttydemo_closes;
unsigned int ttydemo_written, ttydemo_mctrl = TIOCM_DTR | TIOCM_RTS;

static int demo_activate(struct tty_port *port, struct tty_struct *tty)
{
	(void)port;
	(void)tty;
	ttydemo_activations++;
	return 0;
}

static void demo_shutdown(struct tty_port *port)
{
	(void)port;
	ttydemo_shutdowns++;
}

static void demo_dtr_rts(struct tty_port *port, int raise)
{
	(void)port;
	ttydemo_dtr = raise;
}

static const struct tty_port_operations demo_port_ops = {
	.activate = demo_activate,
	.shutdown = demo_shutdown,
	.dtr_rts = demo_dtr_rts,
};

static int demo_install(struct tty_driver *driver, struct tty_struct *tty)
{
	return tty_port_install(&demo_ports[tty->index], driver, tty);
}

static int demo_open(struct tty_struct *tty, struct file *filp)
{
	ttydemo_opens++;
	tty->driver_data = &demo_ports[tty->index];
	return tty_port_open(tty->port, tty, filp);
}

static void demo_close(struct tty_struct *tty, struct file *filp)
{
	ttydemo_closes++;
	tty_port_close(tty->port, tty, filp);
}

static void loop_back(struct tty_port *port, int line, const unsigned char *buf, int count)
{
	int i;

	if (line == 0) {
		tty_insert_flip_string(port, buf, count);
	} else {
		for (i = 0; i < count; i++)
			tty_insert_flip_char(port, buf[i], TTY_NORMAL);
	}
	tty_flip_buffer_push(port);
}

static int demo_write(struct tty_struct *tty, const unsigned char *buf, int count)
{
	ttydemo_written += count;
	loop_back(tty->port, tty->index, buf, count);
	return count;
}

static unsigned int demo_write_room(struct tty_struct *tty)
{
	(void)tty;
	return 512;
}

static void demo_set_termios(struct tty_struct *tty, const struct ktermios *old)
{
	unsigned int baud = tty_termios_baud_rate(&tty->termios);

	ttydemo_set_termios_calls++;
	ttydemo_old_baud = old ? tty_termios_baud_rate(old) : 0;
	ttydemo_last_baud = baud;
	if (baud > MAX_BAUD)
		tty_encode_baud_rate(tty, MAX_BAUD, MAX_BAUD);
}

static int demo_tiocmget(struct tty_struct *tty)
{
	(void)tty;
	return ttydemo_mctrl | TIOCM_CTS | TIOCM_CAR | TIOCM_DSR;
}

static int demo_tiocmset(struct tty_struct *tty, unsigned int set, unsigned int clear)
{
	(void)tty;
	ttydemo_mctrl = (ttydemo_mctrl | set) & ~clear;
	return 0;
}

unsigned int ttydemo_stops, ttydemo_starts;

static void demo_stop(struct tty_struct *tty)
{
	(void)tty;
	ttydemo_stops++;
}

static void demo_start(struct tty_struct *tty)
{
	(void)tty;
	ttydemo_starts++;
}

static void demo_hangup(struct tty_struct *tty)
{
	tty_port_hangup(tty->port);
}

static const struct tty_operations demo_ops = {
	.install = demo_install,
	.open = demo_open,
	.close = demo_close,
	.write = demo_write,
	.write_room = demo_write_room,
	.set_termios = demo_set_termios,
	.tiocmget = demo_tiocmget,
	.tiocmset = demo_tiocmset,
	.stop = demo_stop,
	.start = demo_start,
	.hangup = demo_hangup,
};

/* Input from the "wire", as an interrupt handler would queue it. */
int ttydemo_receive(int line, const unsigned char *data, int count, int is_break)
{
	struct tty_port *port = &demo_ports[line];
	int queued;

	if (is_break)
		queued = tty_insert_flip_char(port, 0, TTY_BREAK);
	else
		queued = tty_insert_flip_string(port, data, count);
	tty_flip_buffer_push(port);
	return queued;
}

/* The carrier dropped: hang the line up (queued, as from an interrupt). */
void ttydemo_carrier_lost(int line)
{
	tty_port_tty_hangup(&demo_ports[line], false);
}

#define N_DEVELOPMENT 29
#define UPPER_CHUNK 64
static struct tty_ldisc_ops upper_ldisc;
static int (*n_tty_receive_buf2)(struct tty_struct *tty, const unsigned char *cp, const char *fp, int count);
unsigned int ttydemo_upper_received;

static int upper_receive_buf2(struct tty_struct *tty, const unsigned char *cp, const char *fp, int count)
{
	unsigned char chunk[UPPER_CHUNK];
	int i, n = count < UPPER_CHUNK ? count : UPPER_CHUNK, taken;

	for (i = 0; i < n; i++)
		chunk[i] = cp[i] >= 'a' && cp[i] <= 'z' ? cp[i] - 'a' + 'A' : cp[i];
	taken = n_tty_receive_buf2(tty, chunk, fp, n);
	ttydemo_upper_received += taken;
	return taken;
}

static int __init ttydemo_init(void)
{
	struct tty_driver *driver;
	int i, err;

	driver = tty_alloc_driver(LINES, TTY_DRIVER_REAL_RAW | TTY_DRIVER_DYNAMIC_DEV);
	if ((unsigned long)driver >= (unsigned long)-4095)
		return (int)(long)driver;
	driver->driver_name = "ttydemo";
	driver->name = "ttydemo";
	driver->type = TTY_DRIVER_TYPE_SERIAL;
	driver->subtype = SERIAL_TYPE_NORMAL;
	driver->init_termios = tty_std_termios;
	driver->init_termios.c_cflag = B9600 | CS8 | CREAD | HUPCL | CLOCAL;
	driver->init_termios.c_ispeed = driver->init_termios.c_ospeed = 9600;
	tty_set_operations(driver, &demo_ops);
	for (i = 0; i < LINES; i++) {
		tty_port_init(&demo_ports[i]);
		demo_ports[i].ops = &demo_port_ops;
	}
	err = tty_register_driver(driver);
	if (err)
		goto fail;
	for (i = 0; i < LINES; i++)
		tty_port_register_device(&demo_ports[i], driver, i, NULL);
	demo_driver = driver;
	n_tty_inherit_ops(&upper_ldisc);
	n_tty_receive_buf2 = upper_ldisc.receive_buf2;
	upper_ldisc.name = "ttydemo-upper";
	upper_ldisc.num = N_DEVELOPMENT;
	upper_ldisc.receive_buf2 = upper_receive_buf2;
	err = tty_register_ldisc(&upper_ldisc);
	if (err)
		goto fail_ldisc;
	pr_info("ttydemo: %d loopback lines, major %d\n", LINES, driver->major);
	return 0;
fail_ldisc:
	for (i = 0; i < LINES; i++)
		tty_unregister_device(driver, i);
	tty_unregister_driver(driver);
fail:
	for (i = 0; i < LINES; i++)
		tty_port_destroy(&demo_ports[i]);
	tty_driver_kref_put(driver);
	return err;
}

static void __exit ttydemo_exit(void)
{
	int i;

	tty_unregister_ldisc(&upper_ldisc);
	for (i = 0; i < LINES; i++)
		tty_unregister_device(demo_driver, i);
	tty_unregister_driver(demo_driver);
	tty_driver_kref_put(demo_driver);
	for (i = 0; i < LINES; i++)
		tty_port_destroy(&demo_ports[i]);
}

module_init(ttydemo_init);
module_exit(ttydemo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Loopback tty lines with tty_port and flip buffers");
