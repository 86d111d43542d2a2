"""lib/kfifo.c as Linux 6.1 exports it: the byte/element FIFO behind the kfifo macros.

``struct __kfifo`` (in, out, mask, esize, data; generated layout) lives in
the module; ``in`` and ``out`` are free-running unsigned ints masked on
access, so the inline ``kfifo_len()``/``kfifo_is_empty()`` the module
uses agree with what these calls did. Sizes round up to a power of two at
alloc and down at init, as Linux's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

from .layout import Fields

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EINVAL, ENOMEM, EFAULT = 22, 12, 14
U32 = 0xFFFFFFFF
MAX_FIFO = 1 << 28


def _fifo(k: Kernel, fifo: int) -> Fields:
    return Fields(k.memory, "__kfifo", fifo)


def _roundup_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else n


def _unused(f: Fields) -> int:
    return (f["mask"] + 1) - ((f["in"] - f["out"]) & U32)


@service("int __kfifo_alloc(struct __kfifo *fifo, unsigned int size, size_t esize, gfp_t gfp_mask)")
def __kfifo_alloc(k: Kernel, fifo: int, length: int, esize: int, gfp_mask: int) -> int:
    """A buffer of ``size`` elements (rounded up to a power of two): 0, -EINVAL (< 2) or -ENOMEM."""
    f = _fifo(k, fifo)
    length = _roundup_pow2(length)
    f["in"], f["out"], f["esize"] = 0, 0, esize
    if length < 2:
        f["data"], f["mask"] = 0, 0
        return -EINVAL
    data = allocate(k, esize * length) if esize * length <= MAX_FIFO else 0
    if not data:
        f["data"], f["mask"] = 0, 0
        return -ENOMEM
    f["data"], f["mask"] = data, length - 1
    return 0


@service("void __kfifo_free(struct __kfifo *fifo)")
def __kfifo_free(k: Kernel, fifo: int) -> None:
    """Free the buffer and empty the fifo."""
    f = _fifo(k, fifo)
    if f["data"]:
        release(k, f["data"])
    f["in"], f["out"], f["esize"], f["data"], f["mask"] = 0, 0, 0, 0, 0


@service("int __kfifo_init(struct __kfifo *fifo, void *buffer, unsigned int size, size_t esize)")
def __kfifo_init(k: Kernel, fifo: int, buffer: int, length: int, esize: int) -> int:
    """A fifo over the caller's buffer of ``size`` bytes (elements rounded down to a power of two)."""
    f = _fifo(k, fifo)
    count = length // esize if esize else 0
    if count & (count - 1):
        count = 1 << (count.bit_length() - 1)
    f["in"], f["out"], f["esize"], f["data"] = 0, 0, esize, buffer
    if count < 2:
        f["mask"] = 0
        return -EINVAL
    f["mask"] = count - 1
    return 0


def _span(f: Fields, length: int, off: int) -> tuple[int, int, int, int]:
    """(byte offset, first part, second part, total) of ``length`` elements at element ``off``."""
    size, esize = f["mask"] + 1, f["esize"] or 1
    off &= f["mask"]
    off, size, length = off * esize, size * esize, length * esize
    first = min(length, size - off)
    return off, first, length - first, length


def _copy_in(k: Kernel, f: Fields, src: int, length: int, off: int) -> None:
    where, first, second, _ = _span(f, length, off)
    data = f["data"]
    if first:
        k.memory.write(data + where, k.memory.read(src, first))
    if second:
        k.memory.write(data, k.memory.read(src + first, second))


def _copy_out(k: Kernel, f: Fields, dst: int, length: int, off: int) -> None:
    where, first, second, _ = _span(f, length, off)
    data = f["data"]
    if first:
        k.memory.write(dst, k.memory.read(data + where, first))
    if second:
        k.memory.write(dst + first, k.memory.read(data, second))


@service("unsigned int __kfifo_in(struct __kfifo *fifo, const void *buf, unsigned int len)")
def __kfifo_in(k: Kernel, fifo: int, buf: int, length: int) -> int:
    """Put up to ``len`` elements in (as many as fit): how many."""
    f = _fifo(k, fifo)
    length = min(length, _unused(f))
    _copy_in(k, f, buf, length, f["in"])
    f["in"] = (f["in"] + length) & U32
    return length


@service("unsigned int __kfifo_out_peek(struct __kfifo *fifo, void *buf, unsigned int len)")
def __kfifo_out_peek(k: Kernel, fifo: int, buf: int, length: int) -> int:
    """Copy up to ``len`` elements out without removing them: how many."""
    f = _fifo(k, fifo)
    length = min(length, (f["in"] - f["out"]) & U32)
    _copy_out(k, f, buf, length, f["out"])
    return length


@service("unsigned int __kfifo_out(struct __kfifo *fifo, void *buf, unsigned int len)")
def __kfifo_out(k: Kernel, fifo: int, buf: int, length: int) -> int:
    """Take up to ``len`` elements out: how many."""
    length = __kfifo_out_peek(k, fifo, buf, length)
    f = _fifo(k, fifo)
    f["out"] = (f["out"] + length) & U32
    return length


def _user_copy(k: Kernel, f: Fields, user: int, length: int, off: int, to_user: bool) -> int:
    """kfifo_copy_{to,from}_user(): elements not copied (the bytes of a partial element count whole)."""
    from .uaccess import copy_user

    esize = f["esize"] or 1
    where, first, second, total = _span(f, length, off)
    data = f["data"]
    if to_user:
        left = copy_user(k, user, data + where, first, to_user=True) if first else 0
    else:
        left = copy_user(k, data + where, user, first, to_user=False) if first else 0
    if left:
        return -(-(left + total - first) // esize)
    if to_user:
        left = copy_user(k, user + first, data, second, to_user=True) if second else 0
    else:
        left = copy_user(k, data, user + first, second, to_user=False) if second else 0
    return -(-left // esize)


@service("int __kfifo_to_user(struct __kfifo *fifo, void *to, unsigned long len, unsigned int *copied)")
def __kfifo_to_user(k: Kernel, fifo: int, to: int, length: int, copied: int) -> int:
    """Copy up to ``len`` bytes out to user space (``*copied`` bytes): 0 or -EFAULT."""
    f = _fifo(k, fifo)
    esize = f["esize"] or 1
    if esize != 1:
        length //= esize
    length = min(length, (f["in"] - f["out"]) & U32)
    left = _user_copy(k, f, to, length, f["out"], to_user=True)
    k.memory.write_u32(copied, (length - left) * esize)
    f["out"] = (f["out"] + length - left) & U32
    return -EFAULT if left else 0


@service("int __kfifo_from_user(struct __kfifo *fifo, const void *from, unsigned long len, unsigned int *copied)")
def __kfifo_from_user(k: Kernel, fifo: int, frm: int, length: int, copied: int) -> int:
    """Copy up to ``len`` bytes in from user space (``*copied`` bytes): 0 or -EFAULT."""
    f = _fifo(k, fifo)
    esize = f["esize"] or 1
    if esize != 1:
        length //= esize
    length = min(length, _unused(f))
    left = _user_copy(k, f, frm, length, f["in"], to_user=False)
    k.memory.write_u32(copied, (length - left) * esize)
    f["in"] = (f["in"] + length - left) & U32
    return -EFAULT if left else 0
