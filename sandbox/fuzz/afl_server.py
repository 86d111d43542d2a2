"""The target side of the AFL++ engine: a persistent fork server written in Python.

``afl-fuzz -U ... -- python3 -m sandbox.fuzz.afl_server SETUP.json @@``
starts this module once per fuzzer instance. It builds the campaign's kernel
(modules loaded, init run, post-init snapshot taken: :class:`Fuzzer`) and then
speaks AFL++'s fork-server protocol on the two descriptors afl-fuzz leaves
open (control on 198, status on 199):

- hello: four bytes on 199 (zero: no extended options, the map is AFL's
  default size or ``AFL_MAP_SIZE``);
- per case: afl-fuzz writes four bytes on 198 (did it kill the last run),
  we answer with a "child" pid, run the case and answer with a wait(2)
  status: 0 for a clean run, ``SIGSEGV`` for a crash (a GuestFault,
  memcheck's findings, a budget stop).

There is no fork: each case restores the snapshot in this process (what
unicornafl's persistent mode does with a fork per N cases), so the pid we
report is our own. AFL's timeout must stay above the case budget
(:func:`sandbox.fuzz.afl.afl_timeout_ms`): the budget stops a runaway case
first and reports it as a crash.

Coverage goes to AFL's shared-memory map (``__AFL_SHM_ID``) the way AFL's
QEMU and Unicorn modes compute it: a block hook over the module area hashes
each block's address and bumps ``map[cur ^ prev]``, ``prev = cur >> 1``.
The campaign's own translation-time edge set is kept too (Fuzzer).

Why not unicornafl: measured with Debian's afl++ 4.04c, unicornafl 2.1.0
(the newest on PyPI) dies with SIGSEGV inside its own block hook on the first
block, with unicorn 2.0.1 and 2.1.4 alike; 2.0.2 dies with SIGBUS and 2.0.0
jumps to NULL with unicorn 2.0.1; the sandbox also needs unicorn 2.1's
virtual TLB (dirty pages), which 2.0.x lacks; later unicornafl is Rust,
built against crates this machine cannot fetch. See docs/architecture.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import struct
import sys
from pathlib import Path
from typing import Any

from unicorn import UC_HOOK_BLOCK

from ..machine import address_map as amap
from .harness import Fuzzer, FuzzSetup

CONTROL_FD = 198  # AFL's FORKSRV_FD: afl-fuzz -> us
STATUS_FD = 199  # FORKSRV_FD + 1: us -> afl-fuzz
DEFAULT_MAP_SIZE = 1 << 16
CRASH_STATUS = signal.SIGSEGV  # a wait(2) status "killed by SIGSEGV": AFL counts it as a crash


class CoverageMap:
    """AFL's edge map in shared memory, filled from a block hook over the module area."""

    def __init__(self, fuzzer: Fuzzer, shm_id: int, size: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        address = libc.shmat(shm_id, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"cannot attach AFL's coverage map (shm id {shm_id})")
        self.area = (ctypes.c_ubyte * size).from_address(address)
        self.mask = size - 1
        self.prev = 0
        area, mask = self.area, self.mask

        def on_block(uc: Any, address: int, size: int, data: object) -> None:
            cur = ((address >> 4) ^ (address << 8)) & mask
            index = cur ^ self.prev
            area[index] = (area[index] + 1) & 0xFF
            self.prev = cur >> 1

        uc = fuzzer.kernel.cpu.uc
        uc.hook_add(UC_HOOK_BLOCK, on_block, None, amap.MODULE_AREA_BASE,
                    amap.MODULE_AREA_BASE + amap.MODULE_AREA_SIZE - 1)
        uc.ctl_flush_tb()  # blocks translated before the hook would never call it


def serve(setup: FuzzSetup, input_path: str) -> int:
    """Run the fork-server loop until afl-fuzz goes away; without AFL, run the input once."""
    fuzzer = Fuzzer(setup)
    shm = os.environ.get("__AFL_SHM_ID")
    size = int(os.environ.get("AFL_MAP_SIZE", DEFAULT_MAP_SIZE))
    coverage = CoverageMap(fuzzer, int(shm), size) if shm else None
    try:
        os.write(STATUS_FD, struct.pack("<I", 0))
    except OSError:  # not started by afl-fuzz: one case, its verdict as the exit status
        _, crash = fuzzer.execute(Path(input_path).read_bytes())
        if crash is not None:
            print(f"{crash.key}: {crash.message}", file=sys.stderr)
        return 1 if crash is not None else 0
    me = struct.pack("<I", os.getpid())
    while len(os.read(CONTROL_FD, 4)) == 4:
        os.write(STATUS_FD, me)
        if coverage is not None:
            coverage.prev = 0
        with open(input_path, "rb") as case:
            data = case.read()
        _, crash = fuzzer.execute(data)
        os.write(STATUS_FD, struct.pack("<i", 0 if crash is None else CRASH_STATUS))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python3 -m sandbox.fuzz.afl_server SETUP.json INPUT``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python3 -m sandbox.fuzz.afl_server SETUP.json INPUT", file=sys.stderr)
        return 2
    setup = FuzzSetup.from_spec(json.loads(Path(args[0]).read_text()))
    return serve(setup, args[1])


if __name__ == "__main__":
    sys.exit(main())
