"""The real MTD core (mtd.ko) and a RAM-backed flash (mtdram.ko), loaded as modprobe loads them.

mtd's init registers its class, a backing device ``mtd-0`` (bdi_alloc,
bdi_register: /sys/class/bdi/mtd-0), /proc/mtd and the mtd character major
90. mtdram then registers one device of ``total_size`` KiB, erased (0xff),
which the MTD core adds to the class, to /proc/mtd and as an NVMEM
provider; reads and writes of its character device (udev's
/dev/char/90:0) go through mtdchar to mtdram's own read and write.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.backing_dev import BDI_CAP_WRITEBACK, BDI_CAP_WRITEBACK_ACCT, BackingDevices
from kernel_stubs.linux.layout import Fields
from kernel_stubs.linux.ledtrig import activity_count
from kernel_stubs.linux.nvmem import read_nvmem
from kernel_stubs.linux.sysfs import SysfsError
from sandbox import Kernel, SandboxError
from tests.linux_corpus import KDIR, needs_corpus

pytestmark = needs_corpus


def _mtdram(total_kib: int = 256, erase_kib: int = 16) -> tuple[Kernel, list]:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("mtdram", KDIR, {"total_size": total_kib, "erase_size": erase_kib})
    assert [m.name for m in modules] == ["mtd", "mtdram"]
    return k, modules


def _proc_mtd(k: Kernel) -> str:
    f = k.open("/proc/mtd")
    try:
        return f.read(4096).decode()
    finally:
        f.close()


def test_mtd_init_registers_its_backing_device_as_linux_does() -> None:
    k = Kernel("linux", unresolved="trap")
    (mtd,) = k.modprobe("mtd", KDIR)
    assert k.sysfs.ls("/sys/class/bdi") == ["mtd-0"]  # mtd_bdi_init: bdi_register(bdi, "%.28s-0", "mtd")
    state = k.service_context.subsystem(BackingDevices)
    (bdi,) = state.registered
    f = Fields(k.memory, "backing_dev_info", bdi)
    assert f["id"] == 1 and f["refcnt"] == 1 and f["max_ratio"] == 100
    assert f["capabilities"] == BDI_CAP_WRITEBACK | BDI_CAP_WRITEBACK_ACCT
    assert (f["ra_pages"], f["io_pages"]) == (0, 0)  # mtd_bdi_init turns readahead off after bdi_alloc set 32
    assert k.memory.read_cstring(f.address_of("dev_name")) == b"mtd-0"
    assert _proc_mtd(k) == "dev:    size   erasesize  name\n"
    assert k.unload(mtd).leaks == []
    assert k.sysfs.ls("/sys/class/bdi") == []  # cleanup_mtd: bdi_unregister + bdi_put
    assert state.registered == {}


def test_mtdram_device_shows_in_proc_and_sysfs_with_its_size() -> None:
    k, modules = _mtdram(256, 16)
    assert _proc_mtd(k) == 'dev:    size   erasesize  name\nmtd0: 00040000 00004000 "mtdram test device"\n'
    assert k.sysfs.ls("/sys/class/mtd") == ["mtd0", "mtd0ro"]
    assert k.sysfs.read("/sys/class/mtd/mtd0/size") == "262144\n"
    assert k.sysfs.read("/sys/class/mtd/mtd0/erasesize") == "16384\n"
    assert k.sysfs.read("/sys/class/mtd/mtd0/name") == "mtdram test device\n"
    assert k.sysfs.ls("/sys/bus/nvmem/devices") == ["mtd0"]  # mtd_nvmem_add
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name
    assert not k.sysfs.exists("/sys/class/mtd/mtd0") and k.sysfs.ls("/sys/bus/nvmem/devices") == []


def test_dev_mtd0_reads_the_erased_flash_and_keeps_what_is_written() -> None:
    k, _modules = _mtdram(64, 16)
    f = k.open("/dev/char/90:0")  # MKDEV(90, 0): mtdchar's minor 2*n is mtd<n>, read-write
    assert f.read(32) == b"\xff" * 32  # mtdram_init_device: memset(..., 0xff, size)
    f.close()
    f = k.open("/dev/char/90:0")
    assert f.write(b"hello flash") == 11
    f.close()
    f = k.open("/dev/char/90:0")
    assert f.read(16) == b"hello flash" + b"\xff" * 5
    f.close()
    assert read_nvmem(k, "mtd0", 6, 5) == b"flash"  # the NVMEM provider reads the same cells
    assert activity_count(k, "mtd") >= 3  # each mtd_read/mtd_write signals ledtrig_mtd_activity


def test_nvmem_reads_outside_the_device_are_refused() -> None:
    k, _modules = _mtdram(64, 16)
    with pytest.raises(SandboxError, match="outside its 65536 bytes"):
        read_nvmem(k, "mtd0", 65530, 16)
    with pytest.raises(SandboxError, match="no nvmem device 'mtd9'"):
        read_nvmem(k, "mtd9", 0, 1)


def test_bdi_attributes_read_and_write_as_mm_backing_dev_has_them() -> None:
    k = Kernel("linux", unresolved="trap")
    k.modprobe("mtd", KDIR)
    bdi = "/sys/class/bdi/mtd-0"
    assert {"max_ratio", "min_ratio", "read_ahead_kb", "stable_pages_required"} <= set(k.sysfs.ls(bdi))
    assert k.sysfs.read(f"{bdi}/read_ahead_kb") == "0\n"  # mtd turned readahead off
    assert k.sysfs.write(f"{bdi}/read_ahead_kb", "128\n") == 4
    assert k.sysfs.read(f"{bdi}/read_ahead_kb") == "128\n"
    assert (k.sysfs.read(f"{bdi}/min_ratio"), k.sysfs.read(f"{bdi}/max_ratio")) == ("0\n", "100\n")
    assert k.sysfs.write(f"{bdi}/max_ratio", "40") == 2
    with pytest.raises(SysfsError) as err:  # a minimum above the maximum
        k.sysfs.write(f"{bdi}/min_ratio", "50\n")
    assert err.value.errno == 22
    with pytest.raises(SysfsError) as err:
        k.sysfs.write(f"{bdi}/max_ratio", "x")
    assert err.value.errno == 22
    assert k.sysfs.read(f"{bdi}/stable_pages_required") == "0\n"
