"""Text helpers of lib/ as Linux 6.1 exports them: strlcat, match_string,
sysfs_streq, simple_strto*, the kstrto* widths not in ``string``, hex
(hex_to_bin, hex2bin, hex_dump_to_buffer, print_hex_dump), mac_pton,
in4_pton/in6_pton, guid_parse, get_options, kmemdup_nul.

Each follows the C in lib/ line for line where the result depends on it
(return values on bad input, what is written to a short buffer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate
from sandbox.errors import GuestFault
from sandbox.services import service

from .kstrto import simple_strtoull
from .printk import log
from .string import _kstrto

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EINVAL, E2BIG = 22, 7
MAX_TEXT = 1 << 16  # longest string read from the guest by these helpers


def _cstr(k: Kernel, address: int) -> bytes:
    return k.memory.read_cstring(address, MAX_TEXT)


# -- strings -----------------------------------------------------------------------------
@service("size_t strlcat(char *dest, const char *src, size_t count)")
def strlcat(k: Kernel, dest: int, src: int, count: int) -> int:
    """Append ``src`` to ``dest`` in a buffer of ``count`` bytes; the length it tried to make.

    As Linux, ``dest`` already filling the buffer (strlen(dest) >= count) is a BUG().
    """
    head, tail = _cstr(k, dest), _cstr(k, src)
    if len(head) >= count:
        raise GuestFault("kernel-bug", f"kernel BUG in strlcat from {k.symbolizer.short(k.current_caller)}: "
                         f"dest holds {len(head)} bytes, count is {count}", pc=k.current_caller, address=dest)
    room = count - len(head)
    piece = tail[:room - 1]
    k.memory.write(dest + len(head), piece + b"\0")
    return len(head) + len(tail)


@service("int match_string(const char * const *array, size_t n, const char *string)")
def match_string(k: Kernel, array: int, n: int, string: int) -> int:
    """Index of ``string`` in the first ``n`` entries (stopping at a NULL one); -EINVAL if absent."""
    wanted = _cstr(k, string)
    for index in range(min(n, MAX_TEXT)):
        item = k.memory.read_u32(array + 4 * index)
        if not item:
            break
        if _cstr(k, item) == wanted:
            return index
    return -EINVAL


def streq_sysfs(a: bytes, b: bytes) -> bool:
    """sysfs_streq(): equal, or equal but for one trailing newline on either side."""
    return a == b or a + b"\n" == b or a == b + b"\n"


@service("bool sysfs_streq(const char *s1, const char *s2)")
def sysfs_streq(k: Kernel, s1: int, s2: int) -> int:
    """Strings equal, ignoring one trailing newline (what a sysfs store receives)."""
    return int(streq_sysfs(_cstr(k, s1), _cstr(k, s2)))


@service("int __sysfs_match_string(const char * const *array, size_t n, const char *str)")
def __sysfs_match_string(k: Kernel, array: int, n: int, string: int) -> int:
    """match_string() with sysfs_streq(); ``n`` may be (size_t)-1 for a NULL-terminated array."""
    wanted = _cstr(k, string)
    for index in range(min(n, MAX_TEXT)):
        item = k.memory.read_u32(array + 4 * index)
        if not item:
            break
        if streq_sysfs(_cstr(k, item), wanted):
            return index
    return -EINVAL


@service("char *kmemdup_nul(const char *s, size_t len, gfp_t gfp)")
def kmemdup_nul(k: Kernel, s: int, length: int, gfp: int) -> int:
    """``len`` bytes of ``s`` in a new block, NUL-terminated; NULL for a NULL ``s``."""
    if not s:
        return 0
    data = k.memory.read(s, length)
    address = allocate(k, length + 1)
    if address:
        k.memory.write(address, data + b"\0")
    return address


# -- numbers --------------------------------------------------------------------------------
def _strtoul(k: Kernel, cp: int, endp: int, base: int, bits: int, signed: bool) -> int:
    text = _cstr(k, cp)
    negative = signed and text.startswith(b"-")
    value, used = simple_strtoull(text[1:] if negative else text, base)
    used += 1 if negative else 0
    if endp:
        k.memory.write_u32(endp, cp + used)
    if negative:
        value = -value
    return value & ((1 << bits) - 1)


@service("unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base)")
def simple_strtoul(k: Kernel, cp: int, endp: int, base: int) -> int:
    """Parse an unsigned long, stopping at the first non-digit (``*endp`` set there)."""
    return _strtoul(k, cp, endp, base, 32, False)


@service("long simple_strtol(const char *cp, char **endp, unsigned int base)")
def simple_strtol(k: Kernel, cp: int, endp: int, base: int) -> int:
    """simple_strtoul() with an optional leading '-'."""
    return _strtoul(k, cp, endp, base, 32, True)


@service("unsigned long long simple_strtoull(const char *cp, char **endp, unsigned int base)")
def simple_strtoull_service(k: Kernel, cp: int, endp: int, base: int) -> int:
    """Parse an unsigned long long, stopping at the first non-digit."""
    return _strtoul(k, cp, endp, base, 64, False)


@service("long long simple_strtoll(const char *cp, char **endp, unsigned int base)")
def simple_strtoll(k: Kernel, cp: int, endp: int, base: int) -> int:
    """simple_strtoull() with an optional leading '-'."""
    return _strtoul(k, cp, endp, base, 64, True)


@service("int kstrtou8(const char *s, unsigned int base, u8 *res)")
def kstrtou8(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse a u8 (-ERANGE past 255)."""
    return _kstrto(k, s, base, res, 1, False)


