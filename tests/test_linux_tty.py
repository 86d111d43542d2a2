"""The TTY layer as Linux 6.1: a compiled loopback tty driver driven from Python, and real Debian modules.

``drivers/linux/ttydemo.c`` registers two loopback lines (/dev/ttydemo0 and
/dev/ttydemo1) with a ``tty_port`` each; what is written to a line comes
back through the flip buffer (line 0 with ``tty_insert_flip_string``, line
1 with the inline ``tty_insert_flip_char``). Its ``set_termios`` records
the speed asked and clamps it to 115200. The real ``usbserial.ko`` (with
usbcore) and ``n_hdlc.ko`` run on the same services.
"""

from __future__ import annotations

import struct

import pytest

from kernel_stubs.linux import tty_termios as t
from kernel_stubs.linux.tty import TtyCore
from kernel_stubs.linux.tty_ldisc import LineDisciplines
from sandbox import Kernel
from sandbox.devices.chardev import O_NONBLOCK, O_RDWR
from sandbox.errors import DeviceError, ServiceError
from tests.linux_corpus import KDIR, ko, needs_corpus

TCGETS, TCSETS, TCGETS2, TCFLSH = 0x5401, 0x5402, 0x802C542A, 0x540B
TIOCMGET, TIOCMBIS, TIOCMBIC, TIOCEXCL, TIOCSETD, TIOCGETD, TIOCINQ = 0x5415, 0x5416, 0x5417, 0x540C, 0x5423, 0x5424, 0x541B
N_HDLC = 13


def _u32(k: Kernel, name: str) -> int:
    return k.memory.read_u32(k.module("ttydemo").address_of(name))


def _termios(f) -> t.Termios:
    raw = bytearray(36)
    assert f.ioctl(TCGETS, raw) == 0
    return t.Termios.unpack(bytes(raw))


def _set(f, termios: t.Termios) -> int:
    return f.ioctl(TCSETS, termios.pack()[:36])


def _raw(termios: t.Termios, baud_code: int | None = None) -> t.Termios:
    """cfmakeraw(), and optionally a new speed code."""
    from dataclasses import replace

    cflag = termios.c_cflag if baud_code is None else (termios.c_cflag & ~t.CBAUD) | baud_code
    cc = bytearray(termios.c_cc)
    cc[t.VMIN], cc[t.VTIME] = 1, 0
    return replace(termios, c_iflag=0, c_oflag=0, c_lflag=0, c_cflag=cflag, c_cc=bytes(cc))


@pytest.fixture(params=["gcc", "clang"])
def k(request, built) -> Kernel:
    kernel = Kernel("linux")
    kernel.load(built[(request.param, "linux", "ttydemo")])
    return kernel


def test_the_driver_registers_lines_under_a_dynamic_major(k: Kernel) -> None:
    (driver,) = k.subsystem(TtyCore).drivers
    major = k.memory.read_u32(driver + 24)
    assert f"ttydemo: 2 loopback lines, major {major}" in k.console
    assert major == 254  # the first dynamic major Linux hands out
    devices = {d.name: devt for devt, d in k.subsystem(TtyCore).devices.items()}
    assert devices == {"ttydemo0": major << 20, "ttydemo1": major << 20 | 1}
    assert {"ttydemo0", "ttydemo1"} <= set(k.sysfs.ls("/sys/class/tty"))


def test_written_bytes_come_back_through_the_flip_buffer(k: Kernel) -> None:
    for line in (0, 1):  # tty_insert_flip_string, then the inline tty_insert_flip_char
        with k.open(f"/dev/ttydemo{line}") as f:
            assert _set(f, _raw(_termios(f))) == 0
            payload = bytes(range(256)) * 3  # more than one 256-byte flip buffer, every byte value
            assert f.write(payload) == len(payload)
            assert f.read(4096) == payload
    assert _u32(k, "ttydemo_written") == 2 * 768


