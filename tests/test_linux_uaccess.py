"""get_user/put_user of a bad pointer return -EFAULT through the kernel's exception table.

Linux's __get_user_N/__put_user_N each have an exception-table entry: the
access that faults resumes at a fixup that returns -EFAULT. The module below
calls them as Linux's get_user()/put_user() macros do (special register
conventions, hence inline assembly), compiled with -mregparm=3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
/* get_user(): address in %eax; error back in %eax, value in %edx (%ecx:%edx for 8 bytes). */
int get4(const unsigned int *p, unsigned int *out) {
    int err; unsigned int val;
    asm volatile("call __get_user_4" : "=a"(err), "=d"(val) : "0"(p) : "memory");
    *out = val;
    return err;
}
int get8(const unsigned long long *p, unsigned int *lo, unsigned int *hi) {
    int err; unsigned int l, h;
    asm volatile("call __get_user_8" : "=a"(err), "=d"(l), "=c"(h) : "0"(p) : "memory");
    *lo = l; *hi = h;
    return err;
}
/* put_user(): value in %eax, address in %ecx; error back in %ecx. */
int put4(unsigned int *p, unsigned int v) {
    int err;
    asm volatile("call __put_user_4" : "=c"(err) : "a"(v), "0"(p) : "memory");
    return err;
}
int plain_read(const unsigned int *p) { return *p; }  /* no exception-table entry */
"""


@pytest.fixture
def uaccess(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux", unresolved="trap", budget_seconds=10)
    return k, k.load(compile_c(SOURCE, "uaccess", "-mregparm=3"))


def test_good_pointers_copy(uaccess) -> None:  # type: ignore[no-untyped-def]
    k, m = uaccess
    buf = k.user_buffer((0x11223344).to_bytes(4, "little") + (0x55667788).to_bytes(4, "little") + bytes(8))
    out, hi = k.memory.alloc(4), k.memory.alloc(4)
    assert m.call("get4", buf, out) == 0 and k.memory.read_u32(out) == 0x11223344
    assert m.call("get8", buf, out, hi) == 0 and (k.memory.read_u32(out), k.memory.read_u32(hi)) == (0x11223344, 0x55667788)
    assert m.call("put4", buf + 8, 0xCAFEF00D) == 0 and k.memory.read_u32(buf + 8) == 0xCAFEF00D


def test_bad_pointers_give_efault_and_the_kernel_goes_on(uaccess) -> None:  # type: ignore[no-untyped-def]
    k, m = uaccess
    out, hi = k.memory.alloc(4), k.memory.alloc(4)
    k.memory.write_u32(out, 0xFFFFFFFF)
    assert m.call("get4", 0x10, out) == -14 and k.memory.read_u32(out) == 0  # the value is zeroed, as Linux
    assert m.call("get8", 0x20, out, hi) == -14 and k.memory.read_u32(hi) == 0
    assert m.call("put4", 0x30, 1) == -14
    # Writing through put_user into read-only kernel text is refused the same way.
    assert m.call("put4", k.export_address("__get_user_4"), 1) == -14
    # An access with no exception-table entry is still an oops.
    with pytest.raises(GuestFault) as fault:
        m.call("plain_read", 0x40)
    assert fault.value.kind == "null-pointer"
    buf = k.user_buffer(4)
    assert m.call("put4", buf, 7) == 0 and k.memory.read_u32(buf) == 7


def test_kernel_addresses_are_refused_like_linux(uaccess) -> None:  # type: ignore[no-untyped-def]
    """access_ok: get_user/put_user of an address at or above TASK_SIZE is -EFAULT, memory untouched."""
    k, m = uaccess
    secret = k.memory.alloc(8)
    k.memory.write(secret, (0x5EC12E7).to_bytes(4, "little") + bytes(4))
    out, hi = k.memory.alloc(4), k.memory.alloc(4)
    assert m.call("get4", secret, out) == -14 and k.memory.read_u32(out) == 0
    assert m.call("get8", secret, out, hi) == -14
    assert m.call("put4", secret, 1) == -14 and k.memory.read_u32(secret) == 0x5EC12E7
    # the last user word is fine; a 4-byte access straddling TASK_SIZE is not
    top = 0xC0000000 - 4
    assert m.call("get4", top + 1, out) == -14
