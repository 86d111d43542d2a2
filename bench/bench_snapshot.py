"""Snapshot/restore cost for a kernel with a few modules loaded.

Run: ``python bench/bench_snapshot.py``. Prints restore time per MiB of guest
memory held, beside a baseline measured in the same run: a bare Unicorn
``mem_write`` of the same number of bytes (the floor for copying them back).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.build import build_all  # noqa: E402
from sandbox import Kernel  # noqa: E402


def main() -> None:
    built = build_all(toolchains=("gcc",), formats=("obj",))
    k = Kernel()
    for name in ("usb_roothub", "usb_storage", "memlist", "irqcount", "hello"):
        k.load(built[("gcc", "obj", name)])
    m = k.module("memlist")
    for i in range(200):
        m.call("memlist_push", i, f"n{i}")
    snap = k.snapshot()
    mib = snap.size / (1 << 20)
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        m.call("memlist_push", 1, "x")
        k.restore(snap)
    restore_t = (time.perf_counter() - start) / rounds
    uc = k.cpu.uc
    start = time.perf_counter()
    for _ in range(rounds):
        for address, data in snap.contents.items():
            uc.mem_write(address, data)
    bare_t = (time.perf_counter() - start) / rounds
    print(f"snapshot holds {mib:.2f} MiB in {len(snap.contents)} regions, {len(k.modules)} modules")
    print(f"restore: sandbox {restore_t * 1e3:.3f} ms ({restore_t * 1e3 / mib:.3f} ms/MiB)   "
          f"baseline bare mem_write {bare_t * 1e3:.3f} ms   ratio {restore_t / bare_t:.2f}")


if __name__ == "__main__":
    main()