def test_tcsets_reaches_set_termios_with_the_old_settings(k: Kernel) -> None:
    with k.open("/dev/ttydemo0") as f:
        initial = _termios(f)
        assert initial.c_cflag & t.CBAUD == t.B9600 and initial.c_cflag & t.CLOCAL  # the driver's init_termios
        assert initial.c_iflag == t.ICRNL | t.IXON and initial.c_lflag & t.ICANON  # tty_std_termios's
        calls = _u32(k, "ttydemo_set_termios_calls")
        assert _set(f, _raw(initial, t.B38400)) == 0
        assert _u32(k, "ttydemo_set_termios_calls") == calls + 1
        assert _u32(k, "ttydemo_last_baud") == 38400 and _u32(k, "ttydemo_old_baud") == 9600
        assert _termios(f).c_cflag & t.CBAUD == t.B38400
        # 230400 is more than the "hardware" does: the driver writes back 115200 (tty_encode_baud_rate).
        assert _set(f, _raw(initial, 0o10003)) == 0
        assert _u32(k, "ttydemo_last_baud") == 230400
        assert _termios(f).c_cflag & t.CBAUD == t.B115200
        raw = bytearray(44)
        assert f.ioctl(TCGETS2, raw) == 0
        assert struct.unpack_from("<2I", raw, 36) == (115200, 115200)


def test_settings_survive_a_close_unless_the_driver_resets_them(k: Kernel) -> None:
    with k.open("/dev/ttydemo1") as f:
        _set(f, _raw(_termios(f), t.B38400))
    with k.open("/dev/ttydemo1") as f:
        assert _termios(f).c_cflag & t.CBAUD == t.B38400  # tty_save_termios kept them
    with k.open("/dev/ttydemo0") as f:
        assert _termios(f).c_cflag & t.CBAUD == t.B9600


def test_port_activation_counts_and_shutdown_at_last_close(k: Kernel) -> None:
    a = k.open("/dev/ttydemo0")
    b = k.open("/dev/ttydemo0")
    assert _u32(k, "ttydemo_activations") == 1 and _u32(k, "ttydemo_opens") == 2
    assert _u32(k, "ttydemo_dtr") == 1  # block_til_ready raised DTR/RTS (a baud rate is set)
    a.close()
    assert _u32(k, "ttydemo_shutdowns") == 0
    b.close()
    assert _u32(k, "ttydemo_shutdowns") == 1 and _u32(k, "ttydemo_closes") == 2
    assert _u32(k, "ttydemo_dtr") == 0  # HUPCL: dropped at the last close


def test_canonical_mode_delivers_lines(k: Kernel) -> None:
    from dataclasses import replace

    with k.open("/dev/ttydemo0") as f:
        now = _termios(f)
        # Canonical input without echo (the loopback would echo forever) and without output processing.
        assert _set(f, replace(now, c_oflag=0, c_lflag=t.ICANON, c_iflag=t.ICRNL)) == 0
        assert f.write(b"first\rsecond\nthird") == 18
        assert f.read(100) == b"first\n"
        assert f.read(3) == b"sec" and f.read(100) == b"ond\n"  # a read never crosses a line
        inq = bytearray(4)
        assert f.ioctl(TIOCINQ, inq) == 0 and struct.unpack("<I", inq) == (0,)  # "third" is not a line yet
        f.write(b"\x7f\x7fee\x04")  # two erases, then EOF ends the line without being passed on
        assert f.read(100) == b"thiee"
        f.write(b"\x04")  # EOF on an empty line: a read of 0 bytes
        assert f.read(100) == b""


def test_output_processing_turns_nl_into_crnl(k: Kernel) -> None:
    from dataclasses import replace

    with k.open("/dev/ttydemo0") as f:
        raw = _raw(_termios(f))
        _set(f, replace(raw, c_oflag=t.OPOST | t.ONLCR))
        assert f.write(b"a\nb") == 3
        assert f.read(100) == b"a\r\nb"


def test_reads_that_cannot_be_satisfied(k: Kernel) -> None:
    with k.open("/dev/ttydemo0", O_RDWR | O_NONBLOCK) as f:
        _set(f, _raw(_termios(f)))
        with pytest.raises(DeviceError) as error:
            f.read(10)
        assert error.value.errno == 11  # -EAGAIN
    with k.open("/dev/ttydemo0") as f:
        _set(f, _raw(_termios(f)))
        with pytest.raises(ServiceError, match=r"read of /dev/ttydemo0 \(N_TTY\) waits forever"):
            f.read(10)


