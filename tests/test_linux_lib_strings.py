"""Kernel-library string services as a module compiled against Linux 6.1 sees them (regparm(3))."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
extern const unsigned char _ctype[];
extern int fips_enabled;
char *skip_spaces(const char *str);
char *strsep(char **s, const char *ct);
char *kstrndup(const char *s, unsigned int max, unsigned int gfp);
void kfree(const void *p);
struct swait_queue_head { unsigned int lock; struct { void *next, *prev; } task_list; };
void __init_swait_queue_head(struct swait_queue_head *q, const char *name, void *key);

#define _D 0x04
#define _S 0x20
#define _U 0x01
#define _X 0x40
int classes(void) {  /* isdigit('7'), isspace('\t'), isupper('Q'), isxdigit('f'), !isdigit('a') */
    return (_ctype['7'] & _D) && (_ctype['\t'] & _S) && (_ctype['Q'] & _U) && (_ctype['f'] & _X) && !(_ctype['a'] & _D);
}
int fips(void) { return fips_enabled; }
int skip(const char *s) { return skip_spaces(s) - s; }
int split(char *buf, char *out) {  /* "a,b;c" -> "a|b|c" */
    char *cursor = buf, *part; int n = 0;
    while ((part = strsep(&cursor, ",;")) != 0) {
        while (*part) out[n++] = *part++;
        out[n++] = '|';
    }
    out[n - 1] = 0;
    return n - 1;
}
int dup_len(const char *s, unsigned int max) {
    char *copy = kstrndup(s, max, 0); int n = 0;
    if (!copy) return -1;
    while (copy[n]) n++;
    kfree(copy);
    return n;
}
int swait(void) {
    struct swait_queue_head q = { 1, { 0, 0 } };
    __init_swait_queue_head(&q, "q", 0);
    return q.lock == 0 && q.task_list.next == &q.task_list && q.task_list.prev == &q.task_list;
}
"""


@pytest.fixture
def strings(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "strs", "-mregparm=3"))


def test_ctype_and_fips(strings) -> None:  # type: ignore[no-untyped-def]
    _k, m = strings
    assert m.call("classes") == 1
    assert m.call("fips") == 0


def test_skip_spaces_strsep_kstrndup(strings) -> None:  # type: ignore[no-untyped-def]
    k, m = strings
    assert m.call("skip", b" \t\n value") == 4
    out = bytearray(16)
    assert m.call("split", bytearray(b"a,b;c\0"), out) == 5 and bytes(out[:5]) == b"a|b|c"
    assert m.call("dup_len", b"abcdef", 3) == 3 and m.call("dup_len", b"ab", 10) == 2
    assert k.unload(m).leaks == []


def test_swait_queue_head_initialised(strings) -> None:  # type: ignore[no-untyped-def]
    _k, m = strings
    assert m.call("swait") == 1


RATELIMIT = VERMAGIC + r"""
struct ratelimit_state { unsigned int lock; int interval, burst, printed, missed; unsigned long begin, flags; };
int ___ratelimit(struct ratelimit_state *rs, const char *func);
static struct ratelimit_state rs = { 0, 5 * 250, 10, 0, 0, 0, 0 };  /* DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10) */
int burst(int n) { int passed = 0; for (int i = 0; i < n; i++) passed += ___ratelimit(&rs, "burst"); return passed; }
"""


def test_ratelimit_bursts_then_reports_what_it_suppressed(compile_c: Callable[..., Path]) -> None:
    k = Kernel("linux")
    m = k.load(compile_c(RATELIMIT, "rl", "-mregparm=3"))
    assert m.call("burst", 15) == 10  # the burst, then 5 missed
    k.tick(100)
    assert m.call("burst", 1) == 0 and "suppressed" not in k.console  # still the same 5 s interval
    k.tick(5 * 250)
    assert m.call("burst", 12) == 10
    assert "burst: 6 callbacks suppressed\n" in k.console


BITS = VERMAGIC + r"""
unsigned long _find_first_bit(const unsigned long *addr, unsigned long size);
unsigned long _find_next_bit(const unsigned long *addr, unsigned long nbits, unsigned long start);
unsigned long _find_first_zero_bit(const unsigned long *addr, unsigned long size);
unsigned long _find_next_zero_bit(const unsigned long *addr, unsigned long nbits, unsigned long start);
unsigned long _find_next_and_bit(const unsigned long *a, const unsigned long *b, unsigned long nbits, unsigned long start);
unsigned long _find_last_bit(const unsigned long *addr, unsigned long size);
static unsigned long map[3] = { 0x00000011, 0x00000000, 0x80000001 };   /* bits 0, 4, 64, 95 */
static unsigned long other[3] = { 0x00000010, 0x00000000, 0x00000001 }; /* bits 4, 64 */
static unsigned long full[2] = { 0xffffffff, 0x0000ffff };
/* for_each_set_bit over 96 bits: the indexes, summed with weights so order matters */
unsigned long walk(void) {
    unsigned long sum = 0, n = 0;
    for (unsigned long b = _find_first_bit(map, 96); b < 96; b = _find_next_bit(map, 96, b + 1))
        sum += b * ++n;
    return sum;
}
unsigned long zero(void) { return _find_first_zero_bit(full, 48) * 1000 + _find_next_zero_bit(full, 40, 5); }
unsigned long both(void) { return _find_next_and_bit(map, other, 96, 5); }
unsigned long last(void) { return _find_last_bit(map, 96) * 1000 + _find_last_bit(other, 4); }
"""


def test_find_bit(compile_c: Callable[..., Path]) -> None:
    m = Kernel("linux").load(compile_c(BITS, "bits", "-mregparm=3"))
    assert m.call("walk") == 0 * 1 + 4 * 2 + 64 * 3 + 95 * 4
    assert m.call("zero") == 48 * 1000 + 40  # all 48 set: size; none clear below 40
    assert m.call("both") == 64
    assert m.call("last") == 95 * 1000 + 4  # other has no bit below 4: size


SCAN = VERMAGIC + r"""
int sscanf(const char *buf, const char *fmt, ...);
int scan_mac(const char *s, unsigned char *mac) {
    return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
}
int scan_mixed(const char *s, int *a, unsigned int *b, char *word, int *used) {
    return sscanf(s, "%d , %i %15s%n", a, b, word, used);
}
int scan_stop(const char *s, int *a, int *b) { return sscanf(s, "%d-%d", a, b); }
"""


def test_sscanf_conversions(compile_c: Callable[..., Path]) -> None:
    k = Kernel("linux")
    m = k.load(compile_c(SCAN, "scan", "-mregparm=3"))
    mac = bytearray(6)
    assert m.call("scan_mac", b"00:1b:21:AB:cd:ef", mac) == 6 and bytes(mac) == bytes.fromhex("001b21abcdef")
    a, b, word, used = bytearray(4), bytearray(4), bytearray(16), bytearray(4)
    assert m.call("scan_mixed", b"  -42 ,0x1f   hello rest", a, b, word, used) == 3
    assert int.from_bytes(a, "little", signed=True) == -42 and int.from_bytes(b, "little") == 0x1F
    assert bytes(word[:6]) == b"hello\0" and int.from_bytes(used, "little") == 19  # %n: characters consumed
    assert m.call("scan_stop", b"7+8", a, b) == 1 and int.from_bytes(a, "little") == 7  # stops at the mismatch
