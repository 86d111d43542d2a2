"""N_TTY, the default line discipline (drivers/tty/n_tty.c), in Python, Linux 6.1 semantics.

Every tty starts with it. Input arrives from the flip buffers
(``receive``, through the port's ``receive_buf``), is processed by the
termios ``c_iflag``/``c_lflag`` rules and waits in a 4 KiB read buffer;
``read`` hands it to the reader; ``write`` sends output to the driver's
``write`` after ``c_oflag`` processing. What is modelled:

- raw (non-canonical) input with VMIN/VTIME as termios(3) defines them:
  VMIN=0/VTIME=0 returns what is there, VMIN>0 waits for that many bytes
  (or fewer if the read asks fewer), VTIME>0 bounds the wait in tenths of a
  second; O_NONBLOCK gives -EAGAIN when nothing is there;
- canonical input: lines end at NL, VEOL, VEOL2 or VEOF (which is not
  passed on; VEOF on an empty line reads as end of file), VERASE and VKILL
  edit the line, a read returns at most one line;
- ISTRIP, INLCR, IGNCR, ICRNL, IUCLC on input; IGNBRK/BRKINT/IGNPAR/PARMRK
  for characters the driver flagged (TTY_BREAK, TTY_PARITY, TTY_FRAME);
- ECHO (with ECHOCTL, ECHOE, ECHOK, ECHONL) written back to the driver;
- ISIG: VINTR, VQUIT and VSUSP flush the input (unless NOFLSH) and echo,
  with no process to signal; IXON: VSTOP/VSTART stop and start output
  (the driver's stop/start);
- OPOST with ONLCR, OCRNL, ONOCR, ONLRET, OLCUC on output (and echoes);
- throttling: the driver's ``throttle`` when under 128 bytes of the buffer
  are left, ``unthrottle`` once a read frees them again;
- switching ICANON turns a partial line into readable data, or pending raw
  data into one line, as ``n_tty_set_termios`` does.

The state (:class:`NTtyData`) is kept per tty by the TTY core; the
discipline's ops in guest memory (``n_tty_ops``, number 0, name "n_tty")
point at these functions, so a module looking at ``tty->ldisc->ops`` sees
N_TTY's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import tty as core
from . import tty_termios as t
from .layout import offset, size
from .time import HZ

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

N_TTY_BUF_SIZE = 4096
TTY_THRESHOLD_THROTTLE = TTY_THRESHOLD_UNTHROTTLE = 128
TTY_NORMAL, TTY_BREAK, TTY_FRAME, TTY_PARITY, TTY_OVERRUN = 0, 1, 2, 3, 4
O_NONBLOCK = 0o4000
EAGAIN, EIO = 11, 5
TIOCOUTQ, TIOCINQ = 0x5411, 0x541B
DISABLED_CHAR = 0

# The N_TTY ops as modules see them: name, number 0, and the entry points here (``n_tty_inherit_ops``
# copies them into a module's discipline, which then runs on N_TTY through these pointers).
_OPS = ("open", "close", "flush_buffer", "read", "write", "ioctl", "set_termios", "receive_buf", "receive_buf2")
n_tty_ops = kernel_variable(
    "n_tty_ops", size("tty_ldisc_ops"), b"",
    pointers={offset("tty_ldisc_ops", "name"): "__sandbox_n_tty_name",
              **{offset("tty_ldisc_ops", op): f"__sandbox_n_tty_{op}" for op in _OPS}})
n_tty_name = kernel_variable("__sandbox_n_tty_name", 6, b"n_tty\0")


@dataclass
class NTtyData:
    """One tty's N_TTY state: readable bytes, where canonical lines end, the line being edited."""

    ready: bytearray = field(default_factory=bytearray)
    line_ends: list[int] = field(default_factory=list)  # offsets into ready, canonical mode only
    line: bytearray = field(default_factory=bytearray)
    lnext: bool = False

    def buffered(self) -> int:
        """Bytes held (readable or in the line being edited)."""
        return len(self.ready) + len(self.line)


def data_of(k: Kernel, tty: int) -> NTtyData | None:
    """The tty's N_TTY state (None when another discipline is attached)."""
    from .tty_ldisc import LineDisciplines

    return k.subsystem(LineDisciplines).n_tty.get(tty)


def open_n_tty(k: Kernel, tty: int) -> None:
    """n_tty_open(): empty buffers."""
    from .tty_ldisc import LineDisciplines

    k.subsystem(LineDisciplines).n_tty[tty] = NTtyData()


