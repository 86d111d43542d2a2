"""Character device numbers, cdevs and misc devices (fs/char_dev.c, drivers/char/misc.c), Linux 6.1 i386.

Major/minor ranges are recorded with Linux's conflict rules: dynamic majors
are handed out from 254 down (then 511 down to 384), ranges may not
overlap, and the majors the built-in parts of Debian's kernel take at boot
are busy. ``misc_register`` gives MISC_DYNAMIC_MINOR (255) requests minors
from 127 down and refuses a minor in use with -EBUSY. Registrations left at
unload are reported, and so are files still open on the module's devices.
``Kernel.open`` finds its nodes here (``devnodes.py``: paths and the VFS calls).

``struct miscdevice``: minor 0, name 4, fops 8, list 12, parent 20,
this_device 24, nodename 32 (tun.ko's ``tun_miscdev`` relocations). ``struct cdev``: kobj 0 (36 bytes), owner 36, ops 40,
list 44, dev 52, count 56.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from . import devnodes
from .layout import offset
from .registrations import EBUSY, EINVAL, ENOMEM, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.devices.chardev import DeviceNode
    from sandbox.kernel import Kernel
    from sandbox.module import Module

MINORBITS = 20
MINORMASK = (1 << MINORBITS) - 1
CHRDEV_MAJOR_MAX = 512
# mem, tty, /dev/tty & console, misc, input, framebuffer, ptys, ...: built in. Not 180/189 (usbcore.ko),
# 202 (msr.ko), 203 (cpuid.ko), 226 (drm.ko): those modules register them and fail with -EBUSY if taken.
BUILTIN_MAJORS = (1, 4, 5, 7, 10, 13, 29, 128, 136, 249, 250, 251, 252, 253)
# Majors the boot takes only part of (the rest is free for modules): 4 is vc/0, tty1-63 and ttyS0-31
# (CONFIG_SERIAL_8250_NR_UARTS=32); 5 is /dev/tty, /dev/console and /dev/ptmx (ttyprintk takes 5:3).
BUILTIN_MINORS = {4: (0, 96), 5: (0, 3)}
MISC_DYNAMIC_MINOR = 255
DYNAMIC_MINORS = 128
MISC_MINOR, MISC_NAME, MISC_FOPS, MISC_PARENT, MISC_THIS_DEVICE, MISC_GROUPS = 0, 4, 8, 20, 24, 28
MISC_MAJOR = 10
CDEV_SIZE, CDEV_OPS, CDEV_LIST, CDEV_DEV, CDEV_COUNT = 60, 40, 44, 52, 56
DEVICE_SIZE = 1024


def mkdev(major: int, minor: int) -> int:
    """MKDEV()."""
    return (major << MINORBITS) | minor


class CharDevices(Registry):
    """Registered major/minor ranges ("chrdev region"), cdevs and misc devices."""

    def overlaps(self, major: int, first: int, count: int) -> bool:
        """Whether [first, first+count) of ``major`` meets a registered region."""
        return any(e.fields["major"] == major and e.fields["baseminor"] < first + count
                   and first < e.fields["baseminor"] + e.fields["count"] for e in self.of_kind("chrdev region"))

    def free_major(self) -> int:
        """find_dynamic_major(): 254..234, then 511..384; 0 if none."""
        used = {e.fields["major"] for e in self.of_kind("chrdev region")} | set(BUILTIN_MAJORS)
        for major in [*range(254, 233, -1), *range(511, 383, -1)]:
            if major not in used:
                return major
        return 0

    def device_node(self, k: Kernel, path: str) -> DeviceNode | None:
        """The node ``k.open(path)`` opens (misc, register_chrdev or cdev), or None."""
        return devnodes.find(k, self, path)

    def device_paths(self, k: Kernel) -> list[str]:
        """Every path a registration here makes openable."""
        return list(devnodes.all_nodes(k, self))

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Files left open on the module's devices, then regions, cdevs and misc devices it left."""
        leaks = devnodes.release_open_files(k, module.name)
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"{entry.kind} {entry.name!r} still registered")
                del self.entries[address]
                if entry.kind == "misc device":
                    _destroy_misc_device(k, entry.fields["this_device"])
        return leaks


