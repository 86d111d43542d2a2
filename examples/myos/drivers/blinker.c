/* blinker: a myos LED driver, built as a shared object (.so). */
#include <myos.h>

static int on;
static unsigned int toggles;

static int blinker_probe(struct myos_device *dev)
{
	(void)dev;
	myos_log("blinker: ready");
	return 0;
}

static int blinker_irq(int line, struct myos_device *dev)
{
	(void)line;
	(void)dev;
	on = !on;
	toggles++;
	return 1;
}

static void blinker_remove(struct myos_device *dev)
{
	(void)dev;
	myos_log(on ? "blinker: off (was on)" : "blinker: off");
}

static struct myos_driver blinker = {
	.name = "blinker",
	.irq = 11,
	.probe = blinker_probe,
	.irq_handler = blinker_irq,
	.remove = blinker_remove,
};

int driver_entry(void)
{
	return myos_register_driver(&blinker);
}

/* Exported: a shared object without __ksymtab exports its global symbols. */
unsigned int blinker_toggles(void)
{
	return toggles;
}