def close_n_tty(k: Kernel, tty: int) -> None:
    """n_tty_close(): the buffers go."""
    from .tty_ldisc import LineDisciplines

    k.subsystem(LineDisciplines).n_tty.pop(tty, None)


def flush_n_tty(k: Kernel, tty: int) -> None:
    """n_tty_flush_buffer(): drop all input, unthrottle."""
    data = data_of(k, tty)
    if data is not None:
        data.ready.clear()
        data.line_ends.clear()
        data.line.clear()
    core.tty_unthrottle(k, tty)


def set_termios_n_tty(k: Kernel, tty: int, old: t.Termios | None) -> None:
    """n_tty_set_termios(): a change of ICANON moves the line boundary."""
    data = data_of(k, tty)
    termios = core.termios_of(k, tty)
    if data is None or (old is not None and not (old.c_lflag ^ termios.c_lflag) & t.ICANON):
        return
    data.ready += data.line
    data.line.clear()
    data.line_ends = [len(data.ready)] if termios.c_lflag & t.ICANON and data.ready else []
    data.lnext = False


# -- output ---------------------------------------------------------------------------
def driver_write(k: Kernel, tty: int, chunk: bytes) -> int:
    """tty->ops->write(tty, buf, n) from a kernel buffer: what the driver took, or -errno."""
    if not chunk:
        return 0
    buffer = allocate(k, len(chunk), owner="kernel")
    try:
        k.memory.write(buffer, chunk)
        return core.call_op(k, tty, "write", buffer, len(chunk), default=-EIO)
    finally:
        release(k, buffer)


def process_output(termios: t.Termios, data: bytes, room: int, column: list[int]) -> tuple[bytes, int]:
    """OPOST: the output bytes for as much of ``data`` as fits in ``room``, and how much of it that is."""
    out = bytearray()
    used = 0
    for c in data:
        piece = bytes([c])
        if c == 0x0A:
            if termios.c_oflag & t.ONLRET:
                column[0] = 0
            if termios.c_oflag & t.ONLCR:
                piece = b"\r\n"
                column[0] = 0
        elif c == 0x0D:
            if termios.c_oflag & t.ONOCR and column[0] == 0:
                piece = b""
            elif termios.c_oflag & t.OCRNL:
                piece = b"\n"
                if termios.c_oflag & t.ONLRET:
                    column[0] = 0
            else:
                column[0] = 0
        else:
            if termios.c_oflag & t.OLCUC and 0x61 <= c <= 0x7A:
                piece = bytes([c - 0x20])
            if not (c < 0x20 or c == 0x7F):
                column[0] += 1
        if len(out) + len(piece) > room:
            break
        out += piece
        used += 1
    return bytes(out), used


def output(k: Kernel, tty: int, data: bytes) -> int:
    """Send ``data`` as N_TTY would (OPOST processing when set): input bytes consumed, or -errno."""
    termios = core.termios_of(k, tty)
    if not termios.c_oflag & t.OPOST:
        return driver_write(k, tty, data)
    room = core.tty_write_room(k, tty)
    column = [0]
    out, used = process_output(termios, data, room, column)
    if out:
        result = driver_write(k, tty, out)
        if result < 0:
            return result
    return used


def _echo_bytes(termios: t.Termios, c: int) -> bytes:
    if termios.c_lflag & t.ECHOCTL and (c < 0x20 or c == 0x7F) and c not in (0x09, 0x0A):
        return bytes([ord("^"), c ^ 0o100])
    return bytes([c])


def echo(k: Kernel, tty: int, data: bytes) -> None:
    """Write echoes to the driver (processed like output)."""
    if data:
        output(k, tty, data)


# -- input ----------------------------------------------------------------------------
def _wake_readers(k: Kernel, tty: int) -> None:
    from . import waits

    waits.wake_up_common(k, tty + offset("tty_struct", "read_wait"), 1, 0, 0, 0x1)  # EPOLLIN


