"""An i8042 keyboard controller with a keyboard that speaks scancode set 1.

Ports: 0x60 data (read: output buffer; write: to the keyboard, or the
parameter of a controller command), 0x64 status (read) / command (write).

Status bits: 0 OBF (a byte waits in the output buffer), 1 IBF (always 0:
writes are taken at once), 2 SYS (self-test passed), 3 A2 (last write went to
0x64), 4 INH (1 = keyboard not inhibited).

The output buffer holds one byte. Keys pressed from Python (:meth:`press`,
:meth:`type`) and replies to commands wait in a queue; the next one moves into
the output buffer when the guest reads port 0x60, and each byte that arrives
raises IRQ 1 if the controller configuration byte enables it (bit 0). A
handler that reads one byte per interrupt therefore sees every byte, one
interrupt each.

Controller commands (0x64): 0x20 read config, 0x60 write config, 0xA7/0xA8
aux off/on, 0xA9 aux test, 0xAA self-test (0x55), 0xAB keyboard port test
(0x00), 0xAD/0xAE keyboard off/on. Keyboard commands (0x60): 0xFF reset
(FA AA), 0xF4/0xF5 scanning on/off, 0xED LEDs, 0xF0 scancode set, 0xF2
identify (FA AB 83), 0xF3 typematic, 0xF6 defaults, 0xEE echo; others FE.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from .device import Device, RegisterName

DATA_PORT, STATUS_PORT = 0x60, 0x64
ST_OBF, ST_SYS, ST_A2, ST_INH = 0x01, 0x04, 0x08, 0x10
CFG_KBD_IRQ, CFG_SYS, CFG_KBD_DISABLED, CFG_TRANSLATE = 0x01, 0x04, 0x10, 0x40
ACK, RESEND, SELF_TEST_OK = 0xFA, 0xFE, 0xAA

LSHIFT, RELEASE = 0x2A, 0x80

# Set-1 make codes of the unshifted and shifted characters of a US keyboard.
_ROWS = [
    (0x02, "1234567890-=", "!@#$%^&*()_+"),
    (0x10, "qwertyuiop[]", "QWERTYUIOP{}"),
    (0x1E, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (0x2B, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
]
SCANCODES: dict[str, tuple[int, bool]] = {"\n": (0x1C, False), " ": (0x39, False), "\t": (0x0F, False),
                                          "\b": (0x0E, False)}
for _first, _plain, _shifted in _ROWS:
    for _i, (_p, _s) in enumerate(zip(_plain, _shifted)):
        SCANCODES[_p] = (_first + _i, False)
        SCANCODES[_s] = (_first + _i, True)


def scancodes_for(text: str) -> list[int]:
    """Set-1 make and break codes that type ``text`` (shift pressed around capitals and symbols)."""
    codes: list[int] = []
    for char in text:
        try:
            make, shifted = SCANCODES[char]
        except KeyError:
            raise ValueError(f"no scancode for {char!r}") from None
        if shifted:
            codes.append(LSHIFT)
        codes += [make, make | RELEASE]
        if shifted:
            codes.append(LSHIFT | RELEASE)
    return codes


class I8042(Device):
    """The PC keyboard controller at 0x60/0x64 on IRQ 1."""

    registers: Mapping[int, RegisterName] = {0: "DATA", 4: ("STATUS", "CMD")}

    def __init__(self, name: str = "kbd", irq: int = 1) -> None:
        super().__init__(name, irq)
        self.port_base = DATA_PORT
        self.port_ranges = ((DATA_PORT, 1), (STATUS_PORT, 1))
        self.config = CFG_KBD_IRQ | CFG_SYS | CFG_TRANSLATE
        self.scanning = True
        self.leds = 0
        self.scancode_set = 1
        self.queue: deque[int] = deque()  # bytes waiting for the output buffer
        self.out: int | None = None  # the output buffer
        self._last = 0  # an empty output buffer reads as the last byte
        self._a2 = False
        self._pending_command: int | None = None  # a controller command waiting for its data byte
        self._kbd_param: int | None = None  # a keyboard command waiting for its parameter
        self._ctl_replies: deque[int] = deque()  # controller replies: never held back by 0xAD
        self.log: list[str] = []  # commands the guest sent, for tests and curiosity

    # -- host side ---------------------------------------------------------
    def press(self, *scancodes: int | Iterable[int]) -> None:
        """Send raw scancodes from the keyboard (ints, or iterables of ints)."""
        if not self.scanning:
            return  # a keyboard told to stop scanning sends nothing
        for code in scancodes:
            self.queue.extend([code] if isinstance(code, int) else code)
        self._fill()

    def type(self, text: str) -> None:
        """Type ``text`` with set-1 make/break codes (letters, digits, punctuation, space, enter, tab, backspace)."""
        self.press(scancodes_for(text))

    # -- ports ---------------------------------------------------------------
    @property
    def status(self) -> int:
        """The status register."""
        return ((ST_OBF if self.out is not None else 0) | ST_SYS | (ST_A2 if self._a2 else 0)
                | (0 if self.config & CFG_KBD_DISABLED else ST_INH))

    def port_read(self, port: int, width: int) -> int:
        """0x60 pops the output buffer (the next byte moves in); 0x64 is status."""
        if port == STATUS_PORT:
            return self.status
        if self.out is not None:
            self._last, self.out = self.out, None
            value = self._last
            self._fill()  # may interrupt at once for the next byte (a host-side reader nests)
            return value
        return self._last

    def port_write(self, port: int, width: int, value: int) -> None:
        """0x64 takes controller commands; 0x60 data goes to the keyboard or a command."""
        value &= 0xFF
        self._a2 = port == STATUS_PORT
        if port == STATUS_PORT:
            self._command(value)
        elif self._pending_command is not None:
            command, self._pending_command = self._pending_command, None
            self._command_data(command, value)
        else:
            self._keyboard(value)

    def _command(self, command: int) -> None:
        self.log.append(f"ctl {command:#04x}")
        if command == 0x20:
            self._controller_reply(self.config)
        elif command in (0x60, 0xD1):
            self._pending_command = command
        elif command in (0xA9, 0xAB):
            self._controller_reply(0x00)
        elif command == 0xAA:
            self._controller_reply(0x55)
        elif command == 0xAD:
            self.config |= CFG_KBD_DISABLED
        elif command == 0xAE:
            self.config &= ~CFG_KBD_DISABLED
            self._fill()
        # 0xA7/0xA8 (aux port) and anything else: accepted and ignored.

    def _command_data(self, command: int, value: int) -> None:
        if command == 0x60:
            self.config = value
            self._fill()

    def _keyboard(self, byte: int) -> None:
        self.log.append(f"kbd {byte:#04x}")
        expecting = self._kbd_param
        if expecting is not None:
            self._kbd_param = None
            if expecting == 0xED:
                self.leds = byte & 0x07
            elif expecting == 0xF0 and byte == 0:
                self._reply(ACK, self.scancode_set)
                return
            elif expecting == 0xF0:
                self.scancode_set = byte
            self._reply(ACK)
            return
        if byte == 0xFF:
            self.scanning, self.leds = True, 0
            self.queue.clear()
            self._reply(ACK, SELF_TEST_OK)
        elif byte in (0xED, 0xF0, 0xF3):
            self._kbd_param = byte
            self._reply(ACK)
        elif byte in (0xF4, 0xF5, 0xF6):
            self.scanning = byte != 0xF5
            self._reply(ACK)
        elif byte == 0xF2:
            self._reply(ACK, 0xAB, 0x83)
        elif byte == 0xEE:
            self._reply(0xEE)
        else:
            self._reply(RESEND)

    # -- output buffer -----------------------------------------------------
    def _reply(self, *data: int) -> None:
        """Bytes from the keyboard (key codes, replies to keyboard commands)."""
        self.queue.extend(data)
        self._fill()

    def _controller_reply(self, value: int) -> None:
        self._ctl_replies.append(value)
        self._fill()

    def _fill(self) -> None:
        """Move the next waiting byte into an empty output buffer and interrupt.

        Controller replies go first and are delivered even while the keyboard
        port is disabled (drivers disable it, then read the config byte).
        """
        if self.out is not None:
            return
        if self._ctl_replies:
            self.out = self._ctl_replies.popleft()
        elif self.queue and not self.config & CFG_KBD_DISABLED:
            self.out = self.queue.popleft()
        else:
            return
        if self.config & CFG_KBD_IRQ:
            self.raise_irq()
