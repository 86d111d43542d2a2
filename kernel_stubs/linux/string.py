"""lib/string.c as Linux 6.1 i386 exports it (regparm: dst, src, n in EAX, EDX, ECX).

The implementations are the generic kernel's; only the export list is Linux's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.strings import (  # noqa: F401  (re-exported services)
    memcmp,
    memcpy,
    memmove,
    memset,
    strcat,
    strchr,
    strcmp,
    strcpy,
    strlen,
    strncmp,
    strncpy,
    strnlen,
    strrchr,
    strscpy,
    strstr,
)
from sandbox.services import kernel_code, service

from .kstrto import kstrto
from .kstrto import kstrtobool as kstrtobool_text

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("void *memchr(const void *s, int c, size_t n)")
def memchr(k: Kernel, s: int, c: int, n: int) -> int:
    """First ``c`` in ``n`` bytes, or NULL."""
    found = k.memory.read(s, n).find(bytes([c & 0xFF]))
    return 0 if found < 0 else s + found


@service("void *memscan(void *addr, int c, size_t size)")
def memscan(k: Kernel, addr: int, c: int, size: int) -> int:
    """First ``c`` in ``size`` bytes, or addr + size."""
    found = k.memory.read(addr, size).find(bytes([c & 0xFF]))
    return addr + (size if found < 0 else found)


# memchr_inv(start=%eax, c=%dl, bytes=%ecx): the first byte that is not c, or
# NULL. Real code: callers scan with it in loops (lib/string.c is plain C too).
#    test ecx,ecx; je null; 4: cmp (eax),dl; jne out; inc eax; dec ecx; jne 4
#    null: xor eax,eax; out: ret
memchr_inv = kernel_code("memchr_inv", bytes.fromhex("85c974083810750640497 5f831c0c3".replace(" ", "")))


@service("size_t strlcpy(char *dst, const char *src, size_t size)")
def strlcpy(k: Kernel, dst: int, src: int, size: int) -> int:
    """Copy with truncation; returns strlen(src)."""
    text = k.memory.read_cstring(src)
    if size:
        k.memory.write(dst, text[: size - 1] + b"\0")
    return len(text)


@service("int strcasecmp(const char *a, const char *b)")
def strcasecmp(k: Kernel, a: int, b: int) -> int:
    """Case-insensitive strcmp."""
    x, y = k.memory.read_cstring(a).lower(), k.memory.read_cstring(b).lower()
    return (x > y) - (x < y)


@service("int strncasecmp(const char *a, const char *b, size_t n)")
def strncasecmp(k: Kernel, a: int, b: int, n: int) -> int:
    """Case-insensitive strncmp."""
    x, y = k.memory.read_cstring(a, n)[:n].lower(), k.memory.read_cstring(b, n)[:n].lower()
    return (x > y) - (x < y)


def _kstrto(k: Kernel, s: int, base: int, res: int, size: int, signed: bool) -> int:
    """lib/kstrtox.c: no blanks, one trailing newline, -EINVAL or -ERANGE (``res`` untouched on error)."""
    kind = {(4, True): "int", (4, False): "uint", (8, True): "ll", (8, False): "ull",
            (2, True): "s16", (2, False): "u16", (1, True): "s8", (1, False): "u8"}[(size, signed)]
    error, value = kstrto(k.memory.read_cstring(s, 4096), base, kind)
    if error:
        return error
    k.memory.write(res, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    return 0


@service("int kstrtoint(const char *s, unsigned int base, int *res)")
def kstrtoint(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an int."""
    return _kstrto(k, s, base, res, 4, True)


@service("int kstrtouint(const char *s, unsigned int base, unsigned int *res)")
def kstrtouint(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an unsigned int."""
    return _kstrto(k, s, base, res, 4, False)


@service("int _kstrtoul(const char *s, unsigned int base, unsigned long *res)")
def _kstrtoul(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an unsigned long."""
    return _kstrto(k, s, base, res, 4, False)


@service("int _kstrtol(const char *s, unsigned int base, long *res)")
def _kstrtol(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse a long."""
    return _kstrto(k, s, base, res, 4, True)


@service("int kstrtoull(const char *s, unsigned int base, unsigned long long *res)")
def kstrtoull(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an unsigned long long."""
    return _kstrto(k, s, base, res, 8, False)


@service("int kstrtoll(const char *s, unsigned int base, long long *res)")
def kstrtoll(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse a long long."""
    return _kstrto(k, s, base, res, 8, True)


@service("int kstrtobool(const char *s, bool *res)")
def kstrtobool(k: Kernel, s: int, res: int) -> int:
    """y/Y/t/T/1, n/N/f/F/0, on/off (by their first two letters)."""
    error, value = kstrtobool_text(k.memory.read_cstring(s, 8) if s else None)
    if error:
        return error
    k.memory.write(res, bytes([value]))
    return 0
