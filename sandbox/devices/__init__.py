"""Hardware a driver talks to, and the /dev nodes Python can open.

``Device`` is the base class of emulated hardware, attached to a
:class:`~sandbox.devices.host.DeviceHost` (ports, MMIO, interrupt lines,
guest memory, machine time). The public model classes, by bus:

- PCI: ``PciFunction`` (configuration space, ``Bar``\\s, INTx and MSI,
  bus-master DMA), ``PciBus`` (``Kernel.pci``);
- platform: ``PlatformBus`` (``Kernel.platform``), ``Resource``;
- virtio: ``VirtioDevice`` (features, config space, queues), the
  ``VirtioMmio``/``VirtioPci`` transports, ``VirtioRng``, ``VirtioInput``;
- I2C and SPI: ``I2cClient``, ``RegisterChip``, ``I2cBus``
  (``Kernel.i2c``); ``SpiChip``, ``SpiRegisterChip``, ``SpiBus`` (``Kernel.spi``);
- the PC's own: ``Uart16550``, ``I8042``, ``Pit8254``; network cards
  ``Ne2000Pci``, ``Ne2000Isa``, ``Rtl8139``; the watchdog chips ``Wdt501``
  and ``Sch311x``.

``DeviceSet`` is ``Kernel.devices``; ``chardev`` holds character device nodes.
Every model's state is part of ``Kernel.snapshot()``.
"""

from .device import Device, RegisterName
from .host import DeviceHost
from .i2c import I2cBus, I2cClient, RegisterChip
from .i8042 import I8042
from .ne2000 import Ne2000Isa, Ne2000Pci
from .pci import Bar, DmaError, PciBus, PciFunction
from .pit8254 import Pit8254
from .platform import PlatformBus, Resource
from .rtl8139 import Rtl8139
from .sch311x import Sch311x
from .spi import SpiBus, SpiChip, SpiRegisterChip
from .uart16550 import Uart16550
from .virtio import VirtioDevice, VirtioInput, VirtioMmio, VirtioPci, VirtioRng
from .wdt501 import Wdt501

__all__ = [
    "I8042",
    "Bar",
    "Device",
    "DeviceHost",
    "DmaError",
    "I2cBus",
    "I2cClient",
    "Ne2000Isa",
    "Ne2000Pci",
    "PciBus",
    "PciFunction",
    "Pit8254",
    "PlatformBus",
    "RegisterChip",
    "RegisterName",
    "Resource",
    "Rtl8139",
    "Sch311x",
    "SpiBus",
    "SpiChip",
    "SpiRegisterChip",
    "Uart16550",
    "VirtioDevice",
    "VirtioInput",
    "VirtioMmio",
    "VirtioPci",
    "VirtioRng",
    "Wdt501",
]
