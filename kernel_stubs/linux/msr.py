"""Model-specific registers read and written on a given CPU (arch/x86/lib/msr-smp.c), Linux 6.1 i386.

``rdmsr_safe_on_cpu`` and friends run ``rdmsr``/``wrmsr`` on the target
CPU under an exception fixup, so an MSR the processor lacks is -EIO (the
#GP it raises) instead of an oops. The emulated CPU is Unicorn's, whose
RDMSR answers 0 for every number, present or not; the sandbox therefore
answers for it as a virtual machine's CPU does for the model-specific
interfaces drivers probe this way (RAPL energy counters, thermal status,
performance limits): not there, -EIO — the driver's "no such feature"
path, as on a KVM guest. A CPU other than 0 does not exist: -ENXIO, as
``smp_call_function_single`` answers for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

EIO, ENXIO = 5, 6


def _absent(k: Kernel, cpu: int, msr: int, op: str) -> int:
    if cpu != 0:
        return -ENXIO
    k.note("msr", op=op, msr=f"{msr:#x}", result="-EIO (not implemented by the emulated CPU)")
    return -EIO


@service("int rdmsr_safe_on_cpu(unsigned int cpu, u32 msr_no, u32 *l, u32 *h)")
def rdmsr_safe_on_cpu(k: Kernel, cpu: int, msr_no: int, low: int, high: int) -> int:
    """Read an MSR on ``cpu``: -EIO (the emulated CPU has none to read), -ENXIO for another CPU."""
    return _absent(k, cpu, msr_no, "rdmsr")


@service("int rdmsrl_safe_on_cpu(unsigned int cpu, u32 msr_no, u64 *q)")
def rdmsrl_safe_on_cpu(k: Kernel, cpu: int, msr_no: int, q: int) -> int:
    """The 64-bit form of rdmsr_safe_on_cpu."""
    return _absent(k, cpu, msr_no, "rdmsr")


@service("int wrmsr_safe_on_cpu(unsigned int cpu, u32 msr_no, u32 l, u32 h)")
def wrmsr_safe_on_cpu(k: Kernel, cpu: int, msr_no: int, low: int, high: int) -> int:
    """Write an MSR on ``cpu``: -EIO, -ENXIO for another CPU."""
    return _absent(k, cpu, msr_no, "wrmsr")


@service("int wrmsrl_safe_on_cpu(unsigned int cpu, u32 msr_no, u64 q)")
def wrmsrl_safe_on_cpu(k: Kernel, cpu: int, msr_no: int, q: int) -> int:
    """The 64-bit form of wrmsr_safe_on_cpu."""
    return _absent(k, cpu, msr_no, "wrmsr")
