/* The PCI driver interface of Linux 6.1 i386, for the project's sample drivers. */
#ifndef SANDBOX_LINUX_PCI_H
#define SANDBOX_LINUX_PCI_H
#include "linux_module.h"

struct pci_dev; /* 1488 bytes in 6.1 i386; sample drivers use the accessor services only */

struct pci_device_id {
	u32 vendor, device, subvendor, subdevice, class, class_mask;
	unsigned long driver_data;
	u32 override_only;
};
#define PCI_ANY_ID (~0u)
#define PCI_DEVICE(v, d) .vendor = (v), .device = (d), .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID

/* struct pci_driver, 152 bytes: node, name, id_table, probe, remove, ... */
struct pci_driver {
	void *node[2];
	const char *name;
	const struct pci_device_id *id_table;
	int (*probe)(struct pci_dev *dev, const struct pci_device_id *id);
	void (*remove)(struct pci_dev *dev);
	char rest[128];
};
_Static_assert(sizeof(struct pci_driver) == 152, "struct pci_driver is 152 bytes on Linux 6.1 i386");

int __pci_register_driver(struct pci_driver *drv, void *owner, const char *mod_name);
void pci_unregister_driver(struct pci_driver *drv);
int pci_enable_device(struct pci_dev *dev);
void pci_disable_device(struct pci_dev *dev);
void pci_set_master(struct pci_dev *dev);
int pci_request_regions(struct pci_dev *dev, const char *name);
void pci_release_regions(struct pci_dev *dev);
void *pci_iomap(struct pci_dev *dev, int bar, unsigned long maxlen);
void pci_iounmap(struct pci_dev *dev, void *addr);
int pci_read_config_byte(const struct pci_dev *dev, int where, u8 *val);
int pci_read_config_word(const struct pci_dev *dev, int where, u16 *val);
int pci_read_config_dword(const struct pci_dev *dev, int where, u32 *val);

#define IORESOURCE_IO 0x100u
#define IORESOURCE_MEM 0x200u
int pci_select_bars(struct pci_dev *dev, unsigned long flags);
void *pci_ioremap_bar(struct pci_dev *dev, int bar);
void iounmap(volatile void *addr);
int pci_try_set_mwi(struct pci_dev *dev);
void pci_clear_mwi(struct pci_dev *dev);
int pci_save_state(struct pci_dev *dev);
void pci_restore_state(struct pci_dev *dev);

/* struct resource, 32 bytes; a pci_dev's BAR resources start at offset 592 (pci_resource_start is inline). */
struct resource {
	u32 start, end;
	const char *name;
	unsigned long flags, desc;
	struct resource *parent, *sibling, *child;
};
#define PCI_DEV_RESOURCE_OFFSET 592
#define PCI_DEV_DEV_OFFSET 136
#define pci_resource(pdev, bar) ((struct resource *)((char *)(pdev) + PCI_DEV_RESOURCE_OFFSET) + (bar))
#define pci_resource_start(pdev, bar) (pci_resource(pdev, bar)->start)
#define to_dev(pdev) ((struct device *)((char *)(pdev) + PCI_DEV_DEV_OFFSET))
struct device;
extern struct resource ioport_resource;

int pcim_enable_device(struct pci_dev *pdev);
void pcim_pin_device(struct pci_dev *pdev);
int pcim_iomap_regions(struct pci_dev *pdev, int mask, const char *name);
void *const *pcim_iomap_table(struct pci_dev *pdev);
void *devm_ioremap_resource(struct device *dev, const struct resource *res);
struct resource *__devm_request_region(struct device *dev, struct resource *parent, u32 start, u32 n,
                                       const char *name);
void *devm_ioport_map(struct device *dev, unsigned long port, unsigned int nr);
void *dmam_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t gfp, unsigned long attrs);
void *devm_kmalloc(struct device *dev, size_t size, gfp_t gfp);
int devm_request_threaded_irq(struct device *dev, unsigned int irq, irq_handler_t handler, irq_handler_t thread_fn,
                              unsigned long flags, const char *name, void *dev_id);
typedef void (*dr_release_t)(struct device *dev, void *res);
typedef int (*dr_match_t)(struct device *dev, void *res, void *match_data);
void *__devres_alloc_node(dr_release_t release, size_t size, gfp_t gfp, int nid, const char *name);
void devres_add(struct device *dev, void *res);
void devres_free(void *res);
void *devres_find(struct device *dev, dr_release_t release, dr_match_t match, void *match_data);
int devres_release(struct device *dev, dr_release_t release, dr_match_t match, void *match_data);
int devres_destroy(struct device *dev, dr_release_t release, dr_match_t match, void *match_data);

struct notifier_block {
	int (*notifier_call)(struct notifier_block *nb, unsigned long action, void *data);
	struct notifier_block *next;
	int priority;
};
int register_restart_handler(struct notifier_block *nb);
int unregister_restart_handler(struct notifier_block *nb);
#define NOTIFY_DONE 0x0000
#define NOTIFY_STOP 0x8001

#define IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-4095)
#define PTR_ERR(p) ((long)(p))

#define PCI_IRQ_LEGACY (1u << 0)
#define PCI_IRQ_MSI (1u << 1)
#define PCI_IRQ_MSIX (1u << 2)
int pci_alloc_irq_vectors(struct pci_dev *dev, unsigned int min_vecs, unsigned int max_vecs, unsigned int flags);
int pci_irq_vector(struct pci_dev *dev, unsigned int nr);
void pci_free_irq_vectors(struct pci_dev *dev);
u8 pci_find_capability(struct pci_dev *dev, int cap);

#define pci_register_driver(driver) __pci_register_driver(driver, NULL, __stringify(KBUILD_MODNAME))
#endif
