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
	return pci_register_driver(&pcimdemo_driver);
}

static void __exit pcimdemo_exit(void)
{
	pci_unregister_driver(&pcimdemo_driver);
}

module_init(pcimdemo_init);
module_exit(pcimdemo_exit);
MODULE_LICENSE("GPL");
