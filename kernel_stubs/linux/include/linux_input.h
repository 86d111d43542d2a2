/* The input core as a Linux 6.1 i386 input driver or handler sees it (drivers/input/input.c):
 * struct input_dev, input_handler, input_handle and input_device_id at 6.1's offsets (checked by
 * the _Static_asserts against the layout table's sizes), the exported calls, and the event codes
 * the sample drivers use. Not Linux's header: see linux_module.h. */
#ifndef SANDBOX_LINUX_INPUT_H
#define SANDBOX_LINUX_INPUT_H
#include "linux_module.h"

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
	_Bool going_away;
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
	_Bool (*filter)(struct input_handle *handle, unsigned int type, unsigned int code, int value);
	_Bool (*match)(struct input_handler *handler, struct input_dev *dev);
	int (*connect)(struct input_handler *handler, struct input_dev *dev, const struct input_device_id *id);
	void (*disconnect)(struct input_handle *handle);
	void (*start)(struct input_handle *handle);
	_Bool legacy_minors;
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

struct input_dev *input_allocate_device(void);
void input_free_device(struct input_dev *dev);
int input_register_device(struct input_dev *dev);
void input_unregister_device(struct input_dev *dev);
void input_event(struct input_dev *dev, unsigned int type, unsigned int code, int value);
void input_set_capability(struct input_dev *dev, unsigned int type, unsigned int code);
void input_set_abs_params(struct input_dev *dev, unsigned int axis, int min, int max, int fuzz, int flat);
int input_register_handler(struct input_handler *handler);
void input_unregister_handler(struct input_handler *handler);
int input_register_handle(struct input_handle *handle);
void input_unregister_handle(struct input_handle *handle);
int input_open_device(struct input_handle *handle);
void input_close_device(struct input_handle *handle);

int input_mt_init_slots(struct input_dev *dev, unsigned int num_slots, unsigned int flags);
_Bool input_mt_report_slot_state(struct input_dev *dev, unsigned int tool_type, _Bool active);
void input_mt_sync_frame(struct input_dev *dev);
#define INPUT_MT_POINTER 0x0001
#define INPUT_MT_DIRECT 0x0002
#define MT_TOOL_FINGER 0x00
#define ABS_MT_SLOT 0x2f
#define ABS_MT_POSITION_X 0x35
#define ABS_MT_POSITION_Y 0x36

/* Force feedback (ff-core.c): struct ff_effect with the union members the demo uses. */
struct ff_envelope { u16 attack_length, attack_level, fade_length, fade_level; };
struct ff_periodic_effect {
	u16 waveform, period; s16 magnitude, offset; u16 phase;
	struct ff_envelope envelope;
	u32 custom_len; s16 *custom_data;
};
struct ff_rumble_effect { u16 strong_magnitude, weak_magnitude; };
struct ff_effect {
	u16 type; s16 id; u16 direction;
	struct { u16 button, interval; } trigger;
	struct { u16 length, delay; } replay;
	union { struct ff_periodic_effect periodic; struct ff_rumble_effect rumble; } u;
};
_Static_assert(sizeof(struct ff_effect) == 44, "ff_effect");
struct ff_device {
	int (*upload)(struct input_dev *dev, struct ff_effect *effect, struct ff_effect *old);
	int (*erase)(struct input_dev *dev, int effect_id);
	int (*playback)(struct input_dev *dev, int effect_id, int value);
	void (*set_gain)(struct input_dev *dev, u16 gain);
	void (*set_autocenter)(struct input_dev *dev, u16 magnitude);
	void (*destroy)(struct ff_device *);
	void *private;
	unsigned long ffbit[4];
	char mutex[20];
	int max_effects;
	struct ff_effect *effects;
	void *effect_owners[];
};
_Static_assert(sizeof(struct ff_device) == 72, "ff_device");
int input_ff_create(struct input_dev *dev, unsigned int max_effects);
int input_ff_upload(struct input_dev *dev, struct ff_effect *effect, void *file);
int input_ff_erase(struct input_dev *dev, int effect_id, void *file);
#define EV_FF 0x15
#define FF_RUMBLE 0x50
#define FF_PERIODIC 0x51
#define FF_SINE 0x5a
#define FF_GAIN 0x60

#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define SYN_REPORT 0
#define KEY_A 30
#define KEY_B 48
#define ABS_X 0
#define REL_X 0
#define LED_CAPSL 1
#define __GFP_ZERO 0x100
#define INPUT_DEVICE_ID_MATCH_EVBIT 0x10


static inline void input_report_key(struct input_dev *dev, unsigned int code, int value)
{
	input_event(dev, EV_KEY, code, !!value);
}
static inline void input_sync(struct input_dev *dev) { input_event(dev, EV_SYN, SYN_REPORT, 0); }
static inline void input_mt_slot(struct input_dev *dev, int slot) { input_event(dev, EV_ABS, ABS_MT_SLOT, slot); }

#endif
