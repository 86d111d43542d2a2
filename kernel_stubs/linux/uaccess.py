"""User-space access as Linux 6.1 i386 does it (arch/x86/lib/{getuser,putuser}.S, lib/usercopy.c, ...).

User memory is everything below TASK_SIZE (0xC0000000); the sandbox maps
anonymous pages there (``vm_mmap``, and the buffers ``k.open(...)`` hands a
driver: sandbox/machine/userspace.py). Every function here refuses a range
that reaches TASK_SIZE (``access_ok``) with -EFAULT, as Linux does, so a
driver handed a kernel address cannot be tricked into touching kernel
memory; a user page that is not mapped is the same -EFAULT (Linux's
exception table). Faults on the kernel side are the driver's bug and fault.

``__get_user_N``/``__put_user_N`` keep their special register conventions,
so they are real code: address in %eax, value out in %edx (%ecx:%edx for 8),
error in %eax (get); value in %eax (%edx:%eax for 8), address in %ecx, error
in %ecx (put). The range check is Linux's ``cmp $TASK_SIZE_MAX-(N-1)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.machine import address_map as amap
from sandbox.machine.memory import R, W
from sandbox.machine.userspace import UserSpace
from sandbox.services import kernel_code, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EFAULT = 14
_TASK_SIZE = amap.TASK_SIZE

_GET_FAULT = b"\xb8\xf2\xff\xff\xff\x31\xd2\xc3"  # mov eax,-14; xor edx,edx; ret
_GET8_FAULT = b"\xb8\xf2\xff\xff\xff\x31\xd2\x31\xc9\xc3"  # ... and xor ecx,ecx: the high half
_PUT_FAULT = b"\xb9\xf2\xff\xff\xff\xc3"  # mov ecx,-14; ret


def _checked_get(size: int, load: bytes, bad: bytes) -> tuple[bytes, int]:
    """cmp eax, TASK_SIZE-(size-1); jae bad; <load>; xor eax,eax; ret; bad: ... (code, load offset)."""
    body = load + b"\x31\xc0\xc3"
    head = b"\x3d" + (_TASK_SIZE - (size - 1)).to_bytes(4, "little") + b"\x73" + bytes([len(body)])
    return head + body + bad, len(head)


def _checked_put(size: int, store: bytes) -> tuple[bytes, int]:
    """cmp ecx, TASK_SIZE-(size-1); jae bad; <store>; xor ecx,ecx; ret; bad: mov ecx,-EFAULT; ret."""
    body = store + b"\x31\xc9\xc3"
    head = b"\x81\xf9" + (_TASK_SIZE - (size - 1)).to_bytes(4, "little") + b"\x73" + bytes([len(body)])
    return head + body + _PUT_FAULT, len(head)


def _uaccess_code() -> list[object]:
    loads = {1: b"\x0f\xb6\x10", 2: b"\x0f\xb7\x10", 4: b"\x8b\x10", 8: b"\x8b\x10\x8b\x48\x04"}
    stores = {1: b"\x88\x01", 2: b"\x66\x89\x01", 4: b"\x89\x01", 8: b"\x89\x01\x89\x51\x04"}
    # Offsets inside the load/store of the instructions that may fault.
    faulting = {1: (0,), 2: (0,), 4: (0,), 8: (0, 2)}
    specs: list[object] = []
    for size in (1, 2, 4, 8):
        bad = _GET8_FAULT if size == 8 else _GET_FAULT
        code, at = _checked_get(size, loads[size], bad)
        specs.append(kernel_code(f"__get_user_{size}", code, {at + o: bad for o in faulting[size]}))
        specs.append(kernel_code(f"__get_user_nocheck_{size}", loads[size] + b"\x31\xc0\xc3",
                                 dict.fromkeys(faulting[size], bad)))
        code, at = _checked_put(size, stores[size])
        specs.append(kernel_code(f"__put_user_{size}", code, {at + o: _PUT_FAULT for o in faulting[size]}))
        specs.append(kernel_code(f"__put_user_nocheck_{size}", stores[size] + b"\x31\xc9\xc3",
                                 dict.fromkeys(faulting[size], _PUT_FAULT)))
    return specs


uaccess = _uaccess_code()


def accessible(k: Kernel, address: int, n: int, need: int) -> int:
    """How many bytes from ``address`` (up to ``n``) are mapped with ``need`` permission."""
    done = 0
    while done < n:
        region = k.memory.region_at(address + done)
        if region is None or not region.perms & need:
            break
        done = min(n, region.end - address)
    return done


def copy_user(k: Kernel, to: int, frm: int, n: int, to_user: bool) -> int:
    """raw_copy_{to,from}_user after access_ok: the bytes not copied (0 on success).

    The copy goes up to the first user page that is missing; the kernel
    side is read or written as is (a bad kernel pointer is the driver's
    fault). ``copy_from_user`` zeroes what it could not copy.
    """
    user = to if to_user else frm
    done = accessible(k, user, n, W if to_user else R) if amap.access_ok(user, n) else 0
    if done:
        k.memory.write(to, k.memory.read(frm, done))
    if not to_user and done < n:
        k.memory.check(to + done, n - done, W, "copy_from_user")  # before n - done bytes of zeros exist
        k.memory.write(to + done, bytes(n - done))
    return n - done


@service("unsigned long _copy_from_user(void *to, const void *from, unsigned long n)")
def _copy_from_user(k: Kernel, to: int, frm: int, n: int) -> int:
    """Copy from user memory: bytes not copied (the rest of ``to`` zeroed); all ``n`` for a kernel address."""
    return copy_user(k, to, frm, n, to_user=False)


@service("unsigned long _copy_to_user(void *to, const void *from, unsigned long n)")
def _copy_to_user(k: Kernel, to: int, frm: int, n: int) -> int:
    """Copy to user memory: bytes not copied; all ``n`` for a kernel address."""
    return copy_user(k, to, frm, n, to_user=True)


@service("unsigned long __copy_user_ll(void *to, const void *from, unsigned long n)")
def __copy_user_ll(k: Kernel, to: int, frm: int, n: int) -> int:
    """raw_copy_*_user on i386, called by __copy_{to,from}_user with access_ok already done: bytes not copied."""
    done = min(accessible(k, frm, n, R), accessible(k, to, n, W))
    if done:
        k.memory.write(to, k.memory.read(frm, done))
    return n - done


@service("void *memdup_user(const void *src, size_t len)")
def memdup_user(k: Kernel, src: int, length: int) -> int:
    """kmalloc + copy_from_user (mm/util.c): the copy, ERR_PTR(-ENOMEM) or ERR_PTR(-EFAULT)."""
    address = allocate(k, length)
    if not address:
        return -12 & 0xFFFFFFFF
    if copy_user(k, address, src, length, to_user=False):
        release(k, address)
        return -EFAULT & 0xFFFFFFFF
    return address


@service("unsigned long __clear_user(void *to, unsigned long n)")
def __clear_user(k: Kernel, to: int, n: int) -> int:
    """Zero user memory without the range check: bytes not cleared."""
    done = accessible(k, to, n, W)
    if done:
        k.memory.write(to, bytes(done))
    return n - done


@service("unsigned long clear_user(void *to, unsigned long n)")
def clear_user(k: Kernel, to: int, n: int) -> int:
    """Zero user memory: bytes not cleared (all ``n`` for a kernel address)."""
    return __clear_user(k, to, n) if amap.access_ok(to, n) else n


def _user_string(k: Kernel, src: int, count: int) -> tuple[bytes, bool]:
    """Up to ``count`` readable user bytes at ``src`` (never past TASK_SIZE) and whether the limit was TASK_SIZE's."""
    limit = min(count, _TASK_SIZE - src)
    readable = accessible(k, src, limit, R)
    return k.memory.read(src, readable) if readable else b"", readable < count


