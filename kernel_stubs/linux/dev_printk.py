"""The dev_printk family (drivers/base/core.c), Linux 6.1: messages about a device.

Each line starts as Linux's ``__dev_printk`` starts it, ``"%s %s: "`` of
``dev_driver_string(dev)`` (the bound driver, else the bus, else the
class) and ``dev_name(dev)``: ``"sch311x_wdt sch311x_wdt.2560: ..."``; a
NULL device prints ``"(NULL device *): "``. ``dev_err_probe`` logs an
error as ``"error -EINVAL: ..."`` and returns it; for -EPROBE_DEFER it
logs nothing (a debug message) and records the reason, which
``deferred_reason`` (Linux's devices_deferred debugfs file) gives back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service
from sandbox.services.varargs import VarArgs

from .printk import _device_prefix, format_guest, log

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EPROBE_DEFER = 517


def dev_log(k: Kernel, level: int, dev: int, text: bytes) -> int:
    """One dev_printk record at ``level`` (0 emerg .. 7 debug); the length logged."""
    return log(k, b"\x01" + str(level).encode() + text, _device_prefix(k, dev))


def _level_of(k: Kernel, level: int) -> int:
    """The level of a KERN_* string ("\\0013"), as _dev_printk receives it."""
    raw = k.memory.read_cstring(level, 4) if level else b""
    return raw[1] - 0x30 if len(raw) >= 2 and raw[0] == 1 and 0x30 <= raw[1] <= 0x37 else 4


@service("void _dev_printk(const char *level, const struct device *dev, const char *fmt, ...)")
def _dev_printk(k: Kernel, level: int, dev: int, fmt: int, args: VarArgs) -> None:
    """dev_printk(level, dev, ...)."""
    dev_log(k, _level_of(k, level), dev, format_guest(k, fmt, args))


@service("int dev_printk_emit(int level, const struct device *dev, const char *fmt, ...)")
def dev_printk_emit(k: Kernel, level: int, dev: int, fmt: int, args: VarArgs) -> int:
    """A message at a numeric level, the text as given (no device prefix added)."""
    return log(k, b"\x01" + str(min(max(level, 0), 7)).encode() + format_guest(k, fmt, args))


@service("int dev_vprintk_emit(int level, const struct device *dev, const char *fmt, va_list args)")
def dev_vprintk_emit(k: Kernel, level: int, dev: int, fmt: int, va: int) -> int:
    """dev_printk_emit with a va_list."""
    return log(k, b"\x01" + str(min(max(level, 0), 7)).encode() + format_guest(k, fmt, VarArgs(k.memory, va)))


def _leveled(level: int, name: str):  # type: ignore[no-untyped-def]
    def emit(k: Kernel, dev: int, fmt: int, args: VarArgs) -> None:
        dev_log(k, level, dev, format_guest(k, fmt, args))

    emit.__doc__ = f"{name}()."
    emit.__name__ = f"_{name}"
    return service(f"void _{name}(const struct device *dev, const char *fmt, ...)")(emit)


_dev_emerg = _leveled(0, "dev_emerg")
_dev_alert = _leveled(1, "dev_alert")
_dev_crit = _leveled(2, "dev_crit")
_dev_err = _leveled(3, "dev_err")
_dev_warn = _leveled(4, "dev_warn")
_dev_notice = _leveled(5, "dev_notice")
_dev_info = _leveled(6, "dev_info")


def errname(err: int) -> str:
    """%pe of an error code: "-EINVAL", or the number if it has no name."""
    from .printk import _ERRNO

    name = _ERRNO.get(-err)
    return f"-{name}" if name else str(err)


@service("int dev_err_probe(const struct device *dev, int err, const char *fmt, ...)")
def dev_err_probe(k: Kernel, dev: int, err: int, fmt: int, args: VarArgs) -> int:
    """Log a probe error (``"error -EIO: ..."``) and return it; -EPROBE_DEFER is recorded, not logged."""
    err = signed32(err)
    text = format_guest(k, fmt, args)
    if err == -EPROBE_DEFER:
        from .driver_core import core

        core(k).deferred_reasons[dev] = text.decode("utf-8", "replace")
        k.trace.add("note", "deferred probe reason", fields={"device": dev, "reason": text.decode("utf-8", "replace")})
    else:
        dev_log(k, 3, dev, f"error {errname(err)}: ".encode() + text)
    return err & 0xFFFFFFFF


def deferred_reason(k: Kernel, dev: int) -> str | None:
    """Why a deferred device waits, as dev_err_probe recorded it (devices_deferred), or None."""
    from .driver_core import core

    return core(k).deferred_reasons.get(dev)
