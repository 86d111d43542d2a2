"""The VFS side of a character device, Linux 6.1 i386: struct layouts and the file helpers drivers call.

Layouts are Debian's 686 build (CONFIG_SMP, CONFIG_SECURITY,
CONFIG_FS_POSIX_ACL, CONFIG_MUTEX_SPIN_ON_OWNER, no CONFIG_COMPAT, no
layout randomisation), checked against real modules:

- ``struct file_operations`` (140 bytes, the st_size of ``uinput_fops``,
  ``uhid_fops``, ``nvram_misc_fops``): the relocations in their ``.rodata``
  put ``owner`` at 0, ``llseek`` 4 (nvram_misc_llseek), ``read`` 8,
  ``write`` 12, ``poll`` 36, ``unlocked_ioctl`` 40, ``open`` 56,
  ``release`` 64; the fields between follow include/linux/fs.h's order.
- ``struct file``: ``private_data`` at 0x8c (uinput.ko: ``uinput_open``
  stores it, ``uinput_ioctl``/``uinput_read`` load it; watchdog.ko's
  ``watchdog_open`` stores it), ``f_flags`` at 0x20 (``uinput_read`` tests
  O_NONBLOCK with ``testb $0x8,0x21(%eax)``). ``f_inode`` 16, ``f_op`` 20,
  ``f_count`` 28, ``f_mode`` 36 and ``f_pos`` 60 follow from fs.h's order
  with those configs (f_pos_lock is a 20-byte mutex with the osq) and agree
  with private_data at 140.
- ``struct inode``: ``i_rdev`` at 0x30 (ppdev.ko's ``pp_open`` tests
  ``iminor`` there; watchdog.ko's ``watchdog_open`` shifts it by 20 for
  ``imajor``), ``i_cdev`` at 0x17c (``watchdog_open``'s
  ``container_of(inode->i_cdev, ...)``). The sandbox allocates 512 bytes.

The helpers here (``stream_open``, the llseek family, ``__check_object_size``)
are what those drivers' open/llseek/read call; they follow fs/open.c,
fs/read_write.c and mm/usercopy.c (hardened usercopy: the sandbox's guarded
heap already catches overflows, so the check passes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import offset
from .registrations import EINVAL

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# struct file_operations
FOPS_SIZE = 140
FOP_OWNER, FOP_LLSEEK, FOP_READ, FOP_WRITE, FOP_READ_ITER, FOP_WRITE_ITER = 0, 4, 8, 12, 16, 20
FOP_POLL, FOP_UNLOCKED_IOCTL, FOP_COMPAT_IOCTL, FOP_MMAP = 36, 40, 44, 48
FOP_OPEN, FOP_FLUSH, FOP_RELEASE, FOP_FSYNC, FOP_FASYNC = 56, 60, 64, 68, 72

# struct file
FILE_SIZE = 160
F_INODE, F_OP, F_COUNT, F_FLAGS, F_MODE, F_POS, PRIVATE_DATA = 16, 20, 28, 32, 36, 60, 140

# struct inode (only the fields a character device's open looks at)
INODE_SIZE = 512
I_MODE, I_RDEV, I_CDEV = 0, 48, 380
I_PRIVATE = offset("inode", "i_private")
S_IFCHR, S_IFREG = 0o020000, 0o100000

# fmode_t bits (include/linux/fs.h)
FMODE_READ, FMODE_WRITE, FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE = 0x1, 0x2, 0x4, 0x8, 0x10
FMODE_ATOMIC_POS, FMODE_CAN_READ, FMODE_CAN_WRITE, FMODE_OPENED, FMODE_STREAM = 0x8000, 0x20000, 0x40000, 0x80000, 0x200000

O_ACCMODE = 3
OPEN_ONLY_FLAGS = 0o100 | 0o200 | 0o400 | 0o1000  # O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC
ESPIPE = 29
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
MAX_LFS_FILESIZE = 0x7FFF_FFFF_FFFF_FFFF


def _update_mode(k: Kernel, file: int, clear: int, add: int = 0) -> None:
    mode = k.memory.read_u32(file + F_MODE)
    k.memory.write_u32(file + F_MODE, (mode & ~clear) | add)


@service("int stream_open(struct inode *inode, struct file *filp)")
def stream_open(k: Kernel, inode: int, filp: int) -> int:
    """The file has no position: read/write get a NULL ppos (fs/open.c)."""
    _update_mode(k, filp, FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_ATOMIC_POS, FMODE_STREAM)
    return 0


@service("int nonseekable_open(struct inode *inode, struct file *filp)")
def nonseekable_open(k: Kernel, inode: int, filp: int) -> int:
    """lseek/pread/pwrite are refused with -ESPIPE; read/write still move f_pos."""
    _update_mode(k, filp, FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE)
    return 0


@service("loff_t no_llseek(struct file *file, loff_t offset, int whence)")
def no_llseek(k: Kernel, file: int, offset: int, whence: int) -> int:
    """-ESPIPE."""
    return -ESPIPE


@service("loff_t noop_llseek(struct file *file, loff_t offset, int whence)")
def noop_llseek(k: Kernel, file: int, offset: int, whence: int) -> int:
    """Succeeds without moving: returns the current position."""
    return _position(k, file)


def _position(k: Kernel, file: int) -> int:
    value = k.memory.read_u32(file + F_POS) | k.memory.read_u32(file + F_POS + 4) << 32
    return value - (1 << 64) if value >> 63 else value


def _set_position(k: Kernel, file: int, offset: int, maxsize: int) -> int:
    """vfs_setpos(): -EINVAL outside [0, maxsize], else the new f_pos."""
    if offset < 0 or offset > maxsize:
        return -EINVAL
    k.memory.write(file + F_POS, (offset & (1 << 64) - 1).to_bytes(8, "little"))
    return offset


def _seek(k: Kernel, file: int, offset: int, whence: int, maxsize: int, eof: int) -> int:
    """generic_file_llseek_size() for SEEK_SET/CUR/END (SEEK_DATA/HOLE as a file without holes)."""
    if whence == SEEK_SET:
        return _set_position(k, file, offset, maxsize)
    if whence == SEEK_CUR:
        return _set_position(k, file, _position(k, file) + offset, maxsize) if offset else _position(k, file)
    if whence == SEEK_END:
        return _set_position(k, file, eof + offset, maxsize)
    if whence in (3, 4):  # SEEK_DATA, SEEK_HOLE
        if offset < 0 or offset >= eof:
            return -6  # -ENXIO
        return _set_position(k, file, offset if whence == 3 else eof, maxsize)
    return -EINVAL


@service("loff_t generic_file_llseek_size(struct file *file, loff_t offset, int whence, loff_t maxsize, loff_t eof)")
def generic_file_llseek_size(k: Kernel, file: int, offset: int, whence: int, maxsize: int, eof: int) -> int:
    """Seek within [0, maxsize], SEEK_END relative to ``eof``."""
    return _seek(k, file, offset, whence, maxsize, eof)


@service("loff_t fixed_size_llseek(struct file *file, loff_t offset, int whence, loff_t size)")
def fixed_size_llseek(k: Kernel, file: int, offset: int, whence: int, size: int) -> int:
    """Seek within a device of ``size`` bytes (SEEK_SET/CUR/END only)."""
    if whence not in (SEEK_SET, SEEK_CUR, SEEK_END):
        return -EINVAL
    return _seek(k, file, offset, whence, size, size)


@service("loff_t default_llseek(struct file *file, loff_t offset, int whence)")
def default_llseek(k: Kernel, file: int, offset: int, whence: int) -> int:
    """Seek with no upper bound; a character device's i_size is 0, so SEEK_END counts from 0."""
    return _seek(k, file, offset, whence, MAX_LFS_FILESIZE, 0)


@service("void __check_object_size(const void *ptr, unsigned long n, bool to_user)")
def __check_object_size(k: Kernel, ptr: int, n: int, to_user: int) -> None:
    """Hardened usercopy's check: nothing to refuse here (see the module docstring)."""
