"""The first kernel services, called by real compiled code."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel

SOURCE = """
typedef unsigned int size_t;
typedef int ssize_t;
extern void *kmalloc(size_t, unsigned int); extern void *kzalloc(size_t, unsigned int);
extern void *kcalloc(size_t, size_t, unsigned int); extern void *krealloc(const void *, size_t, unsigned int);
extern void kfree(const void *); extern size_t ksize(const void *);
extern void *memcpy(void *, const void *, size_t); extern void *memset(void *, int, size_t);
extern int memcmp(const void *, const void *, size_t); extern void *memmove(void *, const void *, size_t);
extern size_t strlen(const char *); extern int strcmp(const char *, const char *);
extern int strncmp(const char *, const char *, size_t); extern char *strcpy(char *, const char *);
extern char *strncpy(char *, const char *, size_t); extern char *strchr(const char *, int);
extern char *strrchr(const char *, int); extern char *strstr(const char *, const char *);
extern ssize_t strscpy(char *, const char *, size_t); extern char *strcat(char *, const char *);
extern int snprintf(char *, size_t, const char *, ...); extern int printk(const char *, ...);

int sign(int x) { return x < 0 ? -1 : x > 0; }
int t_strlen(const char *s) { return strlen(s); }
int t_strcmp(const char *a, const char *b) { return sign(strcmp(a, b)); }
int t_strncmp(const char *a, const char *b, int n) { return sign(strncmp(a, b, n)); }
int t_memcmp(const char *a, const char *b, int n) { return sign(memcmp(a, b, n)); }
int t_strchr(const char *s, int c) { char *p = strchr(s, c); return p ? p - s : -1; }
int t_strrchr(const char *s, int c) { char *p = strrchr(s, c); return p ? p - s : -1; }
int t_strstr(const char *s, const char *n) { char *p = strstr(s, n); return p ? p - s : -1; }
int t_copy(char *out, const char *s) { strcpy(out, s); strcat(out, "+"); return strlen(out); }
int t_strncpy(char *out, const char *s, int n) { strncpy(out, s, n); return 0; }
int t_strscpy(char *out, const char *s, int n) { return strscpy(out, s, n); }
int t_memmove(char *buf) { memmove(buf + 2, buf, 5); return 0; }
int t_memset(char *buf, int c, int n) { memset(buf, c, n); return 0; }
int t_snprintf(char *buf, int size, int x) { return snprintf(buf, size, "x=%d s=%s", x, "abc"); }
int t_alloc_cycle(void) {
    int *a = kmalloc(16, 0xcc0); int *b = kzalloc(32, 0xcc0); int *c = kcalloc(4, 8, 0xcc0);
    if (!a || !b || !c) return -1;
    a[0] = 5; a = krealloc(a, 64, 0xcc0);
    int ok = a[0] == 5 && b[7] == 0 && c[7] == 0 && ksize(a) == 64;
    kfree(a); kfree(b); kfree(c); kfree(0);
    return ok;
}
void *t_huge(void) { return kmalloc(0xffffffffu, 0xcc0); }
void *t_alloc(int n) { return kmalloc(n, 0xcc0); }
void t_free(void *p) { kfree(p); }
int t_memcpy_bad(void) { char buf[4]; memcpy(buf, (void *)0xdead0000, 4); return buf[0]; }
int t_printk_bad(void) { return printk("[%s]\\n", (char *)0xdead0000); }
"""


@pytest.fixture
def m(kernel: Kernel, compile_c):
    return kernel.load(compile_c(SOURCE, "svc", "-fno-optimize-sibling-calls"))


@pytest.mark.parametrize(("a", "b"), [("abc", "abd"), ("abc", "abc"), ("b", "abc"), ("", "a"), ("\xff", "a")])
def test_comparisons_match_c(m, a: str, b: str) -> None:
    expected = (a.encode("latin-1") > b.encode("latin-1")) - (a.encode("latin-1") < b.encode("latin-1"))
    assert m.call("t_strcmp", a.encode("latin-1"), b.encode("latin-1")) == expected
    assert m.call("t_strncmp", a.encode("latin-1"), b.encode("latin-1"), 2) == (
        (a[:2].encode("latin-1") > b[:2].encode("latin-1")) - (a[:2].encode("latin-1") < b[:2].encode("latin-1"))
    )


def test_string_functions(m) -> None:
    assert m.call("t_strlen", "hello") == 5
    assert m.call("t_memcmp", b"abcd", b"abce", 3) == 0
    assert m.call("t_memcmp", b"abcd", b"abce", 4) == -1
    assert m.call("t_strchr", "hello", ord("l")) == 2
    assert m.call("t_strrchr", "hello", ord("l")) == 3
    assert m.call("t_strchr", "hello", 0) == 5
    assert m.call("t_strchr", "hello", ord("z")) == -1
    assert m.call("t_strstr", "kernel sandbox", "sand") == 7
    out = bytearray(16)
    assert m.call("t_copy", out, "abc") == 4 and out.startswith(b"abc+\0")
    out = bytearray(b"\xee" * 8)
    m.call("t_strncpy", out, "ab", 6)
    assert out == b"ab\0\0\0\0\xee\xee"
    out = bytearray(8)
    assert m.call("t_strscpy", out, "abcdefgh", 4) == -7 and out.startswith(b"abc\0")
    assert m.call("t_strscpy", out, "ab", 4) == 2
    buf = bytearray(b"12345678")
    m.call("t_memmove", buf)
    assert buf == b"12123458"
    m.call("t_memset", buf, ord("z"), 3)
    assert buf == b"zzz23458"


def test_snprintf_truncates_and_returns_full_length(m) -> None:
    buf = bytearray(8)
    assert m.call("t_snprintf", buf, 8, 42) == len("x=42 s=abc")
    assert buf == b"x=42 s=\0"


def test_allocation_services(kernel: Kernel, m) -> None:
    assert m.call("t_alloc_cycle") == 1
    assert m.call("t_huge", returns="ptr") == 0
    assert m.call("t_alloc", 0, returns="ptr") == 0x10  # ZERO_SIZE_PTR, as Linux


def test_double_and_invalid_free_are_reported(kernel: Kernel, m) -> None:
    p = m.call("t_alloc", 24, returns="ptr")
    m.call("t_free", p)
    with pytest.raises(GuestFault) as info:
        m.call("t_free", p)
    assert info.value.kind == "double-free" and "first freed at svc:t_free" in str(info.value)
    with pytest.raises(GuestFault) as info:
        m.call("t_free", m.symbols["t_strlen"])
    assert info.value.kind == "invalid-free" and "svc:t_strlen" in str(info.value)


def test_leaked_allocation_reported_at_unload(kernel: Kernel, m) -> None:
    m.call("t_alloc", 40)
    report = kernel.unload(m)
    assert len(report.leaks) == 1 and "40 bytes" in report.leaks[0] and "svc:t_alloc" in report.leaks[0]


def test_bad_guest_pointers(kernel: Kernel, m) -> None:
    with pytest.raises(GuestFault) as info:
        m.call("t_memcpy_bad")
    assert info.value.kind == "bad-pointer"
    assert "memcpy" in str(info.value) and "0xdead0000" in str(info.value)
    assert m.call("t_printk_bad") == len("[(efault)]\n")
    assert kernel.console.endswith("[(efault)]\n")
