"""ABI profiles: which services a kernel offers and how they are called.

A profile is data: a calling convention, the Python modules whose
``@service`` functions and kernel variables make up the export table, and the
header directory drivers compile against (the ``KAPI`` declarations there
say which functions exist even when no Python implements them yet).
"""

from __future__ import annotations

import importlib
import types
from dataclasses import dataclass
from pathlib import Path

INCLUDE_DIR = Path(__file__).resolve().parent / "include"


@dataclass(frozen=True)
class Profile:
    """A named set of services with a calling convention."""

    name: str
    convention: str  # a key of sandbox.services.callconv.CONVENTIONS
    modules: tuple[str, ...]
    include_dir: Path = INCLUDE_DIR

    def service_modules(self) -> list[types.ModuleType]:
        """Import and return the modules that implement the services."""
        return [importlib.import_module(name) for name in self.modules]


GENERIC = Profile(
    "generic",
    "cdecl",
    (
        "kernel_stubs.printk",
        "kernel_stubs.memory",
        "kernel_stubs.strings",
        "kernel_stubs.irq",
        "kernel_stubs.spinlock",
        "kernel_stubs.chardev",
        "kernel_stubs.timer",
        "kernel_stubs.iomem",
    ),
)

# The same services for kernels built with -mregparm=3 (as Linux i386 is):
# the first three integer arguments travel in EAX, EDX and ECX.
GENERIC_REGPARM = Profile("generic-regparm", "regparm3", GENERIC.modules)

PROFILES: dict[str, Profile] = {p.name: p for p in (GENERIC, GENERIC_REGPARM)}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
