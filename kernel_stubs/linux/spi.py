"""Linux 6.1's SPI core (drivers/spi/spi.c): controllers from the host, devices on them, drivers, messages.

The host's controllers (``k.spi.add_controller()``) get a ``struct
spi_controller`` (``spiN``) and the devices described on them (``k.spi.add(model,
"lm70", cs=0)``) a ``struct spi_device`` named ``spiN.C``, added through the
generic driver core (:mod:`.driver_core`) on ``spi_bus_type``, whose match is
``spi_match_device`` without OF/ACPI: the driver's ``id_table`` by modalias,
else the driver's name. Probe is ``spi_driver->probe(spi)``, remove
``->remove(spi)``; devres goes at unbind, as for every device of the core.

``spi_sync`` runs a ``struct spi_message``'s transfers on the device's chip
select (``tx_buf``/``rx_buf``/``len``, ``cs_change``, ``delay``,
``bits_per_word`` words sent most significant byte first), setting
``actual_length`` and ``status``; ``spi_write_then_read`` and ``spi_async``
are built on it. ``spi_setup`` checks the mode bits against the controller
and defaults ``bits_per_word`` (8) and ``max_speed_hz``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.devices.spi import SpiBus, SpiSegment
from sandbox.errors import SandboxError
from sandbox.services import kernel_variable, service

from ..memory import allocate, release
from . import driver_core
from .i2c import kernel_owned
from .layout import Fields, offset, size
from .registrations import EINVAL, guest_string, match_name_table

if TYPE_CHECKING:
    from sandbox.devices.spi import SpiController, SpiDeviceSpec
    from sandbox.kernel import Kernel

ENOMEM, EIO = 12, 5
SPI_NAME_SIZE = 32
SPI_CS_WORD, SPI_NO_TX, SPI_NO_RX = 0x1000, 0x40000000, 0x80000000
MAX_TRANSFERS, MAX_TRANSFER_LEN = 256, 1 << 20
SPI_DEVICE_SIZE, CONTROLLER_SIZE = size("spi_device"), size("spi_controller")
SDRV_DRIVER = offset("spi_driver", "driver")
TRANSFER_LIST = offset("spi_transfer", "transfer_list")
ID_SIZE = size("spi_device_id")

spi_bus_type = kernel_variable("spi_bus_type", size("bus_type"), b"")


@dataclass(slots=True)
class SpiRecord:
    """A device the core made: its struct, its controller and chip select, its host description."""

    spi: int
    bus_num: int
    chip_select: int
    modalias: str
    host: bool = True


class SpiCore:
    """The SPI bus of one kernel: controllers' structs by bus number, devices by struct."""

    def __init__(self) -> None:
        self.controllers: dict[int, int] = {}  # bus_num -> struct spi_controller
        self.devices: dict[int, SpiRecord] = {}
        self.listening = False

    def attach(self, k: Kernel) -> None:
        """Register spi_bus_type with the driver core; take the host's controllers and devices (once)."""
        if self.listening:
            return
        self.listening = True
        bus = k.export_address("spi_bus_type")
        if bus:
            if not k.memory.read_u32(bus):
                name = allocate(k, 4, owner="kernel")
                k.memory.write(name, b"spi\0")
                k.memory.write_u32(bus, name)
            driver_core.register_bus(k, bus, driver_core.NativeBus(_match, _probe, _remove), owner="kernel")
        try:
            host = _host_bus(k)
        except SandboxError:
            return
        host.on_controller.append(lambda c: k.subsystem(SpiCore).controller_added(k, c))
        host.on_add.append(lambda spec: k.subsystem(SpiCore).device_added(k, spec))
        host.on_remove.append(lambda spec: k.subsystem(SpiCore).device_removed(k, spec))
        for controller in list(host.controllers.values()):
            self.controller_added(k, controller)
        for spec in list(host.specs):
            self.device_added(k, spec)

    def controller_added(self, k: Kernel, controller: SpiController) -> int:
        """The struct spi_controller (spiN) of a host controller."""
        if controller.bus_num in self.controllers:
            return self.controllers[controller.bus_num]
        ctlr = allocate(k, CONTROLLER_SIZE, owner="kernel")
        fields = Fields(k.memory, "spi_controller", ctlr)
        fields["bus_num"], fields["num_chipselect"] = controller.bus_num, controller.num_chipselect
        fields["mode_bits"], fields["max_speed_hz"] = controller.mode_bits, controller.max_speed_hz
        name = allocate(k, 16, owner="kernel")
        k.memory.write(name, f"spi{controller.bus_num}".encode() + b"\0")
        fields["dev.kobj.name"] = name
        self.controllers[controller.bus_num] = ctlr
        return ctlr

    def device_added(self, k: Kernel, spec: SpiDeviceSpec) -> None:
        """spi_new_device for a host-described device: the struct, named spiN.C, added and bound."""
        ctlr = self.controller_added(k, spec.controller)
        spi = allocate(k, SPI_DEVICE_SIZE, owner="kernel")
        if not spi:
            k.warn(f"spi: no memory for {spec.modalias}")
            return
        fields = Fields(k.memory, "spi_device", spi)
        fields["controller"] = fields["master"] = ctlr
        fields["chip_select"], fields["mode"] = spec.chip_select, spec.mode
        fields["max_speed_hz"], fields["irq"] = spec.max_speed_hz, spec.irq
        k.memory.write(fields.address_of("modalias"), spec.modalias.encode()[:SPI_NAME_SIZE - 1] + b"\0")
        fields["dev.parent"] = ctlr
        fields["dev.bus"] = k.export_address("spi_bus_type") or 0
        record = driver_core.initialize_device(k, spi, owner="kernel")
        record.on_release = lambda kernel, dev: release(kernel, dev)
        driver_core.set_name(k, spi, f"spi{spec.controller.bus_num}.{spec.chip_select}".encode())
        self.devices[spi] = SpiRecord(spi, spec.controller.bus_num, spec.chip_select, spec.modalias)
        result = driver_core.add_device(k, spi)
        kernel_owned(k, spi)  # the host's, whichever module's call made it now
        if result:
            k.console_write(f"spi_master spi{spec.controller.bus_num}: can't create new device for "
                            f"{spec.modalias} ({result})\n", 3)

    def device_removed(self, k: Kernel, spec: SpiDeviceSpec) -> None:
        """spi_unregister_device for a host device the host took away."""
        for record in [r for r in self.devices.values()
                       if (r.bus_num, r.chip_select) == (spec.controller.bus_num, spec.chip_select)]:
            self.devices.pop(record.spi, None)
            driver_core.delete_device(k, record.spi)
            driver_core.put(k, record.spi)


