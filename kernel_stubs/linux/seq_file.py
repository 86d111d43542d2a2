"""fs/seq_file.c as Linux 6.1 exports it, and /proc and debugfs files readable from Python.

``struct seq_file`` and ``struct seq_operations`` keep Linux's layout (the
generated table), so a module's ``show`` that pokes ``m->count`` or its
``start``/``next``/``stop`` that use ``m->private`` see what they would
on Linux. ``seq_read`` is ``seq_read_iter``'s algorithm step for step:
start, show, next until the user buffer is full, the buffer doubled (from
a page) when one record overflows it, ``traverse`` when the position is
not where the last read left it, ``m->from``/``m->count`` carried over
between reads. ``single_open`` builds Linux's one-record
``seq_operations`` (start/next/stop here, ``show`` the module's).

Files: ``k.open("/proc/<path>")`` opens an entry a module made with
``proc_create*`` (its ``proc_ops`` as ``proc_reg_open``/``proc_reg_read``
call them; ``proc_create_single_data`` and ``proc_create_seq_private`` as
``proc_single_open``/``proc_seq_open``), ``k.open("/sys/kernel/debug/<path>")``
a ``debugfs_create_file`` entry with its ``file_operations``; either way
``inode->i_private`` is the entry's data, as ``pde_data()`` and
``simple_open`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.devices.chardev import DeviceNode
from sandbox.services import service
from sandbox.services.varargs import VarArgs

from . import vfs
from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

def _read_u64(k: Kernel, address: int) -> int:
    return int.from_bytes(k.memory.read(address, 8), "little")


def _write_u64(k: Kernel, address: int, value: int) -> None:
    k.memory.write(address, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))


EINVAL, ENOMEM, EFAULT, EAGAIN = 22, 12, 14, 11
PAGE_SIZE = 4096
MAX_RECORDS = 1 << 20  # iterations one read may make: a next() that never ends is a guest bug
MAX_SEQ_BUFFER = 1 << 24
SEQ_SKIP = 1


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _is_err_or_null(value: int) -> bool:
    return value == 0 or value >= 0xFFFFF001


# -- the buffer ---------------------------------------------------------------------------------
def _seq(k: Kernel, m: int) -> Fields:
    return Fields(k.memory, "seq_file", m)


def seq_append(k: Kernel, m: int, data: bytes, strict_less: bool = True) -> bool:
    """Append ``data`` if it fits (count + len < size), else mark the overflow (count = size)."""
    s = _seq(k, m)
    count, room = s["count"], s["size"]
    if count + len(data) < room or (not strict_less and count + len(data) <= room):
        k.memory.write(s["buf"] + count, data)
        s["count"] = count + len(data)
        return True
    s["count"] = room
    return False


@service("void seq_printf(struct seq_file *m, const char *f, ...)")
def seq_printf(k: Kernel, m: int, f: int, args: VarArgs) -> None:
    """Format into the seq_file's buffer (an overflow marks it full, so the read retries bigger)."""
    from .printk import format_guest

    s = _seq(k, m)
    if s["count"] < s["size"]:
        text = format_guest(k, f, args)
        if s["count"] + len(text) < s["size"]:
            k.memory.write(s["buf"] + s["count"], text)
            s["count"] = s["count"] + len(text)
            return
    s["count"] = s["size"]


@service("void seq_vprintf(struct seq_file *m, const char *f, va_list args)")
def seq_vprintf(k: Kernel, m: int, f: int, va: int) -> None:
    """seq_printf with a va_list."""
    seq_printf(k, m, f, VarArgs(k.memory, va))


@service("void seq_puts(struct seq_file *m, const char *s)")
def seq_puts(k: Kernel, m: int, s: int) -> None:
    """Append a string."""
    seq_append(k, m, k.memory.read_cstring(s, MAX_SEQ_BUFFER))


