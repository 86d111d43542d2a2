"""The kernel's built-in activity LED triggers (drivers/leds/trigger/ledtrig-mtd.c, ledtrig-disk.c).

Linux registers the ``mtd``, ``nand-disk``, ``disk-activity``, ``disk-read``
and ``disk-write`` triggers at boot; a driver signals activity and each LED
following the trigger blinks once (30 ms on, 30 ms off). The LEDs of this
sandbox follow only triggers that modules register (leds.py), so no LED
blinks; each activity is counted per trigger instead, readable from Python
as :func:`activity_count` — how often an MTD driver touched its flash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


# EXPORT_SYMBOL_GPL in ledtrig-mtd.c and ledtrig-disk.c
GPL_ONLY = frozenset({"ledtrig_mtd_activity", "ledtrig_disk_activity"})


class ActivityTriggers:
    """How many activity events each built-in trigger has seen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}


def _blink(k: Kernel, *names: str) -> None:
    counts = k.subsystem(ActivityTriggers).counts
    for name in names:
        counts[name] = counts.get(name, 0) + 1


def activity_count(kernel: Kernel, trigger: str) -> int:
    """How many one-shot blinks the built-in trigger ``trigger`` ("mtd", "disk-read", ...) was asked for."""
    return kernel.service_context.subsystem(ActivityTriggers).counts.get(trigger, 0)


@service("void ledtrig_mtd_activity(void)")
def ledtrig_mtd_activity(k: Kernel) -> None:
    """An MTD read, write or erase: one blink of the ``mtd`` trigger."""
    _blink(k, "mtd")


@service("void ledtrig_disk_activity(bool write)")
def ledtrig_disk_activity(k: Kernel, write: int) -> None:
    """A disk transfer: ``disk-activity`` and ``disk-write`` or ``disk-read`` blink once."""
    _blink(k, "disk-activity", "disk-write" if write & 0xFF else "disk-read")