def receive(k: Kernel, tty: int, chars: bytes, flags: bytes | None) -> int:
    """n_tty_receive_buf2(): process what fits in the read buffer; bytes taken."""
    data = data_of(k, tty)
    if data is None:
        return 0
    termios = core.termios_of(k, tty)
    room = N_TTY_BUF_SIZE - 1 - data.buffered()
    if room <= 0:
        core.tty_throttle_safe(k, tty)
        return 0
    count = min(room, len(chars))
    echoes = bytearray()
    for i in range(count):
        flag = flags[i] if flags else TTY_NORMAL
        _receive_char(k, tty, termios, data, chars[i], flag, echoes)
    if (echoes and termios.c_lflag & t.ECHO) or (echoes and termios.c_lflag & t.ECHONL):
        echo(k, tty, bytes(echoes))
    if (data.line_ends if termios.c_lflag & t.ICANON else data.ready):
        _wake_readers(k, tty)
    if N_TTY_BUF_SIZE - 1 - data.buffered() < TTY_THRESHOLD_THROTTLE:
        core.tty_throttle_safe(k, tty)
    return count


def _store(data: NTtyData, termios: t.Termios, c: int) -> None:
    (data.line if termios.c_lflag & t.ICANON else data.ready).append(c)


def _receive_char(k: Kernel, tty: int, termios: t.Termios, data: NTtyData, c: int, flag: int,
                  echoes: bytearray) -> None:
    iflag, lflag, cc = termios.c_iflag, termios.c_lflag, termios.c_cc
    if flag == TTY_BREAK:
        if iflag & t.IGNBRK:
            return
        if iflag & t.BRKINT:
            if not lflag & t.NOFLSH:
                flush_n_tty(k, tty)
            return
        for b in (b"\377\0\0" if iflag & t.PARMRK else b"\0"):
            _store(data, termios, b)
        return
    if flag in (TTY_PARITY, TTY_FRAME):
        if iflag & t.IGNPAR:
            return
        for b in (bytes([0o377, 0, c]) if iflag & t.PARMRK else b"\0"):
            _store(data, termios, b)
        return
    if iflag & t.ISTRIP:
        c &= 0x7F
    if iflag & t.IUCLC and lflag & t.IEXTEN and 0x41 <= c <= 0x5A:
        c += 0x20
    if data.lnext:
        data.lnext = False
        _store(data, termios, c)
        echoes += _echo_bytes(termios, c) if lflag & t.ECHO else b""
        return
    if iflag & t.IXON:
        if c == cc[t.VSTOP] != DISABLED_CHAR:
            core.stop(k, tty)
            return
        stopped = core.tty_flag_byte(k, tty, "flow.stopped")
        if c == cc[t.VSTART] != DISABLED_CHAR or (stopped and iflag & t.IXANY):
            core.start(k, tty)
            if c == cc[t.VSTART]:
                return
    if lflag & t.ISIG and c in (cc[t.VINTR], cc[t.VQUIT], cc[t.VSUSP]) and c != DISABLED_CHAR:
        if not lflag & t.NOFLSH:
            flush_n_tty(k, tty)
        if lflag & t.ECHO:
            echoes += _echo_bytes(termios, c)
        return
    if c == 0x0D:
        if iflag & t.IGNCR:
            return
        if iflag & t.ICRNL:
            c = 0x0A
    elif c == 0x0A and iflag & t.INLCR:
        c = 0x0D
    if lflag & t.ICANON:
        _canonical_char(termios, data, c, echoes)
        return
    _store(data, termios, c)
    if lflag & t.ECHO:
        echoes += _echo_bytes(termios, c)


def _canonical_char(termios: t.Termios, data: NTtyData, c: int, echoes: bytearray) -> None:
    lflag, cc = termios.c_lflag, termios.c_cc
    echoing = lflag & t.ECHO
    if c == cc[t.VERASE] != DISABLED_CHAR or (c == cc[t.VWERASE] != DISABLED_CHAR and lflag & t.IEXTEN):
        erase = 1
        if c == cc[t.VWERASE]:  # a word: trailing blanks, then back to the previous blank
            text = bytes(data.line)
            keep = len(text.rstrip(b" \t"))
            while keep and text[keep - 1] not in b" \t":
                keep -= 1
            erase = len(text) - keep
        for _ in range(min(erase, len(data.line))):
            data.line.pop()
            if echoing:
                echoes += b"\b \b" if lflag & t.ECHOE else _echo_bytes(termios, c)
        return
    if c == cc[t.VKILL] != DISABLED_CHAR:
        if echoing:
            if lflag & t.ECHOKE:
                echoes += b"\b \b" * len(data.line)
            else:
                echoes += _echo_bytes(termios, c)
                if lflag & t.ECHOK:
                    echoes += b"\n"
        data.line.clear()
        return
    if c == cc[t.VLNEXT] != DISABLED_CHAR and lflag & t.IEXTEN:
        data.lnext = True
        if echoing and lflag & t.ECHOCTL:
            echoes += b"^\b"
        return
    if c == cc[t.VEOF] != DISABLED_CHAR:
        _end_line(data)
        return
    if c == 0x0A or (c in (cc[t.VEOL], cc[t.VEOL2]) and c != DISABLED_CHAR):
        data.line.append(c)
        if echoing or (c == 0x0A and lflag & t.ECHONL):
            echoes += b"\n" if c == 0x0A else _echo_bytes(termios, c)
        _end_line(data)
        return
    data.line.append(c)
    if echoing:
        echoes += _echo_bytes(termios, c)


