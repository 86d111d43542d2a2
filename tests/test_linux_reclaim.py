"""Shrinkers reclaimed from Python, and panic() calling the panic notifier chain.

``drivers/linux/reclaim.c`` keeps a 300-object cache behind a shrinker
(batch 64, DEFAULT_SEEKS) and a block on ``panic_notifier_list``. Its
``reclaim_panic()`` panics. The real sunrpc.ko registers its credential
shrinker; the real pvpanic-pci.ko tells the (emulated QEMU) pvpanic device
that the guest panicked.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.lib import KernelPanic
from kernel_stubs.linux.shrinker import SHRINKER_REGISTERED, Shrinkers, drop_slab
from sandbox import Kernel
from sandbox.devices.pci import Bar, PciFunction
from tests.linux_corpus import KDIR, needs_corpus

PVPANIC_PANICKED, PVPANIC_CRASH_LOADED = 1, 2


def _u32(k: Kernel, m, name: str) -> int:
    return k.memory.read_u32(m.address_of(name))


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
def test_drop_slab_shrinks_a_cache_in_do_shrink_slab_batches(built, toolchain: str) -> None:
    k = Kernel("linux")
    m = k.load(built[(toolchain, "linux", "reclaim")])
    (shrinker,) = k.service_context.subsystem(Shrinkers).registered.values()
    assert shrinker.name == "reclaim-cache"  # register_shrinker's "reclaim-%s"
    address = m.address_of("cache_shrinker")
    assert k.memory.read_u32(address + 16) & SHRINKER_REGISTERED
    assert drop_slab(k) == 300
    assert _u32(k, m, "objects") == 0
    # Round 1: count 300, scan total min(300*4/2, 2*300) = 600 in batches of 64 until under a batch:
    # 9 scans (5 free the 300, 4 find nothing). Round 2: SHRINK_EMPTY, the round frees nothing: done.
    assert (_u32(k, m, "counts"), _u32(k, m, "scans"), _u32(k, m, "last_batch")) == (2, 9, 64)
    assert drop_slab(k) == 0
    assert k.unload(m).leaks == []
    assert k.service_context.subsystem(Shrinkers).registered == {}


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
def test_panic_prints_then_calls_the_panic_notifiers_with_its_message(built, toolchain: str) -> None:
    k = Kernel("linux")
    m = k.load(built[(toolchain, "linux", "reclaim")])
    with pytest.raises(KernelPanic, match=r"Kernel panic - not syncing: reclaim: code 7 \(panic\(\) called from "
                                          r"reclaim:reclaim_panic"):
        m.call("reclaim_panic", 7)
    assert "Kernel panic - not syncing: reclaim: code 7\n" in k.console
    assert k.memory.read_cstring(m.address_of("last_panic")) == b"reclaim: code 7"
    assert _u32(k, m, "last_action") == 0


def test_a_block_left_on_the_panic_chain_is_a_leak(built) -> None:
    k = Kernel("linux")
    m = k.load(built[("gcc", "linux", "reclaim")])
    head = k.export_address("panic_notifier_list")
    assert k.memory.read_u32(head + 4) == m.address_of("panic_note")
    k.memory.write_u32(m.address_of("forget_panic_note"), 1)
    assert k.unload(m).leaks == ["panic notifier reclaim:panic_note still registered"]
    assert k.memory.read_u32(head + 4) == 0


class PvPanic(PciFunction):
    """QEMU's pvpanic PCI device: reading register 0 gives the events it supports; writing reports one."""

    vendor_id, device_id, class_code = 0x1B36, 0x0011, 0x088000
    bars = (Bar("mem", 16),)

    def __init__(self) -> None:
        super().__init__("pvpanic")
        self.reported: list[int] = []

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        return PVPANIC_PANICKED | PVPANIC_CRASH_LOADED if offset == 0 else 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset == 0:
            self.reported.append(value)


