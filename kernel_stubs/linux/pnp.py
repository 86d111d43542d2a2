"""Plug and Play (ISA PnP, PnP BIOS) as Linux 6.1 exports it, on a machine without PnP devices.

The emulated PC has no ISA PnP cards and no PnP BIOS devices, so
``isapnp_present`` is 0 and ``pnp_find_dev`` finds nothing: drivers such
as ``ne`` then probe their legacy ports. The services that act on a
``struct pnp_dev`` can only be reached with a device no lookup returned,
which is reported as the driver bug it would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def _no_device(k: Kernel, what: str, dev: int) -> int:
    raise GuestFault("bad-pnp-dev", f"{what} of {dev:#x} at {k.symbolizer.short(k.current_caller)}: not a PnP "
                     "device (this machine has none; pnp_find_dev returns NULL)", pc=k.current_caller, address=dev)


@service("int isapnp_present(void)")
def isapnp_present(k: Kernel) -> int:
    """Whether ISA PnP cards were found at boot: no."""
    return 0


@service("struct pnp_dev *pnp_find_dev(struct pnp_card *card, unsigned short vendor, unsigned short function, "
         "struct pnp_dev *from)")
def pnp_find_dev(k: Kernel, card: int, vendor: int, function: int, start: int) -> int:
    """The next PnP device with these ids: none exist."""
    return 0


@service("int pnp_device_attach(struct pnp_dev *pnp_dev)")
def pnp_device_attach(k: Kernel, dev: int) -> int:
    """Claim a PnP device for a driver."""
    return _no_device(k, "pnp_device_attach", dev)


@service("void pnp_device_detach(struct pnp_dev *pnp_dev)")
def pnp_device_detach(k: Kernel, dev: int) -> None:
    """Release a claimed PnP device."""
    _no_device(k, "pnp_device_detach", dev)


@service("int pnp_activate_dev(struct pnp_dev *dev)")
def pnp_activate_dev(k: Kernel, dev: int) -> int:
    """Configure and enable a PnP device's resources."""
    return _no_device(k, "pnp_activate_dev", dev)


@service("int pnp_start_dev(struct pnp_dev *dev)")
def pnp_start_dev(k: Kernel, dev: int) -> int:
    """Enable a PnP device."""
    return _no_device(k, "pnp_start_dev", dev)


@service("int pnp_stop_dev(struct pnp_dev *dev)")
def pnp_stop_dev(k: Kernel, dev: int) -> int:
    """Disable a PnP device."""
    return _no_device(k, "pnp_stop_dev", dev)


@service("struct resource *pnp_get_resource(struct pnp_dev *dev, unsigned long type, unsigned int num)")
def pnp_get_resource(k: Kernel, dev: int, kind: int, num: int) -> int:
    """A PnP device's resource."""
    return _no_device(k, "pnp_get_resource", dev)
