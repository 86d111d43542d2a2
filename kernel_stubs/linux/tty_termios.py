"""Terminal settings as the TTY layer keeps them (drivers/tty/tty_baudrate.c, tty_ioctl.c), Linux 6.1 i386.

``struct ktermios`` (44 bytes: the four flag words, ``c_line``, ``c_cc[19]``,
``c_ispeed``, ``c_ospeed``) is what ``tty->termios`` holds; user space sees
``struct termios`` (its first 36 bytes) through TCGETS/TCSETS and ``struct
termios2`` (all 44) through TCGETS2/TCSETS2. Speeds are coded in ``c_cflag``
as Linux codes them: ``CBAUD`` indexes the baud table (``CBAUDEX`` adds 15),
``BOTHER`` means "the exact speed is in c_ospeed", and the same code shifted
by ``IBSHIFT`` gives the input speed (0: the same as the output).

The services here are what drivers call: ``tty_termios_baud_rate``,
``tty_termios_input_baud_rate``, ``tty_termios_encode_baud_rate`` (and
``tty_encode_baud_rate`` on a tty), ``tty_termios_copy_hw``,
``tty_termios_hw_change``, ``tty_get_char_size``, ``tty_get_frame_size``,
plus the exported ``tty_std_termios`` every driver copies into its
``init_termios``. The pure functions work on :class:`Termios` values, so
the ioctls (``tty_ioctl.py``) and N_TTY share them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .layout import size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# c_iflag
IGNBRK, BRKINT, IGNPAR, PARMRK, INPCK, ISTRIP = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
INLCR, IGNCR, ICRNL, IUCLC, IXON, IXANY, IXOFF, IMAXBEL, IUTF8 = (
    0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000, 0o10000, 0o20000, 0o40000)
# c_oflag
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
# c_cflag
CBAUD, CBAUDEX, BOTHER, CSIZE, CSTOPB, CREAD, PARENB, PARODD, HUPCL, CLOCAL = (
    0o10017, 0o10000, 0o10000, 0o60, 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000)
CS5, CS6, CS7, CS8 = 0o0, 0o20, 0o40, 0o60
B0, B9600, B38400, B115200 = 0, 0o15, 0o17, 0o10002
ADDRB, CMSPAR, CRTSCTS = 0o4000000000, 0o10000000000, 0o20000000000
IBSHIFT = 16
# c_lflag
ISIG, ICANON, XCASE, ECHO, ECHOE, ECHOK, ECHONL, NOFLSH, TOSTOP = (
    0o1, 0o2, 0o4, 0o10, 0o20, 0o40, 0o100, 0o200, 0o400)
ECHOCTL, ECHOPRT, ECHOKE, FLUSHO, PENDIN, IEXTEN, EXTPROC = 0o1000, 0o2000, 0o4000, 0o10000, 0o40000, 0o100000, 0o200000
# c_cc indices
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC, VSTART, VSTOP, VSUSP, VEOL = range(12)
VREPRINT, VDISCARD, VWERASE, VLNEXT, VEOL2 = range(12, 17)
NCCS = 19
# INIT_C_CC: ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, -, ^Q ^S ^Z, -, ^R ^O ^W ^V, -
INIT_C_CC = bytes([3, 0o34, 0o177, 0o25, 4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0]).ljust(NCCS, b"\0")

BAUD_TABLE = (0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400,
              57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000,
              2000000, 2500000, 3000000, 3500000, 4000000)
BAUD_BITS = (*range(0o20), *range(0o10001, 0o10020))  # B0..B38400, then B57600..B4000000

KTERMIOS_SIZE = size("ktermios")  # 44
TERMIOS_SIZE = size("termios")    # 36: what TCGETS/TCSETS copy


@dataclass(frozen=True, slots=True)
class Termios:
    """One ``struct ktermios``."""

    c_iflag: int = 0
    c_oflag: int = 0
    c_cflag: int = 0
    c_lflag: int = 0
    c_line: int = 0
    c_cc: bytes = bytes(NCCS)
    c_ispeed: int = 0
    c_ospeed: int = 0

    @classmethod
    def unpack(cls, data: bytes) -> Termios:
        """From 36 (``struct termios``: speeds 0) or 44 bytes."""
        words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, 16, 4)]
        speeds = (int.from_bytes(data[36:40], "little"), int.from_bytes(data[40:44], "little")) if len(data) >= 44 else (0, 0)
        return cls(*words, data[16], bytes(data[17:17 + NCCS]), *speeds)

    def pack(self) -> bytes:
        """The 44 bytes of a ``struct ktermios`` (``[:36]`` is a ``struct termios``)."""
        head = b"".join(v.to_bytes(4, "little") for v in (self.c_iflag, self.c_oflag, self.c_cflag, self.c_lflag))
        return (head + bytes([self.c_line]) + self.c_cc + self.c_ispeed.to_bytes(4, "little")
                + self.c_ospeed.to_bytes(4, "little"))

    def with_speeds(self) -> Termios:
        """c_ispeed/c_ospeed loaded from the Bfoo codes, as set_termios() and tty_init_termios() do."""
        return replace(self, c_ispeed=input_baud_rate(self), c_ospeed=baud_rate(self))


# include/linux/tty.h: tty_std_termios
STD_TERMIOS = Termios(ICRNL | IXON, OPOST | ONLCR, B38400 | CS8 | CREAD | HUPCL,
                      ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN, 0, INIT_C_CC, 38400, 38400)
tty_std_termios = kernel_variable("tty_std_termios", KTERMIOS_SIZE, STD_TERMIOS.pack())


def read_termios(k: Kernel, address: int) -> Termios:
    """The ``struct ktermios`` at ``address``."""
    return Termios.unpack(k.memory.read(address, KTERMIOS_SIZE))


def write_termios(k: Kernel, address: int, termios: Termios) -> None:
    """Store ``termios`` as a ``struct ktermios`` at ``address``."""
    k.memory.write(address, termios.pack())


def _speed_of(code: int, exact: int) -> int:
    if code == BOTHER:
        return exact
    if code & CBAUDEX:
        code = (code & ~CBAUDEX) + 15
    return BAUD_TABLE[code] if code < len(BAUD_TABLE) else 0


def baud_rate(t: Termios) -> int:
    """tty_termios_baud_rate(): the output speed."""
    return _speed_of(t.c_cflag & CBAUD, t.c_ospeed)


def input_baud_rate(t: Termios) -> int:
    """tty_termios_input_baud_rate(): the input speed (the output speed when its code is B0)."""
    code = (t.c_cflag >> IBSHIFT) & CBAUD
    return baud_rate(t) if code == B0 else _speed_of(code, t.c_ispeed)


def encode_baud_rate(t: Termios, ibaud: int, obaud: int) -> Termios:
    """tty_termios_encode_baud_rate(): code the speeds into c_cflag, Bfoo where one is close
    (within 2%, exact when the caller asked with BOTHER), else BOTHER with the exact value."""
    ibaud &= 0xFFFFFFFF
    obaud &= 0xFFFFFFFF
    if obaud == 0:  # CD dropped
        ibaud = 0
    iclose, oclose = ibaud // 50, obaud // 50
    ibinput = bool((t.c_cflag >> IBSHIFT) & CBAUD)
    if t.c_cflag & CBAUD == BOTHER:
        oclose = 0
        if not ibinput:
            iclose = 0
    if (t.c_cflag >> IBSHIFT) & CBAUD == BOTHER:
        iclose = 0
    cflag = t.c_cflag & ~CBAUD & ~(CBAUD << IBSHIFT)
    ifound = ofound = -1
    for i, speed in enumerate(BAUD_TABLE):
        if obaud - oclose <= speed <= obaud + oclose:
            cflag |= BAUD_BITS[i]
            ofound = i
        if ibaud - iclose <= speed <= ibaud + iclose:
            ifound = i
            if not (ofound == i and not ibinput):  # input == output: no input bits unless the user set some
                cflag |= BAUD_BITS[i] << IBSHIFT
    if ofound == -1:
        cflag |= BOTHER
    if ifound == -1 and (ibaud != obaud or ibinput):
        cflag |= BOTHER << IBSHIFT
    return replace(t, c_cflag=cflag & 0xFFFFFFFF, c_ispeed=ibaud, c_ospeed=obaud)


def copy_hw(new: Termios, old: Termios) -> Termios:
    """tty_termios_copy_hw(): ``new`` with ``old``'s hardware settings (all c_cflag but HUPCL, CREAD
    and CLOCAL, and the speeds): what a driver without set_termios keeps."""
    keep = HUPCL | CREAD | CLOCAL
    return replace(new, c_cflag=(new.c_cflag & keep) | (old.c_cflag & ~keep & 0xFFFFFFFF),
                   c_ispeed=old.c_ispeed, c_ospeed=old.c_ospeed)


def hw_change(a: Termios, b: Termios) -> bool:
    """tty_termios_hw_change(): whether the speeds or the hardware c_cflag bits differ."""
    return a.c_ispeed != b.c_ispeed or a.c_ospeed != b.c_ospeed or bool(
        (a.c_cflag ^ b.c_cflag) & ~(HUPCL | CREAD | CLOCAL))


def char_size(cflag: int) -> int:
    """tty_get_char_size(): 5..8 bits from CSIZE."""
    return {CS5: 5, CS6: 6, CS7: 7, CS8: 8}[cflag & CSIZE]


# -- services -------------------------------------------------------------------------
@service("speed_t tty_termios_baud_rate(const struct ktermios *termios)")
def tty_termios_baud_rate(k: Kernel, termios: int) -> int:
    """The output speed a termios asks for."""
    return baud_rate(read_termios(k, termios))


@service("speed_t tty_termios_input_baud_rate(const struct ktermios *termios)")
def tty_termios_input_baud_rate(k: Kernel, termios: int) -> int:
    """The input speed a termios asks for."""
    return input_baud_rate(read_termios(k, termios))


@service("void tty_termios_encode_baud_rate(struct ktermios *termios, speed_t ibaud, speed_t obaud)")
def tty_termios_encode_baud_rate(k: Kernel, termios: int, ibaud: int, obaud: int) -> None:
    """Write back the speeds the hardware really runs at (codes and exact values)."""
    write_termios(k, termios, encode_baud_rate(read_termios(k, termios), ibaud, obaud))


@service("void tty_termios_copy_hw(struct ktermios *new, const struct ktermios *old)")
def tty_termios_copy_hw(k: Kernel, new: int, old: int) -> None:
    """Keep the old hardware settings in ``new`` (a driver that cannot change them)."""
    write_termios(k, new, copy_hw(read_termios(k, new), read_termios(k, old)))


@service("bool tty_termios_hw_change(const struct ktermios *a, const struct ktermios *b)")
def tty_termios_hw_change(k: Kernel, a: int, b: int) -> int:
    """1 if the two differ in speed or hardware flags."""
    return int(hw_change(read_termios(k, a), read_termios(k, b)))


@service("unsigned char tty_get_char_size(unsigned int cflag)")
def tty_get_char_size(k: Kernel, cflag: int) -> int:
    """Data bits per character."""
    return char_size(cflag)


@service("unsigned char tty_get_frame_size(unsigned int cflag)")
def tty_get_frame_size(k: Kernel, cflag: int) -> int:
    """Bits per frame: start, data, stop (1 or 2), parity and address bits."""
    return (2 + char_size(cflag) + bool(cflag & CSTOPB) + bool(cflag & PARENB) + bool(cflag & ADDRB))