def _host_bus(k: Kernel) -> SpiBus:
    kernel = getattr(k, "kernel", k)
    for name in kernel.devices:
        device = kernel.devices[name]
        if isinstance(device, SpiBus):
            return device
    raise SandboxError("this kernel has no SPI bus model")


def _core(k: Kernel) -> SpiCore:
    core = k.subsystem(SpiCore)
    core.attach(k)
    return core


def match_id(k: Kernel, table: int, modalias: str) -> int:
    """spi_match_id: the id_table entry named ``modalias``, or 0."""
    return match_name_table(k, table, ID_SIZE, SPI_NAME_SIZE, modalias)


def _modalias(k: Kernel, spi: int) -> str:
    return guest_string(k, Fields(k.memory, "spi_device", spi).address_of("modalias"), SPI_NAME_SIZE)


def _match(k: Kernel, dev: int, drv: int) -> int:
    """spi_match_device without OF/ACPI: the id table by modalias, else the driver's name."""
    sdrv = drv - SDRV_DRIVER
    table = Fields(k.memory, "spi_driver", sdrv)["id_table"]
    modalias = _modalias(k, dev)
    if table:
        return 1 if match_id(k, table, modalias) else 0
    return 1 if driver_core.driver_name(k, drv) == modalias else 0


def _probe(k: Kernel, dev: int, drv: int) -> int:
    """spi_drv_probe: the driver's probe(spi)."""
    probe = Fields(k.memory, "spi_driver", drv - SDRV_DRIVER)["probe"]
    return signed32(k.call_function_pointer(probe, dev)) if probe else 0


def _remove(k: Kernel, dev: int, drv: int) -> None:
    """spi_drv_remove: the driver's remove(spi)."""
    remove = Fields(k.memory, "spi_driver", drv - SDRV_DRIVER)["remove"]
    if remove:
        k.call_function_pointer(remove, dev)


