"""printk and the printf family: the kernel log and string formatting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service
from sandbox.services.printf import format_printf, split_kern_level
from sandbox.services.varargs import VarArgs

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def _reader(k: Kernel) -> Callable[[int, int | None], bytes]:
    def read(address: int, limit: int | None) -> bytes:
        # Linux's vsnprintf prints "(efault)" for a %s it cannot read rather
        # than crashing the caller; do the same.
        try:
            return k.memory.read_cstring(address, limit)
        except GuestFault:
            return b"(efault)"

    return read


def _format(k: Kernel, fmt: int, args: VarArgs) -> bytes:
    return format_printf(k.memory.read_cstring(fmt), args, _reader(k))


def _log(k: Kernel, text: bytes) -> int:
    level, _cont, body = split_kern_level(text)
    if k.current_event is not None:
        k.current_event.fields["output"] = body
    k.console_write(body.decode("utf-8", "replace"), level)
    return len(body)


@service("int printk(const char *fmt, ...)")
def printk(k: Kernel, fmt: int, args: VarArgs) -> int:
    """Format and append to the kernel log; KERN_* prefixes set the level."""
    return _log(k, _format(k, fmt, args))


@service("int vprintk(const char *fmt, va_list args)")
def vprintk(k: Kernel, fmt: int, va: int) -> int:
    """printk with a va_list (a pointer to the argument slots on i386)."""
    return _log(k, _format(k, fmt, VarArgs(k.memory, va)))


def store_formatted(k: Kernel, buf: int, size: int, text: bytes) -> int:
    """C semantics: write at most size-1 bytes plus NUL, return the full length."""
    if size > 0:
        k.memory.write(buf, text[: size - 1] + b"\0")
    return len(text)


@service("int snprintf(char *buf, size_t size, const char *fmt, ...)")
def snprintf(k: Kernel, buf: int, size: int, fmt: int, args: VarArgs) -> int:
    """Bounded formatting into a guest buffer."""
    return store_formatted(k, buf, size, _format(k, fmt, args))


@service("int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)")
def vsnprintf(k: Kernel, buf: int, size: int, fmt: int, va: int) -> int:
    """snprintf with a va_list."""
    return store_formatted(k, buf, size, _format(k, fmt, VarArgs(k.memory, va)))


@service("int sprintf(char *buf, const char *fmt, ...)")
def sprintf(k: Kernel, buf: int, fmt: int, args: VarArgs) -> int:
    """Unbounded formatting; the destination must still be writable guest memory."""
    text = _format(k, fmt, args)
    k.memory.write(buf, text + b"\0")
    return len(text)
