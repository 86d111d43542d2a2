/* The TTY layer of Linux 6.1 i386 (tty drivers, ports, flip buffers), for the project's sample drivers.
 *
 * The structs a driver fills or reads have Linux's i386 layout (the sizes and offsets are
 * checked below against the kernel's own DWARF figures); the rest of each struct is padding.
 * tty_insert_flip_char is Linux's inline: it writes into the port's tail buffer itself.
 */
#ifndef SANDBOX_LINUX_TTY_H
#define SANDBOX_LINUX_TTY_H
#include "linux_module.h"

struct device;
struct file;
struct module;
struct tty_struct;
struct tty_driver;
typedef unsigned int speed_t;
typedef unsigned int tcflag_t;
typedef unsigned char cc_t;

struct ktermios {
	tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
	cc_t c_line;
	cc_t c_cc[19];
	speed_t c_ispeed, c_ospeed;
};
_Static_assert(sizeof(struct ktermios) == 44, "struct ktermios is 44 bytes");

#define CBAUD 0010017
#define B9600 0000015
#define B38400 0000017
#define CS8 0000060
#define CREAD 0000200
#define HUPCL 0002000
#define CLOCAL 0004000
#define TTY_DRIVER_TYPE_SERIAL 0x0003
#define SERIAL_TYPE_NORMAL 1
#define TTY_DRIVER_REAL_RAW 0x0004
#define TTY_DRIVER_DYNAMIC_DEV 0x0008
#define TTY_NORMAL 0
#define TTY_BREAK 1
#define TIOCM_DTR 0x002
#define TIOCM_RTS 0x004
#define TIOCM_CTS 0x020
#define TIOCM_CAR 0x040
#define TIOCM_DSR 0x100

struct tty_operations {
	struct tty_struct *(*lookup)(struct tty_driver *driver, struct file *filp, int idx);
	int (*install)(struct tty_driver *driver, struct tty_struct *tty);
	void (*remove)(struct tty_driver *driver, struct tty_struct *tty);
	int (*open)(struct tty_struct *tty, struct file *filp);
	void (*close)(struct tty_struct *tty, struct file *filp);
	void (*shutdown)(struct tty_struct *tty);
	void (*cleanup)(struct tty_struct *tty);
	int (*write)(struct tty_struct *tty, const unsigned char *buf, int count);
	int (*put_char)(struct tty_struct *tty, unsigned char ch);
	void (*flush_chars)(struct tty_struct *tty);
	unsigned int (*write_room)(struct tty_struct *tty);
	unsigned int (*chars_in_buffer)(struct tty_struct *tty);
	int (*ioctl)(struct tty_struct *tty, unsigned int cmd, unsigned long arg);
	long (*compat_ioctl)(struct tty_struct *tty, unsigned int cmd, unsigned long arg);
	void (*set_termios)(struct tty_struct *tty, const struct ktermios *old);
	void (*throttle)(struct tty_struct *tty);
	void (*unthrottle)(struct tty_struct *tty);
	void (*stop)(struct tty_struct *tty);
	void (*start)(struct tty_struct *tty);
	void (*hangup)(struct tty_struct *tty);
	int (*break_ctl)(struct tty_struct *tty, int state);
	void (*flush_buffer)(struct tty_struct *tty);
	int (*ldisc_ok)(struct tty_struct *tty, int ldisc);
	void (*set_ldisc)(struct tty_struct *tty);
	void (*wait_until_sent)(struct tty_struct *tty, int timeout);
	void (*send_xchar)(struct tty_struct *tty, char ch);
	int (*tiocmget)(struct tty_struct *tty);
	int (*tiocmset)(struct tty_struct *tty, unsigned int set, unsigned int clear);
	void *resize, *get_icount, *get_serial, *set_serial, *show_fdinfo, *proc_show;
};
_Static_assert(sizeof(struct tty_operations) == 136, "struct tty_operations is 136 bytes");

struct tty_driver {
	int kref;
	void **cdevs;
	struct module *owner;
	const char *driver_name;
	const char *name;
	int name_base;
	int major;
	int minor_start;
	unsigned int num;
	short type;
	short subtype;
	struct ktermios init_termios;
	unsigned long flags;
	void *proc_entry;
	struct tty_driver *other;
	struct tty_struct **ttys;
	struct tty_port **ports;
	struct ktermios **termios;
	void *driver_state;
	const struct tty_operations *ops;
	void *tty_drivers[2];
};
_Static_assert(sizeof(struct tty_driver) == 124, "struct tty_driver is 124 bytes");
_Static_assert(__builtin_offsetof(struct tty_driver, ops) == 112, "tty_driver.ops at 112");

/* struct tty_buffer: its characters follow it (Linux's data[]), then (when flags) one flag byte each. */
struct tty_buffer {
	struct tty_buffer *next;
	int used, size, commit, lookahead, read;
	bool flags;
};
#define tty_buffer_chars(tb) ((unsigned char *)((tb) + 1))
_Static_assert(sizeof(struct tty_buffer) == 28, "struct tty_buffer is 28 bytes");

struct tty_bufhead {
	struct tty_buffer *head;
	char work[16], lock[20];
	int priority;
	struct tty_buffer sentinel;
	void *free;
	int mem_used, mem_limit;
	struct tty_buffer *tail;
};
_Static_assert(sizeof(struct tty_bufhead) == 88, "struct tty_bufhead is 88 bytes");

