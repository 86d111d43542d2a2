"""The VFS core a kernel-internal mount goes through (fs/super.c, fs/dcache.c, fs/inode.c, fs/libfs.c), Linux 6.1 i386.

configfs, and any pseudo file system a module pins with ``simple_pin_fs``,
builds its tree from the kernel's objects: a ``struct super_block`` made
by ``get_tree_single`` and filled by the file system's ``fill_super``,
inodes from ``new_inode``, dentries from ``d_make_root`` and
``d_alloc_name``, linked by ``d_add``/``d_instantiate`` and released by
``dput``/``iput``. The structs are Linux's (generated layouts) in guest
memory, with the fields file systems read and write: a dentry's
``d_parent``, ``d_name`` (names under 32 bytes in ``d_iname``),
``d_inode``, ``d_sb``, ``d_op`` (and the DCACHE_OP_* flags it implies),
``d_fsdata``, its ``d_lockref`` count and ``d_subdirs``/``d_child`` lists;
an inode's ``i_sb``, ``i_mode``, ``i_nlink``, ``i_count``, ``i_mapping``
(its own ``i_data``), ``i_rwsem``; a superblock's ``s_type``, ``s_root``,
``s_op``, ``s_d_op``. The kernel's own behaviour runs as Linux's does: the
last ``dput`` of a dentry whose ``d_op->d_delete`` says so (or that is
unhashed) kills it and puts its inode and parent; the last ``iput`` of an
inode ``drop_inode`` lets go frees it through ``s_op->free_inode``;
``simple_pin_fs`` mounts the type once (``init_fs_context``, then the
context's ``get_tree``, or a legacy ``mount``) and counts pins; the last
``simple_release_fs`` unmounts, calling ``kill_sb``; ``kill_litter_super``
drops the pinned dentries and shuts the superblock down, with Linux's
"Busy inodes after unmount" message for an inode still referenced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from .guest_list import list_add, list_del, list_init
from .layout import Fields, offset, size
from .layouts import LAYOUTS
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

DNAME_INLINE_LEN = LAYOUTS["dentry"]["fields"]["d_iname"][1]  # 36 on 32-bit SMP
S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
DCACHE_OP_HASH, DCACHE_OP_COMPARE, DCACHE_OP_REVALIDATE, DCACHE_OP_DELETE, DCACHE_OP_PRUNE = 0x1, 0x2, 0x4, 0x8, 0x10
DCACHE_OP_WEAK_REVALIDATE, DCACHE_OP_REAL = 0x800, 0x4000000
DCACHE_ENTRY_TYPE = 0x700000
DCACHE_DIRECTORY_TYPE, DCACHE_REGULAR_TYPE, DCACHE_SPECIAL_TYPE, DCACHE_SYMLINK_TYPE = 0x200000, 0x400000, 0x500000, \
    0x600000
DCACHE_GENOCIDE = 0x200
SB_KERNMOUNT, SB_BORN, SB_ACTIVE = 1 << 22, 1 << 29, 1 << 30
MNT_INTERNAL = 0x4000
MAX_NON_LFS = (1 << 31) - 1
D_OPS = (("d_hash", DCACHE_OP_HASH), ("d_compare", DCACHE_OP_COMPARE), ("d_revalidate", DCACHE_OP_REVALIDATE),
         ("d_weak_revalidate", DCACHE_OP_WEAK_REVALIDATE), ("d_delete", DCACHE_OP_DELETE),
         ("d_prune", DCACHE_OP_PRUNE), ("d_real", DCACHE_OP_REAL))
I_DATA = offset("inode", "i_data")
D_CHILD, D_SUBDIRS = offset("dentry", "d_child"), offset("dentry", "d_subdirs")
D_HASH_PPREV = offset("dentry", "d_hash") + 4
D_COUNT = offset("dentry", "d_lockref") + offset("lockref", "count")
I_COUNT = offset("inode", "i_count")


@dataclass(slots=True)
class Super:
    """A superblock this kernel made: its type, inodes, dentries."""

    sb: int
    fs_type: int
    inodes: set[int] = field(default_factory=set)
    dentries: dict[int, None] = field(default_factory=dict)  # in creation order


@dataclass(slots=True)
class Mount:
    """A kernel-internal vfsmount: its superblock and reference count."""

    mnt: int
    sb: int
    count: int = 1


class Vfs:
    """Superblocks, mounts and the blocks of the kernel's empty operation tables."""

    def __init__(self) -> None:
        self.supers: dict[int, Super] = {}
        self.mounts: dict[int, Mount] = {}
        self.dentry_sb: dict[int, int] = {}  # dentry -> its superblock
        self.empty_ops = 0  # zeroed empty_iops / no_open_fops / empty_aops stand-in (large enough for each)
        self.hash_bucket = 0  # where a hashed dentry's d_hash.pprev points (d_unhashed() is pprev == NULL)
        self.next_ino = 0
        self.next_anon_dev = 0


