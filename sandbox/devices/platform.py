"""Platform devices: the devices a machine's firmware or board code describes, not found by probing.

On a PC, arch code and firmware declare devices that no bus enumerates (the
PC speaker, a Super-I/O chip's functions, ...). A profile's platform core
(Linux's ``platform_bus_type`` in ``kernel_stubs/linux/platform_bus.py``)
turns each description here into its own structure and binds drivers to
it. The user describes them from Python, optionally with the model that
answers at the resources: ``k.platform.add("pcspkr")``,
``k.platform.add("virtio-mmio", mem=[(base, 0x200)], irq=[5], model=dev)``.

The bus is a device on the :class:`~sandbox.devices.host.DeviceHost` with no
registers of its own, so its list is saved and restored with snapshots like
any model's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .device import Device

PLATFORM_DEVID_NONE = -1  # "name" alone, as Linux names a device with no id


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource of a platform device: ``kind`` is "io", "mem" or "irq"; [start, start+size)."""

    kind: str
    start: int
    size: int = 1
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("io", "mem", "irq", "dma"):
            raise ValueError(f"resource kind must be io, mem, irq or dma, not {self.kind!r}")
        if self.size < 1:
            raise ValueError(f"a {self.kind} resource needs a size of at least 1, not {self.size}")

    @property
    def end(self) -> int:
        """The last address (Linux's inclusive ``end``)."""
        return self.start + self.size - 1


@dataclass(slots=True)
class PlatformDeviceSpec:
    """A platform device as described from the host side."""

    name: str
    id: int = PLATFORM_DEVID_NONE
    resources: tuple[Resource, ...] = ()
    data: bytes = b""  # platform_data, copied into guest memory for the driver
    model: Device | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def device_name(self) -> str:
        """What Linux calls it: ``name.id``, or ``name`` when the id is PLATFORM_DEVID_NONE."""
        return self.name if self.id == PLATFORM_DEVID_NONE else f"{self.name}.{self.id}"


class PlatformBus(Device):
    """The described platform devices, in the order added, and who wants to hear of new ones."""

    name = "platform"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.specs: list[PlatformDeviceSpec] = []
        self.on_add: list[Callable[[PlatformDeviceSpec], None]] = []
        self.on_remove: list[Callable[[PlatformDeviceSpec], None]] = []

    def add(self, name: str, id: int = PLATFORM_DEVID_NONE, *, io: Iterable[tuple[int, int]] = (),
            mem: Iterable[tuple[int, int]] = (), irq: Iterable[int] = (), resources: Iterable[Resource] = (),
            data: bytes = b"", model: Device | None = None) -> PlatformDeviceSpec:
        """Describe a platform device (``io``/``mem``: (start, size) pairs) and attach its ``model``."""
        described = [*(Resource("io", s, n) for s, n in io), *(Resource("mem", s, n) for s, n in mem),
                     *(Resource("irq", line) for line in irq), *resources]
        spec = PlatformDeviceSpec(name, id, tuple(described), bytes(data), model)
        if any(s.device_name == spec.device_name for s in self.specs):
            raise ValueError(f"a platform device named {spec.device_name!r} is already described")
        if model is not None and self.host is not None and model.host is None:
            self.host.add_device(model)
        self.specs.append(spec)
        for listener in list(self.on_add):
            listener(spec)
        return spec

    def remove(self, device_name: str) -> PlatformDeviceSpec:
        """Withdraw a described device (listeners first: its driver is unbound before it goes)."""
        spec = next((s for s in self.specs if s.device_name == device_name), None)
        if spec is None:
            raise KeyError(f"no platform device {device_name!r} (described: "
                           f"{', '.join(s.device_name for s in self.specs) or 'none'})")
        for listener in list(self.on_remove):
            listener(spec)
        self.specs.remove(spec)
        if spec.model is not None and spec.model.host is not None and self.host is not None:
            self.host.remove_device(spec.model.name)
        return spec
