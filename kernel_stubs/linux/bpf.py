"""BPF registrations modules make at init (kernel/bpf/btf.c), Linux 6.1.

``register_btf_kfunc_id_set`` tells the verifier which of a module's
functions BPF programs of one type may call. There is no BPF here, so the
set is only recorded. Linux has no unregister call: the set goes with the
module's BTF when it unloads, so nothing is reported then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import Registry

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

KSET_OWNER, KSET_SET = 0, 4  # struct btf_kfunc_id_set: owner, set (6.1)


class BtfKfuncSets(Registry):
    """Registered kfunc id sets: (prog type) per struct btf_kfunc_id_set."""

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Dropped silently: the module's BTF, and with it the set, goes away with the module."""
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                del self.entries[address]
        return []


@service("int register_btf_kfunc_id_set(int prog_type, const struct btf_kfunc_id_set *kset)")
def register_btf_kfunc_id_set(k: Kernel, prog_type: int, kset: int) -> int:
    """Record which module functions BPF programs of ``prog_type`` may call."""
    registry = k.subsystem(BtfKfuncSets)
    entry = registry.entries.get(kset)
    if entry is None:
        entry = registry.add(k, "btf kfunc set", kset, k.symbolizer.short(kset), set=k.memory.read_u32(kset + KSET_SET))
    entry.fields[f"prog_type_{prog_type}"] = 1
    return 0