def test_input_from_the_driver_and_breaks(k: Kernel) -> None:
    from dataclasses import replace

    m = k.module("ttydemo")
    with k.open("/dev/ttydemo1") as f:
        _set(f, replace(_raw(_termios(f)), c_iflag=t.PARMRK))
        data = k.memory.alloc(3)
        k.memory.write(data, b"xyz")
        assert m.call("ttydemo_receive", 1, data, 3, 0) == 3
        assert m.call("ttydemo_receive", 1, 0, 0, 1) == 1  # a break: flagged TTY_BREAK
        assert f.read(100) == b"xyz\xff\x00\x00"  # PARMRK marks it \377 \0 \0
        _set(f, replace(_raw(_termios(f)), c_iflag=t.IGNBRK))
        m.call("ttydemo_receive", 1, 0, 0, 1)
        m.call("ttydemo_receive", 1, data, 1, 0)
        assert f.read(100) == b"x"


def test_flow_control_stops_and_starts_the_driver(k: Kernel) -> None:
    from dataclasses import replace

    m = k.module("ttydemo")
    with k.open("/dev/ttydemo1") as f:
        _set(f, replace(_raw(_termios(f)), c_iflag=t.IXON))
        xoff = k.memory.alloc(1)
        k.memory.write(xoff, b"\x13")  # ^S: VSTOP
        m.call("ttydemo_receive", 1, xoff, 1, 0)
        from kernel_stubs.linux.workqueue import run_work

        run_work(k)  # the kworker hands it to N_TTY
        inq = bytearray(4)
        assert f.ioctl(TIOCINQ, inq) == 0 and inq == bytes(4)  # ^S was taken, not queued for reading
        assert _u32(k, "ttydemo_stops") == 1
        m.call("ttydemo_receive", 1, xoff, 1, 0)
        assert _u32(k, "ttydemo_stops") == 1  # already stopped
        k.memory.write(xoff, b"\x11")  # ^Q: VSTART
        m.call("ttydemo_receive", 1, xoff, 1, 0)
        f.write(b"go")  # (the write also lets the flush run)
        assert f.read(10) == b"go" and _u32(k, "ttydemo_starts") == 1
        assert f.ioctl(0x540A, 0) == 0 and _u32(k, "ttydemo_stops") == 2  # TCXONC TCOOFF
        assert f.ioctl(0x540A, 1) == 0 and _u32(k, "ttydemo_starts") == 2  # TCOON


def test_put_char_and_the_tty_lock(k: Kernel) -> None:
    from kernel_stubs.linux import tty as core
    from kernel_stubs.linux.locking import Mutexes
    from kernel_stubs.linux.tty_files import file_tty

    ctx = k.service_context
    with k.open("/dev/ttydemo0") as f:
        _set(f, _raw(_termios(f)))
        tty = file_tty(ctx, f.file)
        assert core.tty_put_char(ctx, tty, ord("!")) == 1  # no put_char: a one-byte write
        assert f.read(10) == b"!"
        refs = k.memory.read_u32(tty)
        core.tty_lock(ctx, tty)
        assert tty + 72 in k.subsystem(Mutexes).held and k.memory.read_u32(tty) == refs + 1
        core.tty_unlock(ctx, tty)
        assert tty + 72 not in k.subsystem(Mutexes).held and k.memory.read_u32(tty) == refs


def test_hangup_makes_the_file_dead(k: Kernel) -> None:
    f = k.open("/dev/ttydemo0")
    k.module("ttydemo").call("ttydemo_carrier_lost", 0)  # queued, as from an interrupt
    from kernel_stubs.linux.workqueue import run_work

    run_work(k)
    assert f.read(10) == b""  # a hung-up tty reads as end of file
    assert f.write(b"x") == -5  # and refuses writes with -EIO
    assert _u32(k, "ttydemo_shutdowns") == 1  # the port was shut down by tty_port_hangup
    f.close()
    with k.open("/dev/ttydemo0") as g:  # a new open gets a new tty
        _set(g, _raw(_termios(g)))
        g.write(b"ok")
        assert g.read(10) == b"ok"


