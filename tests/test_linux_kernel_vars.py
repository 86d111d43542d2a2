"""Kernel variables real modules read at init, with a plain PC's values (kernel_stubs/linux/kernel_vars.py).

dm_bufio sizes its cache from _totalram_pages, _totalhigh_pages and the
vmalloc area (high_memory, __FIXADDR_TOP); bttv checks pci_pci_problems
for chipset quirks; viafb asks olpc_platform_info whether it runs on an
OLPC XO. Each of their chains used to stop at the first of these reads.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.kernel_vars import FIXADDR_TOP
from sandbox import GuestFault, Kernel
from sandbox.machine import address_map as amap
from tests.linux_corpus import KDIR, needs_corpus


def _u32(k: Kernel, name: str) -> int:
    return k.memory.read_u32(k.export_address(name))


def test_values_are_those_of_a_pc_without_the_feature() -> None:
    k = Kernel("linux")
    assert _u32(k, "__FIXADDR_TOP") == FIXADDR_TOP == 0xFFFFF000
    assert _u32(k, "pci_pci_problems") == 0
    assert k.memory.read(k.export_address("olpc_platform_info"), 8) == bytes(8)  # OLPC_F_PRESENT clear
    assert _u32(k, "_totalhigh_pages") == 0
    assert _u32(k, "high_memory") == amap.LOWMEM_END
    assert _u32(k, "sysctl_vfs_cache_pressure") == 100


def test_empty_zero_page_is_a_read_only_aligned_page_of_zeros() -> None:
    k = Kernel("linux")
    page = k.export_address("empty_zero_page")
    assert page % 4096 == 0
    assert k.memory.read(page, 4096) == bytes(4096)
    with pytest.raises(GuestFault, match="not permitted in kernel read-only data"):
        k.memory.write(page + 100, b"\1")
    assert k.memory.read(page, 4096) == bytes(4096)


@needs_corpus
@pytest.mark.parametrize("name", ["dm_bufio", "dm-snapshot", "dm-verity"])
def test_dm_bufio_and_its_users_load_with_their_chain(name: str) -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe(name, KDIR)
    assert "dm_bufio" in [m.name for m in modules]
    for m in reversed(modules):
        assert k.unload(m).leaks == [], m.name


@needs_corpus
def test_bttv_checks_the_chipset_quirks_and_bt878_loads_on_it() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("bt878", KDIR)
    assert [m.name for m in modules][-2:] == ["bttv", "bt878"]
    assert "bttv: driver version 0.9.19 loaded" in k.console
    assert "Host bridge needs" not in k.console  # no Triton/VIA quirk bit set
    assert "bttv and your chipset may not work together" not in k.console  # no PCIPCI_FAIL


@needs_corpus
def test_viafb_is_not_on_an_olpc() -> None:
    k = Kernel("linux", unresolved="trap")
    modules = k.modprobe("viafb", KDIR)
    assert modules[-1].name == "viafb"
    assert "VIA Graphics Integration Chipset framebuffer 2.4 initializing" in k.console