struct tty_port;
struct tty_port_operations {
	int (*carrier_raised)(struct tty_port *port);
	void (*dtr_rts)(struct tty_port *port, int raise);
	void (*shutdown)(struct tty_port *port);
	int (*activate)(struct tty_port *port, struct tty_struct *tty);
	void (*destruct)(struct tty_port *port);
};

struct tty_port {
	struct tty_bufhead buf;
	struct tty_struct *tty;
	struct tty_struct *itty;
	const struct tty_port_operations *ops;
	char rest[236 - 100];
};
_Static_assert(sizeof(struct tty_port) == 236, "struct tty_port is 236 bytes");

struct tty_struct {
	int kref;
	struct device *dev;
	struct tty_driver *driver;
	const struct tty_operations *ops;
	int index;
	char pad1[156 - 20];
	struct ktermios termios;
	char pad2[412 - 200];
	void *driver_data;
	char pad3[456 - 416];
	struct tty_port *port;
};
_Static_assert(sizeof(struct tty_struct) == 460, "struct tty_struct is 460 bytes");
_Static_assert(__builtin_offsetof(struct tty_struct, driver_data) == 412, "tty_struct.driver_data at 412");

/* struct tty_ldisc_ops, 72 bytes: a line discipline. */
struct tty_ldisc_ops {
	const char *name;
	int num;
	int (*open)(struct tty_struct *tty);
	void (*close)(struct tty_struct *tty);
	void (*flush_buffer)(struct tty_struct *tty);
	long (*read)(struct tty_struct *tty, struct file *file, unsigned char *buf, size_t nr, void **cookie,
	             unsigned long offset);
	long (*write)(struct tty_struct *tty, struct file *file, const unsigned char *buf, size_t nr);
	void *ioctl, *compat_ioctl, *set_termios, *poll, *hangup, *receive_buf, *write_wakeup, *dcd_change;
	int (*receive_buf2)(struct tty_struct *tty, const unsigned char *cp, const char *fp, int count);
	void *lookahead_buf;
	struct module *owner;
};
_Static_assert(sizeof(struct tty_ldisc_ops) == 72, "struct tty_ldisc_ops is 72 bytes");
_Static_assert(__builtin_offsetof(struct tty_ldisc_ops, receive_buf2) == 60, "tty_ldisc_ops.receive_buf2 at 60");
int tty_register_ldisc(struct tty_ldisc_ops *new_ldisc);
void tty_unregister_ldisc(struct tty_ldisc_ops *ldisc);
void n_tty_inherit_ops(struct tty_ldisc_ops *ops);

extern struct ktermios tty_std_termios;
struct tty_driver *__tty_alloc_driver(unsigned int lines, struct module *owner, unsigned long flags);
#define tty_alloc_driver(lines, flags) __tty_alloc_driver(lines, NULL, flags)
void tty_driver_kref_put(struct tty_driver *driver);
static inline void tty_set_operations(struct tty_driver *driver, const struct tty_operations *op) { driver->ops = op; }
int tty_register_driver(struct tty_driver *driver);
void tty_unregister_driver(struct tty_driver *driver);
void tty_unregister_device(struct tty_driver *driver, unsigned int index);
speed_t tty_termios_baud_rate(const struct ktermios *termios);
void tty_encode_baud_rate(struct tty_struct *tty, speed_t ibaud, speed_t obaud);

void tty_port_init(struct tty_port *port);
void tty_port_destroy(struct tty_port *port);
struct device *tty_port_register_device(struct tty_port *port, struct tty_driver *driver, unsigned int index,
                                        struct device *device);
int tty_port_install(struct tty_port *port, struct tty_driver *driver, struct tty_struct *tty);
int tty_port_open(struct tty_port *port, struct tty_struct *tty, struct file *filp);
void tty_port_close(struct tty_port *port, struct tty_struct *tty, struct file *filp);
void tty_port_hangup(struct tty_port *port);
void __tty_port_tty_hangup(struct tty_port *port, bool check_clocal, bool async);
static inline void tty_port_tty_hangup(struct tty_port *port, bool check_clocal)
{
	__tty_port_tty_hangup(port, check_clocal, true);
}

int tty_insert_flip_string_fixed_flag(struct tty_port *port, const unsigned char *chars, char flag, size_t size);
int __tty_insert_flip_char(struct tty_port *port, unsigned char ch, char flag);
void tty_flip_buffer_push(struct tty_port *port);
static inline int tty_insert_flip_string(struct tty_port *port, const unsigned char *chars, size_t size)
{
	return tty_insert_flip_string_fixed_flag(port, chars, TTY_NORMAL, size);
}
/* Linux's inline: straight into the tail buffer while it has room and the flag fits. */
static inline int tty_insert_flip_char(struct tty_port *port, unsigned char ch, char flag)
{
	struct tty_buffer *tb = port->buf.tail;
	int change = !tb->flags && (flag != TTY_NORMAL);

	if (!change && tb->used < tb->size) {
		if (tb->flags)
			tty_buffer_chars(tb)[tb->size + tb->used] = flag;
		tty_buffer_chars(tb)[tb->used++] = ch;
		return 1;
	}
	return __tty_insert_flip_char(port, ch, flag);
}
#endif
