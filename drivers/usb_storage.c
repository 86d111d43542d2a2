/* usb_storage: finds a connected port through usb_roothub's exports,
 * resets and claims it. Console on load:
 *   "usb_storage: attached to port 2"; on unload the port is released. */
// pe-imports: usb_roothub
#include <kernel.h>

extern int roothub_port_count(void);
extern int roothub_port_status(int port);
extern int roothub_port_reset(int port);
extern int roothub_claim_port(int port, const char *driver);
extern void roothub_release_port(int port);

static int port = -1;

int usb_storage_port(void)
{
	return port;
}
EXPORT_SYMBOL(usb_storage_port);

static int __init usb_storage_init(void)
{
	int count = roothub_port_count();

	for (int p = 0; p < count; p++) {
		if (!(roothub_port_status(p) & 0x1))
			continue;
		if (roothub_port_reset(p) == 0 && roothub_claim_port(p, "usb-storage") == 0) {
			port = p;
			pr_info("usb_storage: attached to port %d\n", p);
			return 0;
		}
	}
	pr_err("usb_storage: no device\n");
	return -ENODEV;
}

static void __exit usb_storage_exit(void)
{
	roothub_release_port(port);
}

module_init(usb_storage_init);
module_exit(usb_storage_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Mass storage on the root hub");
static const char depends[] __used __section(".modinfo") = "depends=usb_roothub";
