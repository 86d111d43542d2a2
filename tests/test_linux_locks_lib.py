"""rwsems and semaphores with contention between the task and a kthread, rwlocks, tracepoint
registration with tracing off, and library calls (sort, bsearch, bitmaps, strlcat, gcd, div64)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel
from sandbox.services.callconv import Int64

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
typedef unsigned long long u64;
struct rw_semaphore { long count; long owner; long osq; int wait_lock; void *next, *prev; };
struct semaphore { int lock; unsigned int count; void *next, *prev; };
typedef struct { unsigned int cnts; int wait_lock; } rwlock_t;
struct task_struct;
struct task_struct *kthread_create_on_node(int (*fn)(void *), void *data, int node, const char *fmt, ...);
int wake_up_process(struct task_struct *p);
int kthread_stop(struct task_struct *k);
long schedule_timeout_uninterruptible(long timeout);
void __init_rwsem(struct rw_semaphore *s, const char *n, void *k);
void down_read(struct rw_semaphore *s); void up_read(struct rw_semaphore *s);
void down_write(struct rw_semaphore *s); void up_write(struct rw_semaphore *s);
int down_write_trylock(struct rw_semaphore *s); void downgrade_write(struct rw_semaphore *s);
int down_read_trylock(struct rw_semaphore *s);
int down_timeout(struct semaphore *s, long t); void up(struct semaphore *s); int down_trylock(struct semaphore *s);
void _raw_read_lock(rwlock_t *l); void _raw_read_unlock(rwlock_t *l); void _raw_write_lock(rwlock_t *l);
extern volatile unsigned long jiffies;
int tracepoint_probe_register(void *tp, void *probe, void *data);
int tracepoint_probe_unregister(void *tp, void *probe, void *data);
extern char __tracepoint_read_msr[];
void sort(void *base, unsigned long num, unsigned long size, int (*cmp)(const void *, const void *), void *swap);
void *bsearch(const void *key, const void *base, unsigned long num, unsigned long size, int (*cmp)(const void *, const void *));
unsigned long *bitmap_zalloc(unsigned int nbits, unsigned int flags); void bitmap_free(const unsigned long *b);
unsigned int __bitmap_weight(const unsigned long *b, unsigned int nbits);
void __bitmap_set(unsigned long *map, unsigned int start, int len);
unsigned long strlcat(char *d, const char *s, unsigned long n);
unsigned long gcd(unsigned long a, unsigned long b);
u64 div64_u64(u64 a, u64 b);

static struct rw_semaphore sem;
static unsigned long held_until;
static int writer(void *data) {
    down_write(&sem);
    schedule_timeout_uninterruptible(20);  /* sleeps holding it */
    held_until = jiffies;
    up_write(&sem);
    return 0;
}
static struct task_struct *t;
/* the thread takes the rwsem for writing and sleeps; our down_read waits for its up_write */
long contend(void) {
    unsigned long got;
    __init_rwsem(&sem, "sem", 0);
    t = kthread_create_on_node(writer, 0, -1, "writer");
    wake_up_process(t);
    schedule_timeout_uninterruptible(1);   /* let it run and take the lock */
    if (down_write_trylock(&sem)) return -1;
    down_read(&sem);
    got = jiffies;
    up_read(&sem);
    kthread_stop(t);
    return (long)(got - held_until);
}
int downgrade(void) {
    int r;
    __init_rwsem(&sem, "sem", 0);
    down_write(&sem); downgrade_write(&sem);
    r = down_read_trylock(&sem) * 10 + down_write_trylock(&sem);
    up_read(&sem); up_read(&sem);
    return r + 100 * down_write_trylock(&sem);
}
void self_deadlock(void) { __init_rwsem(&sem, "sem", 0); down_write(&sem); down_read(&sem); }
static struct semaphore s1;
int sem_timeout(void) {
    s1.count = 1; s1.next = s1.prev = &s1.next;
    down_timeout(&s1, 5);
    return down_timeout(&s1, 5) * 10 + down_trylock(&s1);
}
static rwlock_t rw;
int readers(void) { _raw_read_lock(&rw); _raw_read_lock(&rw); int c = rw.cnts; _raw_read_unlock(&rw); _raw_read_unlock(&rw); return c; }
void reader_then_writer(void) { _raw_read_lock(&rw); _raw_write_lock(&rw); }
static void probe(void) {}
int probes(void) {
    int r = tracepoint_probe_register(__tracepoint_read_msr, probe, 0) * 100;
    r += tracepoint_probe_unregister(__tracepoint_read_msr, probe, 0) * 10;
    return r + tracepoint_probe_unregister(__tracepoint_read_msr, probe, 0);
}
static int calls;
static int cmp(const void *a, const void *b) { calls++; return *(const int *)a - *(const int *)b; }
static int v[7] = {5, 3, 9, 1, 7, 3, 0};
int sorted(int i) { if (i < 0) { calls = 0; sort(v, 7, 4, cmp, 0); return calls; } return v[i]; }
int find(int x) { int *p = bsearch(&x, v, 7, 4, cmp); return p ? (int)(p - v) : -1; }
int bits(void) {
    unsigned long *b = bitmap_zalloc(70, 0);
    __bitmap_set(b, 30, 5); __bitmap_set(b, 64, 3);
    int w = __bitmap_weight(b, 70);
    bitmap_free(b);
    return w;
}
static char buf[8] = "abc";
unsigned long cat(void) { return strlcat(buf, "defghij", sizeof buf); }
const char *catted(void) { return buf; }
unsigned long g(void) { return gcd(84, 36); }
u64 d(u64 a, u64 b) { return div64_u64(a, b); }
"""


