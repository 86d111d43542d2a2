/* gpiolib of Linux 6.1 i386 (providers and consumers), for the project's sample drivers. */
#ifndef SANDBOX_LINUX_GPIO_H
#define SANDBOX_LINUX_GPIO_H
#include "linux_module.h"

struct device;
struct gpio_desc;

/* struct gpio_chip, 316 bytes: label, gpiodev, parent, fwnode, owner, then the callbacks; base at 84. */
struct gpio_chip {
	const char *label;
	void *gpiodev;
	struct device *parent;
	void *fwnode;
	void *owner;
	int (*request)(struct gpio_chip *gc, unsigned int offset);
	void (*free)(struct gpio_chip *gc, unsigned int offset);
	int (*get_direction)(struct gpio_chip *gc, unsigned int offset);
	int (*direction_input)(struct gpio_chip *gc, unsigned int offset);
	int (*direction_output)(struct gpio_chip *gc, unsigned int offset, int value);
	int (*get)(struct gpio_chip *gc, unsigned int offset);
	void *get_multiple;
	void (*set)(struct gpio_chip *gc, unsigned int offset, int value);
	void *set_multiple, *set_config;
	int (*to_irq)(struct gpio_chip *gc, unsigned int offset);
	void *dbg_show, *init_valid_mask, *add_pin_ranges, *en_hw_timestamp, *dis_hw_timestamp;
	int base;
	u16 ngpio;
	u16 offset;
	const char *const *names;
	bool can_sleep;
	char rest[316 - 97];
};
_Static_assert(sizeof(struct gpio_chip) == 316, "struct gpio_chip is 316 bytes on Linux 6.1 i386");
_Static_assert(__builtin_offsetof(struct gpio_chip, base) == 84, "gpio_chip.base");

int gpiochip_add_data_with_key(struct gpio_chip *gc, void *data, void *lock_key, void *request_key);
#define gpiochip_add_data(gc, data) gpiochip_add_data_with_key(gc, data, NULL, NULL)
void gpiochip_remove(struct gpio_chip *gc);
void *gpiochip_get_data(struct gpio_chip *gc);

enum gpiod_flags { GPIOD_ASIS = 0, GPIOD_IN = 1, GPIOD_OUT_LOW = 3, GPIOD_OUT_HIGH = 7 };
struct gpio_desc *gpiod_get(struct device *dev, const char *con_id, enum gpiod_flags flags);
struct gpio_desc *gpiod_get_optional(struct device *dev, const char *con_id, enum gpiod_flags flags);
void gpiod_put(struct gpio_desc *desc);
int gpiod_get_value(const struct gpio_desc *desc);
void gpiod_set_value(struct gpio_desc *desc, int value);
int gpiod_direction_output(struct gpio_desc *desc, int value);
int gpiod_direction_input(struct gpio_desc *desc);
int gpiod_to_irq(const struct gpio_desc *desc);
struct gpio_desc *gpio_to_desc(unsigned int gpio);
int desc_to_gpio(const struct gpio_desc *desc);
int gpio_request(unsigned int gpio, const char *label);
void gpio_free(unsigned int gpio);
#define IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-4095)
#define PTR_ERR(p) ((long)(p))
#endif
