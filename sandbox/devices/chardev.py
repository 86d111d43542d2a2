"""Character device nodes: ``k.open("/dev/x")`` drives a driver's file operations.

A node is registered by a service (``register_chrdev`` with a
``struct file_operations``), by the well-known-names binder (functions
named ``opendevice``/``readdevice``/...), or found on demand by a profile's
subsystem (the linux profile's misc devices and cdevs). Either way Python
sees the same :class:`OpenFile`: ``read(n)``, ``write(data)``,
``ioctl(cmd, arg)``, ``llseek(offset, whence)``, ``close()``, with user
buffers placed in guest memory for each call.

How the driver's functions are called (which structs are built, in which
layout) is a node's :class:`FileBackend`, else the profile's ``files``
(the generic profile's are in ``kernel_stubs/chardev.py``). A subsystem offers nodes by defining
``device_node(kernel, path) -> DeviceNode | None`` and
``device_paths(kernel) -> list[str]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import DeviceError, SandboxError
from ..machine.userspace import UserSpace

if TYPE_CHECKING:
    from ..kernel import Kernel

# open(2) flags (i386 Linux values): k.open(path, O_RDONLY | O_NONBLOCK)
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_EXCL, O_NONBLOCK = 0o200, 0o4000
ENODEV = 19


class FileBackend(Protocol):
    """How one kind of driver's file operations are called.

    ``open`` builds whatever the driver expects (a ``struct file`` and maybe
    an inode) and returns the file's guest address, raising
    :class:`DeviceError` if the driver refuses; the others return what the
    driver returned (negative: ``-errno``). ``release`` also frees what
    ``open`` built.
    """

    def open(self, kernel: Kernel, node: DeviceNode, handle: OpenFile, flags: int) -> int: ...

    def read(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int: ...

    def write(self, kernel: Kernel, handle: OpenFile, buffer: int, count: int) -> int: ...

    def ioctl(self, kernel: Kernel, handle: OpenFile, command: int, argument: int) -> int: ...

    def llseek(self, kernel: Kernel, handle: OpenFile, offset: int, whence: int) -> int: ...

    def position(self, kernel: Kernel, handle: OpenFile) -> int: ...

    def release(self, kernel: Kernel, handle: OpenFile) -> int: ...


@dataclass(slots=True)
class DeviceNode:
    """A registered character device and how to call its operations.

    ``style`` is ``"fops"`` (operations take a ``struct file *``), ``"plain"``
    (hobby-OS well-known functions: no file argument) or a profile's own
    (``"linux"``); ``backend`` calls them (None: the profile's ``files``).
    ``open``..``release`` are the function addresses the simple styles use;
    ``extra`` holds what a backend needs (``fops``, ``misc``, ``cdev``, ``dev``).
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
    backend: FileBackend | None = None


def signed32(value: int) -> int:
    """A guest register value as a signed int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


class OpenFile:
    """An open character device, driven from Python (one API for every profile)."""

    def __init__(self, kernel: Kernel, node: DeviceNode) -> None:
        self.kernel = kernel
        self.node = node
        backend = node.backend or kernel.profile.files
        if backend is None:
            raise SandboxError(f"{node.path}: the {kernel.profile.name} profile has no file layout to call "
                               "its operations with (give the DeviceNode a backend, or the Profile files=)")
        self.backend: FileBackend = backend
        self.file = 0  # the guest struct file
        self.inode = 0  # the guest struct inode, for backends that build one
        self.closed = False
        # Why the handle cannot be used any more although nobody closed it
        # (its driver was unloaded under it), else None.
        self.stale: str | None = None

    def _check_open(self) -> None:
        if self.stale is not None:
            raise DeviceError(self.stale, ENODEV)
        if self.closed:
            raise SandboxError(f"{self.node.path} is closed")

    def read(self, count: int) -> bytes:
        """Read up to ``count`` bytes; a negative result raises :class:`DeviceError` (``.errno``)."""
        self._check_open()
        memory, user = self.kernel.memory, self.kernel.subsystem(UserSpace)
        buffer = user.buffer(memory, count)
        try:
            result = self.backend.read(self.kernel, self, buffer, count)
            if result < 0:
                raise DeviceError(f"read from {self.node.path} failed: {result}", -result)
            return memory.read(buffer, min(result, count))
        finally:
            user.release(memory, buffer)

    def write(self, data: bytes) -> int:
        """Write ``data``; returns what the driver's write returned (bytes taken or ``-errno``)."""
        self._check_open()
        memory, user = self.kernel.memory, self.kernel.subsystem(UserSpace)
        buffer = user.buffer(memory, bytes(data))
        try:
            return self.backend.write(self.kernel, self, buffer, len(data))
        finally:
            user.release(memory, buffer)

    def ioctl(self, command: int, argument: int | bytes | bytearray = 0) -> int:
        """Issue an ioctl; a bytes/bytearray argument is passed as a pointer to a copy
        in user space (a bytearray gets the driver's changes copied back)."""
        self._check_open()
        memory, user = self.kernel.memory, self.kernel.subsystem(UserSpace)
        if isinstance(argument, int):
            return self.backend.ioctl(self.kernel, self, command, argument)
        buffer = user.buffer(memory, bytes(argument))
        try:
            result = self.backend.ioctl(self.kernel, self, command, buffer)
            if isinstance(argument, bytearray):
                argument[:] = memory.read(buffer, len(argument))
            return result
        finally:
            user.release(memory, buffer)

    def prepare_ioctl(self, size: int) -> PreparedIoctl:
        """A user buffer of ``size`` bytes mapped once, for many ioctls (a fuzzer's hot path)."""
        self._check_open()
        return PreparedIoctl(self, size)

    def llseek(self, offset: int, whence: int = 0) -> int:
        """lseek(2): the new position or ``-errno`` (where the profile has llseek)."""
        self._check_open()
        return self.backend.llseek(self.kernel, self, offset, whence)

    @property
    def position(self) -> int:
        """The file position the driver keeps in ``struct file``."""
        self._check_open()
        return self.backend.position(self.kernel, self)

    def close(self) -> int:
        """Call release (if any) and free the file (a stale handle: nothing to call)."""
        if self.closed or self.stale is not None:
            self.closed = True
            return 0
        try:
            return self.backend.release(self.kernel, self)
        finally:
            self.closed = True
            self.kernel.device_nodes.open_files.discard(self)

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PreparedIoctl:
    """ioctl(file, cmd, buffer) with the user buffer mapped once and written in place per call.

    Made before a snapshot, the buffer is part of it: each call after a
    restore writes the argument bytes (zero padded to ``size``) and calls
    the driver, with no mapping made or removed. ``buffer`` is the user
    address the driver sees; read it back with ``kernel.memory.read``.
    """

    def __init__(self, handle: OpenFile, size: int) -> None:
        self.handle = handle
        self.size = max(size, 1)
        self.kernel = handle.kernel
        self.buffer = handle.kernel.subsystem(UserSpace).buffer(handle.kernel.memory, self.size)
        self._padding = bytes(self.size)

    def __call__(self, command: int, data: bytes = b"") -> int:
        """Write ``data`` to the buffer and issue the ioctl; the driver's result (``-errno`` included)."""
        handle = self.handle
        if handle.closed or handle.stale is not None:
            handle._check_open()
        if len(data) > self.size:
            raise SandboxError(f"ioctl argument of {len(data)} bytes for a {self.size}-byte buffer")
        self.kernel.memory.write(self.buffer, data + self._padding[len(data):])
        return handle.backend.ioctl(self.kernel, handle, command, self.buffer)

    def release(self) -> None:
        """Unmap the buffer (calls after this fail)."""
        self.kernel.subsystem(UserSpace).release(self.kernel.memory, self.buffer)
        self.buffer = 0


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

    def orphan_files(self, kernel: Kernel, owner: str) -> list[str]:
        """Files still open on the devices of a module that is unloading: one leak each.

        Linux would refuse the unload (an open file holds a reference on the
        module: ``rmmod`` says "Module is in use"); the sandbox has run exit
        already, so it reports the file and makes the handle stale: using it
        raises :class:`DeviceError` (ENODEV) rather than calling code that is
        gone. A backend that says ``releases_open_files`` (the linux
        profile's) releases its files itself.
        """
        leaks = []
        for handle in sorted(self.open_files, key=lambda h: h.file):
            if handle.node.owner != owner or getattr(handle.backend, "releases_open_files", False):
                continue
            leaks.append(f"file {handle.node.path} still open (Linux would refuse the unload: module in use)")
            if handle.file:
                kernel.memory.free(handle.file)
            handle.stale = (f"{handle.node.path}: its driver {owner} was unloaded while the file was open; "
                            "the handle is stale")
            self.open_files.discard(handle)
        return leaks

    def save(self) -> tuple[dict[str, DeviceNode], int, dict[OpenFile, str | None]]:
        """The registered nodes and the files open now (with why each is stale, if it is), for :meth:`restore`."""
        return dict(self.nodes), self._next_major, {handle: handle.stale for handle in self.open_files}

    def restore(self, state: tuple[dict[str, DeviceNode], int, dict[OpenFile, str | None]]) -> None:
        """Back to the saved nodes and open files.

        Files opened since are closed (their driver state is gone); files
        that were open at the snapshot are open again, even if closed since:
        their struct file and the driver's state for them are back in guest
        memory with the rest (a fuzzer opens once, then restores per case).
        """
        nodes, self._next_major, files = state
        self.nodes = dict(nodes)
        for handle in self.open_files:
            if handle not in files:
                handle.closed = True
        for handle, stale in files.items():
            handle.closed = False
            handle.stale = stale
        self.open_files = set(files)


def _subsystem_offers(kernel: Kernel) -> list[object]:
    return [s for s in kernel.subsystem_states() if hasattr(s, "device_node")]


def find_node(kernel: Kernel, path: str) -> DeviceNode | None:
    """The node at ``path``: registered in /dev, else offered by a subsystem."""
    node = kernel.device_nodes.nodes.get(path)
    if node is not None:
        return node
    for subsystem in _subsystem_offers(kernel):
        node = subsystem.device_node(kernel, path)  # type: ignore[attr-defined]
        if node is not None:
            return node
    return None


def device_paths(kernel: Kernel) -> list[str]:
    """Every path ``Kernel.open`` would accept now."""
    paths = set(kernel.device_nodes.nodes)
    for subsystem in _subsystem_offers(kernel):
        paths.update(subsystem.device_paths(kernel))  # type: ignore[attr-defined]
    return sorted(paths)


def open_device(kernel: Kernel, path: str, flags: int = O_RDWR) -> OpenFile:
    """Open ``path`` (``/dev/name``) with open(2) ``flags``: build the file, call the driver's open."""
    node = find_node(kernel, path)
    if node is None:
        known = ", ".join(device_paths(kernel)) or "none"
        raise SandboxError(f"no device {path} (registered: {known})")
    handle = OpenFile(kernel, node)
    handle.file = handle.backend.open(kernel, node, handle, flags)
    kernel.device_nodes.open_files.add(handle)
    return handle
