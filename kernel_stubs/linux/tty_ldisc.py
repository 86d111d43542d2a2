"""Line disciplines (drivers/tty/tty_ldisc.c), Linux 6.1 i386: the table, and each tty's attached one.

``tty_register_ldisc(ops)`` puts a module's ``struct tty_ldisc_ops`` in
the table under ``ops->num`` (0..NR_LDISCS-1, replacing what was there, as
6.1 does; -EINVAL otherwise); ``tty_unregister_ldisc`` empties the slot.
N_TTY (number 0) is the kernel's own, written in Python (``n_tty.py``);
every new tty gets it. A tty's ldisc is a ``struct tty_ldisc`` (``ops``,
``tty``) at ``tty->ldisc``; ``tty_ldisc_ref``/``tty_ldisc_deref`` hand it
out and count the references (a change of discipline waits for none to be
held: here, with one task, one still held is -EBUSY, where Linux would
time out after 5 seconds and say the same).

TIOCSETD (``set_ldisc``) closes the old discipline, sets ``c_line``, opens
the new one (its ``open(tty)``; on failure the old one is opened again)
and tells the driver (``ops->set_ldisc``). Hangup flushes the discipline,
calls its ``hangup`` and drops it (``tty->ldisc`` NULL); the last close
closes it. A guest discipline's functions are called in the guest; N_TTY's
in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from ..memory import allocate, release
from . import n_tty
from . import tty as core
from .layout import Fields, offset, size
from .registrations import EINVAL, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

N_TTY = 0
NR_LDISCS = 31  # N_CAN327 (30) is the last in 6.1
LDISC_SIZE = size("tty_ldisc")
TTY_LDISC = offset("tty_struct", "ldisc")
EBUSY, EIO = 16, 5


class LineDisciplines(Registry):
    """Disciplines modules registered ("tty ldisc", by ops) and each tty's N_TTY state."""

    def __init__(self) -> None:
        super().__init__()
        self.n_tty: dict[int, n_tty.NTtyData] = {}

    def clone(self) -> LineDisciplines:
        import copy

        twin = super().clone()
        twin.n_tty = copy.deepcopy(self.n_tty)
        return twin

    def ops_for(self, k: Kernel, num: int) -> int:
        """The ops registered for ``num`` (N_TTY's own for 0 unless a module replaced it), or 0."""
        for entry in reversed(list(self.entries.values())):
            if entry.fields["num"] == num:
                return entry.address
        return (k.export_address("n_tty_ops") or 0) if num == N_TTY else 0


def _is_n_tty(k: Kernel, ops: int) -> bool:
    return ops == k.export_address("n_tty_ops")


@service("int tty_register_ldisc(struct tty_ldisc_ops *new_ldisc)")
def tty_register_ldisc(k: Kernel, new_ldisc: int) -> int:
    """Install a discipline under its number (replacing any): 0, or -EINVAL for a number out of range."""
    num = signed32(Fields(k.memory, "tty_ldisc_ops", new_ldisc)["num"])
    if not 0 <= num < NR_LDISCS:
        return -EINVAL
    registry = k.subsystem(LineDisciplines)
    for entry in registry.of_kind("tty ldisc"):
        if entry.fields["num"] == num:
            del registry.entries[entry.address]
    name = guest_string(k, Fields(k.memory, "tty_ldisc_ops", new_ldisc)["name"], 64)
    registry.add(k, "tty ldisc", new_ldisc, name, num=num)
    return 0


@service("void tty_unregister_ldisc(struct tty_ldisc_ops *ldisc)")
def tty_unregister_ldisc(k: Kernel, ldisc: int) -> None:
    """Empty the discipline's slot."""
    k.subsystem(LineDisciplines).remove(k, ldisc, "tty ldisc")


def ldisc_of(k: Kernel, tty: int) -> int:
    """tty->ldisc (0 if none)."""
    return k.memory.read_u32(tty + TTY_LDISC)


def ops_of(k: Kernel, tty: int) -> int:
    """tty->ldisc->ops (0 if no ldisc)."""
    ld = ldisc_of(k, tty)
    return k.memory.read_u32(ld) if ld else 0


def ldisc_op(k: Kernel, tty: int, name: str) -> int:
    """tty->ldisc->ops->``name`` (0 if none)."""
    ops = ops_of(k, tty)
    return Fields(k.memory, "tty_ldisc_ops", ops)[name] if ops else 0


