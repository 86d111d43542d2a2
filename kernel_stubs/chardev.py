"""register_chrdev, the user-copy functions, and how the generic kernel calls file operations.

The file operations table is read once at registration (five function
pointers, fs.h's order); ``k.open("/dev/<name>")`` then calls them with
fs.h's small ``struct file`` (:data:`FS_FILES`, the generic profiles'
``files``). The hobby well-known device names (``readdevice``, ...) take no
file at all (:data:`PLAIN_FILES`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from sandbox.devices.chardev import DeviceNode, OpenFile, signed32
from sandbox.errors import DeviceError, GuestFault, SandboxError
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# struct file as kernel_stubs/include/fs.h lays it out:
# { const struct file_operations *f_op; void *private_data; loff_t f_pos; unsigned int f_flags; }
FILE_STRUCT_SIZE = 20
F_POS_OFFSET = 8


def _need(handle: OpenFile, function: int) -> int:
    if not function:
        raise SandboxError(f"{handle.node.path} does not implement this operation")
    return function


class FsFiles:
    """fs.h's calls: ``open(inode, file)``, ``read(file, buf, count, &f_pos)``, ..."""

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int:
        """Allocate fs.h's struct file (f_op set) and call the driver's open(NULL inode, file)."""
        file_struct = kernel.memory.alloc(FILE_STRUCT_SIZE)
        kernel.memory.write_u32(file_struct, node.extra.get("fops", 0))
        if node.open:
            result = signed32(kernel.call_function_pointer(node.open, 0, file_struct))
            if result < 0:
                kernel.memory.free(file_struct)
                raise DeviceError(f"open of {node.path} failed: {result}", -result)
        return file_struct

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """read(file, buf, count, &file->f_pos)."""
        function = _need(handle, handle.node.read)
        return signed32(kernel.call_function_pointer(function, handle.file, buffer, count, handle.file + F_POS_OFFSET))

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """write(file, buf, count, &file->f_pos)."""
        function = _need(handle, handle.node.write)
        return signed32(kernel.call_function_pointer(function, handle.file, buffer, count, handle.file + F_POS_OFFSET))

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int:
        """ioctl(file, cmd, arg)."""
        return signed32(kernel.call_function_pointer(_need(handle, handle.node.ioctl), handle.file, command, argument))

    def llseek(self, kernel: Kernel, handle: OpenFile, offset: int, whence: int) -> int:
        """fs.h's file_operations has no llseek."""
        raise SandboxError(f"{handle.node.path} does not implement llseek")

    def position(self, kernel: Kernel, handle: OpenFile) -> int:
        """f_pos of fs.h's struct file."""
        return int.from_bytes(kernel.memory.read(handle.file + F_POS_OFFSET, 8), "little")

    def release(self, kernel: Kernel, handle: OpenFile) -> int:
        """Call release(NULL inode, file) (if any) and free the file."""
        result = 0
        if handle.node.release:
            result = signed32(kernel.call_function_pointer(handle.node.release, 0, handle.file))
        kernel.memory.free(handle.file)
        return result


class PlainFiles(FsFiles):
    """The well-known device functions: ``opendevice()``, ``readdevice(buf, count)``, no struct file.

    A struct file is still allocated (it carries the position the Python side reads).
    """

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int:
        """Call opendevice(); a negative result refuses the open."""
        file_struct = kernel.memory.alloc(FILE_STRUCT_SIZE)
        if node.open:
            result = signed32(kernel.call_function_pointer(node.open))
            if result < 0:
                kernel.memory.free(file_struct)
                raise DeviceError(f"open of {node.path} failed: {result}", -result)
        return file_struct

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """readdevice(buf, count)."""
        return signed32(kernel.call_function_pointer(_need(handle, handle.node.read), buffer, count))

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """writedevice(buf, count)."""
        return signed32(kernel.call_function_pointer(_need(handle, handle.node.write), buffer, count))

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int:
        """ioctldevice(cmd, arg)."""
        return signed32(kernel.call_function_pointer(_need(handle, handle.node.ioctl), command, argument))

    def release(self, kernel: Kernel, handle: OpenFile) -> int:
        """closedevice() (if any), then free the file."""
        result = signed32(kernel.call_function_pointer(handle.node.release)) if handle.node.release else 0
        kernel.memory.free(handle.file)
        return result


FS_FILES = FsFiles()
PLAIN_FILES = PlainFiles()


@service("int register_chrdev(unsigned int major, const char *name, const struct file_operations *fops)")
def register_chrdev(k: Kernel, major: int, name: int, fops: int) -> int:
    """Register /dev/<name>; returns the major (allocated if 0) or -EBUSY/-EINVAL."""
    if not name or not fops:
        return -22
    label = k.memory.read_cstring(name, 64).decode("utf-8", "replace")
    open_, read, write, ioctl, release = struct.unpack("<5I", k.memory.read(fops, 20))
    module = k.caller_module()
    node = DeviceNode(f"/dev/{label}", module.name if module else "kernel", major, "fops",
                      open_, read, write, ioctl, release, {"fops": fops}, FS_FILES)
    result = k.device_nodes.add(node)
    return 0 if major and result > 0 else result


@service("void unregister_chrdev(unsigned int major, const char *name)")
def unregister_chrdev(k: Kernel, major: int, name: int) -> None:
    """Remove a registration; a mismatch is traced, as Linux warns."""
    label = k.memory.read_cstring(name, 64).decode("utf-8", "replace")
    if k.device_nodes.remove(major, label) is None:
        k.trace.add("note", "unregister_chrdev", caller=k.current_caller,
                    fields={"warning": f"no device {label} with major {major}"})


def _copy(k: Kernel, to: int, source: int, n: int) -> int:
    """Copy as much as possible; return the bytes NOT copied (Linux's contract)."""
    try:
        k.memory.write(to, k.memory.read(source, n))
    except GuestFault:
        return n
    return 0


@service("unsigned long copy_to_user(void *to, const void *from, unsigned long n)")
def copy_to_user(k: Kernel, to: int, source: int, n: int) -> int:
    """Copy to a user buffer; a bad pointer returns n instead of faulting."""
    return _copy(k, to, source, n)


@service("unsigned long copy_from_user(void *to, const void *from, unsigned long n)")
def copy_from_user(k: Kernel, to: int, source: int, n: int) -> int:
    """Copy from a user buffer; a bad pointer returns n instead of faulting."""
    return _copy(k, to, source, n)
