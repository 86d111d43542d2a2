"""Fragment reassembly's registration side, Linux 6.1 (net/ipv4/inet_fragment.c).

A reassembly user (nf_defrag_ipv6, 6lowpan, IPv4/IPv6 themselves) describes
its queues in a ``struct inet_frags`` and keeps one ``struct fqdir`` per
namespace:

- ``inet_frags_init``: the queue cache (``kmem_cache_create`` of
  ``frags_cache_name``, ``qsize`` bytes; -ENOMEM without it), ``refcnt`` 1,
  the completion fini waits on.
- ``fqdir_init``: a zeroed fqdir holding ``f`` and ``net``, its rhashtable
  set up from ``f->rhash_params`` (-EINVAL for parameters rhashtable_init
  refuses: no key length and no hash function, or a hash function without a
  compare), a reference on ``f``.
- ``fqdir_exit``: queued on ``system_wq`` as Linux does (``destroy_work``);
  the work empties the table, drops the reference on ``f`` (completing it at
  zero) and frees the fqdir.
- ``inet_frags_fini``: drops the first reference, waits for the completion
  (so for every fqdir's destruction work, which the wait lets run: a fqdir
  never exited is a wait nothing can satisfy, reported by name), then
  destroys the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .completion import complete, wait_for_completion
from .layout import Fields, offset, size
from .memory import kfree, kmem_cache_create, kmem_cache_destroy
from .registrations import EINVAL, ENOMEM

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

RHASHTABLE_PARAMS = size("rhashtable_params")
FQDIR_RHASHTABLE = offset("fqdir", "rhashtable")


class Fqdirs:
    """Live fqdirs (by address) and the inet_frags each belongs to, to report what a module leaves."""

    def __init__(self) -> None:
        self.fqdirs: dict[int, int] = {}  # fqdir -> its inet_frags
        self.frags: dict[int, str] = {}  # inet_frags initialised -> owner module

    def clone(self) -> Fqdirs:
        """A copy for snapshots."""
        twin = Fqdirs()
        twin.fqdirs, twin.frags = dict(self.fqdirs), dict(self.frags)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """inet_frags a module initialised and never finished (and their fqdirs): reported and forgotten."""
        leaks = []
        for frags, owner in list(self.frags.items()):
            if owner == module.name:
                alive = [d for d, f in self.fqdirs.items() if f == frags]
                leaks.append(f"inet_frags {k.symbolizer.short(frags)} not finished (inet_frags_fini not called"
                             + (f", {len(alive)} fqdir still alive)" if alive else ")"))
                for fqdir in alive:
                    del self.fqdirs[fqdir]
                del self.frags[frags]
        return leaks


def _refcount_dec_and_test(k: Kernel, address: int) -> bool:
    count = k.memory.read_u32(address)
    if count == 0:
        k.warn(f"refcount_t: underflow at {k.symbolizer.short(address)}")
        return False
    k.memory.write_u32(address, count - 1)
    return count == 1


@service("int inet_frags_init(struct inet_frags *f)")
def inet_frags_init(k: Kernel, f: int) -> int:
    """Create the queue cache and take the first reference: 0 or -ENOMEM."""
    frags = Fields(k.memory, "inet_frags", f)
    cache = kmem_cache_create(k, frags["frags_cache_name"], frags["qsize"], 0, 0, 0)
    frags["frags_cachep"] = cache
    if not cache:
        return -ENOMEM
    frags["refcnt"] = 1
    done = frags.address_of("completion")
    k.memory.write_u32(done, 0)  # init_completion: done 0, an empty wait queue
    head = frags.address_of("completion.wait.task_list")
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)
    module = k.caller_module()
    k.subsystem(Fqdirs).frags[f] = module.name if module is not None else "kernel"
    return 0


@service("void inet_frags_fini(struct inet_frags *f)")
def inet_frags_fini(k: Kernel, f: int) -> None:
    """Drop the first reference, wait until every fqdir of ``f`` is gone, destroy the cache."""
    frags = Fields(k.memory, "inet_frags", f)
    if _refcount_dec_and_test(k, frags.address_of("refcnt")):
        complete(k, frags.address_of("completion"))
    wait_for_completion(k, frags.address_of("completion"))
    kmem_cache_destroy(k, frags["frags_cachep"])
    frags["frags_cachep"] = 0
    k.subsystem(Fqdirs).frags.pop(f, None)


@service("int fqdir_init(struct fqdir **fqdirp, struct inet_frags *f, struct net *net)")
def fqdir_init(k: Kernel, fqdirp: int, f: int, net: int) -> int:
    """A namespace's fragment directory for ``f``: 0 (``*fqdirp`` set), -ENOMEM or rhashtable_init's -EINVAL."""
    from .memory import __kmalloc

    params = Fields(k.memory, "rhashtable_params", f + offset("inet_frags", "rhash_params"))
    if (not params["key_len"] and not params["obj_hashfn"]) or (params["obj_hashfn"] and not params["obj_cmpfn"]):
        return -EINVAL
    fqdir = __kmalloc(k, size("fqdir"), 0xCC0 | 0x100)  # kzalloc(GFP_KERNEL)
    if not fqdir:
        return -ENOMEM
    d = Fields(k.memory, "fqdir", fqdir)
    d["f"] = f
    d["net"] = net
    # rhashtable_init: the parameters copied in, the key length, no elements; lookups are the kernel's.
    table = Fields(k.memory, "rhashtable", fqdir + FQDIR_RHASHTABLE)
    k.memory.write(table.address_of("p"), k.memory.read(params.address, RHASHTABLE_PARAMS))
    table["key_len"] = params["key_len"]
    table["nelems"] = 0
    refcnt = f + offset("inet_frags", "refcnt")
    k.memory.write_u32(refcnt, k.memory.read_u32(refcnt) + 1)
    k.memory.write_u32(fqdirp, fqdir)
    k.subsystem(Fqdirs).fqdirs[fqdir] = f
    return 0


@service("void fqdir_exit(struct fqdir *fqdir)")
def fqdir_exit(k: Kernel, fqdir: int) -> None:
    """Queue the fqdir's destruction on system_wq (INIT_WORK + queue_work, as Linux)."""
    from .workqueue import queue_work_on

    work = fqdir + offset("fqdir", "destroy_work")
    w = Fields(k.memory, "fqdir", fqdir)
    w["destroy_work.data"] = 0xFFFFFFE0  # WORK_STRUCT_NO_POOL
    entry = w.address_of("destroy_work.entry")
    k.memory.write_u32(entry, entry)
    k.memory.write_u32(entry + 4, entry)
    w["destroy_work.func"] = k.export_address("fqdir_work_fn") or 0
    queue_work_on(k, 0, k.memory.read_u32(k.export_address("system_wq") or 0), work)


@service("void fqdir_work_fn(struct work_struct *work)")
def fqdir_work_fn(k: Kernel, work: int) -> None:
    """fqdir_exit's work: the table emptied, the reference on ``f`` dropped (completing it at 0), the fqdir freed."""
    fqdir = work - offset("fqdir", "destroy_work")
    f = Fields(k.memory, "fqdir", fqdir)["f"]
    k.subsystem(Fqdirs).fqdirs.pop(fqdir, None)
    if _refcount_dec_and_test(k, f + offset("inet_frags", "refcnt")):
        complete(k, f + offset("inet_frags", "completion"))
    kfree(k, fqdir)