def _vfs(k: Kernel) -> Vfs:
    state = k.subsystem(Vfs)
    if not state.empty_ops:
        state.empty_ops = allocate(k, max(size("file_operations"), size("address_space_operations"), 128),
                                   owner="kernel")
        state.hash_bucket = allocate(k, 4, owner="kernel")
    return state


def _call(k: Kernel, pointer: int, *args: int) -> int:
    return signed32(k.call_function_pointer(pointer, *args))


# -- inodes ---------------------------------------------------------------------------------------------

@service("unsigned int get_next_ino(void)")
def get_next_ino(k: Kernel) -> int:
    """The next inode number for a file system without its own (never 0)."""
    state = _vfs(k)
    state.next_ino = (state.next_ino + 1) & 0xFFFFFFFF or 1
    return state.next_ino


@service("struct inode *new_inode(struct super_block *sb)")
def new_inode(k: Kernel, sb: int) -> int:
    """alloc_inode + inode_init_always: one reference, one link, its own mapping; NULL without memory."""
    state = _vfs(k)
    s_op = Fields(k.memory, "super_block", sb)["s_op"]
    alloc = Fields(k.memory, "super_operations", s_op)["alloc_inode"] if s_op else 0
    inode = k.call_function_pointer(alloc, sb) if alloc else allocate(k, size("inode"), owner="kernel")
    if not inode or is_err(inode):
        return 0
    i = Fields(k.memory, "inode", inode)
    i["i_sb"], i["i_blkbits"] = sb, Fields(k.memory, "super_block", sb)["s_blocksize_bits"]
    i["i_flags"], i["i_state"], i["i_count"], i["__i_nlink"] = 0, 0, 1, 1
    i["i_op"] = i["i_fop"] = state.empty_ops
    i["i_mapping"] = inode + I_DATA
    m = Fields(k.memory, "address_space", inode + I_DATA)
    m["host"], m["a_ops"] = inode, state.empty_ops
    rwsem = i.address_of("i_rwsem")
    k.memory.write(rwsem, bytes(size("rw_semaphore")))
    list_init(k, rwsem + offset("rw_semaphore", "wait_list"))
    for head in ("i_sb_list", "i_lru", "i_wb_list", "i_io_list", "i_devices"):
        list_init(k, i.address_of(head))
    record = state.supers.get(sb)
    if record is not None:
        record.inodes.add(inode)
    return inode


@service("void inc_nlink(struct inode *inode)")
def inc_nlink(k: Kernel, inode: int) -> None:
    """One more hard link (a directory's "." and each subdirectory's "..")."""
    i = Fields(k.memory, "inode", inode)
    i["__i_nlink"] = i["__i_nlink"] + 1


@service("void drop_nlink(struct inode *inode)")
def drop_nlink(k: Kernel, inode: int) -> None:
    """One link fewer (WARN_ON at 0, as Linux)."""
    i = Fields(k.memory, "inode", inode)
    if i["__i_nlink"] == 0:
        k.warn(f"drop_nlink of inode {inode:#x} with no links left")
        return
    i["__i_nlink"] = i["__i_nlink"] - 1


@service("void clear_nlink(struct inode *inode)")
def clear_nlink(k: Kernel, inode: int) -> None:
    """No links left."""
    Fields(k.memory, "inode", inode)["__i_nlink"] = 0


