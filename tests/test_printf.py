"""The printf engine: Python's ``%`` and the host glibc as oracles, plus explicit i386 cases."""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import platform

import pytest

from sandbox.services.printf import (
    FIELD_WIDTH_MAX,
    LEVEL_NAMES,
    PRECISION_MAX,
    ListArgs,
    format_printf,
    parse_format,
    split_kern_level,
)

INT_MIN = -(1 << 31)
INT_MAX = (1 << 31) - 1


class Strings:
    """A fake guest string reader that records every call."""

    def __init__(self, strings: dict[int, bytes] | None = None) -> None:
        self.strings = strings or {}
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, address: int, limit: int | None) -> bytes:
        self.calls.append((address, limit))
        if address not in self.strings:
            raise LookupError(f"bad pointer {address:#x}")
        text = self.strings[address]
        return text if limit is None else text[:limit]


def fmt(format_: str | bytes, *slots: int, strings: dict[int, bytes] | None = None) -> str:
    """Format with 32-bit slots; asserts every slot was consumed."""
    args = ListArgs(slots)
    raw = format_ if isinstance(format_, bytes) else format_.encode()
    out = format_printf(raw, args, Strings(strings))
    assert args.consumed == len(slots), f"{format_!r} consumed {args.consumed} of {len(slots)} slots"
    return out.decode("latin-1")


def u64(value: int) -> tuple[int, int]:
    """A 64-bit argument as its two slots, low first."""
    value &= (1 << 64) - 1
    return value & 0xFFFFFFFF, value >> 32


# --- Python's % as an oracle ------------------------------------------------

FLAG_SETS = ["".join(c) for n in range(6) for c in itertools.combinations("-+ 0#", n)]
WIDTHS = ["", "0", "1", "4", "11"]
PRECISIONS = ["", ".", ".0", ".1", ".3", ".10"]
INT_VALUES = [0, 1, -1, 7, -7, 42, 255, 4096, 123456789, -123456789, INT_MAX, INT_MIN]


def _python_agrees(conv: str, flags: str, precision: str, value: int) -> bool:
    """Whether Python's % is a faithful C oracle for this combination."""
    has_prec = bool(precision)
    if "0" in flags and has_prec:
        return False  # C: a precision disables 0 on integers; Python zero-pads anyway
    if conv in "uxXo" and ("+" in flags or " " in flags):
        return False  # C ignores sign flags on unsigned conversions
    if conv == "o" and "#" in flags:
        return False  # Python prints 0o17
    if conv in "xX" and "#" in flags and value == 0:
        return False  # C prints no 0x for zero
    # C prints no digits for a zero precision and value; Python prints 0
    return not (precision in (".", ".0") and value == 0)


def _python_cases() -> list[tuple[str, int, str]]:
    cases = []
    for conv in "diuxXo":
        for flags, width, precision in itertools.product(FLAG_SETS, WIDTHS, PRECISIONS):
            spec = f"%{flags}{width}{precision}{conv}"
            for value in INT_VALUES:
                if not _python_agrees(conv, flags, precision, value):
                    continue
                python_value = value if conv in "di" else value & 0xFFFFFFFF
                # Python rejects a bare "." precision; C reads it as .0
                python_spec = f"%{flags}{width}{'.0' if precision == '.' else precision}{conv}"
                cases.append((spec, value, python_spec % python_value))
    return cases


PYTHON_INT_CASES = _python_cases()


def test_python_oracle_covers_many_combinations() -> None:
    assert len(PYTHON_INT_CASES) > 10000


def test_integers_match_python_percent() -> None:
    failures = [
        (spec, value, expected, got)
        for spec, value, expected in PYTHON_INT_CASES
        if (got := fmt(f"<{spec}>", value)) != f"<{expected}>"
    ]
    assert not failures[:20], f"{len(failures)} mismatches"


def test_strings_match_python_percent() -> None:
    strings = {0x1000: b"hello, world", 0x2000: b"", 0x3000: b"x"}
    checked = 0
    for flags, width, precision in itertools.product(FLAG_SETS, WIDTHS, PRECISIONS):
        # Python ignores 0, +, space and # on %s like C; it rejects a bare "." precision
        python_spec = f"%{flags}{width}{'.0' if precision == '.' else precision}s"
        for address, text in strings.items():
            spec = f"%{flags}{width}{precision}s"
            assert fmt(spec, address, strings=strings) == python_spec % text.decode(), spec
            checked += 1
    assert checked > 2000


