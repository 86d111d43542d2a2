"""What virtio.ko needs from the built-in kernel (drivers/virtio/virtio_anchor.c, CONFIG_VIRTIO_ANCHOR).

The virtio core itself is the real ``virtio.ko``, ``virtio_ring.ko`` and a
transport (``virtio_mmio.ko``, ``virtio_pci.ko``) loaded from the corpus;
the device models are :mod:`sandbox.devices.virtio`. The anchor is built in:
``virtio_check_mem_acc_cb`` is the function pointer ``virtio_features_ok()``
calls to ask whether the platform requires restricted memory access (a
confidential guest: then VERSION_1 and ACCESS_PLATFORM are mandatory). A
plain PC does not: it points at a function returning false.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("bool virtio_no_restricted_mem_acc(struct virtio_device *dev)")
def virtio_no_restricted_mem_acc(k: Kernel, dev: int) -> int:
    """The default callback: no restriction on a plain PC (false)."""
    return 0


@service("bool virtio_require_restricted_mem_acc(struct virtio_device *dev)")
def virtio_require_restricted_mem_acc(k: Kernel, dev: int) -> int:
    """The callback a confidential-computing platform installs: restriction required (true)."""
    return 1


virtio_check_mem_acc_cb = kernel_variable("virtio_check_mem_acc_cb", 4, 0, pointers={0: "virtio_no_restricted_mem_acc"})
