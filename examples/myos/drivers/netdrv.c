/* netdrv: a myos network driver, built as a relocatable object (.o). */
#include <myos.h>

struct netdrv_state {
	unsigned int packets;
	char *ring;
};

static struct netdrv_state *state;

static int netdrv_probe(struct myos_device *dev)
{
	state = myos_alloc(sizeof(*state));
	if (!state)
		return -12;
	state->ring = myos_alloc(256);
	if (!state->ring) {
		myos_free(state);
		state = NULL;
		return -12;
	}
	dev->priv = state;
	myos_log("netdrv: probed");
	return 0;
}

static int netdrv_irq(int line, struct myos_device *dev)
{
	struct netdrv_state *s = dev->priv;

	(void)line;
	s->packets++;
	return 1;
}

static void netdrv_remove(struct myos_device *dev)
{
	struct netdrv_state *s = dev->priv;

	myos_free(s->ring);
	myos_free(s);
	state = NULL;
	myos_log("netdrv: removed");
}

static struct myos_driver netdrv = {
	.name = "netdrv",
	.irq = 10,
	.probe = netdrv_probe,
	.irq_handler = netdrv_irq,
	.remove = netdrv_remove,
};

int driver_entry(void)
{
	return myos_register_driver(&netdrv);
}

unsigned int netdrv_packets(void)
{
	return state ? state->packets : 0;
}

/* Uses the one function myos.h declares but the sandbox does not implement. */
int netdrv_start_dma(void)
{
	return myos_dma_map(state->ring, 256);
}