def _region(k: Kernel, major: int, baseminor: int, count: int, name: str) -> int:
    """__register_chrdev_region(): the major (allocated if 0), or -errno."""
    devices = k.subsystem(CharDevices)
    if major == 0:
        major = devices.free_major()
        if not major:
            return -EBUSY
    if major >= CHRDEV_MAJOR_MAX or count == 0 or baseminor + count - 1 > MINORMASK:
        return -EINVAL
    if _builtin(major, baseminor, count) or devices.overlaps(major, baseminor, count):
        return -EBUSY
    # Keyed by a number no guest pointer can be (dev_t with the top bit set): regions have no struct.
    key = 0x1_0000_0000 | mkdev(major, baseminor)
    devices.add(k, "chrdev region", key, name, major=major, baseminor=baseminor, count=count)
    return major


def _builtin(major: int, baseminor: int, count: int) -> bool:
    """Whether [baseminor, +count) of ``major`` meets what the built-in drivers registered at boot."""
    if major in BUILTIN_MINORS:
        first, end = BUILTIN_MINORS[major]
        return baseminor < end and first < baseminor + count
    return major in BUILTIN_MAJORS


def reserve_region(k: Kernel, major: int, baseminor: int, count: int, name: str) -> int:
    """__register_chrdev_region() for the kernel's own users (the TTY core): the major, or -errno."""
    return _region(k, major, baseminor, count, name)


def _unregion(k: Kernel, major: int, baseminor: int, count: int) -> None:
    devices = k.subsystem(CharDevices)
    key = 0x1_0000_0000 | mkdev(major, baseminor)
    entry = devices.entries.get(key)
    if entry is not None and entry.fields["count"] == count:
        del devices.entries[key]
    else:
        devices.remove(k, key, "chrdev region")


@service("int __register_chrdev(unsigned int major, unsigned int baseminor, unsigned int count, const char *name, "
         "const struct file_operations *fops)")
def __register_chrdev(k: Kernel, major: int, baseminor: int, count: int, name: int, fops: int) -> int:
    """register_chrdev(): a region plus a cdev; the major if it was 0, else 0."""
    result = _region(k, major, baseminor, count, guest_string(k, name, 64))
    if result < 0:
        return result
    k.subsystem(CharDevices).entries[0x1_0000_0000 | mkdev(result, baseminor)].fields["fops"] = fops
    return result if major == 0 else 0


@service("void __unregister_chrdev(unsigned int major, unsigned int baseminor, unsigned int count, const char *name)")
def __unregister_chrdev(k: Kernel, major: int, baseminor: int, count: int, name: int) -> None:
    """Undo __register_chrdev."""
    _unregion(k, major, baseminor, count)


@service("int register_chrdev_region(dev_t from, unsigned int count, const char *name)")
def register_chrdev_region(k: Kernel, first: int, count: int, name: int) -> int:
    """Reserve a known range (which may span majors; one major here): 0 or -errno."""
    result = _region(k, first >> MINORBITS, first & MINORMASK, count, guest_string(k, name, 64))
    return min(result, 0)


@service("int alloc_chrdev_region(dev_t *dev, unsigned int baseminor, unsigned int count, const char *name)")
def alloc_chrdev_region(k: Kernel, dev: int, baseminor: int, count: int, name: int) -> int:
    """Reserve a range under a dynamic major; the first dev_t goes to ``*dev``."""
    result = _region(k, 0, baseminor, count, guest_string(k, name, 64))
    if result < 0:
        return result
    k.memory.write_u32(dev, mkdev(result, baseminor))
    return 0


