"""The device contract: what a device model sees of the machine.

A model is attached to a :class:`DeviceHost`, never to the Kernel: it gets
the port bus and the MMIO bus (to claim its registers), interrupt lines (to
raise), and guest memory by address (what a bus-mastering device reads and
writes). A bus model (PCI, a platform bus, i2c) is a device that attaches
other devices to the same host, so buses are models on this contract, not
branches inside the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..machine.ports import PortBus
from .mmio import MmioBus


@dataclass(frozen=True)
class DeviceHost:
    """Ports, MMIO, interrupt lines and guest memory: everything a device may touch."""

    ports: PortBus
    mmio: MmioBus
    #: ``raise_irq(line)`` delivers a line now, or latches it while the guest runs with interrupts off;
    #: returns what the handlers returned (empty when latched).
    raise_irq: Callable[[int], list[Any]]
    #: Guest memory by address (``read``, ``write``, ``read_u32``, ...): what DMA reaches.
    memory: Any
    #: ``add_device(model)`` attaches another model to this host (what a bus does with the
    #: functions plugged into it); ``remove_device(name)`` detaches one.
    add_device: Callable[[Any], Any]
    remove_device: Callable[[str], Any]
    #: Machine time in nanoseconds since boot (the kernel's clock: host-paced or deterministic).
    #: A timer in a model counts from it when read, as hardware counters do.
    now_ns: Callable[[], int] = lambda: 0
    #: ``on_tick(hook, due)`` runs ``hook()`` at every timer tick the machine delivers; ``due()``
    #: says at which tick (counted since boot, ``now_ns() // tick_ns``) the model next has work, or
    #: None, so a long idle stretch may pass many ticks in one step (a model's deadline is kept):
    #: the first tick at or after a deadline is ``-(-deadline_ns // tick_ns)``.
    on_tick: Callable[..., None] = lambda hook, due=None: None
    #: Nanoseconds per timer tick.
    tick_ns: int = 4_000_000