def test_modem_lines_exclusive_mode_and_bad_pointers(k: Kernel) -> None:
    with k.open("/dev/ttydemo0") as f:
        bits = bytearray(4)
        assert f.ioctl(TIOCMGET, bits) == 0
        assert struct.unpack("<I", bits)[0] & 0x166 == 0x166  # DTR RTS CTS CAR DSR
        assert f.ioctl(TIOCMBIC, struct.pack("<I", 0x002)) == 0
        assert _u32(k, "ttydemo_mctrl") == 0x004
        assert f.ioctl(TIOCEXCL) == 0
        with pytest.raises(DeviceError) as error:
            k.open("/dev/ttydemo0")
        assert error.value.errno == 16  # -EBUSY
        assert f.ioctl(TCGETS, 0xC0001000) == -14  # a kernel address: -EFAULT
        assert f.ioctl(TIOCSETD, struct.pack("<i", 28)) == -22  # no such discipline registered
        assert f.ioctl(TCFLSH, 7) == -22


def test_unload_is_clean_and_open_files_are_leaks(k: Kernel) -> None:
    with k.open("/dev/ttydemo0") as f:
        _set(f, _raw(_termios(f)))
    k.open("/dev/ttydemo1")
    report = k.unload(k.module("ttydemo"))
    assert report.leaks == ["file /dev/ttydemo1 still open"]
    assert not k.subsystem(TtyCore).drivers and not k.subsystem(TtyCore).devices


def test_baud_rate_coding_matches_linux() -> None:
    std = t.STD_TERMIOS
    assert t.baud_rate(std) == 38400 and t.input_baud_rate(std) == 38400
    fast = t.encode_baud_rate(std, 115200, 115200)
    assert fast.c_cflag & t.CBAUD == t.B115200 and not fast.c_cflag >> t.IBSHIFT & t.CBAUD
    odd = t.encode_baud_rate(std, 250000, 250000)  # no Bfoo within 2%: BOTHER with the exact speed
    assert odd.c_cflag & t.CBAUD == t.BOTHER and t.baud_rate(odd) == 250000
    near = t.encode_baud_rate(std, 9650, 9650)  # within 2% of 9600: reported as B9600
    assert near.c_cflag & t.CBAUD == t.B9600 and near.c_ospeed == 9650
    split = t.encode_baud_rate(std, 1200, 9600)  # input differs: its own code above IBSHIFT
    assert t.input_baud_rate(split) == 1200 and t.baud_rate(split) == 9600
    assert t.encode_baud_rate(std, 9600, 0).c_ispeed == 0  # CD dropped


# -- real modules -------------------------------------------------------------------------
@needs_corpus
def test_usbserial_with_its_chain_registers_pl2303() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("pl2303", KDIR)
    assert [m.name for m in modules] == ["usb_common", "usbcore", "usbserial", "pl2303"]
    assert "usbcore: registered new interface driver usbserial_generic\n" in k.console
    assert "usbserial: USB Serial support registered for generic\n" in k.console
    assert "usbcore: registered new interface driver pl2303\n" in k.console
    assert "usbserial: USB Serial support registered for pl2303\n" in k.console
    (driver,) = k.subsystem(TtyCore).drivers
    assert k.memory.read_cstring(k.memory.read_u32(driver + 16), 16) == b"ttyUSB"
    assert k.memory.read_u32(driver + 24) == 188 and k.memory.read_u32(driver + 32) == 512  # USB_SERIAL_TTY_MAJOR
    assert not k.subsystem(TtyCore).devices  # TTY_DRIVER_DYNAMIC_DEV: nodes come with USB devices
    for m in reversed(modules):
        assert k.unload(m).clean
    assert not k.subsystem(TtyCore).drivers


