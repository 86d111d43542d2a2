"""printk and the printf family as Linux 6.1 exports them.

``_printk`` is what the ``printk()`` macro calls in 6.1. Linux's ``%p``
extensions are printed as a reader would want them: ``%pS`` symbolized,
``%pM`` a MAC address, ``%pI4`` a dotted quad, ``%pe`` an errno name...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.printk import _reader, store_formatted
from sandbox.errors import GuestFault
from sandbox.services import kernel_variable, service
from sandbox.services.printf import format_printf, split_kern_level
from sandbox.services.varargs import VarArgs

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

_ERRNO = {1: "EPERM", 2: "ENOENT", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM",
          13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 25: "ENOTTY", 28: "ENOSPC",
          34: "ERANGE", 38: "ENOSYS", 61: "ENODATA", 71: "EPROTO", 74: "EBADMSG", 75: "EOVERFLOW", 84: "EILSEQ",
          95: "EOPNOTSUPP", 110: "ETIMEDOUT", 121: "EREMOTEIO", 512: "ERESTARTSYS", 517: "EPROBE_DEFER",
          524: "ENOTSUPP"}


def pointer_text(k: Kernel, ext: str, address: int, width: int | None) -> bytes | None:
    """Linux vsprintf's pointer extensions, the common ones."""
    try:
        if ext[:1] in ("S", "s", "F", "f", "B"):
            if address == 0:
                return b"0x0"
            text = k.symbolizer.short(address)
            if ext[:1] in ("s", "f"):
                text = text.split("+", 1)[0]
            return text.encode()
        if ext[:1] == "x":
            return b"%08x" % address
        if ext[:1] in ("K", "X"):
            return b"%08x" % address
        if address == 0:
            return b"(null)"
        if ext[:1] == "V":  # struct va_format { const char *fmt; va_list *va; }: bt_info, netdev_info, ...
            return format_guest(k, k.memory.read_u32(address), VarArgs(k.memory, k.memory.read_u32(k.memory.read_u32(address + 4))))
        if ext[:1] in ("M", "m"):
            raw = k.memory.read(address, 6)
            if ext[1:2] == "R":
                raw = raw[::-1]
            sep = "" if ext[:1] == "m" else ":"
            return sep.join(f"{b:02x}" for b in raw).encode()
        if ext[:2] in ("I4", "i4"):
            return ".".join(str(b) for b in k.memory.read(address, 4)).encode()
        if ext[:1] in ("U",):
            raw = k.memory.read(address, 16)
            h = raw.hex()
            text = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            return (text.upper() if ext[1:2] in ("B", "L") else text).encode()
        if ext[:1] == "h":
            count = min(width if width is not None else 1, 64)
            sep = {"C": ":", "D": "-", "N": ""}.get(ext[1:2], " ")
            return sep.join(f"{b:02x}" for b in k.memory.read(address, count)).encode()
        if ext[:1] == "a":
            return b"0x%08x" % k.memory.read_u32(address)
        if ext[:1] == "e":
            signed = address - (1 << 32) if address >> 31 else address
            name = _ERRNO.get(-signed)
            return (f"-{name}" if name else str(signed)).encode()
    except GuestFault:
        return b"(efault)"
    return None


def format_guest(k: Kernel, fmt: int, args: VarArgs) -> bytes:
    """Format a guest format string and its arguments."""
    return format_printf(k.memory.read_cstring(fmt), args, _reader(k),
                         lambda ext, address, width: pointer_text(k, ext, address, width))


def log(k: Kernel, text: bytes, prefix: bytes = b"") -> int:
    """Append one record to the kernel log (KERN_* level honoured)."""
    level, _cont, body = split_kern_level(text)
    body = prefix + body
    if k.current_event is not None:
        k.current_event.fields["output"] = body
    k.console_write(body.decode("utf-8", "replace"), level)
    return len(body)


@service("int _printk(const char *fmt, ...)")
def _printk(k: Kernel, fmt: int, args: VarArgs) -> int:
    """printk(): format and append to the kernel log."""
    return log(k, format_guest(k, fmt, args))


@service("int vprintk(const char *fmt, va_list args)")
def vprintk(k: Kernel, fmt: int, va: int) -> int:
    """printk with a va_list."""
    return log(k, format_guest(k, fmt, VarArgs(k.memory, va)))


@service("void __warn_printk(const char *fmt, ...)")
def __warn_printk(k: Kernel, fmt: int, args: VarArgs) -> None:
    """The message half of WARN(); the trap that follows is the warning itself."""
    log(k, b"\x014" + format_guest(k, fmt, args))


def _device_prefix(k: Kernel, dev: int) -> bytes:
    """What dev_printk puts first: ``"<driver> <device name>: "``, Linux's ``"%s %s: "`` of
    dev_driver_string (the bound driver's name, else the bus's, else the class's, else "") and dev_name.

    ``struct device``: kobj.name 0, init_name 44, bus 52, driver 56, class
    412; ``struct device_driver``, ``bus_type`` and ``class``: name 0 (the
    DWARF-generated layouts).
    """
    if dev == 0:
        return b"(NULL device *): "
    from .layout import offset

    memory = k.memory
    try:
        name = memory.read_u32(dev + offset("device", "init_name")) or memory.read_u32(dev + offset("device", "kobj.name"))
        owner = (memory.read_u32(dev + offset("device", "driver")) or memory.read_u32(dev + offset("device", "bus"))
                 or memory.read_u32(dev + offset("device", "class")))
        driver = memory.read_cstring(memory.read_u32(owner), 64) if owner else b""
        shown = memory.read_cstring(name, 64) if name else b"(null)"
    except GuestFault:
        return b"device %x: " % dev
    return driver + b" " + shown + b": "


