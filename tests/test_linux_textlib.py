"""The text helpers of lib/ from a compiled module: hex dumps, address parsers, option lists,
string matching, simple_strto*, kstrto* widths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
typedef unsigned char u8;
int hex_dump_to_buffer(const void *buf, unsigned long len, int rowsize, int groupsize, char *linebuf,
                       unsigned long linebuflen, _Bool ascii);
void print_hex_dump(const char *level, const char *prefix, int type, int rowsize, int groupsize,
                    const void *buf, unsigned long len, _Bool ascii);
_Bool mac_pton(const char *s, u8 *mac);
int in4_pton(const char *src, int srclen, u8 *dst, int delim, const char **end);
int guid_parse(const char *uuid, void *u);
char *get_options(const char *str, int nints, int *ints);
int match_string(const char * const *array, unsigned long n, const char *string);
int __sysfs_match_string(const char * const *array, unsigned long n, const char *str);
_Bool sysfs_streq(const char *a, const char *b);
unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base);
long simple_strtol(const char *cp, char **endp, unsigned int base);
int kstrtou8(const char *s, unsigned int base, u8 *res);
int kstrtos16(const char *s, unsigned int base, short *res);
int hex2bin(u8 *dst, const char *src, unsigned long count);
int hex_to_bin(unsigned char ch);
static const u8 data[20] = "ABCDEFGHIJ\x01\x02\x03\x04\xff KLMN";
static char line[128];
static u8 bytes[16];
static int ints[8];
int dump(int len, int groupsize, int ascii, int buflen) { return hex_dump_to_buffer(data, len, 16, groupsize, line, buflen, ascii); }
const char *dumped(void) { return line; }
void print(void) { print_hex_dump("\x01" "6", "fw: ", 2, 16, 1, data, 20, 1); }
int mac(const char *s) { return mac_pton(s, bytes); }
int ip(const char *s, int delim) { const char *end; int r = in4_pton(s, -1, bytes, delim, &end); return r ? (int)(end - s) : -1; }
int guid(const char *s) { return guid_parse(s, bytes); }
const u8 *out(void) { return bytes; }
int options(const char *s, int n) { char *rest = get_options(s, n, ints); return (int)(rest - s); }
int option(int i) { return ints[i]; }
static const char *const modes[] = { "off", "auto", "on", 0 };
int modes_match(const char *s) { return match_string(modes, 3, s) * 100 + __sysfs_match_string(modes, -1, s); }
int streq(const char *a, const char *b) { return sysfs_streq(a, b); }
long strto(const char *s, int base, int sign) {
    char *end;
    long v = sign ? simple_strtol(s, &end, base) : (long)simple_strtoul(s, &end, base);
    return v * 100 + (int)(end - s);
}
int u8_parse(const char *s) { u8 v = 0; int r = kstrtou8(s, 0, &v); return r ? r : v; }
int s16_parse(const char *s) { short v = 0; int r = kstrtos16(s, 10, &v); return r ? r * 100000 : v; }
int hexbin(const char *s, int n) { return hex2bin(bytes, s, n); }
int digit(int c) { return hex_to_bin(c); }
"""


@pytest.fixture
def text(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux")
    return k, k.load(compile_c(SOURCE, "textlib", "-mregparm=3", "-O2"))


def _line(k: Kernel, m) -> bytes:  # type: ignore[no-untyped-def]
    return k.memory.read_cstring(m.call("dumped", returns="uint"))


def test_hex_dump_to_buffer_as_lib_hexdump(text) -> None:  # type: ignore[no-untyped-def]
    k, m = text
    assert m.call("dump", 16, 1, 1, 128) == 16 * 3 - 1 + 2 + 16  # hex, padding to column 49, ASCII
    assert _line(k, m) == b"41 42 43 44 45 46 47 48 49 4a 01 02 03 04 ff 20  ABCDEFGHIJ..... "
    assert m.call("dump", 8, 4, 0, 128) == 17
    assert _line(k, m) == b"44434241 48474645"  # little-endian groups
    assert m.call("dump", 6, 4, 0, 128) == 17  # 6 is not a multiple of 4: bytes, 6*3-1
    assert _line(k, m) == b"41 42 43 44 45 46"
    assert m.call("dump", 16, 1, 1, 10) == 65  # too small: the length the full line needs
    assert _line(k, m) == b"41 42 43 "  # as lib/hexdump.c cuts it (overflow2: the NUL after the space)


def test_print_hex_dump_lines_with_offsets(text) -> None:  # type: ignore[no-untyped-def]
    k, m = text
    m.call("print")
    assert "fw: 00000000: 41 42 43 44 45 46 47 48 49 4a 01 02 03 04 ff 20  ABCDEFGHIJ..... \n" in k.console
    assert "fw: 00000010: 4b 4c 4d 4e                                      KLMN\n" in k.console


def test_address_parsers(text) -> None:  # type: ignore[no-untyped-def]
    k, m = text
    assert m.call("mac", b"00:1a:2B:3c:4d:5e\0") == 1
    assert k.memory.read(m.call("out", returns="uint"), 6) == bytes.fromhex("001a2b3c4d5e")
    assert m.call("mac", b"00-1a-2b-3c-4d-5e\0") == 0  # only ':' separates
    assert m.call("ip", b"192.168.0.1\0", -1) == 11
    assert k.memory.read(m.call("out", returns="uint"), 4) == bytes([192, 168, 0, 1])
    assert m.call("ip", b"10.0.0.1:80\0", -1) == 8  # ':' ends an address too
    assert m.call("ip", b"256.0.0.1\0", -1) == -1
    assert m.call("ip", b"1.2.3\0", -1) == -1
    assert m.call("guid", b"01234567-89ab-cdef-0123-456789abcdef\0") == 0
    assert k.memory.read(m.call("out", returns="uint"), 16) == bytes.fromhex("67452301ab89efcd0123456789abcdef")
    assert m.call("guid", b"01234567-89ab-cdef-0123_456789abcdef\0") == -22


def test_get_options_ranges_and_counts(text) -> None:  # type: ignore[no-untyped-def]
    _k, m = text
    assert m.call("options", b"1,2,5-7,9\0", 8) == 9  # parsed to the end
    assert [m.call("option", i) for i in range(7)] == [6, 1, 2, 5, 6, 7, 9]
    assert m.call("options", b"4,-3,x\0", 8) == 5  # stops at the non-number
    assert [m.call("option", i) for i in range(3)] == [2, 4, -3]


def test_matching_and_number_parsing(text) -> None:  # type: ignore[no-untyped-def]
    _k, m = text
    assert m.call("modes_match", b"auto\0") == 101
    assert m.call("modes_match", b"on\n\0") == -22 * 100 + 2  # sysfs_streq ignores the newline
    assert m.call("streq", b"yes\0", b"yes\n\0") == 1 and m.call("streq", b"yes\0", b"ye\0") == 0
    assert m.call("strto", b"0x1fz\0", 0, 0) == 0x1F * 100 + 4
    assert m.call("strto", b"-42 \0", 10, 1) == -42 * 100 + 3
    assert m.call("u8_parse", b"255\0") == 255 and m.call("u8_parse", b"256\0") == -34  # -ERANGE
    assert m.call("s16_parse", b"-32768\0") == -32768 and m.call("s16_parse", b"12a\0") == -22 * 100000
    assert m.call("hexbin", b"0aFf\0", 2) == 0
    assert m.call("hexbin", b"0g\0", 1) == -22
    assert [m.call("digit", c) for c in b"09aFg"] == [0, 9, 10, 15, -1]