# -- drivers ----------------------------------------------------------------------------------------------

@service("int __spi_register_driver(struct module *owner, struct spi_driver *sdrv)")
def __spi_register_driver(k: Kernel, owner: int, sdrv: int) -> int:
    """Register an SPI driver on spi_bus_type: it probes every device whose modalias it names."""
    if not sdrv:
        return -EINVAL
    _core(k)
    fields = Fields(k.memory, "spi_driver", sdrv)
    fields["driver.owner"] = owner
    fields["driver.bus"] = k.export_address("spi_bus_type") or 0
    return driver_core.register_driver(k, sdrv + SDRV_DRIVER)


@service("const struct spi_device_id *spi_get_device_id(const struct spi_device *sdev)")
def spi_get_device_id(k: Kernel, spi: int) -> int:
    """The bound driver's id_table entry for the device's modalias, or NULL."""
    drv = Fields(k.memory, "spi_device", spi)["dev.driver"]
    if not drv:
        return 0
    return match_id(k, Fields(k.memory, "spi_driver", drv - SDRV_DRIVER)["id_table"], _modalias(k, spi))


# -- setup and messages -------------------------------------------------------------------------------------

def _controller_model(k: Kernel, spi: int) -> tuple[SpiController | None, int]:
    fields = Fields(k.memory, "spi_device", spi)
    ctlr = fields["controller"]
    bus_num = Fields(k.memory, "spi_controller", ctlr)["bus_num"] if ctlr else -1
    try:
        return _host_bus(k).controllers.get(bus_num), fields["chip_select"]
    except SandboxError:
        return None, fields["chip_select"]


@service("int spi_setup(struct spi_device *spi)")
def spi_setup(k: Kernel, spi: int) -> int:
    """Check the device's mode against its controller; default bits_per_word to 8 and cap max_speed_hz."""
    fields = Fields(k.memory, "spi_device", spi)
    ctlr = Fields(k.memory, "spi_controller", fields["controller"])
    bad = fields["mode"] & ~(ctlr["mode_bits"] | SPI_CS_WORD | SPI_NO_TX | SPI_NO_RX)
    if bad:
        k.console_write(f"{_modalias(k, spi)} {driver_core.device_name(k, spi)}: setup: unsupported mode bits "
                        f"{bad:x}\n", 3)
        return -EINVAL
    bits = fields["bits_per_word"]
    if not bits:
        fields["bits_per_word"] = 8
    elif bits > 32:
        return -EINVAL
    if ctlr["max_speed_hz"] and (not fields["max_speed_hz"] or fields["max_speed_hz"] > ctlr["max_speed_hz"]):
        fields["max_speed_hz"] = ctlr["max_speed_hz"]
    return 0


def _words_out(data: bytes, width: int) -> bytes:
    """Memory order (little-endian words) to wire order (most significant byte first)."""
    if width == 1:
        return data
    return b"".join(data[i:i + width][::-1] for i in range(0, len(data), width))


