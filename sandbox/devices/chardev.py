"""Character device nodes: ``k.open("/dev/x")`` drives a driver's file operations.

A node is registered by a service (``register_chrdev`` with a
``struct file_operations``) or by the well-known-names binder (functions
named ``opendevice``/``readdevice``/...). Either way Python sees the same
:class:`OpenFile`: ``read(n)``, ``write(data)``, ``ioctl(cmd, arg)``,
``close()``, with user buffers placed in guest memory for each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import SandboxError

if TYPE_CHECKING:
    from ..kernel import Kernel


@dataclass(slots=True)
class DeviceNode:
    """A registered character device and how to call its operations.

    ``style`` is ``"fops"`` (Linux: operations take a ``struct file *``) or
    ``"plain"`` (hobby-OS well-known functions: no file argument).
    """

    path: str
    owner: str
    major: int
    style: str
    open: int = 0
    read: int = 0
    write: int = 0
    ioctl: int = 0
    release: int = 0
    extra: dict[str, int] = field(default_factory=dict)


# struct file as kernel_stubs/include/fs.h lays it out:
# { const struct file_operations *f_op; void *private_data; loff_t f_pos; unsigned int f_flags; }
FILE_STRUCT_SIZE = 20
F_POS_OFFSET = 8


def _signed(value: int) -> int:
    return value - (1 << 32) if value >> 31 else value


def _call_open_like(kernel: Kernel, node: DeviceNode, function: int, file_struct: int) -> int:
    """open/release take (struct inode *, struct file *) in Linux, nothing in plain style."""
    if node.style == "fops":
        return _signed(kernel.call_function_pointer(function, 0, file_struct))
    return _signed(kernel.call_function_pointer(function))


class OpenFile:
    """An open character device, driven from Python."""

    def __init__(self, kernel: Kernel, node: DeviceNode, file_struct: int) -> None:
        self.kernel = kernel
        self.node = node
        self.file = file_struct
        self.closed = False

    def _call(self, function: int, *args: int) -> int:
        if self.closed:
            raise SandboxError(f"{self.node.path} is closed")
        if not function:
            raise SandboxError(f"{self.node.path} does not implement this operation")
        if self.node.style == "fops":
            return _signed(self.kernel.call_function_pointer(function, self.file, *args))
        return _signed(self.kernel.call_function_pointer(function, *args))

    def read(self, count: int) -> bytes:
        """Read up to ``count`` bytes; raises OSError-like SandboxError on a negative result."""
        memory = self.kernel.memory
        buffer = memory.alloc(max(count, 1))
        try:
            if self.node.style == "fops":
                result = self._call(self.node.read, buffer, count, self.file + F_POS_OFFSET)
            else:
                result = self._call(self.node.read, buffer, count)
            if result < 0:
                raise SandboxError(f"read from {self.node.path} failed: {result}")
            return memory.read(buffer, min(result, count))
        finally:
            memory.free(buffer)

    def write(self, data: bytes) -> int:
        """Write ``data``; returns what the driver's write returned."""
        memory = self.kernel.memory
        buffer = memory.alloc(max(len(data), 1))
        try:
            memory.write(buffer, data)
            if self.node.style == "fops":
                return self._call(self.node.write, buffer, len(data), self.file + F_POS_OFFSET)
            return self._call(self.node.write, buffer, len(data))
        finally:
            memory.free(buffer)

    def ioctl(self, command: int, argument: int | bytes | bytearray = 0) -> int:
        """Issue an ioctl; a bytes/bytearray argument is passed as a pointer to a copy
        (a bytearray gets the driver's changes copied back)."""
        memory = self.kernel.memory
        if isinstance(argument, int):
            return self._call(self.node.ioctl, command, argument)
        buffer = memory.alloc(max(len(argument), 1))
        try:
            memory.write(buffer, bytes(argument))
            result = self._call(self.node.ioctl, command, buffer)
            if isinstance(argument, bytearray):
                argument[:] = memory.read(buffer, len(argument))
            return result
        finally:
            memory.free(buffer)

    @property
    def position(self) -> int:
        """The file position the driver keeps in ``struct file``."""
        return int.from_bytes(self.kernel.memory.read(self.file + F_POS_OFFSET, 8), "little")

    def close(self) -> int:
        """Call release (if any) and free the file."""
        if self.closed:
            return 0
        result = 0
        if self.node.release:
            result = _call_open_like(self.kernel, self.node, self.node.release, self.file)
        self.closed = True
        self.kernel.memory.free(self.file)
        self.kernel.device_nodes.open_files.discard(self)
        return result

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DeviceNodes:
    """The kernel's /dev: path -> node, plus the files open on them."""

    def __init__(self) -> None:
        self.nodes: dict[str, DeviceNode] = {}
        self.open_files: set[OpenFile] = set()
        self._next_major = 240  # Linux hands out dynamic majors from 254 down; any free range will do

    def add(self, node: DeviceNode) -> int:
        """Register ``node``; returns its major or -EBUSY if the path is taken."""
        if node.path in self.nodes:
            return -16
        if node.major == 0:
            used = {n.major for n in self.nodes.values()}
            while self._next_major in used:
                self._next_major += 1
            node.major = self._next_major
        self.nodes[node.path] = node
        return node.major

    def remove(self, major: int, name: str) -> DeviceNode | None:
        """Unregister by major and name."""
        node = self.nodes.get(f"/dev/{name}")
        if node is not None and node.major == major:
            return self.nodes.pop(node.path)
        return None

    def owned_by(self, owner: str) -> list[DeviceNode]:
        """Nodes a module registered."""
        return [n for n in self.nodes.values() if n.owner == owner]


def open_device(kernel: Kernel, path: str) -> OpenFile:
    """Open ``path`` (``/dev/name``): allocate a struct file, call the driver's open."""
    node = kernel.device_nodes.nodes.get(path)
    if node is None:
        known = ", ".join(sorted(kernel.device_nodes.nodes)) or "none"
        raise SandboxError(f"no device {path} (registered: {known})")
    file_struct = kernel.memory.alloc(FILE_STRUCT_SIZE)
    kernel.memory.write_u32(file_struct, node.extra.get("fops", 0))
    handle = OpenFile(kernel, node, file_struct)
    if node.open:
        result = _call_open_like(kernel, node, node.open, file_struct)
        if result < 0:
            kernel.memory.free(file_struct)
            raise SandboxError(f"open of {path} failed: {result}")
    kernel.device_nodes.open_files.add(handle)
    return handle
