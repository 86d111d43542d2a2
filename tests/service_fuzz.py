"""Call every kernel service of a profile with garbage arguments, through its real stub.

Run as ``python -m tests.service_fuzz PROFILE [CALLS_PER_SERVICE]`` (the
suite runs it in a subprocess under a CPU-time and address-space limit, see
test_service_fuzz.py). Each argument is drawn from sizes near 2^32 and
pointers into every area of the address map (NULL page, stubs, kernel text
and data, traps, the module, a heap block and its edge, unmapped heap, the
stack and its guard, MMIO, the descriptor page). Every call must end in a
return, a GuestFault or a SandboxError of its own; a host exception (a
ServiceError wrapping an OverflowError, an IndexError...) is a finding.
Prints ``start NAME`` before each service (so a limit that kills the process
names it) and one ``finding ...`` line per host exception; ``done N`` at the end.
"""

from __future__ import annotations

import random
import sys

from sandbox import Kernel
from sandbox.errors import GuestFault, SandboxError, ServiceError
from sandbox.machine import address_map as amap

HELLO = "build/drivers/gcc/obj/hello.o"
SIZES = [0, 1, 2, 0x7F, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFF000, 0xFFFFFFF0, 0xFFFFFFF4, 0xFFFFFFFF]


def pointers(kernel: Kernel, module_base: int, block: int) -> list[int]:
    """One or two addresses in every area a guest pointer can land in."""
    low, high = amap.stack_layout()["task"]
    return [
        0, 0x10, amap.STUB_BASE + 0x20, amap.RETURN_TRAP, amap.KTEXT_BASE, amap.KDATA_BASE,
        amap.TRAP_BASE, module_base, module_base + 0x0FFE, block, block + 62,
        amap.HEAP_BASE + amap.HEAP_SIZE - 8, low + 0x100, high, amap.MMIO_BASE,
        amap.DESCRIPTOR_BASE, amap.STACK_AREA_BASE, 0xFFFFFFF0,
    ]


def fuzz(profile: str, per_service: int, seed: int = 16) -> list[str]:
    kernel = Kernel(profile, budget_seconds=1.0, check_vermagic=False, unresolved="trap")
    module = kernel.load(HELLO, run_init=profile == "generic")
    block = kernel.memory.alloc(64)
    pool = pointers(kernel, min(a.start for a in kernel.symbolizer.areas_of(module.name)), block)
    rng = random.Random(seed)
    snap = kernel.snapshot()
    findings: list[str] = []
    for bound in list(kernel.dispatcher._slots):
        print("start", bound.name, flush=True)
        address = kernel.dispatcher.addresses[bound.name]
        # First the edges every service gets (everything near 2^32; a good
        # buffer with huge sizes), then random draws.
        edges = [(0xFFFFFFF4, 0xFFFFFFF4), (0xFFFFFFFF, 0xFFFFFFFF), (block, 0xFFFFFFF0), (block, 0x7FFFFFFF)]
        for call in range(per_service + len(edges)):
            slots: list[int] = []
            for param in bound.prototype.params:
                pointer = param.kind in ("ptr", "str", "funcptr")
                if call < len(edges):
                    choice = edges[call][0 if pointer else 1]
                else:
                    choice = rng.choice(pool) if pointer or rng.random() < 0.3 else rng.choice(SIZES)
                slots.append(choice)
                if param.width == 8:
                    slots.append(choice if call < len(edges) else rng.choice(SIZES))
            if bound.prototype.variadic:
                slots += [rng.choice(pool + SIZES) for _ in range(4)]
            try:
                # In the service's own convention (asmlinkage ones are cdecl), as a module calls it.
                kernel._call_slots(address, slots, "task", None, bound.convention)
            except GuestFault:
                pass
            except ServiceError as error:
                cause = error.__cause__
                if cause is not None and not isinstance(cause, SandboxError):
                    findings.append(f"finding {bound.name}{tuple(hex(s) for s in slots)}: {error}")
            except SandboxError:
                pass
            except Exception as error:  # what the fuzz is looking for
                findings.append(f"finding {bound.name}{tuple(hex(s) for s in slots)}: {error!r}")
        kernel.restore(snap)
    # Still usable: the module's exit runs and a fresh load works.
    kernel.unload(module)
    kernel.load(HELLO, run_init=profile == "generic")
    return findings


def main() -> None:
    profile = sys.argv[1]
    per_service = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    findings = fuzz(profile, per_service)
    for line in findings:
        print(line, flush=True)
    print("done", len(findings), flush=True)


if __name__ == "__main__":
    main()
