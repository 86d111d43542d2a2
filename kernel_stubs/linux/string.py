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
from sandbox.services import kernel_code, kernel_variable, service

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


# -- lib/ctype.c: the character class table isdigit() and friends index -------------
_U, _L, _D, _C, _P, _S, _X, _SP = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def _ctype_table() -> bytes:
    """Linux's 256-entry table (ISO 8859-1 upper half, as lib/ctype.c)."""
    table = bytearray(256)
    for c in range(256):
        if c < 32 or c == 127:
            table[c] = _C | (_S if 9 <= c <= 13 else 0)
        elif c == 32:
            table[c] = _S | _SP
        elif chr(c).isdigit() and c < 128:
            table[c] = _D
        elif 65 <= c <= 90:
            table[c] = _U | (_X if c <= 70 else 0)
        elif 97 <= c <= 122:
            table[c] = _L | (_X if c <= 102 else 0)
        elif c < 127:
            table[c] = _P
        elif c < 160:
            table[c] = 0
        elif c == 160:
            table[c] = _S | _SP
        elif c < 192 or c in (215, 247):
            table[c] = _P
        elif c < 223:
            table[c] = _U
        else:
            table[c] = _L
    return bytes(table)


ctype = kernel_variable("_ctype", 256, _ctype_table())
fips_enabled = kernel_variable("fips_enabled", 4, 0)  # Debian's kernel boots without fips=1


def _isspace(c: int) -> bool:
    return bool(_ctype_table()[c] & _S)


@service("char *skip_spaces(const char *str)")
def skip_spaces(k: Kernel, text: int) -> int:
    """The first character of ``str`` that is not white space (isspace)."""
    data = k.memory.read_cstring(text, 4096)
    index = 0
    while index < len(data) and _isspace(data[index]):
        index += 1
    return text + index


@service("char *strsep(char **s, const char *ct)")
def strsep(k: Kernel, s: int, ct: int) -> int:
    """Split ``*s`` at the first character of ``ct``: that character becomes NUL, ``*s`` moves past it."""
    start = k.memory.read_u32(s)
    if start == 0:
        return 0
    text = k.memory.read_cstring(start, 1 << 16)
    delimiters = set(k.memory.read_cstring(ct, 256))
    end = next((i for i, c in enumerate(text) if c in delimiters), None)
    if end is None:
        k.memory.write_u32(s, 0)
    else:
        k.memory.write(start + end, b"\0")
        k.memory.write_u32(s, start + end + 1)
    return start


@service("char *kstrndup(const char *s, size_t max, gfp_t gfp)")
def kstrndup(k: Kernel, s: int, maximum: int, gfp: int) -> int:
    """A kmalloc'd copy of at most ``max`` characters of ``s`` (NUL-terminated); NULL for NULL or no memory."""
    from kernel_stubs.memory import allocate

    if s == 0:
        return 0
    data = k.memory.read_cstring(s, min(maximum, 1 << 16))[:maximum]
    block = allocate(k, len(data) + 1)
    if block:
        k.memory.write(block, data + b"\0")
    return block
