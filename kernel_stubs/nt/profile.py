"""The nt profile: NT-style drivers (``DriverEntry``, driver objects, IRPs) in 32-bit PE files.

Services are stdcall (the profile's convention; ``DbgPrint`` is variadic, so
the caller pops), the i386 fastcall names fastcall. PE imports from
``ntoskrnl.exe`` and ``hal.dll`` bind to these services (both are kernel DLL
names of this profile's kernel, ``pe_kernel_dlls``). Init is the image's
entry point, ``DriverEntry(DriverObject, RegistryPath)``, whose NTSTATUS
fails the load when its bit 31 is set; exit is the ``DriverUnload`` routine
``DriverEntry`` stored in the driver object (no routine: the driver unloads
without one, as NT's would refuse to, which this kernel reports by not calling
anything).
"""

from __future__ import annotations

from pathlib import Path

from sandbox.entrypoints import EntryPolicy, FromCallable, ImageEntry
from sandbox.profile import Profile

from .irp import driver_entry_arguments, driver_object, driver_unload

INCLUDE_DIR = Path(__file__).resolve().parent / "include"

NT_ENTRY = EntryPolicy(
    init=(ImageEntry(arguments=driver_entry_arguments, result="status"),),
    exit=(FromCallable(driver_unload, "DriverUnload", arguments=lambda k, m: (driver_object(k, m),), result="ignore"),),
)

NT = Profile(
    "nt",
    "stdcall",
    ("kernel_stubs.nt.ntoskrnl",),
    include_dirs=(INCLUDE_DIR,),
    entry=NT_ENTRY,
    hz=100,
    failure_values={"ExAllocatePoolWithTag": 0, "IoCreateDevice": 0xC000009A},
    pe_kernel_dlls=("ntoskrnl.exe", "hal.dll"),
    description="a small NT-style kernel: DriverEntry, driver and device objects, IRPs, pool, spin locks",
)
