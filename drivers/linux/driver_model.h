/* Linux 6.1 i386 driver-model structures, as far as the sample drivers use them.
 * Offsets are those of kernel_stubs/linux/layouts.py (generated from the kernel's
 * DWARF); tests/test_linux_driver_core.py checks them against the table. */
#ifndef SANDBOX_LINUX_DRIVER_MODEL_H
#define SANDBOX_LINUX_DRIVER_MODEL_H

typedef unsigned int u32;
typedef unsigned short umode_t;
#define NULL ((void *)0)

struct kobject { const char *name; void *entry_next, *entry_prev; struct kobject *parent; void *kset, *ktype, *sd;
		 u32 kref; u32 state; };
struct device;
struct attribute { const char *name; umode_t mode; };
struct device_attribute {
	struct attribute attr;
	int (*show)(struct device *dev, struct device_attribute *attr, char *buf);
	int (*store)(struct device *dev, struct device_attribute *attr, const char *buf, unsigned int count);
};
struct attribute_group { const char *name; void *is_visible, *is_bin_visible; struct attribute **attrs; void *bin_attrs; };
struct kobj_uevent_env;
struct device_driver {
	const char *name; struct bus_type *bus; void *owner; const char *mod_name;
	_Bool suppress_bind_attrs; int probe_type; const void *of_match_table, *acpi_match_table;
	int (*probe)(struct device *dev); void (*sync_state)(struct device *dev); int (*remove)(struct device *dev);
	void *shutdown, *suspend, *resume;
	const struct attribute_group **groups, **dev_groups; const void *pm; void *coredump; void *p;
};
struct bus_type {
	const char *name, *dev_name; struct device *dev_root;
	const struct attribute_group **bus_groups, **dev_groups, **drv_groups;
	int (*match)(struct device *dev, struct device_driver *drv);
	int (*uevent)(struct device *dev, struct kobj_uevent_env *env);
	int (*probe)(struct device *dev); void (*sync_state)(struct device *dev); void (*remove)(struct device *dev);
	void *rest[11]; _Bool need_parent_lock;
};
struct device {
	struct kobject kobj; struct device *parent; void *p; const char *init_name; const void *type;
	struct bus_type *bus; struct device_driver *driver; void *platform_data; void *driver_data;
	char pad1[392 - 68]; u32 devt; u32 id; char pad2[412 - 400];
	struct class *class; const struct attribute_group **groups; void (*release)(struct device *dev);
	char pad3[448 - 424];
};
_Static_assert(sizeof(struct kobject) == 36, "kobject");
_Static_assert(sizeof(struct device_driver) == 76, "device_driver");
_Static_assert(sizeof(struct bus_type) == 92, "bus_type");
_Static_assert(sizeof(struct device) == 448, "device");

struct dev_pm_ops {
	void *system_sleep[20];
	int (*runtime_suspend)(struct device *dev);
	int (*runtime_resume)(struct device *dev);
	int (*runtime_idle)(struct device *dev);
};
_Static_assert(sizeof(struct dev_pm_ops) == 92, "dev_pm_ops");
/* dev->power (struct dev_pm_info at 116): the members the inline runtime-PM helpers touch. */
#define DEV_POWER_USAGE_COUNT(dev) (*(int *)((char *)(dev) + 244))
#define DEV_POWER_LAST_BUSY(dev) (*(unsigned long long *)((char *)(dev) + 280))
#define RPM_ASYNC 0x01
#define RPM_GET_PUT 0x04
#define RPM_AUTO 0x08
extern int __pm_runtime_resume(struct device *dev, int rpmflags);
extern int __pm_runtime_idle(struct device *dev, int rpmflags);
extern int __pm_runtime_suspend(struct device *dev, int rpmflags);
extern int __pm_runtime_set_status(struct device *dev, unsigned int status);
extern void pm_runtime_enable(struct device *dev);
extern void __pm_runtime_disable(struct device *dev, _Bool check_resume);
extern void pm_runtime_set_autosuspend_delay(struct device *dev, int delay);
extern void __pm_runtime_use_autosuspend(struct device *dev, _Bool use);
extern unsigned long long ktime_get_mono_fast_ns(void);
extern void _dev_printk(const char *level, const struct device *dev, const char *fmt, ...);
extern void _dev_crit(const struct device *dev, const char *fmt, ...);
extern int dev_err_probe(const struct device *dev, int err, const char *fmt, ...);

typedef void (*dr_release_t)(struct device *dev, void *res);
extern void *__devres_alloc_node(dr_release_t release, unsigned int size, unsigned int gfp, int nid, const char *name);
extern void devres_add(struct device *dev, void *res);
extern char *devm_kasprintf(struct device *dev, unsigned int gfp, const char *fmt, ...);
extern void device_set_wakeup_capable(struct device *dev, _Bool capable);
extern int device_wakeup_enable(struct device *dev);
extern int device_wakeup_disable(struct device *dev);
extern void pm_wakeup_dev_event(struct device *dev, unsigned int msec, _Bool hard);
struct class_interface {
	void *node[2]; struct class *class;
	int (*add_dev)(struct device *dev, struct class_interface *intf);
	void (*remove_dev)(struct device *dev, struct class_interface *intf);
};
extern int class_interface_register(struct class_interface *intf);
extern void class_interface_unregister(struct class_interface *intf);

extern int acpi_check_region(u32 start, u32 n, const char *name);
extern _Bool acpi_dev_present(const char *hid, const char *uid, long long hrv);
extern const void *acpi_match_device(const void *ids, const struct device *dev);
extern unsigned int acpi_evaluate_integer(void *handle, const char *pathname, void *arguments, unsigned long long *data);
extern const char *acpi_format_exception(unsigned int status);

