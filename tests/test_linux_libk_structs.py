"""rbtree (Linux's node layout, red-black invariants after Linux's rebalancing), kfifo, the i386
atomic64 cx8 helpers, notifier chains and the timekeeping calls, from a module compiled against
Linux's layouts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.services.callconv import Int64

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
typedef unsigned long long u64; typedef long long s64;
struct rb_node { unsigned long __rb_parent_color; struct rb_node *rb_right, *rb_left; };
struct rb_root { struct rb_node *rb_node; };
void rb_insert_color(struct rb_node *n, struct rb_root *r); void rb_erase(struct rb_node *n, struct rb_root *r);
struct rb_node *rb_first(const struct rb_root *r); struct rb_node *rb_last(const struct rb_root *r);
struct rb_node *rb_next(const struct rb_node *n); struct rb_node *rb_prev(const struct rb_node *n);
struct rb_node *rb_first_postorder(const struct rb_root *r); struct rb_node *rb_next_postorder(const struct rb_node *n);
void rb_replace_node(struct rb_node *victim, struct rb_node *new, struct rb_root *root);

struct item { int key; struct rb_node node; };
static struct item items[64], spare;
static struct rb_root root;
#define ITEM(n) ((struct item *)((char *)(n) - 4))
#define PARENT(n) ((struct rb_node *)((n)->__rb_parent_color & ~3UL))
#define BLACK(n) (!(n) || ((n)->__rb_parent_color & 1))

static void insert(struct item *it) {   /* rb_link_node + rb_insert_color, as Linux code does it */
    struct rb_node **link = &root.rb_node, *parent = 0;
    while (*link) { parent = *link; link = it->key < ITEM(parent)->key ? &parent->rb_left : &parent->rb_right; }
    it->node.__rb_parent_color = (unsigned long)parent; it->node.rb_left = it->node.rb_right = 0;
    *link = &it->node;
    rb_insert_color(&it->node, &root);
}
/* black height, or -1 if a red node has a red child, a parent pointer is wrong or the order is broken */
static int check(struct rb_node *n, struct rb_node *parent) {
    int l, r;
    if (!n) return 1;
    if (PARENT(n) != parent) return -1;
    if (!BLACK(n) && (!BLACK(n->rb_left) || !BLACK(n->rb_right))) return -1;
    if (n->rb_left && ITEM(n->rb_left)->key > ITEM(n)->key) return -1;
    if (n->rb_right && ITEM(n->rb_right)->key < ITEM(n)->key) return -1;
    l = check(n->rb_left, n); r = check(n->rb_right, n);
    if (l < 0 || l != r) return -1;
    return l + BLACK(n);
}
int build(int count, int stride) {
    root.rb_node = 0;
    for (int i = 0; i < count; i++) { items[i].key = (i * stride) % count; insert(&items[i]); }
    return BLACK(root.rb_node) ? check(root.rb_node, 0) : -2;
}
int erase_every(int step, int count) {
    for (int i = 0; i < count; i += step) rb_erase(&items[i].node, &root);
    return root.rb_node && !BLACK(root.rb_node) ? -2 : check(root.rb_node, 0);
}
int walk(int which) {   /* keys in order (0), reversed (1) or post-order (2), as a checksum */
    int sum = 0, n = 0;
    struct rb_node *p = which == 0 ? rb_first(&root) : which == 1 ? rb_last(&root) : rb_first_postorder(&root);
    for (; p; p = which == 0 ? rb_next(p) : which == 1 ? rb_prev(p) : rb_next_postorder(p))
        sum = sum * 31 + ITEM(p)->key + 1, n++;
    return which == 3 ? n : sum;
}
int replace(int index, int key) { spare.key = key; rb_replace_node(&items[index].node, &spare.node, &root); return check(root.rb_node, 0); }

struct __kfifo { unsigned int in, out, mask, esize; void *data; };
int __kfifo_alloc(struct __kfifo *f, unsigned int size, unsigned int esize, unsigned int gfp);
void __kfifo_free(struct __kfifo *f);
unsigned int __kfifo_in(struct __kfifo *f, const void *buf, unsigned int len);
unsigned int __kfifo_out(struct __kfifo *f, void *buf, unsigned int len);
static struct __kfifo fifo;
static char out[16];
int fifo_test(void) {
    int r = __kfifo_alloc(&fifo, 6, 1, 0);          /* rounds up to 8 */
    int a = __kfifo_in(&fifo, "abcdef", 6);          /* 6 */
    int b = __kfifo_out(&fifo, out, 4);              /* "abcd" */
    int c = __kfifo_in(&fifo, "ghijklmn", 8);        /* wraps: 6 fit (2 left + 4 freed) */
    int d = __kfifo_out(&fifo, out + 4, 16);         /* "efghijkl" */
    int e = fifo.mask;
    __kfifo_free(&fifo);
    return r * 100000 + a * 10000 + b * 1000 + c * 100 + d * 10 + e - 8;   /* e == 7 -> ... -1 */
}
const char *fifo_out(void) { return out; }

static s64 a64_read(s64 *v) { s64 r; asm volatile("call atomic64_read_cx8" : "=&A"(r) : "c"(v) : "memory"); return r; }
static void a64_set(s64 *v, s64 i) {
    unsigned int lo = (unsigned int)i, hi = (unsigned int)(i >> 32);
    asm volatile("call atomic64_set_cx8" : : "S"(v), "b"(lo), "c"(hi) : "eax", "edx", "memory");
}
static s64 a64_add_return(s64 i, s64 *v) { asm volatile("call atomic64_add_return_cx8" : "+A"(i), "+c"(v) : : "memory"); return i; }
static s64 a64_sub_return(s64 i, s64 *v) { asm volatile("call atomic64_sub_return_cx8" : "+A"(i), "+c"(v) : : "memory"); return i; }
static s64 a64_inc_return(s64 *v) { s64 a; asm volatile("call atomic64_inc_return_cx8" : "=&A"(a) : "S"(v) : "memory", "ecx"); return a; }
static s64 a64_dec_return(s64 *v) { s64 a; asm volatile("call atomic64_dec_return_cx8" : "=&A"(a) : "S"(v) : "memory", "ecx"); return a; }
static s64 counter;
u64 atomics(int step) {
    switch (step) {
    case 0: a64_set(&counter, 0x100000005LL); return a64_read(&counter);
    case 1: return a64_add_return(0xFFFFFFFFLL, &counter);
    case 2: return a64_inc_return(&counter);
    case 3: return a64_sub_return(0x200000000LL, &counter);
    default: return a64_dec_return(&counter);
    }
}

struct notifier_block { int (*notifier_call)(struct notifier_block *, unsigned long, void *); struct notifier_block *next; int priority; };
struct blocking_notifier_head { char rwsem[24]; struct notifier_block *head; };
int blocking_notifier_chain_register(struct blocking_notifier_head *nh, struct notifier_block *nb);
int blocking_notifier_chain_unregister(struct blocking_notifier_head *nh, struct notifier_block *nb);
int blocking_notifier_call_chain(struct blocking_notifier_head *nh, unsigned long val, void *v);
static struct blocking_notifier_head chain;
static int order;
static int first(struct notifier_block *nb, unsigned long v, void *d) { order = order * 10 + 1; return 0; }
static int second(struct notifier_block *nb, unsigned long v, void *d) { order = order * 10 + 2; return v == 7 ? 0x8001 : 1; }
static int third(struct notifier_block *nb, unsigned long v, void *d) { order = order * 10 + 3; return 0; }
static struct notifier_block n1 = { first, 0, 0 }, n2 = { second, 0, 10 }, n3 = { third, 0, 0 };
int notify(unsigned long v) {
    int r;
    order = 0;
    if (!chain.head) { blocking_notifier_chain_register(&chain, &n1); blocking_notifier_chain_register(&chain, &n2);
                       blocking_notifier_chain_register(&chain, &n3); }
    r = blocking_notifier_call_chain(&chain, v, 0);
    return order * 100000 + r;
}
static struct notifier_block n4 = { third, 0, 5 };
int notify_twice(void) {
    return blocking_notifier_chain_register(&chain, &n1) * 10 + blocking_notifier_chain_unregister(&chain, &n4);
}

struct timespec64 { s64 tv_sec; long tv_nsec; };
struct timespec64 ns_to_timespec64(s64 nsec);
s64 ktime_get_real_seconds(void);
void set_normalized_timespec64(struct timespec64 *ts, s64 sec, s64 nsec);
unsigned long round_jiffies_relative(unsigned long j);
extern volatile unsigned long jiffies;
static struct timespec64 ts;
long ts_nsec(s64 ns) { ts = ns_to_timespec64(ns); return ts.tv_nsec; }
s64 ts_sec(void) { return ts.tv_sec; }
long normalized(s64 sec, s64 nsec) { set_normalized_timespec64(&ts, sec, nsec); return ts.tv_nsec; }
s64 wall(void) { return ktime_get_real_seconds(); }
unsigned long rounded(unsigned long j) { return (round_jiffies_relative(j) + jiffies) % 250; }
"""


