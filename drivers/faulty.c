/* faulty: functions that each break the rules one way, to show the
 * sandbox's fault reports (python -m sandbox run faulty.o --call fault_null_read). */
#include <kernel.h>

static const int constant = 5;
static volatile int sink;
static volatile int *volatile nowhere;

int faulty_ok(int a, int b) { return a + b; }
int fault_null_read(void) { return *nowhere; }
int fault_write_rodata(void) { *(volatile int *)&constant = 6; return 0; }
int fault_invalid_opcode(void) { __builtin_trap(); }
int fault_divide(int divisor) { volatile int n = 100; return n / divisor; }
int fault_spin(void) { for (;;) sink++; }
int fault_call_missing(void) { return sandbox_unimplemented_service(1); }

static noinline int recurse(int depth)
{
	volatile char pad[256];

	pad[0] = (char)depth;
	sink = pad[0];
	return recurse(depth + 1) + pad[0];
}

int fault_stack_overflow(void) { return recurse(0); }

int fault_double_free(void)
{
	void *p = kmalloc(32, GFP_KERNEL);

	kfree(p);
	kfree(p);
	return 0;
}

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Faults on purpose");
