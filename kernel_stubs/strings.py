"""The string and memory functions of lib/string.c, on guest memory.

Every pointer and length is checked by GuestMemory before it is touched, so
a memcpy past a mapping is an oops-style GuestFault naming the address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.machine.memory import W
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

E2BIG = 7


def _compare(a: bytes, b: bytes) -> int:
    """C's comparison of unsigned chars: sign of the first difference."""
    for x, y in zip(a, b):
        if x != y:
            return x - y
    return len(a) - len(b) and (a[len(b)] if len(a) > len(b) else -b[len(a)])


@service("void *memcpy(void *dst, const void *src, size_t n)")
def memcpy(k: Kernel, dst: int, src: int, n: int) -> int:
    """Copy ``n`` bytes."""
    k.memory.write(dst, k.memory.read(src, n))
    return dst


@service("void *memmove(void *dst, const void *src, size_t n)")
def memmove(k: Kernel, dst: int, src: int, n: int) -> int:
    """Copy ``n`` bytes between possibly overlapping ranges."""
    return memcpy(k, dst, src, n)  # read-all-then-write is overlap-safe


@service("void *memset(void *s, int c, size_t n)")
def memset(k: Kernel, s: int, c: int, n: int) -> int:
    """Fill ``n`` bytes with ``c``."""
    k.memory.check(s, n, 2, "memset")
    k.memory.write(s, bytes([c & 0xFF]) * n)
    return s


@service("int memcmp(const void *a, const void *b, size_t n)")
def memcmp(k: Kernel, a: int, b: int, n: int) -> int:
    """Compare ``n`` bytes."""
    return _compare(k.memory.read(a, n), k.memory.read(b, n))


@service("size_t strlen(const char *s)")
def strlen(k: Kernel, s: int) -> int:
    """Length of a NUL-terminated string."""
    return len(k.memory.read_cstring(s))


@service("size_t strnlen(const char *s, size_t max)")
def strnlen(k: Kernel, s: int, max: int) -> int:
    """Length, at most ``max``."""
    return len(k.memory.read_cstring(s, max))


@service("int strcmp(const char *a, const char *b)")
def strcmp(k: Kernel, a: int, b: int) -> int:
    """Compare two strings."""
    return _compare(k.memory.read_cstring(a), k.memory.read_cstring(b))


@service("int strncmp(const char *a, const char *b, size_t n)")
def strncmp(k: Kernel, a: int, b: int, n: int) -> int:
    """Compare at most ``n`` characters."""
    return _compare(k.memory.read_cstring(a, n), k.memory.read_cstring(b, n))


@service("char *strcpy(char *dst, const char *src)")
def strcpy(k: Kernel, dst: int, src: int) -> int:
    """Copy a string with its NUL."""
    k.memory.write(dst, k.memory.read_cstring(src) + b"\0")
    return dst


@service("char *strncpy(char *dst, const char *src, size_t n)")
def strncpy(k: Kernel, dst: int, src: int, n: int) -> int:
    """Copy at most ``n`` bytes, padding with NULs (and not terminating if full)."""
    k.memory.check(dst, n, W, "strncpy")  # before building n bytes of padding
    text = k.memory.read_cstring(src, n)
    k.memory.write(dst, text + b"\0" * (n - len(text)))
    return dst


@service("char *strcat(char *dst, const char *src)")
def strcat(k: Kernel, dst: int, src: int) -> int:
    """Append ``src`` to ``dst``."""
    end = dst + len(k.memory.read_cstring(dst))
    k.memory.write(end, k.memory.read_cstring(src) + b"\0")
    return dst


@service("char *strchr(const char *s, int c)")
def strchr(k: Kernel, s: int, c: int) -> int:
    """First ``c`` in ``s`` (the NUL counts), or NULL."""
    text = k.memory.read_cstring(s) + b"\0"
    i = text.find(bytes([c & 0xFF]))
    return s + i if i >= 0 else 0


@service("char *strrchr(const char *s, int c)")
def strrchr(k: Kernel, s: int, c: int) -> int:
    """Last ``c`` in ``s``, or NULL."""
    text = k.memory.read_cstring(s) + b"\0"
    i = text.rfind(bytes([c & 0xFF]))
    return s + i if i >= 0 else 0


@service("char *strstr(const char *haystack, const char *needle)")
def strstr(k: Kernel, haystack: int, needle: int) -> int:
    """First occurrence of ``needle``, or NULL."""
    i = k.memory.read_cstring(haystack).find(k.memory.read_cstring(needle))
    return haystack + i if i >= 0 else 0


@service("ssize_t strscpy(char *dst, const char *src, size_t size)")
def strscpy(k: Kernel, dst: int, src: int, size: int) -> int:
    """Copy with truncation; returns the length or -E2BIG if truncated."""
    if size == 0:
        return -E2BIG
    text = k.memory.read_cstring(src, size)
    if len(text) >= size:
        k.memory.write(dst, text[: size - 1] + b"\0")
        return -E2BIG
    k.memory.write(dst, text + b"\0")
    return len(text)
