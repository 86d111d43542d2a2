/* callconv: exercises every i386 calling convention in both directions.
 *
 * For each convention NAME it exports, in that convention,
 *   cc_mixed_NAME(int, long long, short, int) -> long long
 *   cc_narrow_NAME(signed char, short, int, unsigned char) -> int
 *   cc_wide_NAME(long long, int) -> long long
 *   cc_callback_NAME(int, long long, short) -> int   (also registered at init)
 *   cc_struct_NAME(struct cc_one, int, struct cc_pair) -> int (by value)
 * and, in cdecl, cc_use_NAME(...) which calls the kernel's services of that
 * convention (callconv.h) and cc_call_back_NAME(a, b, c) which has the kernel
 * call cc_callback_NAME back. Each function's result mixes its arguments so
 * a misplaced one shows.
 */
#include <kernel.h>
#include "callconv.h"

/* The same mixes the tests compute in Python. */
#define MIX_MIXED(a, b, c, d) ((long long)(a) * 1000003 + (b) * 7 + (long long)(c) * 31 + (d))
#define MIX_NARROW(a, b, c, d) ((a) * 1000000 + (b) * 1000 + (c) * 10 + (d))
#define MIX_WIDE(a, b) ((a) * 3 + (b))
#define MIX_CALLBACK(a, b, c) ((int)((a) * 5 + (int)((b) >> 32) * 3 + (int)(b) + (c)))
#define MIX_STRUCT(o, k, p) ((o).v * 100000 + (k) * 1000 + (p).x * 10 + (p).y)

struct cc_one {
	int v;
};

struct cc_pair {
	int x;
	short y;
};

#define CC_DEFINE(name, attr)                                                            \
	long long attr cc_mixed_##name(int a, long long b, short c, int d)               \
	{                                                                                \
		return MIX_MIXED(a, b, c, d);                                            \
	}                                                                                \
	int attr cc_narrow_##name(signed char a, short b, int c, unsigned char d)        \
	{                                                                                \
		return MIX_NARROW(a, b, c, d);                                           \
	}                                                                                \
	long long attr cc_wide_##name(long long a, int b)                                \
	{                                                                                \
		return MIX_WIDE(a, b);                                                   \
	}                                                                                \
	int attr cc_callback_##name(int a, long long b, short c)                         \
	{                                                                                \
		return MIX_CALLBACK(a, b, c);                                            \
	}                                                                                \
	int attr cc_struct_##name(struct cc_one o, int k, struct cc_pair p)              \
	{                                                                                \
		return MIX_STRUCT(o, k, p);                                              \
	}                                                                                \
	long long cc_use_##name(int a, long long b, short c, int d)                      \
	{                                                                                \
		long long mixed = cc_svc_mixed_##name(a, b, c, d);                       \
		int narrow = cc_svc_narrow_##name((signed char)a, c, d, (unsigned char)d); \
		long long wide = cc_svc_wide_##name(b, a);                               \
		return mixed + narrow + wide;                                            \
	}                                                                                \
	int cc_call_back_##name(int a, long long b, short c)                             \
	{                                                                                \
		return cc_run_callback_##name(cc_callback_##name, a, b, c);              \
	}

CC_EACH(CC_DEFINE)

static int __init callconv_init(void)
{
	int err = 0;

#define CC_REGISTER(name, attr) err |= cc_register_callback(#name, (void *)cc_callback_##name);
	CC_EACH(CC_REGISTER)
	return err;
}

static void __exit callconv_exit(void)
{
}

module_init(callconv_init);
module_exit(callconv_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Every i386 calling convention, both directions");