@service("int generic_delete_inode(struct inode *inode)")
def generic_delete_inode(k: Kernel, inode: int) -> int:
    """drop_inode for file systems that keep no unused inodes: always drop."""
    return 1


@service("void free_inode_nonrcu(struct inode *inode)")
def free_inode_nonrcu(k: Kernel, inode: int) -> None:
    """kmem_cache_free(inode_cachep, inode)."""
    _forget_inode(k, inode)
    release(k, inode)


def _forget_inode(k: Kernel, inode: int) -> None:
    sb = Fields(k.memory, "inode", inode)["i_sb"]
    record = k.subsystem(Vfs).supers.get(sb)
    if record is not None:
        record.inodes.discard(inode)


def _destroy_inode(k: Kernel, inode: int) -> None:
    """evict + destroy_inode: the file system's evict_inode, then destroy_inode or free_inode (else kfree)."""
    sb = Fields(k.memory, "inode", inode)["i_sb"]
    s_op = Fields(k.memory, "super_block", sb)["s_op"] if sb else 0
    ops = Fields(k.memory, "super_operations", s_op) if s_op else None
    if ops is not None and ops["evict_inode"]:
        k.call_function_pointer(ops["evict_inode"], inode)
    if ops is not None and ops["destroy_inode"]:
        _forget_inode(k, inode)
        k.call_function_pointer(ops["destroy_inode"], inode)
        if not ops["free_inode"]:
            return
    if ops is not None and ops["free_inode"]:
        k.call_function_pointer(ops["free_inode"], inode)
        _forget_inode(k, inode)
        return
    _forget_inode(k, inode)
    release(k, inode)


@service("void iput(struct inode *inode)")
def iput(k: Kernel, inode: int) -> None:
    """Drop a reference; at the last, ``drop_inode`` (default: no links left) decides whether it goes."""
    if not inode:
        return
    i = Fields(k.memory, "inode", inode)
    count = i["i_count"]
    if count == 0:
        k.warn(f"iput of inode {inode:#x} with no reference left")
        return
    i["i_count"] = count - 1
    if count > 1:
        return
    s_op = Fields(k.memory, "super_block", i["i_sb"])["s_op"] if i["i_sb"] else 0
    drop_op = Fields(k.memory, "super_operations", s_op)["drop_inode"] if s_op else 0
    drop = _call(k, drop_op, inode) if drop_op else int(i["__i_nlink"] == 0)
    if drop:
        _destroy_inode(k, inode)


# -- dentries -------------------------------------------------------------------------------------------

def _name_hash(name: bytes) -> int:
    """A name's hash: Linux salts full_name_hash with the parent's address, so no module relies on its value."""
    h = 0
    for byte in name:
        h = (h * 0x9E370001 + byte) & 0xFFFFFFFF
    return h


def _alloc(k: Kernel, sb: int, parent: int, name: bytes) -> int:
    """__d_alloc + d_alloc: a dentry of ``sb`` named ``name`` under ``parent`` (0: its own parent, a root)."""
    dentry = allocate(k, size("dentry"), owner="kernel")
    if not dentry:
        return 0
    d = Fields(k.memory, "dentry", dentry)
    if len(name) < DNAME_INLINE_LEN:
        text = d.address_of("d_iname")
    else:
        text = allocate(k, len(name) + 1, owner="kernel")
        if not text:
            release(k, dentry)
            return 0
    k.memory.write(text, name + b"\0")
    d["d_name.name"], d["d_name.len"], d["d_name.hash"] = text, len(name), _name_hash(name)
    d["d_lockref.count"] = 1
    d["d_sb"] = sb
    d["d_parent"] = parent or dentry
    list_init(k, dentry + D_SUBDIRS)
    list_init(k, dentry + D_CHILD)
    d_op = Fields(k.memory, "super_block", sb)["s_d_op"] if sb else 0
    if d_op:
        d["d_op"] = d_op
        ops = Fields(k.memory, "dentry_operations", d_op)
        d["d_flags"] = d["d_flags"] | sum(flag for member, flag in D_OPS if ops[member])
    if parent:
        _get(k, parent)
        list_add(k, dentry + D_CHILD, parent + D_SUBDIRS)
    state = _vfs(k)
    state.dentry_sb[dentry] = sb
    record = state.supers.get(sb)
    if record is not None:
        record.dentries[dentry] = None
    return dentry