@pytest.fixture
def lib(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "locks", "-mregparm=3"))


def test_down_read_sleeps_until_the_writer_thread_releases(lib) -> None:  # type: ignore[no-untyped-def]
    k, m = lib
    assert m.call("contend") == 0  # the read lock came the tick the thread's up_write ran
    assert [e["thread"] for e in (ev.fields for ev in k.trace if ev.kind == "note" and ev.name == "kthread stop")] == ["writer"]


def test_downgrade_lets_readers_in_but_not_writers(lib) -> None:  # type: ignore[no-untyped-def]
    _k, m = lib
    assert m.call("downgrade") == 110


def test_a_task_waiting_on_its_own_rwsem_is_a_deadlock(lib) -> None:  # type: ignore[no-untyped-def]
    _k, m = lib
    with pytest.raises(GuestFault, match=r"down_read\(locks:sem\) .*already held by this task.*self_deadlock"):
        m.call("self_deadlock")


def test_semaphore_timeout_and_trylock(lib) -> None:  # type: ignore[no-untyped-def]
    k, m = lib
    start = k.clock.ticks
    assert m.call("sem_timeout") == -62 * 10 + 1  # second down_timeout: -ETIME after 5 ticks; trylock fails: 1
    assert k.clock.ticks - start == 5


def test_rwlock_readers_share_and_a_writer_behind_a_reader_spins_forever(lib) -> None:  # type: ignore[no-untyped-def]
    _k, m = lib
    assert m.call("readers") == 2 << 9
    with pytest.raises(GuestFault, match=r"write_lock of locks:rw .* held \(1 reader\(s\)\)"):
        m.call("reader_then_writer")


def test_tracepoint_probes_register_with_tracing_off(lib) -> None:  # type: ignore[no-untyped-def]
    _k, m = lib
    assert m.call("probes") == -2  # register 0, unregister 0, again -ENOENT


def test_sort_is_linux_heapsort_and_bsearch_finds(lib) -> None:  # type: ignore[no-untyped-def]
    _k, m = lib
    assert m.call("sorted", -1) > 0  # the guest's cmp decides (lib/sort.c's bottom-up heapsort)
    assert [m.call("sorted", i) for i in range(7)] == [0, 1, 3, 3, 5, 7, 9]
    assert m.call("find", 7) == 5
    assert m.call("find", 4) == -1


def test_bitmaps_strlcat_gcd_div64(lib) -> None:  # type: ignore[no-untyped-def]
    k, m = lib
    assert m.call("bits") == 8
    assert m.call("cat") == 10  # the length it tried to make
    assert k.memory.read_cstring(m.call("catted", returns="uint")) == b"abcdefg"
    assert m.call("g") == 12
    assert m.call("d", Int64(10**12), Int64(7), returns="u64") == 10**12 // 7
