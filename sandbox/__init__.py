"""module-sandbox: run real i386 driver modules in an emulated kernel.

>>> from sandbox import Kernel
>>> k = Kernel()
>>> m = k.load("build/drivers/gcc/obj/hello.o")
>>> print(k.console)
"""

from .errors import (
    BudgetExceeded,
    ConventionMismatch,
    DeviceError,
    GuestFault,
    LoadError,
    SandboxError,
    ServiceError,
    UnloadError,
)
from .kernel import IrqResult, Kernel
from .module import Module, UnloadReport
from .services.callconv import CONVENTIONS, ByValue, Int64

__all__ = [
    "CONVENTIONS",
    "BudgetExceeded",
    "ByValue",
    "ConventionMismatch",
    "DeviceError",
    "GuestFault",
    "Int64",
    "IrqResult",
    "Kernel",
    "LoadError",
    "Module",
    "SandboxError",
    "ServiceError",
    "UnloadError",
    "UnloadReport",
    "s64",
    "u64",
]
