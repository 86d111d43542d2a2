"""Shrinkers (mm/vmscan.c), Linux 6.1 i386: caches a module lets the kernel reclaim under memory pressure.

``register_shrinker(shrinker, fmt, ...)`` names the ``struct shrinker``
(generated layout; the name is 6.1's debugfs name), gives it its
``nr_deferred`` counter, sets SHRINKER_REGISTERED and puts it on the
shrinker list; ``unregister_shrinker`` takes it off and frees the counter.
Nothing here runs out of memory, so reclaim happens when Python asks for
it: :func:`drop_slab` is ``echo 2 > /proc/sys/vm/drop_caches``, calling
each shrinker's ``count_objects`` and ``scan_objects`` with a ``struct
shrink_control`` exactly as ``do_shrink_slab`` does at priority 0
(batches of ``shrinker->batch`` or 128, until the count is covered or the
shrinker answers SHRINK_STOP), again while a round frees more than 2**round objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service
from sandbox.services.varargs import VarArgs

from ..memory import allocate, release
from .layout import Fields, size

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

SHRINKER_REGISTERED = 1 << 0
SHRINK_BATCH = 128
SHRINK_STOP = 0xFFFFFFFF  # ~0UL
SHRINK_EMPTY = 0xFFFFFFFE  # ~0UL - 1
GFP_KERNEL = 0xCC0
DEFAULT_SEEKS = 2
ENOMEM = 12


@dataclass(slots=True)
class Registered:
    """A shrinker on the list: its name and the module that registered it."""

    name: str
    owner: str


class Shrinkers:
    """The shrinker list, in registration order (list_add_tail)."""

    def __init__(self) -> None:
        self.registered: dict[int, Registered] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Shrinkers a module left registered: reclaim would call into its freed code. Reported and removed."""
        leaks = []
        for shrinker, record in list(self.registered.items()):
            if record.owner == module.name:
                leaks.append(f"shrinker {record.name!r} still registered")
                unregister(k, shrinker)
        return leaks


@service("int register_shrinker(struct shrinker *shrinker, const char *fmt, ...)")
def register_shrinker(k: Kernel, shrinker: int, fmt: int, args: VarArgs) -> int:
    """prealloc_shrinker + register_shrinker_prepared: 0, or -ENOMEM for the deferred counter."""
    from .printk import format_guest

    name = format_guest(k, fmt, args).decode("utf-8", "replace") if fmt else ""
    deferred = allocate(k, 4, owner="kernel")  # nr_deferred: one atomic_long_t per node, one node
    if not deferred:
        return -ENOMEM
    f = Fields(k.memory, "shrinker", shrinker)
    f["nr_deferred"] = deferred
    f["flags"] = f["flags"] | SHRINKER_REGISTERED
    caller = k.caller_module()
    k.subsystem(Shrinkers).registered[shrinker] = Registered(name, caller.name if caller else "kernel")
    return 0


def unregister(k: Kernel, shrinker: int) -> None:
    """Off the list, SHRINKER_REGISTERED cleared, the deferred counter freed."""
    if k.subsystem(Shrinkers).registered.pop(shrinker, None) is None:
        return
    f = Fields(k.memory, "shrinker", shrinker)
    f["flags"] = f["flags"] & ~SHRINKER_REGISTERED
    if f["nr_deferred"]:
        release(k, f["nr_deferred"])
        f["nr_deferred"] = 0


@service("void unregister_shrinker(struct shrinker *shrinker)")
def unregister_shrinker(k: Kernel, shrinker: int) -> None:
    """Remove a registered shrinker (one never registered is ignored, as 6.1 does)."""
    unregister(k, shrinker)


@service("void synchronize_shrinkers(void)")
def synchronize_shrinkers(k: Kernel) -> None:
    """Wait for running shrinkers to finish: none runs while guest code does (reclaim is called from Python)."""


def _shrink_one(kernel: Kernel, shrinker: int, control: int) -> int:
    """do_shrink_slab at priority 0: the objects this shrinker freed."""
    k = kernel.service_context
    f = Fields(k.memory, "shrinker", shrinker)
    sc = Fields(k.memory, "shrink_control", control)
    freeable = kernel.call_function_pointer(f["count_objects"], shrinker, control)
    if freeable in (0, SHRINK_EMPTY):
        return 0
    batch = f["batch"] or SHRINK_BATCH
    deferred = k.memory.read_u32(f["nr_deferred"]) if f["nr_deferred"] else 0
    seeks = f["seeks"]
    delta = freeable * 4 // seeks if seeks else freeable // 2
    total = min(deferred + delta, 2 * freeable)
    freed = 0
    while total >= batch or total >= freeable:
        sc["nr_to_scan"] = sc["nr_scanned"] = min(batch, total)
        ret = kernel.call_function_pointer(f["scan_objects"], shrinker, control)
        if ret == SHRINK_STOP:
            break
        freed += ret
        total -= min(sc["nr_scanned"], total)
    if f["nr_deferred"]:
        k.memory.write_u32(f["nr_deferred"], total if total > 0 else 0)
    return freed


def drop_slab(kernel: Kernel) -> int:
    """``echo 2 > /proc/sys/vm/drop_caches``: shrink every registered cache; the objects freed in all."""
    k = kernel.service_context
    state = k.subsystem(Shrinkers)
    control = allocate(k, size("shrink_control"), owner="kernel")
    total, shift = 0, 0
    try:
        while True:  # 6.1's drop_slab: again while (freed >> shift++) > 1, so at most 33 rounds
            freed = 0
            for shrinker in list(state.registered):
                if shrinker not in state.registered:
                    continue  # a shrinker removed by an earlier one's callback
                k.memory.write(control, bytes(size("shrink_control")))
                Fields(k.memory, "shrink_control", control)["gfp_mask"] = GFP_KERNEL
                freed += _shrink_one(kernel, shrinker, control)
            total += freed
            if freed >> shift <= 1:
                return total
            shift += 1
    finally:
        release(k, control)
