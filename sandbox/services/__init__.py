"""Writing kernel services: the public door (see docs/services.md).

How kernel services are declared, decoded and called — never which exist
(that is a profile's choice, in ``kernel_stubs/`` or the user's own code)::

    from sandbox.services import ServiceContext, service

    @service("int myos_log(const char *text)")
    def myos_log(ctx: ServiceContext, text: int) -> int:
        message = ctx.read_string(text)
        ctx.console_write(message)
        return len(message)

Everything a service needs is named here: the decorators, the
:class:`ServiceContext` each service receives, the :class:`Subsystem`
protocol for per-kernel state, the leak-checked :class:`Heap`, IRQ
registrations (:class:`IrqAction`), the printf engine, and the variadic
argument readers.
"""

from ..errors import GuestFault, ServiceError
from ..machine.irq import IRQF_SHARED, IrqAction
from .context import ServiceContext, as_context
from .headers import Declaration, declared_functions
from .heap import KERNEL_OWNER, MAX_ALLOCATION, ZERO_SIZE_PTR, Block, Heap
from .printf import ArgSource, ListArgs, format_printf, parse_format, split_kern_level
from .registry import CodeSpec, ServiceSpec, VariableSpec, check_arity, kernel_code, kernel_variable, service
from .subsystem import Subsystem, SubsystemTable
from .varargs import VarArgs

__all__ = [
    "IRQF_SHARED",
    "KERNEL_OWNER",
    "MAX_ALLOCATION",
    "ZERO_SIZE_PTR",
    "ArgSource",
    "Block",
    "CodeSpec",
    "Declaration",
    "GuestFault",
    "Heap",
    "IrqAction",
    "ListArgs",
    "ServiceContext",
    "ServiceError",
    "ServiceSpec",
    "Subsystem",
    "SubsystemTable",
    "VarArgs",
    "VariableSpec",
    "as_context",
    "check_arity",
    "declared_functions",
    "format_printf",
    "kernel_code",
    "kernel_variable",
    "parse_format",
    "service",
    "split_kern_level",
]
