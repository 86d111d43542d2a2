"""register_chrdev and the user-copy functions.

The file operations table is read once at registration (five function
pointers, fs.h's order); ``k.open("/dev/<name>")`` then calls them.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from sandbox.devices.chardev import DeviceNode
from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("int register_chrdev(unsigned int major, const char *name, const struct file_operations *fops)")
def register_chrdev(k: Kernel, major: int, name: int, fops: int) -> int:
    """Register /dev/<name>; returns the major (allocated if 0) or -EBUSY/-EINVAL."""
    if not name or not fops:
        return -22
    label = k.memory.read_cstring(name, 64).decode("utf-8", "replace")
    open_, read, write, ioctl, release = struct.unpack("<5I", k.memory.read(fops, 20))
    module = k.caller_module()
    node = DeviceNode(f"/dev/{label}", module.name if module else "kernel", major, "fops",
                      open_, read, write, ioctl, release, {"fops": fops})
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
