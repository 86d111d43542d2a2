/* The LED class and platform drivers of Linux 6.1 i386, for the project's sample drivers. */
#ifndef SANDBOX_LINUX_LEDS_H
#define SANDBOX_LINUX_LEDS_H
#include "linux_module.h"

struct device;
enum led_brightness { LED_OFF = 0, LED_ON = 1, LED_HALF = 127, LED_FULL = 255 };
#define LED_RETAIN_AT_SHUTDOWN (1u << 22)

/* struct led_classdev, 200 bytes: name, brightness, max_brightness, flags, work_flags, the callbacks... */
struct led_classdev {
	const char *name;
	unsigned int brightness;
	unsigned int max_brightness;
	unsigned long flags;
	unsigned long work_flags;
	void (*brightness_set)(struct led_classdev *led_cdev, enum led_brightness brightness);
	int (*brightness_set_blocking)(struct led_classdev *led_cdev, enum led_brightness brightness);
	enum led_brightness (*brightness_get)(struct led_classdev *led_cdev);
	char rest[200 - 32];
};
_Static_assert(sizeof(struct led_classdev) == 200, "struct led_classdev is 200 bytes on Linux 6.1 i386");

struct led_init_data {
	void *fwnode;
	const char *default_label;
	const char *devicename;
	bool devname_mandatory;
};

int led_classdev_register_ext(struct device *parent, struct led_classdev *led_cdev, struct led_init_data *init_data);
void led_classdev_unregister(struct led_classdev *led_cdev);
int devm_led_classdev_register_ext(struct device *parent, struct led_classdev *led_cdev,
                                   struct led_init_data *init_data);
void led_set_brightness(struct led_classdev *led_cdev, unsigned int brightness);

/* struct platform_device: name, id, id_auto, then struct device at 12. */
struct platform_device { const char *name; int id; bool id_auto; u8 pad[3]; char dev[448]; char rest[40]; };
_Static_assert(sizeof(struct platform_device) == 500, "struct platform_device is 500 bytes on Linux 6.1 i386");
#define pdev_dev(pdev) ((struct device *)(pdev)->dev)

/* struct platform_driver, 108 bytes: probe, remove, remove_new, shutdown, suspend, resume, driver, id_table. */
struct platform_driver {
	int (*probe)(struct platform_device *);
	int (*remove)(struct platform_device *);
	void (*remove_new)(struct platform_device *);
	void *shutdown, *suspend, *resume;
	struct { const char *name; char rest[72]; } driver;
	const void *id_table;
	bool prevent_deferred_probe;
	bool driver_managed_dma;
};
_Static_assert(sizeof(struct platform_driver) == 108, "struct platform_driver is 108 bytes on Linux 6.1 i386");
int __platform_driver_register(struct platform_driver *drv, void *owner);
void platform_driver_unregister(struct platform_driver *drv);
#endif
