"""Per-CPU memory, mempools, vmalloc tracking, csum_partial, wait_var_event/wait_on_bit, and a
debugfs file (simple_open, simple_read_from_buffer, generic_file_llseek) read from Python."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + '__attribute__((section(".modinfo"), used)) static const char lic[] = "license=GPL";\n' + r"""
struct list_head { struct list_head *next, *prev; };
struct hlist_node { void *next, **pprev; };
struct timer_list { struct hlist_node entry; unsigned long expires; void (*function)(struct timer_list *); unsigned int flags; };
void init_timer_key(struct timer_list *t, void (*f)(struct timer_list *), unsigned int flags, const char *n, void *k);
int mod_timer(struct timer_list *t, unsigned long expires);
extern volatile unsigned long jiffies;
void *__kmalloc(unsigned long size, unsigned int flags); void kfree(const void *p);
void *vmalloc(unsigned long size); void vfree(const void *p); _Bool is_vmalloc_addr(const void *p);
void *__alloc_percpu(unsigned long size, unsigned long align); void free_percpu(void *p);
typedef void *(mempool_alloc_t)(unsigned int gfp, void *data); typedef void (mempool_free_t)(void *e, void *data);
struct mempool { int lock, min_nr, curr_nr; void **elements; void *pool_data; mempool_alloc_t *alloc; mempool_free_t *free; };
struct mempool *mempool_create(int min_nr, mempool_alloc_t *a, mempool_free_t *f, void *data);
void *mempool_alloc(struct mempool *pool, unsigned int gfp); void mempool_free(void *e, struct mempool *pool);
void mempool_destroy(struct mempool *pool);
__attribute__((regparm(0))) unsigned int csum_partial(const void *buff, int len, unsigned int sum);  /* asmlinkage */

