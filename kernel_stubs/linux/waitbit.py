"""kernel/sched/wait_bit.c as Linux 6.1 exports it: waiting on a bit or a variable.

``wait_var_event(var, cond)`` is inline: ``__var_waitqueue(var)`` gives a
shared wait queue head, ``init_wait_var_entry`` an entry keyed by the
variable (``struct wait_bit_queue_entry``: key {flags = the address,
bit_nr = -1}, then the wait_queue_entry), and the guest loops on
``prepare_to_wait_event``/``schedule`` as any wait does; ``wake_up_var(var)``
wakes the entries of that key only (``var_wake_function``). Bits work the
same way (``wake_up_bit``, ``wake_bit_function``, ``out_of_line_wait_on_bit``
with ``bit_wait`` actions). The heads form a table of 256 shared by all
keys, as Linux's ``bit_wait_table`` (which head a key hashes to is not
something modules see).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

from .layout import Fields, offset, size
from .waits import (
    TASK_NORMAL,
    autoremove_wake_function,
    current,
    finish_wait,
    prepare_to_wait,
    schedule_then,
    schedule_timeout_then,
    sleep_until,
    waiter,
    wake_up_common,
)

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

TABLE_SIZE = 256
EAGAIN, EINTR = 11, 4
KEY_FLAGS, KEY_BIT = offset("wait_bit_key", "flags"), offset("wait_bit_key", "bit_nr")
WBQ_ENTRY = offset("wait_bit_queue_entry", "wq_entry")
MAX_ACTIONS = 1_000_000


@dataclass
class BitWaitTable:
    """The 256 shared wait queue heads, allocated on first use."""

    heads: int = 0
    key_scratch: int = 0
    keys: list[int] = field(default_factory=list)

    def clone(self) -> BitWaitTable:
        """A copy for snapshots (the heads live in guest memory)."""
        return BitWaitTable(self.heads, self.key_scratch)


def _table(k: Kernel) -> int:
    from .waits import __init_waitqueue_head

    state = k.subsystem(BitWaitTable)
    if not state.heads:
        head_size = size("wait_queue_head")
        state.heads = allocate(k, head_size * TABLE_SIZE, owner="kernel")
        for i in range(TABLE_SIZE):
            __init_waitqueue_head(k, state.heads + head_size * i, 0, 0)
        state.key_scratch = allocate(k, size("wait_bit_key"), owner="kernel")
    return state.heads


def _head(k: Kernel, word: int, bit: int) -> int:
    index = ((word >> 2) * 0x9E3779B1 + (bit & 0xFF)) & 0xFFFFFFFF
    return _table(k) + size("wait_queue_head") * (index >> 24)


@service("wait_queue_head_t *bit_waitqueue(void *word, int bit)")
def bit_waitqueue(k: Kernel, word: int, bit: int) -> int:
    """The shared wait queue head for bit ``bit`` of ``word``."""
    return _head(k, word, bit)


@service("wait_queue_head_t *__var_waitqueue(void *p)")
def __var_waitqueue(k: Kernel, p: int) -> int:
    """The shared wait queue head for waits on the variable at ``p``."""
    return _head(k, p, -1)


@service("void init_wait_var_entry(struct wait_bit_queue_entry *wbq_entry, void *var, int flags)")
def init_wait_var_entry(k: Kernel, wbq_entry: int, var: int, flags: int) -> None:
    """An entry for the current task keyed by ``var``, woken by var_wake_function."""
    entry = Fields(k.memory, "wait_bit_queue_entry", wbq_entry)
    entry["key.flags"] = var
    entry["key.bit_nr"] = -1
    entry["wq_entry.flags"] = flags
    entry["wq_entry.private"] = current(k)
    entry["wq_entry.func"] = k.export_address("var_wake_function") or 0
    node = entry.address_of("wq_entry.entry")
    k.memory.write_u32(node, node)
    k.memory.write_u32(node + 4, node)


def _key_matches(k: Kernel, wq_entry: int, key: int) -> bool:
    wbq = wq_entry - WBQ_ENTRY
    return (k.memory.read_u32(wbq + KEY_FLAGS) == k.memory.read_u32(key + KEY_FLAGS)
            and k.memory.read_u32(wbq + KEY_BIT) == k.memory.read_u32(key + KEY_BIT))


@service("int var_wake_function(struct wait_queue_entry *wq_entry, unsigned int mode, int sync, void *arg)")
def var_wake_function(k: Kernel, wq_entry: int, mode: int, sync: int, arg: int) -> int:
    """Wake the entry if it waits on the key's variable (autoremove), else leave it: 1 or 0."""
    if not _key_matches(k, wq_entry, arg):
        return 0
    return autoremove_wake_function(k, wq_entry, mode, sync, arg)