def test_chars_match_python_percent() -> None:
    for flags, width in itertools.product(FLAG_SETS, WIDTHS):
        for code in (ord("a"), ord("Z"), ord(" "), 0x7E):
            # Python's %c is given the character, C's an int slot; 0 pads %c with spaces in both
            spec = f"%{flags}{width}c"
            assert fmt(spec, code) == spec % chr(code), spec


# --- the host C library as an oracle (same formats, no ILP32-sensitive lengths) ---


def _host_libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


HOST_LIBC = _host_libc()


def host_snprintf(format_: str, *args: ctypes.c_int | ctypes.c_longlong | ctypes.c_uint | ctypes.c_ulonglong) -> str:
    assert HOST_LIBC is not None
    buf = ctypes.create_string_buffer(512)
    n = HOST_LIBC.snprintf(buf, len(buf), format_.encode(), *args)
    assert 0 <= n < len(buf)
    return buf.raw[:n].decode("latin-1")


HOST_VALUES = [0, 1, -1, 5, -5, 127, 128, -128, 255, 256, 0x7FFF, 0x8000, -0x8000, 0xFFFF, 0x12345678, INT_MAX, INT_MIN]
HOST_VALUES_64 = [0, 1, -1, 1 << 32, -(1 << 32), (1 << 63) - 1, -(1 << 63), 0x123456789ABCDEF0, 0xFFFFFFFF, 1 << 31]


@pytest.mark.skipif(HOST_LIBC is None, reason="needs the host glibc")
@pytest.mark.parametrize("conv", list("diuxXo"))
@pytest.mark.parametrize("length", ["", "hh", "h", "ll"])
def test_integers_match_host_glibc(conv: str, length: str) -> None:
    failures = []
    values = HOST_VALUES_64 if length == "ll" else HOST_VALUES
    for flags, width, precision in itertools.product(FLAG_SETS, ["", "1", "6"], ["", ".", ".0", ".2", ".7"]):
        spec = f"[%{flags}{width}{precision}{length}{conv}]"
        for value in values:
            if length == "ll":
                expected = host_snprintf(spec, ctypes.c_longlong(value))
                got = fmt(spec, *u64(value))
            else:
                expected = host_snprintf(spec, ctypes.c_int(_signed32(value)))
                got = fmt(spec, value)
            if got != expected:
                failures.append((spec, value, expected, got))
    assert not failures[:20], f"{len(failures)} mismatches"


@pytest.mark.skipif(HOST_LIBC is None, reason="needs the host glibc")
def test_star_width_and_precision_match_host_glibc() -> None:
    for flags, width, precision, value in itertools.product(["", "-", "0", "+", "#"], [-8, -1, 0, 3, 9], [-3, -1, 0, 2, 6], [0, 42, -42]):
        for conv in "dxo":
            spec = f"[%{flags}*.*{conv}]"
            expected = host_snprintf(spec, ctypes.c_int(width), ctypes.c_int(precision), ctypes.c_int(value))
            assert fmt(spec, width, precision, value) == expected, (spec, width, precision, value)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


# --- explicit i386 expectations ------------------------------------------------

