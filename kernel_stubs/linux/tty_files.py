"""``k.open("/dev/ttyUSB0")`` on a tty: the file operations of the TTY core (tty_io.c), in Python.

Linux gives every tty device the core's own ``tty_fops``; they find the
tty and call the driver's ``struct tty_operations`` and the line
discipline. :class:`TtyFiles` is that, for nodes :class:`~.tty.TtyCore`
offers:

- open (``tty_open``): a ``struct inode`` (``i_rdev`` the line's dev_t)
  and ``struct file`` (``f_op`` = ``tty_fops``, ``private_data`` a ``struct
  tty_file_private`` on the tty's ``tty_files`` list); the line's tty is
  looked up (``ops->lookup`` or ``driver->ttys``) and reopened (-EBUSY if
  TIOCEXCL), or made by ``tty_init_dev``; then ``ops->open(tty, file)``
  (-ENODEV without one). A failed open releases what it made and raises
  :class:`DeviceError` with the driver's errno;
- read: -EIO on a tty with TTY_IO_ERROR; 0 once hung up; else the line
  discipline's read (N_TTY's in Python, a guest discipline's
  ``read(tty, file, kbuf, n, &cookie, offset)`` in 64-byte steps as
  ``iterate_tty_read`` does), copied to the user buffer;
- write: -EIO on a hung-up or errored tty or a driver without ``write``;
  the user bytes copied to ``tty->write_buf`` in chunks of 2048 (65536
  with TTY_NO_WRITE_SPLIT) and passed to the discipline's ``write``; when
  it returns, the port's pending flip buffers are flushed to the
  discipline, as the kworker would get the CPU before the writer's next
  call (so a loopback's answers to two writes stay two receives);
- ioctl: ``tty_ioctl.tty_file_ioctl``;
- release (``tty_release``): ``ops->close(tty, file)``, the open counted
  down, and at the last close the tty released (``release_tty``).

A file whose tty was hung up has ``f_op`` = ``hung_up_tty_fops``: reads
give 0, writes -EIO, ioctls -EIO. Files still open when their driver's
module unloads are reported by :class:`~.tty.TtyCore` and forgotten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import DeviceNode, OpenFile, signed32
from sandbox.errors import DeviceError, SandboxError

from ..memory import allocate, release
from . import n_tty, tty_buffer, vfs
from . import tty as core
from .layout import Fields, offset, size
from .tty_ioctl import from_user, to_user, tty_file_ioctl
from .tty_ldisc import _is_n_tty, ldisc_of, ldisc_op, ops_of

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ENODEV, EIO, EBUSY, ENOMEM, EFAULT, ESPIPE, EAGAIN = 19, 5, 16, 12, 14, 29, 11
EOVERFLOW = 75
READ_CHUNK = 64
WRITE_CHUNK, WRITE_CHUNK_NO_SPLIT = 2048, 65536
PRIVATE_SIZE = size("tty_file_private")


def file_tty(k: Kernel, file: int) -> int:
    """file->private_data->tty."""
    return k.memory.read_u32(k.memory.read_u32(file + vfs.PRIVATE_DATA) + offset("tty_file_private", "tty"))


def _add_file(k: Kernel, tty: int, file: int, priv: int) -> None:
    """tty_add_file(): the file on the tty's list."""
    Fields(k.memory, "tty_file_private", priv)["tty"] = tty
    Fields(k.memory, "tty_file_private", priv)["file"] = file
    head = tty + offset("tty_struct", "tty_files")
    node = priv + offset("tty_file_private", "list")
    first = k.memory.read_u32(head)
    k.memory.write_u32(node, first)
    k.memory.write_u32(node + 4, head)
    k.memory.write_u32(first + 4, node)
    k.memory.write_u32(head, node)


def _del_file(k: Kernel, file: int) -> None:
    """tty_del_file(): off the list, the private struct freed."""
    priv = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    node = priv + offset("tty_file_private", "list")
    following, previous = k.memory.read_u32(node), k.memory.read_u32(node + 4)
    if following and previous:
        k.memory.write_u32(previous, following)
        k.memory.write_u32(following + 4, previous)
    k.memory.write_u32(file + vfs.PRIVATE_DATA, 0)
    release(k, priv)


