"""Filesystem type registration and debugfs, Linux 6.1 i386.

``register_filesystem`` links a ``struct file_system_type`` (name 0,
fs_flags 4, init_fs_context 8, parameters 12, mount 16, kill_sb 20, owner
24, next 28) into the list of known types; names are unique.

debugfs keeps a tree of dentries. Each directory or file a module creates
gets a small ``struct dentry`` in kernel memory with the fields a driver may
look at filled in (d_parent 16, d_name.len 24 / .name 28, d_iname 36); the
tree is recorded so tests can find a file's ``file_operations`` and data,
and entries left at unload are reported: on Linux their fops would point
into freed module text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .registrations import EBUSY, EEXIST, EINVAL, ENOMEM, Entry, Registry, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.devices.chardev import DeviceNode
    from sandbox.kernel import Kernel
    from sandbox.module import Module

FS_NAME, FS_FLAGS, FS_MOUNT, FS_KILL_SB, FS_INIT_FS_CONTEXT, FS_NEXT = 0, 4, 16, 20, 8, 28

# Types built into Debian's 686 kernel (CONFIG_*=y): registering one of these names again fails.
BUILTIN_FILESYSTEMS = ("sysfs", "tmpfs", "bdev", "proc", "cgroup", "cgroup2", "cpuset", "devtmpfs", "debugfs",
                       "tracefs", "securityfs", "sockfs", "bpf", "pipefs", "ramfs", "hugetlbfs", "devpts", "mqueue",
                       "rootfs", "anon_inodefs", "nsfs", "dax")


class Filesystems(Registry):
    """Registered filesystem types (modules' ones; the built-in names are in BUILTIN_FILESYSTEMS)."""


@service("int register_filesystem(struct file_system_type *fs)")
def register_filesystem(k: Kernel, fs: int) -> int:
    """Add a filesystem type: -EBUSY if it is linked already or its name is taken."""
    mem = k.memory
    name = guest_string(k, mem.read_u32(fs + FS_NAME), 64)
    registry = k.subsystem(Filesystems)
    if "." in name:
        return -EINVAL  # Linux: BUG_ON(strchr(fs->name, '.'))
    if mem.read_u32(fs + FS_NEXT) or fs in registry.entries or name in BUILTIN_FILESYSTEMS or registry.find(name):
        return -EBUSY
    registry.add(k, "filesystem", fs, name, fs_flags=mem.read_u32(fs + FS_FLAGS), mount=mem.read_u32(fs + FS_MOUNT),
                 kill_sb=mem.read_u32(fs + FS_KILL_SB), init_fs_context=mem.read_u32(fs + FS_INIT_FS_CONTEXT))
    return 0


@service("int unregister_filesystem(struct file_system_type *fs)")
def unregister_filesystem(k: Kernel, fs: int) -> int:
    """Remove a filesystem type: 0, or -EINVAL if it was not registered."""
    return 0 if k.subsystem(Filesystems).remove(k, fs, "filesystem") is not None else -EINVAL


# -- debugfs ------------------------------------------------------------------------
DENTRY_SIZE = 128
D_PARENT, D_NAME_LEN, D_NAME, D_INAME = 16, 24, 28, 36
DNAME_INLINE_LEN = 40


class DebugFs(Registry):
    """The debugfs tree: one entry per dentry; fields parent, mode, data, fops."""

    def children(self, parent: int) -> list[Entry]:
        """Entries directly under ``parent`` (0: the debugfs root)."""
        return [e for e in self.entries.values() if e.fields["parent"] == parent]

    def path(self, dentry: int) -> str:
        """The entry's path below /sys/kernel/debug."""
        parts = []
        while dentry in self.entries:
            parts.append(self.entries[dentry].name)
            dentry = self.entries[dentry].fields["parent"]
        return "/".join(reversed(parts))

    def lookup(self, path: str) -> Entry | None:
        """The entry at ``path`` below the debugfs root."""
        parent = 0
        entry = None
        for part in path.strip("/").split("/"):
            entry = next((e for e in self.children(parent) if e.name == part), None)
            if entry is None:
                return None
            parent = entry.address
        return entry

    root = "/sys/kernel/debug/"

    def device_node(self, k: Kernel, path: str) -> DeviceNode | None:
        """``k.open`` of a file below this tree's root (:mod:`.seq_file`), or None."""
        from .seq_file import find_file

        return find_file(k, path) if path.startswith(self.root) else None

    def device_paths(self, k: Kernel) -> list[str]:
        """The files of this tree ``k.open`` accepts."""
        return [self.root + self.path(a) for a, e in self.entries.items()
                if e.kind.endswith("file") and (e.fields.get("fops") or e.fields.get("ops") or e.fields.get("show")
                                                or e.fields.get("seq_ops"))]

    def drop(self, k: Kernel, dentry: int) -> None:
        """Remove ``dentry`` and everything below it, freeing the dentries."""
        for child in self.children(dentry):
            self.drop(k, child.address)
        if self.entries.pop(dentry, None) is not None:
            k.memory.free(dentry)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Entries the module created and did not remove."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name and address in self.entries:
                leaks.append(f"debugfs {entry.kind.split()[-1]} {self.path(address)!r} still present")
                self.drop(k, address)
        return leaks


def _create(k: Kernel, kind: str, name: int, parent: int, **fields: int) -> int:
    """A new dentry called ``name`` under ``parent``; ERR_PTR on failure, as debugfs_create_*."""
    if is_err(parent):
        return parent  # debugfs passes an error from the parent's creation on
    tree = k.subsystem(DebugFs)
    text = guest_string(k, name, 255)
    if parent and parent not in tree.entries:
        return err_ptr(EINVAL)
    if any(e.name == text for e in tree.children(parent)):
        parent_name = tree.entries[parent].name if parent else "(NULL)"
        what = "Directory" if kind == "debugfs dir" else "File"
        k.console_write(f"debugfs: {what} '{text}' with parent '{parent_name}' already present!\n", 3)
        return err_ptr(EEXIST)
    dentry = k.memory.alloc(DENTRY_SIZE)
    if not dentry:
        return err_ptr(ENOMEM)
    raw = text.encode()
    k.memory.write_u32(dentry + D_PARENT, parent or dentry)  # the root's parent is itself; stand-in for it
    k.memory.write_u32(dentry + D_NAME_LEN, len(raw))
    if len(raw) < DNAME_INLINE_LEN:
        k.memory.write(dentry + D_INAME, raw + b"\0")
        k.memory.write_u32(dentry + D_NAME, dentry + D_INAME)
    else:
        k.memory.write_u32(dentry + D_NAME, name)
    tree.add(k, kind, dentry, text, parent=parent, **fields)
    return dentry


@service("struct dentry *debugfs_create_dir(const char *name, struct dentry *parent)")
def debugfs_create_dir(k: Kernel, name: int, parent: int) -> int:
    """A directory; NULL parent means the debugfs root."""
    return _create(k, "debugfs dir", name, parent)


@service("struct dentry *debugfs_create_file(const char *name, umode_t mode, struct dentry *parent, void *data, "
         "const struct file_operations *fops)")
def debugfs_create_file(k: Kernel, name: int, mode: int, parent: int, data: int, fops: int) -> int:
    """A file whose reads and writes go to ``fops`` with ``data`` as i_private."""
    return _create(k, "debugfs file", name, parent, mode=mode, data=data, fops=fops)


@service("struct dentry *debugfs_create_file_unsafe(const char *name, umode_t mode, struct dentry *parent, void *data, "
         "const struct file_operations *fops)")
def debugfs_create_file_unsafe(k: Kernel, name: int, mode: int, parent: int, data: int, fops: int) -> int:
    """debugfs_create_file without removal protection (same here)."""
    return _create(k, "debugfs file", name, parent, mode=mode, data=data, fops=fops)


def _value_file(kind: str) -> Callable[..., int | None]:
    """debugfs_create_<kind>(name, mode, parent, value): a file showing a variable (void in 6.1)."""

    def create(k: Kernel, name: int, mode: int, parent: int, value: int) -> None:
        _create(k, "debugfs file", name, parent, mode=mode, data=value, fops=0)

    create.__doc__ = f"A debugfs file showing a {kind} variable; returns nothing in 6.1."
    return service(f"void debugfs_create_{kind}(const char *name, umode_t mode, struct dentry *parent, void *value)")(create)


debugfs_value_files = {kind: _value_file(kind) for kind in (
    "u8", "u16", "u32", "u64", "x8", "x16", "x32", "x64", "size_t", "ulong", "bool", "atomic_t")}
# collect() finds services among module attributes, not inside dicts: name each one.
globals().update({f"debugfs_create_{kind}": fn for kind, fn in debugfs_value_files.items()})


@service("void debugfs_remove(struct dentry *dentry)")
def debugfs_remove(k: Kernel, dentry: int) -> None:
    """Remove a dentry and everything below it (debugfs_remove_recursive is the same call in 6.1)."""
    if not dentry or is_err(dentry):
        return
    tree = k.subsystem(DebugFs)
    if dentry not in tree.entries:
        tree.remove(k, dentry)  # traces the stray removal
        return
    tree.drop(k, dentry)


@service("struct dentry *debugfs_lookup(const char *name, struct dentry *parent)")
def debugfs_lookup(k: Kernel, name: int, parent: int) -> int:
    """The entry called ``name`` under ``parent``, else NULL."""
    text = guest_string(k, name, 255)
    found = next((e for e in k.subsystem(DebugFs).children(parent) if e.name == text), None)
    return found.address if found else 0


@service("void debugfs_lookup_and_remove(const char *name, struct dentry *parent)")
def debugfs_lookup_and_remove(k: Kernel, name: int, parent: int) -> None:
    """Remove the entry called ``name`` under ``parent`` if there is one."""
    dentry = debugfs_lookup(k, name, parent)
    if dentry:
        k.subsystem(DebugFs).drop(k, dentry)


@service("bool debugfs_initialized(void)")
def debugfs_initialized(k: Kernel) -> int:
    """debugfs is mounted-able in this kernel."""
    return 1



# -- procfs -------------------------------------------------------------------------------
# The /proc directories built-in code creates at boot, which modules create entries in.
BUILTIN_PROC_DIRS = ("driver", "fs", "bus", "tty", "sys", "irq", "net", "sysvipc")
PDE_SIZE = 128
# init_net's /proc/net directory entry (fs/proc/proc_net.c makes it at boot; init_net.proc_net points here).
proc_net_root = kernel_variable("proc_net_root", PDE_SIZE)


class ProcFs(DebugFs):
    """The /proc tree: one entry per proc_dir_entry; fields parent, mode, data, ops."""

    root = "/proc/"

    def builtin(self, k: Kernel, name: str) -> int:
        """The boot-time directory ``name`` under /proc, made on first use (owned by the kernel)."""
        found = next((e for e in self.children(0) if e.name == name), None)
        if found is not None:
            return found.address
        # /proc/net is init_net.proc_net, a pointer modules read before any service runs: a fixed entry.
        pde = (k.export_address("proc_net_root") or 0) if name == "net" else k.memory.alloc(PDE_SIZE)
        self.entries[pde] = Entry("proc dir", pde, name, "kernel", {"parent": 0})
        return pde

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Entries the module created and did not remove."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name and address in self.entries:
                leaks.append(f"/proc/{self.path(address)} still present")
                self.drop(k, address)
        return leaks


def _proc_parent(k: Kernel, name: str, parent: int) -> tuple[int, str] | None:
    """xlate_proc_name(): walk "a/b/c" below ``parent``; the directory and last component, or None."""
    tree = k.subsystem(ProcFs)
    *dirs, last = name.split("/")
    for part in dirs:
        if not parent and part in BUILTIN_PROC_DIRS:
            parent = tree.builtin(k, part)
            continue
        found = next((e for e in tree.children(parent) if e.name == part), None)
        if found is None:
            return None
        parent = found.address
    return parent, last


def _proc_create(k: Kernel, kind: str, name: int, parent: int, **fields: int) -> int:
    """A new proc entry, or NULL (proc_create and friends return NULL, not ERR_PTR)."""
    text = guest_string(k, name, 255)
    tree = k.subsystem(ProcFs)
    if parent and parent == k.export_address("proc_net_root"):
        tree.builtin(k, "net")
    if parent and parent not in tree.entries:
        return 0
    where = _proc_parent(k, text, parent)
    if where is None:
        return 0
    parent, last = where
    if not parent and last in BUILTIN_PROC_DIRS:
        tree.builtin(k, last)
    if any(e.name == last for e in tree.children(parent)):
        parent_name = tree.path(parent) if parent else ""
        k.console_write(f"proc_dir_entry '{parent_name}/{last}' already registered\n", 4)
        return 0
    pde = k.memory.alloc(PDE_SIZE)
    if not pde:
        return 0
    tree.add(k, kind, pde, last, parent=parent, **fields)
    return pde


@service("struct proc_dir_entry *proc_mkdir(const char *name, struct proc_dir_entry *parent)")
def proc_mkdir(k: Kernel, name: int, parent: int) -> int:
    """A /proc directory (NULL parent: /proc itself)."""
    return _proc_create(k, "proc dir", name, parent)


@service("struct proc_dir_entry *proc_mkdir_mode(const char *name, umode_t mode, struct proc_dir_entry *parent)")
def proc_mkdir_mode(k: Kernel, name: int, mode: int, parent: int) -> int:
    """proc_mkdir with a mode."""
    return _proc_create(k, "proc dir", name, parent, mode=mode)


@service("struct proc_dir_entry *proc_mkdir_data(const char *name, umode_t mode, struct proc_dir_entry *parent, "
         "void *data)")
def proc_mkdir_data(k: Kernel, name: int, mode: int, parent: int, data: int) -> int:
    """proc_mkdir with a mode and private data."""
    return _proc_create(k, "proc dir", name, parent, mode=mode, data=data)


@service("struct proc_dir_entry *proc_create_data(const char *name, umode_t mode, struct proc_dir_entry *parent, "
         "const struct proc_ops *proc_ops, void *data)")
def proc_create_data(k: Kernel, name: int, mode: int, parent: int, proc_ops: int, data: int) -> int:
    """A /proc file served by ``proc_ops``."""
    return _proc_create(k, "proc file", name, parent, mode=mode, ops=proc_ops, data=data)


@service("struct proc_dir_entry *proc_create(const char *name, umode_t mode, struct proc_dir_entry *parent, "
         "const struct proc_ops *proc_ops)")
def proc_create(k: Kernel, name: int, mode: int, parent: int, proc_ops: int) -> int:
    """proc_create_data without data."""
    return _proc_create(k, "proc file", name, parent, mode=mode, ops=proc_ops, data=0)


@service("struct proc_dir_entry *proc_create_single_data(const char *name, umode_t mode, "
         "struct proc_dir_entry *parent, int (*show)(struct seq_file *, void *), void *data)")
def proc_create_single_data(k: Kernel, name: int, mode: int, parent: int, show: int, data: int) -> int:
    """A /proc file whose content is one seq_file ``show``."""
    return _proc_create(k, "proc file", name, parent, mode=mode, show=show, data=data)


@service("struct proc_dir_entry *proc_create_seq_private(const char *name, umode_t mode, "
         "struct proc_dir_entry *parent, const struct seq_operations *ops, unsigned int state_size, void *data)")
def proc_create_seq_private(k: Kernel, name: int, mode: int, parent: int, ops: int, state_size: int, data: int) -> int:
    """A /proc file iterated by seq_operations."""
    return _proc_create(k, "proc file", name, parent, mode=mode, seq_ops=ops, state_size=state_size, data=data)


@service("struct proc_dir_entry *_proc_mkdir(const char *name, umode_t mode, struct proc_dir_entry *parent, "
         "void *data, bool force_lookup)")
def _proc_mkdir(k: Kernel, name: int, mode: int, parent: int, data: int, force_lookup: int) -> int:
    """proc_mkdir_data() (force_lookup only changes dcache behaviour)."""
    return _proc_create(k, "proc dir", name, parent, mode=mode, data=data)


@service("void proc_set_size(struct proc_dir_entry *de, loff_t size)")
def proc_set_size(k: Kernel, de: int, size: int) -> None:
    """The size stat() reports for the entry (``de->size``)."""
    from .layout import offset

    k.memory.write(de + offset("proc_dir_entry", "size"), (size & (1 << 64) - 1).to_bytes(8, "little"))
    entry = k.subsystem(ProcFs).entries.get(de)
    if entry is not None:
        entry.fields["size"] = size


@service("void proc_set_user(struct proc_dir_entry *de, kuid_t uid, kgid_t gid)")
def proc_set_user(k: Kernel, de: int, uid: int, gid: int) -> None:
    """The owner stat() reports for the entry (``de->uid``, ``de->gid``)."""
    from .layout import offset

    k.memory.write_u32(de + offset("proc_dir_entry", "uid"), uid)
    k.memory.write_u32(de + offset("proc_dir_entry", "gid"), gid)


@service("void proc_remove(struct proc_dir_entry *de)")
def proc_remove(k: Kernel, de: int) -> None:
    """Remove an entry and everything below it (NULL is ignored)."""
    tree = k.subsystem(ProcFs)
    if de and de in tree.entries:
        tree.drop(k, de)


def _proc_find(k: Kernel, name: int, parent: int) -> Entry | None:
    where = _proc_parent(k, guest_string(k, name, 255), parent)
    if where is None:
        return None
    parent, last = where
    return next((e for e in k.subsystem(ProcFs).children(parent) if e.name == last), None)


@service("void remove_proc_entry(const char *name, struct proc_dir_entry *parent)")
def remove_proc_entry(k: Kernel, name: int, parent: int) -> None:
    """Remove ``name`` under ``parent``; Linux warns if it is missing or a non-empty directory."""
    entry = _proc_find(k, name, parent)
    tree = k.subsystem(ProcFs)
    if entry is None:
        k.console_write(f"name '{guest_string(k, name, 255)}'\n", 4)  # Linux: WARN(1, "name '%s'\n", name)
        return
    if tree.children(entry.address):
        k.console_write(f"remove_proc_entry: removing non-empty directory '{tree.path(entry.address)}', leaking at "
                        f"least '{tree.children(entry.address)[0].name}'\n", 4)
    tree.drop(k, entry.address)


@service("int remove_proc_subtree(const char *name, struct proc_dir_entry *parent)")
def remove_proc_subtree(k: Kernel, name: int, parent: int) -> int:
    """Remove ``name`` and everything below it: 0, or -ENOENT."""
    entry = _proc_find(k, name, parent)
    if entry is None:
        return -2
    k.subsystem(ProcFs).drop(k, entry.address)
    return 0


# -- sysctl -----------------------------------------------------------------------------------
HEADER_SIZE = 64


class Sysctls(Registry):
    """Registered sysctl tables, keyed by the ctl_table_header handed back."""

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Tables the module did not unregister (their headers are freed)."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"sysctl table {entry.name!r} still registered")
                del self.entries[address]
                k.memory.free(address)
        return leaks


def _sysctl(k: Kernel, path: str, table: int) -> int:
    header = k.memory.alloc(HEADER_SIZE)
    if not header:
        return 0
    k.subsystem(Sysctls).add(k, "sysctl table", header, path, table=table)
    return header


@service("struct ctl_table_header *register_net_sysctl(struct net *net, const char *path, struct ctl_table *table)")
def register_net_sysctl(k: Kernel, net: int, path: int, table: int) -> int:
    """Register /proc/sys/<path> entries for a namespace: the header, NULL on failure."""
    return _sysctl(k, guest_string(k, path, 128), table)


@service("void unregister_net_sysctl_table(struct ctl_table_header *header)")
def unregister_net_sysctl_table(k: Kernel, header: int) -> None:
    """Remove a namespace's sysctl table (NULL is ignored)."""
    unregister_sysctl_table(k, header)


@service("struct ctl_table_header *register_sysctl(const char *path, struct ctl_table *table)")
def register_sysctl(k: Kernel, path: int, table: int) -> int:
    """Register /proc/sys/<path> entries."""
    return _sysctl(k, guest_string(k, path, 128), table)


@service("struct ctl_table_header *register_sysctl_table(struct ctl_table *table)")
def register_sysctl_table(k: Kernel, table: int) -> int:
    """Register a table of nested directories."""
    return _sysctl(k, "", table)


@service("void unregister_sysctl_table(struct ctl_table_header *header)")
def unregister_sysctl_table(k: Kernel, header: int) -> None:
    """Remove a sysctl table (NULL is ignored)."""
    if header and k.subsystem(Sysctls).remove(k, header, "sysctl table") is not None:
        k.memory.free(header)
