"""Which provider a PE import's DLL name stands for: the kernel's services or a loaded module.

A profile names the DLLs its kernel answers to (``Profile.pe_kernel_dlls``, e.g.
``ntoskrnl.exe`` and ``hal.dll`` for ``nt``); every other DLL name is a
loaded module, found by its name (the DLL's file name without extension,
compared without case, as Windows compares module names). A module's exports
are looked up in that module only: ``pelib.dll!pelib_add`` never binds to a
``pelib_add`` some other module exports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ...kernel import Kernel
    from ...module import Module

# The kernel's DLL names when a profile names none: hobby kernels' and NT's usual ones.
DEFAULT_KERNEL_DLLS = ("kernel.sys", "kernel.dll", "kernel32.dll", "ntoskrnl.exe", "hal.dll")


def dll_stem(dll: str) -> str:
    """``Foo.DLL`` -> ``foo``: the module name a DLL name stands for (``-`` as ``_``, Linux's rule)."""
    name = dll.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if "." in name:
        name = name.rsplit(".", 1)[0]
    return name.replace("-", "_")


def kernel_dll_names(profile: Any) -> frozenset[str]:
    """The DLL names (lower case, and their stems) a profile's kernel answers to (``Profile.pe_kernel_dlls``)."""
    names = getattr(profile, "pe_kernel_dlls", None) or DEFAULT_KERNEL_DLLS
    return frozenset({n.lower() for n in names} | {dll_stem(n) for n in names})


def kernel_dlls(kernel: Kernel) -> frozenset[str]:
    """The DLL names the kernel's profile answers to."""
    return kernel_dll_names(kernel.profile)


class DllMap:
    """The profile's DLL map as one kernel sees it now."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._kernel_dlls = kernel_dlls(kernel)
        self._modules = {module.name.lower(): module for module in kernel.module_table
                         if module.state in ("live", "coming")}

    def provider(self, dll: str) -> Literal["kernel"] | Module | None:
        """``"kernel"``, the loaded module ``dll`` names, or None if nothing answers to it."""
        if dll.lower() in self._kernel_dlls or dll_stem(dll) in self._kernel_dlls:
            return "kernel"
        return self._modules.get(dll_stem(dll))

    def module_export(self, module: Module, name: str | None, ordinal: int | None) -> int | None:
        """The address ``module`` exports under ``name`` (or ``ordinal``, for PE modules), if any."""
        if module.state != "live":
            return None
        if name is not None:
            return module.exports.get(name, getattr(module.plan, "named_exports", {}).get(name))
        return getattr(module.plan, "ordinal_exports", {}).get(ordinal)