@service("void seq_putc(struct seq_file *m, char c)")
def seq_putc(k: Kernel, m: int, c: int) -> None:
    """Append one character (dropped when the buffer is full: count == size)."""
    s = _seq(k, m)
    if s["count"] >= s["size"]:
        return
    k.memory.write(s["buf"] + s["count"], bytes([c & 0xFF]))
    s["count"] = s["count"] + 1


@service("int seq_write(struct seq_file *seq, const void *data, size_t len)")
def seq_write(k: Kernel, seq: int, data: int, length: int) -> int:
    """Append ``len`` bytes: 0, or -1 after marking the overflow."""
    return 0 if seq_append(k, seq, k.memory.read(data, length) if length else b"") else -1


@service("void seq_pad(struct seq_file *m, char c)")
def seq_pad(k: Kernel, m: int, c: int) -> None:
    """Pad with spaces up to pad_until, then put ``c`` (if not NUL)."""
    s = _seq(k, m)
    pad = s["pad_until"] - s["count"]
    if pad > 0:
        seq_append(k, m, b" " * min(pad, s["size"] - s["count"]), strict_less=False)
    if c & 0xFF:
        seq_putc(k, m, c)


# -- open/release -------------------------------------------------------------------------------
@service("int seq_open(struct file *file, const struct seq_operations *op)")
def seq_open(k: Kernel, file: int, op: int) -> int:
    """A zeroed seq_file for ``file`` (``file->private_data``), iterated by ``op``: 0 or -ENOMEM."""
    m = allocate(k, size("seq_file"))
    if not m:
        return -ENOMEM
    k.memory.write(m, bytes(size("seq_file")))
    lock = m + offset("seq_file", "lock")
    k.memory.write_u32(lock + 12, lock + 12)  # mutex_init: the wait list points at itself
    k.memory.write_u32(lock + 16, lock + 12)
    s = _seq(k, m)
    s["op"] = op
    s["file"] = file
    k.memory.write_u32(file + vfs.PRIVATE_DATA, m)
    # seq_files do not support pwrite()
    k.memory.write_u32(file + vfs.F_MODE, k.memory.read_u32(file + vfs.F_MODE) & ~vfs.FMODE_PWRITE)
    return 0


@service("int seq_release(struct inode *inode, struct file *file)")
def seq_release(k: Kernel, inode: int, file: int) -> int:
    """Free the seq_file and its buffer: 0."""
    m = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    buf = _seq(k, m)["buf"]
    if buf:
        release(k, buf)
    release(k, m)
    return 0


@service("void *__seq_open_private(struct file *f, const struct seq_operations *ops, int psize)")
def __seq_open_private(k: Kernel, f: int, ops: int, psize: int) -> int:
    """seq_open() with ``psize`` zeroed bytes as m->private: that private area, or NULL."""
    private = allocate(k, psize)
    if not private:
        return 0
    k.memory.write(private, bytes(psize))
    if seq_open(k, f, ops):
        release(k, private)
        return 0
    _seq(k, k.memory.read_u32(f + vfs.PRIVATE_DATA))["private"] = private
    return private


@service("int seq_open_private(struct file *filp, const struct seq_operations *ops, int psize)")
def seq_open_private(k: Kernel, filp: int, ops: int, psize: int) -> int:
    """__seq_open_private(): 0 or -ENOMEM."""
    return 0 if __seq_open_private(k, filp, ops, psize) else -ENOMEM


@service("int seq_release_private(struct inode *inode, struct file *file)")
def seq_release_private(k: Kernel, inode: int, file: int) -> int:
    """Free m->private, then seq_release()."""
    m = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    private = _seq(k, m)["private"]
    if private:
        release(k, private)
    return seq_release(k, inode, file)


@service("void *single_start(struct seq_file *p, loff_t *pos)")
def single_start(k: Kernel, p: int, pos: int) -> int:
    """The one record of single_open: SEQ_START_TOKEN at position 0, NULL after."""
    return 1 if _read_u64(k, pos) == 0 else 0


