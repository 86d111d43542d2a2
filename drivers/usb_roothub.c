/* usb_roothub: a root hub with four ports, exporting port functions to
 * other modules (usb_storage imports them). Console on load:
 *   "usb_roothub: 4 ports". Port 2 has a device attached at start. */
#include <kernel.h>

#define ROOTHUB_PORTS 4
#define PORT_CONNECTED 0x1
#define PORT_ENABLED 0x2
#define PORT_CLAIMED 0x4

static unsigned int status[ROOTHUB_PORTS];
static char owner[ROOTHUB_PORTS][16];

int roothub_port_count(void)
{
	return ROOTHUB_PORTS;
}
EXPORT_SYMBOL(roothub_port_count);

int roothub_port_status(int port)
{
	if (port < 0 || port >= ROOTHUB_PORTS)
		return -EINVAL;
	return status[port];
}
EXPORT_SYMBOL(roothub_port_status);

int roothub_port_reset(int port)
{
	if (port < 0 || port >= ROOTHUB_PORTS)
		return -EINVAL;
	if (!(status[port] & PORT_CONNECTED))
		return -ENODEV;
	status[port] |= PORT_ENABLED;
	return 0;
}
EXPORT_SYMBOL(roothub_port_reset);

int roothub_claim_port(int port, const char *driver)
{
	if (port < 0 || port >= ROOTHUB_PORTS)
		return -EINVAL;
	if (status[port] & PORT_CLAIMED)
		return -EBUSY;
	status[port] |= PORT_CLAIMED;
	strscpy(owner[port], driver, sizeof(owner[port]));
	pr_info("usb_roothub: port %d claimed by %s\n", port, driver);
	return 0;
}
EXPORT_SYMBOL(roothub_claim_port);

void roothub_release_port(int port)
{
	if (port >= 0 && port < ROOTHUB_PORTS && (status[port] & PORT_CLAIMED)) {
		pr_info("usb_roothub: port %d released by %s\n", port, owner[port]);
		status[port] &= ~PORT_CLAIMED;
	}
}
EXPORT_SYMBOL(roothub_release_port);

static int __init roothub_init(void)
{
	status[2] = PORT_CONNECTED;
	pr_info("usb_roothub: %d ports\n", ROOTHUB_PORTS);
	return 0;
}

module_init(roothub_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A USB root hub model exporting port functions");