int percpu(void) { int *p = __alloc_percpu(8, 4); int r = p[0] + p[1] + 1; free_percpu(p); return r; }
int vmalloc_test(void) {
    char *v = vmalloc(100), *kp = __kmalloc(100, 0xcc0);
    int r = is_vmalloc_addr(v + 50) * 100 + is_vmalloc_addr(kp) * 10;
    vfree(v); kfree(kp);
    return r + is_vmalloc_addr(v + 50);
}
static int failing, allocs, frees;
static void *my_alloc(unsigned int gfp, void *data) { allocs++; return failing ? 0 : __kmalloc(32, gfp); }
static void my_free(void *e, void *data) { frees++; kfree(e); }
int pool_test(void) {
    struct mempool *pool = mempool_create(2, my_alloc, my_free, 0);
    int reserve = pool->curr_nr;
    failing = 1;
    void *e1 = mempool_alloc(pool, 0x820), *e2 = mempool_alloc(pool, 0x820), *e3 = mempool_alloc(pool, 0x820);
    int after = pool->curr_nr;
    mempool_free(e1, pool);              /* refills the reserve */
    int back = pool->curr_nr;
    mempool_destroy(pool);               /* frees the reserve through my_free */
    my_free(e2, 0);
    return reserve * 100000 + (e1 && e2 && !e3) * 10000 + after * 1000 + back * 100 + frees * 10 + (allocs > 4);
}
static unsigned char bytes[64];
unsigned int checksum(int offset, int len, unsigned int sum) {
    for (int i = 0; i < 64; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    return csum_partial(bytes + offset, len, sum);
}

struct wait_bit_queue_entry { struct { void *flags; int bit_nr; unsigned long timeout; } key;
                              struct { unsigned int flags; void *private; void *func; struct list_head entry; } wq_entry; };
void *__var_waitqueue(void *p); void init_wait_var_entry(struct wait_bit_queue_entry *e, void *var, int flags);
long prepare_to_wait_event(void *head, void *entry, int state); void finish_wait(void *head, void *entry);
void schedule(void); void wake_up_var(void *var); void wake_up_bit(void *word, int bit);
int bit_wait(void *key, int mode);
int out_of_line_wait_on_bit(void *word, int bit, int (*action)(void *, int), unsigned int mode);
static int flag; static unsigned long word = 1UL << 3;
static struct timer_list timer;
static void set_flag(struct timer_list *t) { flag = 1; wake_up_var(&flag); }
static void clear_bit3(struct timer_list *t) { word &= ~(1UL << 3); wake_up_bit(&word, 3); }
unsigned long wait_var(void) {   /* wait_var_event(&flag, flag), inline as <linux/wait_bit.h> has it */
    struct wait_bit_queue_entry e;
    void *head = __var_waitqueue(&flag);
    unsigned long start = jiffies;
    init_timer_key(&timer, set_flag, 0, "t", 0); mod_timer(&timer, jiffies + 10);
    init_wait_var_entry(&e, &flag, 0);
    for (;;) { prepare_to_wait_event(head, &e.wq_entry, 2); if (flag) break; schedule(); }
    finish_wait(head, &e.wq_entry);
    return jiffies - start;
}
unsigned long wait_bit(void) {
    unsigned long start = jiffies;
    init_timer_key(&timer, clear_bit3, 0, "t", 0); mod_timer(&timer, jiffies + 5);
    int r = out_of_line_wait_on_bit(&word, 3, bit_wait, 2);
    return r ? 1000 : jiffies - start;
}

struct file; struct inode;
struct file_operations { void *owner; long long (*llseek)(struct file *, long long, int);
    long (*read)(struct file *, char *, unsigned long, long long *); void *rest[11];
    int (*open)(struct inode *, struct file *); void *more[20]; };
int simple_open(struct inode *i, struct file *f);
long long generic_file_llseek(struct file *f, long long off, int whence);
long simple_read_from_buffer(void *to, unsigned long count, long long *ppos, const void *from, unsigned long available);
void *debugfs_create_file(const char *name, unsigned short mode, void *parent, void *data, const struct file_operations *f);
void debugfs_remove(void *d);
static char message[] = "hello from debugfs\n";
static long dread(struct file *f, char *buf, unsigned long count, long long *ppos) {
    const char *text = *(const char **)((char *)f + 140);   /* file->private_data, set by simple_open */
    return simple_read_from_buffer(buf, count, ppos, text, sizeof message - 1);
}
static const struct file_operations fops = { .open = simple_open, .read = dread, .llseek = generic_file_llseek };
static void *dentry;
void make_file(void) { dentry = debugfs_create_file("greeting", 0400, 0, message, &fops); }
void remove_file(void) { debugfs_remove(dentry); }

struct ctl_table { const char *procname; void *data; int maxlen; unsigned short mode; void *child;
                   void *proc_handler; void *poll; void *extra1; void *extra2; };
int proc_dointvec(struct ctl_table *t, int write, void *buffer, unsigned long *lenp, long long *ppos);
int proc_dointvec_minmax(struct ctl_table *t, int write, void *buffer, unsigned long *lenp, long long *ppos);
int proc_dostring(struct ctl_table *t, int write, void *buffer, unsigned long *lenp, long long *ppos);
static int values[2] = { 7, -3 }, low = 0, high = 100;
static char sbuf[32], name[8] = "abc";
static struct ctl_table vec = { "v", values, sizeof values, 0644, 0, proc_dointvec };
static struct ctl_table bounded = { "b", values, sizeof values, 0644, 0, proc_dointvec_minmax, 0, &low, &high };
static struct ctl_table str = { "s", name, sizeof name, 0644, 0, proc_dostring };
static unsigned long len; static long long pos;
int sysctl(int which, int write, const char *text) {
    struct ctl_table *t = which == 0 ? &vec : which == 1 ? &bounded : &str;
    int r;
    pos = 0; len = write ? __builtin_strlen(text) : sizeof sbuf;
    if (write) __builtin_memcpy(sbuf, text, len + 1); else __builtin_memset(sbuf, 0, sizeof sbuf);
    r = ((int (*)(struct ctl_table *, int, void *, unsigned long *, long long *))t->proc_handler)(t, write, sbuf, &len, &pos);
    return r;
}
const char *sysctl_text(void) { return sbuf; }
unsigned long sysctl_len(void) { return len; }
int value(int i) { return values[i]; }
const char *name_text(void) { return name; }

struct fasync_struct;
int fasync_helper(int fd, void *filp, int on, struct fasync_struct **fapp);
void kill_fasync(struct fasync_struct **fp, int sig, int band);
static struct fasync_struct *queue;
static char filp[160];
int fasync(void) {
    int a = fasync_helper(3, filp, 1, &queue), b = fasync_helper(4, filp, 1, &queue);  /* 1, then 0 (same file) */
    kill_fasync(&queue, 29, 1);                                                        /* SIGIO, POLL_IN */
    int c = fasync_helper(4, filp, 0, &queue), d = fasync_helper(4, filp, 0, &queue);  /* 1, then 0 */
    return a * 1000 + b * 100 + c * 10 + d + (queue ? 10000 : 0);
}
int __printk_ratelimit(const char *func);
int ratelimited(void) { int n = 0; for (int i = 0; i < 15; i++) n += __printk_ratelimit("more"); return n; }
"""


@pytest.fixture
def mod(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "more", "-mregparm=3", "-O2"))


def _reference(data: bytes, total: int) -> int:
    padded = data + b"\0" * (len(data) & 1)
    s = total + sum(int.from_bytes(padded[i:i + 2], "little") for i in range(0, len(padded), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _fold(value: int) -> int:
    value = (value & 0xFFFF) + (value >> 16)
    return (value & 0xFFFF) + (value >> 16)


def test_percpu_and_vmalloc(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    assert m.call("percpu") == 1  # zeroed
    assert m.call("vmalloc_test") == 100  # vmalloc'd: yes; kmalloc'd: no; after vfree: no


def test_mempool_falls_back_on_its_reserve(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    # reserve 2; two allocations from it once the allocator fails, the third (atomic) NULL; a free
    # refills it; destroy frees the one reserved element, plus the one freed by hand
    assert m.call("pool_test") == 2 * 100000 + 1 * 10000 + 0 * 1000 + 1 * 100 + 2 * 10 + 1


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("length", [0, 1, 2, 3, 7, 20, 41])
def test_csum_partial_folds_to_the_internet_checksum(mod, offset: int, length: int) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    data = bytes((i * 37 + 11) & 0xFF for i in range(64))[offset:offset + length]
    assert _fold(m.call("checksum", offset, length, 0x1234, returns="uint")) % 0xFFFF == _reference(data, 0x1234) % 0xFFFF


def test_wait_var_event_and_wait_on_bit_sleep_until_woken(mod) -> None:  # type: ignore[no-untyped-def]
    _k, m = mod
    assert m.call("wait_var") == 10  # the timer sets the variable and wake_up_var()s after 10 ticks
    assert m.call("wait_bit") == 5   # the timer clears bit 3 and wake_up_bit()s after 5


def test_debugfs_file_read_from_python(mod) -> None:  # type: ignore[no-untyped-def]
    k, m = mod
    m.call("make_file")
    with k.open("/sys/kernel/debug/greeting") as f:
        assert f.read(5) == b"hello"
        assert f.read(100) == b" from debugfs\n"
        assert f.llseek(6, 0) == 6  # generic_file_llseek, SEEK_SET
        assert f.read(100) == b"from debugfs\n"
    m.call("remove_file")


def test_sysctl_handlers_read_and_write(mod) -> None:  # type: ignore[no-untyped-def]
    k, m = mod
    assert m.call("sysctl", 0, 0, 0) == 0
    assert k.memory.read_cstring(m.call("sysctl_text", returns="uint")) == b"7\t-3\n"
    assert m.call("sysctl", 0, 1, b"42 0x10\n\0") == 0
    assert (m.call("value", 0), m.call("value", 1), m.call("sysctl_len")) == (42, 16, 8)
    assert m.call("sysctl", 1, 1, b"50 101\0") == -22  # 101 is past extra2
    assert m.call("value", 0) == 50  # the first value was stored before the bad one
    assert m.call("sysctl", 0, 1, b"12abc\0") == -22
    assert m.call("sysctl", 2, 1, b"hello world\n\0") == 0
    assert k.memory.read_cstring(m.call("name_text", returns="uint")) == b"hello w"  # maxlen 8 with the NUL
    assert m.call("sysctl", 2, 0, 0) == 0
    assert k.memory.read_cstring(m.call("sysctl_text", returns="uint")) == b"hello w\n"


def test_fasync_list_and_printk_ratelimit(mod) -> None:  # type: ignore[no-untyped-def]
    k, m = mod
    assert m.call("fasync") == 1 * 1000 + 0 * 100 + 1 * 10 + 0
    notes = [e.fields for e in k.trace if e.kind == "note" and e.name == "fasync"]
    assert [{key: n[key] for key in ("signal", "band", "fd")} for n in notes] == [{"signal": 29, "band": 1, "fd": 4}]
    assert m.call("ratelimited") == 10  # burst 10 per 5 s
    k.run_for(5 * 250 + 1)
    assert m.call("ratelimited") == 10
    assert "more: 5 callbacks suppressed" in k.console


HRTIMER_SOURCE = VERMAGIC + r"""
typedef long long ktime_t;
struct hrtimer_clock_base { void *cpu_base; unsigned int index; int clockid; int seq; void *running;
                            char active[8]; ktime_t (*get_time)(void); ktime_t offset; };
struct hrtimer { char node[12]; ktime_t expires; ktime_t softexpires; int (*function)(struct hrtimer *);
                 struct hrtimer_clock_base *base; unsigned char state, is_rel, is_soft, is_hard; };
void hrtimer_init(struct hrtimer *t, int clock, int mode);
void hrtimer_start_range_ns(struct hrtimer *t, ktime_t tim, unsigned long long range, int mode);
int hrtimer_cancel(struct hrtimer *t);
unsigned long long hrtimer_forward(struct hrtimer *t, ktime_t now, ktime_t interval);
static struct hrtimer timer;
static int fired; static ktime_t when[8];
static int tick(struct hrtimer *t) {
    when[fired++] = t->base->get_time();               /* hrtimer_cb_get_time(), inline */
    if (fired == 3) return 0;                          /* HRTIMER_NORESTART */
    hrtimer_forward(t, t->base->get_time(), 8000000);  /* every 8 ms */
    return 1;                                          /* HRTIMER_RESTART */
}
void start(void) { hrtimer_init(&timer, 1, 1); timer.function = tick; hrtimer_start_range_ns(&timer, 10000000, 0, 1); }
int count(void) { return fired; }
long long at(int i) { return when[i]; }
int cancel(void) { return hrtimer_cancel(&timer); }
"""


def test_hrtimer_fires_on_the_tick_and_restarts(compile_c: Callable[..., Path]) -> None:
    k = Kernel("linux")
    m = k.load(compile_c(HRTIMER_SOURCE, "hrt", "-mregparm=3", "-O2"))
    start = k.clock.ns
    m.call("start")
    k.run_for(2)
    assert m.call("count") == 0  # 8 ms in: not yet
    k.run_for(20)
    assert m.call("count") == 3
    # first on the tick after 10 ms (12 ms), then every 8 ms after it, each on a tick
    assert [m.call("at", i, returns="s64") - start for i in range(3)] == [12_000_000, 20_000_000, 28_000_000]
    assert m.call("cancel") == 0  # it did not restart the third time
