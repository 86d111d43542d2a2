"""virtio-input (virtio 1.x, 5.8): an input device whose events travel in virtqueue buffers.

Queue 0 (``event``) holds device-writable 8-byte buffers the driver
offers; each event the device sends fills one with ``struct
virtio_input_event`` (le16 type, le16 code, le32 value). Queue 1
(``status``) carries events the driver sends back (LEDs, sound), kept in
:attr:`VirtioInput.status_events`.

The configuration space describes the device: the driver writes ``select``
(byte 0) and ``subsel`` (byte 1) and reads ``size`` (byte 2) and the answer
at byte 8 — the name (ID_NAME), serial (ID_SERIAL), bus/vendor/product/
version (ID_DEVIDS), the property bitmap (PROP_BITS), the code bitmap of one
event type (EV_BITS, subsel = the type) or one axis's range (ABS_INFO,
subsel = the axis: min, max, fuzz, flat, resolution as le32). A selector
the device has nothing for answers size 0.

``VirtioInput(name, keys=[...], rel=[...], abs={axis: (min, max, fuzz,
flat, res)}, ...)`` describes what it reports; :meth:`send` queues events
(they wait while the driver has no buffer offered), :meth:`key`/:meth:`sync`
are shorthands. Everything sent is in ``sent``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Mapping

from .constants import ID_INPUT
from .device import VirtioDevice
from .virtqueue import Chain, SplitVirtqueue

CFG_UNSET, CFG_ID_NAME, CFG_ID_SERIAL, CFG_ID_DEVIDS = 0x00, 0x01, 0x02, 0x03
CFG_PROP_BITS, CFG_EV_BITS, CFG_ABS_INFO = 0x10, 0x11, 0x12
EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_SW, EV_LED, EV_SND, EV_REP = 0, 1, 2, 3, 4, 5, 0x11, 0x12, 0x14
BUS_VIRTUAL = 0x06
EVENT = struct.Struct("<HHi")
CONFIG_SIZE = 8 + 128


def _bitmap(codes: Iterable[int]) -> bytes:
    bits = 0
    for code in codes:
        bits |= 1 << code
    length = (bits.bit_length() + 7) // 8
    return bits.to_bytes(length, "little") if length else b""


class VirtioInput(VirtioDevice):
    """A virtio input device (see the module docstring)."""

    name = "virtio-input"
    device_id = ID_INPUT
    queues = (("event", 64), ("status", 64))

    def __init__(self, input_name: str = "virtio input", name: str | None = None, *, serial: str = "",
                 ids: tuple[int, int, int, int] = (BUS_VIRTUAL, 0x0627, 0x0001, 0x0001),
                 keys: Iterable[int] = (), rel: Iterable[int] = (), abs: Mapping[int, tuple[int, ...]] | None = None,
                 leds: Iterable[int] = (), msc: Iterable[int] = (), props: Iterable[int] = (),
                 repeat: bool = False, features: int | None = None) -> None:
        super().__init__(name, features=features, config=bytes(CONFIG_SIZE))
        self.input_name = input_name
        self.serial = serial
        self.ids = ids
        self.abs = {axis: tuple(info) + (0,) * (5 - len(info)) for axis, info in (abs or {}).items()}
        self.codes = {EV_KEY: sorted(keys), EV_REL: sorted(rel), EV_ABS: sorted(self.abs), EV_LED: sorted(leds),
                      EV_MSC: sorted(msc)}
        self.props = sorted(props)
        self.repeat = repeat
        self.pending: deque[tuple[int, int, int]] = deque()
        #: every event handed to the driver, in order
        self.sent: list[tuple[int, int, int]] = []
        #: events the driver sent on the status queue (LED and sound changes)
        self.status_events: list[tuple[int, int, int]] = []

    # -- configuration space ----------------------------------------------------------------------
    def _answer(self, select: int, subsel: int) -> bytes:
        if select == CFG_ID_NAME:
            return self.input_name.encode()[:128]
        if select == CFG_ID_SERIAL:
            return self.serial.encode()[:128]
        if select == CFG_ID_DEVIDS:
            return struct.pack("<4H", *self.ids)
        if select == CFG_PROP_BITS and subsel == 0:
            return _bitmap(self.props)
        if select == CFG_EV_BITS:
            if subsel == EV_REP:
                return b"\x01" if self.repeat else b""
            return _bitmap(self.codes.get(subsel, ()))
        if select == CFG_ABS_INFO and subsel in self.abs:
            return struct.pack("<5i", *self.abs[subsel])
        return b""

    def config_write(self, offset: int, width: int, value: int) -> None:
        """``select``/``subsel`` writes: the device puts the answer and its size in place."""
        super().config_write(offset, width, value)
        if offset <= 1:
            answer = self._answer(self.config[0], self.config[1])
            self.config[2] = len(answer)
            self.config[8:] = answer.ljust(128, b"\0")

    # -- events ---------------------------------------------------------------------------------------
    def send(self, *events: tuple[int, int, int]) -> int:
        """Send (type, code, value) events; those without a buffer wait. How many were delivered now."""
        self.pending.extend(events)
        return self._flush()

    def key(self, code: int, down: bool = True) -> int:
        """A key press or release followed by SYN_REPORT."""
        return self.send((EV_KEY, code, int(down)), (EV_SYN, 0, 0))

    def sync(self) -> int:
        """SYN_REPORT."""
        return self.send((EV_SYN, 0, 0))

    def _fill(self, chain: Chain) -> int | None:
        if not self.pending:
            return None  # the buffer waits for the next event
        event = self.pending.popleft()
        self.sent.append(event)
        return chain.write(self, EVENT.pack(*event))

    def _flush(self) -> int:
        return self.serve(self.virtqueues[0], self._fill)

    def handle_event(self, queue: SplitVirtqueue) -> None:
        """The driver offered event buffers: events waiting for one go out."""
        self._flush()

    def handle_status(self, queue: SplitVirtqueue) -> None:
        """Events from the driver (LED, sound): kept, each buffer given back."""

        def take(chain: Chain) -> int:
            data = chain.read(self)
            for offset in range(0, len(data) - EVENT.size + 1, EVENT.size):
                self.status_events.append(EVENT.unpack_from(data, offset))
            return 0

        self.serve(queue, take)

    def on_reset(self) -> None:
        """A reset drops what was waiting (the driver re-offers its buffers)."""
        self.pending.clear()
