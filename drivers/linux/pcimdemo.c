/* A PCI driver that holds nothing by hand: every resource is managed.
 *
 * Probe enables the function with pcim_enable_device, requests and maps
 * BAR 0 (I/O) and BAR 1 (memory) through pcim_iomap_regions, maps BAR 1
 * again with devm_ioremap_resource (which must fail: the region is taken)
 * and BAR 2 (memory) with it (which succeeds), claims an extra port range,
 * takes MSI vectors, a managed IRQ handler, a coherent DMA buffer and a
 * private struct. There is no remove: unbinding gives everything back.
 * The parameter fail_probe makes probe fail after taking it all, so the
 * same release happens on the error path.
 */
#define KBUILD_MODNAME pcimdemo
#include "linux_pci.h"

struct state { u32 cookie; };

int fail_probe;
long second_map_error, bar2_mapped;
void *io_cookie, *mem_cookie, *dma_buffer;
dma_addr_t dma_handle;
int vectors, irq_seen;

/* Two devres blocks of its own: released (newest first) with the rest; one is released early. */
struct tag { int id; };
int released[4], nreleased, early_release, found_second, restarts;
static void tag_release(struct device *dev, void *res)
{
	(void)dev;
	if (nreleased < 4)
		released[nreleased++] = ((struct tag *)res)->id;
}
static int tag_is(struct device *dev, void *res, void *data)
{
	(void)dev;
	return ((struct tag *)res)->id == *(int *)data;
}

/* The card can reset the machine: a restart handler, kept while the module is loaded. */
static int pcimdemo_restart(struct notifier_block *nb, unsigned long mode, void *cmd)
{
	(void)nb; (void)mode; (void)cmd;
	restarts++;
	return NOTIFY_STOP;
}
static struct notifier_block restart_nb = { .notifier_call = pcimdemo_restart, .priority = 192 };

static irqreturn_t pcimdemo_irq(int irq, void *data)
{
	(void)data;
	irq_seen = irq;
	return IRQ_HANDLED;
}

static int pcimdemo_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct state *st;
	void *again;
	int err;

	(void)id;
	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, (1 << 0) | (1 << 1), "pcimdemo");
	if (err)
		return err;
	io_cookie = pcim_iomap_table(pdev)[0];
	mem_cookie = pcim_iomap_table(pdev)[1];
	again = devm_ioremap_resource(to_dev(pdev), pci_resource(pdev, 1));
	second_map_error = IS_ERR(again) ? PTR_ERR(again) : 0;
	again = devm_ioremap_resource(to_dev(pdev), pci_resource(pdev, 2));
	bar2_mapped = IS_ERR(again) ? PTR_ERR(again) : (long)again;
	if (!__devm_request_region(to_dev(pdev), &ioport_resource, 0x2f0, 8, "pcimdemo-extra"))
		return -EBUSY;
	if (!devm_ioport_map(to_dev(pdev), 0x2f0, 8))
		return -ENOMEM;
	vectors = pci_alloc_irq_vectors(pdev, 1, 2, PCI_IRQ_MSI | PCI_IRQ_LEGACY);
	if (vectors < 0)
		return vectors;
	err = devm_request_threaded_irq(to_dev(pdev), pci_irq_vector(pdev, 0), pcimdemo_irq, NULL, 0, "pcimdemo", NULL);
	if (err)
		return err;
	dma_buffer = dmam_alloc_attrs(to_dev(pdev), 4096, &dma_handle, GFP_KERNEL, 0);
	if (!dma_buffer)
		return -ENOMEM;
	st = devm_kmalloc(to_dev(pdev), sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	{
		int id;
		for (id = 1; id <= 3; id++) {
			struct tag *t = __devres_alloc_node(tag_release, sizeof(*t), GFP_KERNEL, -1, "tag");
			if (!t)
				return -ENOMEM;
			t->id = id;
			devres_add(to_dev(pdev), t);
		}
		id = 2;
		found_second = devres_find(to_dev(pdev), tag_release, tag_is, &id) != NULL;
		early_release = devres_release(to_dev(pdev), tag_release, tag_is, &id);  /* releases tag 2 now */
	}
	writel(0x600d, mem_cookie);
	return fail_probe ? -5 : 0;
}

static const struct pci_device_id pcimdemo_ids[] = {
	{ PCI_DEVICE(0x1234, 0x5678) },
	{ 0 },
};

static struct pci_driver pcimdemo_driver = {
	.name = "pcimdemo",
	.id_table = pcimdemo_ids,
	.probe = pcimdemo_probe,
};

static int __init pcimdemo_init(void)
{
	int err = register_restart_handler(&restart_nb);

	if (err)
		return err;
	err = pci_register_driver(&pcimdemo_driver);
	if (err)
		unregister_restart_handler(&restart_nb);
	return err;
}

int keep_restart_handler;

static void __exit pcimdemo_exit(void)
{
	pci_unregister_driver(&pcimdemo_driver);
	if (!keep_restart_handler)
		unregister_restart_handler(&restart_nb);
}

module_init(pcimdemo_init);
module_exit(pcimdemo_exit);
MODULE_LICENSE("GPL");
