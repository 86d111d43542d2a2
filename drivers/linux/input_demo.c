/* input_demo: a Linux 6.1 i386 input driver and an input handler in one module, built with
 * -mregparm=3 by gcc or clang for the linux profile (no kernel headers: the structures are
 * declared here at 6.1's offsets, checked by the _Static_asserts).
 *
 * The device "Demo Keys" reports KEY_A/KEY_B, ABS_X (0..1023, fuzz 8), REL_X and has a Caps Lock
 * LED; its open/close/event callbacks count what the core calls. The handler "demo" matches
 * every device with EV_KEY, opens it on connect and keeps the events it is given, batch by batch.
 * Python drives it: demo_add_device(), demo_report(type, code, value), demo_remove_device(). */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef _Bool bool;
#define NULL ((void *)0)
#define offsetof(t, m) __builtin_offsetof(t, m)

struct list_head { struct list_head *next, *prev; };
struct input_id { u16 bustype, vendor, product, version; };
struct input_value { u16 type, code; s32 value; };

struct input_dev {
	const char *name, *phys, *uniq;
	struct input_id id;
	unsigned long propbit[1], evbit[1], keybit[24], relbit[1], absbit[2], mscbit[1], ledbit[1];
	unsigned long sndbit[1], ffbit[4], swbit[1];
	unsigned int hint_events_per_packet, keycodemax, keycodesize;
	void *keycode, *setkeycode, *getkeycode, *ff, *poller;
	unsigned int repeat_key;
	char timer[20];
	int rep[2];
	void *mt, *absinfo;
	unsigned long key[24], led[1], snd[1], sw[1];
	int (*open)(struct input_dev *dev);
	void (*close)(struct input_dev *dev);
	int (*flush)(struct input_dev *dev, void *file);
	int (*event)(struct input_dev *dev, unsigned int type, unsigned int code, int value);
	void *grab;
	char event_lock[4], mutex[20];
	unsigned int users;
	bool going_away;
	char rest[908 - 397];
};
_Static_assert(offsetof(struct input_dev, evbit) == 24, "evbit");
_Static_assert(offsetof(struct input_dev, rep) == 224, "rep");
_Static_assert(offsetof(struct input_dev, open) == 348, "open");
_Static_assert(offsetof(struct input_dev, event) == 360, "event");
_Static_assert(offsetof(struct input_dev, users) == 392, "users");
_Static_assert(sizeof(struct input_dev) == 908, "input_dev");

struct input_device_id {
	unsigned long flags;
	u16 bustype, vendor, product, version;
	unsigned long evbit[1], keybit[24], relbit[1], absbit[2], mscbit[1], ledbit[1], sndbit[1], ffbit[4];
	unsigned long swbit[1], propbit[1], driver_info;
};
_Static_assert(sizeof(struct input_device_id) == 164, "input_device_id");

struct input_handle;
struct input_handler {
	void *private;
	void (*event)(struct input_handle *handle, unsigned int type, unsigned int code, int value);
	void (*events)(struct input_handle *handle, const struct input_value *vals, unsigned int count);
	bool (*filter)(struct input_handle *handle, unsigned int type, unsigned int code, int value);
	bool (*match)(struct input_handler *handler, struct input_dev *dev);
	int (*connect)(struct input_handler *handler, struct input_dev *dev, const struct input_device_id *id);
	void (*disconnect)(struct input_handle *handle);
	void (*start)(struct input_handle *handle);
	bool legacy_minors;
	int minor;
	const char *name;
	const struct input_device_id *id_table;
	struct list_head h_list, node;
};
_Static_assert(sizeof(struct input_handler) == 64, "input_handler");

struct input_handle {
	void *private;
	int open;
	const char *name;
	struct input_dev *dev;
	struct input_handler *handler;
	struct list_head d_node, h_node;
};
_Static_assert(sizeof(struct input_handle) == 36, "input_handle");

extern struct input_dev *input_allocate_device(void);
extern void input_free_device(struct input_dev *dev);
extern int input_register_device(struct input_dev *dev);
extern void input_unregister_device(struct input_dev *dev);
extern void input_event(struct input_dev *dev, unsigned int type, unsigned int code, int value);
extern void input_set_capability(struct input_dev *dev, unsigned int type, unsigned int code);
extern void input_set_abs_params(struct input_dev *dev, unsigned int axis, int min, int max, int fuzz, int flat);
extern int input_register_handler(struct input_handler *handler);
extern void input_unregister_handler(struct input_handler *handler);
extern int input_register_handle(struct input_handle *handle);
extern void input_unregister_handle(struct input_handle *handle);
extern int input_open_device(struct input_handle *handle);
extern void input_close_device(struct input_handle *handle);
extern void *__kmalloc(unsigned int size, unsigned int flags);
extern void kfree(const void *p);
extern int _printk(const char *fmt, ...);

