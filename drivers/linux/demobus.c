/* A bus of its own with drivers and devices on it, through Linux 6.1's generic driver model.
 *
 * The "demo" bus matches a device to a driver whose name prefixes the
 * device's name, adds DEMO_ID to the device's uevent and probes through its
 * own bus->probe (the way virtio, hid and most buses wrap drivers).
 * Devices are static structs with a release callback; the "demo" driver
 * takes managed resources and defers device "demo1" until the "supply"
 * driver has bound. Compiled by tests/test_linux_driver_core.py with gcc
 * and clang (-m32 -mregparm=3). */
#include "driver_model.h"

#define IS_ERR(p) ((unsigned long)(p) >= (unsigned long)-4095)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

struct demo_device { int index; struct device dev; };
struct demo_driver { int (*probe)(struct demo_device *d); void (*remove)(struct demo_device *d); struct device_driver driver; };

int probes, removes, releases, undos, deferrals, uevents, walked, ready;
static int value = 42;

static int demo_match(struct device *dev, struct device_driver *drv)
{
	return strncmp(dev_name(dev), drv->name, strlen(drv->name)) == 0;
}
static int demo_uevent(struct device *dev, struct kobj_uevent_env *env)
{
	uevents++;
	return add_uevent_var(env, "DEMO_ID=%u", container_of(dev, struct demo_device, dev)->index);
}
static int demo_bus_probe(struct device *dev)
{
	return container_of(dev->driver, struct demo_driver, driver)->probe(container_of(dev, struct demo_device, dev));
}
static void demo_bus_remove(struct device *dev)
{
	struct demo_driver *drv = container_of(dev->driver, struct demo_driver, driver);
	if (drv->remove)
		drv->remove(container_of(dev, struct demo_device, dev));
}
struct bus_type demo_bus = { .name = "demo", .match = demo_match, .uevent = demo_uevent, .probe = demo_bus_probe,
			     .remove = demo_bus_remove };

static void undo(void *data) { undos++; _printk("demo: undo %d\n", *(int *)data); }
static void demo_devres_release(struct device *dev, void *res) { (void)dev; _printk("demo: devres release %d\n", *(int *)res); }
static char *labels[3];
static int demo_probe(struct demo_device *d)
{
	int *st, *res;
	if (d->index == 1 && !ready) { deferrals++; return -517; }  /* -EPROBE_DEFER */
	st = devm_kmalloc(&d->dev, sizeof(*st), GFP_KERNEL);
	if (!st)
		return -12;
	*st = d->index;
	if (devm_add_action(&d->dev, undo, st))
		return -12;
	res = __devres_alloc_node(demo_devres_release, sizeof(int), GFP_KERNEL, -1, "demo_res");
	if (!res)
		return -12;
	*res = d->index;
	devres_add(&d->dev, res);
	labels[d->index % 3] = devm_kasprintf(&d->dev, GFP_KERNEL, "demo-%s-%d", "label", d->index);
	dev_set_drvdata(&d->dev, st);
	probes++;
	_dev_info(&d->dev, "bound, state %d\n", *st);
	return 0;
}
/* Attributes: a read-write "level" on every device (the device's groups, one hidden by is_visible), a
 * read-only "state" the driver adds while bound (its dev_groups), a "mode" parsed with
 * __sysfs_match_string. */
static int levels[3];
static const char * const modes[] = { "off", "slow", "fast", NULL };
static int mode_index;
static int level_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	(void)attr;
	return sysfs_emit(buf, "%d\n", levels[container_of(dev, struct demo_device, dev)->index % 3]);
}
static int level_store(struct device *dev, struct device_attribute *attr, const char *buf, unsigned int count)
{
	int v, err = kstrtoint(buf, 0, &v);
	(void)attr;
	if (err)
		return err;
	if (v < 0 || v > 100)
		return -34;  /* -ERANGE */
	levels[container_of(dev, struct demo_device, dev)->index % 3] = v;
	sysfs_notify(&dev->kobj, NULL, "level");
	return count;
}
static DEVICE_ATTR_RW(level);
static int secret_show(struct device *dev, struct device_attribute *attr, char *buf) { (void)dev; (void)attr; return sysfs_emit(buf, "hidden\n"); }
static DEVICE_ATTR_RO(secret);
static int mode_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	int i, n = 0;
	(void)dev; (void)attr;
	for (i = 0; modes[i]; i++)
		n += sysfs_emit_at(buf, n, i == mode_index ? "[%s] " : "%s ", modes[i]);
	n += sysfs_emit_at(buf, n - 1, "\n") - 1;
	return n;
}
static int mode_store(struct device *dev, struct device_attribute *attr, const char *buf, unsigned int count)
{
	int i = __sysfs_match_string(modes, -1, buf);
	(void)dev; (void)attr;
	if (i < 0)
		return i;
	mode_index = i;
	return count;
}
static DEVICE_ATTR_RW(mode);
static struct attribute *demo_attrs[] = { &dev_attr_level.attr, &dev_attr_secret.attr, &dev_attr_mode.attr, NULL };
static umode_t demo_visible(struct kobject *kobj, struct attribute *attr, int n)
{
	(void)kobj; (void)n;
	return attr == &dev_attr_secret.attr ? 0 : attr->mode;
}
static const struct attribute_group demo_group = { .attrs = demo_attrs, .is_visible = demo_visible };
static const struct attribute_group *demo_groups[] = { &demo_group, NULL };

