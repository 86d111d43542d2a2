"""Flip buffers (drivers/tty/tty_buffer.c), Linux 6.1 i386: how received bytes reach the line discipline.

Each ``struct tty_port`` has a ``struct tty_bufhead`` (``port->buf``): a
chain of ``struct tty_buffer`` in guest memory from ``head`` (the next one
the ldisc reads) to ``tail`` (the one drivers fill), starting at the
bufhead's own zero-sized ``sentinel``. A buffer of ``size`` bytes holds
characters at ``data`` and, when its ``flags`` is set, one flag byte per
character after them; a buffer without flags uses both halves for
characters. Drivers fill buffers through the services here, and inline too
(``tty_insert_flip_char`` writes ``tail->data[tail->used++]`` itself when
there is room), so the layout is Linux's to the byte.

``tty_flip_buffer_push`` commits the tail (``commit = used``) and queues
``buf.work`` on ``system_unbound_wq``, whose function is
:func:`flush_to_ldisc`: it hands each committed run to the port's
``client_ops->receive_buf`` (by default the tty's line discipline, see
``tty_port.py``) and frees buffers once read, as Linux does. The work runs
when a kworker would (see ``workqueue.py``), and a reader that finds
nothing runs it first (``tty_files.py``), as a reader woken by it would.

Buffers up to 256 bytes are recycled on the bufhead's ``free`` list; at
most ``mem_limit`` (640 KiB) may be outstanding, beyond which inserts take
fewer bytes, as on Linux.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from ..memory import allocate, release
from . import workqueue
from .layout import Fields, offset, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

TTY_NORMAL = 0
MIN_TTYB_SIZE = 256
TTYB_ALIGN_MASK = 255
TTYB_DEFAULT_MEM_LIMIT = 640 * 1024
BUFFER_HEADER = size("tty_buffer")  # 28: data[] follows
TTY_BUFFER_PAGE = ((4096 - BUFFER_HEADER) // 2) & ~0xFF
PORT_BUF = offset("tty_port", "buf")
BUF_SENTINEL = offset("tty_bufhead", "sentinel")
BUF_WORK = offset("tty_bufhead", "work")
MAX_CHAIN = 100_000  # buffers one flush may walk: a longer chain is a corrupt one


def _head(k: Kernel, port: int) -> Fields:
    return Fields(k.memory, "tty_bufhead", port + PORT_BUF)


def _buffer(k: Kernel, address: int) -> Fields:
    return Fields(k.memory, "tty_buffer", address)


def reset_buffer(k: Kernel, address: int, nbytes: int) -> None:
    """tty_buffer_reset(): empty, ``nbytes`` long, with a flag half."""
    b = _buffer(k, address)
    b["used"], b["size"], b["next"], b["commit"], b["lookahead"], b["read"], b["flags"] = 0, nbytes, 0, 0, 0, 0, 1


def init_buffers(k: Kernel, port: int) -> None:
    """tty_buffer_init(): head and tail at the sentinel, nothing free or used, the flush work set up."""
    head = _head(k, port)
    sentinel = head.address_of("sentinel")
    reset_buffer(k, sentinel, 0)
    head["head"], head["tail"], head["free"], head["mem_used"], head["priority"] = sentinel, sentinel, 0, 0, 0
    head["mem_limit"] = TTYB_DEFAULT_MEM_LIMIT
    work = head.address_of("work")
    k.memory.write(work, bytes(size("work_struct")))
    k.memory.write_u32(work + offset("work_struct", "entry"), work + offset("work_struct", "entry"))
    k.memory.write_u32(work + offset("work_struct", "entry") + 4, work + offset("work_struct", "entry"))
    k.memory.write_u32(work + offset("work_struct", "func"), k.export_address("__sandbox_flush_to_ldisc") or 0)
    mutex = head.address_of("lock")
    k.memory.write(mutex, bytes(12) + (mutex + 12).to_bytes(4, "little") * 2)


def _alloc(k: Kernel, port: int, wanted: int) -> int:
    """tty_buffer_alloc(): a buffer of at least ``wanted`` bytes (rounded to 256), 0 over the limit."""
    head = _head(k, port)
    nbytes = (wanted + TTYB_ALIGN_MASK) & ~TTYB_ALIGN_MASK
    address = 0
    if nbytes <= MIN_TTYB_SIZE and head["free"]:  # llist_del_first: the free list is LIFO
        node = head["free"]
        head["free"] = k.memory.read_u32(node)
        address = node - offset("tty_buffer", "free")
    if not address:
        if signed32(head["mem_used"]) > head["mem_limit"]:
            return 0
        address = allocate(k, BUFFER_HEADER + 2 * nbytes, owner="kernel")
        if not address:
            return 0
    reset_buffer(k, address, nbytes)
    head["mem_used"] = head["mem_used"] + nbytes
    return address


def _free(k: Kernel, port: int, address: int) -> None:
    """tty_buffer_free(): small buffers go back on the free list, big ones to the heap."""
    head = _head(k, port)
    nbytes = _buffer(k, address)["size"]
    head["mem_used"] = max(0, signed32(head["mem_used"]) - nbytes)
    if nbytes > MIN_TTYB_SIZE:
        release(k, address)
    elif nbytes > 0:
        k.memory.write_u32(address + offset("tty_buffer", "free"), head["free"])
        head["free"] = address + offset("tty_buffer", "free")


def free_all(k: Kernel, port: int) -> None:
    """tty_buffer_free_all(): every buffer of the chain and of the free list back to the heap."""
    head = _head(k, port)
    sentinel = head.address_of("sentinel")
    address = head["head"]
    for _ in range(MAX_CHAIN):
        if not address:
            break
        following = _buffer(k, address)["next"]
        if address != sentinel:
            release(k, address)
        address = following
    node = head["free"]
    for _ in range(MAX_CHAIN):
        if not node:
            break
        following = k.memory.read_u32(node)
        release(k, node - offset("tty_buffer", "free"))
        node = following
    reset_buffer(k, sentinel, 0)
    head["head"], head["tail"], head["free"], head["mem_used"] = sentinel, sentinel, 0, 0


def request_room(k: Kernel, port: int, wanted: int, flags: bool) -> int:
    """__tty_buffer_request_room(): room for up to ``wanted`` bytes at the tail (a new tail if needed)."""
    head = _head(k, port)
    tail = _buffer(k, head["tail"])
    left = tail["size"] - tail["used"] if tail["flags"] else 2 * tail["size"] - tail["used"]
    change = not tail["flags"] and flags
    if change or left < wanted:
        fresh = _alloc(k, port, wanted)
        if fresh:
            _buffer(k, fresh)["flags"] = int(flags)
            head["tail"] = fresh
            tail["commit"] = tail["used"]
            tail["next"] = fresh
        elif change:
            wanted = 0
        else:
            wanted = left
    return wanted


def insert(k: Kernel, port: int, chars: bytes, flags: bytes | int) -> int:
    """Append ``chars`` with one flag each (``flags`` a byte per char, or one for all): bytes taken."""
    copied = 0
    uniform = isinstance(flags, int)
    while copied < len(chars):
        goal = min(len(chars) - copied, TTY_BUFFER_PAGE)
        want_flags = (flags != TTY_NORMAL) if uniform else True
        space = request_room(k, port, goal, bool(want_flags))
        if space == 0:
            break
        tail = _buffer(k, _head(k, port)["tail"])
        used, data = tail["used"], tail.address + BUFFER_HEADER
        k.memory.write(data + used, chars[copied:copied + space])
        if tail["flags"]:
            flag_bytes = bytes([flags]) * space if uniform else flags[copied:copied + space]  # type: ignore[index]
            k.memory.write(data + tail["size"] + used, flag_bytes)
        tail["used"] = used + space
        copied += space
    return copied


def push(k: Kernel, port: int) -> None:
    """tty_flip_buffer_push(): commit the tail and queue the flush."""
    head = _head(k, port)
    tail = _buffer(k, head["tail"])
    tail["commit"] = tail["used"]
    queue = k.memory.read_u32(k.export_address("system_unbound_wq") or 0)
    workqueue.queue_work_on(k, 0, queue, head.address_of("work"))


def pending(k: Kernel, port: int) -> int:
    """Committed bytes the ldisc has not taken yet."""
    head = _head(k, port)
    address, total = head["head"], 0
    for _ in range(MAX_CHAIN):
        if not address:
            break
        b = _buffer(k, address)
        total += b["commit"] - b["read"]
        address = b["next"]
    return total


def flush(k: Kernel, port: int) -> int:
    """flush_to_ldisc(): hand committed data to ``client_ops->receive_buf`` until it takes no more.
    Returns the bytes taken."""
    from .tty_port import receive

    head = _head(k, port)
    taken = 0
    for _ in range(MAX_CHAIN):
        if signed32(head["priority"]):  # the ldisc or a flush wants the buffers to itself
            break
        current = _buffer(k, head["head"])
        following = current["next"]
        count = current["commit"] - current["read"]
        if count <= 0:
            if not following:
                break
            head["head"] = following
            _free(k, port, current.address)
            continue
        data = current.address + BUFFER_HEADER + current["read"]
        flag_address = data + current["size"] if current["flags"] else 0
        received = receive(k, port, data, flag_address, count)
        if received > 0:
            k.memory.write(data, bytes(received))
            current["read"] = current["read"] + received
            taken += received
        if received <= 0:
            break
    return taken


def discard(k: Kernel, port: int) -> None:
    """tty_buffer_flush() without the ldisc's part: drop what was received and not yet read."""
    head = _head(k, port)
    head["priority"] = head["priority"] + 1
    for _ in range(MAX_CHAIN):
        following = _buffer(k, head["head"])["next"]
        if not following:
            break
        _free(k, port, head["head"])  # the sentinel (size 0) is neither freed nor listed
        head["head"] = following
    current = _buffer(k, head["head"])
    current["read"] = current["commit"]
    current["lookahead"] = current["read"]
    head["priority"] = head["priority"] - 1


