"""sysfs mount points: the permanently empty directories file systems are mounted on.

configfs's init makes /sys/kernel/config, fuse's /sys/fs/fuse/connections
(under the fs/fuse kobject it creates); each is removed by the module's
exit, and nothing can be created inside one (kernfs's KERNFS_EMPTY_DIR).
"""

from __future__ import annotations

from sandbox import Kernel
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus


def test_configfs_mounts_on_sys_kernel_config_until_it_unloads() -> None:
    k = Kernel("linux", unresolved="trap")
    (configfs,) = k.modprobe("configfs", KDIR)
    assert "config" in k.sysfs.ls("/sys/kernel")
    assert k.sysfs.ls("/sys/kernel/config") == []
    calls = [(e.name, e.result) for e in k.trace if e.kind == "service" and e.name in (
        "sysfs_create_mount_point", "register_filesystem")]
    assert calls == [("sysfs_create_mount_point", 0), ("register_filesystem", 0)]
    assert k.unload(configfs).leaks == []
    assert not k.sysfs.exists("/sys/kernel/config")


def test_fuse_connections_mount_point_and_its_virtiofs_dependent() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("virtiofs", KDIR)
    assert modules[0].name == "fuse" and modules[-1].name == "virtiofs"
    assert k.sysfs.ls("/sys/fs/fuse") == ["connections"]
    assert "fuse: init (API version 7.38)" in k.console
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
    assert not k.sysfs.exists("/sys/fs/fuse")


def test_a_second_mount_point_of_the_same_name_is_refused_with_linux_message() -> None:
    from kernel_stubs.linux.sysfs import sysfs_create_mount_point

    k = Kernel("linux", unresolved="trap")
    k.modprobe("configfs", KDIR)
    ctx = k.service_context
    kernel_kobj = k.memory.read_u32(k.export_address("kernel_kobj"))
    name = k.memory.alloc(8)
    k.memory.write(name, b"config\0")
    assert sysfs_create_mount_point(ctx, kernel_kobj, name) == -17
    assert "sysfs: cannot create duplicate filename '/kernel/config'" in k.console