@service("void *single_next(struct seq_file *p, void *v, loff_t *pos)")
def single_next(k: Kernel, p: int, v: int, pos: int) -> int:
    """No second record: NULL, position + 1."""
    _write_u64(k, pos, _read_u64(k, pos) + 1)
    return 0


@service("void single_stop(struct seq_file *p, void *v)")
def single_stop(k: Kernel, p: int, v: int) -> None:
    """Nothing to release."""


@service("int single_open(struct file *file, int (*show)(struct seq_file *, void *), void *data)")
def single_open(k: Kernel, file: int, show: int, data: int) -> int:
    """A seq_file of one record printed by ``show``; m->private = ``data``: 0 or -ENOMEM."""
    op = allocate(k, size("seq_operations"))
    if not op:
        return -ENOMEM
    ops = Fields(k.memory, "seq_operations", op)
    ops["start"] = k.export_address("single_start") or 0
    ops["next"] = k.export_address("single_next") or 0
    ops["stop"] = k.export_address("single_stop") or 0
    ops["show"] = show
    result = seq_open(k, file, op)
    if result:
        release(k, op)
        return result
    _seq(k, k.memory.read_u32(file + vfs.PRIVATE_DATA))["private"] = data
    return 0


@service("int single_open_size(struct file *file, int (*show)(struct seq_file *, void *), void *data, "
         "size_t size)")
def single_open_size(k: Kernel, file: int, show: int, data: int, length: int) -> int:
    """single_open() with a first buffer of ``size`` bytes."""
    buf = allocate(k, length)
    if not buf:
        return -ENOMEM
    result = single_open(k, file, show, data)
    if result:
        release(k, buf)
        return result
    s = _seq(k, k.memory.read_u32(file + vfs.PRIVATE_DATA))
    s["buf"] = buf
    s["size"] = length
    return 0


@service("int single_release(struct inode *inode, struct file *file)")
def single_release(k: Kernel, inode: int, file: int) -> int:
    """seq_release() and free single_open's seq_operations."""
    m = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    op = _seq(k, m)["op"]
    result = seq_release(k, inode, file)
    release(k, op)
    return result


# -- iteration ------------------------------------------------------------------------------------
class _Iterator:
    """The guest's seq_operations of one seq_file, called as seq_file.c calls them."""

    def __init__(self, k: Kernel, m: int) -> None:
        self.k, self.m = k, m
        self.s = _seq(k, m)
        ops = Fields(k.memory, "seq_operations", self.s["op"])
        self.start_fn, self.next_fn, self.stop_fn, self.show_fn = ops["start"], ops["next"], ops["stop"], ops["show"]
        self.index_at = m + offset("seq_file", "index")

    def start(self) -> int:
        return self.k.call_function_pointer(self.start_fn, self.m, self.index_at)

    def next(self, p: int) -> int:
        return self.k.call_function_pointer(self.next_fn, self.m, p, self.index_at)

    def stop(self, p: int) -> None:
        self.k.call_function_pointer(self.stop_fn, self.m, p)

    def show(self, p: int) -> int:
        return _signed(self.k.call_function_pointer(self.show_fn, self.m, p))

    def overflowed(self) -> bool:
        return self.s["count"] == self.s["size"]

    def grow(self) -> bool:
        """kvfree the buffer and allocate one twice as big (a page at first)."""
        s = self.s
        if s["buf"]:
            release(self.k, s["buf"])
        new_size = s["size"] * 2 if s["size"] else PAGE_SIZE
        s["count"] = 0
        if new_size > MAX_SEQ_BUFFER:
            s["buf"], s["size"] = 0, 0
            return False
        s["buf"] = allocate(self.k, new_size)
        s["size"] = new_size
        return bool(s["buf"])

    def ensure_buffer(self) -> bool:
        if not self.s["buf"]:
            self.s["size"] = 0
            return self.grow()
        return True