@needs_corpus
def test_n_hdlc_frames_over_the_loopback(built) -> None:
    k = Kernel("linux")
    hdlc = k.load(ko("drivers/tty/n_hdlc.ko"))
    assert "N_HDLC line discipline registered with maxframe=4096" in k.console
    (entry,) = k.subsystem(LineDisciplines).of_kind("tty ldisc")
    assert entry.name == "hdlc" and entry.fields["num"] == N_HDLC
    demo = k.load(built[("gcc", "linux", "ttydemo")])  # registers its own discipline too
    with k.open("/dev/ttydemo0") as f:
        _set(f, _raw(_termios(f)))
        assert f.ioctl(TIOCSETD, struct.pack("<i", N_HDLC)) == 0
        disc = bytearray(4)
        assert f.ioctl(TIOCGETD, disc) == 0 and struct.unpack("<i", disc) == (N_HDLC,)
        assert f.write(b"frame-one") == 9 and f.write(b"frame-two") == 9  # n_hdlc's write calls the driver's
        assert f.read(100) == b"frame-one"  # one frame per read, through n_hdlc's receive_buf and read
        with pytest.raises(DeviceError) as error:
            f.read(4)
        assert error.value.errno == 75  # -EOVERFLOW: the frame does not fit (and is dropped)
        f.write(b"frame-three")
        assert f.read(100) == b"frame-three"
    assert k.unload(demo).clean
    assert k.unload(hdlc).clean
    assert not k.subsystem(LineDisciplines).entries


def test_a_module_discipline_built_on_n_tty(k: Kernel) -> None:
    (entry,) = k.subsystem(LineDisciplines).of_kind("tty ldisc")
    assert entry.name == "ttydemo-upper" and entry.fields["num"] == 29
    n_tty_read = k.export_address("__sandbox_n_tty_read")
    assert k.memory.read_u32(entry.address + 20) == n_tty_read  # n_tty_inherit_ops copied N_TTY's read
    with k.open("/dev/ttydemo0") as f:
        _set(f, _raw(_termios(f)))
        assert f.ioctl(TIOCSETD, struct.pack("<i", 29)) == 0
        disc = bytearray(4)
        assert f.ioctl(TIOCGETD, disc) == 0 and struct.unpack("<i", disc) == (29,)
        assert f.write(b"shout, please") == 13
        assert f.read(100) == b"SHOUT, PLEASE"  # its receive_buf2 in the guest, N_TTY's read in Python
        assert _u32(k, "ttydemo_upper_received") == 13
        assert f.ioctl(TIOCSETD, struct.pack("<i", 0)) == 0  # back to N_TTY
        f.write(b"quiet")
        assert f.read(100) == b"quiet"


def test_builtin_majors_leave_their_free_minors() -> None:
    from kernel_stubs.linux.chrdev import reserve_region

    k = Kernel("linux")
    ctx = k.service_context
    assert reserve_region(ctx, 5, 0, 1, "tty") == -16  # /dev/tty is the kernel's
    assert reserve_region(ctx, 5, 3, 1, "ttyprintk") == 5  # TTYAUX_MAJOR minor 3 is free, as on Linux
    assert reserve_region(ctx, 4, 64, 1, "ttyS") == -16  # the built-in 8250's
    assert reserve_region(ctx, 4, 96, 8, "ttyX") == 4


@needs_corpus
def test_pps_ldisc_registers_n_ttys_ops_with_its_own_dcd_change() -> None:
    k = Kernel("linux", unresolved="trap")  # the PPS core (built in) is not modelled: its calls come at open
    k.load(ko("drivers/pps/clients/pps-ldisc.ko"))
    assert "pps_ldisc: PPS line discipline registered" in k.console
    (entry,) = k.subsystem(LineDisciplines).of_kind("tty ldisc")
    assert entry.name == "pps_tty" and entry.fields["num"] == 18  # N_PPS
    assert k.memory.read_u32(entry.address + 60) == k.export_address("__sandbox_n_tty_receive_buf2")
    assert k.symbolizer.short(k.memory.read_u32(entry.address + 56)).startswith("pps_ldisc:")


# -- the serial core ----------------------------------------------------------------------
@needs_corpus
@pytest.mark.parametrize(("module", "name", "lines"), [("drivers/tty/serial/jsm/jsm.ko", b"ttyn", 32),
                                                       ("drivers/tty/serial/rp2.ko", b"ttyRP", 32),
                                                       ("drivers/tty/serial/pch_uart.ko", b"ttyPCH", 4)])
