"""Device benchmarks: port I/O to a Python device against bare Unicorn.

Run: ``python bench/bench_devices.py``. A guest loop executes ``inb`` on a
port claimed by a trivial Python device; the baseline runs the same bytes in
a bare Unicorn whose ``UC_HOOK_INSN`` IN hook returns a constant. Target
(issue 4): the sandbox's round trip <= 1.5x the bare hook. The traced figure
records a trace event per access; the untraced one is the bus alone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_32, UC_PROT_ALL, Uc
from unicorn.x86_const import UC_X86_INS_IN

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bare_call, best_of, report  # noqa: E402
from sandbox import Kernel  # noqa: E402
from sandbox.devices.device import Device  # noqa: E402
from sandbox.machine import address_map as amap  # noqa: E402

SOURCE = ROOT / "bench" / "guest" / "bench_ports.c"
CFLAGS = ["-m32", "-ffreestanding", "-nostdinc", "-fno-pic", "-O2", "-fno-stack-protector"]
ACCESSES = 20000
PORT = 0x300




class Constant(Device):
    """The least a device can do: answer every read with the same byte."""

    name = "const"
    port_ranges = ((PORT, 1),)
    port_base = PORT

    def port_read(self, port: int, width: int) -> int:
        return 1


class BareMachine:
    """A fresh Unicorn holding a copy of the module, with a bare IN hook."""

    def __init__(self, kernel: Kernel, module_base: int, module_size: int) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(module_base, module_size, UC_PROT_ALL)
        self.uc.mem_write(module_base, bytes(kernel.cpu.uc.mem_read(module_base, module_size)))
        self.uc.mem_map(amap.STUB_BASE, amap.STUB_AREA_SIZE, UC_PROT_ALL)
        self.uc.mem_write(amap.RETURN_TRAP, b"\xc3")
        self.uc.mem_map(0x70000, 0x10000, UC_PROT_ALL)
        self.stack_top = 0x80000

        def on_in(uc: Uc, port: int, size: int, data: object) -> int:
            return 1

        self.uc.hook_add(UC_HOOK_INSN, on_in, None, 1, 0, UC_X86_INS_IN)

    def call(self, address: int, *args: int) -> int:
        """The bare round trip (see bench/common.py)."""
        return bare_call(self.uc, self.stack_top, address, *args)




def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "bench_ports.o"
        subprocess.run(["gcc", *CFLAGS, "-c", str(SOURCE), "-o", str(obj)], check=True)
        kernel = Kernel(budget_seconds=120, devices=[Constant()])
        module = kernel.load(obj)
        assert module.call("in_loop", 10) == 10
        bare = BareMachine(kernel, module.base, module.plan.layout.sizes["core"])
        loop = module.address_of("in_loop")
        assert bare.call(loop, 10) == 10

        def untraced() -> None:
            kernel.trace.enabled = False
            module.call("in_loop", ACCESSES)

        def traced() -> None:
            kernel.trace.enabled = True
            kernel.trace.clear()
            module.call("in_loop", ACCESSES)

        # Rounds interleave the three so a noisy neighbour hits them alike.
        best = {"bare": float("inf"), "untraced": float("inf"), "traced": float("inf")}
        runs = {"bare": lambda: bare.call(loop, ACCESSES), "untraced": untraced, "traced": traced}
        for _ in range(7):
            for key, run in runs.items():
                best[key] = min(best[key], best_of(1, run))
        per = {key: value / ACCESSES * 1e6 for key, value in best.items()}
        report("guest inb -> Python device (trace off)", per["untraced"], per["bare"], "us", "target <= 1.5")
        report("guest inb -> Python device (traced)", per["traced"], per["bare"], "us",
               "info: one trace event per access")


if __name__ == "__main__":
    main()