def _traverse(it: _Iterator, target: int) -> int:
    """seq_file.c traverse(): run the iterator up to byte ``target``: 0, -EAGAIN (buffer grown) or an error."""
    s = it.s
    s["index"] = 0
    s["count"] = 0
    s["from"] = 0
    if not target:
        return 0
    if not it.ensure_buffer():
        return -ENOMEM
    pos, error = 0, 0
    p = it.start()
    for _ in range(MAX_RECORDS):
        if not p:
            break
        if p >= 0xFFFFF001:
            error = _signed(p)
            break
        error = it.show(p)
        if error < 0:
            break
        if error:
            error = 0
            s["count"] = 0
        if it.overflowed():
            it.stop(p)
            return -EAGAIN if it.grow() else -ENOMEM
        p = it.next(p)
        if pos + s["count"] > target:
            s["from"] = target - pos
            s["count"] = s["count"] - s["from"]
            break
        pos += s["count"]
        s["count"] = 0
        if pos == target:
            break
    it.stop(p)
    return error


def _to_user(k: Kernel, to: int, frm: int, count: int) -> int:
    """copy_to_iter of a user buffer: the bytes copied."""
    from .uaccess import copy_user

    return count - copy_user(k, to, frm, count, to_user=True) if count else 0


def read_iter(k: Kernel, m: int, buf: int, want: int, pos: int) -> tuple[int, int]:
    """seq_read_iter() for a read of ``want`` bytes at ``pos`` into user ``buf``: (result, new pos)."""
    if not want:
        return 0, pos
    it = _Iterator(k, m)
    s = it.s
    if pos == 0:
        s["index"] = 0
        s["count"] = 0
    if pos != s["read_pos"]:
        for _ in range(64):
            err = _traverse(it, pos)
            if err != -EAGAIN:
                break
        if err:
            s["read_pos"] = 0
            s["index"] = 0
            s["count"] = 0
            return err, pos
        s["read_pos"] = pos
    if not it.ensure_buffer():
        return -ENOMEM, pos
    copied, err = 0, 0
    if s["count"]:
        n = _to_user(k, buf, s["buf"] + s["from"], min(s["count"], want))
        s["count"] = s["count"] - n
        s["from"] = s["from"] + n
        copied += n
        if s["count"]:
            return _done(s, copied, err, pos)
    s["from"] = 0
    p = it.start()
    filled = False
    for _ in range(MAX_RECORDS):
        if _is_err_or_null(p):
            err = _signed(p) if p else 0
            break
        err = it.show(p)
        if err < 0:
            break
        if err:
            s["count"] = 0
        if not s["count"]:
            p = it.next(p)
            continue
        if not it.overflowed():
            filled = True
            break
        it.stop(p)
        if not it.grow():
            return -ENOMEM, pos
        p = it.start()
    if not filled:
        it.stop(p)
        s["count"] = 0
        return _done(s, copied, err, pos)
    room = want - copied
    for _ in range(MAX_RECORDS):
        offs, index = s["count"], s["index"]
        p = it.next(p)
        if index == s["index"]:
            k.console_write(f"buggy .next function {k.symbolizer.short(it.next_fn)} did not update position "
                            "index\n", 6)
            s["index"] = s["index"] + 1
        if _is_err_or_null(p):
            break
        if s["count"] >= room:
            break
        err = it.show(p)
        if err > 0:
            s["count"] = offs
        elif err or it.overflowed():
            s["count"] = offs
            break
    it.stop(p)
    n = _to_user(k, buf + copied, s["buf"], min(s["count"], room))
    copied += n
    s["count"] = s["count"] - n
    s["from"] = n
    return _done(s, copied, err, pos)


def _done(s: Fields, copied: int, err: int, pos: int) -> tuple[int, int]:
    if not copied:
        return (-EFAULT if s["count"] else err), pos
    s["read_pos"] = s["read_pos"] + copied
    return copied, pos + copied