def _get(k: Kernel, tty: int, num: int) -> int:
    """tty_ldisc_get(): a struct tty_ldisc for discipline ``num``, or -EINVAL if none is registered."""
    if not 0 <= num < NR_LDISCS:
        return -EINVAL
    ops = k.subsystem(LineDisciplines).ops_for(k, num)
    if not ops:
        return -EINVAL
    ld = allocate(k, LDISC_SIZE, owner="kernel")
    if not ld:
        return -12
    k.memory.write_u32(ld, ops)
    k.memory.write_u32(ld + 4, tty)
    return ld


def attach_initial_ldisc(k: Kernel, tty: int) -> bool:
    """tty_ldisc_init(): N_TTY at tty->ldisc (not open yet)."""
    ld = _get(k, tty, N_TTY)
    if ld < 0:
        return False
    k.memory.write_u32(tty + TTY_LDISC, ld)
    return True


def _open(k: Kernel, tty: int) -> int:
    """tty_ldisc_open(): TTY_LDISC_OPEN set, the discipline's open(tty) run; 0 or its error."""
    core.set_tty_flag(k, tty, core.TTY_LDISC_OPEN)
    ops = ops_of(k, tty)
    if _is_n_tty(k, ops):
        n_tty.open_n_tty(k, tty)
        n_tty.set_termios_n_tty(k, tty, None)
        return 0
    function = Fields(k.memory, "tty_ldisc_ops", ops)["open"]
    result = signed32(k.call_function_pointer(function, tty)) if function else 0
    if result:
        core.set_tty_flag(k, tty, core.TTY_LDISC_OPEN, False)
    return result


def _close(k: Kernel, tty: int) -> None:
    """tty_ldisc_close(): TTY_LDISC_OPEN cleared, the discipline's close(tty) run."""
    core.set_tty_flag(k, tty, core.TTY_LDISC_OPEN, False)
    ops = ops_of(k, tty)
    if _is_n_tty(k, ops):
        n_tty.close_n_tty(k, tty)
        return
    function = Fields(k.memory, "tty_ldisc_ops", ops)["close"] if ops else 0
    if function:
        k.call_function_pointer(function, tty)


def open_ldisc(k: Kernel, tty: int) -> int:
    """tty_ldisc_setup(): open the tty's discipline at first open."""
    return _open(k, tty) if ldisc_of(k, tty) else 0


def _kill(k: Kernel, tty: int) -> None:
    """tty_ldisc_kill(): close and free the discipline; tty->ldisc NULL."""
    ld = ldisc_of(k, tty)
    if not ld:
        return
    if core.tty_flag(k, tty, core.TTY_LDISC_OPEN):
        _close(k, tty)
    release(k, ld)
    k.memory.write_u32(tty + TTY_LDISC, 0)


def release_ldisc(k: Kernel, tty: int) -> None:
    """tty_ldisc_release() at the last close."""
    _kill(k, tty)


def flush_ldisc(k: Kernel, tty: int) -> None:
    """The discipline's flush_buffer (N_TTY: its read buffer)."""
    ops = ops_of(k, tty)
    if _is_n_tty(k, ops):
        n_tty.flush_n_tty(k, tty)
    elif ops and Fields(k.memory, "tty_ldisc_ops", ops)["flush_buffer"]:
        k.call_function_pointer(Fields(k.memory, "tty_ldisc_ops", ops)["flush_buffer"], tty)


def hangup_ldisc(k: Kernel, tty: int) -> None:
    """tty_ldisc_hangup(): flush discipline and driver, the discipline's write_wakeup and hangup,
    readers and writers woken, the discipline dropped."""
    from . import waits

    if ldisc_of(k, tty):
        flush_ldisc(k, tty)
        core.tty_driver_flush_buffer(k, tty)
        if core.tty_flag(k, tty, core.TTY_DO_WRITE_WAKEUP) and ldisc_op(k, tty, "write_wakeup"):
            k.call_function_pointer(ldisc_op(k, tty, "write_wakeup"), tty)
        if ldisc_op(k, tty, "hangup"):
            k.call_function_pointer(ldisc_op(k, tty, "hangup"), tty)
    waits.wake_up_common(k, tty + offset("tty_struct", "write_wait"), 1, 1, 0, 0x4)
    waits.wake_up_common(k, tty + offset("tty_struct", "read_wait"), 1, 1, 0, 0x1)
    _kill(k, tty)


