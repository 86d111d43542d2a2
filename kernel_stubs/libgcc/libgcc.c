/* The compiler runtime helpers gcc and clang call for 64-bit arithmetic on
 * i386 (and the bit-counting ones gcc calls without -mpopcnt), as a hobby
 * kernel provides them. Compiled by tools/gen-guest-code into raw code that
 * kernel_stubs/libgcc/__init__.py places in kernel text: real instructions,
 * so a division by zero is the CPU's #DE at a `div`, as with libgcc.
 *
 * Every function stands alone (helpers are always_inline, no data, no
 * calls), so its bytes can be placed anywhere: tools/gen-guest-code checks the
 * object has no relocations. Semantics are libgcc's: quotients truncate
 * toward zero, a remainder has the dividend's sign, INT64_MIN / -1 wraps.
 */
typedef unsigned long long u64;
typedef long long s64;
typedef unsigned int u32;

#define INLINE static inline __attribute__((always_inline))

/* edx:eax / divisor; #DE when the divisor is 0 or the quotient overflows. */
INLINE u32 div_words(u32 high, u32 low, u32 divisor, u32 *remainder)
{
	u32 quotient, rest;
	__asm__("divl %4" : "=a"(quotient), "=d"(rest) : "a"(low), "d"(high), "rm"(divisor));
	*remainder = rest;
	return quotient;
}

INLINE u64 udivmod(u64 n, u64 d, u64 *remainder)
{
	u32 nh = (u32)(n >> 32), nl = (u32)n, dh = (u32)(d >> 32), dl = (u32)d;
	u32 qh = 0, ql, rest;
	int shift, i;

	if (dh == 0) {
		/* Two 32-bit divisions; with d == 0 the first (or only) one traps. */
		if (nh >= dl)
			qh = div_words(0, nh, dl, &nh);
		ql = div_words(nh, nl, dl, &rest);
		*remainder = rest;
		return ((u64)qh << 32) | ql;
	}
	if (n < d) {
		*remainder = n;
		return 0;
	}
	/* d >= 2^32, so the quotient fits 32 bits: shift and subtract. */
	shift = __builtin_clz(dh) - __builtin_clz(nh);
	d <<= shift;
	ql = 0;
	for (i = 0; i <= shift; i++) {
		ql <<= 1;
		if (n >= d) {
			n -= d;
			ql |= 1;
		}
		d >>= 1;
	}
	*remainder = n;
	return ql;
}

INLINE u64 magnitude(s64 value)
{
	return value < 0 ? -(u64)value : (u64)value;
}

u64 __udivdi3(u64 n, u64 d)
{
	u64 r;
	return udivmod(n, d, &r);
}

u64 __umoddi3(u64 n, u64 d)
{
	u64 r;
	udivmod(n, d, &r);
	return r;
}

u64 __udivmoddi4(u64 n, u64 d, u64 *remainder)
{
	u64 r, q = udivmod(n, d, &r);
	if (remainder)
		*remainder = r;
	return q;
}

s64 __divdi3(s64 n, s64 d)
{
	u64 r, q = udivmod(magnitude(n), magnitude(d), &r);
	return (s64)(((n < 0) != (d < 0)) ? -q : q);
}

s64 __moddi3(s64 n, s64 d)
{
	u64 r;
	udivmod(magnitude(n), magnitude(d), &r);
	return (s64)(n < 0 ? -r : r);
}

s64 __divmoddi4(s64 n, s64 d, s64 *remainder)
{
	u64 r, q = udivmod(magnitude(n), magnitude(d), &r);
	if (remainder)
		*remainder = (s64)(n < 0 ? -r : r);
	return (s64)(((n < 0) != (d < 0)) ? -q : q);
}

/* Shifts: the count is taken modulo 64, as the inline sequences do. */
u64 __ashldi3(u64 value, int count)
{
	return value << (count & 63);
}

s64 __ashrdi3(s64 value, int count)
{
	return value >> (count & 63);
}

u64 __lshrdi3(u64 value, int count)
{
	return value >> (count & 63);
}

u64 __muldi3(u64 a, u64 b)
{
	return a * b;
}

s64 __negdi2(s64 value)
{
	return (s64)-(u64)value;
}

/* 0, 1, 2 for less, equal, greater. */
int __cmpdi2(s64 a, s64 b)
{
	return a < b ? 0 : a > b ? 2 : 1;
}

int __ucmpdi2(u64 a, u64 b)
{
	return a < b ? 0 : a > b ? 2 : 1;
}

INLINE int popcount32(u32 x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (int)((x * 0x01010101u) >> 24);
}

int __popcountsi2(u32 x)
{
	return popcount32(x);
}

int __popcountdi2(u64 x)
{
	return popcount32((u32)x) + popcount32((u32)(x >> 32));
}

int __paritysi2(u32 x)
{
	return popcount32(x) & 1;
}

int __paritydi2(u64 x)
{
	return popcount32((u32)x ^ (u32)(x >> 32)) & 1;
}

/* Undefined for 0 in libgcc; here 32/64, what a careful caller would expect. */
int __ctzsi2(u32 x)
{
	return x ? __builtin_ctz(x) : 32;
}

int __clzsi2(u32 x)
{
	return x ? __builtin_clz(x) : 32;
}

int __ctzdi2(u64 x)
{
	u32 low = (u32)x, high = (u32)(x >> 32);
	return low ? __builtin_ctz(low) : high ? 32 + __builtin_ctz(high) : 64;
}

int __clzdi2(u64 x)
{
	u32 low = (u32)x, high = (u32)(x >> 32);
	return high ? __builtin_clz(high) : low ? 32 + __builtin_clz(low) : 64;
}

/* 1 + the index of the lowest set bit, 0 for 0. */
int __ffssi2(u32 x)
{
	return x ? __builtin_ctz(x) + 1 : 0;
}

int __ffsdi2(u64 x)
{
	u32 low = (u32)x, high = (u32)(x >> 32);
	return low ? __builtin_ctz(low) + 1 : high ? __builtin_ctz(high) + 33 : 0;
}

u32 __bswapsi2(u32 x)
{
	return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}

u64 __bswapdi2(u64 x)
{
	return ((u64)__bswapsi2((u32)x) << 32) | __bswapsi2((u32)(x >> 32));
}
