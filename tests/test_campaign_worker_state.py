"""What a campaign worker rebuilds from a FuzzSetup's spec is the parent's kernel, page for page.

Snapshots are not sent between processes: their parts hold hooks and
ctypes buffers bound to one Unicorn engine (a pickled Unicorn context restores
with SIGBUS elsewhere). A worker instead rebuilds the kernel from the JSON
spec; this checks that the rebuild gives the same regions and bytes as the
parent's post-init snapshot, but for the stack canary each kernel draws at
random (as Linux does), so coverage offsets and crash inputs mean the same
thing in every worker.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sandbox.fuzz import Fuzzer, FuzzSetup, IoctlTarget
from sandbox.kernel import STACK_CANARY_OFFSET

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, pickle, sys
from sandbox.fuzz import Fuzzer, FuzzSetup
from sandbox.kernel import STACK_CANARY_OFFSET
fuzzer = Fuzzer(FuzzSetup.from_spec(json.loads(sys.argv[1])))
snap, kernel = fuzzer.snapshot, fuzzer.kernel
regions = [(r.start, r.end, r.perms, r.label) for r in snap.regions]
canaries = [kernel.percpu_area + STACK_CANARY_OFFSET, kernel.export_address("__stack_chk_guard")]
with open(sys.argv[2], "wb") as out:
    pickle.dump((regions, snap.contents, canaries), out)
"""


def blank(contents: dict[int, bytes], canaries: list[int | None]) -> dict[int, bytes]:
    """``contents`` with the 4-byte canary words zeroed."""
    out = {start: bytearray(data) for start, data in contents.items()}
    for address in canaries:
        for start, data in out.items():
            if address is not None and start <= address < start + len(data):
                data[address - start : address - start + 4] = bytes(4)
    return {start: bytes(data) for start, data in out.items()}


def test_a_worker_rebuilds_the_parents_post_init_pages(driver: Callable[..., Path], tmp_path: Path) -> None:
    setup = FuzzSetup([str(driver("buggy"))], IoctlTarget("/dev/buggy", [1], 64))
    parent = Fuzzer(setup)
    where = tmp_path / "child.pickle"
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(setup.spec()), str(where)], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "7"}, timeout=120)
    regions, contents, canaries = pickle.loads(where.read_bytes())
    snap = parent.snapshot
    assert regions == [(r.start, r.end, r.perms, r.label) for r in snap.regions]
    mine = [parent.kernel.percpu_area + STACK_CANARY_OFFSET, parent.kernel.export_address("__stack_chk_guard")]
    assert canaries == mine
    assert contents.keys() == snap.contents.keys()
    assert blank(contents, canaries) == blank(snap.contents, mine)