EXPLICIT = [
    # lengths truncating a 32-bit slot
    ("%hhd", [0x180], "-128"),
    ("%hhd", [0x17F], "127"),
    ("%hhd", [-1], "-1"),
    ("%hhu", [-1], "255"),
    ("%hhx", [0x12345678], "78"),
    ("%hhi", [0xFF], "-1"),
    ("%hd", [0x12345678], "22136"),
    ("%hd", [0x8000], "-32768"),
    ("%hd", [-2], "-2"),
    ("%hu", [-1], "65535"),
    ("%hx", [-1], "ffff"),
    ("%ho", [0x10008], "10"),
    # long, size_t, ptrdiff_t are 32 bits on i386
    ("%ld", [0xFFFFFFFF], "-1"),
    ("%lu", [0xFFFFFFFF], "4294967295"),
    ("%lx", [0xDEADBEEF], "deadbeef"),
    ("%zu", [0xFFFFFFFF], "4294967295"),
    ("%zd", [-5], "-5"),
    ("%zx", [0x1000], "1000"),
    ("%Zu", [7], "7"),
    ("%td", [-12], "-12"),
    ("%d", [INT_MIN], "-2147483648"),
    ("%i", [INT_MIN], "-2147483648"),
    ("%d", [INT_MAX], "2147483647"),
    ("%d", [0xFFFFFFFF], "-1"),
    ("%u", [0xFFFFFFFF], "4294967295"),
    ("%u", [INT_MIN], "2147483648"),
    ("%x", [INT_MIN], "80000000"),
    ("%X", [0xABCDEF], "ABCDEF"),
    ("%o", [8], "10"),
    ("%+d", [INT_MIN], "-2147483648"),
    ("%012d", [INT_MIN], "-02147483648"),
    # 64-bit: two slots, low first
    ("%lld", [*u64(-1)], "-1"),
    ("%llu", [*u64(-1)], "18446744073709551615"),
    ("%lld", [*u64(-(1 << 63))], "-9223372036854775808"),
    ("%lld", [*u64((1 << 63) - 1)], "9223372036854775807"),
    ("%llx", [*u64(0x123456789ABCDEF0)], "123456789abcdef0"),
    ("%llu", [0, 1], "4294967296"),
    ("%Ld", [*u64(-7)], "-7"),
    ("%qu", [*u64(1 << 40)], "1099511627776"),
    ("%jd", [*u64(-(1 << 33))], "-8589934592"),
    ("%lld %d", [*u64(5 << 32), 9], "21474836480 9"),
    ("%d %lld %d", [1, *u64(-2), 3], "1 -2 3"),
    ("%#llx", [*u64(1 << 32)], "0x100000000"),
    ("%020lld", [*u64(-(1 << 40))], "-0000001099511627776"),
    # flag precedence
    ("%-05d|", [42], "42   |"),
    ("%0-5d|", [42], "42   |"),
    ("%+ d", [42], "+42"),
    ("% +d", [42], "+42"),
    ("% d", [42], " 42"),
    ("% d", [-42], "-42"),
    ("%+u", [42], "42"),
    ("% x", [42], "2a"),
    ("%05.3d", [7], "  007"),
    ("%-08.3d|", [-7], "-007    |"),
    ("%08.0d", [0], "        "),
    ("%+.0d", [0], "+"),
    ("% .0d", [0], " "),
    # precision and zero
    ("%.0d", [0], ""),
    ("%.d", [0], ""),
    ("%.0x", [0], ""),
    ("%5.0u|", [0], "     |"),
    ("%.0d", [1], "1"),
    ("%.5d", [-42], "-00042"),
    ("%.3x", [0xABCDE], "abcde"),
    # alternate forms
    ("%#o", [0], "0"),
    ("%#o", [8], "010"),
    ("%#.0o", [0], "0"),
    ("%#.3o", [8], "010"),
    ("%#.4o", [8], "0010"),
    ("%#6o", [8], "   010"),
    ("%#06o", [8], "000010"),
    ("%#x", [0], "0"),
    ("%#.0x", [0], ""),
    ("%#x", [255], "0xff"),
    ("%#X", [255], "0XFF"),
    ("%#08x", [42], "0x00002a"),
    ("%#-8x|", [42], "0x2a    |"),
    ("%#8.4x", [42], "  0x002a"),
    ("%#d", [5], "5"),
    # * width and precision
    ("%*d", [5, 42], "   42"),
    ("%*d|", [-5, 42], "42   |"),
    ("%0*d|", [-5, 42], "42   |"),
    ("%-*d|", [-5, 42], "42   |"),
    ("%*d", [0, 42], "42"),
    ("%.*d", [4, 42], "0042"),
    ("%.*d", [-1, 42], "42"),
    ("%05.*d", [-1, 42], "00042"),
    ("%05.*d", [3, 42], "  042"),
    ("%*.*d", [6, 3, 7], "   007"),
    ("%*.*s|", [-6, 2, 0x1000], "he    |"),
    ("%.*s", [3, 0x1000], "hel"),
    ("%*c|", [-3, ord("x")], "x  |"),
    # characters
    ("%c", [ord("A")], "A"),
    ("%c", [0x141], "A"),
    ("%c", [0], "\0"),
    ("%3c", [ord("A")], "  A"),
    ("%-3c|", [ord("A")], "A  |"),
    ("%03c", [ord("A")], "  A"),
    ("%lc", [ord("w")], "w"),
    ("%hhc", [ord("w")], "w"),
    ("%c%c%c", [ord("a"), ord("b"), ord("c")], "abc"),
    # strings
    ("%s", [0x1000], "hello"),
    ("%8s|", [0x1000], "   hello|"),
    ("%-8s|", [0x1000], "hello   |"),
    ("%08s", [0x1000], "   hello"),
    ("%.2s", [0x1000], "he"),
    ("%.10s", [0x1000], "hello"),
    ("%ls", [0x1000], "hello"),
    ("%s", [0], "(null)"),
    ("%8s", [0], "  (null)"),
    ("%-8s|", [0], "(null)  |"),
    ("%.3s", [0], "(nu"),
    ("%.0s|", [0], "|"),
    ("%s|%s", [0x1000, 0x2000], "hello|"),
    # pointers
    ("%p", [0xC0DE0010], "0xc0de0010"),
    ("%p", [0x10], "0x10"),
    ("%p", [0], "(null)"),
    ("%12p|", [0x1234], "      0x1234|"),
    ("%-12p|", [0x1234], "0x1234      |"),
    ("%012p|", [0x1234], "      0x1234|"),
    ("%8p", [0], "  (null)"),
    ("%*p|", [-8, 0xAB], "0xab    |"),
    ("%pS|", [0x1234], "0x1234|"),
    ("%pK %d", [0x1234, 5], "0x1234 5"),
    ("%px.", [0xFFFFFFFF], "0xffffffff."),
    ("[%p]", [0x1], "[0x1]"),
    # percent, unknown conversions, %n, truncated formats
    ("%%", [], "%"),
    ("100%%", [], "100%"),
    ("%5%", [], "%"),
    ("%%d", [], "%d"),
    ("%%%d", [3], "%3"),
    ("%y", [], "%y"),
    ("%-5.2y|%d", [4], "%-5.2y|4"),
    ("%*y%d", [4], "%*y4"),
    ("%f", [], "%f"),
    ("%1$d", [], "%1$d"),
    ("%hhh", [], "%hhh"),
    ("a%nb%d", [0x5000, 7], "ab7"),
    ("%hhn%lln%d", [0x5000, 0x5004, 8], "8"),
    ("abc%", [], "abc%"),
    ("abc%-5", [], "abc%-5"),
    ("abc%5.", [], "abc%5."),
    ("abc%ll", [], "abc%ll"),
    ("%", [], "%"),
    # literals and mixtures
    ("", [], ""),
    ("plain text\n", [], "plain text\n"),
    ("x=%d y=%s\n", [-3, 0x1000], "x=-3 y=hello\n"),
    ("%d%%%s", [1, 0x1000], "1%hello"),
    ("value=%04d hex=%#x", [42, 42], "value=0042 hex=0x2a"),
]

