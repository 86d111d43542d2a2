/* faulty: functions that each break the rules one way, to show the
 * sandbox's fault reports (python -m sandbox run faulty.o --call fault_null_read).
 * Nothing here prints; there is no init or exit.
 *
 *   int faulty_ok(int a, int b)          returns a + b (the kernel still works)
 *   int fault_null_read(void)            reads an int at address 0
 *   int fault_null_write(void)           writes an int at address 0
 *   int fault_write_rodata(void)         writes the const global `constant` (.rodata)
 *   int fault_write_text(void)           writes the first byte of faulty_ok (.text)
 *   int fault_invalid_opcode(void)       ud2 (__builtin_trap)
 *   int fault_divide(int divisor)        100 / divisor: a divide error for 0
 *   int fault_stack_overflow(int depth)  unbounded recursion, 256-byte frames
 *   int fault_spin(void)                 never returns (a runaway loop)
 *   int fault_call_missing(void)         calls sandbox_unimplemented_service(1),
 *                                        declared in testing.h, never implemented
 *   int fault_double_free(void)          kfree()s one kmalloc(32) block twice
 */
#include <kernel.h>

static const int constant = 5;
static volatile int sink;
static volatile int stop_at = -1;	/* never reached: keeps the recursion "bounded" */
static volatile int *volatile nowhere;	/* NULL, loaded at run time */

int faulty_ok(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL(faulty_ok);

int fault_null_read(void)
{
	return *nowhere;
}
EXPORT_SYMBOL(fault_null_read);

int fault_null_write(void)
{
	*nowhere = 0x5a5a5a5a;
	return 0;
}
EXPORT_SYMBOL(fault_null_write);

int fault_write_rodata(void)
{
	*(volatile int *)&constant = 6;
	return 0;
}
EXPORT_SYMBOL(fault_write_rodata);

int fault_write_text(void)
{
	volatile unsigned char *code = (volatile unsigned char *)(uintptr_t)&faulty_ok;

	*code = 0xcc;	/* int3 */
	return 0;
}
EXPORT_SYMBOL(fault_write_text);

int fault_invalid_opcode(void)
{
	__builtin_trap();
}
EXPORT_SYMBOL(fault_invalid_opcode);

int fault_divide(int divisor)
{
	volatile int n = 100;

	return n / divisor;
}
EXPORT_SYMBOL(fault_divide);

static noinline int recurse(int depth)
{
	volatile char pad[256];

	if (depth == stop_at)
		return 0;
	pad[0] = (char)depth;
	pad[255] = pad[0];
	sink = pad[255];
	return recurse(depth + 1) + pad[0];
}

int fault_stack_overflow(int depth)
{
	return recurse(depth);
}
EXPORT_SYMBOL(fault_stack_overflow);

int fault_spin(void)
{
	for (;;)
		sink++;
}
EXPORT_SYMBOL(fault_spin);

int fault_call_missing(void)
{
	return sandbox_unimplemented_service(1);
}
EXPORT_SYMBOL(fault_call_missing);

int fault_double_free(void)
{
	void *p = kmalloc(32, GFP_KERNEL);

	kfree(p);
	kfree(p);
	return 0;
}
EXPORT_SYMBOL(fault_double_free);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Faults on purpose");