static int state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	(void)attr;
	return sysfs_emit(buf, "bound to %s, state %d\n", dev->driver->name, *(int *)dev_get_drvdata(dev));
}
static DEVICE_ATTR_RO(state);
static struct attribute *drv_attrs[] = { &dev_attr_state.attr, NULL };
static const struct attribute_group drv_group = { .name = "driver_info", .attrs = drv_attrs };
static const struct attribute_group *drv_groups[] = { &drv_group, NULL };

static void demo_remove(struct demo_device *d) { removes++; _printk("demo: remove %d\n", *(int *)dev_get_drvdata(&d->dev)); }
/* Runtime PM: the driver's callbacks count and log; Python drives get/put through the exported helpers below. */
int runtime_suspends, runtime_resumes;
static int demo_runtime_suspend(struct device *dev) { runtime_suspends++; _printk("demo: runtime suspend %s\n", dev_name(dev)); return 0; }
static int demo_runtime_resume(struct device *dev) { runtime_resumes++; _printk("demo: runtime resume %s\n", dev_name(dev)); return 0; }
static const struct dev_pm_ops demo_pm = { .runtime_suspend = demo_runtime_suspend, .runtime_resume = demo_runtime_resume };

static struct demo_driver demo_drv = { .probe = demo_probe, .remove = demo_remove,
				       .driver = { .name = "demo", .bus = &demo_bus, .dev_groups = drv_groups, .pm = &demo_pm } };

static int supply_probe(struct demo_device *d) { (void)d; ready = 1; return 0; }
static struct demo_driver supply_drv = { .probe = supply_probe, .driver = { .name = "supply", .bus = &demo_bus } };

static struct demo_device devices[3];
static struct demo_device supply_dev = { .index = 9 };
static void demo_release(struct device *dev) { releases++; _printk("demo: release %s\n", dev_name(dev)); }

int add_device(int i)
{
	struct demo_device *d = &devices[i];
	int err;
	d->index = i;
	d->dev.bus = &demo_bus;
	d->dev.release = demo_release;
	d->dev.groups = demo_groups;
	dev_set_name(&d->dev, "demo%d", i);
	err = device_register(&d->dev);
	if (err)
		put_device(&d->dev);
	return err;
}
void remove_device(int i) { device_unregister(&devices[i].dev); }
void *drvdata_of(int i) { return dev_get_drvdata(&devices[i].dev); }
u32 kref_of(int i) { return devices[i].dev.kobj.kref; }
void hold(int i) { get_device(&devices[i].dev); }
void drop(int i) { put_device(&devices[i].dev); }

int add_supply(void)
{
	supply_dev.dev.bus = &demo_bus;
	supply_dev.dev.release = demo_release;
	supply_dev.dev.init_name = "supply0";
	return device_register(&supply_dev.dev) ?: driver_register(&supply_drv.driver);
}

static int count_one(struct device *dev, void *data) { (void)dev; walked++; return (*(int *)data)-- == 1; }
int walk(int stop_after) { walked = 0; return bus_for_each_dev(&demo_bus, NULL, &stop_after, count_one); }

int rpm_enable(int i) { int err = __pm_runtime_set_status(&devices[i].dev, 0); pm_runtime_enable(&devices[i].dev); return err; }
void rpm_disable(int i) { __pm_runtime_disable(&devices[i].dev, 1); }
int rpm_get(int i) { return __pm_runtime_resume(&devices[i].dev, RPM_GET_PUT); }                /* pm_runtime_get_sync */
int rpm_put(int i) { return __pm_runtime_idle(&devices[i].dev, RPM_GET_PUT); }                  /* pm_runtime_put_sync */
int rpm_usage(int i) { return DEV_POWER_USAGE_COUNT(&devices[i].dev); }
void rpm_autosuspend(int i, int delay_ms)
{
	pm_runtime_set_autosuspend_delay(&devices[i].dev, delay_ms);
	__pm_runtime_use_autosuspend(&devices[i].dev, 1);
}
int rpm_put_autosuspend(int i)                                                                  /* mark_last_busy + put_autosuspend */
{
	DEV_POWER_LAST_BUSY(&devices[i].dev) = ktime_get_mono_fast_ns();
	return __pm_runtime_suspend(&devices[i].dev, RPM_GET_PUT | RPM_ASYNC | RPM_AUTO);
}

const char *label_of(int i) { return labels[i]; }
int wake(int i) { device_set_wakeup_capable(&devices[i].dev, 1); return device_wakeup_enable(&devices[i].dev); }
int wake_off(int i) { return device_wakeup_disable(&devices[i].dev); }
void wake_event(int i) { pm_wakeup_dev_event(&devices[i].dev, 0, 0); }
int wake_uncapable(int i) { device_set_wakeup_capable(&devices[i].dev, 0); return device_wakeup_enable(&devices[i].dev); }