@service("ssize_t seq_read(struct file *file, char *buf, size_t size, loff_t *ppos)")
def seq_read(k: Kernel, file: int, buf: int, length: int, ppos: int) -> int:
    """The ->read of a seq_file: records formatted on demand, copied to the user buffer."""
    m = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    pos = int.from_bytes(k.memory.read(ppos, 8), "little", signed=True)
    result, pos = read_iter(k, m, buf, length, pos)
    k.memory.write(ppos, pos.to_bytes(8, "little", signed=True))
    return result


@service("loff_t seq_lseek(struct file *file, loff_t offset, int whence)")
def seq_lseek(k: Kernel, file: int, where: int, whence: int) -> int:
    """SEEK_SET/SEEK_CUR by re-running the iterator up to the byte (traverse); else -EINVAL."""
    m = k.memory.read_u32(file + vfs.PRIVATE_DATA)
    it = _Iterator(k, m)
    s = it.s
    f_pos = int.from_bytes(k.memory.read(file + vfs.F_POS, 8), "little", signed=True)
    if whence == vfs.SEEK_CUR:
        where += f_pos
    elif whence != vfs.SEEK_SET:
        return -EINVAL
    if where < 0:
        return -EINVAL
    result = where
    if where != s["read_pos"]:
        for _ in range(64):
            result = _traverse(it, where)
            if result != -EAGAIN:
                break
        if result:
            k.memory.write(file + vfs.F_POS, bytes(8))
            s["read_pos"] = 0
            s["index"] = 0
            s["count"] = 0
            return result
        s["read_pos"] = where
    k.memory.write(file + vfs.F_POS, where.to_bytes(8, "little", signed=True))
    return where


# -- list helpers (seq_list_*, seq_hlist_*) ----------------------------------------------------------
@service("struct list_head *seq_list_start(struct list_head *head, loff_t pos)")
def seq_list_start(k: Kernel, head: int, pos: int) -> int:
    """The ``pos``-th entry of the list, or NULL."""
    node = k.memory.read_u32(head)
    for _ in range(min(pos, MAX_RECORDS)):
        if node == head:
            return 0
        node = k.memory.read_u32(node)
    return 0 if node == head else node


@service("struct list_head *seq_list_start_head(struct list_head *head, loff_t pos)")
def seq_list_start_head(k: Kernel, head: int, pos: int) -> int:
    """The head itself at 0 (a header line), else entry ``pos - 1``."""
    return head if not pos else seq_list_start(k, head, pos - 1)


@service("struct list_head *seq_list_next(void *v, struct list_head *head, loff_t *ppos)")
def seq_list_next(k: Kernel, v: int, head: int, ppos: int) -> int:
    """The entry after ``v`` (NULL at the end); position + 1."""
    _write_u64(k, ppos, _read_u64(k, ppos) + 1)
    node = k.memory.read_u32(v)
    return 0 if node == head else node


@service("struct hlist_node *seq_hlist_start_head(struct hlist_head *head, loff_t pos)")
def seq_hlist_start_head(k: Kernel, head: int, pos: int) -> int:
    """SEQ_START_TOKEN at 0, else hlist entry ``pos - 1``."""
    if not pos:
        return 1
    node = k.memory.read_u32(head)
    for _ in range(min(pos - 1, MAX_RECORDS)):
        if not node:
            return 0
        node = k.memory.read_u32(node)
    return node


@service("struct hlist_node *seq_hlist_next(void *v, struct hlist_head *head, loff_t *ppos)")
def seq_hlist_next(k: Kernel, v: int, head: int, ppos: int) -> int:
    """The hlist entry after ``v`` (after the head for SEQ_START_TOKEN); position + 1."""
    _write_u64(k, ppos, _read_u64(k, ppos) + 1)
    return k.memory.read_u32(head) if v == 1 else k.memory.read_u32(v)


