/* fmt: printk formatting, compiled by a real compiler so the arguments are
 * passed exactly as C passes them. drivers/fmt.expected is the console
 * fmt_demo() must produce (glibc printf output, except %p, which prints
 * 0x<hex> and "(null)" for NULL as Linux's %px-like raw form does). */
#include <kernel.h>

int fmt_demo(void)
{
	long long big = -1234567890123LL;
	unsigned long long ubig = 18446744073709551615ULL;

	printk("[%d] [%i] [%u] [%x] [%X] [%o] [%c] [%s] [%%]\n", -42, 42, 42u, 0xbeefu, 0xbeefu, 8u, 'Z', "str");
	printk("[%5d] [%-5d] [%05d] [%+d] [% d] [%+5d] [%-+5d]\n", 42, 42, 42, 42, 42, -42, 42);
	printk("[%#x] [%#X] [%#o] [%#x] [%#o] [%#08x]\n", 255u, 255u, 8u, 0u, 0u, 255u);
	printk("[%.3d] [%.0d] [%5.3d] [%-5.3d] [%05.3d] [%.5s] [%10.2s] [%-6s]\n", 7, 0, 7, 7, 7, "truncate", "ab", "ab");
	printk("[%*d] [%-*d] [%*d] [%.*s] [%*.*d]\n", 6, 1, 6, 2, -6, 3, 2, "xyz", 6, 3, 4);
	printk("[%hhd] [%hhu] [%hd] [%hu] [%ld] [%lu] [%zu] [%zd]\n", 300, 300, 70000, 70000, -5L, 5UL, (size_t)123, (ssize_t)-4);
	printk("[%lld] [%llu] [%llx] [%d]\n", big, ubig, 0x123456789abcdefULL, INT_MIN);
	printk("[%d] [%u] [%x]\n", -1, 0xffffffffu, 0xffffffffu);
	printk("[%p] [%p] [%12p] [%s]\n", (void *)0x1234, (void *)0, (void *)0xc0de, (char *)0);
	printk(KERN_EMERG "emerg\n");
	printk(KERN_ERR "err\n");
	printk(KERN_WARNING "warning\n");
	printk(KERN_INFO "info\n");
	printk(KERN_DEBUG "debug\n");
	pr_info("pr_info %s\n", "works");
	pr_cont("...and continues\n");
	return 0;
}
EXPORT_SYMBOL(fmt_demo);

int fmt_snprintf(char *buf, int size, int x)
{
	return snprintf(buf, size, "value=%04d hex=%#x", x, x);
}
EXPORT_SYMBOL(fmt_snprintf);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Exercises printk formatting");
