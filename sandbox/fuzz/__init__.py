"""Fuzzing: entry points of loaded drivers (coverage-guided), and the loader itself.

- :class:`Fuzzer` with a :class:`FuzzSetup` (module files, a target such as
  :class:`IoctlTarget`): restore the post-init snapshot, run the input,
  keep inputs that reach new edges, deduplicate crashes by symbolized
  stack, save reproducers (:func:`replay`, ``python -m sandbox replay``).
- :func:`run_afl`: the same campaign with AFL++'s afl-fuzz as the engine
  (sandbox/fuzz/afl.py; the fork server is sandbox/fuzz/afl_server.py).
- :func:`fuzz`: the loader fuzzer (mutated module files), sandbox/fuzz/loader.py.
"""

from .afl import afl_available, run_afl
from .harness import Crash, Fuzzer, FuzzReport, FuzzSetup, Replay, build_kernel, replay, stack_of
from .loader import FuzzResult, fuzz
from .mutator import mutate
from .parallel import run_parallel
from .targets import CallTarget, IoctlTarget, IrqTarget, Target, WriteTarget, parse_target, target_from_spec

__all__ = [
    "CallTarget", "Crash", "FuzzReport", "FuzzResult", "FuzzSetup", "Fuzzer", "IoctlTarget", "IrqTarget",
    "Replay", "Target", "WriteTarget", "afl_available", "build_kernel", "fuzz", "mutate", "parse_target", "replay",
    "run_afl", "run_parallel", "stack_of",
    "target_from_spec",
]