def _get(k: Kernel, dentry: int) -> None:
    k.memory.write_u32(dentry + D_COUNT, k.memory.read_u32(dentry + D_COUNT) + 1)


def _hashed(k: Kernel, dentry: int) -> bool:
    return bool(k.memory.read_u32(dentry + D_HASH_PPREV))


def _type_flag(mode: int) -> int:
    kind = mode & S_IFMT
    return {S_IFDIR: DCACHE_DIRECTORY_TYPE, S_IFREG: DCACHE_REGULAR_TYPE, S_IFLNK: DCACHE_SYMLINK_TYPE}.get(
        kind, DCACHE_SPECIAL_TYPE)


@service("void d_instantiate(struct dentry *entry, struct inode *inode)")
def d_instantiate(k: Kernel, dentry: int, inode: int) -> None:
    """Make the dentry positive: its inode (the dentry takes over the caller's reference) and type flag."""
    if not inode:
        return
    d = Fields(k.memory, "dentry", dentry)
    alias = d.address_of("d_u")  # d_u.d_alias, an hlist_node, onto inode->i_dentry
    head = inode + offset("inode", "i_dentry")
    first = k.memory.read_u32(head)
    k.memory.write_u32(alias, first)
    k.memory.write_u32(alias + 4, head)
    if first:
        k.memory.write_u32(first + 4, alias)
    k.memory.write_u32(head, alias)
    d["d_inode"] = inode
    d["d_flags"] = (d["d_flags"] & ~DCACHE_ENTRY_TYPE) | _type_flag(Fields(k.memory, "inode", inode)["i_mode"])


@service("struct dentry *d_make_root(struct inode *root_inode)")
def d_make_root(k: Kernel, root_inode: int) -> int:
    """The root dentry "/" of the inode's superblock (its own parent); NULL, and the inode put, on failure."""
    if not root_inode:
        return 0
    dentry = _alloc(k, Fields(k.memory, "inode", root_inode)["i_sb"], 0, b"/")
    if not dentry:
        iput(k, root_inode)
        return 0
    d_instantiate(k, dentry, root_inode)
    return dentry


@service("struct dentry *d_alloc_name(struct dentry *parent, const char *name)")
def d_alloc_name(k: Kernel, parent: int, name: int) -> int:
    """A negative, unhashed child ``name`` of ``parent`` with one reference; NULL without memory."""
    text = k.memory.read_cstring(name, 4096)
    return _alloc(k, Fields(k.memory, "dentry", parent)["d_sb"], parent, text)


@service("struct dentry *d_alloc(struct dentry *parent, const struct qstr *name)")
def d_alloc(k: Kernel, parent: int, name: int) -> int:
    """d_alloc_name with a qstr."""
    q = Fields(k.memory, "qstr", name)
    text = k.memory.read(q["name"], q["len"]) if q["len"] else b""
    return _alloc(k, Fields(k.memory, "dentry", parent)["d_sb"], parent, text)


@service("void d_add(struct dentry *entry, struct inode *inode)")
def d_add(k: Kernel, dentry: int, inode: int) -> None:
    """d_instantiate (NULL: a negative dentry) and hash it, so lookups find it."""
    d_instantiate(k, dentry, inode)
    k.memory.write_u32(dentry + D_HASH_PPREV, _vfs(k).hash_bucket)


@service("void d_rehash(struct dentry *entry)")
def d_rehash(k: Kernel, dentry: int) -> None:
    """Hash the dentry again."""
    k.memory.write_u32(dentry + D_HASH_PPREV, _vfs(k).hash_bucket)


@service("void __d_drop(struct dentry *dentry)")
def __d_drop(k: Kernel, dentry: int) -> None:
    """Unhash (lookups stop finding it; the last dput frees it)."""
    k.memory.write(dentry + offset("dentry", "d_hash"), bytes(8))