def run_message(k: Kernel, spi: int, message: int) -> int:
    """__spi_sync: the message's transfers on the device's select; 0 or -errno (also in ``message->status``)."""
    msg = Fields(k.memory, "spi_message", message)
    device = Fields(k.memory, "spi_device", spi)
    head = msg.address_of("transfers")
    node = msg["transfers.next"]
    transfers = []
    while node != head and len(transfers) < MAX_TRANSFERS:
        transfers.append(Fields(k.memory, "spi_transfer", node - TRANSFER_LIST))
        node = k.memory.read_u32(node)
    if not transfers or node != head:
        return -EINVAL
    msg["spi"] = spi
    segments, plans = [], []
    for xfer in transfers:
        bits = xfer["bits_per_word"] or device["bits_per_word"] or 8
        width = (bits + 7) // 8
        length = xfer["len"]
        if length % width or length > MAX_TRANSFER_LEN:
            msg["status"] = (-EINVAL) & 0xFFFFFFFF
            return -EINVAL
        tx = _words_out(k.memory.read(xfer["tx_buf"], length), width) if xfer["tx_buf"] and length else None
        cs_change = bool(k.memory.read_u32(xfer.address + 44) & 0x4)  # the cs_change bit-field
        segments.append(SpiSegment(length, tx, cs_change=cs_change))
        plans.append((xfer, width))
    model, chip_select = _controller_model(k, spi)
    frame = sum(s.length for s in segments)
    msg["frame_length"] = frame
    if model is None:
        msg["status"] = (-EIO) & 0xFFFFFFFF
        return -EIO
    model.transfer(chip_select, segments)
    for (xfer, width), segment in zip(plans, segments, strict=True):
        if xfer["rx_buf"] and segment.length:
            k.memory.write(xfer["rx_buf"], _words_out(segment.rx, width))
        delay = xfer["delay.value"]
        if delay:
            unit = xfer["delay.unit"]  # SPI_DELAY_UNIT_USECS 0, _NSECS 1, _SCK 2
            k.advance_time(delay * (1000 if unit == 0 else 1 if unit == 1 else 1000))
    msg["actual_length"] = frame
    msg["status"] = 0
    k.trace.add("note", "spi message", caller=k.current_caller, fields={
        "device": driver_core.device_name(k, spi),
        "transfers": [f"{(s.tx or b'').hex(' ')}>{s.rx.hex(' ')}" for s in segments]})
    return 0


@service("int spi_sync(struct spi_device *spi, struct spi_message *message)")
def spi_sync(k: Kernel, spi: int, message: int) -> int:
    """Run a message and wait for it: 0 or -errno."""
    return run_message(k, spi, message)


@service("int spi_sync_locked(struct spi_device *spi, struct spi_message *message)")
def spi_sync_locked(k: Kernel, spi: int, message: int) -> int:
    """spi_sync with the bus lock held by the caller."""
    return run_message(k, spi, message)


@service("int spi_async(struct spi_device *spi, struct spi_message *message)")
def spi_async(k: Kernel, spi: int, message: int) -> int:
    """Queue a message: it runs, then ``message->complete(context)`` is called (the controller is fast)."""
    result = run_message(k, spi, message)
    if result == 0:
        fields = Fields(k.memory, "spi_message", message)
        if fields["complete"]:
            k.call_function_pointer(fields["complete"], fields["context"])
    return result


@service("int spi_write_then_read(struct spi_device *spi, const void *txbuf, unsigned int n_tx, void *rxbuf, "
         "unsigned int n_rx)")
def spi_write_then_read(k: Kernel, spi: int, txbuf: int, n_tx: int, rxbuf: int, n_rx: int) -> int:
    """Send ``n_tx`` bytes then receive ``n_rx`` in one message (one select): 0 or -errno."""
    if n_tx > MAX_TRANSFER_LEN or n_rx > MAX_TRANSFER_LEN:
        return -EINVAL
    message = allocate(k, size("spi_message") + 2 * size("spi_transfer") + n_tx + n_rx, owner="kernel")
    if not message:
        return -ENOMEM
    try:
        msg = Fields(k.memory, "spi_message", message)
        head = msg.address_of("transfers")
        links = []
        cursor = message + size("spi_message")
        bounce = cursor + 2 * size("spi_transfer")
        for length, is_tx in ((n_tx, True), (n_rx, False)):
            if not length:
                continue
            xfer = Fields(k.memory, "spi_transfer", cursor)
            xfer["len"] = length
            if is_tx:
                k.memory.write(bounce, k.memory.read(txbuf, length))
                xfer["tx_buf"] = bounce
            else:
                xfer["rx_buf"] = bounce + n_tx
            links.append(cursor + TRANSFER_LIST)
            cursor += size("spi_transfer")
        chain = [head, *links, head]
        for here, after in itertools.pairwise(chain):
            k.memory.write_u32(here, after)  # next
            k.memory.write_u32(after + 4, here)  # prev
        if not links:
            k.memory.write_u32(head, head)
            k.memory.write_u32(head + 4, head)
            return 0
        result = run_message(k, spi, message)
        if result == 0 and n_rx:
            k.memory.write(rxbuf, k.memory.read(bounce + n_tx, n_rx))
        return result
    finally:
        release(k, message)


def devices(k: Kernel) -> list[SpiRecord]:
    """The SPI devices the core made, oldest first."""
    return list(_core(k).devices.values())
