"""Declaring kernel services and exported kernel variables.

Service implementations live in ``kernel_stubs/``; this module only gives
them a way to say what they are::

    @service("void *kmalloc(size_t size, gfp_t flags)")
    def kmalloc(k, size, flags): ...

The function receives the kernel's :class:`~sandbox.services.context.ServiceContext`,
then one int per fixed parameter (already narrowed and sign-extended per its C
type). A variadic service also gets an argument reader (``next_u32()``,
``next_u64()``) over the variadic arguments. Its return value becomes EAX
(EDX:EAX for 64-bit returns); None means 0. A function whose arity does not
match its prototype is refused when a kernel adds it (:func:`check_arity`).

A service is called with the profile's calling convention unless it names
its own, with ``convention="stdcall"`` or in the prototype
(``"int __attribute__((stdcall)) f(int a)"``, ``__fastcall``,
``__attribute__((regparm(2)))``); see ``callconv.CONVENTIONS``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import ServiceError
from .callconv import get_convention
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
    # The service's own calling convention (a CONVENTIONS key), from
    # ``convention=`` or the prototype's attributes; None: the profile's.
    convention: str | None = None

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
    read_only: bool = False  # page-aligned in read-only kernel data (empty_zero_page)


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


def service(
    prototype: str, *, provided_by: str | None = None, convention: str | None = None,
) -> Callable[[Callable[..., int | None]], Callable[..., int | None]]:
    """Mark a Python function as the implementation of a C kernel function.

    ``provided_by`` names the module that exports the function on a real
    kernel; the service then stands in for it only while no loaded module
    exports the name. ``convention`` (``"stdcall"``, ``"fastcall"``,
    ``"regparm2"``...) is how guest code calls it, when not the profile's;
    the prototype may say so instead (``__attribute__((stdcall))``), and
    ValueError if the two disagree.
    """
    proto = parse_prototype(prototype)
    declared = proto.convention
    if convention is not None:
        convention = get_convention(convention).name
        if declared is not None and declared != convention:
            raise ValueError(f"{proto.name}: convention={convention!r} but its prototype declares {declared}")
    chosen = convention or declared

    def mark(func: Callable[..., int | None]) -> Callable[..., int | None]:
        setattr(func, _MARK, ServiceSpec(proto, func, provided_by, chosen))
        return func

    return mark


def kernel_variable(name: str, size: int = 4, initial: bytes | int = 0,
                    pointers: dict[int, str] | None = None, read_only: bool = False) -> VariableSpec:
    """Declare an exported kernel variable of ``size`` bytes.

    ``pointers`` maps byte offsets to export names whose addresses the
    kernel writes there at boot (a table of function pointers); a name may
    carry ``+offset`` ("init_net+36") for an address inside an export, as
    an empty ``list_head`` pointing at itself needs.
    ``read_only`` puts it page-aligned where guest writes fault.
    """
    if isinstance(initial, int):
        initial = initial.to_bytes(size, "little")
    return VariableSpec(name, size, initial.ljust(size, b"\0"), tuple(sorted((pointers or {}).items())), read_only)


# id -> spec of the specs found correct (the spec is kept, so its id stays its own).
_ARITY_CHECKED: dict[int, ServiceSpec] = {}


def expected_arguments(prototype: Prototype) -> int:
    """How many positional arguments a service for ``prototype`` is called with:
    the context, one per fixed parameter, and one reader if variadic."""
    return 1 + len(prototype.params) + (1 if prototype.variadic else 0)


def check_arity(spec: ServiceSpec) -> None:
    """Refuse a service function that cannot take the arguments its prototype gives.

    Raises ServiceError naming the function, the prototype and both counts,
    so the mistake shows when the service is added, not at its first call.
    """
    if id(spec) in _ARITY_CHECKED:
        return  # a profile's services are checked once per process, not per Kernel
    wanted = expected_arguments(spec.prototype)
    try:
        signature = inspect.signature(spec.func)
    except (TypeError, ValueError):
        return  # a builtin or C callable: nothing to check
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    required += sum(1 for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY and p.default is p.empty)
    most = None if any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values()) else len(positional)
    if required <= wanted and (most is None or wanted <= most):
        _ARITY_CHECKED[id(spec)] = spec
        return
    func = spec.func
    name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"
    takes = f"{required}" if most == required else f"{required} to {most if most is not None else 'any'}"
    detail = f"the context + {len(spec.prototype.params)} parameter{'s' if len(spec.prototype.params) != 1 else ''}"
    if spec.prototype.variadic:
        detail += " + 1 variadic argument reader"
    raise ServiceError(
        f"service function {name} takes {takes} positional argument{'s' if takes != '1' else ''} "
        f"but its prototype {spec.prototype.text!r} passes {wanted} ({detail})"
    )


def collect(modules: Iterable[types.ModuleType]) -> tuple[list[ServiceSpec], list[VariableSpec]]:
    """Every service and variable declared in ``modules``, in definition order."""
    services, variables, _ = collect_values(value for module in modules for value in vars(module).values())
    return services, variables


def collect_values(values: Iterable[object]) -> tuple[list[ServiceSpec], list[VariableSpec], list[CodeSpec]]:
    """The services, variables and raw-code exports among ``values`` (lists and tuples looked into).

    Each service's arity is checked against its prototype (:func:`check_arity`).
    """
    services: list[ServiceSpec] = []
    variables: list[VariableSpec] = []
    code: list[CodeSpec] = []
    for value in values:
        spec = getattr(value, _MARK, None)
        if isinstance(spec, ServiceSpec):
            check_arity(spec)
            services.append(spec)
        elif isinstance(value, VariableSpec):
            variables.append(value)
        elif isinstance(value, CodeSpec):
            code.append(value)
        elif isinstance(value, (list, tuple)):
            variables.extend(v for v in value if isinstance(v, VariableSpec))
            code.extend(v for v in value if isinstance(v, CodeSpec))
    return services, variables, code


def collect_code(modules: Iterable[types.ModuleType]) -> list[CodeSpec]:
    """Every raw-code export declared in ``modules``, in definition order."""
    return collect_values(value for module in modules for value in vars(module).values())[2]