# -- services -------------------------------------------------------------------------
@service("void __sandbox_flush_to_ldisc(struct work_struct *work)")
def __sandbox_flush_to_ldisc(k: Kernel, work: int) -> None:
    """The work function of ``port->buf.work`` (flush_to_ldisc is static in Linux)."""
    flush(k, work - BUF_WORK - PORT_BUF)


@service("int tty_buffer_request_room(struct tty_port *port, size_t size)")
def tty_buffer_request_room(k: Kernel, port: int, nbytes: int) -> int:
    """Make room for ``size`` flagged bytes: how many fit."""
    return request_room(k, port, nbytes, True)


@service("int tty_insert_flip_string_fixed_flag(struct tty_port *port, const unsigned char *chars, char flag, "
         "size_t size)")
def tty_insert_flip_string_fixed_flag(k: Kernel, port: int, chars: int, flag: int, nbytes: int) -> int:
    """Queue ``size`` received bytes, all with ``flag``: bytes queued."""
    return insert(k, port, k.memory.read(chars, nbytes), flag & 0xFF) if nbytes else 0


@service("int tty_insert_flip_string_flags(struct tty_port *port, const unsigned char *chars, const char *flags, "
         "size_t size)")
def tty_insert_flip_string_flags(k: Kernel, port: int, chars: int, flags: int, nbytes: int) -> int:
    """Queue ``size`` received bytes, each with its own flag: bytes queued."""
    if not nbytes:
        return 0
    return insert(k, port, k.memory.read(chars, nbytes), k.memory.read(flags, nbytes))


