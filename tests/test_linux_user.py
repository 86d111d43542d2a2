"""The user address space: below TASK_SIZE, reached only through the uaccess functions, as on Linux 6.1 i386.

Linux's own ``lib/test_user_copy.ko`` checks copy_{to,from}_user,
get_user/put_user of every size, clear_user, check_zeroed_user and
copy_struct_from_user against vm_mmap'd user memory and kernel addresses;
a module compiled here covers the string functions and a module's own
``__ex_table`` (inline user accesses, as ``get_user`` expands to).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.machine import address_map as amap
from tests.linux_corpus import ko, needs_corpus

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

# EX_TYPE_EFAULT_REG (IMM_REG with -EFAULT) on %ecx, clearing %edx: __get_user_asm's entry.
EFAULT_ECX_CLEAR_DX = 17 | (1 << 8) | (2 << 12) | (-14 << 16)

SOURCE = VERMAGIC + r"""
long strncpy_from_user(char *dst, const char *src, long count);
long strnlen_user(const char *str, long n);
unsigned long clear_user(void *to, unsigned long n);
void *memdup_user(const void *src, unsigned int len);
void kfree(const void *p);

long do_strncpy(char *dst, const char *src, long count) { return strncpy_from_user(dst, src, count); }
long do_strnlen(const char *src, long count) { return strnlen_user(src, count); }
unsigned long do_clear(void *to, unsigned long n) { return clear_user(to, n); }
long do_memdup(const void *src, unsigned int len) {
    void *p = memdup_user(src, len);
    if ((unsigned long)p >= (unsigned long)-4095) return (long)p;
    kfree(p);
    return 0;
}

/* get_user expanded in place: the load has an exception-table entry that sets
   err = -EFAULT and clears the value (EX_TYPE_EFAULT_REG | EX_FLAG_CLEAR_DX). */
int inline_get(const unsigned int *p, unsigned int *out) {
    int err = 0; unsigned int val;
    asm volatile("1: movl (%2), %%edx\n"
                 "2:\n"
                 ".pushsection __ex_table,\"a\"\n .balign 4\n .long 1b - .\n .long 2b - .\n .long DATA\n .popsection"
                 : "+c"(err), "=d"(val) : "r"(p) : "memory");
    *out = val;
    return err;
}

/* put_user as asm goto: EX_TYPE_UACCESS resumes at the error label. */
int inline_put(unsigned int *p, unsigned int v) {
    asm goto("1: movl %0, (%1)\n"
             ".pushsection __ex_table,\"a\"\n .balign 4\n .long 1b - .\n .long %l2 - .\n .long 3\n .popsection"
             : : "r"(v), "r"(p) : "memory" : efault);
    return 0;
efault:
    return -14;
}
""".replace("DATA", str(EFAULT_ECX_CLEAR_DX))


@pytest.fixture
def user_module(compile_c: Callable[..., Path]):  # type: ignore[no-untyped-def]
    k = Kernel("linux", unresolved="trap")
    return k, k.load(compile_c(SOURCE, "usermod", "-mregparm=3"))


@needs_corpus
def test_linux_test_user_copy_passes() -> None:
    k = Kernel("linux")
    m = k.load(ko("lib/test_user_copy.ko"))
    assert m.init_ran
    assert "test_user_copy: tests passed.\n" in k.console
    assert "failed" not in k.console and "passed\n" not in k.console.replace("tests passed.\n", "")
    k.unload(m)


def test_user_buffers_live_below_task_size() -> None:
    k = Kernel("linux")
    address = k.user_buffer(b"hello")
    assert amap.USER_AREA_BASE <= address < amap.TASK_SIZE
    assert k.memory.read(address, 5) == b"hello"
    assert amap.access_ok(address, 5) and not amap.access_ok(amap.TASK_SIZE - 4, 5)


def test_strncpy_and_strnlen_from_user(user_module) -> None:  # type: ignore[no-untyped-def]
    k, m = user_module
    user = k.user_buffer(b"sandbox\0tail")
    dst = k.memory.alloc(16)
    assert m.call("do_strncpy", dst, user, 16) == 7 and k.memory.read(dst, 8) == b"sandbox\0"
    assert m.call("do_strncpy", dst, user, 3) == 3 and k.memory.read(dst, 3) == b"san"  # count reached: no NUL
    assert m.call("do_strnlen", user, 16) == 8  # includes the NUL
    assert m.call("do_strnlen", user, 4) == 5  # longer than count: count + 1
    kernel = k.memory.alloc(16)
    k.memory.write(kernel, b"kernel\0")
    assert m.call("do_strncpy", dst, kernel, 16) == -14
    assert m.call("do_strnlen", kernel, 16) == 0
    # A string running into a missing user page is -EFAULT / 0.
    end = k.user_buffer(b"x" * 4096)
    assert m.call("do_strncpy", dst, end + 4090, 16) == -14 and m.call("do_strnlen", end + 4090, 16) == 0
    assert m.call("do_strnlen", end + 4090, 4) == 5


def test_clear_user_and_memdup_refuse_kernel_addresses(user_module) -> None:  # type: ignore[no-untyped-def]
    k, m = user_module
    user = k.user_buffer(b"\xff" * 32)
    assert m.call("do_clear", user, 32) == 0 and k.memory.read(user, 32) == bytes(32)
    kernel = k.memory.alloc(32)
    k.memory.write(kernel, b"\xff" * 32)
    assert m.call("do_clear", kernel, 32) == 32 and k.memory.read(kernel, 32) == b"\xff" * 32
    assert m.call("do_memdup", user, 32) == 0
    assert m.call("do_memdup", kernel, 32) == -14


def test_module_exception_table_entries(user_module) -> None:  # type: ignore[no-untyped-def]
    k, m = user_module
    user = k.user_buffer((0xABCD1234).to_bytes(4, "little"))
    out = k.memory.alloc(4)
    assert m.call("inline_get", user, out) == 0 and k.memory.read_u32(out) == 0xABCD1234
    k.memory.write_u32(out, 0xFFFFFFFF)
    hole = amap.USER_AREA_BASE + amap.USER_AREA_SIZE - 0x1000  # user space, nothing mapped there
    assert m.call("inline_get", hole, out) == -14 and k.memory.read_u32(out) == 0
    assert m.call("inline_put", user, 7) == 0 and k.memory.read_u32(user) == 7
    assert m.call("inline_put", hole, 7) == -14
    k.unload(m)
    assert not any(amap.MODULE_AREA_BASE <= pc < amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE for pc in k.cpu.extable)


@needs_corpus
def test_watchdog_ioctl_refuses_a_kernel_address() -> None:
    """sbc60xxwdt's WDIOC_GETTIMEOUT is put_user(timeout, p): a kernel pointer is -EFAULT, as on Linux."""
    k = Kernel("linux")
    k.load(ko("drivers/watchdog/sbc60xxwdt.ko"), params="timeout=42")
    wdioc_gettimeout = 0x80045707
    with k.open("/dev/watchdog") as dog:
        kernel = k.memory.alloc(4)
        assert dog.ioctl(wdioc_gettimeout, kernel) == -14 and k.memory.read_u32(kernel) == 0
        answer = bytearray(4)
        assert dog.ioctl(wdioc_gettimeout, answer) == 0 and int.from_bytes(answer, "little") == 42
        dog.write(b"V")  # the magic close
