"""TTY ioctls (drivers/tty/tty_io.c ``tty_ioctl``, tty_ioctl.c), Linux 6.1 i386.

:func:`tty_file_ioctl` is what an ioctl on an open tty does, in Linux's
order: the core's own commands (TIOCGWINSZ/TIOCSWINSZ, TIOCEXCL/TIOCNXCL/
TIOCGEXCL, TIOCGETD/TIOCSETD, break control, TIOCMGET/TIOCMSET/TIOCMBIS/
TIOCMBIC through the driver's ``tiocmget``/``tiocmset``, TIOCGICOUNT
through ``get_icount``, TIOCGSERIAL/TIOCSSERIAL through
``get_serial``/``set_serial``, TCFLSH's flip-buffer part), then the
driver's ``ioctl`` (its -ENOIOCTLCMD passes the command on), then the line
discipline's (N_TTY: ``n_tty.ioctl``; -ENOIOCTLCMD from it is -ENOTTY).
``n_tty_ioctl_helper`` (exported: guest disciplines such as n_hdlc call
it) and ``tty_mode_ioctl`` handle the termios commands: TCGETS/TCSETS*
(``struct termios``, 36 bytes), TCGETS2/TCSETS2* (``struct termios2``, 44
bytes, exact speeds), TIOCGLCKTRMIOS, TIOCGSOFTCAR/TIOCSSOFTCAR, TCXONC,
TCFLSH. Setting termios follows ``set_termios``/``tty_set_termios``: the
speeds are recomputed from the Bfoo codes, the locked bits kept, the
driver's ``set_termios(tty, old)`` called (or its hardware bits kept by
``tty_termios_copy_hw`` when it has none), then the discipline's.

User pointers are checked as ``copy_to_user``/``copy_from_user`` check
them: a kernel address or an unmapped one is -EFAULT.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.machine import address_map as amap
from sandbox.machine.memory import R, W
from sandbox.services import service

from ..memory import allocate, release
from . import tty as core
from . import tty_termios as t
from .layout import Fields, offset, size
from .uaccess import accessible

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EFAULT, EINVAL, ENOTTY, EIO, EPERM = 14, 22, 25, 5, 1
ENOIOCTLCMD = 515
TCGETS, TCSETS, TCSETSW, TCSETSF, TCGETA, TCSETA, TCSETAW, TCSETAF = range(0x5401, 0x5409)
TCSBRK, TCXONC, TCFLSH, TIOCEXCL, TIOCNXCL = 0x5409, 0x540A, 0x540B, 0x540C, 0x540D
TIOCSTI, TIOCGWINSZ, TIOCSWINSZ, TIOCMGET, TIOCMBIS, TIOCMBIC, TIOCMSET = range(0x5412, 0x5419)
TIOCGSOFTCAR, TIOCSSOFTCAR = 0x5419, 0x541A
TIOCGSERIAL, TIOCSSERIAL = 0x541E, 0x541F
TIOCSETD, TIOCGETD, TCSBRKP, TIOCSBRK, TIOCCBRK = 0x5423, 0x5424, 0x5425, 0x5427, 0x5428
TCGETS2, TCSETS2, TCSETSW2, TCSETSF2 = 0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D
TIOCGEXCL = 0x80045440
TIOCGLCKTRMIOS, TIOCSLCKTRMIOS = 0x5456, 0x5457
TIOCGICOUNT = 0x545D
TCOOFF, TCOON, TCIOFF, TCION = 0, 1, 2, 3
TCIFLUSH, TCOFLUSH, TCIOFLUSH = 0, 1, 2
TERMIOS_FLUSH, TERMIOS_WAIT, TERMIOS_TERMIO, TERMIOS_OLD = 1, 2, 4, 8
TTY_TERMIOS = offset("tty_struct", "termios")
TTY_TERMIOS_LOCKED = offset("tty_struct", "termios_locked")


# -- user memory ----------------------------------------------------------------------
def to_user(k: Kernel, address: int, data: bytes) -> bool:
    """copy_to_user: False (-EFAULT) unless all of ``data`` lands in mapped user memory."""
    if not amap.access_ok(address, len(data)) or accessible(k, address, len(data), W) < len(data):
        return False
    k.memory.write(address, data)
    return True


def from_user(k: Kernel, address: int, n: int) -> bytes | None:
    """copy_from_user: the bytes, or None (-EFAULT)."""
    if not amap.access_ok(address, n) or accessible(k, address, n, R) < n:
        return None
    return k.memory.read(address, n)


def put_user_u32(k: Kernel, address: int, value: int) -> int:
    """put_user of an int: 0 or -EFAULT."""
    return 0 if to_user(k, address, (value & 0xFFFFFFFF).to_bytes(4, "little")) else -EFAULT


def get_user_u32(k: Kernel, address: int) -> int | None:
    """get_user of an int (None: -EFAULT)."""
    data = from_user(k, address, 4)
    return None if data is None else int.from_bytes(data, "little")


# -- termios ----------------------------------------------------------------------------
def set_tty_termios(k: Kernel, tty: int, new: t.Termios) -> int:
    """tty_set_termios(): store ``new`` (locked bits kept), driver's and ldisc's set_termios with the old."""
    from .n_tty import set_termios_n_tty
    from .tty_ldisc import _is_n_tty, ldisc_op, ops_of

    old = core.termios_of(k, tty)
    locked = t.read_termios(k, tty + TTY_TERMIOS_LOCKED)
    new = _keep_locked(new, old, locked)
    t.write_termios(k, tty + TTY_TERMIOS, new)
    old_copy = allocate(k, t.KTERMIOS_SIZE, owner="kernel")  # on Linux's stack: the callee may only read it
    try:
        t.write_termios(k, old_copy, old)
        if core.tty_op(k, tty, "set_termios"):
            core.call_op(k, tty, "set_termios", old_copy)
        else:
            t.write_termios(k, tty + TTY_TERMIOS, t.copy_hw(core.termios_of(k, tty), old))
        if _is_n_tty(k, ops_of(k, tty)):
            set_termios_n_tty(k, tty, old)
        elif ldisc_op(k, tty, "set_termios"):
            k.call_function_pointer(ldisc_op(k, tty, "set_termios"), tty, old_copy)
    finally:
        release(k, old_copy)
    return 0


def _keep_locked(new: t.Termios, old: t.Termios, locked: t.Termios) -> t.Termios:
    """unset_locked_termios(): bits set in termios_locked keep their old values."""
    def merge(n: int, o: int, lock: int) -> int:
        return (n & ~lock & 0xFFFFFFFF) | (o & lock)

    cc = bytes(o if lk else n for n, o, lk in zip(new.c_cc, old.c_cc, locked.c_cc, strict=True))
    return replace(new, c_iflag=merge(new.c_iflag, old.c_iflag, locked.c_iflag),
                   c_oflag=merge(new.c_oflag, old.c_oflag, locked.c_oflag),
                   c_cflag=merge(new.c_cflag, old.c_cflag, locked.c_cflag),
                   c_lflag=merge(new.c_lflag, old.c_lflag, locked.c_lflag),
                   c_line=old.c_line if locked.c_line else new.c_line, c_cc=cc)


@service("int tty_set_termios(struct tty_struct *tty, struct ktermios *new_termios)")
def tty_set_termios(k: Kernel, tty: int, new_termios: int) -> int:
    """Change the tty's settings (the driver and discipline are told): 0, -EINVAL on a pty master."""
    d = Fields(k.memory, "tty_driver", Fields(k.memory, "tty_struct", tty)["driver"])
    if d["type"] == core.TTY_DRIVER_TYPE_PTY and d["subtype"] == core.PTY_TYPE_MASTER:
        return -EINVAL
    return set_tty_termios(k, tty, t.read_termios(k, new_termios))


