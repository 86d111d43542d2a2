/* arith: 64-bit arithmetic on i386, which gcc and clang compile into calls
 * to the libgcc helpers (__udivdi3, __divdi3, __umoddi3, __moddi3, ...),
 * plus typed results for the command line: an unsigned 32-bit hash, a
 * 64-bit product and an output buffer. Console on load: "arith: ready". */
#include <kernel.h>

typedef unsigned long long u64;
typedef long long s64;

u64 arith_udiv(u64 n, u64 d) { return n / d; }
u64 arith_umod(u64 n, u64 d) { return n % d; }
s64 arith_sdiv(s64 n, s64 d) { return n / d; }
s64 arith_smod(s64 n, s64 d) { return n % d; }

/* Both quotient and remainder: gcc calls __udivmoddi4 for this. */
u64 arith_udivmod(u64 n, u64 d, u64 *remainder)
{
	*remainder = n % d;
	return n / d;
}

u64 arith_mul64(u64 a, u64 b) { return a * b; }
u64 arith_shl(u64 v, int n) { return v << n; }
u64 arith_shr(u64 v, int n) { return v >> n; }
s64 arith_sar(s64 v, int n) { return v >> n; }
int arith_popcount(u64 v) { return __builtin_popcountll(v); }
int arith_ffs(u64 v) { return __builtin_ffsll(v); }

/* FNV-1a: an unsigned 32-bit result the CLI should not show as negative. */
unsigned int arith_hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Writes "n=<n>" into buf (an output buffer); returns the length. */
int arith_format(char *buf, int size, u64 n)
{
	return snprintf(buf, size, "n=%llu", n);
}

static int __init arith_init(void)
{
	pr_info("arith: ready\n");
	return 0;
}

module_init(arith_init);
MODULE_LICENSE("GPL");