@service("int snprintf(char *buf, size_t size, const char *fmt, ...)")
def snprintf(k: Kernel, buf: int, size: int, fmt: int, args: VarArgs) -> int:
    """Bounded formatting; returns the length the full text would have."""
    return store_formatted(k, buf, size, format_guest(k, fmt, args))


@service("int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)")
def vsnprintf(k: Kernel, buf: int, size: int, fmt: int, va: int) -> int:
    """snprintf with a va_list."""
    return store_formatted(k, buf, size, format_guest(k, fmt, VarArgs(k.memory, va)))


@service("int scnprintf(char *buf, size_t size, const char *fmt, ...)")
def scnprintf(k: Kernel, buf: int, size: int, fmt: int, args: VarArgs) -> int:
    """Bounded formatting; returns what was actually written."""
    full = store_formatted(k, buf, size, format_guest(k, fmt, args))
    return min(full, max(size - 1, 0))


@service("int vscnprintf(char *buf, size_t size, const char *fmt, va_list args)")
def vscnprintf(k: Kernel, buf: int, size: int, fmt: int, va: int) -> int:
    """scnprintf with a va_list."""
    full = store_formatted(k, buf, size, format_guest(k, fmt, VarArgs(k.memory, va)))
    return min(full, max(size - 1, 0))


@service("int sprintf(char *buf, const char *fmt, ...)")
def sprintf(k: Kernel, buf: int, fmt: int, args: VarArgs) -> int:
    """Unbounded formatting."""
    text = format_guest(k, fmt, args)
    k.memory.write(buf, text + b"\0")
    return len(text)


@service("char *kasprintf(gfp_t gfp, const char *fmt, ...)")
def kasprintf(k: Kernel, gfp: int, fmt: int, args: VarArgs) -> int:
    """Format into a new kmalloc'd string."""
    from .memory import allocate

    text = format_guest(k, fmt, args) + b"\0"
    address = allocate(k, len(text))
    if address:
        k.memory.write(address, text)
    return address


# -- lib/ratelimit.c ----------------------------------------------------------------
# struct ratelimit_state, 6.1 i386: raw_spinlock_t lock 0, int interval 4,
# int burst 8, int printed 12, int missed 16, unsigned long begin 20, flags 24.
RATELIMIT_MSG_ON_RELEASE = 1


@service("int ___ratelimit(struct ratelimit_state *rs, const char *func)")
def ___ratelimit(k: Kernel, rs: int, func: int) -> int:
    """1 while fewer than ``burst`` calls came in this ``interval`` (jiffies), else 0 (counted as missed).

    When a new interval starts, the missed count of the last one is reported
    as ``<func>: N callbacks suppressed`` (unless RATELIMIT_MSG_ON_RELEASE).
    """
    memory = k.memory
    interval, burst, printed, missed, begin, flags = (
        int.from_bytes(memory.read(rs + offset, 4), "little", signed=True) for offset in (4, 8, 12, 16, 20, 24))
    if not interval:
        return 1
    if memory.read_u32(rs):  # the state's own lock is held: Linux's trylock fails
        return 0
    now = k.jiffies & 0xFFFFFFFF
    begin &= 0xFFFFFFFF
    if not begin:
        begin = now
    if ((begin + interval - now) & 0xFFFFFFFF) >> 31:  # time_is_before_jiffies(begin + interval)
        if missed and not flags & RATELIMIT_MSG_ON_RELEASE:
            name = memory.read_cstring(func, 128).decode("latin-1") if func else "?"
            log(k, f"\x014{name}: {missed} callbacks suppressed\n".encode("latin-1"))
            missed = 0
        begin, printed = now, 0
    if burst and burst > printed:
        printed, result = printed + 1, 1
    else:
        missed, result = missed + 1, 0
    for offset, value in ((12, printed), (16, missed), (20, begin)):
        memory.write(rs + offset, (value & 0xFFFFFFFF).to_bytes(4, "little"))
    return result


# printk_ratelimit(): DEFINE_RATELIMIT_STATE(printk_ratelimit_state, 5 * HZ, 10) in kernel/printk.
printk_ratelimit_state = kernel_variable("printk_ratelimit_state", 28, (5 * 250).to_bytes(4, "little").rjust(8, b"\0")
                                         + (10).to_bytes(4, "little"))


@service("int __printk_ratelimit(const char *func)")
def __printk_ratelimit(k: Kernel, func: int) -> int:
    """printk_ratelimit(): at most 10 messages per 5 seconds, over the kernel's one state."""
    return ___ratelimit(k, k.export_address("printk_ratelimit_state") or 0, func)