@service("void unregister_chrdev_region(dev_t from, unsigned int count)")
def unregister_chrdev_region(k: Kernel, first: int, count: int) -> None:
    """Give a range back."""
    _unregion(k, first >> MINORBITS, first & MINORMASK, count)


@service("void cdev_init(struct cdev *cdev, const struct file_operations *fops)")
def cdev_init(k: Kernel, cdev: int, fops: int) -> None:
    """Zero the cdev, empty its list, point it at ``fops``."""
    k.memory.write(cdev, bytes(CDEV_SIZE))
    k.memory.write_u32(cdev + CDEV_LIST, cdev + CDEV_LIST)
    k.memory.write_u32(cdev + CDEV_LIST + 4, cdev + CDEV_LIST)
    k.memory.write_u32(cdev + CDEV_OPS, fops)


@service("struct cdev *cdev_alloc(void)")
def cdev_alloc(k: Kernel) -> int:
    """A zeroed cdev with an empty list and its kobject initialized with a kfree release
    (ktype_cdev_dynamic): the cdev_del or kobject_put that drops its one reference frees it. NULL
    without memory."""
    from ..memory import allocate
    from . import sysfs

    cdev = allocate(k, CDEV_SIZE)
    if not cdev:
        return 0
    k.memory.write_u32(cdev + CDEV_LIST, cdev + CDEV_LIST)
    k.memory.write_u32(cdev + CDEV_LIST + 4, cdev + CDEV_LIST)
    sysfs._init(k, cdev, k.export_address("__sysfs_dynamic_kobj_ktype") or 0, allocated=True)  # kobj is at 0
    return cdev


def _dynamic(k: Kernel, cdev: int) -> bool:
    """Whether ``cdev`` came from cdev_alloc (its kobject is the kernel's, freed with it)."""
    from . import sysfs

    record = sysfs.tree(k).kobjects.get(cdev)
    return record is not None and record.allocated


@service("int cdev_add(struct cdev *p, dev_t dev, unsigned int count)")
def cdev_add(k: Kernel, p: int, dev: int, count: int) -> int:
    """Make the cdev live for [dev, dev+count)."""
    k.memory.write_u32(p + CDEV_DEV, dev)
    k.memory.write_u32(p + CDEV_COUNT, count)
    k.subsystem(CharDevices).add(k, "cdev", p, f"{dev >> MINORBITS}:{dev & MINORMASK}", dev=dev, count=count,
                                 fops=k.memory.read_u32(p + CDEV_OPS))
    return 0


@service("void cdev_del(struct cdev *p)")
def cdev_del(k: Kernel, p: int) -> None:
    """Remove a cdev; one from cdev_alloc loses its reference and is freed (kobject_put)."""
    k.subsystem(CharDevices).remove(k, p, "cdev")
    if _dynamic(k, p):
        from . import sysfs

        sysfs._put(k, p)


@service("int cdev_device_add(struct cdev *cdev, struct device *dev)")
def cdev_device_add(k: Kernel, cdev: int, dev: int) -> int:
    """cdev_add for ``dev->devt`` (if set), then device_add; the node is named after the device (devnodes.py)."""
    from . import driver_core

    devt = k.memory.read_u32(dev + offset("device", "devt"))
    if devt:
        result = cdev_add(k, cdev, devt, 1)
        if result:
            return result
        k.subsystem(CharDevices).entries[cdev].fields["device"] = dev
    result = driver_core.add_device(k, dev)
    if result and devt:
        cdev_del(k, cdev)
    return result


@service("void cdev_device_del(struct cdev *cdev, struct device *dev)")
def cdev_device_del(k: Kernel, cdev: int, dev: int) -> None:
    """device_del, then cdev_del if the device had a devt."""
    from . import driver_core

    driver_core.delete_device(k, dev)
    if k.memory.read_u32(dev + offset("device", "devt")):
        cdev_del(k, cdev)