def set_ldisc(k: Kernel, tty: int, num: int) -> int:
    """tty_set_ldisc(): switch the tty to discipline ``num``; 0 or -errno (-EINVAL for an unknown one)."""
    if k.subsystem(core.TtyCore).ldisc_refs.get(tty):
        return -EBUSY
    old = ldisc_of(k, tty)
    if not old:
        return -EIO
    old_ops = k.memory.read_u32(old)
    old_num = signed32(Fields(k.memory, "tty_ldisc_ops", old_ops)["num"])  # n_tty_ops: 0
    if old_num == num:
        return 0
    if core.tty_flag(k, tty, core.TTY_HUPPED):
        return -EIO
    fresh = _get(k, tty, num)
    if fresh < 0:
        return fresh
    _close(k, tty)
    t = Fields(k.memory, "tty_struct", tty)
    t["termios.c_line"], t["receive_room"], t["disc_data"] = num, 0, 0
    k.memory.write_u32(tty + TTY_LDISC, fresh)
    result = _open(k, tty)
    if result < 0:  # back to the old discipline
        release(k, fresh)
        k.memory.write_u32(tty + TTY_LDISC, old)
        t["termios.c_line"] = old_num
        _open(k, tty)
        return result
    release(k, old)
    if core.tty_op(k, tty, "set_ldisc"):
        core.call_op(k, tty, "set_ldisc")
    return 0


@service("struct tty_ldisc *tty_ldisc_ref(struct tty_struct *tty)")
def tty_ldisc_ref(k: Kernel, tty: int) -> int:
    """The tty's discipline with a reference, or NULL if it has none (hung up)."""
    ld = ldisc_of(k, tty)
    if ld:
        refs = k.subsystem(core.TtyCore).ldisc_refs
        refs[tty] = refs.get(tty, 0) + 1
    return ld


@service("struct tty_ldisc *tty_ldisc_ref_wait(struct tty_struct *tty)")
def tty_ldisc_ref_wait(k: Kernel, tty: int) -> int:
    """tty_ldisc_ref (no change of discipline can be in progress while a module runs)."""
    return tty_ldisc_ref(k, tty)


@service("void tty_ldisc_deref(struct tty_ldisc *ld)")
def tty_ldisc_deref(k: Kernel, ld: int) -> None:
    """Give back a reference from tty_ldisc_ref."""
    tty = k.memory.read_u32(ld + 4)
    refs = k.subsystem(core.TtyCore).ldisc_refs
    if refs.get(tty, 0) <= 0:
        k.warn(f"tty_ldisc_deref of {ld:#x} without a reference")
        return
    refs[tty] -= 1


@service("void tty_ldisc_flush(struct tty_struct *tty)")
def tty_ldisc_flush(k: Kernel, tty: int) -> None:
    """Drop the discipline's and the flip buffers' pending input."""
    from . import tty_buffer

    port = Fields(k.memory, "tty_struct", tty)["port"]
    if port:
        tty_buffer.discard(k, port)
    flush_ldisc(k, tty)


@service("int tty_set_ldisc(struct tty_struct *tty, int disc)")
def tty_set_ldisc(k: Kernel, tty: int, disc: int) -> int:
    """Switch discipline (TIOCSETD's work)."""
    return set_ldisc(k, tty, signed32(disc))


def receive(k: Kernel, tty: int, chars: int, flags: int, count: int) -> int:
    """tty_ldisc_receive_buf(): hand ``count`` bytes to the discipline: bytes it took."""
    ops = ops_of(k, tty)
    if not ops:
        return 0
    if _is_n_tty(k, ops):
        return n_tty.receive(k, tty, k.memory.read(chars, count), k.memory.read(flags, count) if flags else None)
    o = Fields(k.memory, "tty_ldisc_ops", ops)
    if o["receive_buf2"]:
        return signed32(k.call_function_pointer(o["receive_buf2"], tty, chars, flags, count))
    count = min(count, signed32(Fields(k.memory, "tty_struct", tty)["receive_room"]))
    if count > 0 and o["receive_buf"]:
        k.call_function_pointer(o["receive_buf"], tty, chars, flags, count)
    return max(count, 0)


@service("int tty_ldisc_receive_buf(struct tty_ldisc *ld, const unsigned char *p, const char *f, int count)")
def tty_ldisc_receive_buf(k: Kernel, ld: int, p: int, f: int, count: int) -> int:
    """Hand received bytes to a discipline (serdev and friends): bytes it took."""
    return receive(k, k.memory.read_u32(ld + 4), p, f, count)