@service("void d_drop(struct dentry *dentry)")
def d_drop(k: Kernel, dentry: int) -> None:
    """__d_drop under the dentry's lock."""
    __d_drop(k, dentry)


def _unlink_inode(k: Kernel, dentry: int) -> None:
    """dentry_unlink_inode: negative again; the inode's reference goes to d_iput or iput."""
    d = Fields(k.memory, "dentry", dentry)
    inode = d["d_inode"]
    if not inode:
        return
    alias = d.address_of("d_u")
    following, pprev = k.memory.read_u32(alias), k.memory.read_u32(alias + 4)
    if pprev:
        k.memory.write_u32(pprev, following)
    if following:
        k.memory.write_u32(following + 4, pprev)
    k.memory.write(alias, bytes(8))
    d["d_inode"] = 0
    d["d_flags"] = d["d_flags"] & ~DCACHE_ENTRY_TYPE
    d_iput = Fields(k.memory, "dentry_operations", d["d_op"])["d_iput"] if d["d_op"] else 0
    if d_iput:
        k.call_function_pointer(d_iput, dentry, inode)
    else:
        iput(k, inode)


@service("void d_delete(struct dentry *dentry)")
def d_delete(k: Kernel, dentry: int) -> None:
    """The file was removed: the only user's dentry turns negative, a shared one is unhashed."""
    if k.memory.read_u32(dentry + D_COUNT) == 1:
        _unlink_inode(k, dentry)
    else:
        __d_drop(k, dentry)


def _kill(k: Kernel, dentry: int) -> int:
    """__dentry_kill: off its parent, inode put, d_release, freed; returns the parent to put (0 for a root)."""
    d = Fields(k.memory, "dentry", dentry)
    parent = d["d_parent"]
    __d_drop(k, dentry)
    list_del(k, dentry + D_CHILD)
    _unlink_inode(k, dentry)
    d_release = Fields(k.memory, "dentry_operations", d["d_op"])["d_release"] if d["d_op"] else 0
    if d_release:
        k.call_function_pointer(d_release, dentry)
    name = d["d_name.name"]
    if name != d.address_of("d_iname"):
        release(k, name)
    state = k.subsystem(Vfs)
    record = state.supers.get(state.dentry_sb.pop(dentry, 0))
    if record is not None:
        record.dentries.pop(dentry, None)
    release(k, dentry)
    return parent if parent != dentry else 0


@service("void dput(struct dentry *dentry)")
def dput(k: Kernel, dentry: int) -> None:
    """Drop a reference; at the last, ``d_op->d_delete`` (or being unhashed) kills it, then its parent is put."""
    while dentry and not is_err(dentry):
        count = k.memory.read_u32(dentry + D_COUNT)
        if count == 0:
            k.warn(f"dput of dentry {dentry:#x} with no reference left")
            return
        k.memory.write_u32(dentry + D_COUNT, count - 1)
        if count > 1:
            return
        d = Fields(k.memory, "dentry", dentry)
        d_delete_op = Fields(k.memory, "dentry_operations", d["d_op"])["d_delete"] if d["d_op"] else 0
        if _hashed(k, dentry) and not (d_delete_op and _call(k, d_delete_op, dentry)):
            return  # kept in the dcache, unused, until unmount
        dentry = _kill(k, dentry)


@service("struct dentry *dget_parent(struct dentry *dentry)")
def dget_parent(k: Kernel, dentry: int) -> int:
    """The parent, with a reference taken."""
    parent = Fields(k.memory, "dentry", dentry)["d_parent"]
    _get(k, parent)
    return parent


@service("int always_delete_dentry(const struct dentry *dentry)")
def always_delete_dentry(k: Kernel, dentry: int) -> int:
    """d_delete for file systems that cache no unused dentries: 1."""
    return 1


@service("void lockref_get(struct lockref *lockref)")
def lockref_get(k: Kernel, lockref: int) -> None:
    """count++ (dget, mntget): the lock is free whenever a service runs."""
    where = lockref + offset("lockref", "count")
    k.memory.write_u32(where, k.memory.read_u32(where) + 1)


