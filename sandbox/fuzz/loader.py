"""A seeded mutation fuzzer for the loader.

Mutates valid module files (random bytes, biased towards the headers) and
loads each into one kernel. Every outcome must be a clean load (then an
unload) or a LoadError; anything else is a finding, returned with the input
so it can become a regression test.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ..errors import LoadError, SandboxError
from ..kernel import Kernel


@dataclass
class FuzzResult:
    """Counts of outcomes and any findings (inputs that broke the rules)."""

    cases: int = 0
    loaded: int = 0
    refused: int = 0
    guest_errors: int = 0
    findings: list[tuple[bytes, str]] = field(default_factory=list)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-4 byte changes, half of them in the first 512 bytes (headers, section table start)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(out)) if rng.random() < 0.5 else rng.randrange(min(len(out), 0x200))
        out[position] = rng.randrange(256)
    return bytes(out)


def fuzz(seeds: list[bytes], iterations: int, seed: int = 0, seconds: float | None = None) -> FuzzResult:
    """Run up to ``iterations`` mutated loads (or until ``seconds`` pass)."""
    rng = random.Random(seed)
    kernel = Kernel(budget_seconds=0.5)
    result = FuzzResult()
    stop = time.monotonic() + seconds if seconds else None
    for _ in range(iterations):
        if stop is not None and time.monotonic() > stop:
            break
        data = mutate(rng.choice(seeds), rng)
        result.cases += 1
        try:
            module = kernel.load_bytes(data, "fuzz.ko")
        except LoadError:
            result.refused += 1
            continue
        except SandboxError:
            result.guest_errors += 1  # a mangled init may crash: the sandbox reported it
            continue
        except Exception as error:
            result.findings.append((data, f"{type(error).__name__}: {error}"))
            kernel = Kernel(budget_seconds=0.5)
            continue
        result.loaded += 1
        try:
            kernel.unload(module)
        except SandboxError:
            result.guest_errors += 1
        except Exception as error:
            result.findings.append((data, f"at unload: {type(error).__name__}: {error}"))
            kernel = Kernel(budget_seconds=0.5)
    return result
