"""Cost of the memory checker: the same allocation-heavy guest work with it off and on.

Run: ``python bench/bench_memcheck.py``. The baseline is the plain heap in the
same run; the ratio is the checked run's time over it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.build import build_all  # noqa: E402
from sandbox import Kernel  # noqa: E402


def run(memcheck: bool, path: Path, rounds: int) -> float:
    """Seconds for ``rounds`` push+pop pairs (kmalloc+kfree inside the guest)."""
    k = Kernel(memcheck=memcheck)
    m = k.load(path)
    start = time.perf_counter()
    for i in range(rounds):
        m.call("memlist_push", i, "x")
        m.call("memlist_pop")
    return time.perf_counter() - start


def main() -> None:
    path = build_all(toolchains=("gcc",), formats=("obj",))[("gcc", "obj", "memlist")]
    rounds = 3000
    plain = min(run(False, path, rounds) for _ in range(3))
    checked = min(run(True, path, rounds) for _ in range(3))
    per = 1e6 / rounds
    print(f"push+pop (kmalloc+kfree): memcheck {checked * per:.1f} us   baseline plain heap {plain * per:.1f} us   "
          f"ratio {checked / plain:.2f}")


if __name__ == "__main__":
    main()
