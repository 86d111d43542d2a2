"""TTY ports (drivers/tty/tty_port.c), Linux 6.1 i386: the per-line state a driver embeds.

``tty_port_init`` sets a ``struct tty_port`` up as Linux does (flip
buffers, open and modem-status wait queues, its mutexes, close delays of
0.5 s and 30 s at HZ=250, the default client ops, one reference).
``tty_port_register_device*`` links the port to line ``index`` of a
driver (``driver->ports[index]``) and registers the line's device. The
open/close helpers carry Linux's counting and state bits (``iflags``:
INITIALIZED, ACTIVE...): ``tty_port_open`` counts the open, points the
port at the tty, runs ``ops->activate`` on the first open and then
``tty_port_block_til_ready`` (non-blocking opens and CLOCAL lines succeed
at once; a blocking open waits for carrier, which without anything to
raise it is a clear error naming the port, not a hang);
``tty_port_close`` undoes it, calling ``ops->shutdown`` on the last close
(and ``dtr_rts(0)`` when HUPCL is set). ``tty_port_hangup`` resets the
port, ``tty_port_tty_wakeup`` wakes the writer, ``tty_port_put`` drops a
reference (the last calls ``ops->destruct`` or frees the port).

Received bytes leave the flip buffers through ``port->client_ops->
receive_buf``: the default ops (``tty_port_default_client_ops``) give them
to the line discipline of the port's tty (:func:`receive`); serdev-style
clients that install their own ops are called in the guest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import locking, tty_buffer, waits
from . import tty as core
from .layout import Fields, offset, size
from .time import HZ

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

# tty_port.iflags bit numbers
TTY_PORT_INITIALIZED, TTY_PORT_SUSPENDED, TTY_PORT_ACTIVE, TTY_PORT_CTS_FLOW, TTY_PORT_CHECK_CD = 0, 1, 2, 3, 4
ASYNC_HUP_NOTIFY = 1 << 0
ASYNC_CLOSING_WAIT_NONE = 65535
O_NONBLOCK = 0o4000
ERESTARTSYS, EAGAIN = 512, 11
PORT_SIZE = size("tty_port")
PAGE_SIZE = 4096

tty_port_default_client_ops = kernel_variable(
    "tty_port_default_client_ops", size("tty_port_client_operations"), b"",
    pointers={offset("tty_port_client_operations", "receive_buf"): "__sandbox_tty_port_default_receive_buf",
              offset("tty_port_client_operations", "write_wakeup"): "__sandbox_tty_port_default_wakeup"})


def _port(k: Kernel, port: int) -> Fields:
    return Fields(k.memory, "tty_port", port)


def iflag(k: Kernel, port: int, bit: int) -> bool:
    """A bit of port->iflags."""
    return core.test_bit(k, port + offset("tty_port", "iflags"), bit)


def set_iflag(k: Kernel, port: int, bit: int, value: bool) -> None:
    """Set or clear a bit of port->iflags."""
    core.set_bit(k, port + offset("tty_port", "iflags"), bit, value)


def port_op(k: Kernel, port: int, name: str) -> int:
    """port->ops->``name`` (0 if none)."""
    ops = _port(k, port)["ops"]
    return Fields(k.memory, "tty_port_operations", ops)[name] if ops else 0


def receive(k: Kernel, port: int, chars: int, flags: int, count: int) -> int:
    """client_ops->receive_buf(port, p, f, count): bytes taken."""
    from .tty_ldisc import receive as ldisc_receive

    ops = _port(k, port)["client_ops"]
    if not ops or ops == k.export_address("tty_port_default_client_ops"):
        tty = _port(k, port)["itty"]
        return ldisc_receive(k, tty, chars, flags, count) if tty else 0
    function = Fields(k.memory, "tty_port_client_operations", ops)["receive_buf"]
    return signed32(k.call_function_pointer(function, port, chars, flags, count)) if function else 0


@service("int __sandbox_tty_port_default_receive_buf(struct tty_port *port, const unsigned char *p, "
         "const unsigned char *f, size_t count)")
def __sandbox_tty_port_default_receive_buf(k: Kernel, port: int, p: int, f: int, count: int) -> int:
    """tty_port_default_receive_buf: to the ldisc of the port's tty."""
    from .tty_ldisc import receive as ldisc_receive

    tty = _port(k, port)["itty"]
    return ldisc_receive(k, tty, p, f, count) if tty else 0


