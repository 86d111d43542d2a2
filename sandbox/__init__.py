"""module-sandbox: run real i386 driver modules in an emulated kernel.

>>> from sandbox import Kernel
>>> k = Kernel()
>>> m = k.load("build/drivers/gcc/obj/hello.o")
>>> print(k.console)
"""

from .entrypoints import EntryPolicy, FromCallable, ImageEntry, NamedEntry, StructField
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
from .profile import Profile, UnknownProfile, get_profile, known_profiles, register_profile
from .services.callconv import CONVENTIONS, ByValue, Int64
from .wellknown import DeviceOperation, IrqEntry

__all__ = [
    "CONVENTIONS",
    "BudgetExceeded",
    "ByValue",
    "ConventionMismatch",
    "DeviceError",
    "DeviceOperation",
    "EntryPolicy",
    "FromCallable",
    "GuestFault",
    "ImageEntry",
    "Int64",
    "IrqEntry",
    "IrqResult",
    "Kernel",
    "LoadError",
    "Module",
    "NamedEntry",
    "Profile",
    "SandboxError",
    "ServiceError",
    "StructField",
    "UnknownProfile",
    "UnloadError",
    "UnloadReport",
    "get_profile",
    "known_profiles",
    "register_profile",
    "s64",
    "u64",
]
