"""The myos profile: what the sandbox needs to know about the myos kernel.

    from myos_profile import MYOS
    k = Kernel(MYOS)                                  # from Python
    python3 -m sandbox run netdrv.o --profile examples/myos/myos_profile.py:MYOS
    @pytest.mark.sandbox(profile="myos_profile.py:MYOS")   # in a test
"""

from __future__ import annotations

from pathlib import Path

import myos_kernel

from sandbox import EntryPolicy, NamedEntry, Profile

HERE = Path(__file__).resolve().parent

MYOS = Profile(
    "myos",
    "cdecl",
    services=(myos_kernel,),  # a module object; a dotted name or single @service functions work too
    include_dirs=(HERE / "include",),  # myos.h: what it declares binds, implemented or not
    entry=EntryPolicy(init=(NamedEntry("driver_entry"),)),  # myos calls int driver_entry(void)
    hz=100,
    failure_values={"myos_alloc": 0, "myos_register_driver": -16},  # for k.inject_failure
    description="the myos hobby kernel (examples/myos)",
)
