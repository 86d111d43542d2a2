/* Three LEDs of the LED class: a board LED, a chip LED behind a blocking bus, and a managed one.
 *
 * init registers "demo:green" (a non-blocking setter that latches the value
 * in a "register") and "demo:red" (one step, a blocking setter that can
 * fail, and a getter reading the "hardware"), then a second "demo:green"
 * that the core renames. The platform driver "ledsdemo" registers
 * "ledsdemo::status" with devm_ when its device appears.
 */
#define KBUILD_MODNAME ledsdemo
#include "linux_leds.h"

unsigned int green_register, red_hw, red_writes, status_register;
int red_fail;

static void green_set(struct led_classdev *led, enum led_brightness value)
{
	(void)led;
	green_register = value;
}

static int red_set(struct led_classdev *led, enum led_brightness value)
{
	(void)led;
	if (red_fail)
		return -5;
	red_writes++;
	red_hw = value;
	return 0;
}

static enum led_brightness red_get(struct led_classdev *led)
{
	(void)led;
	return red_hw;
}

static void status_set(struct led_classdev *led, enum led_brightness value)
{
	(void)led;
	status_register = value;
}

static struct led_classdev green = { .name = "demo:green", .brightness_set = green_set };
static struct led_classdev red = { .name = "demo:red", .max_brightness = 1, .brightness_set_blocking = red_set,
                                   .brightness_get = red_get, .flags = LED_RETAIN_AT_SHUTDOWN };
static struct led_classdev green_again = { .name = "demo:green", .brightness_set = green_set };
static struct led_classdev status = { .brightness_set = status_set, .max_brightness = 100 };

static int ledsdemo_probe(struct platform_device *pdev)
{
	struct led_init_data init = { .default_label = "status", .devicename = "ledsdemo:" };

	return devm_led_classdev_register_ext(pdev_dev(pdev), &status, &init);
}

static struct platform_driver ledsdemo_driver = {
	.probe = ledsdemo_probe,
	.driver = { .name = "ledsdemo" },
};

static int __init ledsdemo_init(void)
{
	int err = led_classdev_register_ext(NULL, &green, NULL);

	if (!err)
		err = led_classdev_register_ext(NULL, &red, NULL);
	if (!err)
		err = led_classdev_register_ext(NULL, &green_again, NULL);
	if (!err)
		err = __platform_driver_register(&ledsdemo_driver, NULL);
	return err;
}

static int dropped;
int keep_leds;  /* a buggy exit: the LEDs stay registered */

/* What exit does to the LEDs, callable on its own so a test sees the registers afterwards. */
void ledsdemo_drop(void)
{
	led_classdev_unregister(&green_again);
	led_classdev_unregister(&red);
	led_classdev_unregister(&green);
	dropped = 1;
}

static void __exit ledsdemo_exit(void)
{
	platform_driver_unregister(&ledsdemo_driver);
	if (!dropped && !keep_leds)
		ledsdemo_drop();
}

module_init(ledsdemo_init);
module_exit(ledsdemo_exit);
MODULE_LICENSE("GPL");