@service("int __tty_insert_flip_char(struct tty_port *port, unsigned char ch, char flag)")
def __tty_insert_flip_char(k: Kernel, port: int, ch: int, flag: int) -> int:
    """The slow path of the inline tty_insert_flip_char (a new buffer, or flags where there were none)."""
    return insert(k, port, bytes([ch & 0xFF]), flag & 0xFF)


@service("int tty_prepare_flip_string(struct tty_port *port, unsigned char **chars, size_t size)")
def tty_prepare_flip_string(k: Kernel, port: int, chars: int, nbytes: int) -> int:
    """Reserve up to ``size`` unflagged bytes for the driver to fill: their address to ``*chars``."""
    space = request_room(k, port, nbytes, False)
    if space:
        tail = _buffer(k, _head(k, port)["tail"])
        k.memory.write_u32(chars, tail.address + BUFFER_HEADER + tail["used"])
        tail["used"] = tail["used"] + space
    return space


@service("void tty_flip_buffer_push(struct tty_port *port)")
def tty_flip_buffer_push(k: Kernel, port: int) -> None:
    """Commit what was inserted and let the ldisc have it (queued work)."""
    push(k, port)


@service("int tty_buffer_space_avail(struct tty_port *port)")
def tty_buffer_space_avail(k: Kernel, port: int) -> int:
    """How many more bytes the port may buffer before inserts fall short."""
    head = _head(k, port)
    return max(0, head["mem_limit"] - signed32(head["mem_used"]))


@service("int tty_buffer_set_limit(struct tty_port *port, int limit)")
def tty_buffer_set_limit(k: Kernel, port: int, limit: int) -> int:
    """Change how many bytes may be outstanding: -EINVAL below 256."""
    if signed32(limit) < MIN_TTYB_SIZE:
        return -22
    _head(k, port)["mem_limit"] = limit
    return 0
