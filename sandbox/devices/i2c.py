"""I2C buses as device models: adapters owned by the host and the client chips on them.

An I2C transfer is a list of messages, each a START (or repeated START), an
address byte with the read/write bit, then data bytes; the slave acknowledges
its address and each byte it receives, and the whole transfer ends with one
STOP. The models here see exactly that, whatever the driver called
(``i2c_transfer``, any ``i2c_smbus_*`` call, regmap): a profile's i2c core
turns SMBus commands into messages as Linux's ``i2c_smbus_xfer_emulated``
does, and hands them to :meth:`I2cAdapter.transfer`.

- :class:`I2cClient` is the base of a chip: it answers :meth:`~I2cClient.start`
  (ACK its address), :meth:`~I2cClient.write` (ACK a byte),
  :meth:`~I2cClient.read` (the next byte it sends) and :meth:`~I2cClient.stop`.
- :class:`RegisterChip` is the common kind: a register pointer written first
  (``reg_bits`` 8 or 16), registers of ``val_bits`` 8 or 16 sent and taken in
  the chip's ``byte_order``, the pointer auto-incrementing (or not) after
  each register, "write pointer then read" (a repeated START) as sensors do.
- :class:`I2cAdapter` is one bus segment (Linux's ``struct i2c_adapter``
  made by the host, as a PC's SMBus controller is); an absent address is
  not acknowledged (:class:`I2cNack` with ``errno`` ENXIO), a data byte the
  chip refuses ends the transfer with EREMOTEIO.
- :class:`I2cBus` is ``k.i2c``: ``add_adapter(...)``, then ``add(model,
  addr=0x48, name="lm75")`` describes a client as board code would
  (``i2c_new_client_device``), and the profile binds the driver whose id
  table names it.

Every adapter and client is a :class:`~sandbox.devices.device.Device` on the
host (with no ports or MMIO), so each one's state goes into snapshots on its
own and the objects the user holds stay the live ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .device import Device

ENXIO, EIO, EPROTO, EREMOTEIO = 6, 5, 71, 121
I2C_M_RD, I2C_M_TEN, I2C_M_RECV_LEN = 0x0001, 0x0010, 0x0400
I2C_M_NO_RD_ACK, I2C_M_IGNORE_NAK, I2C_M_REV_DIR_ADDR, I2C_M_NOSTART = 0x0800, 0x1000, 0x2000, 0x4000
I2C_SMBUS_BLOCK_MAX = 32
# struct i2c_adapter.class: which drivers may probe the adapter's addresses themselves (i2c_detect).
I2C_CLASS_HWMON, I2C_CLASS_DDC, I2C_CLASS_SPD = 1 << 0, 1 << 3, 1 << 7


class I2cNack(Exception):
    """The transfer stopped: a NACK (``errno`` ENXIO for an address, EREMOTEIO for data) or a protocol error."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


@dataclass(slots=True)
class I2cMessage:
    """One message of a transfer: ``addr`` (7 or 10 bits), Linux's ``I2C_M_*`` ``flags``,
    ``data`` (written bytes; for a read, filled in) and ``length`` (bytes to read)."""

    addr: int
    flags: int = 0
    data: bytes = b""
    length: int = 0

    @property
    def read(self) -> bool:
        """A read message (I2C_M_RD)."""
        return bool(self.flags & I2C_M_RD)


