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

from sandbox.machine.clock import HZ

INCLUDE_DIR = Path(__file__).resolve().parent / "include"


@dataclass(frozen=True)
class Profile:
    """A named set of services with a calling convention."""

    name: str
    convention: str  # a key of sandbox.services.callconv.CONVENTIONS
    modules: tuple[str, ...]
    include_dir: Path = INCLUDE_DIR
    # Linux-style vermagic the profile's kernel was built with; None: no check.
    vermagic: str | None = None
    # Offsets of init and exit in struct module (.gnu.linkonce.this_module),
    # used when the module has no init_module / cleanup_module symbol.
    this_module_init_exit: tuple[int, int] | None = None
    # The tick rate of the kernel's one clock and what jiffies reads at boot.
    hz: int = HZ
    initial_jiffies: int = 0

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
        "kernel_stubs.libgcc",
    ),
)

# The same services for kernels built with -mregparm=3 (as Linux i386 is):
# the first three integer arguments travel in EAX, EDX and ECX.
GENERIC_REGPARM = Profile(
    "generic-regparm", "regparm3",
    # libgcc's helpers are called with the caller's convention: their regparm build.
    tuple("kernel_stubs.libgcc.regparm" if m == "kernel_stubs.libgcc" else m for m in GENERIC.modules),
)

LINUX_HZ = 250

# Debian's Linux 6.1 686 kernel (i386, -mregparm=3): the export names of
# that kernel, grouped by subsystem in kernel_stubs/linux/. No C headers: a
# name no Python implements is unresolved (an error, or a trap on request).
LINUX = Profile(
    "linux",
    "regparm3",
    (
        "kernel_stubs.linux.compiler",
        "kernel_stubs.linux.printk",
        "kernel_stubs.linux.memory",
        "kernel_stubs.linux.string",
        "kernel_stubs.linux.locking",
        "kernel_stubs.linux.time",
        "kernel_stubs.linux.lib",
        "kernel_stubs.linux.params",
        "kernel_stubs.linux.uaccess",
        "kernel_stubs.linux.static_keys",
        "kernel_stubs.linux.dyndbg",
        "kernel_stubs.linux.scanf",
        "kernel_stubs.linux.crypto",
        "kernel_stubs.linux.drivers",
        "kernel_stubs.linux.device",
        "kernel_stubs.linux.media",
        "kernel_stubs.linux.comedi",
        "kernel_stubs.linux.usbserial",
        "kernel_stubs.linux.nls",
        "kernel_stubs.linux.netfilter",
        "kernel_stubs.linux.net",
        "kernel_stubs.linux.fs",
        "kernel_stubs.linux.timers",
        "kernel_stubs.linux.irq",
        "kernel_stubs.linux.workqueue",
        "kernel_stubs.linux.platform",
        "kernel_stubs.linux.platform_bus",
        "kernel_stubs.linux.pci",
        "kernel_stubs.linux.rcu",
        "kernel_stubs.linux.isa",
        "kernel_stubs.linux.chrdev",
        "kernel_stubs.linux.vfs",
        "kernel_stubs.linux.input",
        "kernel_stubs.linux.idr",
        "kernel_stubs.linux.bpf",
        "kernel_stubs.linux.extensions",
        "kernel_stubs.linux.firmware",
        "kernel_stubs.linux.gpl_only",
    ),
    include_dir=Path(__file__).resolve().parent / "linux" / "include",
    vermagic="6.1.0-50-686 SMP preempt mod_unload modversions GEODE ",
    # struct module on 6.1 i386: init at 0xcc, exit at 0x20c (the offsets the
    # relocations of .rel.gnu.linkonce.this_module patch in Debian's modules).
    this_module_init_exit=(0xCC, 0x20C),
    # CONFIG_HZ=250 as Debian's 686 config; jiffies starts at INITIAL_JIFFIES,
    # (unsigned int)(-300*HZ): 5 minutes before the 32-bit wrap, as in Linux, so
    # that a driver comparing jiffies without time_after() fails here too.
    hz=LINUX_HZ,
    initial_jiffies=(-300 * LINUX_HZ) & 0xFFFFFFFF,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (GENERIC, GENERIC_REGPARM, LINUX)}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