@service("int kstrtos8(const char *s, unsigned int base, s8 *res)")
def kstrtos8(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an s8."""
    return _kstrto(k, s, base, res, 1, True)


@service("int kstrtou16(const char *s, unsigned int base, u16 *res)")
def kstrtou16(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse a u16."""
    return _kstrto(k, s, base, res, 2, False)


@service("int kstrtos16(const char *s, unsigned int base, s16 *res)")
def kstrtos16(k: Kernel, s: int, base: int, res: int) -> int:
    """Parse an s16."""
    return _kstrto(k, s, base, res, 2, True)


def _kstrto_from_user(k: Kernel, s: int, count: int, base: int, res: int, size: int, signed: bool) -> int:
    """lib/kstrtox.c: copy min(count, 63) user bytes (-EFAULT if any is missing), then kstrto*."""
    from kernel_stubs.memory import release

    from .uaccess import copy_user

    count = min(count, 63)
    scratch = allocate(k, count + 1)
    if not scratch:
        return -12
    try:
        if copy_user(k, scratch, s, count, to_user=False):
            return -14  # -EFAULT
        k.memory.write(scratch + count, b"\0")
        return _kstrto(k, scratch, base, res, size, signed)
    finally:
        release(k, scratch)


@service("int kstrtoul_from_user(const char *s, size_t count, unsigned int base, unsigned long *res)")
def kstrtoul_from_user(k: Kernel, s: int, count: int, base: int, res: int) -> int:
    """kstrtoul() of a user buffer (at most 63 bytes, as Linux copies)."""
    return _kstrto_from_user(k, s, count, base, res, 4, False)


@service("int kstrtouint_from_user(const char *s, size_t count, unsigned int base, unsigned int *res)")
def kstrtouint_from_user(k: Kernel, s: int, count: int, base: int, res: int) -> int:
    """kstrtouint() of a user buffer."""
    return _kstrto_from_user(k, s, count, base, res, 4, False)


@service("int kstrtoint_from_user(const char *s, size_t count, unsigned int base, int *res)")
def kstrtoint_from_user(k: Kernel, s: int, count: int, base: int, res: int) -> int:
    """kstrtoint() of a user buffer."""
    return _kstrto_from_user(k, s, count, base, res, 4, True)


def _get_option(text: bytes, pos: int) -> tuple[int, int | None, int]:
    """lib/cmdline.c get_option() at text[pos:]: (return code, value to store, new pos).

    0: no int (a value is still stored unless the string ended, as Linux's
    ``*pint = value``); 1: an int at the end; 2: an int then ',' (consumed);
    3: an int then '-' (left for get_range).
    """
    if pos >= len(text):
        return 0, None, pos
    cur = pos + 1 if text[pos:pos + 1] == b"-" else pos
    value, used = simple_strtoull(text[cur:], 0)
    value = -value if cur != pos else value
    value = ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    end = cur + used
    if used == 0:
        return 0, value, end
    if text[end:end + 1] == b",":
        return 2, value, end + 1
    if text[end:end + 1] == b"-":
        return 3, value, end
    return 1, value, end


@service("char *get_options(const char *str, int nints, int *ints)")
def get_options(k: Kernel, string: int, nints: int, ints: int) -> int:
    """Parse "1,2,5-7" into ints[1..], ints[0] the count; returns where parsing stopped.

    Line for line lib/cmdline.c: ``nints`` counts ints[0] too; nints 0
    only validates (every value lands in ints[0], then the count does).
    """
    text = _cstr(k, string)

    def store(index: int, value: int) -> None:
        k.memory.write_u32(ints + 4 * index, value & 0xFFFFFFFF)

    validate = nints == 0
    i, pos = 1, 0
    while i < nints or validate:
        pint = 0 if validate else i
        res, stored, pos = _get_option(text, pos)
        if stored is not None:
            store(pint, stored)
        if res == 0 or stored is None:
            break
        value = stored
        if res == 3:
            # get_range(): skip the '-', read the upper bound (the pointer stays on it),
            # fill lower..upper-1, and count upper-lower; the next get_option stores upper.
            pos += 1
            upper_text = text[pos:]
            negative = upper_text[:1] == b"-"
            upper, _ = simple_strtoull(upper_text[1:] if negative else upper_text, 0)
            upper = ((-upper if negative else upper) + (1 << 31)) % (1 << 32) - (1 << 31)
            n = 0 if validate else nints - i
            x, where = value, pint
            while n and x < upper:
                store(where, x)
                x, where, n = x + 1, where + 1, n - 1
            range_nums = upper - value
            if range_nums < 0:
                break
            i += range_nums - 1
        i += 1
        if res == 1:
            break
    store(0, i - 1)
    return string + pos


# -- hex ------------------------------------------------------------------------------------
def hex_value(ch: int) -> int:
    """hex_to_bin(): 0..15, or -1."""
    if 0x30 <= ch <= 0x39:
        return ch - 0x30
    lower = ch | 0x20
    if 0x61 <= lower <= 0x66:
        return lower - 0x61 + 10
    return -1


@service("int hex_to_bin(unsigned char ch)")
def hex_to_bin(k: Kernel, ch: int) -> int:
    """The value of one hex digit, or -1."""
    return hex_value(ch & 0xFF)


@service("int hex2bin(u8 *dst, const char *src, size_t count)")
def hex2bin(k: Kernel, dst: int, src: int, count: int) -> int:
    """``count`` bytes from 2*count hex digits: 0, or -EINVAL at the first bad digit (bytes before it written)."""
    text = k.memory.read(src, 2 * count) if count else b""
    for i in range(count):
        hi, lo = hex_value(text[2 * i]), hex_value(text[2 * i + 1])
        if hi < 0 or lo < 0:
            return -EINVAL
        k.memory.write(dst + i, bytes([hi << 4 | lo]))
    return 0


def dump_line(data: bytes, rowsize: int, groupsize: int, ascii: bool) -> bytes:
    """hex_dump_to_buffer()'s text for one line of ``data`` (already cut to rowsize), unbounded."""
    if rowsize not in (16, 32):
        rowsize = 16
    data = data[:rowsize]
    length = len(data)
    if groupsize not in (1, 2, 4, 8) or length % groupsize:
        groupsize = 1
    ngroups = length // groupsize
    ascii_column = rowsize * 2 + rowsize // groupsize + 1
    if not length:
        return b""
    parts = []
    for j in range(ngroups):
        word = int.from_bytes(data[j * groupsize:(j + 1) * groupsize], "little")
        parts.append(b"%0*x" % (2 * groupsize, word))
    hex_part = b" ".join(parts) if groupsize > 1 else b" ".join(b"%02x" % b for b in data)
    if not ascii:
        return hex_part
    line = hex_part.ljust(ascii_column)
    line += bytes(b if 0x20 <= b < 0x7F else 0x2E for b in data)
    return line


@service("int hex_dump_to_buffer(const void *buf, size_t len, int rowsize, int groupsize, char *linebuf, "
         "size_t linebuflen, bool ascii)")
def hex_dump_to_buffer(k: Kernel, buf: int, length: int, rowsize: int, groupsize: int, linebuf: int,
                       linebuflen: int, ascii: int) -> int:
    """One line of hex (and ASCII) into ``linebuf``; the length the full line has (as snprintf)."""
    if rowsize not in (16, 32):
        rowsize = 16
    data = k.memory.read(buf, min(length, rowsize)) if length else b""
    line = dump_line(data, rowsize, groupsize, bool(ascii & 0xFF))
    if linebuflen:
        stored = line[:linebuflen - 1]
        k.memory.write(linebuf, stored + b"\0")
    return len(line)


DUMP_PREFIX_NONE, DUMP_PREFIX_ADDRESS, DUMP_PREFIX_OFFSET = 0, 1, 2


@service("void print_hex_dump(const char *level, const char *prefix_str, int prefix_type, int rowsize, "
         "int groupsize, const void *buf, size_t len, bool ascii)")
def print_hex_dump(k: Kernel, level: int, prefix_str: int, prefix_type: int, rowsize: int, groupsize: int,
                   buf: int, length: int, ascii: int) -> None:
    """printk() the buffer, one hex_dump_to_buffer() line per ``rowsize`` bytes, each with its prefix."""
    if rowsize not in (16, 32):
        rowsize = 16
    level_text = k.memory.read_cstring(level, 8) if level else b""
    prefix = k.memory.read_cstring(prefix_str, 256) if prefix_str else b""
    for i in range(0, length, rowsize):
        data = k.memory.read(buf + i, min(rowsize, length - i))
        line = dump_line(data, rowsize, groupsize, bool(ascii & 0xFF))
        if prefix_type == DUMP_PREFIX_ADDRESS:
            head = b"%s%08x: " % (prefix, buf + i)
        elif prefix_type == DUMP_PREFIX_OFFSET:
            head = b"%s%08x: " % (prefix, i)
        else:
            head = prefix
        log(k, level_text + head + line + b"\n")


# -- addresses ------------------------------------------------------------------------------
@service("bool mac_pton(const char *s, u8 *mac)")
def mac_pton(k: Kernel, s: int, mac: int) -> int:
    """"xx:xx:xx:xx:xx:xx" into 6 bytes: true if well-formed (``mac`` untouched otherwise)."""
    text = k.memory.read_cstring(s, 17)
    if len(text) < 17:
        return 0
    out = bytearray()
    for i in range(6):
        hi, lo = hex_value(text[3 * i]), hex_value(text[3 * i + 1])
        if hi < 0 or lo < 0 or (i != 5 and text[3 * i + 2] != 0x3A):
            return 0
        out.append(hi << 4 | lo)
    k.memory.write(mac, bytes(out))
    return 1


def pton4(text: bytes, delim: int) -> tuple[bytes | None, int]:
    """net/core/utils.c in4_pton()'s scan of ``text``: (4 bytes or None, where it stopped).

    Digits build each part (at most 255, any number of digits); '.' ends a
    part; the delimiter, NUL (the end) or ':' ends the address after
    exactly four parts; anything else fails.
    """
    parts: list[int] = []
    w: int | None = None
    pos = 0
    while True:
        c = text[pos] if pos < len(text) else 0
        is_delim = c == 0 or (delim >= 0 and c == delim & 0xFF) or (delim == -1 and c == 0xFF)
        if is_delim or c == 0x3A:
            if w is None:
                return None, pos
            parts.append(w)
            return (bytes(parts), pos) if len(parts) == 4 else (None, pos)
        if c == 0x2E:
            if w is None:
                return None, pos
            parts.append(w)
            w = None
        elif 0x30 <= c <= 0x39:
            w = (w or 0) * 10 + c - 0x30
            if w > 255:
                return None, pos
        else:
            return None, pos
        if len(parts) >= 4:
            return None, pos
        pos += 1


@service("int in4_pton(const char *src, int srclen, u8 *dst, int delim, const char **end)")
def in4_pton(k: Kernel, src: int, srclen: int, dst: int, delim: int, end: int) -> int:
    """A dotted quad into 4 bytes: 1 if valid (``*end`` after it), 0 if not."""
    text = k.memory.read_cstring(src, 64) if srclen < 0 else k.memory.read(src, srclen)
    value, used = pton4(text, delim)
    if end:
        k.memory.write_u32(end, src + used)
    if value is None:
        return 0
    k.memory.write(dst, value)
    return 1


@service("int in6_pton(const char *src, int srclen, u8 *dst, int delim, const char **end)")
def in6_pton(k: Kernel, src: int, srclen: int, dst: int, delim: int, end: int) -> int:
    """An IPv6 address (with ::, and a dotted quad tail) into 16 bytes: 1 if valid, 0 if not."""
    import ipaddress

    text = k.memory.read_cstring(src, 64) if srclen < 0 else k.memory.read(src, srclen)
    stop = len(text)
    if delim != -1:
        cut = text.find(bytes([delim & 0xFF]))
        stop = cut if cut >= 0 else stop
    try:
        value = ipaddress.IPv6Address(text[:stop].decode("ascii")).packed
    except (ValueError, UnicodeDecodeError):
        return 0
    k.memory.write(dst, value)
    if end:
        k.memory.write_u32(end, src + stop)
    return 1


@service("int guid_parse(const char *uuid, guid_t *u)")
def guid_parse(k: Kernel, uuid: int, u: int) -> int:
    """"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into a guid_t (first three fields little-endian): 0 or -EINVAL."""
    text = k.memory.read_cstring(uuid, 37)
    if len(text) < 36 or any(text[i] != 0x2D for i in (8, 13, 18, 23)):
        return -EINVAL
    digits = text[:36].replace(b"-", b"")
    if any(hex_value(c) < 0 for c in digits):
        return -EINVAL
    raw = bytes.fromhex(digits.decode())
    # guid_index: 3,2,1,0,5,4,7,6,8,...,15 (the first three fields stored little-endian)
    order = (3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15)
    k.memory.write(u, bytes(raw[i] for i in order))
    return 0


@service("int uuid_parse(const char *uuid, uuid_t *u)")
def uuid_parse(k: Kernel, uuid: int, u: int) -> int:
    """The same text into a uuid_t, bytes in text order: 0 or -EINVAL."""
    text = k.memory.read_cstring(uuid, 37)
    if len(text) < 36 or any(text[i] != 0x2D for i in (8, 13, 18, 23)):
        return -EINVAL
    digits = text[:36].replace(b"-", b"")
    if any(hex_value(c) < 0 for c in digits):
        return -EINVAL
    k.memory.write(u, bytes.fromhex(digits.decode()))
    return 0


# -- buffers read by read() handlers (fs/libfs.c) ------------------------------------------
def _pos(k: Kernel, ppos: int) -> int:
    return int.from_bytes(k.memory.read(ppos, 8), "little", signed=True)


@service("ssize_t simple_read_from_buffer(void *to, size_t count, loff_t *ppos, const void *from, size_t available)")
def simple_read_from_buffer(k: Kernel, to: int, count: int, ppos: int, frm: int, available: int) -> int:
    """Copy from ``from`` at ``*ppos`` to the user buffer ``to``; ``*ppos`` advances by what was copied.

    -EINVAL for a negative position, 0 at or past the end, -EFAULT if nothing could be copied.
    """
    from .uaccess import copy_user

    pos = _pos(k, ppos)
    if pos < 0:
        return -EINVAL
    if pos >= available or not count:
        return 0
    count = min(count, available - pos)
    left = copy_user(k, to, frm + pos, count, to_user=True)
    if left == count:
        return -14
    count -= left
    k.memory.write(ppos, (pos + count).to_bytes(8, "little", signed=True))
    return count


@service("ssize_t simple_write_to_buffer(void *to, size_t available, loff_t *ppos, const void *from, size_t count)")
def simple_write_to_buffer(k: Kernel, to: int, available: int, ppos: int, frm: int, count: int) -> int:
    """Copy from the user buffer ``from`` into ``to`` at ``*ppos`` (bounded by ``available``)."""
    from .uaccess import copy_user

    pos = _pos(k, ppos)
    if pos < 0:
        return -EINVAL
    if pos >= available or not count:
        return 0
    count = min(count, available - pos)
    left = copy_user(k, to + pos, frm, count, to_user=False)
    if left == count:
        return -14
    count -= left
    k.memory.write(ppos, (pos + count).to_bytes(8, "little", signed=True))
    return count


@service("ssize_t memory_read_from_buffer(void *to, size_t count, loff_t *ppos, const void *from, size_t available)")
def memory_read_from_buffer(k: Kernel, to: int, count: int, ppos: int, frm: int, available: int) -> int:
    """simple_read_from_buffer() into kernel memory: the bytes copied (``*ppos`` advanced)."""
    pos = _pos(k, ppos)
    if pos < 0:
        return -EINVAL
    if pos >= available:
        return 0
    count = min(count, available - pos)
    k.memory.write(to, k.memory.read(frm + pos, count))
    k.memory.write(ppos, (pos + count).to_bytes(8, "little", signed=True))
    return count


@service("void *memdup_user_nul(const void *src, size_t len)")
def memdup_user_nul(k: Kernel, src: int, length: int) -> int:
    """memdup_user() plus a terminating NUL: the copy, or ERR_PTR(-ENOMEM/-EFAULT)."""
    from kernel_stubs.memory import release

    from .uaccess import copy_user

    address = allocate(k, length + 1)
    if not address:
        return -12 & 0xFFFFFFFF
    if copy_user(k, address, src, length, to_user=False):
        release(k, address)
        return -14 & 0xFFFFFFFF
    k.memory.write(address + length, b"\0")
    return address