#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define KEY_A 30
#define KEY_B 48
#define ABS_X 0
#define REL_X 0
#define LED_CAPSL 1
#define GFP_KERNEL 0xcc0
#define __GFP_ZERO 0x100
#define INPUT_DEVICE_ID_MATCH_EVBIT 0x10

/* What the handler saw: every value, and where each batch ended. */
#define LOG_MAX 64
struct input_value seen[LOG_MAX];
unsigned int seen_count, batches, batch_end[LOG_MAX];
int opens, closes, connects, disconnects, led_events, last_led;
static struct input_dev *demo;

static int open_result;	/* what open returns: demo_fail_open() sets it */

static int demo_open(struct input_dev *dev) { (void)dev; opens++; return open_result; }
void demo_fail_open(int error) { open_result = error; }
static void demo_close(struct input_dev *dev) { (void)dev; closes++; }
static int demo_event(struct input_dev *dev, unsigned int type, unsigned int code, int value)
{
	(void)dev;
	if (type == EV_LED && code == LED_CAPSL) {
		led_events++;
		last_led = value;
	}
	return 0;
}

int demo_add_device(void)
{
	int error;

	demo = input_allocate_device();
	if (!demo)
		return -12;
	demo->name = "Demo Keys";
	demo->id.bustype = 0x19;	/* BUS_HOST */
	input_set_capability(demo, EV_KEY, KEY_A);
	input_set_capability(demo, EV_KEY, KEY_B);
	input_set_capability(demo, EV_REL, REL_X);
	input_set_capability(demo, EV_LED, LED_CAPSL);
	input_set_abs_params(demo, ABS_X, 0, 1023, 8, 0);
	demo->open = demo_open;
	demo->close = demo_close;
	demo->event = demo_event;
	error = input_register_device(demo);
	if (error) {
		input_free_device(demo);
		demo = NULL;
	}
	return error;
}

void demo_report(unsigned int type, unsigned int code, int value)
{
	input_event(demo, type, code, value);
}

void demo_remove_device(void)
{
	input_unregister_device(demo);
	demo = NULL;
}

unsigned int demo_users(void) { return demo ? demo->users : 0; }
int demo_rep_delay(void) { return demo ? demo->rep[0] : -1; }

/* -- the handler ------------------------------------------------------------------------- */
static void demo_events(struct input_handle *handle, const struct input_value *vals, unsigned int count)
{
	(void)handle;
	for (unsigned int i = 0; i < count && seen_count < LOG_MAX; i++)
		seen[seen_count++] = vals[i];
	if (batches < LOG_MAX)
		batch_end[batches++] = seen_count;
}

static int demo_connect(struct input_handler *handler, struct input_dev *dev, const struct input_device_id *id)
{
	struct input_handle *handle = __kmalloc(sizeof(*handle), GFP_KERNEL | __GFP_ZERO);
	int error;

	(void)id;
	if (!handle)
		return -12;
	handle->dev = dev;
	handle->handler = handler;
	handle->name = "demo";
	error = input_register_handle(handle);
	if (!error)
		error = input_open_device(handle);
	if (error) {
		input_unregister_handle(handle);
		kfree(handle);
		return error;
	}
	connects++;
	_printk("demo: connected to %s\n", dev->name);
	return 0;
}

static void demo_disconnect(struct input_handle *handle)
{
	disconnects++;
	input_close_device(handle);
	input_unregister_handle(handle);
	kfree(handle);
}

static const struct input_device_id demo_ids[] = {
	{ .flags = INPUT_DEVICE_ID_MATCH_EVBIT, .evbit = { 1UL << EV_KEY } },
	{ 0 },
};

static struct input_handler demo_handler = {
	.events = demo_events,
	.connect = demo_connect,
	.disconnect = demo_disconnect,
	.name = "demo",
	.id_table = demo_ids,
};

int init_module(void)
{
	return input_register_handler(&demo_handler);
}

void cleanup_module(void)
{
	if (demo)
		input_unregister_device(demo);
	input_unregister_handler(&demo_handler);
}

static const char license[] __attribute__((section(".modinfo"), used, aligned(1))) = "license=GPL";
