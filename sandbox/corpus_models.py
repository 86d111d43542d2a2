"""The hardware a corpus run's kernel has: one of each device model the project ships.

Without devices, a driver's init can only register itself on a bus and
wait (the "bus driver only" inits); with the models attached, the drivers
that match one probe against it, as on a PC that has that hardware. Each
entry adds one model through the public bus APIs (``k.pci.add``,
``k.platform.add``, ``k.devices.add``, ...); an entry whose bus this kernel
lacks is left out. ``python3 -m sandbox corpus --models`` uses the set, and
its figures count the inits whose probe ran against a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import SandboxError


def _wdt501(k: Any) -> None:
    from .devices.wdt501 import Wdt501

    k.pci.add(Wdt501())


def _sch311x(k: Any) -> None:
    from .devices.sch311x import Sch311x

    k.devices.add(Sch311x())


def _pcspkr(k: Any) -> None:
    k.platform.add("pcspkr")  # the PC speaker arch code describes; it plays on the default 8254 (pit)


def _virtio_rng_mmio(k: Any) -> None:
    from .devices.virtio import VirtioRng, add_virtio_mmio

    add_virtio_mmio(k.platform, VirtioRng(lambda n: bytes(n), name="virtio-rng-mmio", keep=0), irq=7)


def _virtio_rng_pci(k: Any) -> None:
    from .devices.virtio import VirtioPci, VirtioRng

    k.pci.add(VirtioPci(VirtioRng(lambda n: bytes(n), name="virtio-rng-pci", keep=0)))


def _ne2000_pci(k: Any) -> None:
    from .devices.ne2000 import Ne2000Pci

    k.pci.add(Ne2000Pci(mac=bytes.fromhex("525400000001")))


def _rtl8139(k: Any) -> None:
    from .devices.rtl8139 import Rtl8139

    k.pci.add(Rtl8139(mac=bytes.fromhex("525400000002")))


def _i2c_sensors(k: Any) -> None:
    from .devices.i2c_sensors import Jc42, Lm73, Lm75, Tmp102

    for model, addr, name in ((Lm75(), 0x48, "lm75"), (Tmp102(), 0x49, "tmp102"), (Lm73(), 0x4A, "lm73"),
                              (Jc42(), 0x18, "jc42")):
        k.i2c.add(model, addr=addr, name=name)


# (what it is, how to attach it): the project's models a corpus kernel carries.
MODELS: list[tuple[str, Callable[[Any], None]]] = [
    ("PCI-WDT501 watchdog card (wdt_pci)", _wdt501),
    ("SMSC SCH311x Super-I/O at 0x2e (sch311x_wdt)", _sch311x),
    ("PC speaker platform device on the 8254 (pcspkr)", _pcspkr),
    ("virtio-rng behind virtio-mmio, IRQ 7 (virtio_mmio, virtio-rng)", _virtio_rng_mmio),
    ("virtio-rng on PCI, modern virtio-pci (virtio_pci, virtio-rng)", _virtio_rng_pci),
    ("NE2000 PCI, a Realtek RTL8029 (ne2k-pci)", _ne2000_pci),
    ("Realtek RTL8139C (8139too)", _rtl8139),
    ("i2c-0 with LM75, TMP102, LM73 and JC-42.4 sensors (lm75, tmp102, lm73, jc42)", _i2c_sensors),
]


def attach_models(k: Any) -> list[str]:
    """Attach every model of :data:`MODELS` to ``k``; the names of those attached."""
    attached = []
    for name, attach in MODELS:
        try:
            attach(k)
        except (SandboxError, ValueError, KeyError):
            continue  # this kernel lacks the bus, or the ports are taken
        attached.append(name)
    return attached
