"""Execution benchmarks: the sandbox against bare Unicorn on the same bytes.

Run: ``python bench/bench_exec.py``. Each line prints the sandbox figure, the
baseline measured in the same run, and their ratio. Targets (issue 2):
throughput >= 0.9 of bare Unicorn, guest->service->guest round trip <= 1.5x
a bare ranged hook, Python->guest call <= 1.3x a bare emu_start round trip.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from unicorn import UC_ARCH_X86, UC_HOOK_CODE, UC_MODE_32, UC_PROT_ALL, Uc
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_ESP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bare_call, best_of, python_to_guest_times, report  # noqa: E402
from sandbox import Kernel, Module  # noqa: E402
from sandbox.machine import address_map as amap  # noqa: E402

SOURCE = ROOT / "bench" / "guest" / "bench_guest.c"
CFLAGS = ["-m32", "-ffreestanding", "-nostdinc", "-fno-pic", "-O2", "-fno-stack-protector"]
BUFFER = 4 << 20
CALLS = 20000




def build(out: Path) -> tuple[Path, Path | None]:
    """The guest object, and a native static binary if the toolchain allows."""
    obj = out / "bench_guest.o"
    subprocess.run(["gcc", *CFLAGS, "-c", str(SOURCE), "-o", str(obj)], check=True)
    native = out / "bench_native"
    made = subprocess.run(
        ["gcc", "-m32", "-static", "-nostdlib", "-O2", "-DNATIVE", str(SOURCE), "-o", str(native)],
        capture_output=True,
    )
    return obj, native if made.returncode == 0 else None


class BareMachine:
    """A fresh Unicorn holding a copy of the sandbox's module and buffer pages."""

    def __init__(self, kernel: Kernel, module_base: int, module_size: int, buffer: int) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(module_base, module_size, UC_PROT_ALL)
        self.uc.mem_write(module_base, bytes(kernel.cpu.uc.mem_read(module_base, module_size)))
        page = buffer & ~0xFFF
        self.uc.mem_map(page, BUFFER + 0x2000, UC_PROT_ALL)
        self.uc.mem_write(buffer, bytes(kernel.cpu.uc.mem_read(buffer, BUFFER)))
        self.uc.mem_map(amap.STUB_BASE, amap.STUB_AREA_SIZE, UC_PROT_ALL)
        self.uc.mem_write(amap.STUB_BASE, bytes(kernel.cpu.uc.mem_read(amap.STUB_BASE, 0x1000)))
        self.stack_top = 0x80000
        self.uc.mem_map(0x70000, 0x10000, UC_PROT_ALL)

    def call(self, address: int, *args: int) -> int:
        """The bare round trip (see bench/common.py)."""
        return bare_call(self.uc, self.stack_top, address, *args)




def load_crc(kernel: Kernel, obj: Path) -> tuple[Module, int, int, BareMachine]:
    """Load the benchmark module, fill a buffer, and check both machines compute its CRC-32:
    (module, buffer address, crc32_bitwise's address, the bare machine)."""
    module = kernel.load(obj)
    data = bytes((i * 7 + 3) & 0xFF for i in range(BUFFER))
    buffer = kernel.memory.alloc(BUFFER)
    kernel.memory.write(buffer, data)
    expected = zlib.crc32(data)
    crc_addr = module.address_of("crc32_bitwise")
    assert module.call("crc32_bitwise", buffer, BUFFER, returns="uint") == expected
    bare = BareMachine(kernel, module.base, module.plan.layout.sizes["core"], buffer)
    assert bare.call(crc_addr, buffer, BUFFER) == expected
    return module, buffer, crc_addr, bare


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        obj, native = build(Path(tmp))
        kernel = Kernel(budget_seconds=120)
        module, buffer, crc_addr, bare = load_crc(kernel, obj)

        # 1. Throughput of hook-free guest code.
        sandbox_t = best_of(3, lambda: module.call("crc32_bitwise", buffer, BUFFER))
        bare_t = best_of(3, lambda: bare.call(crc_addr, buffer, BUFFER))
        mb = BUFFER / 1e6
        speed = (mb / sandbox_t) / (mb / bare_t)
        print(f"{'guest CRC-32 throughput':<38} sandbox {mb / sandbox_t:10.1f} MB/s   baseline {mb / bare_t:10.1f} MB/s   "
              f"ratio {speed:5.2f}  (speed; target >= 0.9)")

        # 1b. The same with host-paced time (the profile's HZ, and 1000 Hz): the CRC loop calls no
        # service, so the ticks that fall due are taken when the call returns (machine/ticker.py).
        for hz in (kernel.clock.hz, 1000):
            kernel.use_host_time()
            kernel.cpu.tick_period = 1.0 / hz
            before = kernel.clock.ticks
            paced_t = best_of(3, lambda: module.call("crc32_bitwise", buffer, BUFFER))
            ticks = kernel.clock.ticks - before
            kernel.use_host_time(False)
            print(f"{'  with host-paced ticks at ' + str(hz) + ' Hz':<38} sandbox {mb / paced_t:10.1f} MB/s   "
                  f"baseline {mb / bare_t:10.1f} MB/s   ratio {(mb / paced_t) / (mb / bare_t):5.2f}  "
                  f"({ticks} ticks in 3 runs; target >= 0.9)")

        # 2. Guest -> service -> guest round trip.
        kernel.trace.enabled = True
        loop_addr = module.address_of("call_service_loop")
        ksize_stub = kernel.export_address("ksize")

        def bare_hook(uc: Uc, address: int, size: int, data: object) -> None:
            # The least a service hook can do: read its argument, set EAX.
            esp = uc.reg_read(UC_X86_REG_ESP)
            struct.unpack("<II", uc.mem_read(esp, 8))
            uc.reg_write(UC_X86_REG_EAX, 0)

        bare.uc.hook_add(UC_HOOK_CODE, bare_hook, None, ksize_stub, ksize_stub)
        kernel.trace.clear()
        sandbox_t = best_of(3, lambda: (kernel.trace.clear(), module.call("call_service_loop", CALLS)))
        bare_t = best_of(3, lambda: bare.call(loop_addr, CALLS))
        report("guest->service->guest (traced)", sandbox_t / CALLS * 1e6, bare_t / CALLS * 1e6, "us", "target <= 1.5")
        kernel.trace.enabled = False
        sandbox_t = best_of(3, lambda: module.call("call_service_loop", CALLS))
        report("guest->service->guest (trace off)", sandbox_t / CALLS * 1e6, bare_t / CALLS * 1e6, "us", "info")
        kernel.trace.enabled = True

        # 3. Python -> guest call.
        rounds = 5000
        sandbox_t, bare_t = python_to_guest_times(module, bare, passes=7, rounds=rounds)
        report("Python->guest call", sandbox_t / rounds * 1e6, bare_t / rounds * 1e6, "us", "target <= 1.3")

        if native is not None:
            start = time.perf_counter()
            subprocess.run([str(native)], check=False)
            native_t = time.perf_counter() - start
            print(f"native static binary (16 MiB CRC, whole process): {16 * 1.048576 / native_t:.1f} MB/s "
                  "(physical upper limit, includes process start)")


if __name__ == "__main__":
    main()