@service("int misc_register(struct miscdevice *misc)")
def misc_register(k: Kernel, misc: int) -> int:
    """Register a misc device (major 10): a dynamic minor if asked, -EBUSY if the minor is taken."""
    devices = k.subsystem(CharDevices)
    minor = k.memory.read_u32(misc + MISC_MINOR)
    taken = {e.fields["minor"] for e in devices.of_kind("misc device")}
    if minor == MISC_DYNAMIC_MINOR:
        free = [m for m in range(DYNAMIC_MINORS - 1, -1, -1) if m not in taken]
        if not free:
            return -EBUSY
        minor = free[0]
        k.memory.write_u32(misc + MISC_MINOR, minor)
    elif minor in taken:
        return -EBUSY
    name = guest_string(k, k.memory.read_u32(misc + MISC_NAME), 64)
    # misc_register: a device of the misc class (/sys/class/misc/<name>, devt 10:minor), drvdata the miscdevice.
    from . import driver_core
    from .device import builtin_class
    from .registrations import is_err

    cls = builtin_class(k, "misc")
    parent, groups = k.memory.read_u32(misc + MISC_PARENT), k.memory.read_u32(misc + MISC_GROUPS)
    device = driver_core.create_device(k, cls, parent, MISC_MAJOR << 20 | minor, misc, groups, name.encode()) if cls else 0
    if not device or is_err(device):
        return -ENOMEM if not device else device - (1 << 32)
    k.memory.write_u32(misc + MISC_THIS_DEVICE, device)
    devices.add(k, "misc device", misc, name, minor=minor, fops=k.memory.read_u32(misc + MISC_FOPS), this_device=device)
    return 0


def _destroy_misc_device(k: Kernel, device: int) -> None:
    """device_destroy of the misc class device (its last reference frees it)."""
    from . import driver_core

    driver_core.delete_device(k, device)
    driver_core.put(k, device)


@service("void misc_deregister(struct miscdevice *misc)")
def misc_deregister(k: Kernel, misc: int) -> None:
    """Remove a misc device (its class device goes)."""
    entry = k.subsystem(CharDevices).remove(k, misc, "misc device")
    if entry is not None:
        _destroy_misc_device(k, entry.fields["this_device"])
        k.memory.write_u32(misc + MISC_THIS_DEVICE, 0)


# -- block device majors (block/genhd.c) ----------------------------------------------------
BLKDEV_MAJOR_MAX = 512
BUILTIN_BLOCK_MAJORS = (259,)  # BLOCK_EXT_MAJOR


@service("int __register_blkdev(unsigned int major, const char *name, void (*probe)(dev_t devt))")
def __register_blkdev(k: Kernel, major: int, name: int, probe: int) -> int:
    """Register a block major: 0 for a given one, the major for 0 (dynamic, 254 down), or -EBUSY."""
    devices = k.subsystem(CharDevices)
    used = {e.fields["major"] for e in devices.of_kind("block major")} | set(BUILTIN_BLOCK_MAJORS)
    text = guest_string(k, name, 64)
    if major == 0:
        free = [m for m in range(254, 0, -1) if m not in used]
        if not free:
            return -EBUSY
        chosen = free[0]
    elif major >= BLKDEV_MAJOR_MAX:
        return -EINVAL
    elif major in used:
        return -EBUSY
    else:
        chosen = major
    devices.add(k, "block major", 0x2_0000_0000 | chosen, text, major=chosen, probe=probe)
    return chosen if major == 0 else 0


@service("void unregister_blkdev(unsigned int major, const char *name)")
def unregister_blkdev(k: Kernel, major: int, name: int) -> None:
    """Give a block major back (Linux warns if the name does not match)."""
    devices = k.subsystem(CharDevices)
    entry = devices.entries.get(0x2_0000_0000 | major)
    if entry is not None and entry.name != guest_string(k, name, 64):
        k.console_write(f"unregister_blkdev: major {major} is registered as {entry.name}\n", 4)
    devices.remove(k, 0x2_0000_0000 | major, "block major")