/* A platform driver and its one device in one call, as legacy drivers make them. */
u32 bundle_io, bundle_data;
static int bundle_probe(struct platform_device *pdev)
{
	struct resource *io = platform_get_mem_or_io(pdev, 0);
	if (!io)
		return -19;
	bundle_io = io->start;
	bundle_data = *(const u32 *)pdev->dev.platform_data;
	return 0;
}
static struct platform_driver bundle_drv = { .driver = { .name = "demo-bundle" } };
static struct platform_device *bundle_dev;
int make_bundle(void)
{
	static struct resource io = { .start = 0x2e8, .end = 0x2ef, .flags = IORESOURCE_IO };
	static const u32 data = 0xfeed;
	bundle_dev = __platform_create_bundle(&bundle_drv, bundle_probe, &io, 1, &data, sizeof(data), NULL);
	return IS_ERR(bundle_dev) ? (int)(long)bundle_dev : 0;
}
void drop_bundle(void) { platform_device_unregister(bundle_dev); platform_driver_unregister(&bundle_drv); }

/* No ACPI on this PC: what a driver that checks for it before touching ports learns. */
const char *acpi_status_name;
int acpi_checks(void)
{
	unsigned long long value = 7;
	unsigned int status = acpi_evaluate_integer(NULL, "\\_SB.PCI0._ADR", NULL, &value);
	acpi_status_name = acpi_format_exception(status);
	return (acpi_check_region(0x290, 8, "demo") == 0) | !acpi_dev_present("PNP0C09", NULL, -1) << 1 |
	       !acpi_match_device(NULL, &devices[0].dev) << 2 | (value == 7) << 3;
}

/* No device tree either: what the property and fwnode helpers answer for a device without a node. */
int firmware_checks(void)
{
	struct device *dev = &devices[0].dev;
	unsigned char mac[6];
	u32 v = 5;
	return (device_get_child_node_count(dev) == 0) | !device_get_next_child_node(dev, NULL) << 1 |
	       ((long)fwnode_find_reference(__dev_fwnode(dev), "clocks", 0) == -2) << 2 |
	       (device_property_match_string(dev, "mode", "x") == -22) << 3 |
	       (device_property_read_u32_array(dev, "rate", &v, 1) == -22 && v == 5) << 4 |
	       (of_get_mac_address(NULL, mac) == -19) << 5;
}

/* dev_printk at a level given as a KERN_* string, and dev_err_probe. */
void say(int i) { _dev_printk("\0013", &devices[i].dev, "level %d\n", 3); _dev_crit(&devices[i].dev, "critical\n"); }
int probe_error(int i, int err) { return dev_err_probe(&devices[i].dev, err, "no clock %s\n", "ref"); }

/* A device nobody gave a release(): Linux complains when the last reference goes. */
static struct device bare;
void bare_device(void) { device_initialize(&bare); dev_set_name(&bare, "bare"); put_device(&bare); }

/* A kobject of its own under /sys/kernel with a kobj_attribute. */
static struct kobject *demo_kobj;
static int counter;
static int counter_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf) { (void)kobj; (void)attr; return sysfs_emit(buf, "%d\n", ++counter); }
static struct kobj_attribute counter_attr = __ATTR(counter, 0444, counter_show, NULL);
int make_kobject(void)
{
	demo_kobj = kobject_create_and_add("demo", kernel_kobj);
	if (!demo_kobj)
		return -12;
	return sysfs_create_file_ns(demo_kobj, &counter_attr.attr, NULL);
}
void drop_kobject(void) { kobject_put(demo_kobj); }

/* Class devices. */
static struct class *demo_class;
int make_class(void) { demo_class = __class_create(NULL, "democlass", NULL); return IS_ERR(demo_class) ? (int)(long)demo_class : 0; }
struct device *make_node(int minor) { return device_create(demo_class, NULL, MKDEV(240, minor), &value, "demonode%d", minor); }
void destroy_node(int minor) { device_destroy(demo_class, MKDEV(240, minor)); }
void drop_class(void) { class_destroy(demo_class); }
int interface_adds, interface_removes;
static int intf_add(struct device *dev, struct class_interface *intf) { (void)intf; interface_adds++; _printk("demo: interface add %s\n", dev_name(dev)); return 0; }
static void intf_remove(struct device *dev, struct class_interface *intf) { (void)intf; interface_removes++; _printk("demo: interface remove %s\n", dev_name(dev)); }
static struct class_interface demo_intf = { .add_dev = intf_add, .remove_dev = intf_remove };
int watch_class(void) { demo_intf.class = demo_class; return class_interface_register(&demo_intf); }
void unwatch_class(void) { class_interface_unregister(&demo_intf); }

int init_module(void)
{
	int err = bus_register(&demo_bus);
	if (err)
		return err;
	err = driver_register(&demo_drv.driver);
	if (err)
		bus_unregister(&demo_bus);
	return err;
}
void cleanup_module(void)
{
	driver_unregister(&demo_drv.driver);
	driver_unregister(&supply_drv.driver);
	bus_unregister(&demo_bus);
}
MODULE_LICENSE("GPL");
