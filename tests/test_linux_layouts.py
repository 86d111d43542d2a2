"""The hand-derived Linux 6.1 i386 offsets in kernel_stubs agree with the kernel's own DWARF.

Each constant was first worked out from real modules' code and relocations
(see the docstrings of the files that define them); the generated table
(tools/gen-linux-layouts, from Debian's vmlinux debug information) is an
independent source. A disagreement means one of them is wrong.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux import chrdev, vfs
from kernel_stubs.linux.layout import Fields, member, offset, size
from kernel_stubs.profiles import LINUX
from sandbox.entrypoints import StructField


def test_vfs_layouts_match_dwarf() -> None:
    assert size("file") == vfs.FILE_SIZE and size("file_operations") == vfs.FOPS_SIZE
    for path, value in {"f_inode": vfs.F_INODE, "f_op": vfs.F_OP, "f_count": vfs.F_COUNT, "f_flags": vfs.F_FLAGS,
                        "f_mode": vfs.F_MODE, "f_pos": vfs.F_POS, "private_data": vfs.PRIVATE_DATA}.items():
        assert offset("file", path) == value, path
    for path, value in {"owner": vfs.FOP_OWNER, "llseek": vfs.FOP_LLSEEK, "read": vfs.FOP_READ, "write": vfs.FOP_WRITE,
                        "poll": vfs.FOP_POLL, "unlocked_ioctl": vfs.FOP_UNLOCKED_IOCTL, "open": vfs.FOP_OPEN,
                        "release": vfs.FOP_RELEASE}.items():
        assert offset("file_operations", path) == value, path
    assert offset("inode", "i_rdev") == vfs.I_RDEV and offset("inode", "i_cdev") == vfs.I_CDEV
    assert size("inode") <= vfs.INODE_SIZE  # the sandbox's allocation holds a whole inode


def test_misc_and_module_layouts_match_dwarf() -> None:
    assert (offset("miscdevice", "minor"), offset("miscdevice", "name"), offset("miscdevice", "fops"),
            offset("miscdevice", "this_device")) == (chrdev.MISC_MINOR, chrdev.MISC_NAME, chrdev.MISC_FOPS,
                                                     chrdev.MISC_THIS_DEVICE)
    assert size("device") <= chrdev.DEVICE_SIZE
    # The linux profile's entry policy reads init/exit from struct module when no symbol names them.
    init, exit_ = (next(f.offset for f in finders if isinstance(f, StructField)) for finders in (LINUX.entry.init, LINUX.entry.exit))
    assert (offset("module", "init"), offset("module", "exit")) == (init, exit_)


def test_layout_lookups_name_what_is_missing() -> None:
    with pytest.raises(KeyError, match="struct nosuch is not in the generated layout table"):
        size("nosuch")
    with pytest.raises(KeyError, match="struct device has no member 'nosuch'"):
        offset("device", "nosuch")
    assert member("platform_device", "dev.driver_data") == (offset("platform_device", "dev") + offset("device", "driver_data"), 4)


def test_fields_read_and_write_guest_memory() -> None:
    from sandbox import Kernel

    k = Kernel("linux")
    address = k.memory.alloc(size("resource"))
    res = Fields(k.memory, "resource", address)
    res["start"], res["end"], res["flags"] = 0x2E, 0x2F, 0x100
    assert k.memory.read_u32(address + offset("resource", "end")) == 0x2F and res["flags"] == 0x100
