"""The built-in profiles: generic, generic-regparm and linux.

Each is a :class:`sandbox.Profile` value: the policy the engine does not
decide (services, calling convention, headers, entry points, clock, fault
injection failures, the tick's variables, the character-device layout).
They reach ``Kernel("name")`` through the ``module_sandbox.profiles``
entry-point group declared in pyproject.toml, as any other package's would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernel_stubs.chardev import FS_FILES, PLAIN_FILES
from sandbox.entrypoints import EntryPolicy, ImageEntry, NamedEntry, StructField
from sandbox.profile import Profile
from sandbox.wellknown import DeviceOperation, IrqEntry, WellKnownTable

INCLUDE_DIR = Path(__file__).resolve().parent / "include"

ENOMEM, EBUSY = -12, -16

# What a call failed by fault injection returns, as the real kernel's error paths do.
FAILURE_VALUES: dict[str, int] = {
    "kmalloc": 0, "kzalloc": 0, "kcalloc": 0, "krealloc": 0, "__kmalloc": 0, "kmalloc_trace": 0,
    "request_irq": EBUSY, "register_chrdev": EBUSY,
    # "bytes not copied": any nonzero count makes a driver return -EFAULT
    "copy_from_user": 1, "copy_to_user": 1,
}

# The hobby-OS convention of the generic profiles: functions with agreed names,
# found after loading. irqhandler goes on IRQ 7 (change it per load with
# k.load(path, well_known={"irqhandler": IrqEntry(9)})); the device names make
# /dev/<module>, called without a struct file (PLAIN_FILES).
HOBBY_WELL_KNOWN: WellKnownTable = {
    "irqhandler": IrqEntry(7),
    "opendevice": DeviceOperation("open"),
    "readdevice": DeviceOperation("read"),
    "writedevice": DeviceOperation("write"),
    "ioctldevice": DeviceOperation("ioctl"),
    "closedevice": DeviceOperation("release"),
}

# kernel.h's module_init/module_exit emit init_module/cleanup_module aliases,
# as Linux's do; an executable linked with -e SYMBOL starts at e_entry.
MODULE_INIT = NamedEntry("init_module")
MODULE_EXIT = NamedEntry("cleanup_module")

GENERIC_ENTRY = EntryPolicy(
    init=(MODULE_INIT, ImageEntry()),
    exit=(MODULE_EXIT,),
    well_known=HOBBY_WELL_KNOWN,
    device_files=PLAIN_FILES,
)

GENERIC_SERVICES = (
    "kernel_stubs.printk",
    "kernel_stubs.memory",
    "kernel_stubs.strings",
    "kernel_stubs.irq",
    "kernel_stubs.spinlock",
    "kernel_stubs.chardev",
    "kernel_stubs.timer",
    "kernel_stubs.iomem",
    "kernel_stubs.libgcc",
)

# The exported variables each tick writes the jiffies count into (low bits).
JIFFIES_VARIABLES = (("jiffies", 4), ("jiffies_64", 8))

GENERIC = Profile(
    "generic",
    "cdecl",
    GENERIC_SERVICES,
    include_dirs=(INCLUDE_DIR,),
    entry=GENERIC_ENTRY,
    hz=100,
    failure_values=FAILURE_VALUES,
    tick_variables=JIFFIES_VARIABLES,
    files=FS_FILES,
    description="the project's own kernel.h API",
)

# The same services for kernels built with -mregparm=3 (as Linux i386 is):
# the first three integer arguments travel in EAX, EDX and ECX.
GENERIC_REGPARM = Profile(
    "generic-regparm", "regparm3",
    # libgcc's helpers are called with the caller's convention: their regparm build.
    tuple("kernel_stubs.libgcc.regparm" if m == "kernel_stubs.libgcc" else m for m in GENERIC_SERVICES),
    include_dirs=(INCLUDE_DIR,), entry=GENERIC_ENTRY, hz=100,
    failure_values=FAILURE_VALUES, tick_variables=JIFFIES_VARIABLES, files=FS_FILES,
    description="the generic services with regparm(3)",
)

LINUX_HZ = 250

# struct module on 6.1 i386: init at 0xcc, exit at 0x20c (the offsets the
# relocations of .rel.gnu.linkonce.this_module patch in Debian's modules),
# used when the module has no init_module / cleanup_module symbol.
def _linux_network(kernel: Any) -> Any:
    """``Kernel.net`` of a linux kernel: the interfaces drivers registered (kernel_stubs.linux.netif)."""
    from .linux.netif import Network

    return Network(kernel)


LINUX_ENTRY = EntryPolicy(
    init=(MODULE_INIT, StructField(".gnu.linkonce.this_module", 0xCC, "struct module init")),
    exit=(MODULE_EXIT, StructField(".gnu.linkonce.this_module", 0x20C, "struct module exit")),
)

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
        "kernel_stubs.linux.guestlib",
        "kernel_stubs.linux.textlib",
        "kernel_stubs.linux.bitmap",
        "kernel_stubs.linux.params",
        "kernel_stubs.linux.uaccess",
        "kernel_stubs.linux.static_keys",
        "kernel_stubs.linux.dyndbg",
        "kernel_stubs.linux.scanf",
        "kernel_stubs.linux.completion",
        "kernel_stubs.linux.waits",
        "kernel_stubs.linux.kthread",
        "kernel_stubs.linux.seq_file",
        "kernel_stubs.linux.tracepoints",
        "kernel_stubs.linux.rbtree",
        "kernel_stubs.linux.kfifo",
        "kernel_stubs.linux.notifier",
        "kernel_stubs.linux.mempool",
        "kernel_stubs.linux.waitbit",
        "kernel_stubs.linux.sysctl_handlers",
        *(f"kernel_stubs.linux.crypto.{name}" for name in (
            "tfm", "hash", "skcipher", "aead", "kinds", "template", "scatterwalk", "library", "null", "geniv",
            "builtin", "testmgr")),
        "kernel_stubs.linux.zstd",
        "kernel_stubs.linux.highmem",
        "kernel_stubs.linux.drivers",
        "kernel_stubs.linux.device",
        "kernel_stubs.linux.devres",
        "kernel_stubs.linux.driver_core",
        "kernel_stubs.linux.sysfs",
        "kernel_stubs.linux.dev_printk",
        "kernel_stubs.linux.pm_runtime",
        "kernel_stubs.linux.pm_wakeup",
        "kernel_stubs.linux.acpi",
        "kernel_stubs.linux.media",
        "kernel_stubs.linux.comedi",
        "kernel_stubs.linux.usbserial",
        "kernel_stubs.linux.tty",
        "kernel_stubs.linux.tty_termios",
        "kernel_stubs.linux.tty_buffer",
        "kernel_stubs.linux.tty_port",
        "kernel_stubs.linux.tty_ldisc",
        "kernel_stubs.linux.n_tty",
        "kernel_stubs.linux.tty_ioctl",
        "kernel_stubs.linux.serial_core",
        "kernel_stubs.linux.nls",
        "kernel_stubs.linux.netfilter",
        "kernel_stubs.linux.net",
        "kernel_stubs.linux.skbuff",
        "kernel_stubs.linux.netdev",
        "kernel_stubs.linux.napi",
        "kernel_stubs.linux.netif",
        "kernel_stubs.linux.cred",
        "kernel_stubs.linux.socket",
        "kernel_stubs.linux.packet",
        "kernel_stubs.linux.inet_frags",
        "kernel_stubs.linux.protocols",
        "kernel_stubs.linux.tunnels",
        "kernel_stubs.linux.ethtool",
        "kernel_stubs.linux.mdio",
        "kernel_stubs.linux.reset",
        "kernel_stubs.linux.netlink",
        "kernel_stubs.linux.nlattr_policy",
        "kernel_stubs.linux.netlink_core",
        "kernel_stubs.linux.genetlink",
        "kernel_stubs.linux.connector",
        "kernel_stubs.linux.keys",
        "kernel_stubs.linux.transport_class",
        "kernel_stubs.linux.pnp",
        "kernel_stubs.linux.fs",
        "kernel_stubs.linux.timers",
        "kernel_stubs.linux.hrtimer",
        "kernel_stubs.linux.irq",
        "kernel_stubs.linux.workqueue",
        "kernel_stubs.linux.platform",
        "kernel_stubs.linux.platform_bus",
        "kernel_stubs.linux.pci",
        "kernel_stubs.linux.pci_irq",
        "kernel_stubs.linux.pci_state",
        "kernel_stubs.linux.pci_managed",
        "kernel_stubs.linux.devres_io",
        "kernel_stubs.linux.devres_guest",
        "kernel_stubs.linux.restart",
        "kernel_stubs.linux.leds",
        "kernel_stubs.linux.gpio",
        "kernel_stubs.linux.i2c",
        "kernel_stubs.linux.hwmon",
        "kernel_stubs.linux.regmap",
        "kernel_stubs.linux.spi",
        "kernel_stubs.linux.property",
        "kernel_stubs.linux.regulator",
        "kernel_stubs.linux.pages",
        "kernel_stubs.linux.dma",
        "kernel_stubs.linux.scatterlist",
        "kernel_stubs.linux.hwrng",
        "kernel_stubs.linux.virtio",
        "kernel_stubs.linux.devm_iomap",
        "kernel_stubs.linux.pci_caps",
        "kernel_stubs.linux.rcu",
        "kernel_stubs.linux.isa",
        "kernel_stubs.linux.chrdev",
        "kernel_stubs.linux.vfs",
        "kernel_stubs.linux.input",
        "kernel_stubs.linux.input_mt",
        "kernel_stubs.linux.input_ff",
        "kernel_stubs.linux.input_poller",
        "kernel_stubs.linux.touchscreen",
        "kernel_stubs.linux.serio",
        "kernel_stubs.linux.fasync",
        "kernel_stubs.linux.idr",
        "kernel_stubs.linux.bpf",
        "kernel_stubs.linux.extensions",
        "kernel_stubs.linux.firmware",
        "kernel_stubs.linux.gpl_only",
        "kernel_stubs.linux.kernel_vars",
        "kernel_stubs.linux.backing_dev",
        "kernel_stubs.linux.nvmem",
        "kernel_stubs.linux.ledtrig",
        "kernel_stubs.linux.dmaengine",
        "kernel_stubs.linux.shrinker",
        "kernel_stubs.linux.serdev",
        "kernel_stubs.linux.powercap",
        "kernel_stubs.linux.cpuhp",
        "kernel_stubs.linux.msr",
        "kernel_stubs.linux.vfs_core",
    ),
    include_dirs=(Path(__file__).resolve().parent / "linux" / "include",),
    entry=LINUX_ENTRY,
    vermagic="6.1.0-50-686 SMP preempt mod_unload modversions GEODE ",
    # CONFIG_HZ=250 as Debian's 686 config; jiffies starts at INITIAL_JIFFIES,
    # (unsigned int)(-300*HZ): 5 minutes before the 32-bit wrap, as in Linux, so
    # that a driver comparing jiffies without time_after() fails here too.
    hz=LINUX_HZ,
    initial_jiffies=(-300 * LINUX_HZ) & 0xFFFFFFFF,
    failure_values=FAILURE_VALUES,
    tick_variables=JIFFIES_VARIABLES,
    description="Debian Linux 6.1 686 (i386, regparm(3)) export names",
    views={"sysfs": "kernel_stubs.linux.sysfs:view"},
    network=_linux_network,
)

PROFILES = {p.name: p for p in (GENERIC, GENERIC_REGPARM, LINUX)}
