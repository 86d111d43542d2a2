"""configfs mounted inside the kernel by its first subsystem, as the real libcomposite.ko does it.

libcomposite's init registers the ``usb_gadget`` subsystem: configfs pins
itself (simple_pin_fs: init_fs_context, get_tree_single, configfs's
fill_super making the root inode and dentry), then makes the subsystem's
directory (d_alloc_name, d_add, new_inode, d_instantiate). The USB gadget
functions (usb_f_ecm, ...) then register with libcomposite. Unloading
unregisters the subsystem, and the last release unmounts configfs
(kill_litter_super) leaving no superblock, dentry or inode behind.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.layout import Fields
from kernel_stubs.linux.vfs_core import DCACHE_DIRECTORY_TYPE, DCACHE_ENTRY_TYPE, Vfs, mounted_paths
from sandbox import Kernel
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus
CONFIGFS_MAGIC = 0x62656570


def test_libcomposite_mounts_configfs_and_makes_usb_gadget() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("libcomposite", KDIR)
    assert modules[0].name == "configfs" and modules[-1].name == "libcomposite"
    assert mounted_paths(k, "configfs") == ["/usb_gadget"]
    state = k.service_context.subsystem(Vfs)
    (record,) = state.supers.values()
    sb = Fields(k.memory, "super_block", record.sb)
    assert sb["s_magic"] == CONFIGFS_MAGIC and sb["s_blocksize"] == 4096  # configfs_fill_super
    root = Fields(k.memory, "dentry", sb["s_root"])
    assert root["d_parent"] == sb["s_root"] and root["d_flags"] & DCACHE_ENTRY_TYPE == DCACHE_DIRECTORY_TYPE
    root_inode = Fields(k.memory, "inode", root["d_inode"])
    assert root_inode["i_nlink"] == 3  # "." and its own entry (2), and usb_gadget's ".."
    (mount,) = state.mounts.values()
    assert Fields(k.memory, "vfsmount", mount.mnt)["mnt_root"] == sb["s_root"]
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
    assert state.supers == {} and state.mounts == {}


@pytest.mark.parametrize("function", ["usb_f_ecm", "usb_f_mass_storage", "usb_f_hid"])
def test_gadget_functions_register_on_libcomposite(function: str) -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe(function, KDIR)
    assert modules[-1].name == function
    assert "libcomposite" in [m.name for m in modules]
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
