"""SPI buses as device models: controllers owned by the host and the chips on their chip selects.

An SPI message asserts one chip select, clocks bytes out on MOSI while the
chip clocks bytes back on MISO (full duplex: every byte sent is a byte
received), and releases the select at the end, or between transfers that
ask for a ``cs_change``. There is no acknowledgement: a select with no
chip behind it reads the bus floating high (0xFF).

- :class:`SpiChip` is the base of a chip: :meth:`~SpiChip.select`,
  :meth:`~SpiChip.exchange` (the byte in, the byte out) and
  :meth:`~SpiChip.deselect`.
- :class:`SpiController` is one bus (Linux's ``spi_controller`` of bus
  number ``bus_num``) with ``num_chipselect`` selects.
- :class:`SpiBus` is ``k.spi``: ``add(model, cs=0, modalias="lm70")``
  describes a device as board code's ``spi_board_info`` does, and the
  profile binds the driver whose id table (or name) is the modalias.

Controllers and chips are :class:`~sandbox.devices.device.Device` s on the
host (no ports), so snapshots keep each one's state and the user's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .device import Device

SPI_CPHA, SPI_CPOL, SPI_CS_HIGH, SPI_LSB_FIRST, SPI_3WIRE = 0x01, 0x02, 0x04, 0x08, 0x10


class SpiChip(Device):
    """A chip on a chip select. Override :meth:`exchange` (and select/deselect for framing)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.controller: SpiController | None = None
        self.chip_select: int | None = None

    def select(self) -> None:
        """Chip select asserted: a new frame starts."""

    def exchange(self, byte: int) -> int:
        """One byte clocked: ``byte`` arrived on MOSI; return the byte driven on MISO."""
        return 0xFF

    def deselect(self) -> None:
        """Chip select released: the frame ends."""


@dataclass(slots=True)
class SpiSegment:
    """One transfer of a message: ``tx`` bytes to send (None: the controller sends zeros), ``length``
    bytes clocked, ``rx`` filled in with what came back, ``cs_change`` to pulse the select after it."""

    length: int
    tx: bytes | None = None
    rx: bytes = b""
    cs_change: bool = False


class SpiController(Device):
    """One SPI bus: chips by chip select, the fastest clock it can make, how many selects it has."""

    def __init__(self, bus_num: int, num_chipselect: int = 4, max_speed_hz: int = 50_000_000) -> None:
        super().__init__(f"spi{bus_num}")
        self.bus_num = bus_num
        self.num_chipselect = num_chipselect
        self.max_speed_hz = max_speed_hz
        self.mode_bits = SPI_CPHA | SPI_CPOL | SPI_CS_HIGH | SPI_LSB_FIRST | SPI_3WIRE
        self.chips: dict[int, SpiChip] = {}
        self.messages = 0

    def transfer(self, chip_select: int, segments: list[SpiSegment]) -> int:
        """Run one message on ``chip_select``: each segment's bytes exchanged in order; bytes clocked."""
        self.messages += 1
        chip = self.chips.get(chip_select)
        clocked = 0
        if chip is not None:
            chip.select()
        try:
            for index, segment in enumerate(segments):
                out = segment.tx if segment.tx is not None else bytes(segment.length)
                segment.rx = bytes(chip.exchange(b) & 0xFF for b in out[:segment.length]) if chip is not None \
                    else b"\xff" * segment.length
                clocked += segment.length
                if segment.cs_change and index + 1 < len(segments) and chip is not None:
                    chip.deselect()
                    chip.select()
        finally:
            if chip is not None:
                chip.deselect()
        return clocked


@dataclass(slots=True)
class SpiDeviceSpec:
    """A device the host described on a controller: what ``spi_new_device`` gets from board info."""

    controller: SpiController
    chip_select: int
    modalias: str
    model: SpiChip
    mode: int = 0
    max_speed_hz: int = 1_000_000
    irq: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class SpiBus(Device):
    """The host's SPI controllers (``k.spi``) and the devices described on them, with listeners."""

    name = "spi"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.controllers: dict[int, SpiController] = {}
        self.specs: list[SpiDeviceSpec] = []
        self.on_controller: list[Callable[[SpiController], None]] = []
        self.on_add: list[Callable[[SpiDeviceSpec], None]] = []
        self.on_remove: list[Callable[[SpiDeviceSpec], None]] = []

    def add_controller(self, bus_num: int | None = None, num_chipselect: int = 4,
                       max_speed_hz: int = 50_000_000) -> SpiController:
        """A new controller (``bus_num``: the lowest free one unless given); returns it."""
        if self.host is None:
            raise ValueError("the SPI bus is not attached to a kernel")
        if bus_num is None:
            bus_num = next(n for n in range(len(self.controllers) + 1) if n not in self.controllers)
        if bus_num in self.controllers or bus_num < 0:
            raise ValueError(f"SPI bus number {bus_num} is taken or invalid")
        controller = SpiController(bus_num, num_chipselect, max_speed_hz)
        self.host.add_device(controller)
        self.controllers[bus_num] = controller
        for listener in list(self.on_controller):
            listener(controller)
        return controller

    def controller(self, which: SpiController | int | None) -> SpiController:
        """A controller by object or bus number; None: the first (made if there is none)."""
        if isinstance(which, SpiController):
            return which
        if which is None:
            return self.controllers[min(self.controllers)] if self.controllers else self.add_controller()
        try:
            return self.controllers[which]
        except KeyError:
            raise KeyError(f"no host SPI controller {which} (have: {sorted(self.controllers) or 'none'})") from None

    def add(self, model: SpiChip, modalias: str, cs: int = 0, controller: SpiController | int | None = None, *,
            mode: int = 0, max_speed_hz: int = 1_000_000, irq: int = 0) -> SpiDeviceSpec:
        """Wire ``model`` to chip select ``cs`` and describe it as device ``modalias`` (what drivers match)."""
        bus = self.controller(controller)
        if not 0 <= cs < bus.num_chipselect:
            raise ValueError(f"{bus.name} has chip selects 0-{bus.num_chipselect - 1}, not {cs}")
        if cs in bus.chips:
            raise ValueError(f"{bus.name}: chip select {cs} is taken by {bus.chips[cs].name}")
        if not modalias or len(modalias.encode()) >= 32:
            raise ValueError(f"SPI modalias {modalias!r} must be 1-31 bytes")
        if type(model).name == model.name:
            model.name = f"spi{bus.bus_num}.{cs}"
        if self.host is not None and model.host is None:
            self.host.add_device(model)
        model.controller, model.chip_select = bus, cs
        bus.chips[cs] = model
        spec = SpiDeviceSpec(bus, cs, modalias, model, mode, max_speed_hz, irq)
        self.specs.append(spec)
        for listener in list(self.on_add):
            listener(spec)
        return spec

    def remove(self, model: SpiChip) -> None:
        """Take a chip off its controller (its driver is unbound first)."""
        spec = next((s for s in self.specs if s.model is model), None)
        if spec is None:
            raise KeyError(f"{model.name} is not a described SPI device")
        for listener in list(self.on_remove):
            listener(spec)
        self.specs.remove(spec)
        spec.controller.chips.pop(spec.chip_select, None)
        if model.host is not None and self.host is not None:
            self.host.remove_device(model.name)
        model.controller = model.chip_select = None
