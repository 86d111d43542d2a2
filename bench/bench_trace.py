"""What tracing and coverage cost the guest, in one run.

Run: ``python bench/bench_trace.py``. Same guest as bench/bench_exec.py (the
bitwise CRC-32 loop of bench/guest/bench_guest.c). Each line prints the
figure with the feature on, the figure with it off, and on/off as a speed
ratio. Targets (issue 4): default trace on vs off >= 0.9, coverage on vs off
>= 0.75. The service round trip shows what the per-event timestamps and
durations cost on the one path that records events.
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_exec import BUFFER, best_of, build  # noqa: E402

from sandbox import Kernel  # noqa: E402

CALLS = 20000
RUNS = 5


def _setup(obj: Path, **options: bool) -> tuple[Kernel, object, int, int]:
    kernel = Kernel(budget_seconds=120, **options)
    module = kernel.load(obj)
    data = bytes((i * 7 + 3) & 0xFF for i in range(BUFFER))
    buffer = kernel.memory.alloc(BUFFER)
    kernel.memory.write(buffer, data)
    assert module.call("crc32_bitwise", buffer, BUFFER, returns="uint") == zlib.crc32(data)
    return kernel, module, buffer, zlib.crc32(data)


def _line(name: str, on: float, off: float, unit: str, target: str) -> None:
    print(f"{name:<34} on {on:9.2f} {unit:<5} off {off:9.2f} {unit:<5} ratio {on / off:5.2f}  ({target})")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        obj, _ = build(Path(tmp))
        traced, traced_mod, traced_buf, _ = _setup(obj, trace=True)
        plain, plain_mod, plain_buf, _ = _setup(obj, trace=False)
        covered, covered_mod, covered_buf, _ = _setup(obj, coverage=True)
        mb = BUFFER / 1e6

        def crc(module: object, buffer: int) -> float:
            return mb / best_of(RUNS, lambda: module.call("crc32_bitwise", buffer, BUFFER))  # type: ignore[attr-defined]

        # Interleave so drift in machine speed hits both sides alike.
        off_speed = crc(plain_mod, plain_buf)
        on_speed = crc(traced_mod, traced_buf)
        cov_speed = crc(covered_mod, covered_buf)
        off_speed = max(off_speed, crc(plain_mod, plain_buf))
        _line("CRC-32 throughput, default trace", on_speed, off_speed, "MB/s", "speed; target >= 0.9")
        _line("CRC-32 throughput, coverage", cov_speed, off_speed, "MB/s", "speed; target >= 0.75")

        def loop(kernel: Kernel, module: object) -> float:
            def once() -> None:
                kernel.trace.clear()
                module.call("call_service_loop", CALLS)  # type: ignore[attr-defined]
            return best_of(3, once) / CALLS * 1e6

        on_us, off_us = loop(traced, traced_mod), loop(plain, plain_mod)
        print(f"{'guest->service->guest, per call':<34} on {on_us:9.2f} us    off {off_us:9.2f} us    "
              f"ratio {off_us / on_us:5.2f}  (speed; info: events with ts/dur vs none)")
        report = covered.coverage.report(covered_mod)  # type: ignore[arg-type]
        crc_cov = report.function("crc32_bitwise")
        print(f"coverage saw crc32_bitwise: {crc_cov.blocks_hit}/{crc_cov.blocks_total} blocks")


if __name__ == "__main__":
    main()