def _positive_children(k: Kernel, dentry: int) -> list[int]:
    children, node, head = [], k.memory.read_u32(dentry + D_SUBDIRS), dentry + D_SUBDIRS
    while node and node != head and len(children) < 100_000:
        child = node - D_CHILD
        if Fields(k.memory, "dentry", child)["d_inode"] and _hashed(k, child):
            children.append(child)
        node = k.memory.read_u32(node)
    return children


@service("int simple_unlink(struct inode *dir, struct dentry *dentry)")
def simple_unlink(k: Kernel, dir_inode: int, dentry: int) -> int:
    """Remove a name of an in-memory file system: a link fewer, the pinning reference dropped."""
    drop_nlink(k, Fields(k.memory, "dentry", dentry)["d_inode"])
    dput(k, dentry)
    return 0


@service("int simple_rmdir(struct inode *dir, struct dentry *dentry)")
def simple_rmdir(k: Kernel, dir_inode: int, dentry: int) -> int:
    """Remove an empty directory: -ENOTEMPTY if a positive child remains."""
    if _positive_children(k, dentry):
        return -39
    drop_nlink(k, Fields(k.memory, "dentry", dentry)["d_inode"])
    simple_unlink(k, dir_inode, dentry)
    drop_nlink(k, dir_inode)
    return 0


# -- superblocks and mounts -------------------------------------------------------------------------------

def _alloc_super(k: Kernel, fc: int, fs_type: int) -> int:
    """alloc_super + set_anon_super: one active reference, an anonymous device, the type's name as s_id."""
    state = _vfs(k)
    sb = allocate(k, size("super_block"), owner="kernel")
    if not sb:
        return 0
    s = Fields(k.memory, "super_block", sb)
    s["s_type"], s["s_flags"] = fs_type, Fields(k.memory, "fs_context", fc)["sb_flags"] if fc else SB_KERNMOUNT
    s["s_user_ns"] = k.export_address("init_user_ns") or 0
    s["s_count"], s["s_active"], s["s_maxbytes"], s["s_time_gran"] = 1, 1, MAX_NON_LFS, 1_000_000_000
    state.next_anon_dev += 1
    s["s_dev"] = state.next_anon_dev  # MKDEV(0, n): the unnamed block-device major
    name = guest_string(k, Fields(k.memory, "file_system_type", fs_type)["name"], 31)
    k.memory.write(s.address_of("s_id"), name.encode() + b"\0")
    for head in ("s_mounts", "s_list", "s_instances"):
        where = s.address_of(head)
        k.memory.write_u32(where, where)
        k.memory.write_u32(where + 4, where)
    state.supers[sb] = Super(sb, fs_type)
    return sb


def _shutdown_super(k: Kernel, sb: int) -> None:
    """generic_shutdown_super: every dentry killed, put_super, busy inodes reported, the superblock freed."""
    state = k.subsystem(Vfs)
    record = state.supers.get(sb)
    s = Fields(k.memory, "super_block", sb)
    root, s["s_root"] = s["s_root"], 0
    if record is not None:
        for dentry in reversed(list(record.dentries)):  # children were made after their parents
            if dentry in record.dentries:
                count = k.memory.read_u32(dentry + D_COUNT)
                if count > (1 if dentry == root else 0):
                    name = guest_string(k, Fields(k.memory, "dentry", dentry)["d_name.name"], 64)
                    k.console_write(f"BUG: Dentry {dentry:08x}{{i={Fields(k.memory, 'dentry', dentry)['d_inode']:x},"
                                    f"n={name}}}  still in use ({count}) [unmount of "
                                    f"{guest_string(k, s.address_of('s_id'), 32)}]\n", 3)
                    k.memory.write_u32(dentry + D_COUNT, 0)
                _kill(k, dentry)
    s_op = s["s_op"]
    put_super = Fields(k.memory, "super_operations", s_op)["put_super"] if s_op else 0
    if put_super:
        k.call_function_pointer(put_super, sb)
    if record is not None and record.inodes:
        k.console_write(f"VFS: Busy inodes after unmount of {guest_string(k, s.address_of('s_id'), 32)}. "
                        "Self-destruct in 5 seconds.  Have a nice day...\n", 3)
    state.supers.pop(sb, None)
    release(k, sb)


