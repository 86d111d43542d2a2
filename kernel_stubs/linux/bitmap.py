"""lib/bitmap.c, lib/hweight.c and lib/bitrev.c as Linux 6.1 i386 exports them.

A bitmap is an array of 32-bit ``unsigned long`` words, bit 0 of word 0
first; operations over ``nbits`` bits leave the bits past ``nbits`` in the
last word as Linux does (``__bitmap_complement`` writes them, the others
ignore them: callers mask with BITMAP_LAST_WORD_MASK). ``byte_rev_table``
is the 256-byte table the inline ``bitrev8()`` indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

BITS_PER_LONG = 32


def _words(nbits: int) -> int:
    return (nbits + BITS_PER_LONG - 1) // BITS_PER_LONG


def read_bitmap(k: Kernel, address: int, nbits: int) -> int:
    """The first ``nbits`` bits of the bitmap at ``address`` as one integer."""
    if nbits <= 0:
        return 0
    value = int.from_bytes(k.memory.read(address, 4 * _words(nbits)), "little")
    return value & ((1 << nbits) - 1)


def _read_words(k: Kernel, address: int, nbits: int) -> int:
    """Whole words (the bits past ``nbits`` included), for the operations that write whole words."""
    return int.from_bytes(k.memory.read(address, 4 * _words(nbits)), "little") if nbits > 0 else 0


def _write_words(k: Kernel, address: int, nbits: int, value: int) -> None:
    count = _words(nbits)
    if count:
        k.memory.write(address, (value & ((1 << (32 * count)) - 1)).to_bytes(4 * count, "little"))


# -- hweight: the software popcounts the inline hweight*() falls back to -----------
@service("unsigned int __sw_hweight32(unsigned int w)")
def __sw_hweight32(k: Kernel, w: int) -> int:
    """Number of set bits in a 32-bit word."""
    return (w & 0xFFFFFFFF).bit_count()


@service("unsigned int __sw_hweight16(unsigned int w)")
def __sw_hweight16(k: Kernel, w: int) -> int:
    """Number of set bits in the low 16 bits."""
    return (w & 0xFFFF).bit_count()


@service("unsigned int __sw_hweight8(unsigned int w)")
def __sw_hweight8(k: Kernel, w: int) -> int:
    """Number of set bits in the low 8 bits."""
    return (w & 0xFF).bit_count()


@service("unsigned long __sw_hweight64(u64 w)")
def __sw_hweight64(k: Kernel, w: int) -> int:
    """Number of set bits in a 64-bit word."""
    return (w & 0xFFFFFFFFFFFFFFFF).bit_count()


# -- bitrev ---------------------------------------------------------------------------
def _reverse_byte(b: int) -> int:
    return int(f"{b:08b}"[::-1], 2)


byte_rev_table = kernel_variable("byte_rev_table", 256, bytes(_reverse_byte(b) for b in range(256)))


# -- allocation ------------------------------------------------------------------------
@service("unsigned long *bitmap_alloc(unsigned int nbits, gfp_t flags)")
def bitmap_alloc(k: Kernel, nbits: int, flags: int) -> int:
    """kmalloc_array(BITS_TO_LONGS(nbits), sizeof(long)): uninitialised."""
    return allocate(k, 4 * _words(nbits))


@service("unsigned long *bitmap_zalloc(unsigned int nbits, gfp_t flags)")
def bitmap_zalloc(k: Kernel, nbits: int, flags: int) -> int:
    """A zeroed bitmap of ``nbits`` bits."""
    address = allocate(k, 4 * _words(nbits))
    if address and nbits:
        k.memory.write(address, bytes(4 * _words(nbits)))
    return address


@service("void bitmap_free(const unsigned long *bitmap)")
def bitmap_free(k: Kernel, bitmap: int) -> None:
    """kfree() of a bitmap_alloc'd map (NULL is allowed)."""
    if bitmap:
        release(k, bitmap)


# -- operations ------------------------------------------------------------------------
@service("unsigned int __bitmap_weight(const unsigned long *bitmap, unsigned int nbits)")
def __bitmap_weight(k: Kernel, bitmap: int, nbits: int) -> int:
    """Set bits among the first ``nbits``."""
    return read_bitmap(k, bitmap, nbits).bit_count()


@service("bool __bitmap_and(unsigned long *dst, const unsigned long *bitmap1, const unsigned long *bitmap2, "
         "unsigned int nbits)")
def __bitmap_and(k: Kernel, dst: int, bitmap1: int, bitmap2: int, nbits: int) -> int:
    """dst = b1 & b2 (whole words); whether any of the first ``nbits`` bits is set."""
    value = _read_words(k, bitmap1, nbits) & _read_words(k, bitmap2, nbits)
    _write_words(k, dst, nbits, value)
    return int(bool(value & ((1 << nbits) - 1)))


@service("void __bitmap_or(unsigned long *dst, const unsigned long *bitmap1, const unsigned long *bitmap2, "
         "unsigned int nbits)")
def __bitmap_or(k: Kernel, dst: int, bitmap1: int, bitmap2: int, nbits: int) -> None:
    """dst = b1 | b2 (whole words)."""
    _write_words(k, dst, nbits, _read_words(k, bitmap1, nbits) | _read_words(k, bitmap2, nbits))


@service("void __bitmap_xor(unsigned long *dst, const unsigned long *bitmap1, const unsigned long *bitmap2, "
         "unsigned int nbits)")
