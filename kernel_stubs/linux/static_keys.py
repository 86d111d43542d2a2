"""Static keys (kernel/jump_label.c): ``struct static_key { atomic_t enabled; unsigned long type; }``.

Changing a key's count across zero rewrites every jump site of that key in
every loaded module (sandbox/jumptable.py), as ``__jump_label_update`` does;
``static_branch_*`` in modules then take the other path without any call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.jumptable import update_key
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def _count(k: Kernel, key: int) -> int:
    return int.from_bytes(k.memory.read(key, 4), "little", signed=True)


def _set_count(k: Kernel, key: int, value: int) -> None:
    was = _count(k, key) > 0
    k.memory.write(key, (value & 0xFFFFFFFF).to_bytes(4, "little"))
    if was != (value > 0):
        update_key(k, key)


@service("int static_key_count(struct static_key *key)")
def static_key_count(k: Kernel, key: int) -> int:
    """The key's enable count."""
    return _count(k, key)


@service("void static_key_enable(struct static_key *key)")
def static_key_enable(k: Kernel, key: int) -> None:
    """Enable the key (count 1) unless it already is; the sites flip."""
    if _count(k, key) <= 0:
        _set_count(k, key, 1)


@service("void static_key_disable(struct static_key *key)")
def static_key_disable(k: Kernel, key: int) -> None:
    """Disable the key (count 0) unless it already is."""
    if _count(k, key) > 0:
        _set_count(k, key, 0)


@service("void static_key_enable_cpuslocked(struct static_key *key)")
def static_key_enable_cpuslocked(k: Kernel, key: int) -> None:
    """static_key_enable with the CPU hotplug lock held (one CPU here)."""
    static_key_enable(k, key)


@service("void static_key_disable_cpuslocked(struct static_key *key)")
def static_key_disable_cpuslocked(k: Kernel, key: int) -> None:
    """static_key_disable with the CPU hotplug lock held."""
    static_key_disable(k, key)


@service("void static_key_slow_inc(struct static_key *key)")
def static_key_slow_inc(k: Kernel, key: int) -> None:
    """One more user: the first enables the sites."""
    _set_count(k, key, _count(k, key) + 1)


@service("void static_key_slow_dec(struct static_key *key)")
def static_key_slow_dec(k: Kernel, key: int) -> None:
    """One user fewer: the last disables the sites; below zero is Linux's WARN."""
    count = _count(k, key)
    if count <= 0:
        k.warn(f"static_key_slow_dec of a disabled key at {k.symbolizer.short(key)} "
               f"from {k.symbolizer.short(k.current_caller)}")
        return
    _set_count(k, key, count - 1)