# -- /proc and debugfs files from Python --------------------------------------------------------------
PROC_ROOT, DEBUGFS_ROOT = "/proc/", "/sys/kernel/debug/"


@dataclass
class ProcFiles:
    """The file_operations tables built for /proc entries (their proc_ops mapped), by entry."""

    tables: dict[int, int] = field(default_factory=dict)   # pde -> file_operations
    entries: dict[int, int] = field(default_factory=dict)  # file_operations -> pde

    def clone(self) -> ProcFiles:
        """A copy for snapshots."""
        return ProcFiles(dict(self.tables), dict(self.entries))


def _fops_for_proc(k: Kernel, pde: int, fields: dict[str, int]) -> int:
    """A file_operations for the entry: its proc_ops' functions in the fops slots
    (proc_reg_open and friends do no more), or proc_single_open / proc_seq_open's."""
    files = k.subsystem(ProcFiles)
    if pde in files.tables:
        return files.tables[pde]
    table = allocate(k, size("file_operations"), owner="kernel")
    k.memory.write(table, bytes(size("file_operations")))
    fops = Fields(k.memory, "file_operations", table)
    if fields.get("net"):  # proc_create_net_*: proc_net_seq_ops / proc_net_single_ops
        single = bool(fields.get("show"))
        fops["open"] = k.export_address("single_open_net" if single else "seq_open_net") or 0
        fops["read"] = k.export_address("seq_read") or 0
        fops["llseek"] = k.export_address("seq_lseek") or 0
        fops["release"] = k.export_address("single_release_net" if single else "seq_release_net") or 0
    elif fields.get("show") or fields.get("seq_ops"):
        fops["open"] = k.export_address("proc_single_open" if fields.get("show") else "proc_seq_open") or 0
        fops["read"] = k.export_address("seq_read") or 0
        fops["llseek"] = k.export_address("seq_lseek") or 0
        fops["release"] = k.export_address("single_release" if fields.get("show") else "seq_release_private") or 0
    elif fields.get("ops"):
        ops = Fields(k.memory, "proc_ops", fields["ops"])
        read = ops["proc_read"]
        for fop, pop in (("open", "proc_open"), ("write", "proc_write"), ("llseek", "proc_lseek"),
                         ("release", "proc_release"), ("poll", "proc_poll"), ("unlocked_ioctl", "proc_ioctl"),
                         ("mmap", "proc_mmap")):
            fops[fop] = ops[pop]
        fops["read"] = read
    files.tables[pde] = table
    files.entries[table] = pde
    return table


def _pde_of_file(k: Kernel, file: int) -> dict[str, int]:
    from .fs import ProcFs

    pde = k.subsystem(ProcFiles).entries.get(k.memory.read_u32(file + vfs.F_OP), 0)
    entry = k.subsystem(ProcFs).entries.get(pde)
    return entry.fields if entry is not None else {}


@service("int proc_single_open(struct inode *inode, struct file *file)")
def proc_single_open(k: Kernel, inode: int, file: int) -> int:
    """Open of a proc_create_single_data entry: single_open with its show and data."""
    fields = _pde_of_file(k, file)
    return single_open(k, file, fields.get("show", 0), fields.get("data", 0))


@service("int proc_seq_open(struct inode *inode, struct file *file)")
def proc_seq_open(k: Kernel, inode: int, file: int) -> int:
    """Open of a proc_create_seq_private entry: __seq_open_private with its ops and state size."""
    fields = _pde_of_file(k, file)
    if fields.get("state_size"):
        return 0 if __seq_open_private(k, file, fields["seq_ops"], fields["state_size"]) else -ENOMEM
    result = seq_open(k, file, fields.get("seq_ops", 0))
    if not result:
        _seq(k, k.memory.read_u32(file + vfs.PRIVATE_DATA))["private"] = fields.get("data", 0)
    return result