STRINGS = {0x1000: b"hello", 0x2000: b""}


@pytest.mark.parametrize(("format_", "slots", "expected"), EXPLICIT, ids=[repr(case[0]) for case in EXPLICIT])
def test_explicit(format_: str, slots: list[int], expected: str) -> None:
    assert fmt(format_, *slots, strings=STRINGS) == expected


def test_newline_and_bytes_pass_through() -> None:
    raw = b"\x01" + b"6caf\xc3\xa9 \xff %s\n"
    assert format_printf(raw, ListArgs([0x1000]), Strings({0x1000: b"\x80"})) == b"\x016caf\xc3\xa9 \xff \x80\n"


# --- %s and read_cstring ----------------------------------------------------------


def test_string_reader_gets_the_precision() -> None:
    reader = Strings({0x1000: b"hello", 0x2000: b"world"})
    out = format_printf(b"%s %.3s %.*s %10.2s", ListArgs([0x1000, 0x2000, 4, 0x1000, 0x2000]), reader)
    assert out == b"hello wor hell         wo"
    assert reader.calls == [(0x1000, None), (0x2000, 3), (0x1000, 4), (0x2000, 2)]


def test_negative_star_precision_reads_the_whole_string() -> None:
    reader = Strings({0x1000: b"hello"})
    assert format_printf(b"%.*s", ListArgs([-1, 0x1000]), reader) == b"hello"
    assert reader.calls == [(0x1000, None)]


def test_null_and_zero_precision_strings_are_not_read() -> None:
    reader = Strings()
    assert format_printf(b"%s|%.0s|%.2s", ListArgs([0, 0xBAD, 0]), reader) == b"(null)||(n"
    assert reader.calls == []