@service("long strncpy_from_user(char *dst, const char *src, long count)")
def strncpy_from_user(k: Kernel, dst: int, src: int, count: int) -> int:
    """Copy a user string: its length, ``count`` if it did not end within count, or -EFAULT."""
    if count <= 0:
        return 0
    if src >= _TASK_SIZE:
        return -EFAULT
    data, short = _user_string(k, src, count)
    end = data.find(b"\0")
    if end >= 0:
        k.memory.write(dst, data[: end + 1])
        return end
    if short:
        return -EFAULT
    k.memory.write(dst, data)
    return count


@service("long strnlen_user(const char *str, long count)")
def strnlen_user(k: Kernel, src: int, count: int) -> int:
    """Length of a user string including the NUL; count + 1 if longer; 0 on a fault or kernel address."""
    if count <= 0 or src >= _TASK_SIZE:
        return 0
    data, short = _user_string(k, src, count)
    end = data.find(b"\0")
    if end >= 0:
        return end + 1
    return 0 if short else count + 1


@service("char *strndup_user(const char *s, long n)")
def strndup_user(k: Kernel, s: int, n: int) -> int:
    """A kmalloc'd copy of a user string of at most ``n`` bytes with its NUL (mm/util.c):
    ERR_PTR(-EFAULT) for a bad pointer, ERR_PTR(-EINVAL) if no NUL within ``n``."""
    n = n - (1 << 32) if n >= 1 << 31 else n
    length = strnlen_user(k, s, n)
    if not length:
        return -EFAULT & 0xFFFFFFFF
    if length > n:
        return -22 & 0xFFFFFFFF
    copy = memdup_user(k, s, length)
    if copy < 0xFFFFF001:
        k.memory.write(copy + length - 1, b"\0")
    return copy