@service("void kill_anon_super(struct super_block *sb)")
def kill_anon_super(k: Kernel, sb: int) -> None:
    """Shut the superblock down and free its anonymous device."""
    _shutdown_super(k, sb)


@service("void kill_litter_super(struct super_block *sb)")
def kill_litter_super(k: Kernel, sb: int) -> None:
    """For in-memory trees whose dentries are pinned: d_genocide drops those references, then kill_anon_super."""
    record = k.subsystem(Vfs).supers.get(sb)
    root = Fields(k.memory, "super_block", sb)["s_root"]
    if record is not None and root:
        for dentry in list(record.dentries):
            d = Fields(k.memory, "dentry", dentry)
            if dentry != root and d["d_inode"] and not d["d_flags"] & DCACHE_GENOCIDE:
                d["d_flags"] = d["d_flags"] | DCACHE_GENOCIDE
                count = k.memory.read_u32(dentry + D_COUNT)
                if count:
                    k.memory.write_u32(dentry + D_COUNT, count - 1)
    kill_anon_super(k, sb)


@service("int get_tree_single(struct fs_context *fc, int (*fill_super)(struct super_block *sb, struct fs_context *fc))")
def get_tree_single(k: Kernel, fc: int, fill_super: int) -> int:
    """One superblock per type: made and filled on the first mount, shared after; 0 or fill_super's error."""
    f = Fields(k.memory, "fs_context", fc)
    fs_type = f["fs_type"]
    state = _vfs(k)
    sb = next((s.sb for s in state.supers.values() if s.fs_type == fs_type), 0)
    if sb:
        s = Fields(k.memory, "super_block", sb)
        s["s_active"] = s["s_active"] + 1
    else:
        sb = _alloc_super(k, fc, fs_type)
        if not sb:
            return -ENOMEM
        err = _call(k, fill_super, sb, fc)
        if err:
            _deactivate(k, sb)
            return err
        s = Fields(k.memory, "super_block", sb)
        s["s_flags"] = s["s_flags"] | SB_ACTIVE
    root = Fields(k.memory, "super_block", sb)["s_root"]
    if not root:
        return -EINVAL
    _get(k, root)
    f["root"] = root
    return 0


def _deactivate(k: Kernel, sb: int) -> None:
    """deactivate_super: the last active reference calls the type's kill_sb."""
    s = Fields(k.memory, "super_block", sb)
    active = s["s_active"]
    s["s_active"] = active - 1 if active else 0
    if active <= 1:
        kill_sb = Fields(k.memory, "file_system_type", s["s_type"])["kill_sb"]
        if kill_sb:
            k.call_function_pointer(kill_sb, sb)
        elif sb in k.subsystem(Vfs).supers:
            kill_anon_super(k, sb)


def kern_mount(k: Kernel, fs_type: int) -> int:
    """vfs_kern_mount(type, SB_KERNMOUNT, name, NULL): a vfsmount, or an ERR_PTR."""
    t = Fields(k.memory, "file_system_type", fs_type)
    init_fs_context, mount = t["init_fs_context"], t["mount"]
    root = 0
    if init_fs_context:
        fc = allocate(k, size("fs_context"), owner="kernel")
        if not fc:
            return err_ptr(ENOMEM)
        f = Fields(k.memory, "fs_context", fc)
        f["fs_type"], f["sb_flags"] = fs_type, SB_KERNMOUNT
        f["user_ns"] = k.export_address("init_user_ns") or 0
        try:
            err = _call(k, init_fs_context, fc)
            get_tree = Fields(k.memory, "fs_context_operations", f["ops"])["get_tree"] if f["ops"] else 0
            if not err:
                err = _call(k, get_tree, fc) if get_tree else -EINVAL
            root = f["root"]
            if err or not root:
                return err_ptr(-err if err else EINVAL)
        finally:
            free = Fields(k.memory, "fs_context_operations", f["ops"])["free"] if f["ops"] else 0
            if free:
                k.call_function_pointer(free, fc)
            release(k, fc)
    elif mount:
        name = t["name"]
        root = k.call_function_pointer(mount, fs_type, SB_KERNMOUNT, name, 0)
        if not root or is_err(root):
            return root or err_ptr(EINVAL)
    else:
        return err_ptr(EINVAL)
    sb = Fields(k.memory, "dentry", root)["d_sb"]
    s = Fields(k.memory, "super_block", sb)
    s["s_flags"] = s["s_flags"] | SB_BORN
    mnt = allocate(k, size("vfsmount"), owner="kernel")
    if not mnt:
        dput(k, root)
        _deactivate(k, sb)
        return err_ptr(ENOMEM)
    v = Fields(k.memory, "vfsmount", mnt)
    v["mnt_root"], v["mnt_sb"], v["mnt_flags"] = root, sb, MNT_INTERNAL
    v["mnt_userns"] = k.export_address("init_user_ns") or 0
    _vfs(k).mounts[mnt] = Mount(mnt, sb)
    return mnt


