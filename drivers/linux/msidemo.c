/* A PCI driver asking for up to four MSI vectors, falling back to INTx.
 *
 * Probe maps BAR 0, allocates the vectors, requests a handler on each and
 * rings the doorbell once per vector (register 0: the vector to signal);
 * each handler counts its vector and acknowledges it in register 4.
 * Remove gives everything back in the reverse order.
 */
#define KBUILD_MODNAME msidemo
#include "linux_pci.h"

#define MAX_VECTORS 4
#define DOORBELL 0x0
#define ACK 0x4

struct msidemo {
	void *regs;
	int vectors;
	int irq[MAX_VECTORS];
	int count[MAX_VECTORS];
	int index[MAX_VECTORS];
} demo;
u8 msi_cap_offset;
int probe_result = -1;
int mem_bars = -1, mwi_result = 1;
void *bar0_ioremapped;
static struct pci_dev *bound;

static irqreturn_t msidemo_irq(int irq, void *data)
{
	int vector = *(int *)data;

	if (demo.irq[vector] != irq)
		return IRQ_NONE;
	demo.count[vector]++;
	writel(vector, (char *)demo.regs + ACK);
	return IRQ_HANDLED;
}

static int msidemo_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int i, err;

	(void)id;
	err = pci_enable_device(pdev);
	if (err)
		return err;
	demo.regs = pci_iomap(pdev, 0, 0);
	if (!demo.regs) {
		pci_disable_device(pdev);
		return -ENOMEM;
	}
	bound = pdev;
	mem_bars = pci_select_bars(pdev, IORESOURCE_MEM);
	bar0_ioremapped = pci_ioremap_bar(pdev, 0);
	mwi_result = pci_try_set_mwi(pdev);
	msi_cap_offset = pci_find_capability(pdev, 0x05);
	demo.vectors = pci_alloc_irq_vectors(pdev, 1, MAX_VECTORS, PCI_IRQ_MSI | PCI_IRQ_LEGACY);
	if (demo.vectors < 0) {
		pci_iounmap(pdev, demo.regs);
		pci_disable_device(pdev);
		return demo.vectors;
	}
	for (i = 0; i < demo.vectors; i++) {
		demo.index[i] = i;
		demo.irq[i] = pci_irq_vector(pdev, i);
		err = request_irq(demo.irq[i], msidemo_irq, 0, "msidemo", &demo.index[i]);
		if (err) {
			while (--i >= 0)
				free_irq(demo.irq[i], &demo.index[i]);
			pci_free_irq_vectors(pdev);
			pci_iounmap(pdev, demo.regs);
			pci_disable_device(pdev);
			return err;
		}
	}
	pr_info("msidemo: %d vector(s), first IRQ %d\n", demo.vectors, demo.irq[0]);
	for (i = 0; i < demo.vectors; i++)
		writel(i, (char *)demo.regs + DOORBELL);
	return 0;
}

/* What a resume after a reset does: the saved configuration comes back. */
int msidemo_save(void) { return pci_save_state(bound); }
void msidemo_restore(void) { pci_restore_state(bound); }

static void msidemo_remove(struct pci_dev *pdev)
{
	int i;

	iounmap(bar0_ioremapped);
	pci_clear_mwi(pdev);
	for (i = 0; i < demo.vectors; i++)
		free_irq(demo.irq[i], &demo.index[i]);
	pci_free_irq_vectors(pdev);
	pci_iounmap(pdev, demo.regs);
	pci_disable_device(pdev);
}

static const struct pci_device_id msidemo_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e5) },
	{ 0 },
};

static struct pci_driver msidemo_driver = {
	.name = "msidemo",
	.id_table = msidemo_ids,
	.probe = msidemo_probe,
	.remove = msidemo_remove,
};

static int __init msidemo_init(void)
{
	probe_result = pci_register_driver(&msidemo_driver);
	return probe_result;
}

static void __exit msidemo_exit(void)
{
	pci_unregister_driver(&msidemo_driver);
}

module_init(msidemo_init);
module_exit(msidemo_exit);
MODULE_LICENSE("GPL");
