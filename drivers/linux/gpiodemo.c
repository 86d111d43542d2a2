/* An 8-line GPIO expander of its own, and a consumer of one of its lines.
 *
 * The chip keeps its lines in three "registers" (direction, output latch,
 * input pins); init registers it with a dynamic base, then, as a consumer
 * of line 3, requests it by number and drives it high. Optional and
 * required lookups by function name find nothing on a PC.
 */
#define KBUILD_MODNAME gpiodemo
#include "linux_gpio.h"

u8 dir_out, latch, pins;   /* bit n: line n */
int base = -1, chip_data_ok, optional_is_null, required_error, line3_number, irq_of_line1;
int keep_chip;

struct expander { u32 magic; } expander = { 0x6770696f };

static struct expander *data_of(struct gpio_chip *gc) { return gpiochip_get_data(gc); }

static int exp_get(struct gpio_chip *gc, unsigned int offset)
{
	if (data_of(gc)->magic != 0x6770696f)
		return -5;
	return ((dir_out & (1u << offset)) ? latch : pins) >> offset & 1;
}

static void exp_set(struct gpio_chip *gc, unsigned int offset, int value)
{
	(void)gc;
	latch = value ? latch | (1u << offset) : latch & ~(1u << offset);
}

static int exp_output(struct gpio_chip *gc, unsigned int offset, int value)
{
	dir_out |= 1u << offset;
	exp_set(gc, offset, value);
	return 0;
}

static int exp_input(struct gpio_chip *gc, unsigned int offset)
{
	(void)gc;
	dir_out &= ~(1u << offset);
	return 0;
}

static int exp_to_irq(struct gpio_chip *gc, unsigned int offset)
{
	(void)gc;
	return 40 + offset;
}

static struct gpio_chip chip = {
	.label = "gpiodemo", .base = -1, .ngpio = 8, .get = exp_get, .set = exp_set,
	.direction_output = exp_output, .direction_input = exp_input, .to_irq = exp_to_irq,
};

static int __init gpiodemo_init(void)
{
	struct gpio_desc *line3, *optional, *required;
	int err = gpiochip_add_data(&chip, &expander);

	if (err)
		return err;
	base = chip.base;
	chip_data_ok = gpiochip_get_data(&chip) == &expander;
	optional = gpiod_get_optional(NULL, "reset", GPIOD_OUT_LOW);
	optional_is_null = optional == NULL;
	gpiod_set_value(optional, 1);            /* an absent optional GPIO: nothing happens */
	required = gpiod_get(NULL, "enable", GPIOD_OUT_HIGH);
	required_error = IS_ERR(required) ? PTR_ERR(required) : 0;
	err = gpio_request(base + 3, "status-led");
	if (err) {
		gpiochip_remove(&chip);
		return err;
	}
	line3 = gpio_to_desc(base + 3);
	line3_number = desc_to_gpio(line3);
	gpiod_direction_output(line3, 1);
	irq_of_line1 = gpiod_to_irq(gpio_to_desc(base + 1));
	return 0;
}

int gpiodemo_request_again(void) { return gpio_request(base + 3, "again"); }
int gpiodemo_request_absent(void) { return gpio_request(100, "nobody"); }
int gpiodemo_read(int offset) { return gpiod_get_value(gpio_to_desc(base + offset)); }

static void __exit gpiodemo_exit(void)
{
	if (keep_chip)
		return;
	gpio_free(base + 3);
	gpiochip_remove(&chip);
}

module_init(gpiodemo_init);
module_exit(gpiodemo_exit);
MODULE_LICENSE("GPL");
