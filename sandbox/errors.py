"""The sandbox's exception hierarchy: one module, one tree.

Every message names what it is about (file, section, symbol, address) so a
person reading a failed test knows where to look without a traceback.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the sandbox raises on purpose."""


class LoadError(SandboxError):
    """A module file was refused, or its load failed; the kernel is unchanged.

    ``path`` is the file, ``check`` a short stable name of the rule that failed
    (for example ``"e_shentsize"`` or ``"unresolved-symbols"``), ``detail`` the
    human explanation naming the offending section, symbol or relocation.
    """

    def __init__(self, path: str, check: str, detail: str) -> None:
        self.path = path
        self.check = check
        self.detail = detail
        super().__init__(f"{path}: {check}: {detail}")


class UnloadError(SandboxError):
    """A module cannot be unloaded (for example, other modules use it)."""


class NotInProfile(SandboxError, AttributeError):
    """The kernel's profile does not offer this part (``k.sysfs`` on the generic profile): a
    SandboxError with the reason, and an AttributeError, so ``hasattr`` answers False."""


class DeviceError(SandboxError):
    """A character device operation failed with ``-errno`` (an open, a read).

    ``errno`` is the positive error number the driver (or the VFS step the
    sandbox plays) returned, as in :class:`OSError`.
    """

    def __init__(self, message: str, errno: int) -> None:
        self.errno = errno
        super().__init__(message)


class ServiceError(SandboxError):
    """A kernel service was misused or is not implemented."""


class GuestFault(SandboxError):
    """Guest code raised a CPU exception or was stopped by the kernel.

    Carries the fault ``kind`` (``"read-unmapped"``, ``"write-protected"``,
    ``"invalid-opcode"``, ``"divide-error"``, ``"stack-guard"``, ``"budget"``,
    ...), the faulting ``address`` (data address for memory faults, else the
    pc), the ``pc`` and its symbolized ``location``, the disassembled
    ``instruction``, a ``registers`` dict and the full human ``report``.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        pc: int = 0,
        address: int | None = None,
        location: str = "",
        instruction: str = "",
        registers: dict[str, int] | None = None,
        report: str = "",
    ) -> None:
        self.kind = kind
        self.pc = pc
        self.address = pc if address is None else address
        self.location = location
        self.instruction = instruction
        self.registers = registers or {}
        self.report = report or message
        super().__init__(message)


class BudgetExceeded(GuestFault):
    """Guest code ran past its time budget (a runaway loop or a stuck wait)."""


class ConventionMismatch(GuestFault):
    """A guest function returned with ESP where its calling convention would not leave it.

    ``function`` is the address called, ``expected`` the bytes of stack
    arguments the convention has the callee pop (0 for caller-pops), and
    ``popped`` the bytes it really removed: a stdcall function called as
    cdecl, or the other way round, or a wrong argument count under stdcall.
    """

    def __init__(self, message: str, *, function: int, expected: int, popped: int, **details: object) -> None:
        super().__init__("convention-mismatch", message, **details)  # type: ignore[arg-type]
        self.function = function
        self.expected = expected
        self.popped = popped
        self.described = False  # the Kernel names the function and conventions once


_ERRNO_NAMES = {
    1: "EPERM", 2: "ENOENT", 5: "EIO", 12: "ENOMEM", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST",
    19: "ENODEV", 22: "EINVAL", 28: "ENOSPC", 30: "EROFS", 34: "ERANGE", 38: "ENOSYS",
}


def errno_text(code: int) -> str:
    """``-12 (-ENOMEM)`` for a negative errno, else the number."""
    name = _ERRNO_NAMES.get(-code)
    return f"{code} (-{name})" if name else str(code)