def _test_bit(k: Kernel, word: int, bit: int) -> bool:
    return bool(k.memory.read_u32(word + 4 * (bit // 32)) >> (bit % 32) & 1)


@service("int wake_bit_function(struct wait_queue_entry *wq_entry, unsigned int mode, int sync, void *arg)")
def wake_bit_function(k: Kernel, wq_entry: int, mode: int, sync: int, arg: int) -> int:
    """Wake the entry if it waits on the key's bit and the bit is now clear: 1 or 0."""
    if not _key_matches(k, wq_entry, arg):
        return 0
    word, bit = k.memory.read_u32(arg + KEY_FLAGS), k.memory.read_u32(arg + KEY_BIT)
    bit = bit - (1 << 32) if bit >> 31 else bit
    if bit >= 0 and _test_bit(k, word, bit):
        return 0
    return autoremove_wake_function(k, wq_entry, mode, sync, arg)


@service("void __wake_up_bit(struct wait_queue_head *wq_head, void *word, int bit)")
def __wake_up_bit(k: Kernel, wq_head: int, word: int, bit: int) -> None:
    """Wake one waiter (and every non-exclusive one) of the key (word, bit) on ``wq_head``."""
    head = wq_head + offset("wait_queue_head", "head")
    if k.memory.read_u32(head) == head:  # waitqueue_active(): nobody waits
        return
    _table(k)
    key = k.subsystem(BitWaitTable).key_scratch
    k.memory.write_u32(key + KEY_FLAGS, word)
    k.memory.write_u32(key + KEY_BIT, bit & 0xFFFFFFFF)
    wake_up_common(k, wq_head, TASK_NORMAL, 1, 0, key)


@service("void wake_up_bit(void *word, int bit)")
def wake_up_bit(k: Kernel, word: int, bit: int) -> None:
    """Wake the waiters of bit ``bit`` of ``word`` (after the caller cleared it)."""
    __wake_up_bit(k, _head(k, word, bit), word, bit)


@service("void wake_up_var(void *var)")
def wake_up_var(k: Kernel, var: int) -> None:
    """Wake the wait_var_event() waiters of ``var`` (after the caller changed it)."""
    __wake_up_bit(k, _head(k, var, -1), var, -1)


@service("int bit_wait(struct wait_bit_key *word, int mode)")
def bit_wait(k: Kernel, word: int, mode: int) -> int:
    """The default wait_on_bit action: schedule(); 0 (no signal arrives here)."""
    return schedule_then(k, lambda _: 0)


@service("int bit_wait_io(struct wait_bit_key *word, int mode)")
def bit_wait_io(k: Kernel, word: int, mode: int) -> int:
    """bit_wait() counted as I/O wait: schedule(); 0."""
    return schedule_then(k, lambda _: 0)


@service("int bit_wait_timeout(struct wait_bit_key *word, int mode)")
def bit_wait_timeout(k: Kernel, word: int, mode: int) -> int:
    """Sleep until the key's timeout (jiffies): -EAGAIN once it has passed, else 0."""
    timeout = k.memory.read_u32(word + offset("wait_bit_key", "timeout"))
    now = k.jiffies & 0xFFFFFFFF
    if not ((now - timeout) & 0xFFFFFFFF) >> 31:  # time_after_eq(jiffies, timeout)
        return -EAGAIN
    return schedule_timeout_then(k, (timeout - now) & 0xFFFFFFFF, lambda _: 0)


def _wait_on_bit(k: Kernel, word: int, bit: int, action: int, mode: int, lock: bool) -> int:
    """__wait_on_bit(_lock)(): sleep while the bit is set (our bit_wait actions as one sleep; a
    module's own action called per round, as Linux's loop); with ``lock`` then set the bit."""
    if not _test_bit(k, word, bit):
        if lock:
            _set_bit(k, word, bit)
        return 0
    ours = {k.export_address("bit_wait"), k.export_address("bit_wait_io")}
    if action in ours:
        def done(_: int) -> int:
            if lock:
                _set_bit(k, word, bit)
            return 0

        return sleep_until(k, lambda: not _test_bit(k, word, bit), None,
                           lambda: f"wait_on_bit({k.symbolizer.short(word)}, {bit}) from {waiter(k)}", then=done)
    wq_head = _head(k, word, bit)
    entry = allocate(k, size("wait_bit_queue_entry"))
    try:
        e = Fields(k.memory, "wait_bit_queue_entry", entry)
        e["key.flags"], e["key.bit_nr"] = word, bit
        e["wq_entry.private"] = current(k)
        e["wq_entry.func"] = k.export_address("wake_bit_function") or 0
        node = e.address_of("wq_entry.entry")
        k.memory.write_u32(node, node)
        k.memory.write_u32(node + 4, node)
        ret = 0
        for _ in range(MAX_ACTIONS):
            prepare_to_wait(k, wq_head, entry + WBQ_ENTRY, mode)
            if _test_bit(k, word, bit):
                ret = k.call_function_pointer(action, entry, mode)
                ret = ret - (1 << 32) if ret >> 31 else ret
            if not _test_bit(k, word, bit) or ret:
                break
        finish_wait(k, wq_head, entry + WBQ_ENTRY)
        if lock and not ret:
            _set_bit(k, word, bit)
        return ret
    finally:
        release(k, entry)


def _set_bit(k: Kernel, word: int, bit: int) -> None:
    where = word + 4 * (bit // 32)
    k.memory.write_u32(where, k.memory.read_u32(where) | 1 << (bit % 32))


@service("int out_of_line_wait_on_bit(void *word, int bit, wait_bit_action_f *action, unsigned int mode)")
def out_of_line_wait_on_bit(k: Kernel, word: int, bit: int, action: int, mode: int) -> int:
    """wait_on_bit(): sleep until bit ``bit`` of ``word`` is clear; the action's error, or 0."""
    return _wait_on_bit(k, word, bit, action, mode, lock=False)


@service("int out_of_line_wait_on_bit_lock(void *word, int bit, wait_bit_action_f *action, unsigned int mode)")
def out_of_line_wait_on_bit_lock(k: Kernel, word: int, bit: int, action: int, mode: int) -> int:
    """wait_on_bit_lock(): wait until the bit is clear, then set it (taking the 'lock'): 0."""
    return _wait_on_bit(k, word, bit, action, mode, lock=True)


@service("int out_of_line_wait_on_bit_timeout(void *word, int bit, wait_bit_action_f *action, unsigned int mode, "
         "unsigned long timeout)")
def out_of_line_wait_on_bit_timeout(k: Kernel, word: int, bit: int, action: int, mode: int, timeout: int) -> int:
    """wait_on_bit_timeout(): as wait_on_bit for at most ``timeout`` jiffies: 0, or -EAGAIN."""
    if not _test_bit(k, word, bit):
        return 0
    return sleep_until(k, lambda: not _test_bit(k, word, bit), timeout,
                       lambda: f"wait_on_bit_timeout({k.symbolizer.short(word)}, {bit}) from {waiter(k)}",
                       then=lambda left: 0 if left else -EAGAIN)
