"""The gdb stub's cost while no client is attached: the same figures as bench_exec.

Run: ``python bench/bench_gdb.py``. A Kernel serving gdb (``Kernel(gdb=0)``,
listening, nobody attached) runs the CRC-32 loop and the Python->guest call
against bare Unicorn on the same bytes, in the same run. Target: throughput
>= 0.9 of bare Unicorn (the stub adds no hook until a client attaches).
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_exec import BUFFER, BareMachine, build  # noqa: E402
from bench.common import best_of, report  # noqa: E402
from sandbox import Kernel  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        obj, _ = build(Path(tmp))
        kernel = Kernel(budget_seconds=120, gdb=0)
        assert kernel.gdb is not None and not kernel.gdb.attached
        module = kernel.load(obj)
        data = bytes((i * 7 + 3) & 0xFF for i in range(BUFFER))
        buffer = kernel.memory.alloc(BUFFER)
        kernel.memory.write(buffer, data)
        expected = zlib.crc32(data)
        crc_addr = module.address_of("crc32_bitwise")
        assert module.call("crc32_bitwise", buffer, BUFFER, returns="uint") == expected
        bare = BareMachine(kernel, module.base, module.plan.layout.sizes["core"], buffer)
        assert bare.call(crc_addr, buffer, BUFFER) == expected

        sandbox_t = bare_t = float("inf")
        for _ in range(3):  # interleaved: the machine is shared
            sandbox_t = min(sandbox_t, best_of(1, lambda: module.call("crc32_bitwise", buffer, BUFFER)))
            bare_t = min(bare_t, best_of(1, lambda: bare.call(crc_addr, buffer, BUFFER)))
        mb = BUFFER / 1e6
        print(f"{'guest CRC-32, gdb stub idle':<38} sandbox {mb / sandbox_t:10.1f} MB/s   baseline "
              f"{mb / bare_t:10.1f} MB/s   ratio {bare_t / sandbox_t:5.2f}  (speed; target >= 0.9)")

        add_addr = module.address_of("add")
        rounds = 5000

        def sandbox_calls() -> None:
            for _ in range(rounds):
                module.call("add", 1, 2)

        def bare_calls() -> None:
            for _ in range(rounds):
                bare.call(add_addr, 1, 2)

        sandbox_t = bare_t = float("inf")
        for _ in range(5):
            sandbox_t = min(sandbox_t, best_of(1, sandbox_calls))
            bare_t = min(bare_t, best_of(1, bare_calls))
        report("Python->guest call, gdb stub idle", sandbox_t / rounds * 1e6, bare_t / rounds * 1e6, "us",
               "target <= 1.3")
        kernel.gdb.close()


if __name__ == "__main__":
    main()
