"""A corpus run gives each module the kernel as booted: what one module leaves behind cannot fail the next.

Two compiled power-off drivers each claim the kernel's ``pm_power_off``
hook, and, as real ones do, refuse with -EBUSY when another handler holds
it. The first one's exit "forgets" to give it back (a driver bug the run
should not pass on to the next module), so in one kernel without the
restore the second one's init would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError
from sandbox.corpus import CorpusResult, load_corpus, regressions

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'
SOURCE = VERMAGIC + r"""
extern void (*pm_power_off)(void);
static void off(void) { }
int init_module(void) { if (pm_power_off) return -16; pm_power_off = off; return 0; }
void cleanup_module(void) { }
"""


def test_a_module_that_keeps_a_kernel_hook_does_not_fail_the_next(compile_c: Callable[..., Path],
                                                                   tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("a_poweroff", "b_poweroff"):
        compile_c(SOURCE, name, "-mregparm=3").rename(tree / f"{name}.ko")
    result = load_corpus(tree, run_init=True)
    assert (result.files, result.init_ok, result.failures) == (2, 2, {})

    # The same two in one kernel by hand: the second is refused, which is what the restore keeps out.
    k = Kernel("linux")
    k.unload(k.load(str(tree / "a_poweroff.ko")))
    with pytest.raises(LoadError, match=r"b_poweroff returned -16 \(-EBUSY\)"):
        k.load(str(tree / "b_poweroff.ko"))


PLAIN_DRIVER = VERMAGIC + r"""
__attribute__((section(".modinfo"), used)) static const char license[] = "license=GPL";
struct bus_type;
extern struct bus_type platform_bus_type;
int driver_register(void *drv);
int __platform_driver_register(void *drv, void *owner);
void platform_driver_unregister(void *drv);
/* struct device_driver: name at 0, bus at 4, the rest zero */
static void *plain[32] = { "plain", &platform_bus_type };
/* struct platform_driver: its struct device_driver at 20 */
static void *proper[48] = { 0, 0, 0, 0, 0, "proper" };
int init_module(void)
{
	int err = __platform_driver_register(proper, 0);	/* the platform core now knows the bus */

	if (err)
		return err;
	platform_driver_unregister(proper);
	err = driver_register(plain);
	return err ? err : -19;
}
"""


def test_a_driver_registered_on_platform_with_driver_register_is_undone_when_init_fails(
        compile_c: Callable[..., Path]) -> None:
    """ibmaem's shape: driver_register() straight onto the platform bus, then init fails. The platform core
    never saw that driver, so the driver core undoes and reports it; before, it stayed and the next module
    with the name got -EBUSY (and a later unregister read the freed module)."""
    obj = compile_c(PLAIN_DRIVER, "plain", "-mregparm=3")
    k = Kernel("linux")
    for _ in range(2):  # the second load meets the kernel as the first one left it
        with pytest.raises(LoadError, match=r"returned -19 \(-ENODEV\)"):
            k.load(str(obj))
    assert [e.fields["what"] for e in k.trace if e.kind == "leak"] == ["driver 'plain' still registered"] * 2


def test_regressions_are_sorted_by_cause() -> None:
    alone, deps = CorpusResult(), CorpusResult()
    alone.failures = {"fails-anyway.ko": "init-failed: -19"}
    deps.failures = {
        "fails-anyway.ko": "init-failed: -19",  # not a regression: it fails alone too
        "hid-x.ko": "hid-x.ko: dependency-failed: dependency wmi: wmi.ko: init-failed: init_module of wmi "
                    "returned -19 (-ENODEV)",
        "ath.ko": "ath.ko: dependency-failed: dependency cfg80211: call to unresolved kernel symbol "
                  "genl_register_family from cfg80211:init+0x5 (bound to a trap)",
        "ahci.ko": "ahci.ko: dependency-failed: dependency scsi_mod: call to unresolved kernel symbol "
                   "__netlink_kernel_create from scsi_mod:init+0x9",
        "x.ko": "x.ko: dependency-failed: dependency y: read of unmapped memory at 0x10",
        "own.ko": "init-failed: init_module of own returned -12 (-ENOMEM)",
    }
    kinds, services = regressions(alone, deps)
    assert kinds == {"a dependency refuses on this machine": 1, "a dependency needs a missing service": 2,
                     "a dependency faults": 1, "its own init": 1}
    assert services == {"genl_register_family": 1, "__netlink_kernel_create": 1}