# -- /proc/net files (fs/proc/proc_net.c) ------------------------------------------------------------
# The namespace is init_net: a seq_net_private (struct net *net first) opens every per-net record's state.
SEQ_NET_PRIVATE_NET = 0


@service("struct proc_dir_entry *proc_create_net_data(const char *name, umode_t mode, struct proc_dir_entry *parent, "
         "const struct seq_operations *ops, unsigned int state_size, void *data)")
def proc_create_net_data(k: Kernel, name: int, mode: int, parent: int, ops: int, state_size: int, data: int) -> int:
    """A per-namespace /proc file iterated by ``ops``; its state starts with ``struct seq_net_private``."""
    from .fs import _proc_create

    return _proc_create(k, "proc file", name, parent, mode=mode, seq_ops=ops, state_size=state_size, data=data, net=1)


@service("struct proc_dir_entry *proc_create_net_single(const char *name, umode_t mode, "
         "struct proc_dir_entry *parent, int (*show)(struct seq_file *, void *), void *data)")
def proc_create_net_single(k: Kernel, name: int, mode: int, parent: int, show: int, data: int) -> int:
    """A per-namespace /proc file of one ``show``, whose ``m->private`` is the namespace (not ``data``)."""
    from .fs import _proc_create

    return _proc_create(k, "proc file", name, parent, mode=mode, show=show, data=data, net=1)


def _init_net(k: Kernel) -> int:
    from .net import Pernet

    return k.subsystem(Pernet).net(k)


@service("int seq_open_net(struct inode *inode, struct file *file)")
def seq_open_net(k: Kernel, inode: int, file: int) -> int:
    """Open of a proc_create_net_data file: its private state (``state_size`` bytes) with ``p->net`` set."""
    fields = _pde_of_file(k, file)
    state_size = fields.get("state_size", 0)
    if state_size < 4:  # WARN_ON_ONCE(state_size < sizeof(struct seq_net_private))
        k.warn(f"seq_open_net: state size {state_size} is smaller than struct seq_net_private")
    private = __seq_open_private(k, file, fields.get("seq_ops", 0), max(state_size, 4))
    if not private:
        return -ENOMEM
    k.memory.write_u32(private + SEQ_NET_PRIVATE_NET, _init_net(k))
    return 0


@service("int seq_release_net(struct inode *ino, struct file *f)")
def seq_release_net(k: Kernel, ino: int, f: int) -> int:
    """Release of a proc_create_net_data file: put the namespace, free the state."""
    return seq_release_private(k, ino, f)


@service("int single_open_net(struct inode *inode, struct file *file)")
def single_open_net(k: Kernel, inode: int, file: int) -> int:
    """Open of a proc_create_net_single file: single_open with the namespace as data."""
    return single_open(k, file, _pde_of_file(k, file).get("show", 0), _init_net(k))


@service("int single_release_net(struct inode *ino, struct file *f)")
def single_release_net(k: Kernel, ino: int, f: int) -> int:
    """Release of a proc_create_net_single file."""
    return single_release(k, ino, f)


def find_file(k: Kernel, path: str) -> DeviceNode | None:
    """The node for a /proc or debugfs file a module created, or None."""
    from .devnodes import LINUX_FILES
    from .fs import DebugFs, ProcFs

    if path.startswith(PROC_ROOT):
        entry = k.subsystem(ProcFs).lookup(path[len(PROC_ROOT):])
        if entry is None or entry.kind != "proc file":
            return None
        fops = _fops_for_proc(k, entry.address, entry.fields)
    elif path.startswith(DEBUGFS_ROOT):
        entry = k.subsystem(DebugFs).lookup(path[len(DEBUGFS_ROOT):])
        if entry is None or not entry.fields.get("fops"):
            return None
        fops = entry.fields["fops"]
    else:
        return None
    return DeviceNode(path, entry.owner, 0, "linux", backend=LINUX_FILES,
                      extra={"dev": 0, "fops": fops, "i_private": entry.fields.get("data", 0), "regular": 1})