@needs_corpus
def test_pvpanic_tells_the_hypervisor_when_the_guest_panics(built) -> None:
    k = Kernel("linux", unresolved="trap")
    device = k.pci.add(PvPanic())
    modules = k.modprobe("pvpanic-pci", KDIR)
    assert [m.name for m in modules] == ["pvpanic", "pvpanic_pci"]
    assert device.reported == []
    m = k.load(built[("gcc", "linux", "reclaim")])
    with pytest.raises(KernelPanic):
        m.call("reclaim_panic", 1)
    assert device.reported == [PVPANIC_PANICKED]  # no kdump kernel loaded: "panicked", not "crash loaded"


@needs_corpus
def test_sunrpc_registers_its_credential_shrinker_and_reclaim_calls_it() -> None:
    k = Kernel("linux", unresolved="trap")
    (sunrpc,) = k.modprobe("sunrpc", KDIR)
    assert [r.name for r in k.service_context.subsystem(Shrinkers).registered.values()] == ["sunrpc_cred"]
    assert k.sysfs.ls("/sys/kernel/sunrpc") == ["rpc-clients", "xprt-switches"]  # kset_create_and_add
    assert drop_slab(k) == 0  # rpcauth_cache_shrink_count: no unused credentials yet
    assert k.unload(sunrpc).leaks == []
    assert k.service_context.subsystem(Shrinkers).registered == {}
    assert not k.sysfs.exists("/sys/kernel/sunrpc")


@pytest.mark.parametrize("toolchain", ["gcc", "clang"])
def test_a_dynamic_cpu_hotplug_state_runs_its_callbacks_for_cpu_0(built, toolchain: str) -> None:
    from kernel_stubs.linux.cpuhp import CPUHP_AP_ONLINE_DYN, HotplugStates

    k = Kernel("linux")
    m = k.load(built[(toolchain, "linux", "reclaim")])
    assert _u32(k, m, "hp_state") == CPUHP_AP_ONLINE_DYN  # the first free state of the dynamic range
    assert (_u32(k, m, "cpus_online"), _u32(k, m, "cpus_down")) == (1, 0)  # startup(0) ran at once
    states = k.service_context.subsystem(HotplugStates).states
    assert states[CPUHP_AP_ONLINE_DYN].name == "reclaim:online"
    k.unload(m)
    assert CPUHP_AP_ONLINE_DYN not in states


@needs_corpus
def test_intel_rapl_msr_finds_no_rapl_msrs_and_takes_back_its_control_type() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("intel_rapl_msr", KDIR)
    calls = [(e.name, e.result) for e in k.trace if e.kind == "service"]
    names = [name for name, _ in calls]
    assert names.index("powercap_register_control_type") < names.index("__cpuhp_setup_state")
    assert ("__cpuhp_setup_state", -19) in calls  # rapl_cpu_online: the package's MSRs read -EIO
    assert ("rdmsrl_safe_on_cpu", -5) in calls
    assert ("powercap_unregister_control_type", 0) in calls
    assert k.sysfs.ls("/sys/class/powercap") == []
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name


def test_powercap_control_type_lifecycle_as_powercap_sys_has_it() -> None:
    from kernel_stubs.linux.powercap import powercap_register_control_type, powercap_unregister_control_type

    k = Kernel("linux")
    ctx = k.service_context
    name = k.memory.alloc(16)
    k.memory.write(name, b"intel-rapl\0")
    control_type = powercap_register_control_type(ctx, 0, name, 0)
    assert control_type < 0xFFFFF000  # not an ERR_PTR: the kernel allocated it
    assert k.sysfs.ls("/sys/class/powercap") == ["intel-rapl"]
    assert powercap_register_control_type(ctx, control_type, name, 0) == (-17) & 0xFFFFFFFF  # ERR_PTR(-EEXIST)
    assert powercap_register_control_type(ctx, 0, 0, 0) == (-22) & 0xFFFFFFFF  # no name: ERR_PTR(-EINVAL)
    assert powercap_unregister_control_type(ctx, control_type) == 0
    assert k.sysfs.ls("/sys/class/powercap") == []
    assert powercap_unregister_control_type(ctx, control_type) == -19