class TtyFiles:
    """The tty core's file operations (see the module docstring)."""

    # Files left open at unload are TtyCore's to report (its release_module).
    releases_open_files = True

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int:
        """tty_open(): the file built, the tty found or made, the driver's open called."""
        k = kernel.service_context
        devt = node.extra["dev"]
        found = core.core(k).driver_of(k, devt)
        if found is None:
            raise DeviceError(f"open of {node.path} failed: no tty driver for {devt >> 20}:{devt & 0xFFFFF}", ENODEV)
        driver, index = found
        inode, file = allocate(k, vfs.INODE_SIZE, owner="kernel"), allocate(k, vfs.FILE_SIZE, owner="kernel")
        priv = allocate(k, PRIVATE_SIZE, owner="kernel")
        if not inode or not file or not priv:
            raise SandboxError(f"cannot allocate a struct file for {node.path}")
        memory = k.memory
        memory.write(inode + vfs.I_MODE, (vfs.S_IFCHR | 0o620).to_bytes(2, "little"))
        memory.write_u32(inode + vfs.I_RDEV, devt)
        memory.write_u32(file + vfs.F_INODE, inode)
        memory.write_u32(file + vfs.F_OP, k.export_address("tty_fops") or 0)
        memory.write_u32(file + vfs.F_COUNT, 1)
        memory.write_u32(file + vfs.F_FLAGS, flags)  # the open-only flags go once open returns
        memory.write_u32(file + vfs.F_MODE, ((flags + 1) & vfs.O_ACCMODE) | vfs.FMODE_OPENED
                         | vfs.FMODE_CAN_READ | vfs.FMODE_CAN_WRITE | vfs.FMODE_STREAM)  # nonseekable_open
        memory.write_u32(file + vfs.PRIVATE_DATA, priv)
        handle.file, handle.inode = file, inode
        try:
            tty = self._tty_for(k, node, driver, index)
        except DeviceError:
            for block in (priv, file, inode):
                release(k, block)
            raise
        _add_file(k, tty, file, priv)
        open_fn = core.tty_op(k, tty, "open")
        result = signed32(k.call_function_pointer(open_fn, tty, file)) if open_fn else -ENODEV
        if result:
            self._release(k, tty, handle)
            raise DeviceError(f"open of {node.path} failed: {result}", -result)
        core.set_tty_flag(k, tty, core.TTY_HUPPED, False)
        memory.write_u32(file + vfs.F_FLAGS, memory.read_u32(file + vfs.F_FLAGS) & ~vfs.OPEN_ONLY_FLAGS)
        return file

    def _tty_for(self, k: Kernel, node: DeviceNode, driver: int, index: int) -> int:
        """tty_open_by_driver(): the line's open tty reopened, or a new one."""
        lookup = Fields(k.memory, "tty_operations", Fields(k.memory, "tty_driver", driver)["ops"])["lookup"]
        ttys = Fields(k.memory, "tty_driver", driver)["ttys"]
        if lookup:
            tty = k.call_function_pointer(lookup, driver, 0, index)
            if tty >= 0xFFFFF001:
                raise DeviceError(f"open of {node.path} failed: {signed32(tty)}", -signed32(tty))
        else:
            tty = k.memory.read_u32(ttys + 4 * index) if ttys else 0
        if tty:
            t = Fields(k.memory, "tty_struct", tty)
            if not signed32(t["count"]):
                raise DeviceError(f"open of {node.path} failed: -11 (the tty is being closed)", EAGAIN)
            if core.tty_flag(k, tty, core.TTY_EXCLUSIVE):
                raise DeviceError(f"open of {node.path} failed: -16 (TIOCEXCL)", EBUSY)
            t["count"] = t["count"] + 1
            if not ldisc_of(k, tty):
                from .tty_ldisc import attach_initial_ldisc, open_ldisc

                attach_initial_ldisc(k, tty)
                open_ldisc(k, tty)
            return tty
        tty = core.init_dev(k, driver, index)
        if tty < 0:
            raise DeviceError(f"open of {node.path} failed: {tty}", -tty)
        return tty

    def _release(self, k: Kernel, tty: int, handle: OpenFile) -> int:
        """tty_release(): the driver's close, the count down, the last close releases the tty."""
        file = handle.file
        close = core.tty_op(k, tty, "close")
        if close:
            k.call_function_pointer(close, tty, file)
        t = Fields(k.memory, "tty_struct", tty)
        count = signed32(t["count"]) - 1
        if count < 0:
            k.console_write(f"tty_release: {core.name_of(k, tty)}: bad tty->count ({count})\n", 4)
            count = 0
        t["count"] = count
        _del_file(k, file)
        if count == 0:
            core.release_tty(k, tty, t["index"])
        release(k, file)
        release(k, handle.inode)
        return 0

    def release(self, kernel: Kernel, handle: OpenFile) -> int:
        """close(2)."""
        k = kernel.service_context
        return self._release(k, file_tty(k, handle.file), handle)

    def forget(self, kernel: Kernel, handle: OpenFile) -> None:
        """Free a file whose driver is gone without calling it."""
        k = kernel.service_context
        priv = k.memory.read_u32(handle.file + vfs.PRIVATE_DATA)
        if priv:
            release(k, priv)
        release(k, handle.file)
        release(k, handle.inode)

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """tty_read(): the discipline's read, copied to the user buffer."""
        k = kernel.service_context
        file = handle.file
        if core.tty_hung_up_p(k, file):
            return 0
        tty = file_tty(k, file)
        if core.tty_flag(k, tty, core.TTY_IO_ERROR):
            return -EIO
        if not ldisc_of(k, tty):
            return 0
        if _is_n_tty(k, ops_of(k, tty)):
            port = Fields(k.memory, "tty_struct", tty)["port"]
            data = n_tty.read(k, tty, file, count, lambda: tty_buffer.flush(k, port) if port else None)
            if isinstance(data, int):
                return data
            return len(data) if to_user(k, buffer, data) or not data else -EFAULT
        return self._guest_read(k, tty, file, buffer, count)

    def _guest_read(self, k: Kernel, tty: int, file: int, buffer: int, count: int) -> int:
        """iterate_tty_read(): ld->ops->read into a 64-byte kernel buffer until the cookie is cleared."""
        function = ldisc_op(k, tty, "read")
        if not function:
            return -EIO
        port = Fields(k.memory, "tty_struct", tty)["port"]
        if port:
            tty_buffer.flush(k, port)
        kbuf, cookie = allocate(k, READ_CHUNK, owner="kernel"), allocate(k, 4, owner="kernel")
        k.memory.write_u32(cookie, 0)
        copied, result = 0, 0
        try:
            while True:
                n = signed32(k.call_function_pointer(function, tty, file, kbuf, min(count, READ_CHUNK), cookie, copied))
                if n == 0:
                    break
                if n < 0:
                    result = result or n
                    if n == -EOVERFLOW:
                        copied = 0
                    break
                if to_user(k, buffer + copied, k.memory.read(kbuf, n)):
                    copied += n
                    count -= n
                else:  # another call still lets the discipline drop its cookie
                    count, result = 0, -EFAULT
                if not k.memory.read_u32(cookie):
                    break
        finally:
            k.memory.write(kbuf, bytes(READ_CHUNK))  # as Linux: the buffer may have held a password
            release(k, kbuf)
            release(k, cookie)
        return copied or result

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """tty_write()/do_tty_write(): the discipline's write on chunks copied into tty->write_buf."""
        k = kernel.service_context
        file = handle.file
        if core.tty_hung_up_p(k, file):
            return -EIO
        tty = file_tty(k, file)
        if not core.tty_op(k, tty, "write") or core.tty_flag(k, tty, core.TTY_IO_ERROR) or not ldisc_of(k, tty):
            return -EIO
        n_tty_ld = _is_n_tty(k, ops_of(k, tty))
        function = 0 if n_tty_ld else ldisc_op(k, tty, "write")
        if not n_tty_ld and not function:
            return -EIO
        t = Fields(k.memory, "tty_struct", tty)
        chunk = WRITE_CHUNK_NO_SPLIT if core.tty_flag(k, tty, core.TTY_NO_WRITE_SPLIT) else WRITE_CHUNK
        chunk = min(chunk, max(count, 1))
        if signed32(t["write_cnt"]) < chunk:
            fresh = allocate(k, max(chunk, 1024), owner="kernel")
            if not fresh:
                return -ENOMEM
            if t["write_buf"]:
                release(k, t["write_buf"])
            t["write_buf"], t["write_cnt"] = fresh, max(chunk, 1024)
        written, result = 0, 0
        while written < count:
            n = min(chunk, count - written)
            data = from_user(k, buffer + written, n)
            if data is None:
                result = -EFAULT
                break
            k.memory.write(t["write_buf"], data)
            if n_tty_ld:
                result = n_tty.write(k, tty, file, data)
            else:
                result = signed32(k.call_function_pointer(function, tty, file, t["write_buf"], n))
            if result <= 0:
                break
            written += min(result, n)
            if result > n:
                break
        port = t["port"]
        if port:
            # The kworker that flush_to_ldisc runs on gets the CPU when the writer returns to user
            # space, before the writer's next call: what the driver pushed meanwhile reaches the ldisc.
            tty_buffer.flush(k, port)
        return written or result

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int:
        """tty_ioctl()."""
        k = kernel.service_context
        if core.tty_hung_up_p(k, handle.file):
            return -25 if command & 0xFFFFFFFF == 0x5410 else -EIO
        return tty_file_ioctl(k, file_tty(k, handle.file), handle.file, command, argument)

    def llseek(self, kernel: Kernel, handle: OpenFile, offset: int, whence: int) -> int:
        """no_llseek: a tty cannot seek."""
        return -ESPIPE

    def position(self, kernel: Kernel, handle: OpenFile) -> int:
        """Always 0: a stream."""
        return 0


TTY_FILES = TtyFiles()