class I2cClient(Device):
    """A chip on an I2C bus. Override the four bus events; the defaults ACK everything and send 0xFF.

    ``start(read)`` is the address phase of each message (return False to
    NACK it), ``write(byte)`` a byte from the master (False: NACK),
    ``read()`` the byte the chip drives next, ``stop()`` the end of the
    transfer. ``address`` and ``adapter`` are set when the host adds it.
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.address: int | None = None
        self.adapter: I2cAdapter | None = None

    def start(self, read: bool) -> bool:
        """A START (or repeated START) addressed to this chip; True acknowledges it."""
        return True

    def write(self, byte: int) -> bool:
        """A byte the master sends; True acknowledges it."""
        return True

    def read(self) -> int:
        """The next byte the chip sends to the master."""
        return 0xFF

    def stop(self) -> None:
        """The STOP that ends the transfer."""


class RegisterChip(I2cClient):
    """A register-mapped chip: write the pointer, then write values or read them back.

    ``registers`` gives the register file (register -> value); a pointer to a
    register not in it is NACKed when ``strict`` (the default when
    registers are given), as many sensors do. ``widths`` overrides the width
    in bits of single registers (an LM75's 8-bit configuration register
    among 16-bit temperatures). Values go over the wire in ``byte_order``
    ("big": most significant byte first, as most sensors; "little" as
    SMBus words). After each whole register the pointer moves to the next
    one when ``auto_increment``; otherwise reading on repeats the register.
    ``read_only`` registers ignore writes (the bytes are still ACKed).

    Override :meth:`read_register` / :meth:`write_register` for registers
    whose value is computed (a temperature from a property, a status that
    clears on read); both see whole register values.
    """

    reg_bits: int = 8
    val_bits: int = 8
    byte_order: str = "big"
    auto_increment: bool = True

    def __init__(self, name: str | None = None, registers: Mapping[int, int] | None = None, *,
                 widths: Mapping[int, int] | None = None, read_only: Iterable[int] = (),
                 strict: bool | None = None) -> None:
        super().__init__(name)
        if self.reg_bits not in (8, 16) or self.val_bits not in (8, 16):
            raise ValueError(f"{type(self).__name__}: reg_bits and val_bits must be 8 or 16")
        if self.byte_order not in ("big", "little"):
            raise ValueError(f"{type(self).__name__}: byte_order must be 'big' or 'little'")
        self.registers: dict[int, int] = dict(registers or {})
        self.widths: dict[int, int] = dict(widths or {})
        self.read_only: set[int] = set(read_only)
        self.strict = bool(self.registers) if strict is None else strict
        self.pointer = 0
        self._pointer_bytes: list[int] = []  # pointer bytes received in this message
        self._pending: list[int] = []  # value bytes received for the register at the pointer
        self._outgoing: list[int] = []  # bytes of the latched register still to send
        self._writing = False

    # -- the register file ----------------------------------------------------------
    def width(self, reg: int) -> int:
        """Bytes per value of register ``reg``."""
        return self.widths.get(reg, self.val_bits) // 8

    def has_register(self, reg: int) -> bool:
        """Whether the chip acknowledges a pointer to ``reg``."""
        return not self.strict or reg in self.registers

    def read_register(self, reg: int) -> int:
        """The value the chip latches when a read of ``reg`` starts."""
        return self.registers.get(reg, 0)

    def write_register(self, reg: int, value: int) -> None:
        """A whole value written to ``reg``."""
        if reg not in self.read_only:
            self.registers[reg] = value

    def _advance(self) -> None:
        if self.auto_increment:
            self.pointer = (self.pointer + 1) & ((1 << self.reg_bits) - 1)

    # -- bus events -------------------------------------------------------------------
    def start(self, read: bool) -> bool:
        self._writing = not read
        self._pointer_bytes.clear()
        self._pending.clear()
        self._outgoing.clear()
        return True

    def write(self, byte: int) -> bool:
        if len(self._pointer_bytes) < self.reg_bits // 8:
            self._pointer_bytes.append(byte)
            if len(self._pointer_bytes) == self.reg_bits // 8:
                pointer = int.from_bytes(bytes(self._pointer_bytes), "big")
                if not self.has_register(pointer):
                    return False
                self.pointer = pointer
            return True
        self._pending.append(byte)
        if len(self._pending) == self.width(self.pointer):
            self.write_register(self.pointer, int.from_bytes(bytes(self._pending), self.byte_order))
            self._pending.clear()
            self._advance()
        return True

    def read(self) -> int:
        if not self._outgoing:
            width = self.width(self.pointer)
            value = self.read_register(self.pointer) & ((1 << (8 * width)) - 1)
            self._outgoing = list(value.to_bytes(width, self.byte_order))
            self._advance()
        return self._outgoing.pop(0)

    def stop(self) -> None:
        self._pointer_bytes.clear()
        self._pending.clear()
        self._outgoing.clear()


@dataclass(slots=True)
class ClientSpec:
    """A client the host described on an adapter: what ``i2c_new_client_device`` gets."""

    adapter: I2cAdapter
    addr: int
    name: str  # the driver-matching type ("lm75")
    model: I2cClient
    irq: int = 0
    flags: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class I2cAdapter(Device):
    """One I2C bus segment the host owns, with its clients by address.

    ``nr`` is Linux's adapter number (``i2c-N``); ``adapter_class`` the
    ``I2C_CLASS_*`` bits that let drivers probe its addresses themselves
    (``I2C_CLASS_HWMON``, as a PC's SMBus controller has); ``transfers``
    counts the transfers run (each message list is one).
    """

    def __init__(self, nr: int, name: str | None = None, adapter_class: int = I2C_CLASS_HWMON) -> None:
        super().__init__(f"i2c-{nr}")
        self.nr = nr
        self.label = name or f"sandbox i2c adapter {nr}"
        self.adapter_class = adapter_class
        self.clients: dict[int, I2cClient] = {}
        self.transfers = 0

    def transfer(self, messages: list[I2cMessage]) -> int:
        """Run ``messages`` as one transfer (repeated STARTs, one STOP); fills in each read's data.

        Returns how many messages were sent; raises :class:`I2cNack` when a
        chip does not acknowledge (the STOP still goes to the chips addressed).
        """
        self.transfers += 1
        touched: list[I2cClient] = []
        current: I2cClient | None = None
        try:
            for index, message in enumerate(messages):
                if not message.flags & I2C_M_NOSTART or current is None:
                    current = self._address(message, touched)
                    if current is None:
                        continue  # I2C_M_IGNORE_NAK: the master goes on as if acknowledged
                if message.read:
                    message.data = self._receive(current, message)
                else:
                    for offset, byte in enumerate(message.data):
                        if not current.write(byte) and not message.flags & I2C_M_IGNORE_NAK:
                            raise I2cNack(EREMOTEIO, f"{self.name}: client {message.addr:#04x} NACKed byte {offset} "
                                          f"({byte:#04x}) of message {index}")
            return len(messages)
        finally:
            for client in touched:
                client.stop()

    def _address(self, message: I2cMessage, touched: list[I2cClient]) -> I2cClient | None:
        client = self.clients.get(message.addr)
        read = message.read != bool(message.flags & I2C_M_REV_DIR_ADDR)
        if client is None or not client.start(read):
            if message.flags & I2C_M_IGNORE_NAK:
                return None
            raise I2cNack(ENXIO, f"{self.name}: no ACK from address {message.addr:#04x}")
        if client not in touched:
            touched.append(client)
        return client

    @staticmethod
    def _receive(client: I2cClient, message: I2cMessage) -> bytes:
        data = bytearray()
        length = message.length
        while len(data) < length:
            byte = client.read() & 0xFF
            if message.flags & I2C_M_RECV_LEN and not data:
                if not 1 <= byte <= I2C_SMBUS_BLOCK_MAX:
                    raise I2cNack(EPROTO, f"client {message.addr:#04x} sent block length {byte}")
                length += byte  # the first byte is the count of those that follow
            data.append(byte)
        return bytes(data)


class I2cBus(Device):
    """The host's I2C adapters (``k.i2c``) and the clients described on them, with listeners.

    A profile's i2c core listens (``on_adapter``, ``on_add``, ``on_remove``)
    and makes the kernel's structures: an adapter as ``i2c_add_adapter``
    would, a client as ``i2c_new_client_device``, binding its driver.
    """

    name = "i2c"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.adapters: dict[int, I2cAdapter] = {}
        self.specs: list[ClientSpec] = []
        self.on_adapter: list[Callable[[I2cAdapter], None]] = []
        self.on_add: list[Callable[[ClientSpec], None]] = []
        self.on_remove: list[Callable[[ClientSpec], None]] = []
        self.reserved: set[int] = set()  # adapter numbers a guest bus driver holds

    def add_adapter(self, name: str | None = None, nr: int | None = None,
                    adapter_class: int = I2C_CLASS_HWMON) -> I2cAdapter:
        """A new adapter (``nr``: the lowest free number unless given); returns it."""
        if self.host is None:
            raise ValueError("the i2c bus is not attached to a kernel")
        if nr is None:
            nr = next(n for n in range(len(self.adapters) + len(self.reserved) + 1)
                      if n not in self.adapters and n not in self.reserved)
        if nr in self.adapters or nr in self.reserved or nr < 0:
            raise ValueError(f"i2c adapter number {nr} is taken or invalid")
        adapter = I2cAdapter(nr, name, adapter_class)
        self.host.add_device(adapter)
        self.adapters[nr] = adapter
        for listener in list(self.on_adapter):
            listener(adapter)
        return adapter

    def adapter(self, adapter: I2cAdapter | int | None) -> I2cAdapter:
        """An adapter by object or number; None: the first (made if there is none)."""
        if isinstance(adapter, I2cAdapter):
            return adapter
        if adapter is None:
            return self.adapters[min(self.adapters)] if self.adapters else self.add_adapter()
        try:
            return self.adapters[adapter]
        except KeyError:
            raise KeyError(f"no host i2c adapter {adapter} (have: {sorted(self.adapters) or 'none'})") from None

    def add(self, model: I2cClient, addr: int, name: str | None, adapter: I2cAdapter | int | None = None, *,
            irq: int = 0, flags: int = 0) -> ClientSpec | None:
        """Put ``model`` at ``addr`` on ``adapter`` and describe it as client ``name`` (the id a driver matches).

        ``name=None`` puts the chip on the bus undescribed, as a chip the
        firmware does not list: a driver's own detection (``detect`` with
        ``address_list``) or its ``i2c_new_client_device`` call finds it.
        """
        bus = self.adapter(adapter)
        if not 0 < addr <= 0x7F:
            raise ValueError(f"i2c address {addr:#x} is not a 7-bit client address (0x01-0x7f)")
        if addr in bus.clients:
            raise ValueError(f"{bus.name}: address {addr:#04x} is taken by {bus.clients[addr].name}")
        if name is not None and (not name or len(name.encode()) >= 20):
            raise ValueError(f"i2c client name {name!r} must be 1-19 bytes (struct i2c_client.name is 20)")
        if type(model).name == model.name:  # the class default: give it the address Linux names it by
            model.name = f"{bus.nr}-{addr:04x}"
        if self.host is not None and model.host is None:
            self.host.add_device(model)
        model.address, model.adapter = addr, bus
        bus.clients[addr] = model
        if name is None:
            return None
        spec = ClientSpec(bus, addr, name, model, irq, flags)
        self.specs.append(spec)
        for listener in list(self.on_add):
            listener(spec)
        return spec

    def remove(self, model: I2cClient) -> None:
        """Take a chip off its adapter (the driver of its described client is unbound first)."""
        if model.adapter is None or model.adapter.clients.get(model.address or 0) is not model:
            raise KeyError(f"{model.name} is not on a host i2c adapter")
        spec = next((s for s in self.specs if s.model is model), None)
        if spec is not None:
            for listener in list(self.on_remove):
                listener(spec)
            self.specs.remove(spec)
        model.adapter.clients.pop(model.address or 0, None)
        if model.host is not None and self.host is not None:
            self.host.remove_device(model.name)
        model.address = model.adapter = None