def wait_until_sent(k: Kernel, tty: int, timeout: int) -> None:
    """tty_wait_until_sent(): wait (up to ``timeout`` ticks, 0 for ever) for the driver's buffer to empty,
    then its wait_until_sent."""
    from . import waits

    if core.tty_chars_in_buffer(k, tty):
        waits.sleep_until(k, lambda: not core.tty_chars_in_buffer(k, tty), timeout or None,
                          lambda: f"tty_wait_until_sent on {core.name_of(k, tty)}")
    if core.tty_op(k, tty, "wait_until_sent"):
        core.call_op(k, tty, "wait_until_sent", timeout)


@service("void tty_wait_until_sent(struct tty_struct *tty, long timeout)")
def tty_wait_until_sent(k: Kernel, tty: int, timeout: int) -> None:
    """Wait for the driver to send what it holds."""
    wait_until_sent(k, tty, max(0, signed32(timeout)))


def _set_termios(k: Kernel, tty: int, arg: int, opt: int) -> int:
    """set_termios() of tty_ioctl.c."""
    from .tty_ldisc import flush_ldisc

    current = core.termios_of(k, tty)
    if opt & TERMIOS_TERMIO:
        raw = from_user(k, arg, 18)  # struct termio: four shorts, c_line, c_cc[8]
        if raw is None:
            return -EFAULT
        words = [int.from_bytes(raw[i:i + 2], "little") for i in range(0, 8, 2)]
        new = replace(current, c_iflag=current.c_iflag & 0xFFFF0000 | words[0],
                      c_oflag=current.c_oflag & 0xFFFF0000 | words[1],
                      c_cflag=current.c_cflag & 0xFFFF0000 | words[2],
                      c_lflag=current.c_lflag & 0xFFFF0000 | words[3], c_line=raw[8],
                      c_cc=raw[9:17] + current.c_cc[8:])
    else:
        raw = from_user(k, arg, t.TERMIOS_SIZE if opt & TERMIOS_OLD else t.KTERMIOS_SIZE)
        if raw is None:
            return -EFAULT
        new = t.Termios.unpack(raw)
        if opt & TERMIOS_OLD:
            new = replace(new, c_ispeed=current.c_ispeed, c_ospeed=current.c_ospeed)
    new = new.with_speeds()
    if opt & TERMIOS_FLUSH:
        flush_ldisc(k, tty)
    if opt & TERMIOS_WAIT:
        wait_until_sent(k, tty, 0)
    return set_tty_termios(k, tty, new)


