"""Declaring kernel services and exported kernel variables.

Service implementations live in ``kernel_stubs/``; this module only gives
them a way to say what they are::

    @service("void *kmalloc(size_t size, gfp_t flags)")
    def kmalloc(k, size, flags): ...

The function receives the Kernel, then one int per fixed parameter (already
narrowed and sign-extended per its C type). A variadic service also gets an
argument reader (``next_u32()``, ``next_u64()``) over the variadic arguments.
Its return value becomes EAX (EDX:EAX for 64-bit returns); None means 0.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .prototype import Prototype, parse_prototype

_MARK = "__sandbox_service__"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A Python implementation of a kernel function, with its C prototype."""

    prototype: Prototype
    func: Callable[..., int | None]
    # The module that really exports this function in Linux (usbcore, hid),
    # when the service only stands in for it: loading that module replaces
    # the stand-in with the module's own export until it unloads.
    provided_by: str | None = None

    @property
    def name(self) -> str:
        """The exported symbol name."""
        return self.prototype.name


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """An exported kernel variable placed in kernel data (``jiffies``, ...)."""

    name: str
    size: int
    initial: bytes
    # (offset, export name): words the kernel fills with the address of
    # another export once every export is placed, as a C initialiser
    # ``{ .set = param_set_int }`` is filled by the linker.
    pointers: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """Raw x86 code exported under a name, placed in kernel text.

    For exports that must run as real instructions rather than as a Python
    service: the retpoline thunks ``__x86_indirect_thunk_eax`` (``jmp *%eax``)
    are jumped to, not called, so a service's ``ret`` would be wrong.
    """

    name: str
    code: bytes
    # Exception-table entries, as Linux's _ASM_EXTABLE: (offset of an
    # instruction that may fault on a bad pointer, code to run instead).
    fixups: tuple[tuple[int, bytes], ...] = ()


def kernel_code(name: str, code: bytes, fixups: dict[int, bytes] | None = None) -> CodeSpec:
    """Declare an export whose body is the raw machine code ``code``.

    ``fixups`` maps the offset of each instruction that may fault (a user
    access) to the code that runs in its place when it does: the kernel's
    exception table, so ``get_user`` of a bad pointer returns -EFAULT
    instead of oopsing.
    """
    return CodeSpec(name, bytes(code), tuple((offset, bytes(fix)) for offset, fix in (fixups or {}).items()))


def service(prototype: str, *, provided_by: str | None = None) -> Callable[[Callable[..., int | None]], Callable[..., int | None]]:
    """Mark a Python function as the implementation of a C kernel function.

    ``provided_by`` names the module that exports the function on a real
    kernel; the service then stands in for it only while no loaded module
    exports the name.
    """
    proto = parse_prototype(prototype)

    def mark(func: Callable[..., int | None]) -> Callable[..., int | None]:
        setattr(func, _MARK, ServiceSpec(proto, func, provided_by))
        return func

    return mark


def kernel_variable(name: str, size: int = 4, initial: bytes | int = 0,
                    pointers: dict[int, str] | None = None) -> VariableSpec:
    """Declare an exported kernel variable of ``size`` bytes.

    ``pointers`` maps byte offsets to export names whose addresses the
    kernel writes there at boot (a table of function pointers).
    """
    if isinstance(initial, int):
        initial = initial.to_bytes(size, "little")
    return VariableSpec(name, size, initial.ljust(size, b"\0"), tuple(sorted((pointers or {}).items())))


def collect(modules: Iterable[types.ModuleType]) -> tuple[list[ServiceSpec], list[VariableSpec]]:
    """Every service and variable declared in ``modules``, in definition order."""
    services: list[ServiceSpec] = []
    variables: list[VariableSpec] = []
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, _MARK, None)
            if isinstance(spec, ServiceSpec):
                services.append(spec)
            elif isinstance(value, VariableSpec):
                variables.append(value)
            elif isinstance(value, (list, tuple)):
                variables.extend(v for v in value if isinstance(v, VariableSpec))
    return services, variables


def collect_code(modules: Iterable[types.ModuleType]) -> list[CodeSpec]:
    """Every raw-code export declared in ``modules``, in definition order."""
    found: list[CodeSpec] = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, CodeSpec):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                found.extend(v for v in value if isinstance(v, CodeSpec))
    return found