def _end_line(data: NTtyData) -> None:
    data.ready += data.line
    data.line.clear()
    data.line_ends.append(len(data.ready))


# -- reading --------------------------------------------------------------------------
def _take(data: NTtyData, count: int, canonical: bool) -> bytes:
    if canonical:
        end = data.line_ends[0]
        n = min(count, end)
        if n == end:
            data.line_ends.pop(0)
        data.line_ends = [e - n for e in data.line_ends]
    else:
        n = min(count, len(data.ready))
    chunk = bytes(data.ready[:n])
    del data.ready[:n]
    return chunk


def read(k: Kernel, tty: int, file: int, count: int, pull: Callable[[], None]) -> bytes | int:
    """n_tty_read(): bytes for a reader of ``count`` bytes, or -errno. ``pull`` runs the port's
    pending flush (what the kworker would do before a waiting reader runs)."""
    from . import vfs, waits

    pull()
    data = data_of(k, tty)
    if data is None:
        return b""
    termios = core.termios_of(k, tty)
    canonical = bool(termios.c_lflag & t.ICANON)
    nonblocking = bool(k.memory.read_u32(file + vfs.F_FLAGS) & O_NONBLOCK)
    vmin, vtime = termios.c_cc[t.VMIN], termios.c_cc[t.VTIME]
    if canonical:
        def enough() -> bool:
            return bool(data.line_ends)
        timeout = None
    else:
        wanted = min(count, vmin) if vmin else 1

        def enough() -> bool:
            return len(data.ready) >= wanted
        timeout = None if vmin else vtime * HZ // 10
        if not vmin and not vtime:
            timeout = 0

    def woken() -> bool:
        pull()
        return enough() or hung_up()

    def hung_up() -> bool:
        return bool(core.tty_hung_up_p(k, file)) or core.tty_flag(k, tty, core.TTY_OTHER_CLOSED)

    if not enough():
        if hung_up():
            return b""
        if nonblocking:
            return -EAGAIN
        if timeout != 0:
            waits.sleep_until(k, woken, timeout, lambda: f"read of /dev/{core.name_of(k, tty)} (N_TTY)")
    result = _take(data, count, canonical) if (data.line_ends if canonical else data.ready) else b""
    if core.tty_flag(k, tty, core.TTY_THROTTLED) and N_TTY_BUF_SIZE - 1 - data.buffered() >= TTY_THRESHOLD_UNTHROTTLE:
        core.tty_unthrottle(k, tty)
    return result


def write(k: Kernel, tty: int, file: int, payload: bytes) -> int:
    """n_tty_write(): bytes written (waiting for room unless O_NONBLOCK), or -errno."""
    from . import vfs, waits

    written = 0
    nonblocking = bool(k.memory.read_u32(file + vfs.F_FLAGS) & O_NONBLOCK)
    while written < len(payload):
        if core.tty_hung_up_p(k, file):
            return written or -EIO
        result = output(k, tty, payload[written:])
        if result < 0:
            return written or result
        written += result
        if written == len(payload):
            break
        if nonblocking:
            return written or -EAGAIN
        waits.sleep_until(k, lambda: core.tty_write_room(k, tty) > 0 or bool(core.tty_hung_up_p(k, file)), None,
                          lambda: f"write to /dev/{core.name_of(k, tty)} (the driver has no room)")
    return written


