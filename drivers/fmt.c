/* fmt: printk formatting, compiled by a real compiler so the arguments are
 * passed exactly as C passes them.
 *
 *   int fmt_demo(void)     printk's the lines of drivers/fmt.expected, returns 0
 *   int fmt_va_demo(void)  the driver's own variadic functions pass a va_list
 *                          to vprintk and vsnprintf; returns 0 and prints:
 *       vprintk: seven=7 big=0x100000000        (level 5, KERN_NOTICE)
 *       vsnprintf: [eight=8] -8 12
 *       vsnprintf: trunc 9
 *   int fmt_snprintf(char *buf, int size, int x)
 *       snprintf(buf, size, "value=%04d hex=%#x", x, x); returns the full length
 *
 * drivers/fmt.expected is the console fmt_demo() must produce, byte for byte:
 * what glibc's printf prints for the same format and arguments, with %p as
 * "0x" then lowercase hex, no zero padding (as glibc prints it), "(null)" for
 * a NULL %p (glibc would print "(nil)"), and "(null)" for a NULL %s. KERN_*
 * prefixes are not part of the console text (each sets its record's level).
 * Record levels in order: 9 x None, 0 3 4 6 7 (emerg err warning info
 * debug), 6 (pr_info), None (pr_cont), 1 2 5 None (alert crit notice
 * default), 3 x None.
 */
#include <kernel.h>

/* Lines that deliberately do what compilers warn about (the '0' flag with a
 * precision, plain int arguments for %hh and %h) pass their format through
 * this, which -Wformat does not check. The output is the same. */
static const char *unchecked(const char *fmt)
{
	return fmt;
}

/* A driver's own variadic functions, passing their va_list on. */
static __printf(1, 2) int logv(const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vprintk(fmt, args);
	va_end(args);
	return n;
}

static __printf(3, 4) int formatv(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return n;
}

int fmt_demo(void)
{
	long long big = -1234567890123LL;
	unsigned long long ubig = 18446744073709551615ULL;

	printk("[%d] [%i] [%u] [%x] [%X] [%o] [%c] [%s] [%%]\n", -42, 42, 42u, 0xbeefu, 0xbeefu, 8u, 'Z', "str");
	printk("[%5d] [%-5d] [%05d] [%+d] [% d] [%+5d] [%-+5d]\n", 42, 42, 42, 42, 42, -42, 42);
	printk("[%#x] [%#X] [%#o] [%#x] [%#o] [%#08x]\n", 255u, 255u, 8u, 0u, 0u, 255u);
	printk(unchecked("[%.3d] [%.0d] [%5.3d] [%-5.3d] [%05.3d] [%.5s] [%10.2s] [%-6s]\n"),
	       7, 0, 7, 7, 7, "truncate", "ab", "ab");
	printk("[%*d] [%-*d] [%*d] [%.*s] [%*.*d]\n", 6, 1, 6, 2, -6, 3, 2, "xyz", 6, 3, 4);
	printk(unchecked("[%hhd] [%hhu] [%hd] [%hu] [%ld] [%lu] [%zu] [%zd]\n"),
	       300, 300, 70000, 70000, -5L, 5UL, (size_t)123, (ssize_t)-4);
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
	printk(KERN_ALERT "alert\n");
	printk(KERN_CRIT "crit\n");
	printk(KERN_NOTICE "notice\n");
	printk(KERN_DEFAULT "default\n");
	printk("[%hhx] [%hx] [%lx] [%zx] [%llX] [%-8.3x] [%+.2d] [% 05d]\n", (unsigned char)0xab,
	       (unsigned short)0xbeef, 0xdeadbeefUL, (size_t)0x10, 0xfedcba9876543210ULL, 0x1fu, 5, -12);
	printk("[%c%c%c] [%3c] [%-3c] [%s] [%.0s] [%5s]\n", 'a', 'b', 'c', 'x', 'y', "", "gone", "");
	printk("[%lld] [%llu] [%lli] [%lld]\n", -9223372036854775807LL - 1, 0ULL, 4294967296LL, -1LL);
	return 0;
}
EXPORT_SYMBOL(fmt_demo);

int fmt_va_demo(void)
{
	char buf[32];
	int n;

	logv(KERN_NOTICE "vprintk: %s=%d %s=%#llx\n", "seven", 7, "big", 0x100000000ULL);
	n = formatv(buf, sizeof(buf), "[%s=%d] %lld", "eight", 8, -8LL);
	printk("vsnprintf: %s %d\n", buf, n);
	n = formatv(buf, 6, "%s", "truncated");
	printk("vsnprintf: %s %d\n", buf, n);
	return 0;
}
EXPORT_SYMBOL(fmt_va_demo);

int fmt_snprintf(char *buf, int size, int x)
{
	return snprintf(buf, size, "value=%04d hex=%#x", x, x);
}
EXPORT_SYMBOL(fmt_snprintf);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Exercises printk formatting");
