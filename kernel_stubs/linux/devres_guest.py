"""devres with a module's own release functions (drivers/base/devres.c): ``devres_alloc``/``add``/``find``/...

A subsystem built as a module (the watchdog core, regulator consumers,
...) keeps its per-device state as a devres: ``__devres_alloc_node(release,
size, gfp, nid, name)`` gives a zeroed data block tagged with the release
function, ``devres_add(dev, res)`` attaches it to the device, and when the
driver unbinds the core calls ``release(dev, res)`` and frees the block,
newest first with the device's other managed resources (:mod:`.devres`).
``devres_find``/``devres_get``/``devres_remove``/``devres_destroy``/
``devres_release`` look a block up by its release function and an optional
``match(dev, res, match_data)`` callback, as Linux does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

from ..memory import allocate, release
from . import devres
from .registrations import guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

MAX_DEVRES_SIZE = 16 << 20


@dataclass(slots=True)
class GuestDevres:
    """A block made by __devres_alloc_node: its release function, size, name, and the device once added."""

    release: int
    size: int
    name: str
    dev: int = 0


class GuestDevresBlocks:
    """Every block a module allocated with __devres_alloc_node and has not freed, by data address."""

    def __init__(self) -> None:
        self.blocks: dict[int, GuestDevres] = {}

    def clone(self) -> GuestDevresBlocks:
        twin = GuestDevresBlocks()
        twin.blocks = {a: GuestDevres(b.release, b.size, b.name, b.dev) for a, b in self.blocks.items()}
        return twin


def _blocks(k: Kernel) -> dict[int, GuestDevres]:
    return k.subsystem(GuestDevresBlocks).blocks


def _release_block(dev: int, res: int):  # type: ignore[no-untyped-def]
    def run(k: Kernel) -> None:
        block = _blocks(k).pop(res, None)
        if block is None:
            return
        if block.release:
            k.call_function_pointer(block.release, dev, res)
        release(k, res)
    return run


@service("void *__devres_alloc_node(dr_release_t release, size_t size, gfp_t gfp, int nid, const char *name)")
def __devres_alloc_node(k: Kernel, release_fn: int, size_: int, gfp: int, nid: int, name: int) -> int:
    """A zeroed block of ``size`` bytes for a devres released by ``release(dev, res)``; NULL if too big."""
    if size_ > MAX_DEVRES_SIZE:
        return 0
    res = allocate(k, max(size_, 1))
    if res:
        _blocks(k)[res] = GuestDevres(release_fn, size_, guest_string(k, name, 64) if name else "")
    return res


@service("void devres_free(void *res)")
def devres_free(k: Kernel, res: int) -> None:
    """Free a block that was never added (one still on a device is a driver bug: Linux BUG()s)."""
    block = _blocks(k).get(res)
    if block is None:
        return
    if block.dev:
        k.warn(f"devres_free of {res:#x} ({block.name}) at {k.symbolizer.short(k.current_caller)}: "
               "still added to a device (devres_remove it first)")
        return
    del _blocks(k)[res]
    release(k, res)


@service("void devres_add(struct device *dev, void *res)")
def devres_add(k: Kernel, dev: int, res: int) -> None:
    """Attach the block to ``dev``: released at unbind, after the resources taken before it."""
    block = _blocks(k).get(res)
    if block is None or block.dev:
        k.warn(f"devres_add of {res:#x} at {k.symbolizer.short(k.current_caller)}: not a free devres block")
        return
    block.dev = dev
    devres.add(k, dev, "devres", res, data=block.release, release_fn=_release_block(dev, res))


def _matching(k: Kernel, dev: int, release_fn: int, match: int, match_data: int) -> int:
    for entry in reversed(devres.table(k).of(dev)):
        if entry.kind != "devres" or entry.data != release_fn:
            continue
        if not match or k.call_function_pointer(match, dev, entry.value, match_data) & 0xFF:
            return entry.value
    return 0


@service("void *devres_find(struct device *dev, dr_release_t release, dr_match_t match, void *match_data)")
def devres_find(k: Kernel, dev: int, release_fn: int, match: int, match_data: int) -> int:
    """The newest block of ``dev`` with this release function that ``match`` accepts, or NULL."""
    return _matching(k, dev, release_fn, match, match_data)


@service("void *devres_get(struct device *dev, void *new_res, dr_match_t match, void *match_data)")
def devres_get(k: Kernel, dev: int, new_res: int, match: int, match_data: int) -> int:
    """An existing matching block (``new_res`` is freed), else ``new_res`` added."""
    block = _blocks(k).get(new_res)
    found = _matching(k, dev, block.release if block else 0, match, match_data) if block else 0
    if found:
        devres_free(k, new_res)
        return found
    devres_add(k, dev, new_res)
    return new_res


@service("void *devres_remove(struct device *dev, dr_release_t release, dr_match_t match, void *match_data)")
def devres_remove(k: Kernel, dev: int, release_fn: int, match: int, match_data: int) -> int:
    """Detach the matching block without releasing it (the caller owns it again); NULL if none."""
    res = _matching(k, dev, release_fn, match, match_data)
    if res:
        devres.take(k, dev, "devres", res)
        _blocks(k)[res].dev = 0
    return res


@service("int devres_destroy(struct device *dev, dr_release_t release, dr_match_t match, void *match_data)")
def devres_destroy(k: Kernel, dev: int, release_fn: int, match: int, match_data: int) -> int:
    """Detach and free the matching block without calling its release; 0, or -ENOENT."""
    res = devres_remove(k, dev, release_fn, match, match_data)
    if not res:
        return -2
    devres_free(k, res)
    return 0


@service("int devres_release(struct device *dev, dr_release_t release, dr_match_t match, void *match_data)")
def devres_release(k: Kernel, dev: int, release_fn: int, match: int, match_data: int) -> int:
    """Detach the matching block, call its release, free it; 0, or -ENOENT."""
    res = devres_remove(k, dev, release_fn, match, match_data)
    if not res:
        return -2
    _blocks(k)[res].dev = dev
    _release_block(dev, res)(k)
    return 0
