"""The serial core's registration and helpers (drivers/tty/serial/serial_core.c), Linux 6.1 i386.

``uart_register_driver(drv)`` does what Linux does: a ``struct
uart_state`` per line (``drv->state``, each with its ``tty_port``
initialised and the serial core's port operations), and a tty driver
(``drv->tty_driver``) named ``drv->dev_name`` under ``drv->major`` /
``drv->minor`` (0: dynamic), type serial, ``TTY_DRIVER_REAL_RAW |
TTY_DRIVER_DYNAMIC_DEV``, init_termios 9600 8N1 with CLOCAL, registered
with the TTY core; ``uart_unregister_driver`` undoes it. Lines appear
with ``uart_add_one_port``, which is not modelled yet: without it no line
of a serial-core driver exists, so its tty operations (the core's
``uart_ops``) are never reached, and the table stays empty.

The helpers UART drivers call from their ``set_termios`` and interrupt
handlers are Linux's: ``uart_get_baud_rate`` (the 38400 alias of the
UPF_SPD_* flags, B0 as 9600, falling back to the old speed and then the
nearest the chip can do, written back into termios), ``uart_get_divisor``
(``uartclk / (16 * baud)`` rounded, or the custom divisor),
``uart_update_timeout`` (the frame time in ns), ``uart_insert_char``
(a received character and an overrun into the flip buffer, counting
``buf_overrun`` when it is full) and ``uart_write_wakeup``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import tty as core
from . import tty_buffer, tty_port, tty_termios
from .layout import Fields, offset, size
from .registrations import ENOMEM, is_err

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

STATE_SIZE = size("uart_state")
UPF_SPD_HI, UPF_SPD_VHI, UPF_SPD_SHI, UPF_SPD_WARP, UPF_SPD_CUST, UPF_SPD_MASK = (
    1 << 4, 1 << 5, 1 << 12, 0x1010, 0x30, 0x1030)
TTY_OVERRUN = 4
NSEC_PER_SEC = 1_000_000_000

# The serial core's tty and port operations (see the module docstring: no line exists to use them yet).
uart_ops = kernel_variable("uart_ops", size("tty_operations"))
uart_port_ops = kernel_variable("uart_port_ops", size("tty_port_operations"))


@service("int uart_register_driver(struct uart_driver *drv)")
def uart_register_driver(k: Kernel, drv: int) -> int:
    """Per-line states and a tty driver for ``drv``: 0 or -errno (nothing left behind on failure)."""
    d = Fields(k.memory, "uart_driver", drv)
    lines = d["nr"]
    state = allocate(k, STATE_SIZE * lines, owner="kernel") if lines else 0
    if not state:
        return -ENOMEM
    k.memory.write(state, bytes(STATE_SIZE * lines))
    d["state"] = state
    normal = core.__tty_alloc_driver(k, lines, 0, core.TTY_DRIVER_REAL_RAW | core.TTY_DRIVER_DYNAMIC_DEV)
    if is_err(normal):
        release(k, state)
        d["state"] = 0
        return signed32(normal)
    d["tty_driver"] = normal
    n = Fields(k.memory, "tty_driver", normal)
    n["driver_name"], n["name"], n["major"], n["minor_start"] = d["driver_name"], d["dev_name"], d["major"], d["minor"]
    n["type"], n["subtype"], n["driver_state"] = 3, 1, drv  # TTY_DRIVER_TYPE_SERIAL, SERIAL_TYPE_NORMAL
    n["ops"] = k.export_address("uart_ops") or 0
    initial = replace(tty_termios.STD_TERMIOS, c_cflag=tty_termios.B9600 | tty_termios.CS8 | tty_termios.CREAD | tty_termios.HUPCL
                      | tty_termios.CLOCAL, c_ispeed=9600, c_ospeed=9600)
    tty_termios.write_termios(k, normal + core.DRIVER_INIT_TERMIOS, initial)
    for line in range(lines):
        port = state + STATE_SIZE * line + offset("uart_state", "port")
        tty_port.tty_port_init(k, port)
        Fields(k.memory, "tty_port", port)["ops"] = k.export_address("uart_port_ops") or 0
    result = core.tty_register_driver(k, normal)
    if result >= 0:
        return result
    for line in range(lines):
        tty_port.tty_port_destroy(k, state + STATE_SIZE * line + offset("uart_state", "port"))
    core.tty_driver_kref_put(k, normal)
    release(k, state)
    d["state"], d["tty_driver"] = 0, 0
    return result


@service("void uart_unregister_driver(struct uart_driver *drv)")
def uart_unregister_driver(k: Kernel, drv: int) -> None:
    """Unregister the tty driver and free the line states."""
    d = Fields(k.memory, "uart_driver", drv)
    normal, state = d["tty_driver"], d["state"]
    if normal:
        core.tty_unregister_driver(k, normal)
        core.tty_driver_kref_put(k, normal)
    if state:
        for line in range(d["nr"]):
            tty_port.tty_port_destroy(k, state + STATE_SIZE * line + offset("uart_state", "port"))
        release(k, state)
    d["state"], d["tty_driver"] = 0, 0


@service("unsigned int uart_get_baud_rate(struct uart_port *port, struct ktermios *termios, "
         "const struct ktermios *old, unsigned int min, unsigned int max)")
def uart_get_baud_rate(k: Kernel, port: int, termios: int, old: int, low: int, high: int) -> int:
    """The speed to program, within [min, max]; termios corrected where it asked for the impossible."""
    alias = {UPF_SPD_HI: 57600, UPF_SPD_VHI: 115200, UPF_SPD_SHI: 230400, UPF_SPD_WARP: 460800}.get(
        Fields(k.memory, "uart_port", port)["flags"] & UPF_SPD_MASK, 38400)
    hung_up = False
    for attempt in range(2):
        current = tty_termios.read_termios(k, termios)
        baud = tty_termios.baud_rate(current)
        if attempt == 0 and baud == 38400:
            baud = alias
        if baud == 0:
            hung_up, baud = True, 9600
        if low <= baud <= high:
            return baud
        current = replace(current, c_cflag=current.c_cflag & ~tty_termios.CBAUD & 0xFFFFFFFF)
        if old:
            baud = tty_termios.baud_rate(tty_termios.read_termios(k, old))
            if not hung_up:
                current = tty_termios.encode_baud_rate(current, baud, baud)
            tty_termios.write_termios(k, termios, current)
            old = 0
            continue
        if not hung_up:
            target = low + 1 if baud <= low else high - 1
            current = tty_termios.encode_baud_rate(current, target, target)
        tty_termios.write_termios(k, termios, current)
    return 0


@service("unsigned int uart_get_divisor(struct uart_port *port, unsigned int baud)")
def uart_get_divisor(k: Kernel, port: int, baud: int) -> int:
    """The divisor latch value for ``baud`` (the custom divisor for the 38400 alias of UPF_SPD_CUST)."""
    p = Fields(k.memory, "uart_port", port)
    if baud == 38400 and p["flags"] & UPF_SPD_MASK == UPF_SPD_CUST:
        return p["custom_divisor"]
    return (p["uartclk"] + 8 * baud) // (16 * baud) if baud else 0


@service("void uart_update_timeout(struct uart_port *port, unsigned int cflag, unsigned int baud)")
def uart_update_timeout(k: Kernel, port: int, cflag: int, baud: int) -> None:
    """port->frame_time: one frame at ``baud``, in nanoseconds (rounded up)."""
    if baud:
        frame = tty_termios.tty_get_frame_size(k, cflag) * NSEC_PER_SEC
        Fields(k.memory, "uart_port", port)["frame_time"] = -(-frame // baud)


@service("void uart_write_wakeup(struct uart_port *port)")
def uart_write_wakeup(k: Kernel, port: int) -> None:
    """The transmitter has room: wake the line's writer."""
    state = Fields(k.memory, "uart_port", port)["state"]
    tty_port.tty_port_tty_wakeup(k, state + offset("uart_state", "port"))