struct resource { u32 start, end; const char *name; unsigned long flags, desc; void *parent, *sibling, *child; };
struct platform_device {
	const char *name; int id; _Bool id_auto; struct device dev; char pad[480 - 460];
	u32 num_resources; struct resource *resource; char rest[500 - 488];
};
struct platform_driver {
	int (*probe)(struct platform_device *pdev); int (*remove)(struct platform_device *pdev);
	void (*remove_new)(struct platform_device *pdev); void *shutdown, *suspend, *resume;
	struct device_driver driver; const void *id_table; _Bool prevent_deferred_probe, driver_managed_dma;
};
_Static_assert(__builtin_offsetof(struct platform_device, num_resources) == 480, "platform_device");
_Static_assert(__builtin_offsetof(struct platform_driver, driver) == 24, "platform_driver");
#define IORESOURCE_IO 0x100
#define IORESOURCE_MEM 0x200
extern struct platform_device *__platform_create_bundle(struct platform_driver *driver,
	int (*probe)(struct platform_device *), struct resource *res, unsigned int n_res, const void *data,
	unsigned int size, void *module);
extern struct resource *platform_get_mem_or_io(struct platform_device *dev, unsigned int num);
extern void platform_device_unregister(struct platform_device *pdev);
extern void platform_driver_unregister(struct platform_driver *drv);

struct fwnode_handle;
extern unsigned int device_get_child_node_count(const struct device *dev);
extern struct fwnode_handle *device_get_next_child_node(const struct device *dev, struct fwnode_handle *child);
extern struct fwnode_handle *fwnode_find_reference(const struct fwnode_handle *fwnode, const char *name, unsigned int i);
extern int device_property_match_string(const struct device *dev, const char *propname, const char *string);
extern int device_property_read_u32_array(const struct device *dev, const char *propname, u32 *val, unsigned int n);
extern int of_get_mac_address(void *np, unsigned char *addr);
extern struct fwnode_handle *__dev_fwnode(struct device *dev);

extern int bus_register(struct bus_type *bus);
extern void bus_unregister(struct bus_type *bus);
extern int driver_register(struct device_driver *drv);
extern void driver_unregister(struct device_driver *drv);
extern int device_register(struct device *dev);
extern void device_unregister(struct device *dev);
extern void device_initialize(struct device *dev);
extern int device_add(struct device *dev);
extern void device_del(struct device *dev);
extern struct device *get_device(struct device *dev);
extern void put_device(struct device *dev);
extern int dev_set_name(struct device *dev, const char *fmt, ...);
extern int bus_for_each_dev(struct bus_type *bus, struct device *start, void *data, int (*fn)(struct device *, void *));
extern int add_uevent_var(struct kobj_uevent_env *env, const char *fmt, ...);
extern void *devm_kmalloc(struct device *dev, unsigned int size, unsigned int gfp);
extern int devm_add_action(struct device *dev, void (*action)(void *), void *data);
extern struct class *__class_create(void *owner, const char *name, void *key);
extern void class_destroy(struct class *cls);
extern struct device *device_create(struct class *cls, struct device *parent, u32 devt, void *drvdata,
				    const char *fmt, ...);
extern void device_destroy(struct class *cls, u32 devt);
extern int device_create_file(struct device *dev, const struct device_attribute *attr);
extern void device_remove_file(struct device *dev, const struct device_attribute *attr);
extern int sysfs_emit(char *buf, const char *fmt, ...);
extern int sysfs_emit_at(char *buf, int at, const char *fmt, ...);
extern int __sysfs_match_string(const char * const *array, unsigned int n, const char *s);
extern int kstrtoint(const char *s, unsigned int base, int *res);
struct kobj_attribute {
	struct attribute attr;
	int (*show)(struct kobject *kobj, struct kobj_attribute *attr, char *buf);
	int (*store)(struct kobject *kobj, struct kobj_attribute *attr, const char *buf, unsigned int count);
};
extern struct kobject *kernel_kobj;
extern struct kobject *kobject_create_and_add(const char *name, struct kobject *parent);
extern void kobject_put(struct kobject *kobj);
extern int sysfs_create_group(struct kobject *kobj, const struct attribute_group *grp);
extern void sysfs_remove_group(struct kobject *kobj, const struct attribute_group *grp);
extern int sysfs_create_file_ns(struct kobject *kobj, const struct attribute *attr, const void *ns);
extern void sysfs_notify(struct kobject *kobj, const char *dir, const char *attr);
#define __ATTR(_name, _mode, _show, _store) { .attr = { .name = #_name, .mode = _mode }, .show = _show, .store = _store }
#define DEVICE_ATTR_RW(_name) struct device_attribute dev_attr_##_name = __ATTR(_name, 0644, _name##_show, _name##_store)
#define DEVICE_ATTR_RO(_name) struct device_attribute dev_attr_##_name = __ATTR(_name, 0444, _name##_show, NULL)
extern void _dev_info(const struct device *dev, const char *fmt, ...);
extern int _printk(const char *fmt, ...);
extern int strcmp(const char *a, const char *b);
extern int strncmp(const char *a, const char *b, unsigned int n);
extern unsigned int strlen(const char *s);
#define dev_get_drvdata(dev) ((dev)->driver_data)
#define dev_set_drvdata(dev, data) ((dev)->driver_data = (data))
#define dev_name(dev) ((dev)->init_name ? (dev)->init_name : (dev)->kobj.name)
#define GFP_KERNEL 0xcc0
#define MKDEV(ma, mi) (((ma) << 20) | (mi))

#define MODULE_LICENSE(text) char __modinfo_license[] __attribute__((section(".modinfo"), used)) = "license=" text
#endif
