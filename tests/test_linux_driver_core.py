"""Linux's generic driver model: a module's own bus, drivers and devices, kref and release, class devices.

drivers/linux/demobus.c (compiled with gcc and with clang) registers a bus
with guest match/uevent/probe/remove, a driver that takes managed
resources and defers one device until a second driver binds, static
devices with a release callback, and class devices.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox import Kernel
from sandbox.devices.device import Device

from .linux_corpus import ko, needs_corpus

DRIVERS = Path(__file__).resolve().parent.parent / "drivers" / "linux"
FLAGS = ["-m32", "-mregparm=3", "-fno-pic", "-ffreestanding", "-nostdinc", "-O2", "-fno-stack-protector",
         "-fno-asynchronous-unwind-tables", "-fno-common", "-Wall", "-Werror", "-I", str(DRIVERS)]
COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)]


def build(tmp_path: Path, compiler: str, name: str = "demobus") -> Path:
    out = tmp_path / f"{name}-{compiler}.o"
    extra = ["-target", "i386-linux-gnu"] if compiler == "clang" else []
    subprocess.run([compiler, *extra, *FLAGS, "-c", str(DRIVERS / f"{name}.c"), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    return out


def _load(tmp_path: Path, compiler: str):  # type: ignore[no-untyped-def]
    k = Kernel("linux", check_vermagic=False)
    m = k.load(build(tmp_path, compiler))
    return k, m, (lambda name: k.memory.read_u32(m.address_of(name)))


def test_the_header_agrees_with_the_generated_layouts() -> None:
    from kernel_stubs.linux.layout import offset, size

    assert (size("device"), size("device_driver"), size("bus_type"), size("kobject")) == (448, 76, 92, 36)
    assert [offset("device", f) for f in ("parent", "init_name", "bus", "driver", "driver_data", "devt", "id",
                                           "class", "groups", "release")] == [36, 44, 52, 56, 64, 392, 396, 412, 416, 420]
    assert offset("bus_type", "match") == 24 and offset("bus_type", "remove") == 40


@pytest.mark.parametrize("compiler", COMPILERS)
def test_a_modules_own_bus_binds_defers_and_unbinds_in_linux_order(tmp_path: Path, compiler: str) -> None:
    k, m, read = _load(tmp_path, compiler)
    assert m.call("add_device", 0) == 0                    # matched by the guest's match, probed through bus->probe
    assert read("probes") == 1 and read("uevents") == 1
    assert "demo demo0: bound, state 0" in k.console       # dev_printk: "<driver> <device>: "
    assert m.call("add_device", 1) == 0                    # probe defers: on the deferred list
    assert read("deferrals") == 1 and read("probes") == 1 and m.call("drvdata_of", 1) == 0
    assert m.call("add_supply") == 0                       # another bind: the deferred device retries and binds
    assert read("ready") == 1 and read("probes") == 2
    from kernel_stubs.linux.driver_core import DriverCore

    env = dict(line.split("=", 1) for line in k.subsystem(DriverCore).uevents[1][1])
    assert env == {"ACTION": "add", "DEVPATH": "/devices/demo1", "SUBSYSTEM": "demo", "DEMO_ID": "1"}
    assert m.call("walk", 2) == 1 and read("walked") == 2  # bus_for_each_dev stops at the first non-zero
    assert m.call("walk", 0) == 0 and read("walked") == 3
    m.call("remove_device", 1)                             # remove, managed resources newest first, release
    assert [line for line in k.console.splitlines() if line.startswith("demo: ")] == [
        "demo: remove 1", "demo: devres release 1", "demo: undo 1", "demo: release demo1"]
    assert read("removes") == 1 and read("undos") == 1 and read("releases") == 1


@pytest.mark.parametrize("compiler", COMPILERS[:1])
def test_references_keep_a_device_until_the_last_put(tmp_path: Path, compiler: str) -> None:
    k, m, read = _load(tmp_path, compiler)
    assert m.call("add_device", 0) == 0
    assert m.call("kref_of", 0) == 1
    m.call("hold", 0)
    assert m.call("kref_of", 0) == 2
    m.call("remove_device", 0)                             # unbound and deleted, but still referenced
    assert read("removes") == 1 and read("releases") == 0 and m.call("drvdata_of", 0) == 0
    m.call("drop", 0)                                      # the last reference: release runs
    assert read("releases") == 1
    m.call("bare_device")
    assert ("Device 'bare' does not have a release() function, it is broken and must be fixed. "
            "See Documentation/core-api/kobject.rst.") in k.console
    report = k.unload(m)
    assert report.clean, report.leaks


def test_class_devices_are_created_named_and_destroyed(tmp_path: Path) -> None:
    k, m, _read = _load(tmp_path, COMPILERS[0])
    from kernel_stubs.linux.driver_core import DriverCore, device_name, devpath

    assert m.call("make_class") == 0
    node = m.call("make_node", 3, returns="uint")
    assert node and node < 0xFFFFF000
    assert device_name(k, node) == "demonode3" and devpath(k, node) == "/devices/virtual/democlass/demonode3"
    env = k.subsystem(DriverCore).uevents[-1][1]
    assert "MAJOR=240" in env and "MINOR=3" in env and "DEVNAME=demonode3" in env and "SUBSYSTEM=democlass" in env
    assert m.call("make_node", 3, returns="int") == -17    # the same name twice: ERR_PTR(-EEXIST)
    m.call("destroy_node", 3)
    assert node not in k.subsystem(DriverCore).devices
    m.call("drop_class")
    assert k.unload(m).clean


def test_devices_and_drivers_left_at_unload_are_unbound_deleted_and_reported(tmp_path: Path) -> None:
    k, m, _read = _load(tmp_path, COMPILERS[0])
    assert m.call("add_device", 0) == 0 and m.call("add_device", 2) == 0
    report = k.unload(m)                                   # exit unregisters the drivers and the bus, not the devices
    assert sorted(report.leaks) == ["device 'demo0' still registered", "device 'demo2' still registered"]
    assert "demo: remove 0" in k.console and "demo: undo 2" in k.console


# -- sysfs --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compiler", COMPILERS)
def test_device_attributes_are_read_and_written_through_the_guest(tmp_path: Path, compiler: str) -> None:
    k, m, _read = _load(tmp_path, compiler)
    assert m.call("add_device", 0) == 0
    sysfs = k.sysfs
    assert sysfs.ls("/sys/bus/demo/devices") == ["demo0"]
    assert sysfs.readlink("/sys/bus/demo/devices/demo0") == "/sys/devices/demo0"
    # The device's group (is_visible hid "secret"), the bound driver's named group, the links.
    assert sysfs.ls("/sys/devices/demo0") == ["driver", "driver_info", "level", "mode", "subsystem"]
    assert sysfs.readlink("/sys/devices/demo0/driver") == "/sys/bus/demo/drivers/demo"
    assert sysfs.ls("/sys/bus/demo/drivers/demo") == ["demo0"]
    assert sysfs.read("/sys/bus/demo/devices/demo0/level") == "0\n"
    assert sysfs.write("/sys/bus/demo/devices/demo0/level", "42\n") == 3
    assert sysfs.read("/sys/devices/demo0/level") == "42\n"
    assert sysfs.notifications("/sys/devices/demo0/level") == 1
    assert sysfs.mode("/sys/devices/demo0/level") == 0o644
    from kernel_stubs.linux.sysfs import SysfsError

    with pytest.raises(SysfsError) as error:
        sysfs.write("/sys/devices/demo0/level", "1000")          # the store's own -ERANGE
    assert error.value.errno == 34
    with pytest.raises(SysfsError) as error:
        sysfs.write("/sys/devices/demo0/level", "x")             # kstrtoint's -EINVAL
    assert error.value.errno == 22
    assert sysfs.read("/sys/devices/demo0/mode") == "[off] slow fast\n"
    assert sysfs.write("/sys/devices/demo0/mode", "fast\n") == 5   # __sysfs_match_string ignores the newline
    assert sysfs.read("/sys/devices/demo0/mode") == "off slow [fast]\n"
    with pytest.raises(SysfsError) as error:
        sysfs.write("/sys/devices/demo0/mode", "warp")
    assert error.value.errno == 22
    assert sysfs.read("/sys/devices/demo0/driver_info/state") == "bound to demo, state 0\n"
    with pytest.raises(SysfsError) as error:
        sysfs.write("/sys/devices/demo0/driver_info/state", "1")  # read-only: no store
    assert error.value.errno == 5
    with pytest.raises(SysfsError) as error:
        sysfs.read("/sys/devices/demo0/secret")
    assert error.value.errno == 2
    m.call("remove_device", 0)                                      # the directory and the links go with it
    assert not sysfs.exists("/sys/devices/demo0") and sysfs.ls("/sys/bus/demo/devices") == []
    assert sysfs.ls("/sys/bus/demo/drivers/demo") == []


def test_a_modules_kobject_and_class_devices_appear_where_linux_puts_them(tmp_path: Path) -> None:
    k, m, _read = _load(tmp_path, COMPILERS[0])
    assert m.call("make_kobject") == 0
    assert k.sysfs.ls("/sys/kernel/demo") == ["counter"]
    assert k.sysfs.read("/sys/kernel/demo/counter") == "1\n"
    assert k.sysfs.read("/sys/kernel/demo/counter") == "2\n"      # show runs on every read
    m.call("drop_kobject")                                          # the last put: out of sysfs, freed
    assert not k.sysfs.exists("/sys/kernel/demo")
    assert m.call("make_class") == 0
    m.call("make_node", 5)
    assert k.sysfs.readlink("/sys/class/democlass/demonode5") == "/sys/devices/virtual/democlass/demonode5"
    assert k.sysfs.read("/sys/class/democlass/demonode5/dev") == "240:5\n"
    m.call("destroy_node", 5)
    assert k.sysfs.ls("/sys/class/democlass") == []
    m.call("drop_class")
    assert not k.sysfs.exists("/sys/class/democlass")
    assert k.unload(m).clean


# -- a real module's sysfs attributes: the telecom clock of the MPCBL0010 blade (tlclk.ko) --------------------

class TelcoClock(Device):
    """The blade FPGA's eight telecom-clock registers at 0xA08 (REG7's low nibble: the IRQ the BIOS set)."""

    name = "telco_clock"
    port_ranges = ((0xA08, 8),)

    def __init__(self) -> None:
        super().__init__()
        self.regs = bytearray([0, 0x08, 0x30, 0, 0, 0x21, 0, 0x05])  # REG1 bit 3: current ref; REG5: version

    def port_read(self, port: int, width: int) -> int:
        return self.regs[port - 0xA08]

    def port_write(self, port: int, width: int, value: int) -> None:
        self.regs[port - 0xA08] = value & 0xFF


@needs_corpus
def test_tlclk_attributes_read_and_write_the_fpga_registers() -> None:
    k = Kernel("linux")
    clock = k.devices.add(TelcoClock())
    k.load(ko("drivers/char/tlclk.ko"))
    base = "/sys/devices/platform/telco_clock"
    assert k.sysfs.readlink("/sys/bus/platform/devices/telco_clock") == base
    names = k.sysfs.ls(base)
    assert {"alarms", "current_ref", "telclock_version", "select_redundant_clock", "reset"} <= set(names)
    assert k.sysfs.read(base + "/telclock_version") == "0x21\n"     # inb(REG5) through the driver's show
    assert k.sysfs.read(base + "/current_ref") == "0x1\n"
    assert k.sysfs.read(base + "/alarms") == "0x30\n"
    assert k.sysfs.mode(base + "/select_redundant_clock") == 0o220
    assert k.sysfs.write(base + "/select_redundant_clock", "1\n") == 2   # SET_PORT_BITS(REG1, 0xfe, 1)
    assert clock.regs[1] == 0x09
    assert k.sysfs.write(base + "/enable_clka0_output", "1") == 1
    assert clock.regs[2] == 0x31
    from kernel_stubs.linux.sysfs import SysfsError

    with pytest.raises(SysfsError) as error:
        k.sysfs.read(base + "/reset")                                  # write-only: dev_attr_show gives -EIO
    assert error.value.errno == 5
    assert k.unload("tlclk").clean
    assert not k.sysfs.exists(base)


# -- dev_printk and runtime PM ------------------------------------------------------------------------------

def test_dev_printk_levels_and_dev_err_probe(tmp_path: Path) -> None:
    k, m, _read = _load(tmp_path, COMPILERS[0])
    assert m.call("add_device", 0) == 0
    m.call("say", 0)
    assert k.console.splitlines()[-2:] == ["demo demo0: level 3", "demo demo0: critical"]
    assert [level for level, _text in k.console_records[-2:]] == [3, 2]
    assert m.call("probe_error", 0, -5, returns="int") == -5
    assert k.console.splitlines()[-1] == "demo demo0: error -EIO: no clock ref"
    lines = len(k.console.splitlines())
    assert m.call("probe_error", 0, -517, returns="int") == -517   # deferral: not logged, the reason kept
    assert len(k.console.splitlines()) == lines
    from kernel_stubs.linux.dev_printk import deferred_reason
    from kernel_stubs.linux.driver_core import core, device_name

    dev = next(d for d in core(k).devices if device_name(k, d) == "demo0")
    assert deferred_reason(k, dev) == "no clock ref\n"


def test_runtime_pm_calls_the_drivers_callbacks_when_linux_would(tmp_path: Path) -> None:
    k, m, read = _load(tmp_path, COMPILERS[0])
    from kernel_stubs.linux import pm_runtime
    from kernel_stubs.linux.driver_core import core, device_name

    assert m.call("add_device", 0) == 0
    dev = next(d for d in core(k).devices if device_name(k, d) == "demo0")
    assert pm_runtime.status(k, dev) == "suspended"
    assert m.call("rpm_get", 0, returns="int") == -13          # disabled: -EACCES, the reference still taken
    assert m.call("rpm_usage", 0) == 1 and m.call("rpm_put", 0, returns="int") == -13
    assert m.call("rpm_enable", 0) == 0                        # set_active while disabled, then enable
    assert pm_runtime.status(k, dev) == "active"
    assert m.call("rpm_get", 0, returns="int") == 1            # already active: 1, no callback
    assert read("runtime_resumes") == 0
    assert m.call("rpm_put", 0, returns="int") == 0            # the last user: idle, then runtime_suspend
    assert read("runtime_suspends") == 1 and pm_runtime.status(k, dev) == "suspended"
    assert m.call("rpm_put", 0, returns="int") == -22          # more puts than gets: Linux's underflow
    assert "demo0: Runtime PM usage count underflow!" in k.console
    assert m.call("rpm_get", 0, returns="int") == 0            # resumed through the driver's runtime_resume
    assert read("runtime_resumes") == 1 and m.call("rpm_usage", 0) == 1
    m.call("rpm_autosuspend", 0, 100)                          # 100 ms after the last use
    assert m.call("rpm_put_autosuspend", 0, returns="int") == 0
    assert read("runtime_suspends") == 1 and pm_runtime.status(k, dev) == "active"   # not yet
    k.run_for(k.clock.hz // 20)                                 # 50 ms: still waiting
    assert read("runtime_suspends") == 1
    k.run_for(k.clock.hz // 10)                                 # past 100 ms: the timer suspends it
    assert read("runtime_suspends") == 2 and pm_runtime.status(k, dev) == "suspended"
    m.call("remove_device", 0)                                  # unbind resumes it for remove, as Linux
    assert read("runtime_resumes") == 2
    assert [line for line in k.console.splitlines() if "runtime" in line][-1] == "demo: runtime resume demo0"


def test_generic_devres_kasprintf_wakeup_and_class_interfaces(tmp_path: Path) -> None:
    k, m, read = _load(tmp_path, COMPILERS[0])
    from kernel_stubs.linux import pm_wakeup
    from kernel_stubs.linux.driver_core import core, device_name

    assert m.call("add_device", 2) == 0
    assert k.memory.read_cstring(m.call("label_of", 2, returns="uint")) == b"demo-label-2"   # devm_kasprintf
    dev = next(d for d in core(k).devices if device_name(k, d) == "demo2")
    assert m.call("wake_uncapable", 2, returns="int") == -22   # not wakeup-capable: -EINVAL
    assert m.call("wake", 2) == 0 and m.call("wake", 2, returns="int") == -17   # a second source: -EEXIST
    m.call("wake_event", 2)
    m.call("wake_event", 2)
    assert pm_wakeup.wakeup_events(k, dev) == 2
    assert m.call("wake_off", 2) == 0 and pm_wakeup.wakeup_events(k, dev) is None
    assert m.call("make_class") == 0
    m.call("make_node", 1)
    assert m.call("watch_class") == 0                          # add_dev for the device already there
    m.call("make_node", 2)                                     # and for the next one
    assert read("interface_adds") == 2
    m.call("destroy_node", 1)
    assert read("interface_removes") == 1
    m.call("unwatch_class")                                    # remove_dev for the one left
    assert read("interface_removes") == 2
    assert [line for line in k.console.splitlines() if "interface" in line] == [
        "demo: interface add demonode1", "demo: interface add demonode2", "demo: interface remove demonode1",
        "demo: interface remove demonode2"]
    m.call("destroy_node", 2)
    m.call("drop_class")
    m.call("remove_device", 2)                                 # the managed string and block go at unbind
    assert "demo: devres release 2" in k.console
    assert k.unload(m).clean


def test_without_acpi_drivers_find_no_conflict_no_device_and_no_method(tmp_path: Path) -> None:
    k, m, _read = _load(tmp_path, COMPILERS[0])
    assert m.call("acpi_checks") == 0b1111
    assert m.call("firmware_checks") == 0b111111
    assert k.memory.read_cstring(k.memory.read_u32(m.address_of("acpi_status_name"))) == b"AE_NOT_FOUND"


def test_a_snapshot_restores_bindings_references_and_sysfs(tmp_path: Path) -> None:
    k, m, read = _load(tmp_path, COMPILERS[0])
    assert m.call("add_device", 0) == 0
    assert k.sysfs.write("/sys/devices/demo0/level", "7") == 1
    snap = k.snapshot()
    m.call("remove_device", 0)
    assert not k.sysfs.exists("/sys/devices/demo0") and read("releases") == 1
    k.restore(snap)
    assert k.sysfs.read("/sys/bus/demo/devices/demo0/level") == "7\n"   # the tree and the guest both back
    assert read("releases") == 0 and m.call("kref_of", 0) == 1
    m.call("remove_device", 0)                                            # and it unbinds again, in order
    assert read("removes") == 1 and read("releases") == 1


def test_platform_create_bundle_probes_its_one_device(tmp_path: Path) -> None:
    k, m, read = _load(tmp_path, COMPILERS[0])
    assert m.call("make_bundle") == 0
    assert read("bundle_io") == 0x2E8 and read("bundle_data") == 0xFEED
    assert k.sysfs.readlink("/sys/devices/platform/demo-bundle/driver") == "/sys/bus/platform/drivers/demo-bundle"
    m.call("drop_bundle")
    assert not k.sysfs.exists("/sys/devices/platform/demo-bundle")
    assert k.unload(m).clean


# -- real buses of real modules: hid.ko's bus, uhid.ko creating a device on it, hid-generic binding -----------

MOUSE_DESCRIPTOR = bytes.fromhex(
    "05010902a1010901a100050919012903150025019503750181029501750581030501093009311581257f750895028106c0c0")
UHID_EVENT_SIZE = 4376  # struct uhid_event: type + the largest member (create2 with a 4096-byte descriptor)


@needs_corpus
def test_a_uhid_device_binds_hid_generic_on_hid_kos_own_bus() -> None:
    import struct

    from kernel_stubs.linux.driver_core import core
    from kernel_stubs.linux.workqueue import run_work
    from tests.linux_corpus import KDIR

    k = Kernel("linux", unresolved="trap")         # hid.ko's battery reporting needs power_supply_*: not reached
    k.modprobe("hid-generic", KDIR)
    k.modprobe("uhid", KDIR)
    uhid = k.open("/dev/uhid")
    create2 = struct.pack("<I128s64s64sHHIIII", 11, b"sandbox mouse", b"", b"", len(MOUSE_DESCRIPTOR), 3,
                          0x1234, 0x5678, 1, 0) + MOUSE_DESCRIPTOR
    assert uhid.write(create2.ljust(UHID_EVENT_SIZE, b"\0")) == UHID_EVENT_SIZE
    run_work(k)                                    # uhid adds the HID device from a worker, as Linux does
    assert k.console.splitlines()[-2:] == [
        "input: sandbox mouse as /devices/virtual/misc/uhid/0003:1234:5678.0001/input/input0",
        "hid-generic 0003:1234:5678.0001: input,hidraw0: USB HID v0.01 Mouse [sandbox mouse] on "]
    device = "/sys/bus/hid/devices/0003:1234:5678.0001"
    assert k.sysfs.readlink(device) == "/sys/devices/virtual/misc/uhid/0003:1234:5678.0001"
    assert k.sysfs.readlink(device + "/driver") == "/sys/bus/hid/drivers/hid-generic"
    assert k.sysfs.read(device + "/modalias") == "hid:b0003g0001v00001234p00005678\n"   # hid.ko's own show
    assert k.sysfs.read_bytes(device + "/report_descriptor") == MOUSE_DESCRIPTOR        # its bin attribute
    env = dict(line.split("=", 1) for line in next(e for p, e in core(k).uevents if p.endswith("5678.0001")))
    assert env["MODALIAS"] == "hid:b0003g0001v00001234p00005678" and env["HID_NAME"] == "sandbox mouse"
    assert uhid.write(struct.pack("<I", 1).ljust(UHID_EVENT_SIZE, b"\0")) == UHID_EVENT_SIZE  # UHID_DESTROY
    assert k.sysfs.ls("/sys/bus/hid/devices") == []
    assert k.sysfs.ls("/sys/bus/hid/drivers/hid-generic") == ["new_id"]    # the bus's drv_groups stay
    uhid.close()
    for name in ("uhid", "hid_generic", "hid"):
        assert k.unload(name).clean