@service("void uart_insert_char(struct uart_port *port, unsigned int status, unsigned int overrun, unsigned int ch, "
         "unsigned int flag)")
def uart_insert_char(k: Kernel, port: int, status: int, overrun: int, ch: int, flag: int) -> None:
    """Queue a received character unless its status is ignored, then an overrun marker if one happened."""
    p = Fields(k.memory, "uart_port", port)
    tport = p["state"] + offset("uart_state", "port")
    ignore = p["ignore_status_mask"]
    overruns = p.address_of("icount.buf_overrun")
    if status & ignore & ~overrun & 0xFFFFFFFF == 0 and not tty_buffer.insert(k, tport, bytes([ch & 0xFF]), flag & 0xFF):
        k.memory.write_u32(overruns, k.memory.read_u32(overruns) + 1)
    if status & ~ignore & overrun and not tty_buffer.insert(k, tport, b"\0", TTY_OVERRUN):
        k.memory.write_u32(overruns, k.memory.read_u32(overruns) + 1)


UPSTAT_DCD_ENABLE = 1 << 1


@service("void uart_handle_dcd_change(struct uart_port *uport, bool active)")
def uart_handle_dcd_change(k: Kernel, uport: int, active: int) -> None:
    """Carrier changed: the ldisc's dcd_change, the count, then openers woken or the tty hung up."""
    from . import tty_ldisc, waits

    p = Fields(k.memory, "uart_port", uport)
    port = p["state"] + offset("uart_state", "port")
    tty = Fields(k.memory, "tty_port", port)["tty"]
    if tty:
        ld = tty_ldisc.tty_ldisc_ref(k, tty)
        if ld:
            function = tty_ldisc.ldisc_op(k, tty, "dcd_change")
            if function:
                k.call_function_pointer(function, tty, active & 0xFF)
            tty_ldisc.tty_ldisc_deref(k, ld)
    p["icount.dcd"] = p["icount.dcd"] + 1
    if p["status"] & UPSTAT_DCD_ENABLE:
        if active & 0xFF:
            waits.wake_up_common(k, port + offset("tty_port", "open_wait"), 1, 0, 0, 0)
        elif tty:
            core.tty_hangup(k, tty)


@service("bool uart_try_toggle_sysrq(struct uart_port *port, unsigned int ch)")
def uart_try_toggle_sysrq(k: Kernel, port: int, ch: int) -> int:
    """Debian sets no CONFIG_MAGIC_SYSRQ_SERIAL_SEQUENCE: no character toggles sysrq (false)."""
    return 0
