/* callconv.h: a kernel API whose functions use every i386 calling convention.
 *
 * For each convention NAME (cdecl, regparm1..3, stdcall, fastcall) the kernel
 * offers three services in that convention, with argument lists that hit the
 * layout rules (a 64-bit argument needs two free registers under regparm and
 * never travels in registers under fastcall; char and short are widened):
 *
 *   long long cc_svc_mixed_NAME(int a, long long b, short c, int d);
 *   int       cc_svc_narrow_NAME(signed char a, short b, int c, unsigned char d);
 *   long long cc_svc_wide_NAME(long long a, int b);
 *
 * and, in the kernel's own convention, cc_run_callback_NAME(cb, a, b, c),
 * which calls a driver callback of convention NAME at once, and
 * cc_register_callback(name, cb), which keeps one for later.
 */
#ifndef CALLCONV_H
#define CALLCONV_H

#define CC_CDECL __attribute__((cdecl))
#define CC_REGPARM1 __attribute__((regparm(1)))
#define CC_REGPARM2 __attribute__((regparm(2)))
#define CC_REGPARM3 __attribute__((regparm(3)))
#define CC_STDCALL __attribute__((stdcall))
#define CC_FASTCALL __attribute__((fastcall))

/* X(name, attribute) for every convention. */
#define CC_EACH(X)                 \
	X(cdecl, CC_CDECL)         \
	X(regparm1, CC_REGPARM1)   \
	X(regparm2, CC_REGPARM2)   \
	X(regparm3, CC_REGPARM3)   \
	X(stdcall, CC_STDCALL)     \
	X(fastcall, CC_FASTCALL)

#define CC_DECLARE(name, attr)                                                          \
	typedef int (attr *cc_callback_##name##_t)(int a, long long b, short c);        \
	extern long long attr cc_svc_mixed_##name(int a, long long b, short c, int d);  \
	extern int attr cc_svc_narrow_##name(signed char a, short b, int c, unsigned char d); \
	extern long long attr cc_svc_wide_##name(long long a, int b);                   \
	extern int cc_run_callback_##name(cc_callback_##name##_t cb, int a, long long b, short c);

CC_EACH(CC_DECLARE)

extern int cc_register_callback(const char *convention, void *callback);

#endif