@service("int tty_mode_ioctl(struct tty_struct *tty, unsigned int cmd, unsigned long arg)")
def tty_mode_ioctl(k: Kernel, tty: int, cmd: int, arg: int) -> int:
    """The termios ioctls: 0, -EFAULT, -EPERM, or -ENOIOCTLCMD for anything else."""
    cmd &= 0xFFFFFFFF
    if cmd == TCGETS:
        return 0 if to_user(k, arg, core.termios_of(k, tty).pack()[:t.TERMIOS_SIZE]) else -EFAULT
    if cmd == TCGETS2:
        return 0 if to_user(k, arg, core.termios_of(k, tty).pack()) else -EFAULT
    options = {TCSETSF2: TERMIOS_FLUSH | TERMIOS_WAIT, TCSETSW2: TERMIOS_WAIT, TCSETS2: 0,
               TCSETSF: TERMIOS_FLUSH | TERMIOS_WAIT | TERMIOS_OLD, TCSETSW: TERMIOS_WAIT | TERMIOS_OLD,
               TCSETS: TERMIOS_OLD, TCSETAF: TERMIOS_FLUSH | TERMIOS_WAIT | TERMIOS_TERMIO,
               TCSETAW: TERMIOS_WAIT | TERMIOS_TERMIO, TCSETA: TERMIOS_TERMIO}
    if cmd in options:
        return _set_termios(k, tty, arg, options[cmd])
    if cmd == TCGETA:
        now = core.termios_of(k, tty)
        data = b"".join((v & 0xFFFF).to_bytes(2, "little") for v in (now.c_iflag, now.c_oflag, now.c_cflag,
                                                                        now.c_lflag))
        return 0 if to_user(k, arg, data + bytes([now.c_line]) + now.c_cc[:8]) else -EFAULT
    if cmd == TIOCGLCKTRMIOS:
        locked = k.memory.read(tty + TTY_TERMIOS_LOCKED, t.TERMIOS_SIZE)
        return 0 if to_user(k, arg, locked) else -EFAULT
    if cmd == TIOCSLCKTRMIOS:
        return -EPERM  # needs CAP_SYS_ADMIN; the sandbox's task is no administrator
    if cmd == TIOCGSOFTCAR:
        return put_user_u32(k, arg, 1 if core.termios_of(k, tty).c_cflag & t.CLOCAL else 0)
    if cmd == TIOCSSOFTCAR:
        value = get_user_u32(k, arg)
        if value is None:
            return -EFAULT
        now = core.termios_of(k, tty)
        cflag = now.c_cflag & ~t.CLOCAL & 0xFFFFFFFF | (t.CLOCAL if value else 0)
        return set_tty_termios(k, tty, replace(now, c_cflag=cflag))
    return -ENOIOCTLCMD


