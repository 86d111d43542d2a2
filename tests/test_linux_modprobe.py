"""``k.modprobe(name, tree)``: a module with its dependency chain, as modprobe loads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError
from tests.linux_corpus import KDIR, ko, needs_corpus

pytestmark = needs_corpus
ROOT = Path(__file__).resolve().parent.parent


def test_modprobe_loads_dependencies_first() -> None:
    k = Kernel("linux", unresolved="trap")
    loaded = k.modprobe("raid10", KDIR)
    assert [m.name for m in loaded] == ["md_mod", "raid10"]
    assert "md_mod" in k.module("raid10").uses
    assert k.modprobe("raid10", KDIR) == []  # already there: nothing to do


def test_hid_generic_registers_on_the_bus_hid_ko_registered() -> None:
    """hid-generic's driver goes on the real hid.ko's bus through the generic driver core (bus_for_each_drv and all)."""
    from kernel_stubs.linux.driver_core import DriverCore

    k = Kernel("linux", unresolved="trap")
    assert [m.name for m in k.modprobe("hid-generic", KDIR)] == ["hid", "hid_generic"]
    core = k.subsystem(DriverCore)
    assert [(b.name, b.owner) for b in core.buses.values()] == [("hid", "hid")]
    assert [(d.name, d.owner) for d in core.drivers.values()] == [("hid-generic", "hid_generic")]


def test_modules_dep_is_used_when_present(tmp_path: Path) -> None:
    tree = tmp_path / "lib" / "modules" / "6.1.0-test"
    (tree / "kernel" / "md").mkdir(parents=True)
    for name in ("md-mod.ko", "raid10.ko"):
        (tree / "kernel" / "md" / name).symlink_to(ko(f"drivers/md/{name}"))
    (tree / "modules.dep").write_text("kernel/md/raid10.ko: kernel/md/md-mod.ko\nkernel/md/md-mod.ko:\n")
    k = Kernel("linux", unresolved="trap")
    assert [m.name for m in k.modprobe("raid10", tree)] == ["md_mod", "raid10"]
    with pytest.raises(LoadError, match="module nosuch not found"):
        k.modprobe("nosuch", tree)


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "kernel").mkdir(parents=True)
    for name in ("md-mod.ko", "raid10.ko"):
        (tree / "kernel" / name).symlink_to(ko(f"drivers/md/{name}"))
    (tree / "modules.dep").write_text("kernel/raid10.ko: kernel/md-mod.ko\nkernel/md-mod.ko: kernel/raid10.ko\n")
    with pytest.raises(LoadError, match=r"cycle: raid10 -> md_mod -> raid10"):
        Kernel("linux", unresolved="trap").modprobe("raid10", tree)


def test_cli_tree_option_takes_module_names() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", "--profile", "linux", "--tree", str(KDIR),
                             "crc8", "--trace", "text"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "load crc8" in result.stdout


def test_soft_dependencies_load_first_and_resolve_aliases() -> None:
    """libcrc32c says ``softdep=pre: crc32c``: crc32c is an alias (MODULE_ALIAS_CRYPTO) of crc32c_generic
    and crc32c-intel, which modprobe loads first, so libcrc32c's crypto_alloc_shash("crc32c") finds one."""
    k = Kernel("linux", unresolved="trap")
    names = [m.name for m in k.modprobe("libcrc32c", KDIR)]
    assert names[-1] == "libcrc32c" and "crc32c_generic" in names[:-1]
    m = k.module("libcrc32c")
    data = k.memory.alloc(9)
    k.memory.write(data, b"123456789")
    # The CRC-32C check value (RFC 3720's Castagnoli polynomial): 0xE3069283.
    assert m.call("crc32c", 0xFFFFFFFF, data, 9, returns="uint") ^ 0xFFFFFFFF == 0xE3069283



def test_soft_dependency_names_resolve_as_modprobe_resolves_them() -> None:
    from sandbox.depends import ModuleTree

    tree = ModuleTree.of(KDIR)
    assert tree.softdeps("pcengines-apuv2")[0] == ["gpio_amd_fch", "leds_gpio", "gpio_keys_polled"]
    assert tree.softdeps("ipmi_msghandler") == ([], ["ipmi_devintf"])  # post: loaded after it
    assert tree.resolve("platform:leds-gpio") == ["leds_gpio"]  # a modalias, "-" and "_" alike
    assert tree.resolve("crypto-crc32c") == ["crc32c_generic", "crc32c_intel"]
    assert tree.resolve("md5") == []  # built into Debian's kernel: no module to load