@service("void __sandbox_tty_port_default_wakeup(struct tty_port *port)")
def __sandbox_tty_port_default_wakeup(k: Kernel, port: int) -> None:
    """tty_port_default_wakeup: tty_wakeup on the port's tty."""
    tty = tty_port_tty_get(k, port)
    if tty:
        core.tty_wakeup(k, tty)
        core.tty_kref_put(k, tty)


# -- set up and tear down -------------------------------------------------------------
@service("void tty_port_init(struct tty_port *port)")
def tty_port_init(k: Kernel, port: int) -> None:
    """Zero the port and set it up (buffers, queues, mutexes, delays, client ops, one reference)."""
    k.memory.write(port, bytes(PORT_SIZE))
    tty_buffer.init_buffers(k, port)
    p = _port(k, port)
    for queue in ("open_wait", "delta_msr_wait"):
        waits.__init_waitqueue_head(k, p.address_of(queue), 0, 0)
    for mutex in ("mutex", "buf_mutex"):
        locking.__mutex_init(k, p.address_of(mutex), 0, 0)
    p["close_delay"], p["closing_wait"] = 50 * HZ // 100, 3000 * HZ // 100
    p["client_ops"] = k.export_address("tty_port_default_client_ops") or 0
    p["kref"] = 1


@service("void tty_port_destroy(struct tty_port *port)")
def tty_port_destroy(k: Kernel, port: int) -> None:
    """Free the port's flip buffers (tty_buffer_cancel_work + tty_buffer_free_all)."""
    _cancel_flush(k, port)
    tty_buffer.free_all(k, port)


def _cancel_flush(k: Kernel, port: int) -> None:
    from . import workqueue

    workqueue.cancel_work_sync(k, port + offset("tty_port", "buf") + offset("tty_bufhead", "work"))


@service("void tty_port_put(struct tty_port *port)")
def tty_port_put(k: Kernel, port: int) -> None:
    """Drop a reference: the last frees the xmit buffer, destroys the port and calls ops->destruct
    (or kfree()s the port)."""
    if not port:
        return
    p = _port(k, port)
    count = signed32(p["kref"])
    if count <= 0:
        k.console_write("refcount_t: underflow; use-after-free.\n", 4)
        return
    p["kref"] = count - 1
    if count > 1:
        return
    if p["xmit_buf"]:
        release(k, p["xmit_buf"])
    tty_port_destroy(k, port)
    destruct = port_op(k, port, "destruct")
    if destruct:
        k.call_function_pointer(destruct, port)
    else:
        release(k, port)


@service("int tty_port_alloc_xmit_buf(struct tty_port *port)")
def tty_port_alloc_xmit_buf(k: Kernel, port: int) -> int:
    """A page for the port's transmit buffer (kept if there is one): 0 or -ENOMEM."""
    p = _port(k, port)
    if not p["xmit_buf"]:
        p["xmit_buf"] = allocate(k, PAGE_SIZE, owner="kernel")
    return 0 if p["xmit_buf"] else -12


@service("void tty_port_free_xmit_buf(struct tty_port *port)")
def tty_port_free_xmit_buf(k: Kernel, port: int) -> None:
    """Free the transmit buffer."""
    p = _port(k, port)
    if p["xmit_buf"]:
        release(k, p["xmit_buf"])
        p["xmit_buf"] = 0


@service("void tty_port_link_device(struct tty_port *port, struct tty_driver *driver, unsigned int index)")
def tty_port_link_device(k: Kernel, port: int, driver: int, index: int) -> None:
    """driver->ports[index] = port (a line past the driver's end is ignored, with Linux's warning)."""
    d = Fields(k.memory, "tty_driver", driver)
    if index >= d["num"] or not d["ports"]:
        k.warn(f"tty_port_link_device: line {index} of a driver with {d['num']} lines")
        return
    k.memory.write_u32(d["ports"] + 4 * index, port)