def mntput(k: Kernel, mnt: int) -> None:
    """Drop a mount reference; the last unmounts: the root put, the superblock deactivated."""
    record = k.subsystem(Vfs).mounts.get(mnt)
    if record is None:
        return
    record.count -= 1
    if record.count > 0:
        return
    del k.subsystem(Vfs).mounts[mnt]
    dput(k, Fields(k.memory, "vfsmount", mnt)["mnt_root"])
    _deactivate(k, record.sb)
    release(k, mnt)


@service("int simple_pin_fs(struct file_system_type *type, struct vfsmount **mount, int *count)")
def simple_pin_fs(k: Kernel, fs_type: int, mount: int, count: int) -> int:
    """Mount ``type`` inside the kernel on the first pin (``*mount``), count the pins: 0 or the mount's error."""
    created = 0
    if not k.memory.read_u32(mount):
        created = kern_mount(k, fs_type)
        if is_err(created):
            return created - (1 << 32)
        k.memory.write_u32(mount, created)
    record = k.subsystem(Vfs).mounts.get(k.memory.read_u32(mount))
    if record is not None:
        record.count += 1  # mntget(*mount)
    k.memory.write_u32(count, k.memory.read_u32(count) + 1)
    if created:
        mntput(k, created)  # the reference vfs_kern_mount returned: the pin holds its own
    return 0


@service("void simple_release_fs(struct vfsmount **mount, int *count)")
def simple_release_fs(k: Kernel, mount: int, count: int) -> None:
    """Drop a pin; the last clears ``*mount`` and unmounts."""
    mnt = k.memory.read_u32(mount)
    left = k.memory.read_u32(count) - 1
    k.memory.write_u32(count, left & 0xFFFFFFFF)
    if left == 0:
        k.memory.write_u32(mount, 0)
    mntput(k, mnt)


# address_space_operations of in-memory file systems (fs/libfs.c ram_aops): no page is ever read from or
# written to a backing store here, so the table's callbacks stay NULL.
ram_aops = kernel_variable("ram_aops", size("address_space_operations"), 0)


def mounted_paths(kernel: Kernel, fs_name: str) -> list[str]:
    """The positive entries of the mounted file system type ``fs_name`` ("configfs"), as paths from its root."""
    k = kernel.service_context
    paths = []
    for record in k.subsystem(Vfs).supers.values():
        name = guest_string(k, Fields(k.memory, "file_system_type", record.fs_type)["name"], 64)
        if name != fs_name:
            continue
        root = Fields(k.memory, "super_block", record.sb)["s_root"]
        for dentry in record.dentries:
            d = Fields(k.memory, "dentry", dentry)
            if dentry == root or not d["d_inode"]:
                continue
            parts, node = [], dentry
            while node != root and len(parts) < 256:
                n = Fields(k.memory, "dentry", node)
                parts.append(k.memory.read(n["d_name.name"], n["d_name.len"]).decode("utf-8", "replace"))
                node = n["d_parent"]
            paths.append("/" + "/".join(reversed(parts)))
    return sorted(paths)
