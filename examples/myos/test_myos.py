"""The myos example's tests: a hobby kernel's drivers through the API, the CLI and pytest.

Run from the repository: ``python3 -m pytest -q examples/myos`` (``-n 2`` works too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from myos_profile import MYOS

import sandbox
from sandbox import Kernel, LoadError, ServiceError
from sandbox.faultinject import explore_init_failures
from sandbox.testing import assert_called, assert_console, assert_no_leaks

HERE = Path(__file__).resolve().parent


def test_netdrv_probes_counts_interrupts_and_is_removed(myos_drivers) -> None:
    k = Kernel(MYOS, memcheck=True)
    netdrv = k.load(myos_drivers["netdrv"])
    assert_console(k, r"^netdrv: probed$")
    assert_console(k, r"^myos: netdrv on IRQ 10$")
    assert_called(k, "myos_alloc", args=(256,), times=1)
    k.raise_irq(10)
    k.raise_irq(10)
    assert netdrv.call("netdrv_packets") == 2
    report = k.unload(netdrv)
    assert_no_leaks(report)
    assert k.console.endswith("netdrv: removed\n")
    assert_called(k, "myos_free", times=2)


def test_shared_object_exports_its_globals_not_its_entry_point(myos_drivers) -> None:
    k = Kernel(MYOS)
    blinker = k.load(myos_drivers["blinker"])
    assert k.export_owner("blinker_toggles") == "blinker"  # no __ksymtab: the global dynamic symbols
    assert k.export_owner("driver_entry") is None  # the entry point is the module's, not an export
    k.raise_irq(11)
    k.raise_irq(11)
    k.raise_irq(11)
    assert blinker.call("blinker_toggles") == 3
    assert_no_leaks(k.unload(blinker))
    assert k.console.endswith("blinker: off (was on)\n")


def test_two_drivers_with_the_same_entry_point_side_by_side(myos_drivers) -> None:
    k = Kernel(MYOS)
    netdrv = k.load(myos_drivers["netdrv"])
    blinker = k.load(myos_drivers["blinker"])
    k.raise_irq(11)
    assert (netdrv.call("netdrv_packets"), blinker.call("blinker_toggles")) == (0, 1)
    k.raise_irq(10)
    assert (netdrv.call("netdrv_packets"), blinker.call("blinker_toggles")) == (1, 1)


def test_a_failed_allocation_fails_the_load_cleanly(myos_drivers) -> None:
    k = Kernel(MYOS)
    k.inject_failure("myos_alloc", nth=2)  # the ring buffer: MYOS says myos_alloc fails with NULL
    with pytest.raises(LoadError, match=r"driver_entry of netdrv returned -12 \(-ENOMEM\)"):
        k.load(myos_drivers["netdrv"])
    assert k.modules == [] and k.irqs.actions(10) == []


def test_every_failure_point_of_init_fails_cleanly(myos_drivers) -> None:
    points = explore_init_failures(lambda: Kernel(MYOS), myos_drivers["netdrv"])
    assert [(p.service, p.nth, p.outcome) for p in points] == [
        ("myos_alloc", 1, "failed-cleanly"), ("myos_alloc", 2, "failed-cleanly"),
        ("myos_register_driver", 1, "failed-cleanly"),
    ]
    assert all(p.ok for p in points)


def test_the_kernels_own_printk_collides_with_nothing() -> None:
    k = Kernel(MYOS)
    assert k.export_owner("printk") is None and k.export_owner("kmalloc") is None
    assert k.export_owner("myos_log") == "kernel"


@pytest.mark.sandbox(profile="myos_profile.py:MYOS", unresolved="trap", memcheck=False)
def test_the_fixture_takes_the_profile_from_a_marker(kernel, myos_drivers) -> None:
    assert (kernel.profile.name, kernel.unresolved) == ("myos", "trap")
    netdrv = kernel.load(myos_drivers["netdrv"])
    # myos.h declares myos_dma_map; nothing implements it: calling it names it and where it is declared.
    with pytest.raises(ServiceError, match=r"^kernel service myos_dma_map is declared in myos\.h:32 but not implemented "
                                           r"by the myos profile \(called from netdrv:netdrv_start_dma\+0x"):
        netdrv.call("netdrv_start_dma")


def test_the_command_line_takes_the_profile_file(myos_drivers) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(sandbox.__file__).resolve().parent.parent))
    result = subprocess.run(  # from the repository's root, as the README shows it
        [sys.executable, "-m", "sandbox", "run", str(myos_drivers["netdrv"]), str(myos_drivers["blinker"]),
         "--profile", "examples/myos/myos_profile.py:MYOS", "--irq", "10", "--irq", "11", "--irq", "11",
         "--call", "netdrv_packets", "--call", "blinker_toggles", "--trace", "none"],
        capture_output=True, text=True, env=env, cwd=HERE.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "netdrv:netdrv_packets() = 1" in result.stdout
    assert "blinker:blinker_toggles() = 2" in result.stdout
    assert "blinker: off\n" in result.stdout


def test_info_checks_a_driver_against_the_profile(myos_drivers) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(sandbox.__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-m", "sandbox", "info", str(myos_drivers["netdrv"]),
                             "--profile", "examples/myos/myos_profile.py:MYOS"],
                            capture_output=True, text=True, env=env, cwd=HERE.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "against profile myos: every import resolves; declared but not implemented: myos_dma_map" in result.stdout