@service("struct device *tty_port_register_device_attr(struct tty_port *port, struct tty_driver *driver, "
         "unsigned int index, struct device *device, void *drvdata, const struct attribute_group **attr_grp)")
def tty_port_register_device_attr(k: Kernel, port: int, driver: int, index: int, device: int, drvdata: int,
                                  attr_grp: int) -> int:
    """Link the port to line ``index`` and register the line's device."""
    tty_port_link_device(k, port, driver, index)
    return core.tty_register_device_attr(k, driver, index, device, drvdata, attr_grp)


@service("struct device *tty_port_register_device(struct tty_port *port, struct tty_driver *driver, "
         "unsigned int index, struct device *device)")
def tty_port_register_device(k: Kernel, port: int, driver: int, index: int, device: int) -> int:
    """tty_port_register_device_attr without driver data or attributes."""
    return tty_port_register_device_attr(k, port, driver, index, device, 0, 0)


@service("struct device *tty_port_register_device_attr_serdev(struct tty_port *port, struct tty_driver *driver, "
         "unsigned int index, struct device *device, void *drvdata, const struct attribute_group **attr_grp)")
def tty_port_register_device_attr_serdev(k: Kernel, port: int, driver: int, index: int, device: int, drvdata: int,
                                         attr_grp: int) -> int:
    """As tty_port_register_device_attr: no serdev controller claims the port (no firmware node
    describes devices behind it), so the tty device is registered."""
    return tty_port_register_device_attr(k, port, driver, index, device, drvdata, attr_grp)


@service("struct device *tty_port_register_device_serdev(struct tty_port *port, struct tty_driver *driver, "
         "unsigned int index, struct device *device)")
def tty_port_register_device_serdev(k: Kernel, port: int, driver: int, index: int, device: int) -> int:
    """tty_port_register_device_attr_serdev without driver data or attributes."""
    return tty_port_register_device_attr(k, port, driver, index, device, 0, 0)


@service("void tty_port_unregister_device(struct tty_port *port, struct tty_driver *driver, unsigned int index)")
def tty_port_unregister_device(k: Kernel, port: int, driver: int, index: int) -> None:
    """Remove line ``index``'s device."""
    core.tty_unregister_device(k, driver, index)


@service("int tty_port_install(struct tty_port *port, struct tty_driver *driver, struct tty_struct *tty)")
def tty_port_install(k: Kernel, port: int, driver: int, tty: int) -> int:
    """tty->port = port, then tty_standard_install."""
    Fields(k.memory, "tty_struct", tty)["port"] = port
    return core.tty_standard_install(k, driver, tty)


# -- the tty a port serves ------------------------------------------------------------
@service("struct tty_struct *tty_port_tty_get(struct tty_port *port)")
def tty_port_tty_get(k: Kernel, port: int) -> int:
    """The port's tty with a reference (NULL if none is open)."""
    return core.kref_get(k, _port(k, port)["tty"])


@service("void tty_port_tty_set(struct tty_port *port, struct tty_struct *tty)")
def tty_port_tty_set(k: Kernel, port: int, tty: int) -> None:
    """Point the port at ``tty`` (a reference moves with it)."""
    p = _port(k, port)
    core.tty_kref_put(k, p["tty"])
    p["tty"] = core.kref_get(k, tty)


@service("void tty_port_tty_wakeup(struct tty_port *port)")
def tty_port_tty_wakeup(k: Kernel, port: int) -> None:
    """The driver can take more output: client_ops->write_wakeup (default: tty_wakeup)."""
    ops = _port(k, port)["client_ops"]
    if not ops or ops == k.export_address("tty_port_default_client_ops"):
        __sandbox_tty_port_default_wakeup(k, port)
        return
    function = Fields(k.memory, "tty_port_client_operations", ops)["write_wakeup"]
    if function:
        k.call_function_pointer(function, port)