def ioctl(k: Kernel, tty: int, cmd: int, arg: int) -> int:
    """n_tty_ioctl(): TIOCOUTQ, TIOCINQ, then the generic helper."""
    from .tty_ioctl import n_tty_ioctl_helper, put_user_u32

    if cmd == TIOCOUTQ:
        return put_user_u32(k, arg, core.tty_chars_in_buffer(k, tty))
    if cmd == TIOCINQ:
        data = data_of(k, tty)
        if data is None:
            return put_user_u32(k, arg, 0)
        canonical = core.termios_of(k, tty).c_lflag & t.ICANON
        return put_user_u32(k, arg, (data.line_ends[0] if data.line_ends else 0) if canonical else len(data.ready))
    return n_tty_ioctl_helper(k, tty, cmd, arg)


# The ops' entry points, for guest code that calls through tty->ldisc->ops (or inherited them).
@service("void n_tty_inherit_ops(struct tty_ldisc_ops *ops)")
def n_tty_inherit_ops(k: Kernel, ops: int) -> None:
    """Copy N_TTY's ops into a module's discipline (its owner cleared), for it to override some."""
    k.memory.write(ops, k.memory.read(k.export_address("n_tty_ops") or 0, size("tty_ldisc_ops")))
    k.memory.write_u32(ops + offset("tty_ldisc_ops", "owner"), 0)


@service("int __sandbox_n_tty_open(struct tty_struct *tty)")
def __sandbox_n_tty_open(k: Kernel, tty: int) -> int:
    """N_TTY's open: empty buffers, the termios applied."""
    open_n_tty(k, tty)
    set_termios_n_tty(k, tty, None)
    return 0


@service("void __sandbox_n_tty_close(struct tty_struct *tty)")
def __sandbox_n_tty_close(k: Kernel, tty: int) -> None:
    """N_TTY's close."""
    close_n_tty(k, tty)


@service("void __sandbox_n_tty_flush_buffer(struct tty_struct *tty)")
def __sandbox_n_tty_flush_buffer(k: Kernel, tty: int) -> None:
    """N_TTY's flush_buffer."""
    flush_n_tty(k, tty)


@service("ssize_t __sandbox_n_tty_read(struct tty_struct *tty, struct file *file, unsigned char *kbuf, size_t nr, "
         "void **cookie, unsigned long offset)")
def __sandbox_n_tty_read(k: Kernel, tty: int, file: int, kbuf: int, nr: int, cookie: int, offset_: int) -> int:
    """N_TTY's read into a kernel buffer (no cookie: each call is complete)."""
    from . import tty_buffer
    from .layout import Fields

    port = Fields(k.memory, "tty_struct", tty)["port"]
    data = read(k, tty, file, nr, lambda: tty_buffer.flush(k, port) if port else None)
    if isinstance(data, int):
        return data
    k.memory.write(kbuf, data)
    return len(data)


@service("ssize_t __sandbox_n_tty_write(struct tty_struct *tty, struct file *file, const unsigned char *buf, "
         "size_t nr)")
def __sandbox_n_tty_write(k: Kernel, tty: int, file: int, buf: int, nr: int) -> int:
    """N_TTY's write from a kernel buffer."""
    return write(k, tty, file, k.memory.read(buf, nr))


@service("int __sandbox_n_tty_ioctl(struct tty_struct *tty, unsigned int cmd, unsigned long arg)")
def __sandbox_n_tty_ioctl(k: Kernel, tty: int, cmd: int, arg: int) -> int:
    """N_TTY's ioctl."""
    return ioctl(k, tty, cmd, arg)


@service("void __sandbox_n_tty_set_termios(struct tty_struct *tty, const struct ktermios *old)")
def __sandbox_n_tty_set_termios(k: Kernel, tty: int, old: int) -> None:
    """N_TTY's set_termios."""
    set_termios_n_tty(k, tty, t.read_termios(k, old) if old else None)


@service("void __sandbox_n_tty_receive_buf(struct tty_struct *tty, const unsigned char *cp, const char *fp, int count)")
def __sandbox_n_tty_receive_buf(k: Kernel, tty: int, cp: int, fp: int, count: int) -> None:
    """N_TTY's receive_buf."""
    receive(k, tty, k.memory.read(cp, count), k.memory.read(fp, count) if fp else None)


@service("int __sandbox_n_tty_receive_buf2(struct tty_struct *tty, const unsigned char *cp, const char *fp, int count)")
def __sandbox_n_tty_receive_buf2(k: Kernel, tty: int, cp: int, fp: int, count: int) -> int:
    """N_TTY's receive_buf2: bytes taken."""
    return receive(k, tty, k.memory.read(cp, count), k.memory.read(fp, count) if fp else None)