def test_serial_core_drivers_register_their_tty_driver(module: str, name: bytes, lines: int) -> None:
    k = Kernel("linux", unresolved="trap")  # uart_add_one_port and the rest come with a probe
    m = k.load(ko(module))
    (driver,) = k.subsystem(TtyCore).drivers
    assert k.memory.read_cstring(k.memory.read_u32(driver + 16), 16) == name
    assert k.memory.read_u32(driver + 24) == 254 and k.memory.read_u32(driver + 32) == lines  # dynamic major
    init = t.read_termios(k, driver + 40)
    assert init.c_cflag == t.B9600 | t.CS8 | t.CREAD | t.HUPCL | t.CLOCAL and init.c_ospeed == 9600
    assert k.unload(m).clean
    assert not k.subsystem(TtyCore).drivers


def _uart_port(k: Kernel, uartclk: int = 1843200, flags: int = 0) -> int:
    from kernel_stubs.linux.layout import Fields, size

    port = k.memory.alloc(size("uart_port"))
    k.memory.write(port, bytes(size("uart_port")))
    fields = Fields(k.memory, "uart_port", port)
    fields["uartclk"], fields["flags"] = uartclk, flags
    return port


def test_uart_speed_helpers_match_serial_core() -> None:
    from dataclasses import replace

    from kernel_stubs.linux import serial_core as sc

    k = Kernel("linux")
    ctx = k.service_context
    port = _uart_port(k)
    termios = k.memory.alloc(44)
    t.write_termios(k, termios, replace(t.STD_TERMIOS, c_cflag=t.CS8 | t.B115200))
    assert sc.uart_get_baud_rate(ctx, port, termios, 0, 50, 115200) == 115200
    assert sc.uart_get_divisor(ctx, port, 115200) == 1 and sc.uart_get_divisor(ctx, port, 9600) == 12
    # 38400 is the alias of the UPF_SPD_* flags: UPF_SPD_VHI makes it 115200.
    fast = _uart_port(k, flags=sc.UPF_SPD_VHI)
    t.write_termios(k, termios, replace(t.STD_TERMIOS, c_cflag=t.CS8 | t.B38400))
    assert sc.uart_get_baud_rate(ctx, fast, termios, 0, 50, 115200) == 115200
    # Out of range without an old setting: max - 1 written back into termios (close enough to be
    # coded B115200, as Linux codes it), and the second try takes that.
    t.write_termios(k, termios, replace(t.STD_TERMIOS, c_cflag=t.CS8 | 0o10004))  # B460800
    assert sc.uart_get_baud_rate(ctx, port, termios, 0, 50, 115200) == 115200
    corrected = t.read_termios(k, termios)
    assert corrected.c_cflag & t.CBAUD == t.B115200 and corrected.c_ospeed == 115199
    # With an old setting, that one is tried instead.
    old = k.memory.alloc(44)
    t.write_termios(k, old, replace(t.STD_TERMIOS, c_cflag=t.CS8 | t.B9600))
    t.write_termios(k, termios, replace(t.STD_TERMIOS, c_cflag=t.CS8 | 0o10004))
    assert sc.uart_get_baud_rate(ctx, port, termios, old, 50, 115200) == 9600
    sc.uart_update_timeout(ctx, port, t.CS8, 9600)  # 10 bits at 9600: 1041667 ns
    assert k.memory.read_u32(port + 180) == 1041667


@needs_corpus
def test_dcd_change_on_a_line_nobody_opened() -> None:
    from kernel_stubs.linux import serial_core as sc
    from kernel_stubs.linux.layout import Fields, size

    k = Kernel("linux", unresolved="trap")
    m = k.load(ko("drivers/tty/serial/rp2.ko"))
    ctx = k.service_context
    drv = m.address_of("rp2_uart_driver")
    state = Fields(k.memory, "uart_driver", drv)["state"]
    assert state and Fields(k.memory, "uart_driver", drv)["nr"] == 32
    port = _uart_port(k)
    Fields(k.memory, "uart_port", port)["state"] = state
    Fields(k.memory, "uart_port", port)["status"] = sc.UPSTAT_DCD_ENABLE
    sc.uart_handle_dcd_change(ctx, port, 0)
    assert Fields(k.memory, "uart_port", port)["icount.dcd"] == 1  # counted; no tty to hang up
    assert sc.uart_try_toggle_sysrq(ctx, port, ord("x")) == 0  # no sysrq toggle sequence configured
    assert size("uart_state") * 32 <= k.memory.region_at(state).end - state
    assert k.unload(m).clean
