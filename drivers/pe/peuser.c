/* peuser: a PE driver importing pelib.dll's exports, by name and by ordinal.
 * Console on load: "peuser: 2+3=5 6*7=42 secret=0x5ec2e7". */
// pe-imports: pelib
#include <kernel.h>

extern int pelib_add(int a, int b);
extern int pelib_calls(void);
extern int pelib_secret(void);
extern int __attribute__((__stdcall__)) pelib_mul(int a, int b);

int peuser_twice(int a)
{
	return pelib_add(a, a);
}
EXPORT_SYMBOL(peuser_twice);

static int __init peuser_init(void)
{
	pr_info("peuser: 2+3=%d 6*7=%d secret=%#x\n", pelib_add(2, 3), pelib_mul(6, 7), pelib_secret());
	return 0;
}

static void __exit peuser_exit(void)
{
	pr_info("peuser: pelib saw %d call(s)\n", pelib_calls());
}

module_init(peuser_init);
module_exit(peuser_exit);
MODULE_LICENSE("GPL");
