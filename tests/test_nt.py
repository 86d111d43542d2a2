"""The nt profile with the ntsample driver (mingw and clang + lld-link /driver): DriverEntry, IRPs, unload."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError

try:
    from kernel_stubs.nt import structs as s
    from kernel_stubs.nt.irp import send_irp
    from kernel_stubs.nt.ntoskrnl import NtObjects
    from kernel_stubs.nt.profile import NT  # noqa: F401 - the profile must import
except (ImportError, TypeError):  # until public profiles and stdcall services land (helpers "profiles", "callconv")
    pytest.skip("needs sandbox.profile and stdcall/fastcall services", allow_module_level=True)

from .test_pe import pe_built  # noqa: F401 - the session fixture

TOOLCHAINS = ("gcc", "clang")
DEVICE, LINK = "\\Device\\ntsample", "\\DosDevices\\ntsample"


def ioctl(function: int) -> int:
    """CTL_CODE(FILE_DEVICE_UNKNOWN, function, METHOD_BUFFERED, FILE_ANY_ACCESS)."""
    return (0x22 << 16) | (function << 2)


COUNT, REVERSE, LEAK, NAME, FORWARD = ioctl(0x800), ioctl(0x801), ioctl(0x802), ioctl(0x803), ioctl(0x804)


@pytest.fixture(params=TOOLCHAINS)
def nt(request, pe_built):  # type: ignore[no-untyped-def]  # noqa: F811
    k = Kernel("nt")
    module = k.load(pe_built[(request.param, "pe", "ntsample")])
    return k, module


def test_driver_entry_gets_a_driver_object_and_fills_it(nt) -> None:  # type: ignore[no-untyped-def]
    k, m = nt
    assert "ntsample: DriverEntry for 120-byte key" in k.console  # \Registry\...\Services\ntsample in UTF-16
    objects = k.subsystem(NtObjects)
    driver = objects.drivers["ntsample"]
    device = objects.device_named(DEVICE)
    assert device is not None and objects.device_named(LINK) is device
    assert k.memory.read_u32(driver + s.DRIVER_DEVICE_OBJECT) == device.address  # linked in as NT does
    assert k.memory.read_u32(device.address + s.DEVICE_DRIVER_OBJECT) == driver
    assert k.memory.read_u32(device.address + s.DEVICE_EXTENSION) == device.address + s.DEVICE_OBJECT_SIZE
    flags = k.memory.read_u32(device.address + s.DEVICE_FLAGS)
    assert flags & s.DO_BUFFERED_IO and not flags & s.DO_DEVICE_INITIALIZING
    dispatch = [k.memory.read_u32(driver + s.DRIVER_MAJOR_FUNCTION + 4 * i) for i in range(s.IRP_MJ_COUNT)]
    assert {i for i, f in enumerate(dispatch) if f} == {s.IRP_MJ_CREATE, s.IRP_MJ_CLOSE, s.IRP_MJ_READ, s.IRP_MJ_WRITE,
                                                         s.IRP_MJ_DEVICE_CONTROL}
    assert all(k.module_at(f) is m for f in dispatch if f)
    assert k.module_at(k.memory.read_u32(driver + s.DRIVER_UNLOAD)) is m


def test_irps_read_write_and_device_control(nt) -> None:  # type: ignore[no-untyped-def]
    k, m = nt
    assert send_irp(k, LINK, s.IRP_MJ_CREATE).status == s.STATUS_SUCCESS
    assert send_irp(k, DEVICE, s.IRP_MJ_READ, length=16).status == 0xC0000011  # STATUS_END_OF_FILE: nothing written
    written = send_irp(k, DEVICE, s.IRP_MJ_WRITE, data=b"hello, nt")
    assert (written.status, written.information) == (s.STATUS_SUCCESS, 9)
    read = send_irp(k, DEVICE, s.IRP_MJ_READ, length=64)
    assert read.ok and read.output == b"hello, nt"
    assert send_irp(k, DEVICE, s.IRP_MJ_READ, length=5).output == b"hello"
    count = send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=COUNT, length=4)
    assert (count.information, int.from_bytes(count.output, "little")) == (4, 9)
    assert send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=COUNT, length=2).status == 0xC0000023  # too small
    reverse = send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=REVERSE, data=b"stressed", length=8)
    assert reverse.output == b"desserts"
    name = send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=NAME, length=64)
    assert name.ok and name.output.decode("utf-16-le") == DEVICE  # RtlCopyUnicodeString + RtlEqualUnicodeString
    assert send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=ioctl(0x7FF)).status == s.STATUS_INVALID_DEVICE_REQUEST
    # Passed on with IoCallDriver (fastcall IofCallDriver) to the next stack location, answered as COUNT there.
    forwarded = send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=FORWARD, length=4)
    assert forwarded.ok and int.from_bytes(forwarded.output, "little") == 9
    assert k.trace.calls("IofCallDriver")
    assert send_irp(k, DEVICE, s.IRP_MJ_CLOSE).ok
    irps = [(e.name, e.fields["status"]) for e in k.trace.of_kind("irp")]
    assert irps[:3] == [("IRP_MJ_CREATE", "0x00000000"), ("IRP_MJ_READ", "0xc0000011"), ("IRP_MJ_WRITE", "0x00000000")]
    assert len(irps) == 12 and irps[-1][0] == "IRP_MJ_CLOSE"
    ioctls = [e.fields["ioctl"] for e in k.trace.of_kind("irp") if e.name == "IRP_MJ_DEVICE_CONTROL"]
    assert ioctls[0] == f"{COUNT:#x}"
    report = k.unload(m)
    assert report.clean and "ntsample: unloaded after 1 write(s)" in k.console
    assert not k.subsystem(NtObjects).devices and not k.subsystem(NtObjects).links


def test_stdcall_and_fastcall_services_in_the_trace(nt) -> None:  # type: ignore[no-untyped-def]
    k, m = nt
    send_irp(k, DEVICE, s.IRP_MJ_WRITE, data=b"x")
    names = [e.name for e in k.trace.of_kind("service")]
    assert {"IoCreateDevice", "IoCreateSymbolicLink", "RtlInitUnicodeString", "KeInitializeSpinLock",
            "ExAllocatePoolWithTag", "DbgPrint"} <= set(names)
    # The i386 names a WDK or mingw build imports: fastcall, from hal.dll and ntoskrnl.exe.
    assert names[-3:] == ["KfAcquireSpinLock", "KfReleaseSpinLock", "IofCompleteRequest"]
    hal = {i.dll: i.names for i in m.plan.image.imports}["hal.dll"]
    assert sorted(hal) == ["KfAcquireSpinLock", "KfReleaseSpinLock"]
    assert k.subsystem(NtObjects).irql == s.PASSIVE_LEVEL and not k.warnings


def test_pool_leak_is_reported_with_its_tag(nt) -> None:  # type: ignore[no-untyped-def]
    k, m = nt
    assert send_irp(k, DEVICE, s.IRP_MJ_DEVICE_CONTROL, ioctl=LEAK).ok
    report = k.unload(m)
    assert len(report.leaks) == 1 and "pool block of 24 bytes with tag 'Leak'" in report.leaks[0]
    assert "sample_ioctl" in report.leaks[0]


def test_driver_entry_failure_unwinds_the_load(pe_built) -> None:  # noqa: F811
    k = Kernel("nt")
    k.inject_failure("IoCreateDevice")
    with pytest.raises(LoadError) as info:
        k.load(pe_built[("gcc", "pe", "ntsample")])
    assert info.value.check == "init-failed" and "0xc000009a" in str(info.value)
    assert not k.modules and not k.subsystem(NtObjects).devices and not k.subsystem(NtObjects).drivers


def test_info_against_the_nt_profile(pe_built) -> None:  # noqa: F811
    from sandbox.inspect import describe_file

    info = describe_file(str(pe_built[("gcc", "pe", "ntsample")]), "nt")
    assert info["unresolved"] == [] and info["subsystem"] == "native"
    assert {i["dll"]: i["provider"] for i in info["imports_by_dll"]} == {"ntoskrnl.exe": "kernel", "hal.dll": "kernel"}
    generic = describe_file(str(pe_built[("gcc", "pe", "ntsample")]), "generic")
    assert "hal.dll!KfAcquireSpinLock" in generic["unresolved"]