def __bitmap_xor(k: Kernel, dst: int, bitmap1: int, bitmap2: int, nbits: int) -> None:
    """dst = b1 ^ b2 (whole words)."""
    _write_words(k, dst, nbits, _read_words(k, bitmap1, nbits) ^ _read_words(k, bitmap2, nbits))


@service("bool __bitmap_andnot(unsigned long *dst, const unsigned long *bitmap1, const unsigned long *bitmap2, "
         "unsigned int nbits)")
def __bitmap_andnot(k: Kernel, dst: int, bitmap1: int, bitmap2: int, nbits: int) -> int:
    """dst = b1 & ~b2 (whole words); whether any of the first ``nbits`` bits is set."""
    value = _read_words(k, bitmap1, nbits) & ~_read_words(k, bitmap2, nbits)
    _write_words(k, dst, nbits, value)
    return int(bool(value & ((1 << nbits) - 1)))


@service("void __bitmap_complement(unsigned long *dst, const unsigned long *src, unsigned int nbits)")
def __bitmap_complement(k: Kernel, dst: int, src: int, nbits: int) -> None:
    """dst = ~src, whole words (the bits past ``nbits`` too, as Linux's loop)."""
    _write_words(k, dst, nbits, ~_read_words(k, src, nbits))


@service("bool __bitmap_equal(const unsigned long *bitmap1, const unsigned long *bitmap2, unsigned int nbits)")
def __bitmap_equal(k: Kernel, bitmap1: int, bitmap2: int, nbits: int) -> int:
    """Whether the first ``nbits`` bits agree."""
    return int(read_bitmap(k, bitmap1, nbits) == read_bitmap(k, bitmap2, nbits))


@service("bool __bitmap_intersects(const unsigned long *bitmap1, const unsigned long *bitmap2, unsigned int nbits)")
def __bitmap_intersects(k: Kernel, bitmap1: int, bitmap2: int, nbits: int) -> int:
    """Whether a bit among the first ``nbits`` is set in both."""
    return int(bool(read_bitmap(k, bitmap1, nbits) & read_bitmap(k, bitmap2, nbits)))


@service("bool __bitmap_subset(const unsigned long *bitmap1, const unsigned long *bitmap2, unsigned int nbits)")
def __bitmap_subset(k: Kernel, bitmap1: int, bitmap2: int, nbits: int) -> int:
    """Whether every bit of b1 (first ``nbits``) is set in b2."""
    return int(not read_bitmap(k, bitmap1, nbits) & ~read_bitmap(k, bitmap2, nbits))


def _set_range(k: Kernel, bitmap: int, start: int, length: int, on: bool) -> None:
    if length <= 0:
        return
    end = start + length
    first, last = start // 32, (end - 1) // 32
    base = bitmap + 4 * first
    count = last - first + 1
    value = int.from_bytes(k.memory.read(base, 4 * count), "little")
    mask = ((1 << length) - 1) << (start - 32 * first)
    value = value | mask if on else value & ~mask
    k.memory.write(base, value.to_bytes(4 * count, "little"))


@service("void __bitmap_set(unsigned long *map, unsigned int start, int len)")
def __bitmap_set(k: Kernel, bitmap: int, start: int, length: int) -> None:
    """Set bits [start, start+len)."""
    _set_range(k, bitmap, start, length, True)


@service("void __bitmap_clear(unsigned long *map, unsigned int start, int len)")
def __bitmap_clear(k: Kernel, bitmap: int, start: int, length: int) -> None:
    """Clear bits [start, start+len)."""
    _set_range(k, bitmap, start, length, False)


@service("void __bitmap_shift_right(unsigned long *dst, const unsigned long *src, unsigned int shift, "
         "unsigned int nbits)")
def __bitmap_shift_right(k: Kernel, dst: int, src: int, shift: int, nbits: int) -> None:
    """dst = src >> shift over ``nbits`` bits (vacated high bits zero)."""
    _write_words(k, dst, nbits, read_bitmap(k, src, nbits) >> shift)


@service("void __bitmap_shift_left(unsigned long *dst, const unsigned long *src, unsigned int shift, "
         "unsigned int nbits)")
def __bitmap_shift_left(k: Kernel, dst: int, src: int, shift: int, nbits: int) -> None:
    """dst = src << shift over ``nbits`` bits (bits shifted past ``nbits`` dropped)."""
    _write_words(k, dst, nbits, (read_bitmap(k, src, nbits) << shift) & ((1 << nbits) - 1))


@service("unsigned long bitmap_find_next_zero_area_off(unsigned long *map, unsigned long size, "
         "unsigned long start, unsigned int nr, unsigned long align_mask, unsigned long align_offset)")
def bitmap_find_next_zero_area_off(k: Kernel, bitmap: int, size: int, start: int, nr: int, align_mask: int,
                                   align_offset: int) -> int:
    """The first index >= start of ``nr`` clear bits, aligned as asked; > size if none."""
    value = read_bitmap(k, bitmap, size)
    while True:
        index = start
        while index < size and value >> index & 1:  # find_next_zero_bit
            index += 1
        index = ((index + align_offset + align_mask) & ~align_mask) - align_offset
        end = index + nr
        if end > size:
            return end
        window = (value >> index) & ((1 << nr) - 1)  # find_next_bit(map, end, index)
        if not window:
            return index
        start = index + (window & -window).bit_length()  # the first set bit + 1