@service("void __tty_port_tty_hangup(struct tty_port *port, bool check_clocal, bool async)")
def __tty_port_tty_hangup(k: Kernel, port: int, check_clocal: int, is_async: int) -> None:
    """Hang up the port's tty (unless ``check_clocal`` and the line ignores carrier): queued if ``async``."""
    from .tty_termios import CLOCAL

    tty = tty_port_tty_get(k, port)
    if tty and (not check_clocal & 0xFF or not core.termios_of(k, tty).c_cflag & CLOCAL):
        (core.tty_hangup if is_async & 0xFF else core.tty_vhangup)(k, tty)
    core.tty_kref_put(k, tty)


# -- modem lines ----------------------------------------------------------------------
@service("int tty_port_carrier_raised(struct tty_port *port)")
def tty_port_carrier_raised(k: Kernel, port: int) -> int:
    """ops->carrier_raised, 1 (carrier) if the driver cannot tell."""
    function = port_op(k, port, "carrier_raised")
    return signed32(k.call_function_pointer(function, port)) if function else 1


@service("void tty_port_raise_dtr_rts(struct tty_port *port)")
def tty_port_raise_dtr_rts(k: Kernel, port: int) -> None:
    """ops->dtr_rts(port, 1)."""
    function = port_op(k, port, "dtr_rts")
    if function:
        k.call_function_pointer(function, port, 1)


@service("void tty_port_lower_dtr_rts(struct tty_port *port)")
def tty_port_lower_dtr_rts(k: Kernel, port: int) -> None:
    """ops->dtr_rts(port, 0)."""
    function = port_op(k, port, "dtr_rts")
    if function:
        k.call_function_pointer(function, port, 0)


# -- open, close, hangup --------------------------------------------------------------
def _shutdown(k: Kernel, port: int, tty: int) -> None:
    """tty_port_shutdown(): on an initialised port (not a console), DTR/RTS dropped if HUPCL, ops->shutdown."""
    from .tty_termios import HUPCL

    p = _port(k, port)
    if p["console"]:
        return
    if iflag(k, port, TTY_PORT_INITIALIZED):
        set_iflag(k, port, TTY_PORT_INITIALIZED, False)
        if tty and core.termios_of(k, tty).c_cflag & HUPCL:
            tty_port_lower_dtr_rts(k, port)
        function = port_op(k, port, "shutdown")
        if function:
            k.call_function_pointer(function, port)


@service("void tty_port_hangup(struct tty_port *port)")
def tty_port_hangup(k: Kernel, port: int) -> None:
    """The line hung up: count 0, the tty marked TTY_IO_ERROR and let go, the port shut down, waiters woken."""
    p = _port(k, port)
    p["count"] = 0
    tty = p["tty"]
    if tty:
        core.set_tty_flag(k, tty, core.TTY_IO_ERROR)
    p["tty"] = 0
    set_iflag(k, port, TTY_PORT_ACTIVE, False)
    _shutdown(k, port, tty)
    core.tty_kref_put(k, tty)
    waits.wake_up_common(k, p.address_of("open_wait"), 1, 0, 0, 0)
    waits.wake_up_common(k, p.address_of("delta_msr_wait"), 1, 0, 0, 0)


@service("int tty_port_block_til_ready(struct tty_port *port, struct tty_struct *tty, struct file *filp)")
def tty_port_block_til_ready(k: Kernel, port: int, tty: int, filp: int) -> int:
    """Wait for carrier unless the open is non-blocking or the line is CLOCAL; marks the port active."""
    from . import vfs
    from .tty_termios import CBAUD, CLOCAL

    termios = core.termios_of(k, tty)
    if core.tty_flag(k, tty, core.TTY_IO_ERROR):
        set_iflag(k, port, TTY_PORT_ACTIVE, True)
        return 0
    if not filp or k.memory.read_u32(filp + vfs.F_FLAGS) & O_NONBLOCK:
        if termios.c_cflag & CBAUD:
            tty_port_raise_dtr_rts(k, port)
        set_iflag(k, port, TTY_PORT_ACTIVE, True)
        return 0
    if termios.c_cflag & CBAUD and iflag(k, port, TTY_PORT_INITIALIZED):
        tty_port_raise_dtr_rts(k, port)
    if not termios.c_cflag & CLOCAL and not tty_port_carrier_raised(k, port):
        name = k.memory.read_cstring(tty + offset("tty_struct", "name"), 64).decode("utf-8", "replace")
        waits.sleep_until(k, lambda: bool(tty_port_carrier_raised(k, port)) or bool(core.tty_hung_up_p(k, filp)),
                          None, lambda: f"open of /dev/{name} (waiting for carrier; open with O_NONBLOCK or set CLOCAL)")
        if core.tty_hung_up_p(k, filp) or not iflag(k, port, TTY_PORT_INITIALIZED):
            return -EAGAIN if _port(k, port)["flags"] & ASYNC_HUP_NOTIFY else -ERESTARTSYS
    set_iflag(k, port, TTY_PORT_ACTIVE, True)
    return 0


