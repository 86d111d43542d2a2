/* pelib: a PE library other PE drivers import from (by name and by ordinal).
 * Console on load: "pelib: ready"; pelib_add(a, b) counts its calls;
 * pelib_secret is exported by ordinal 7 only (NONAME). */
// pe-export-ordinal: pelib_secret 7
#include <kernel.h>

static int calls;
static int table[16];	/* .bss: must read as zeroes */

int pelib_add(int a, int b)
{
	calls++;
	return a + b;
}
EXPORT_SYMBOL(pelib_add);

int pelib_calls(void)
{
	int sum = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(table); i++)
		sum += table[i];
	return calls + sum;
}
EXPORT_SYMBOL(pelib_calls);

/* A __stdcall export: its decorated name (_pelib_mul@8) is what an importer's
 * import library must map to the export's name. */
__declspec(dllexport) int __attribute__((__stdcall__)) pelib_mul(int a, int b)
{
	calls++;
	return a * b;
}

int pelib_secret(void)
{
	return 0x5ec2e7;
}

static int __init pelib_init(void)
{
	pr_info("pelib: ready\n");
	return 0;
}

static void __exit pelib_exit(void)
{
	pr_info("pelib: %d call(s)\n", calls);
}

module_init(pelib_init);
module_exit(pelib_exit);
MODULE_LICENSE("GPL");
