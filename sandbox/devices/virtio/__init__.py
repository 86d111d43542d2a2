"""virtio device models: the virtio-mmio transport, split virtqueues, and devices on them.

- :class:`VirtioDevice`: the base of a model (features, status, config space, queues, handlers);
- :class:`VirtioMmio`: the virtio-mmio register window (version 2) in front of a model;
  :func:`add_virtio_mmio` describes one on the platform bus;
- :class:`VirtioPci`: the modern virtio-pci function (capabilities, common config, ISR, notify) for ``k.pci.add``;
- :class:`SplitVirtqueue` and :class:`Chain`: the device side of a split ring;
- :class:`VirtioRng`: virtio-rng, fed by bytes or a callable.
"""

from . import constants
from .device import VirtioDevice
from .mmio import VirtioMmio, add_virtio_mmio
from .pci import VirtioPci
from .rng import VirtioRng
from .virtqueue import Chain, SplitVirtqueue, VirtqueueError

__all__ = ["Chain", "SplitVirtqueue", "VirtioDevice", "VirtioMmio", "VirtioPci", "VirtioRng", "VirtqueueError",
           "add_virtio_mmio", "constants"]
