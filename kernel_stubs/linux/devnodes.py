"""``k.open()`` on a Linux 6.1 module's character devices: the nodes and how their fops are called.

Nodes come from what ``kernel_stubs/linux/chrdev.py`` recorded, looked up
when opened (the registrations stay the one record, so snapshots and
unregistering need nothing more):

- a misc device: ``/dev/<nodename>`` if set, else ``/dev/<name>``; opened
  as ``misc_open`` does: the inode's dev is (10, minor), ``private_data`` is
  the ``struct miscdevice`` and ``f_op`` its fops when their open runs;
- ``register_chrdev``/``__register_chrdev``: ``/dev/<name>`` (minor =
  baseminor) with the fops it was given, ``private_data`` NULL;
- ``cdev_add``: ``/dev/<region name><minor>`` for each minor it covers (the
  name ``alloc_chrdev_region``/``register_chrdev_region`` was given; udev
  would name it after a ``device_create`` the sandbox does not model), fops
  read from ``cdev->ops`` at open and ``inode->i_cdev`` pointing at the cdev
  (for the other two Linux points ``i_cdev`` at cdevs internal to the kernel,
  which no driver looks into; here it is NULL);
- every one of them also as ``/dev/char/<major>:<minor>``, udev's link.

:class:`LinuxFiles` plays the VFS's part (fs/open.c ``do_dentry_open``,
fs/read_write.c, fs/ioctl.c) with the layouts in ``vfs.py``: it kmallocs a
``struct inode`` and ``struct file``, sets ``f_mode`` from the open flags,
calls the driver's ``open(inode, file)``, then ``read(file, buf, count,
ppos)`` with ``ppos`` NULL for a stream file (``stream_open``) and otherwise
a copy of ``f_pos`` written back on success, ``write`` likewise,
``unlocked_ioctl(file, cmd, arg)`` (-ENOTTY without one; the generic ioctls
``do_vfs_ioctl`` answers itself, FIONBIO and friends, are not modelled),
``llseek`` (-ESPIPE without FMODE_LSEEK) and ``release(inode, file)``.
All calls use the profile's regparm(3) convention through ``Kernel.call``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import DeviceNode, OpenFile
from sandbox.errors import DeviceError, SandboxError

from . import vfs
from .layout import offset
from .registrations import EINVAL, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

    from .chrdev import CharDevices

MISC_MAJOR = 10
MINORBITS = 20
MISC_NODENAME = 32
EBADF, ENOTTY = 9, 25


class LinuxFiles:
    """The VFS calls for a Linux 6.1 i386 driver's ``struct file_operations`` (see the module docstring)."""

    # Files still open at unload are this profile's to report (its subsystem's release_module).
    releases_open_files = True

    def _fop(self, kernel: Kernel, handle: OpenFile, offset: int) -> int:
        fops = kernel.memory.read_u32(handle.file + vfs.F_OP)
        return kernel.memory.read_u32(fops + offset) if fops else 0

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int:
        """Build inode and file as chrdev_open/misc_open leave them, then call fops->open."""
        memory = kernel.memory
        inode, file = memory.alloc(vfs.INODE_SIZE), memory.alloc(vfs.FILE_SIZE)
        if not inode or not file:
            raise SandboxError(f"cannot allocate a struct file for {node.path}")
        file_type = vfs.S_IFREG if node.extra.get("regular") else vfs.S_IFCHR
        memory.write(inode + vfs.I_MODE, (file_type | 0o600).to_bytes(2, "little"))
        memory.write_u32(inode + vfs.I_RDEV, node.extra["dev"])
        memory.write_u32(inode + vfs.I_CDEV, node.extra.get("cdev", 0))
        memory.write_u32(inode + vfs.I_PRIVATE, node.extra.get("i_private", 0))  # debugfs/proc: the entry's data
        memory.write_u32(file + vfs.F_INODE, inode)
        memory.write_u32(file + vfs.F_OP, node.extra["fops"])
        memory.write_u32(file + vfs.F_COUNT, 1)
        memory.write_u32(file + vfs.F_FLAGS, flags)
        # OPEN_FMODE(flags): O_RDONLY -> READ, O_WRONLY -> WRITE, O_RDWR -> both; open may clear the rest.
        mode = ((flags + 1) & vfs.O_ACCMODE) | vfs.FMODE_LSEEK | vfs.FMODE_PREAD | vfs.FMODE_PWRITE
        memory.write_u32(file + vfs.F_MODE, mode)
        memory.write_u32(file + vfs.PRIVATE_DATA, node.extra.get("misc", 0))
        handle.file, handle.inode = file, inode
        open_fn = self._fop(kernel, handle, vfs.FOP_OPEN)
        if open_fn:
            result = kernel.call(open_fn, inode, file)
            if result < 0:
                memory.free(file)
                memory.free(inode)
                raise DeviceError(f"open of {node.path} failed: {result}", -result)
        # do_dentry_open() after ->open: the fops now in f_op (open may switch them) decide these.
        mode = memory.read_u32(file + vfs.F_MODE) | vfs.FMODE_OPENED
        if mode & vfs.FMODE_READ and (self._fop(kernel, handle, vfs.FOP_READ) or self._fop(kernel, handle, vfs.FOP_READ_ITER)):
            mode |= vfs.FMODE_CAN_READ
        if mode & vfs.FMODE_WRITE and (self._fop(kernel, handle, vfs.FOP_WRITE) or self._fop(kernel, handle, vfs.FOP_WRITE_ITER)):
            mode |= vfs.FMODE_CAN_WRITE
        if not self._fop(kernel, handle, vfs.FOP_LLSEEK):
            mode &= ~vfs.FMODE_LSEEK
        memory.write_u32(file + vfs.F_MODE, mode)
        # Open-time-only flags are gone once open returns (O_EXCL was for ->open to see).
        memory.write_u32(file + vfs.F_FLAGS, memory.read_u32(file + vfs.F_FLAGS) & ~vfs.OPEN_ONLY_FLAGS)
        return file

    def _transfer(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int, writing: bool) -> int:
        """vfs_read()/vfs_write() with ksys_read()'s position handling."""
        memory = kernel.memory
        mode = memory.read_u32(handle.file + vfs.F_MODE)
        if not mode & (vfs.FMODE_WRITE if writing else vfs.FMODE_READ):
            return -EBADF
        if not mode & (vfs.FMODE_CAN_WRITE if writing else vfs.FMODE_CAN_READ):
            return -EINVAL
        function = self._fop(kernel, handle, vfs.FOP_WRITE if writing else vfs.FOP_READ)
        if not function:
            raise SandboxError(f"{handle.node.path} only has {'write' if writing else 'read'}_iter, which is not modelled")
        if mode & vfs.FMODE_STREAM:
            return kernel.call(function, handle.file, buffer, count, 0)
        ppos = memory.alloc(8)
        try:
            memory.write(ppos, memory.read(handle.file + vfs.F_POS, 8))
            result = kernel.call(function, handle.file, buffer, count, ppos)
            if result >= 0:
                memory.write(handle.file + vfs.F_POS, memory.read(ppos, 8))
            return result
        finally:
            memory.free(ppos)

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """read(2): bytes read or -errno."""
        return self._transfer(kernel, handle, buffer, count, writing=False)

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int:
        """write(2): bytes written or -errno."""
        return self._transfer(kernel, handle, buffer, count, writing=True)

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int:
        """vfs_ioctl(): unlocked_ioctl's result, -ENOTTY without one."""
        function = self._fop(kernel, handle, vfs.FOP_UNLOCKED_IOCTL)
        if not function:
            return -ENOTTY
        return kernel.call(function, handle.file, command & 0xFFFFFFFF, argument & 0xFFFFFFFF)

    def llseek(self, kernel: Kernel, handle: OpenFile, offset: int, whence: int) -> int:
        """vfs_llseek(): the new position, -ESPIPE for a file that cannot seek."""
        if not kernel.memory.read_u32(handle.file + vfs.F_MODE) & vfs.FMODE_LSEEK:
            return -vfs.ESPIPE
        function = self._fop(kernel, handle, vfs.FOP_LLSEEK)
        offset &= (1 << 64) - 1  # loff_t: edx:ecx after the file in eax, whence on the stack
        return kernel.call(function, handle.file, offset & 0xFFFFFFFF, offset >> 32, whence, returns="s64")

    def position(self, kernel: Kernel, handle: OpenFile) -> int:
        """f_pos."""
        value = int.from_bytes(kernel.memory.read(handle.file + vfs.F_POS, 8), "little")
        return value - (1 << 64) if value >> 63 else value

    def release(self, kernel: Kernel, handle: OpenFile) -> int:
        """__fput(): release(inode, file) if the fops have one, then free both structs."""
        try:
            function = self._fop(kernel, handle, vfs.FOP_RELEASE)
            return kernel.call(function, handle.inode, handle.file) if function else 0
        finally:
            kernel.memory.free(handle.file)
            kernel.memory.free(handle.inode)

    def forget(self, kernel: Kernel, handle: OpenFile) -> None:
        """Free the structs of a file whose driver is gone (left open at unload) without calling it."""
        kernel.memory.free(handle.file)
        kernel.memory.free(handle.inode)


