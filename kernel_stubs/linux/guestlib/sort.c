/*
 * lib/sort.c's interface for the linux profile, as raw guest code.
 *
 * sort() calls the module's comparison for every step, so as a Python
 * service each step was a guest -> host -> guest round trip: ni_routing's
 * init alone took 3 s. Here the loop runs on the emulated CPU and calls the
 * callbacks directly. The algorithm is the bottom-up heapsort of Linux 6.1
 * (same comparisons, same swaps, in the same order), so ties end up where
 * Linux leaves them. Built with -mregparm=3 like the modules that call it:
 * tools/gen-guest-code checks it has no relocations and calls nothing.
 */

/* Each exported function must stand alone (its bytes are placed by themselves): all helpers inline. */
#define helper static inline __attribute__((always_inline))

typedef unsigned int size_t;
typedef int (*cmp_func_t)(const void *a, const void *b);
typedef void (*swap_func_t)(void *a, void *b, int size);
typedef int (*cmp_r_func_t)(const void *a, const void *b, const void *priv);
typedef void (*swap_r_func_t)(void *a, void *b, int size, const void *priv);

/* Linux's default swap: word by word when base and size allow, else bytes. */
helper void swap_bytes(char *a, char *b, size_t size)
{
	if ((((unsigned long)a | (unsigned long)b | size) & 3) == 0) {
		unsigned int *x = (unsigned int *)a, *y = (unsigned int *)b;

		for (size /= 4; size; size--, x++, y++) {
			unsigned int t = *x;
			*x = *y;
			*y = t;
		}
		return;
	}
	for (; size; size--, a++, b++) {
		char t = *a;
		*a = *b;
		*b = t;
	}
}

/* Index of the parent of the element at byte offset i (lsbit: lowest set bit of size). */
helper size_t parent(size_t i, size_t lsbit, size_t size)
{
	i -= size;
	i -= size & -(i & lsbit);
	return i / 2;
}

struct callbacks {
	cmp_r_func_t cmp_r;
	swap_r_func_t swap_r;
	cmp_func_t cmp;
	swap_func_t swap;
	const void *priv;
};

helper int compare(const struct callbacks *cb, char *a, char *b)
{
	return cb->cmp ? cb->cmp(a, b) : cb->cmp_r(a, b, cb->priv);
}

helper void exchange(const struct callbacks *cb, char *a, char *b, size_t size)
{
	if (cb->swap)
		cb->swap(a, b, (int)size);
	else if (cb->swap_r)
		cb->swap_r(a, b, (int)size, cb->priv);
	else
		swap_bytes(a, b, size);
}

helper void heapsort(char *base, size_t num, size_t size, const struct callbacks *cb)
{
	size_t n = num * size, a = (num / 2) * size, b, c, d;
	const size_t lsbit = size & -size;

	if (!a)
		return;
	for (;;) {
		if (a) {
			a -= size;	/* building the heap */
		} else {
			n -= size;	/* sorting: move the top to the end */
			if (!n)
				break;
			exchange(cb, base, base + n, size);
		}
		/* Down to a leaf, taking the larger child each time... */
		for (b = a; c = 2 * b + size, (d = c + size) < n;)
			b = compare(cb, base + c, base + d) >= 0 ? c : d;
		if (d == n)
			b = c;
		/* ...back up to where the element at a belongs... */
		while (b != a && compare(cb, base + a, base + b) >= 0)
			b = parent(b, lsbit, size);
		/* ...and rotate it into place. */
		c = b;
		while (b != a) {
			b = parent(b, lsbit, size);
			exchange(cb, base + b, base + c, size);
		}
	}
}

void sort_r(void *base, size_t num, size_t size, cmp_r_func_t cmp_func, swap_r_func_t swap_func,
	    const void *priv)
{
	struct callbacks cb = { cmp_func, swap_func, 0, 0, priv };

	heapsort(base, num, size, &cb);
}

void sort(void *base, size_t num, size_t size, cmp_func_t cmp_func, swap_func_t swap_func)
{
	struct callbacks cb = { 0, 0, cmp_func, swap_func, 0 };

	heapsort(base, num, size, &cb);
}
