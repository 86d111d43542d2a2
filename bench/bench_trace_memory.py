"""Memory per trace event: the sandbox's events against a bare tuple of the same values.

Run: ``python bench/bench_trace_memory.py``. Traces 20,000 guest->service
calls (strlen of a short string) and measures, with tracemalloc, the bytes
each kept event costs; the baseline is a plain tuple holding the same values
(kind, name, caller, args, result, depth), built in the same run. Use the
figure to choose ``Kernel(trace_limit=...)``: memory ~= limit x bytes/event.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import report  # noqa: E402
from sandbox import Kernel  # noqa: E402

CALLS = 20_000
SOURCE = r"""
#include <kernel.h>
unsigned int many(unsigned int n) { unsigned int t = 0; while (n--) t += strlen("sandbox"); return t; }
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "calls.c"
        c_file.write_text(SOURCE)
        obj = Path(tmp) / "calls.o"
        subprocess.run(["gcc", "-m32", "-ffreestanding", "-nostdinc", "-O2", "-fno-pic",
                        "-I", str(ROOT / "kernel_stubs" / "include"), "-c", str(c_file), "-o", str(obj)], check=True)
        kernel = Kernel(trace_limit=None)
        module = kernel.load(obj)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        module.call("many", CALLS)
        per_event = (tracemalloc.get_traced_memory()[0] - before) / CALLS
        before = tracemalloc.get_traced_memory()[0]
        bare = [("service", "strlen", 0xD0000010 + i, (0xD0001000,), 7, 0) for i in range(CALLS)]
        per_tuple = (tracemalloc.get_traced_memory()[0] - before) / CALLS
        tracemalloc.stop()
        del bare
    report("bytes per traced service call", per_event, per_tuple, "B", "info: sizes Kernel(trace_limit=)")
    print(f"default trace_limit 200,000 events -> about {200_000 * per_event / 2**20:.0f} MiB kept at most")


if __name__ == "__main__":
    main()