LINUX_FILES = LinuxFiles()


def _node(path: str, owner: str, dev: int, fops: int, **extra: int) -> DeviceNode:
    return DeviceNode(path, owner, dev >> MINORBITS, "linux", extra={"dev": dev, "fops": fops, **extra}, backend=LINUX_FILES)


def all_nodes(k: Kernel, devices: CharDevices) -> dict[str, DeviceNode]:
    """Every openable node by path (misc devices first, as their names are the ones users know)."""
    nodes: dict[str, DeviceNode] = {}
    for entry in devices.of_kind("misc device"):
        misc = entry.address
        nodename = k.memory.read_u32(misc + MISC_NODENAME)
        name = guest_string(k, nodename, 64) if nodename else entry.name
        dev = MISC_MAJOR << MINORBITS | entry.fields["minor"]
        # misc_open reads miscdevice->fops when the file is opened, and so do we.
        node = _node(f"/dev/{name}", entry.owner, dev, k.memory.read_u32(misc + 8), misc=misc)
        nodes.setdefault(node.path, node)
        nodes.setdefault(f"/dev/char/{MISC_MAJOR}:{entry.fields['minor']}", node)
    regions = devices.of_kind("chrdev region")
    for entry in regions:
        fops = entry.fields.get("fops")
        if fops is not None:  # __register_chrdev: one node named after the region
            major, minor = entry.fields["major"], entry.fields["baseminor"]
            node = _node(f"/dev/{entry.name}", entry.owner, major << MINORBITS | minor, fops)
            nodes.setdefault(node.path, node)
            for m in range(minor, minor + min(entry.fields["count"], 256)):
                nodes.setdefault(f"/dev/char/{major}:{m}", _node(node.path, entry.owner, major << MINORBITS | m, fops))
    for entry in devices.of_kind("cdev"):
        cdev, first = entry.address, entry.fields["dev"]
        device = entry.fields.get("device")
        if device:  # cdev_device_add: udev names the node after the device (its class's devnode)
            node = _node(f"/dev/{device_node_name(k, device)}", entry.owner, first, k.memory.read_u32(cdev + 40),
                         cdev=cdev)
            nodes.setdefault(node.path, node)
            nodes.setdefault(f"/dev/char/{first >> MINORBITS}:{first & 0xFFFFF}", node)
            continue
        major = first >> MINORBITS
        region = next((r.name for r in regions if r.fields["major"] == major
                       and r.fields["baseminor"] <= (first & 0xFFFFF) < r.fields["baseminor"] + r.fields["count"]), entry.name)
        for dev in range(first, first + min(entry.fields["count"], 256)):
            minor = dev & 0xFFFFF
            # chrdev_open reads cdev->ops when the file is opened.
            node = _node(f"/dev/{region}{minor}", entry.owner, dev, k.memory.read_u32(cdev + 40), cdev=cdev)
            nodes.setdefault(node.path, node)
            nodes.setdefault(f"/dev/char/{major}:{minor}", node)
    return nodes


