"""The gdb stub's cost while no client is attached: the same figures as bench_exec.

Run: ``python bench/bench_gdb.py``. A Kernel serving gdb (``Kernel(gdb=0)``,
listening, nobody attached) runs the CRC-32 loop and the Python->guest call
against bare Unicorn on the same bytes, in the same run. Target: throughput
>= 0.9 of bare Unicorn (the stub adds no hook until a client attaches).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_exec import BUFFER, build, load_crc  # noqa: E402
from bench.common import best_of, python_to_guest_times, report  # noqa: E402
from sandbox import Kernel  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        obj, _ = build(Path(tmp))
        kernel = Kernel(budget_seconds=120, gdb=0)
        assert kernel.gdb is not None and not kernel.gdb.attached
        module, buffer, crc_addr, bare = load_crc(kernel, obj)

        sandbox_t = bare_t = float("inf")
        for _ in range(3):  # interleaved: the machine is shared
            sandbox_t = min(sandbox_t, best_of(1, lambda: module.call("crc32_bitwise", buffer, BUFFER)))
            bare_t = min(bare_t, best_of(1, lambda: bare.call(crc_addr, buffer, BUFFER)))
        mb = BUFFER / 1e6
        print(f"{'guest CRC-32, gdb stub idle':<38} sandbox {mb / sandbox_t:10.1f} MB/s   baseline "
              f"{mb / bare_t:10.1f} MB/s   ratio {bare_t / sandbox_t:5.2f}  (speed; target >= 0.9)")

        rounds = 5000
        sandbox_t, bare_t = python_to_guest_times(module, bare, passes=5, rounds=rounds)
        report("Python->guest call, gdb stub idle", sandbox_t / rounds * 1e6, bare_t / rounds * 1e6, "us",
               "target <= 1.3")
        kernel.gdb.close()


if __name__ == "__main__":
    main()
