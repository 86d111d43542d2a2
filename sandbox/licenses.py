"""``EXPORT_SYMBOL_GPL``: GPL-only exports refused to modules whose license is not GPL-compatible.

As Linux 6.1 (``include/linux/license.h``, ``kernel/module/main.c``): a
module whose ``MODULE_LICENSE`` is not one of the GPL-compatible strings —
or that declares none ("unspecified") — is proprietary, and a proprietary
module cannot bind GPL-only exports, whether another module exports them
(``__ksymtab_gpl``) or the kernel does (a profile lists its GPL-only
services in a ``GPL_ONLY`` set in any of its service modules). Linux leaves
such a symbol unresolved; here the load fails with one LoadError naming
every such symbol, who exports it, and the module's license.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import LoadError

if TYPE_CHECKING:
    from .kernel import Kernel
    from .link.plan import LinkPlan

# license_is_gpl_compatible() in Linux 6.1, exactly these strings.
GPL_COMPATIBLE = frozenset({
    "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
})


def license_is_gpl_compatible(license: str | None) -> bool:
    """Whether a ``MODULE_LICENSE`` string lets a module use GPL-only exports."""
    return license in GPL_COMPATIBLE


def gpl_only_services(modules: Iterable[types.ModuleType]) -> frozenset[str]:
    """The kernel services a profile's modules declare GPL-only (their ``GPL_ONLY`` sets)."""
    names: set[str] = set()
    for module in modules:
        names.update(getattr(module, "GPL_ONLY", ()))
    return frozenset(names)


def module_license(plan: LinkPlan) -> str | None:
    """The module's ``license=`` from ``.modinfo`` (the last one, as Linux reads it), or None."""
    found = [value for key, value in plan.image.modinfo if key == "license"]
    return found[-1] if found else None


def check_gpl_imports(k: Kernel, plan: LinkPlan) -> None:
    """Refuse a proprietary module that imports GPL-only exports (after binding, before mapping)."""
    license = module_license(plan)
    if license_is_gpl_compatible(license):
        return
    refused = []
    for name in plan.imports:
        owner = k.export_owner(name)
        if owner is None:
            continue
        if owner == "kernel":
            if name in k.gpl_only_services:
                refused.append(f"{name} (kernel)")
        else:
            module = k.module_table.find(owner)
            if module is not None and name in module.gpl_exports:
                refused.append(f"{name} (module {owner})")
    if refused:
        shown = f'MODULE_LICENSE("{license}")' if license is not None else "no MODULE_LICENSE"
        raise LoadError(
            plan.image.name, "gpl-only-symbol",
            f"{plan.name} has {shown}, which is not GPL-compatible, and uses GPL-only export(s) "
            f"(EXPORT_SYMBOL_GPL): {', '.join(sorted(refused))}; Linux refuses them to a proprietary module",
        )
