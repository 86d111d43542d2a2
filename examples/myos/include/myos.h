/* myos.h: the driver API of "myos", a tiny hobby kernel.
 *
 * A driver's entry point is `int driver_entry(void)`; it registers a
 * struct myos_driver. The kernel then calls probe() with the device it
 * made for the driver, irq() on every interrupt of the driver's line, and
 * remove() when the driver's module is unloaded. */
#ifndef MYOS_H
#define MYOS_H

typedef unsigned int size_t;
#define NULL ((void *)0)

struct myos_device {
	int irq;		/* the line the kernel gave the device */
	void *priv;		/* the driver's own data */
};

struct myos_driver {
	const char *name;
	int irq;		/* the line the driver asks for */
	int (*probe)(struct myos_device *dev);
	int (*irq_handler)(int line, struct myos_device *dev);
	void (*remove)(struct myos_device *dev);
};

void myos_log(const char *text);
int myos_register_driver(struct myos_driver *driver);
void *myos_alloc(size_t size);
void myos_free(void *block);

/* Declared by the kernel's header but not implemented (yet) by the sandbox. */
extern int myos_dma_map(void *buffer, size_t length);

#endif