def perform_flush(k: Kernel, tty: int, arg: int) -> int:
    """__tty_perform_flush(): TCIFLUSH drops input, TCOFLUSH the driver's output, TCIOFLUSH both."""
    from .tty_ldisc import flush_ldisc

    if arg not in (TCIFLUSH, TCOFLUSH, TCIOFLUSH):
        return -EINVAL
    if arg in (TCIFLUSH, TCIOFLUSH):
        flush_ldisc(k, tty)
    if arg in (TCOFLUSH, TCIOFLUSH):
        core.tty_driver_flush_buffer(k, tty)
    return 0


@service("int tty_perform_flush(struct tty_struct *tty, unsigned long arg)")
def tty_perform_flush(k: Kernel, tty: int, arg: int) -> int:
    """TCFLSH's work: 0 or -EINVAL."""
    return perform_flush(k, tty, arg)


@service("int n_tty_ioctl_helper(struct tty_struct *tty, unsigned int cmd, unsigned long arg)")
def n_tty_ioctl_helper(k: Kernel, tty: int, cmd: int, arg: int) -> int:
    """The ioctls every discipline shares: TCXONC, TCFLSH, then tty_mode_ioctl."""
    cmd &= 0xFFFFFFFF
    if cmd == TCXONC:
        t_ = Fields(k.memory, "tty_struct", tty)
        if arg == TCOOFF and not t_["flow.tco_stopped"]:
            t_["flow.tco_stopped"] = 1
            core.stop(k, tty)
        elif arg == TCOON and t_["flow.tco_stopped"]:
            t_["flow.tco_stopped"] = 0
            core.start(k, tty)
        if arg in (TCOOFF, TCOON):
            return 0
        if arg in (TCIOFF, TCION):
            termios = core.termios_of(k, tty)
            char = termios.c_cc[t.VSTOP if arg == TCIOFF else t.VSTART]
            if char:
                send = core.tty_op(k, tty, "send_xchar")
                if send:
                    k.call_function_pointer(send, tty, char)
                else:
                    from .n_tty import driver_write

                    driver_write(k, tty, bytes([char]))
            return 0
        return -EINVAL
    if cmd == TCFLSH:
        return perform_flush(k, tty, arg)
    return tty_mode_ioctl(k, tty, cmd, arg)


# -- the file ioctl ---------------------------------------------------------------------
def _tiocmset(k: Kernel, tty: int, cmd: int, arg: int) -> int:
    if not core.tty_op(k, tty, "tiocmset"):
        return -ENOTTY
    value = get_user_u32(k, arg)
    if value is None:
        return -EFAULT
    tiocm = 0x002 | 0x004 | 0x2000 | 0x4000 | 0x8000  # TIOCM_DTR, RTS, OUT1, OUT2, LOOP
    set_bits, clear = {TIOCMBIS: (value, 0), TIOCMBIC: (0, value), TIOCMSET: (value, ~value)}[cmd]
    return core.call_op(k, tty, "tiocmset", set_bits & tiocm, clear & tiocm)


def _driver_struct_ioctl(k: Kernel, tty: int, op: str, struct: str, arg: int, out: bool) -> int:
    """TIOCGICOUNT/TIOCGSERIAL/TIOCSSERIAL: a kernel struct between the user and the driver."""
    if not core.tty_op(k, tty, op):
        return -ENOTTY if op != "get_icount" else -EINVAL
    nbytes = size(struct)
    buffer = allocate(k, nbytes, owner="kernel")
    try:
        if not out:
            data = from_user(k, arg, nbytes)
            if data is None:
                return -EFAULT
            k.memory.write(buffer, data)
        else:
            k.memory.write(buffer, bytes(nbytes))
        result = core.call_op(k, tty, op, buffer)
        if result == 0 and out and not to_user(k, arg, k.memory.read(buffer, nbytes)):
            return -EFAULT
        return result
    finally:
        release(k, buffer)


def _send_break(k: Kernel, tty: int, msecs: int) -> int:
    """send_break(): break on, ``msecs`` of sleep, break off (the driver times it if it can)."""
    from .time import msleep

    if not core.tty_op(k, tty, "break_ctl"):
        return 0
    d = Fields(k.memory, "tty_driver", Fields(k.memory, "tty_struct", tty)["driver"])
    if d["flags"] & core.TTY_DRIVER_HARDWARE_BREAK:
        return core.call_op(k, tty, "break_ctl", msecs)
    result = core.call_op(k, tty, "break_ctl", 0xFFFFFFFF)
    if result:
        return result
    msleep(k, msecs)
    return core.call_op(k, tty, "break_ctl", 0)


