/* pedelay: imports pelib.dll's pelib_add through a delay-load table (with
 * clang + lld-link /delayload; mingw links it as a normal import). The loader
 * binds delay-load slots at load, so the helper below never runs.
 * Console on load: "pedelay: 40+2=42". */
// pe-imports: pelib
// pe-delayload: pelib
#include <kernel.h>

extern int pelib_add(int a, int b);

#ifdef _MSC_VER
/* What lld-link's delay-load thunks call on first use (delayimp.lib's helper
 * in a real build). Bound eagerly, the slots never reach it. */
void *__stdcall __delayLoadHelper2(const void *descriptor, void **slot)
{
	(void)descriptor;
	(void)slot;
	pr_err("pedelay: delay-load helper called\n");
	return 0;
}
#endif

static int __init pedelay_init(void)
{
	pr_info("pedelay: 40+2=%d\n", pelib_add(40, 2));
	return 0;
}

module_init(pedelay_init);
MODULE_LICENSE("GPL");