# Classes whose devnode callback puts their nodes in a directory (input_devnode: "input/%s").
CLASS_DEVNODES = {"input": "input/{}"}
DEV_NAME, DEV_CLASS = offset("device", "kobj.name"), offset("device", "class")


def device_node_name(k: Kernel, dev: int) -> str:
    """The node udev makes for a device: its name, under its class's devnode directory if any."""
    name = guest_string(k, k.memory.read_u32(dev + DEV_NAME), 64)
    cls = k.memory.read_u32(dev + DEV_CLASS)
    class_name = guest_string(k, k.memory.read_u32(cls), 32) if cls else ""
    return CLASS_DEVNODES.get(class_name, "{}").format(name)


def find(k: Kernel, devices: CharDevices, path: str) -> DeviceNode | None:
    """The node ``k.open(path)`` opens, or None."""
    if not path.startswith("/dev/"):
        return None
    return all_nodes(k, devices).get(path)


def release_open_files(k: Kernel, owner: str) -> list[str]:
    """Files still open on a module's devices when it unloads: forgotten, one leak each.

    Linux would have refused the unload (the file holds a reference on
    ``fops->owner``); the sandbox has already run exit, so it reports it.
    """
    leaks = []
    for handle in sorted(k.device_nodes.open_files, key=lambda h: h.file):
        if handle.node.backend is LINUX_FILES and handle.node.owner == owner:
            leaks.append(f"file {handle.node.path} still open")
            LINUX_FILES.forget(k, handle)
            handle.closed = True
            k.device_nodes.open_files.discard(handle)
    return leaks