def tty_file_ioctl(k: Kernel, tty: int, file: int, cmd: int, arg: int) -> int:
    """tty_ioctl(): the core's commands, the driver's ioctl, then the discipline's (see the module docstring)."""
    from . import tty_buffer
    from .n_tty import ioctl as n_tty_ioctl
    from .tty_ldisc import _is_n_tty, ldisc_of, ldisc_op, ops_of, set_ldisc

    cmd &= 0xFFFFFFFF
    if core.tty_hung_up_p(k, file):
        return -ENOTTY if cmd == 0x5410 else -EIO  # hung_up_tty_ioctl: TIOCSPGRP is -ENOTTY
    t_ = Fields(k.memory, "tty_struct", tty)
    if cmd in (TIOCSBRK, TCSBRK, TCSBRKP, TIOCSETD):
        wait_until_sent(k, tty, 0)
    if cmd == TIOCGWINSZ:
        return 0 if to_user(k, arg, k.memory.read(t_.address_of("winsize"), 8)) else -EFAULT
    if cmd == TIOCSWINSZ:
        data = from_user(k, arg, 8)
        if data is None:
            return -EFAULT
        resize = core.tty_op(k, tty, "resize")
        if resize:
            buffer = allocate(k, 8, owner="kernel")
            k.memory.write(buffer, data)
            result = core.call_op(k, tty, "resize", buffer)
            release(k, buffer)
            return result
        k.memory.write(t_.address_of("winsize"), data)
        return 0
    if cmd in (TIOCEXCL, TIOCNXCL):
        core.set_tty_flag(k, tty, core.TTY_EXCLUSIVE, cmd == TIOCEXCL)
        return 0
    if cmd == TIOCGEXCL:
        return put_user_u32(k, arg, int(core.tty_flag(k, tty, core.TTY_EXCLUSIVE)))
    if cmd == TIOCGETD:
        ops = ops_of(k, tty)
        return put_user_u32(k, arg, Fields(k.memory, "tty_ldisc_ops", ops)["num"] if ops else 0)
    if cmd == TIOCSETD:
        disc = get_user_u32(k, arg)
        return -EFAULT if disc is None else set_ldisc(k, tty, signed32(disc))
    if cmd in (TIOCSBRK, TIOCCBRK):
        return core.call_op(k, tty, "break_ctl", 0xFFFFFFFF if cmd == TIOCSBRK else 0)
    if cmd in (TCSBRK, TCSBRKP):
        if cmd == TCSBRK and arg:
            return 0
        return _send_break(k, tty, 250 if cmd == TCSBRK or not arg else arg * 100)
    if cmd == TIOCMGET:
        if not core.tty_op(k, tty, "tiocmget"):
            return -ENOTTY
        value = core.call_op(k, tty, "tiocmget")
        return value if value < 0 else put_user_u32(k, arg, value)
    if cmd in (TIOCMSET, TIOCMBIC, TIOCMBIS):
        return _tiocmset(k, tty, cmd, arg)
    if cmd == TIOCGICOUNT:
        return _driver_struct_ioctl(k, tty, "get_icount", "serial_icounter_struct", arg, out=True)
    if cmd == TIOCGSERIAL:
        return _driver_struct_ioctl(k, tty, "get_serial", "serial_struct", arg, out=True)
    if cmd == TIOCSSERIAL:
        return _driver_struct_ioctl(k, tty, "set_serial", "serial_struct", arg, out=False)
    if cmd == TCFLSH and arg in (TCIFLUSH, TCIOFLUSH) and t_["port"]:
        tty_buffer.discard(k, t_["port"])
    if core.tty_op(k, tty, "ioctl"):
        result = core.call_op(k, tty, "ioctl", cmd, arg)
        if result != -ENOIOCTLCMD:
            return result
    if not ldisc_of(k, tty):
        return -EIO
    if _is_n_tty(k, ops_of(k, tty)):
        result = n_tty_ioctl(k, tty, cmd, arg)
    elif ldisc_op(k, tty, "ioctl"):
        result = signed32(k.call_function_pointer(ldisc_op(k, tty, "ioctl"), tty, cmd, arg))
    else:
        return -EINVAL
    return -ENOTTY if result == -ENOIOCTLCMD else result