def test_string_reader_errors_propagate() -> None:
    with pytest.raises(LookupError):
        format_printf(b"ok %s", ListArgs([0xBAD]), Strings())


def test_overlong_reader_result_is_cut_to_the_precision() -> None:
    assert format_printf(b"%.2s", ListArgs([1]), lambda address, limit: b"abcdef") == b"ab"


# --- argument sources ------------------------------------------------------------


def test_list_args_reads_slots_and_pairs() -> None:
    args = ListArgs([1, -1, 0x89ABCDEF, 0x01234567])
    assert args.next_u32() == 1
    assert args.next_u32() == 0xFFFFFFFF
    assert args.next_u64() == 0x0123456789ABCDEF
    assert args.consumed == 4
    with pytest.raises(IndexError):
        args.next_u32()


def test_guest_stack_slots_are_read_in_order() -> None:
    """The engine's VarArgs (stack arguments and va_list) reads real guest memory slot by slot."""
    import struct

    from sandbox import Kernel
    from sandbox.services.varargs import VarArgs

    k = Kernel()
    base = k.memory.alloc(32)
    k.memory.write(base, struct.pack("<5I", 5, 0xFFFFFFFF, 0x89ABCDEF, 0x01234567, 0x9000))
    args = VarArgs(k.memory, base)
    out = format_printf(b"%d %d %llx %s", args, Strings({0x9000: b"str"}))
    assert out == b"5 -1 123456789abcdef str"
    assert args.address == base + 20


def test_bad_argument_pointer_is_a_guest_fault() -> None:
    from sandbox import GuestFault, Kernel
    from sandbox.services.varargs import VarArgs

    with pytest.raises(GuestFault):
        format_printf(b"%d", VarArgs(Kernel().memory, 0xDEAD0000), Strings())


def test_literal_format_reads_no_arguments() -> None:
    args = ListArgs([])
    assert format_printf(b"no args here %% %y", args, Strings()) == b"no args here % %y"


# --- parsing, caching, limits ------------------------------------------------------


def test_parse_is_cached_and_merges_literals() -> None:
    first = parse_format(b"a%%b%yc%dz")
    assert parse_format(b"a%%b%yc%dz") is first
    assert len(first) == 3
    assert first[0] == b"a%b%yc" and first[2] == b"z"
    assert parse_format(b"hello %% world") == (b"hello % world",)
    assert parse_format(b"") == ()


def test_huge_widths_and_precisions_are_clamped() -> None:
    assert len(fmt("%*d", INT_MAX, 1)) == FIELD_WIDTH_MAX
    assert len(fmt("%*d", INT_MIN, 1)) == FIELD_WIDTH_MAX
    assert len(fmt("%.*d", INT_MAX, 1)) == PRECISION_MAX
    assert len(fmt("%99999999999d", 1)) == FIELD_WIDTH_MAX
    assert len(fmt("%.99999999999u", 1)) == PRECISION_MAX


# --- KERN_* levels --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"plain", (None, False, b"plain")),
        (b"", (None, False, b"")),
        (b"\x010emerg", (0, False, b"emerg")),
        (b"\x013err: x", (3, False, b"err: x")),
        (b"\x017debug", (7, False, b"debug")),
        (b"\x01cmore", (None, True, b"more")),
        (b"\x01c\x014both", (4, True, b"both")),
        (b"\x016\x01cboth", (6, True, b"both")),
        (b"\x01dmsg", (None, False, b"msg")),
        (b"\x01d\x012msg", (2, False, b"msg")),
        (b"\x013\x016first wins", (3, False, b"first wins")),
        (b"\x018bad", (None, False, b"\x018bad")),
        (b"\x01xbad", (None, False, b"\x01xbad")),
        (b"\x014\x019x", (4, False, b"\x019x")),
        (b"\x01", (None, False, b"\x01")),
        (b"\x015", (5, False, b"")),
        (b"msg \x013 inside", (None, False, b"msg \x013 inside")),
    ],
)
def test_split_kern_level(text: bytes, expected: tuple[int | None, bool, bytes]) -> None:
    assert split_kern_level(text) == expected


def test_level_names() -> None:
    assert LEVEL_NAMES == ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
    assert LEVEL_NAMES[split_kern_level(b"\x016x")[0]] == "INFO"
