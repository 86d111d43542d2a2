"""Resets for fuzzing: restore + one ioctl per execution, by dirty pages vs a full copy.

Run: ``python bench/bench_fuzz_reset.py``. A Kernel with the ``buggy``
sample driver loaded (no memcheck), /dev/buggy open and a 64-byte user
buffer mapped before the snapshot (``OpenFile.prepare_ioctl``, what the
fuzzer's ioctl target does); each execution restores the snapshot and
issues one BUGGY_SUM ioctl with its argument written in place. Baseline, in
the same run: the same loop restoring by copying every mapped region (what
snapshots did before dirty-page tracking). A second row does what each case
did before prepared ioctls: restore, open, ioctl with a fresh user buffer,
close. Target: >= 10,000 executions per second on one core.

Figures are the best of five rounds, as wall-clock time and as this
process's CPU time (the machine is shared: the CPU figure is what the loop
costs, the wall figure what it got).
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers.build import build_all  # noqa: E402
from sandbox import Kernel  # noqa: E402
from sandbox.machine.dirty import DirtyPages  # noqa: E402

SUM = (1 << 30) | (64 << 16) | (ord("b") << 8) | 4
REQUEST = struct.pack("<II56s", 4, 0, b"\x01\x02\x03\x04")
ROUNDS = 2000


def best_of(loop: Callable[[], None]) -> tuple[float, float]:
    """(wall, cpu) seconds per execution: the best of five rounds of ROUNDS."""
    wall = cpu = float("inf")
    loop()  # warm: translations, TLB, caches
    for _ in range(5):
        w, c = time.perf_counter(), time.process_time()
        loop()
        wall = min(wall, time.perf_counter() - w)
        cpu = min(cpu, time.process_time() - c)
    return wall / ROUNDS, cpu / ROUNDS


def prepared(path: Path, tracked: bool) -> tuple[Kernel, Callable[[], None], Callable[[], None], Callable[[], None]]:
    """A kernel, its snapshot taken with /dev/buggy open; (kernel, restore+ioctl, restore, ioctl) loops."""
    kernel = Kernel(trace=False)
    if tracked:
        DirtyPages.attach(kernel.cpu)
    module = kernel.load(path)
    kernel.symbolizer.areas_of(module.name)
    ioctl = kernel.open("/dev/buggy").prepare_ioctl(64)
    snap = kernel.snapshot()
    assert ioctl(SUM, REQUEST) == 10
    restore = kernel.restore

    def both() -> None:
        for _ in range(ROUNDS):
            restore(snap)
            ioctl(SUM, REQUEST)

    def restores() -> None:
        for _ in range(ROUNDS):
            restore(snap)

    def ioctls() -> None:
        for _ in range(ROUNDS):
            ioctl(SUM, REQUEST)

    return kernel, both, restores, ioctls


def per_case_open(path: Path, tracked: bool) -> Callable[[], None]:
    """restore + open + ioctl (fresh user buffer) + close, as cases ran before prepared ioctls."""
    kernel = Kernel(trace=False)
    if tracked:
        DirtyPages.attach(kernel.cpu)
    module = kernel.load(path)
    kernel.open("/dev/buggy").close()  # the heap's first chunk mapped before the snapshot
    kernel.symbolizer.areas_of(module.name)
    snap = kernel.snapshot()

    def loop() -> None:
        for _ in range(ROUNDS):
            kernel.restore(snap)
            handle = kernel.open("/dev/buggy")
            handle.ioctl(SUM, REQUEST)
            handle.close()

    return loop


def row(label: str, fast: tuple[float, float], slow: tuple[float, float]) -> None:
    (fw, fc), (sw, sc) = fast, slow
    print(f"{label:<44} dirty pages {1 / fw:8.0f}/s ({fw * 1e6:5.1f} us wall, {fc * 1e6:5.1f} us cpu)   "
          f"full copy {1 / sw:7.0f}/s ({sw * 1e6:5.1f} us wall)   ratio {sw / fw:5.2f} wall, {sc / fc:5.2f} cpu")


def main() -> None:
    path = build_all(toolchains=("gcc",), formats=("obj",))[("gcc", "obj", "buggy")]
    tracked, both, restores, ioctls = prepared(path, tracked=True)
    _, full_both, _, _ = prepared(path, tracked=False)
    fast, slow = best_of(both), best_of(full_both)
    restore_only, ioctl_only = best_of(restores), best_of(ioctls)
    mib = sum(r.end - r.start for r in tracked.memory.regions()) / (1 << 20)
    pages = len(tracked.cpu.dirty.pages)  # type: ignore[union-attr]
    print(f"snapshot maps {mib:.2f} MiB; pages restored per execution by dirty tracking: {pages}")
    row("restore + one prepared ioctl, executions/s", fast, slow)
    print(f"  of which (cpu): restore {restore_only[1] * 1e6:5.1f} us with nothing written, "
          f"ioctl {ioctl_only[1] * 1e6:5.1f} us; target >= 10,000/s = 100 us")
    row("restore + open + ioctl + close, exec/s", best_of(per_case_open(path, True)),
        best_of(per_case_open(path, False)))


if __name__ == "__main__":
    main()
