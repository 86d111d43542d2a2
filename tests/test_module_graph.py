"""Modules that use each other: exports, references, ordering, well-known names, devices."""

from __future__ import annotations

import pytest

from sandbox import Kernel, LoadError, SandboxError, UnloadError
from sandbox.wellknown import DeviceOperation, IrqEntry


def test_load_all_orders_providers_first(kernel: Kernel, driver) -> None:
    modules = kernel.load_all([driver("usb_storage"), driver("usb_roothub")])
    assert [m.name for m in modules] == ["usb_roothub", "usb_storage"]
    assert kernel.console.splitlines() == [
        "usb_roothub: 4 ports",
        "usb_roothub: port 2 claimed by usb-storage",
        "usb_storage: attached to port 2",
    ]
    storage = kernel.module("usb_storage")
    assert storage.call("usb_storage_port") == 2
    assert storage.uses == {"usb_roothub"} and kernel.module("usb_roothub").used_by == {"usb_storage"}
    assert kernel.proc_modules().splitlines() == [
        f"usb_storage {storage.size} 0 - Live {storage.base:#010x}",
        f"usb_roothub {kernel.module('usb_roothub').size} 1 usb_storage, Live {kernel.module('usb_roothub').base:#010x}",
    ]


def test_unloading_a_used_module_fails_naming_users(kernel: Kernel, driver) -> None:
    kernel.load_all([driver("usb_roothub"), driver("usb_storage")])
    with pytest.raises(UnloadError, match="usb_roothub is in use by: usb_storage"):
        kernel.unload("usb_roothub")
    assert kernel.export_owner("roothub_port_count") == "usb_roothub"
    kernel.unload("usb_storage")
    assert kernel.module("usb_roothub").used_by == set()
    kernel.unload("usb_roothub")
    assert kernel.export_owner("roothub_port_count") is None  # exports vanish with their module
    assert kernel.console.endswith("usb_roothub: port 2 released by usb-storage\n")


def test_missing_provider_names_module_and_symbols(kernel: Kernel, driver) -> None:
    with pytest.raises(LoadError) as info:
        kernel.load_all([driver("usb_storage"), driver("hello")])
    assert info.value.check == "missing-provider"
    assert "usb_storage needs roothub_claim_port" in str(info.value) and "module usb_roothub" in str(info.value)
    assert kernel.modules == []


def test_dependency_cycle_is_named(kernel: Kernel, compile_c) -> None:
    a = compile_c("#include <kernel.h>\nextern int from_b(void);\nint from_a(void) { return from_b(); }\nEXPORT_SYMBOL(from_a);", "mod_a")
    b = compile_c("#include <kernel.h>\nextern int from_a(void);\nint from_b(void) { return from_a(); }\nEXPORT_SYMBOL(from_b);", "mod_b")
    with pytest.raises(LoadError) as info:
        kernel.load_all([a, b])
    assert info.value.check == "dependency-cycle"
    assert "mod_a" in str(info.value) and "mod_b" in str(info.value) and "from_" in str(info.value)


def test_failure_inside_load_all_unloads_the_batch(kernel: Kernel, driver, compile_c) -> None:
    failing = compile_c("#include <kernel.h>\nextern int roothub_port_count(void);\n"
                        "int init_module(void) { return roothub_port_count() > 0 ? -EBUSY : 0; }", "zz_failing")
    with pytest.raises(LoadError, match="-16"):
        kernel.load_all([driver("usb_roothub"), failing])
    assert kernel.modules == []


def test_exports_appear_only_after_init_succeeds(kernel: Kernel, compile_c) -> None:
    bad = compile_c("#include <kernel.h>\nint shared_api(void) { return 1; }\nEXPORT_SYMBOL(shared_api);\n"
                    "int init_module(void) { return -ENODEV; }", "bad_provider")
    with pytest.raises(LoadError):
        kernel.load(bad)
    assert kernel.export_owner("shared_api") is None


def test_well_known_names_default_table(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("wellknown"))
    assert [r.result for r in kernel.raise_irq(7)] == [1]
    with kernel.open("/dev/wellknown") as device:
        assert device.write(b"ping") == 4
        assert device.read(64) == b"irqs=1 last=ping"
    assert kernel.unload(m).clean
    with pytest.raises(SandboxError, match="no device /dev/wellknown"):
        kernel.open("/dev/wellknown")


def test_well_known_names_custom_table(driver) -> None:
    kernel = Kernel(well_known={"irqhandler": IrqEntry(11), "readdevice": DeviceOperation("read")})
    kernel.load(driver("wellknown"))
    assert kernel.raise_irq(7) == [] and len(kernel.raise_irq(11)) == 1
    assert kernel.open("/dev/wellknown").read(32) == b"irqs=1 last=-"


def test_character_device_registered_from_init(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("scratch"))
    assert kernel.console == "scratch: registered major 240\n"
    device = kernel.open("/dev/scratch")
    assert device.write(b"hello world") == 11
    assert device.read(5) == b"hello" and device.read(100) == b" world" and device.read(10) == b""
    assert device.position == 11
    assert device.ioctl(ord("s") << 8 | 2) == 11  # SCRATCH_LENGTH
    stats = bytearray(16)
    assert device.ioctl(2 << 30 | 16 << 16 | ord("s") << 8 | 3, stats) == 0  # SCRATCH_STATS
    assert list(memoryview(stats).cast("I")) == [1, 3, 1, 11]  # opens, reads, writes, length
    assert device.ioctl(0x1234) == -25  # -ENOTTY
    assert device.write(b"x" * 300) == -28  # -ENOSPC
    assert device.close() == 0
    calls = [e.name for e in kernel.trace.of_kind("service")]
    assert "copy_to_user" in calls and "copy_from_user" in calls
    assert kernel.unload(m).clean


def test_character_device_left_registered_is_a_leak(kernel: Kernel, compile_c) -> None:
    m = kernel.load(compile_c("#include <kernel.h>\nstatic const struct file_operations fops;\n"
                              "int init_module(void) { return register_chrdev(0, \"leaky\", &fops) > 0 ? 0 : -1; }", "leaky"))
    assert "/dev/leaky" in kernel.device_nodes.nodes
    report = kernel.unload(m)
    assert report.leaks == ["character device /dev/leaky (major 240) still registered"]
    assert "/dev/leaky" not in kernel.device_nodes.nodes


class _BrokenCleanup:
    """A subsystem whose unload cleanup fails (as a stub's bug or a corrupted block would)."""

    def release_module(self, k: Kernel, module) -> list[str]:  # type: ignore[no-untyped-def]
        raise SandboxError("cleanup exploded")


def test_a_failing_subsystem_cleanup_does_not_strand_the_module(kernel: Kernel, driver) -> None:
    m = kernel.load(driver("hello"))
    kernel.subsystem(_BrokenCleanup)
    report = kernel.unload(m)
    assert any("_BrokenCleanup cleanup failed: cleanup exploded" in leak for leak in report.leaks)
    assert m.state == "gone" and not kernel.modules
    assert kernel.load(driver("hello")).state == "live"  # the kernel is still usable