# check_zeroed_user(from=%eax, size=%edx): real code, because callers such as
# copy_struct_from_user (and lib/test_user_copy, half a million times) run it
# in loops. 1 if every byte is zero, 0 if not, -EFAULT when the range fails
# access_ok or a user page is missing (the byte compare's exception entry).
#    test edx,edx; je one; cmp edx,TASK_SIZE; ja efault; mov ecx,TASK_SIZE
#    sub ecx,edx; cmp eax,ecx; ja efault; add edx,eax
# 19: cmpb $0,(eax); jne zero; inc eax; cmp eax,edx; jne 19
#    one: mov eax,1; ret   zero: xor eax,eax; ret   efault: mov eax,-14; ret
check_zeroed_user = kernel_code("check_zeroed_user", bytes.fromhex(
    "85d2741f81fa000000c07720b9000000c029d139c8771501c2803800750b4039d075f6b801000000c331c0c3b8f2ffffffc3"),
    {0x19: b"\xb8\xf2\xff\xff\xff\xc3"})


# -- the process's address space ----------------------------------------------------
@service("unsigned long vm_mmap(struct file *file, unsigned long addr, unsigned long len, unsigned long prot, "
         "unsigned long flag, unsigned long offset)")
def vm_mmap(k: Kernel, file: int, addr: int, length: int, prot: int, flag: int, offset: int) -> int:
    """Map anonymous user pages (the address hint is not honoured; MAP_FIXED and files are refused)."""
    map_fixed, map_anonymous = 0x10, 0x20
    if file or not flag & map_anonymous:
        k.warn(f"vm_mmap of a file from {k.symbolizer.short(k.current_caller)}: only anonymous mappings exist here")
        return -19 & 0xFFFFFFFF  # -ENODEV
    if flag & map_fixed:
        return -22 & 0xFFFFFFFF
    return k.subsystem(UserSpace).mmap(k.memory, length, prot) & 0xFFFFFFFF


@service("int vm_munmap(unsigned long start, size_t len)")
def vm_munmap(k: Kernel, start: int, length: int) -> int:
    """Unmap a whole mapping made by vm_mmap: 0, or -EINVAL for anything else."""
    return k.subsystem(UserSpace).munmap(k.memory, start, length)
