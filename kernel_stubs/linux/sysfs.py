"""sysfs and kobjects (fs/sysfs, lib/kobject.c), Linux 6.1: the hooks the driver core calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def device_added(k: Kernel, dev: int) -> int:
    """device_add's sysfs part: the device's directory and attribute groups."""
    return 0


def device_removed(k: Kernel, dev: int) -> None:
    """device_del's sysfs part."""


def driver_bound(k: Kernel, dev: int, drv: int) -> None:
    """really_probe succeeded: the driver's dev_groups are made."""


def driver_unbinding(k: Kernel, dev: int, drv: int) -> None:
    """The driver is going: its dev_groups go first."""