@service("int tty_port_open(struct tty_port *port, struct tty_struct *tty, struct file *filp)")
def tty_port_open(k: Kernel, port: int, tty: int, filp: int) -> int:
    """Count the open, attach the tty, activate the port on its first open, then block_til_ready."""
    p = _port(k, port)
    p["count"] = p["count"] + 1
    tty_port_tty_set(k, port, tty)
    if not iflag(k, port, TTY_PORT_INITIALIZED):
        core.set_tty_flag(k, tty, core.TTY_IO_ERROR, False)
        activate = port_op(k, port, "activate")
        if activate:
            result = signed32(k.call_function_pointer(activate, port, tty))
            if result:
                return result
        set_iflag(k, port, TTY_PORT_INITIALIZED, True)
    return tty_port_block_til_ready(k, port, tty, filp)


@service("int tty_port_close_start(struct tty_port *port, struct tty_struct *tty, struct file *filp)")
def tty_port_close_start(k: Kernel, port: int, tty: int, filp: int) -> int:
    """One close counted: 1 if it was the port's last (output drained, ldisc flushed), else 0."""
    from .tty_ldisc import tty_ldisc_flush

    if core.tty_hung_up_p(k, filp):
        return 0
    p = _port(k, port)
    count = signed32(p["count"])
    if signed32(Fields(k.memory, "tty_struct", tty)["count"]) == 1 and count != 1:
        k.console_write(f"{_name(k, tty)}: tty_port_close_start: tty->count = 1 port count = {count}\n", 4)
        count = 1
    count -= 1
    if count < 0:
        k.console_write(f"{_name(k, tty)}: tty_port_close_start: bad port count ({count})\n", 4)
        count = 0
    p["count"] = count
    if count:
        return 0
    Fields(k.memory, "tty_struct", tty)["closing"] = 1
    if iflag(k, port, TTY_PORT_INITIALIZED):
        from .tty_ioctl import wait_until_sent

        if p["closing_wait"] != ASYNC_CLOSING_WAIT_NONE:
            wait_until_sent(k, tty, p["closing_wait"])
    tty_ldisc_flush(k, tty)
    return 1


def _name(k: Kernel, tty: int) -> str:
    return k.memory.read_cstring(tty + offset("tty_struct", "name"), 64).decode("utf-8", "replace")


@service("void tty_port_close_end(struct tty_port *port, struct tty_struct *tty)")
def tty_port_close_end(k: Kernel, port: int, tty: int) -> None:
    """After the last close: ldisc flushed, openers waiting woken, the port no longer active."""
    from .tty_ldisc import tty_ldisc_flush

    tty_ldisc_flush(k, tty)
    Fields(k.memory, "tty_struct", tty)["closing"] = 0
    p = _port(k, port)
    if p["blocked_open"]:
        waits.wake_up_common(k, p.address_of("open_wait"), 1, 0, 0, 0)
    set_iflag(k, port, TTY_PORT_ACTIVE, False)


@service("void tty_port_close(struct tty_port *port, struct tty_struct *tty, struct file *filp)")
def tty_port_close(k: Kernel, port: int, tty: int, filp: int) -> None:
    """tty_port_close_start; on the last close the port is shut down and the tty let go."""
    if not tty_port_close_start(k, port, tty, filp):
        return
    _shutdown(k, port, tty)
    if not _port(k, port)["console"]:
        core.set_tty_flag(k, tty, core.TTY_IO_ERROR)
    tty_port_close_end(k, port, tty)
    tty_port_tty_set(k, port, 0)

