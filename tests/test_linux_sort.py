"""lib/sort.c's sort() and sort_r() as guest code: Linux's bottom-up heapsort, step for step.

The oracle below is that heapsort written in Python: the guest must make the
same comparisons (counted, and recorded by key pair) and leave elements that
compare equal in the same places, with the default swap, a module's own swap
and sort_r's private argument.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
struct item { int key; int id; };
typedef int (*cmp_t)(const void *, const void *);
typedef void (*swap_t)(void *, void *, int);
void sort(void *base, unsigned long num, unsigned long size, cmp_t cmp, swap_t swap);
void sort_r(void *base, unsigned long num, unsigned long size,
            int (*cmp)(const void *, const void *, const void *),
            void (*swap)(void *, void *, int, const void *), const void *priv);

struct item items[4096];
int log_a[65536], log_b[65536];
int calls, swaps;
static int by_key(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (calls < 65536) { log_a[calls] = x->key; log_b[calls] = y->key; }
	calls++;
	return x->key - y->key;
}
static void swap_items(void *a, void *b, int size)
{
	struct item t = *(struct item *)a;
	*(struct item *)a = *(struct item *)b;
	*(struct item *)b = t;
	swaps += size == sizeof(struct item);
}
static int by_key_r(const void *a, const void *b, const void *priv)
{
	calls += *(const int *)priv;
	return by_key(a, b) * *(const int *)priv;
}
static const int descending = -1;
void fill(int i, int key, int id) { items[i].key = key; items[i].id = id; }
int key(int i) { return items[i].key; }
int id(int i) { return items[i].id; }
int logged(int i, int which) { return which ? log_b[i] : log_a[i]; }
int run(int n, int how)
{
	calls = swaps = 0;
	if (how == 0)
		sort(items, n, sizeof(items[0]), by_key, 0);
	else if (how == 1)
		sort(items, n, sizeof(items[0]), by_key, swap_items);
	else
		sort_r(items, n, sizeof(items[0]), by_key_r, 0, &descending);
	return calls;
}
int swapped(void) { return swaps; }
unsigned char bytes[7 * 3];
static int by_first(const void *a, const void *b) { return *(const unsigned char *)a - *(const unsigned char *)b; }
int odd_size(void) { sort(bytes, 7, 3, by_first, 0); return bytes[0] | bytes[3] << 8 | bytes[20] << 16; }
"""


def linux_heapsort(items: list[tuple[int, int]], cmp: Callable[[tuple[int, int], tuple[int, int]], int]
                   ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """lib/sort.c's loop over a Python list (element indices for byte offsets): (result, comparisons made)."""
    v, made = list(items), []

    def compare(i: int, j: int) -> int:
        made.append((v[i][0], v[j][0]))
        return cmp(v[i], v[j])

    def parent(i: int) -> int:  # size 1: the "byte offset" arithmetic with lsbit 1
        i -= 1
        i -= 1 & -(i & 1)
        return i // 2

    n, a = len(v), len(v) // 2
    if not a:
        return v, made
    while True:
        if a:
            a -= 1
        else:
            n -= 1
            if not n:
                break
            v[0], v[n] = v[n], v[0]
        b = a
        while True:
            c = 2 * b + 1
            d = c + 1
            if d >= n:
                break
            b = c if compare(c, d) >= 0 else d
        if d == n:
            b = c
        while b != a and compare(a, b) >= 0:
            b = parent(b)
        c = b
        while b != a:
            b = parent(b)
            v[b], v[c] = v[c], v[b]
    return v, made


@pytest.fixture
def sorter(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "sorter", "-mregparm=3"))


@pytest.mark.parametrize("how", [0, 1], ids=["default swap", "module swap"])
def test_sort_makes_linux_comparisons_and_keeps_its_tie_order(sorter, how: int) -> None:  # type: ignore[no-untyped-def]
    _k, m = sorter
    rng = random.Random(61)
    items = [(rng.randrange(40), i) for i in range(1500)]  # many ties: their final order is the algorithm's
    for i, (key, ident) in enumerate(items):
        m.call("fill", i, key, ident)
    calls = m.call("run", len(items), how)
    expected, made = linux_heapsort(items, lambda x, y: x[0] - y[0])
    assert calls == len(made)
    assert [(m.call("logged", i, 0), m.call("logged", i, 1)) for i in range(0, calls, 97)] == made[::97]
    assert [(m.call("key", i), m.call("id", i)) for i in range(len(items))] == expected
    assert sorted(items, key=lambda x: x[0])[0][0] == expected[0][0]  # and it is sorted
    if how == 1:
        assert m.call("swapped") > 0  # the module's swap did the moving


def test_sort_r_passes_priv_to_the_comparison(sorter) -> None:  # type: ignore[no-untyped-def]
    _k, m = sorter
    for i, key in enumerate([5, 1, 4, 1, 3]):
        m.call("fill", i, key, i)
    m.call("run", 5, 2)  # descending: by_key_r multiplies by *priv == -1
    assert [m.call("key", i) for i in range(5)] == [5, 4, 3, 1, 1]


def test_sort_of_odd_sized_elements_swaps_bytes(sorter) -> None:  # type: ignore[no-untyped-def]
    k, m = sorter
    data = bytes(b for first in [9, 2, 7, 1, 8, 3, 5] for b in (first, first + 100, first + 200))
    k.memory.write(m.address_of("bytes"), data)
    assert m.call("odd_size") == 1 | 2 << 8 | 209 << 16  # first key 1, second 2, last byte of key 9's triple
    sorted_data = k.memory.read(m.address_of("bytes"), len(data))
    assert [sorted_data[i] for i in range(0, 21, 3)] == [1, 2, 3, 5, 7, 8, 9]
