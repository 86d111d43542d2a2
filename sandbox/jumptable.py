"""Jump labels: a Linux module's ``__jump_table``, patched as kernel/jump_label.c does.

Each entry (``struct jump_entry``, 12 bytes on x86) holds three
self-relative offsets: the 5-byte site in the code, the branch target, and
the static key, whose low bit says the branch is "likely" (``branch``) and
bit 1 that the site is in init code. A site jumps when ``enabled(key) XOR
branch`` and is a 5-byte NOP otherwise. At load
every site of the module is written for its key's current state; enabling
or disabling a key rewrites the sites of every loaded module (see
kernel_stubs/linux/static_keys.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernel import Kernel
    from .module import Module

ENTRY = struct.Struct("<iii")
NOP5 = b"\x3e\x8d\x74\x26\x00"  # BYTES_NOP5 on i386: ds; lea 0x0(%esi,%eiz,1),%esi
NOP2 = b"\x66\x90"  # BYTES_NOP2


@dataclass(frozen=True, slots=True)
class JumpSite:
    """One patchable site."""

    code: int
    target: int
    branch: bool
    module: str
    size: int  # 2 or 5: the assembler picked `jmp rel8` or `jmp rel32` (or the NOP of that size)


class JumpLabels:
    """Every loaded module's jump sites, by static key address."""

    def __init__(self) -> None:
        self.by_key: dict[int, list[JumpSite]] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Forget an unloading module's sites."""
        for key in list(self.by_key):
            self.by_key[key] = [s for s in self.by_key[key] if s.module != module.name]
            if not self.by_key[key]:
                del self.by_key[key]
        return []


def key_enabled(k: Kernel, key: int) -> bool:
    """static_key_enabled: ``key->enabled`` (an atomic_t) above zero.

    A key nobody provides (an unresolved kernel symbol bound to a trap, such
    as a tracepoint's) reads as disabled: nothing can enable it.
    """
    if k.memory.region_at(key) is None:
        return False
    return int.from_bytes(k.memory.read(key, 4), "little", signed=True) > 0


def site_code(site: JumpSite, enabled: bool) -> bytes:
    """What the site holds for the key's state: a jump to the target, or the NOP."""
    jump = enabled != site.branch
    if site.size == 2:
        return b"\xeb" + struct.pack("<b", site.target - (site.code + 2)) if jump else NOP2
    return b"\xe9" + struct.pack("<i", site.target - (site.code + 5)) if jump else NOP5


def patch_site(k: Kernel, site: JumpSite, enabled: bool, current: bytes | None = None) -> None:
    """Write a jump to the target, or the NOP, at the site (and drop stale translations).

    ``current``: the bytes already there, when the caller has them (at load:
    most sites already hold what their key's state wants, and are not
    rewritten, as Linux's jump_label_apply_nops leaves correct NOPs alone).
    A site in init code released after init is left alone (Linux drops those
    entries: jump_label_invalidate_initmem).
    """
    code = site_code(site, enabled)
    if current == code:
        return
    if k.memory.region_at(site.code) is None:
        return
    k.memory.write_raw(site.code, code)
    k.cpu.uc.ctl_remove_cache(site.code, site.code + len(code))


def update_key(k: Kernel, key: int) -> int:
    """Rewrite every site of ``key`` for its current state; returns how many."""
    sites = k.subsystem(JumpLabels).by_key.get(key, [])
    enabled = key_enabled(k, key)
    for site in sites:
        patch_site(k, site, enabled)
    return len(sites)


def install(k: Kernel, module: Module) -> int:
    """Read the module's ``__jump_table`` and write each site for its key's current state."""
    plan = module.plan
    found = plan.entry_table("__jump_table", ENTRY.size)
    if found is None:
        return 0
    base, raw = found
    table = k.subsystem(JumpLabels)
    count = 0
    states: dict[int, bool] = {}  # a key's state, read once per load (modules have many sites per key)
    for index, (code, target, key) in enumerate(ENTRY.iter_unpack(raw)):
        entry = base + index * ENTRY.size
        key_field = (entry + 8 + key) & 0xFFFFFFFF
        address = (entry + code) & 0xFFFFFFFF
        if not any(base_ <= address < base_ + len(plan.memory[name]) for name, base_ in plan.bases.items()):
            k.warn(f"{module.name}: __jump_table entry {index} points at {address:#x}, outside the module; left out")
            continue
        size = _site_size(plan, address)
        site = JumpSite(address, (entry + 4 + target) & 0xFFFFFFFF, bool(key_field & 1), module.name, size)
        if size == 2 and not -128 <= site.target - (address + 2) <= 127:
            raise plan.error("__jump_table", f"entry {index}: the 2-byte jump site at {address:#x} cannot reach "  # type: ignore[attr-defined]
                                             f"its target {site.target:#x} (a short jump spans -128..127)")
        key_address = key_field & ~3
        table.by_key.setdefault(key_address, []).append(site)
        enabled = states.get(key_address)
        if enabled is None:
            enabled = states[key_address] = key_enabled(k, key_address)
        patch_site(k, site, enabled, plan.read(address, size))
        count += 1
    return count


def _site_size(plan: object, address: int) -> int:
    """The length of the jump or NOP the compiler left at a site (arch_jump_entry_size)."""
    first = plan.read(address, 5)  # type: ignore[attr-defined]
    if first[0] == 0xEB or first[:2] == NOP2:
        return 2
    if first[0] == 0xE9 or first == NOP5:
        return 5
    raise plan.error("__jump_table", f"jump site at {address:#x} holds {first.hex()}, "  # type: ignore[attr-defined]
                                     "neither a jump nor a NOP of 2 or 5 bytes")


def forget(k: Kernel, module: Module) -> None:
    """Remove the module's sites (a load that failed after :func:`install`)."""
    k.subsystem(JumpLabels).release_module(k, module)
