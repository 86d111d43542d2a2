/* input_demo: a Linux 6.1 i386 input driver and an input handler in one module, built with
 * -mregparm=3 by gcc or clang for the linux profile (drivers/build.py; declarations in
 * kernel_stubs/linux/include/linux_input.h).
 *
 * The device "Demo Keys" reports KEY_A/KEY_B, ABS_X (0..1023, fuzz 8), REL_X and has a Caps Lock
 * LED; its open/close/event callbacks count what the core calls. The handler "demo" matches
 * every device with EV_KEY, opens it on connect and keeps the events it is given, batch by batch.
 * Python drives it: demo_add_device(), demo_report(type, code, value), demo_remove_device(). */
#define KBUILD_MODNAME input_demo
#include "linux_input.h"

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

/* A two-contact touchscreen: slots, one contact per call, a frame per demo_touch_frame(). */
static struct input_dev *touch;

int demo_add_touch(void)
{
	int error;

	touch = input_allocate_device();
	if (!touch)
		return -12;
	touch->name = "Demo Touch";
	input_set_abs_params(touch, ABS_MT_POSITION_X, 0, 1023, 0, 0);
	input_set_abs_params(touch, ABS_MT_POSITION_Y, 0, 767, 0, 0);
	error = input_mt_init_slots(touch, 2, INPUT_MT_DIRECT);
	if (!error)
		error = input_register_device(touch);
	if (error) {
		input_free_device(touch);
		touch = NULL;
	}
	return error;
}

void demo_touch(int slot, int active, int x, int y)
{
	input_mt_slot(touch, slot);
	if (input_mt_report_slot_state(touch, MT_TOOL_FINGER, active)) {
		input_event(touch, EV_ABS, ABS_MT_POSITION_X, x);
		input_event(touch, EV_ABS, ABS_MT_POSITION_Y, y);
	}
}

void demo_touch_frame(void)
{
	input_mt_sync_frame(touch);
	input_sync(touch);
}

/* A force-feedback pad that plays periodic sine waves natively (rumble is emulated by the core). */
static struct input_dev *pad;
struct ff_effect uploaded;	/* what the core handed to upload, last */
int plays, last_played, last_play_value, erased = -1, gain;

static int pad_upload(struct input_dev *dev, struct ff_effect *effect, struct ff_effect *old)
{
	(void)dev; (void)old;
	uploaded = *effect;
	return 0;
}
static int pad_playback(struct input_dev *dev, int effect_id, int value)
{
	(void)dev;
	plays++;
	last_played = effect_id;
	last_play_value = value;
	return 0;
}
static int pad_erase(struct input_dev *dev, int effect_id) { (void)dev; erased = effect_id; return 0; }
static void pad_set_gain(struct input_dev *dev, u16 value) { (void)dev; gain = value; }

int demo_add_pad(void)
{
	int error;

	pad = input_allocate_device();
	if (!pad)
		return -12;
	pad->name = "Demo Pad";
	input_set_capability(pad, EV_FF, FF_PERIODIC);
	input_set_capability(pad, EV_FF, FF_SINE);
	input_set_capability(pad, EV_FF, FF_GAIN);
	error = input_ff_create(pad, 4);
	if (!error) {
		struct ff_device *ff = pad->ff;
		ff->upload = pad_upload;
		ff->playback = pad_playback;
		ff->erase = pad_erase;
		ff->set_gain = pad_set_gain;
		error = input_register_device(pad);
	}
	if (error) {
		input_free_device(pad);
		pad = NULL;
	}
	return error;
}

/* A rumble effect as a user would upload it (id -1: a new one), on behalf of "file" 1. */
int demo_upload_rumble(unsigned int strong, unsigned int weak)
{
	struct ff_effect effect = { .type = FF_RUMBLE, .id = -1 };
	int error;

	effect.u.rumble.strong_magnitude = strong;
	effect.u.rumble.weak_magnitude = weak;
	error = input_ff_upload(pad, &effect, (void *)1);
	return error ? error : effect.id;
}

void demo_pad_event(unsigned int code, int value) { input_event(pad, EV_FF, code, value); }
int demo_erase(int id, unsigned long file) { return input_ff_erase(pad, id, (void *)file); }

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
	if (pad)
		input_unregister_device(pad);
	if (touch)
		input_unregister_device(touch);
	if (demo)
		input_unregister_device(demo);
	input_unregister_handler(&demo_handler);
}

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("an input device and an input handler, for the sandbox's tests");