@pytest.fixture
def mod(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "structs", "-mregparm=3", "-O2"))


def _checksum(keys: list[int]) -> int:
    total = 0
    for key in keys:
        total = (total * 31 + key + 1) & 0xFFFFFFFF
    return total - (1 << 32) if total >> 31 else total


def test_rbtree_stays_red_black_through_inserts_and_erases(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    assert m.call("build", 64, 1) > 0  # ascending inserts: the case that needs the most rotations
    assert m.call("walk", 0) == _checksum(list(range(64)))
    assert m.call("erase_every", 3, 64) > 0
    left = [i for i in range(64) if i % 3]
    assert m.call("walk", 0) == _checksum(left)
    assert m.call("walk", 1) == _checksum(left[::-1])
    assert m.call("walk", 3) == len(left)
    assert m.call("build", 63, 17) > 0  # a scrambled order (17 is coprime to 63)
    assert m.call("walk", 0) == _checksum(list(range(63)))
    assert m.call("erase_every", 2, 63) > 0
    assert m.call("walk", 0) == _checksum(sorted((i * 17) % 63 for i in range(63) if i % 2))


def test_rb_replace_node_keeps_the_shape(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    m.call("build", 15, 1)
    assert m.call("replace", 7, 7) > 0  # same key in another node: still a valid tree
    assert m.call("walk", 0) == _checksum(list(range(15)))


def test_kfifo_wraps_and_rounds_to_a_power_of_two(mod) -> None:  # type: ignore[no-untyped-def]
    k, m = mod
    assert m.call("fifo_test") == 0 * 100000 + 6 * 10000 + 4 * 1000 + 6 * 100 + 8 * 10 + 7 - 8
    assert k.memory.read(m.call("fifo_out", returns="uint"), 12) == b"abcdefghijkl"


def test_atomic64_cx8_helpers(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    assert m.call("atomics", 0, returns="u64") == 0x100000005
    assert m.call("atomics", 1, returns="u64") == 0x200000004
    assert m.call("atomics", 2, returns="u64") == 0x200000005
    assert m.call("atomics", 3, returns="u64") == 5
    assert m.call("atomics", 4, returns="u64") == 4


def test_notifier_chain_order_and_stop(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    assert m.call("notify", 1) == 213 * 100000 + 0  # priority 10 first, then 0s in registration order
    assert m.call("notify", 7) == 2 * 100000 + 0x8001  # NOTIFY_STOP_MASK ends the walk
    assert m.call("notify_twice") == -17 * 10 - 2  # -EEXIST, then -ENOENT


def test_timekeeping(mod) -> None:  # type: ignore[no-untyped-def]
    k, m = mod
    assert m.call("ts_nsec", Int64(-1)) == 999_999_999  # ns_to_timespec64 through the hidden return pointer
    assert m.call("ts_sec", returns="s64") == -1
    assert m.call("normalized", Int64(5), Int64(2_500_000_000)) == 500_000_000
    assert m.call("ts_sec", returns="s64") == 7
    assert m.call("wall", returns="s64") == 1_767_225_600 + k.clock.ns // 1_000_000_000
    assert m.call("rounded", 100) == 0  # ends on a whole second
