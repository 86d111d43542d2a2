"""The myos profile: what the sandbox needs to know about the myos kernel.

    from myos_profile import MYOS
    k = Kernel(MYOS)                                  # from Python
    python3 -m sandbox run netdrv.o --profile examples/myos/myos_profile.py:MYOS
    @pytest.mark.sandbox(profile="myos_profile.py:MYOS")   # in a test
"""

from __future__ import annotations

from pathlib import Path

import myos_kernel
from myos_kernel import Myos

from sandbox import EntryPolicy, FromCallable, NamedEntry, Profile

HERE = Path(__file__).resolve().parent

MYOS = Profile(
    "myos",
    "cdecl",
    services=(myos_kernel,),  # a module object; a dotted name or single @service functions work too
    include_dirs=(HERE / "include",),  # myos.h: what it declares binds, implemented or not
    # myos starts a module with int driver_entry(void) and stops it by calling
    # its driver's remove(dev): an exit the module hands over at registration.
    entry=EntryPolicy(
        init=(NamedEntry("driver_entry"),),
        exit=(FromCallable(lambda ctx, m: ctx.subsystem(Myos).remove_callback(ctx, m), "remove",
                           arguments=lambda ctx, m: ctx.subsystem(Myos).device_of(ctx, m), result="ignore"),),
    ),
    hz=100,
    failure_values={"myos_alloc": 0, "myos_register_driver": -16},  # for k.inject_failure
    description="the myos hobby kernel (examples/myos)",
)
