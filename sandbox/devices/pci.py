"""A PCI bus as a device model: configuration space, BARs, INTx lines.

The bus is an ordinary device on the :class:`~sandbox.devices.host.DeviceHost`:
it answers the PC's type-1 configuration mechanism (CONFIG_ADDRESS at
0xCF8, CONFIG_DATA at 0xCFC-0xCFF) for drivers that poke the ports
themselves, and offers :meth:`PciBus.config_read`/:meth:`~PciBus.config_write`
to kernel services (``pci_read_config_dword`` and friends). Functions are
device models too (:class:`PciFunction`): each has a 256-byte type-0
configuration header, base address registers (BARs) that decode I/O ports
or memory only while the command register enables them, an interrupt pin
routed to an IRQ line, and the bus-master bit that gates its DMA.

What firmware does on a PC, :meth:`PciBus.add` does: it gives each BAR a
naturally aligned address (I/O from 0xC000, memory in the MMIO area) and
routes INTA to one of the PC's PCI IRQ lines, so a driver finds a
configured device, as Linux does after the BIOS. A driver may still size
BARs (write all ones, read the mask back) and move them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..machine import address_map as amap
from .device import Device, RegisterName

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC

# Type-0 header offsets (PCI Local Bus 3.0, 6.1).
VENDOR_ID, DEVICE_ID, COMMAND, STATUS = 0x00, 0x02, 0x04, 0x06
REVISION_ID, CLASS_CODE, HEADER_TYPE = 0x08, 0x09, 0x0E
CACHE_LINE_SIZE, LATENCY_TIMER = 0x0C, 0x0D
BAR0, SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID = 0x10, 0x2C, 0x2E
CAPABILITY_LIST, INTERRUPT_LINE, INTERRUPT_PIN = 0x34, 0x3C, 0x3D
BAR_COUNT = 6

COMMAND_IO, COMMAND_MEMORY, COMMAND_MASTER, COMMAND_INVALIDATE = 0x1, 0x2, 0x4, 0x10
COMMAND_INTX_DISABLE = 0x400
_COMMAND_WRITABLE = 0x0557  # IO, MEM, MASTER, MWI, parity, SERR, INTx disable
STATUS_INTERRUPT, STATUS_CAP_LIST = 0x08, 0x10

# The MSI capability (PCI Local Bus 3.0, 6.8.1), 32-bit message address, placed at MSI_CAP.
CAP_ID_MSI = 0x05
MSI_CAP = 0x50
MSI_FLAGS, MSI_ADDRESS, MSI_DATA = MSI_CAP + 2, MSI_CAP + 4, MSI_CAP + 8
MSI_FLAGS_ENABLE, MSI_FLAGS_QMASK, MSI_FLAGS_QSIZE = 0x1, 0x0E, 0x70
# Messages go to the local APIC's window; the machine's interrupt controller takes the data's
# vector (low 8 bits) as the interrupt line to deliver (a flat vector table: x86's vector
# allocation and I/O APIC are not modelled).
MSI_ADDRESS_WINDOW = (0xFEE00000, 0xFEF00000)
BAR_IO_SPACE = 0x1
BAR_MEM_PREFETCH = 0x8

IO_WINDOW = (0xC000, 0x10000)  # where firmware places I/O BARs
PCI_IRQS = (11, 10, 9, 5)  # INTA routing per slot, as a PC's PIRQ router might
_FLOAT = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Bar:
    """One base address register: I/O ports or memory, ``size`` bytes (a power of two)."""

    kind: str  # "io" or "mem"
    size: int
    prefetchable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("io", "mem"):
            raise ValueError(f"BAR kind must be 'io' or 'mem', not {self.kind!r}")
        minimum = 4 if self.kind == "io" else 16
        if self.size < minimum or self.size & (self.size - 1):
            raise ValueError(f"a {self.kind} BAR's size must be a power of two >= {minimum}, not {self.size}")


class PciFunction(Device):
    """A PCI function: subclass, set the ids and ``bars``, override :meth:`bar_read`/:meth:`bar_write`.

    ``vendor_id``/``device_id``/``class_code`` (24 bits: class, subclass,
    prog-if) identify it to drivers. BAR ``n`` is reached at the address
    its register holds, while the command register enables that space.
    :meth:`dma_read`/:meth:`dma_write` access guest memory only while the
    driver has set bus mastering; otherwise they raise :class:`DmaError`.
    """

    vendor_id: int = 0xFFFF
    device_id: int = 0xFFFF
    class_code: int = 0
    revision: int = 0
    subsystem_vendor_id: int = 0
    subsystem_id: int = 0
    bars: tuple[Bar | None, ...] = ()  # by BAR number; None: that BAR is not implemented
    interrupt_pin: int = 1  # INTA; 0: no interrupt
    msi_vectors: int = 0  # MSI messages the function can send (1, 2, 4, ... 32); 0: no MSI capability

    def __init__(self, name: str | None = None, irq: int | None = None) -> None:
        super().__init__(name, irq)
        if len(self.bars) > BAR_COUNT:
            raise ValueError(f"{self.name}: a function has at most {BAR_COUNT} BARs")
        if self.msi_vectors and (self.msi_vectors > 32 or self.msi_vectors & (self.msi_vectors - 1)):
            raise ValueError(f"{self.name}: msi_vectors must be a power of two up to 32, not {self.msi_vectors}")
        self.config = bytearray(256)
        self.address: tuple[int, int, int] | None = None  # (bus, device, function) once on a bus
        self._decoding: list[tuple[str, int, int, int]] = []  # (kind, bar, start, size) mapped now
        self._mmio_windows: list[tuple[int, int]] = []
        self.dma_offset = 0  # guest virtual address = bus address + dma_offset
        # Set by a profile's DMA layer: (bus address, size) -> None if the driver made that range
        # available to the device, else why not. None: every address is allowed.
        self.dma_check: Callable[[int, int], str | None] | None = None
        self._reset_config()

    # -- configuration space -------------------------------------------------------
    def _reset_config(self) -> None:
        c = self.config
        c[VENDOR_ID:VENDOR_ID + 2] = self.vendor_id.to_bytes(2, "little")
        c[DEVICE_ID:DEVICE_ID + 2] = self.device_id.to_bytes(2, "little")
        c[REVISION_ID] = self.revision & 0xFF
        c[CLASS_CODE:CLASS_CODE + 3] = (self.class_code & 0xFFFFFF).to_bytes(3, "little")
        c[HEADER_TYPE] = 0
        c[SUBSYSTEM_VENDOR_ID:SUBSYSTEM_VENDOR_ID + 2] = self.subsystem_vendor_id.to_bytes(2, "little")
        c[SUBSYSTEM_ID:SUBSYSTEM_ID + 2] = self.subsystem_id.to_bytes(2, "little")
        c[INTERRUPT_PIN] = self.interrupt_pin
        for index, bar in enumerate(self.bars):
            if bar is not None:
                self._store_bar(index, 0)
        if self.msi_vectors:
            c[STATUS] |= STATUS_CAP_LIST
            c[CAPABILITY_LIST] = MSI_CAP
            c[MSI_CAP], c[MSI_CAP + 1] = CAP_ID_MSI, 0  # the only capability: no next
            c[MSI_FLAGS] = (self.msi_vectors.bit_length() - 1) << 1  # Multiple Message Capable

    def _store_bar(self, index: int, address: int) -> None:
        bar = self.bars[index]
        if bar is None:
            return
        if bar.kind == "io":
            value = (address & ~(bar.size - 1) & 0xFFFFFFFC) | BAR_IO_SPACE
        else:
            value = (address & ~(bar.size - 1) & 0xFFFFFFF0) | (BAR_MEM_PREFETCH if bar.prefetchable else 0)
        offset = BAR0 + 4 * index
        self.config[offset:offset + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    def bar_address(self, index: int) -> int:
        """The address BAR ``index`` holds now (flag bits removed)."""
        raw = int.from_bytes(self.config[BAR0 + 4 * index:BAR0 + 4 * index + 4], "little")
        bar = self.bars[index] if index < len(self.bars) else None
        if bar is None:
            return 0
        return raw & ~0x3 if bar.kind == "io" else raw & ~0xF

    @property
    def command(self) -> int:
        """The command register."""
        return int.from_bytes(self.config[COMMAND:COMMAND + 2], "little")

    @property
    def bus_master(self) -> bool:
        """Whether the driver enabled bus mastering (DMA)."""
        return bool(self.command & COMMAND_MASTER)

    def config_read(self, offset: int, width: int) -> int:
        """A configuration read of ``width`` bytes at ``offset``."""
        if offset + width > len(self.config):
            return (1 << (8 * width)) - 1
        return int.from_bytes(self.config[offset:offset + width], "little")

    def config_write(self, offset: int, width: int, value: int) -> None:
        """A configuration write: the command register, BARs (sizing and moving), the interrupt line."""
        for i in range(width):  # byte by byte: a write may cover several registers
            self._config_write_byte(offset + i, (value >> (8 * i)) & 0xFF)
        self._update_decoding()

    def _config_write_byte(self, offset: int, byte: int) -> None:
        if offset in (COMMAND, COMMAND + 1):
            shift = 8 * (offset - COMMAND)
            mask = (_COMMAND_WRITABLE >> shift) & 0xFF
            self.config[offset] = (self.config[offset] & ~mask) | (byte & mask)
        elif BAR0 <= offset < BAR0 + 4 * BAR_COUNT:
            index, part = divmod(offset - BAR0, 4)
            if index >= len(self.bars) or self.bars[index] is None:
                return  # unimplemented BARs are hardwired to 0
            raw = bytearray(self.config[BAR0 + 4 * index:BAR0 + 4 * index + 4])
            raw[part] = byte
            self._store_bar(index, int.from_bytes(raw, "little"))
        elif offset in (INTERRUPT_LINE, CACHE_LINE_SIZE, LATENCY_TIMER):
            self.config[offset] = byte
        elif self.msi_vectors and offset == MSI_FLAGS:  # enable and Multiple Message Enable
            self.config[offset] = (self.config[offset] & MSI_FLAGS_QMASK) | (byte & (MSI_FLAGS_ENABLE | MSI_FLAGS_QSIZE))
        elif self.msi_vectors and MSI_ADDRESS <= offset < MSI_DATA + 2:
            self.config[offset] = byte & (0xFC if offset == MSI_ADDRESS else 0xFF)  # the address is dword aligned
        # Everything else in the header is read-only here.

    # -- interrupts: INTx, or MSI once the driver enabled it -------------------------
    @property
    def msi_enabled(self) -> bool:
        """Whether the driver turned MSI on in the capability."""
        return bool(self.msi_vectors and self.config[MSI_FLAGS] & MSI_FLAGS_ENABLE)

    def msi_message(self, vector: int = 0) -> tuple[int, int]:
        """The (address, data) the function writes to signal MSI ``vector``.

        With Multiple Message Enable at 2^n, the low n bits of the data
        carry the vector, as the specification has it.
        """
        address = int.from_bytes(self.config[MSI_ADDRESS:MSI_ADDRESS + 4], "little")
        data = int.from_bytes(self.config[MSI_DATA:MSI_DATA + 2], "little")
        enabled = 1 << ((self.config[MSI_FLAGS] & MSI_FLAGS_QSIZE) >> 4)
        if not 0 <= vector < enabled:
            raise ValueError(f"{self.name}: MSI vector {vector} not enabled (the driver enabled {enabled})")
        return address, (data & ~(enabled - 1)) | vector

    def raise_irq(self, vector: int = 0) -> list[Any]:
        """Signal an interrupt: MSI ``vector`` if the driver enabled MSI, else assert INTx.

        INTx is not delivered while the driver set Interrupt Disable in
        the command register (only the status bit says it is pending), as
        on hardware; an MSI to an address outside the APIC window is a
        driver bug and raises :class:`DmaError`.
        """
        if self.host is None:
            return []
        if self.msi_enabled:
            address, data = self.msi_message(vector)
            if not MSI_ADDRESS_WINDOW[0] <= address < MSI_ADDRESS_WINDOW[1]:
                raise DmaError(f"{self.name}: MSI write of {data:#x} to {address:#x}, outside the local APIC "
                               f"window {MSI_ADDRESS_WINDOW[0]:#x}-{MSI_ADDRESS_WINDOW[1] - 1:#x}")
            return self.host.raise_irq(data & 0xFF)
        self.config[STATUS] |= STATUS_INTERRUPT
        if self.command & COMMAND_INTX_DISABLE or self.irq is None:
            return []
        return self.host.raise_irq(self.irq)

    def lower_irq(self) -> None:
        """The function deasserts INTx (its interrupt status bit clears)."""
        self.config[STATUS] &= ~STATUS_INTERRUPT

    # -- decoding: BARs reach the model while the command register says so ----------
    def _update_decoding(self) -> None:
        host = self.host
        if host is None:
            return
        wanted: list[tuple[str, int, int, int]] = []
        for index, bar in enumerate(self.bars):
            if bar is None:
                continue
            address = self.bar_address(index)
            enabled = self.command & (COMMAND_IO if bar.kind == "io" else COMMAND_MEMORY)
            if enabled and address and address != _FLOAT & ~(bar.size - 1):
                wanted.append((bar.kind, index, address, bar.size))
        if wanted == self._decoding:
            return
        host.ports.release(self)
        for base, _ in self._mmio_windows:
            host.mmio.unmap(base)
        self._mmio_windows = []
        self._decoding = []
        for kind, index, address, size in wanted:
            if kind == "io":
                if address + size > 0x10000:
                    continue  # beyond the 64 KiB port space: decodes nothing
                try:
                    host.ports.claim(address, size, self)
                except ValueError:
                    continue  # overlaps another device: a misprogrammed BAR decodes nothing here
            else:
                base = address & ~(amap.PAGE_SIZE - 1)
                span = amap.page_align_up(address + size) - base
                try:
                    host.mmio.map(base, span, _BarWindow(self, base))
                except ValueError:
                    continue  # outside the MMIO area, or over another window
                self._mmio_windows.append((base, span))
            self._decoding.append((kind, index, address, size))

    def detach(self) -> None:
        if self.host is not None:
            for base, _ in self._mmio_windows:
                self.host.mmio.unmap(base)
        self._decoding = []
        self._mmio_windows = []
        super().detach()

    def _bar_at(self, kind: str, address: int) -> tuple[int, int] | None:
        for bar_kind, index, start, size in self._decoding:
            if bar_kind == kind and start <= address < start + size:
                return index, address - start
        return None

    def port_read(self, port: int, width: int) -> int:
        found = self._bar_at("io", port)
        return self.bar_read(*found, width) if found else (1 << (8 * width)) - 1

    def port_write(self, port: int, width: int, value: int) -> None:
        found = self._bar_at("io", port)
        if found:
            self.bar_write(*found, width, value)

    def bus_read(self, address: int, width: int) -> int:
        """A load at ``address`` in one of the memory BARs' windows."""
        found = self._bar_at("mem", address)
        return self.bar_read(*found, width) if found else (1 << (8 * width)) - 1

    def bus_write(self, address: int, width: int, value: int) -> None:
        """A store at ``address`` in one of the memory BARs' windows."""
        found = self._bar_at("mem", address)
        if found:
            self.bar_write(*found, width, value)

    # -- what a model implements ----------------------------------------------------
    def bar_read(self, bar: int, offset: int, width: int) -> int:
        """A read of ``width`` bytes at ``offset`` into BAR ``bar``; unimplemented registers float high."""
        return (1 << (8 * width)) - 1

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        """A write into BAR ``bar``; ignored by default."""

    def register_name(self, offset: int, write: bool) -> str | None:
        found = self._bar_at("io", self.port_base + offset)
        return f"BAR{found[0]}+{found[1]:#x}" if found else None

    # -- DMA ------------------------------------------------------------------------
    def dma_read(self, bus_address: int, size: int) -> bytes:
        """Read guest memory as this function's bus master would."""
        return self._dma_memory("read", bus_address, size).read(bus_address + self.dma_offset, size)

    def dma_write(self, bus_address: int, data: bytes) -> None:
        """Write guest memory as this function's bus master would."""
        self._dma_memory("write", bus_address, len(data)).write(bus_address + self.dma_offset, data)

    def _dma_memory(self, verb: str, bus_address: int, size: int):  # type: ignore[no-untyped-def]
        if self.host is None:
            raise DmaError(f"{self.name}: DMA {verb} of {size} bytes at {bus_address:#x} while not on a bus")
        if not self.bus_master:
            raise DmaError(f"{self.name}: DMA {verb} of {size} bytes at {bus_address:#x} without bus mastering "
                           "(the driver never called pci_set_master / set COMMAND bit 2)")
        if self.dma_check is not None:
            why = self.dma_check(bus_address, size)
            if why is not None:
                raise DmaError(f"{self.name}: DMA {verb} of {size} bytes at bus address {bus_address:#x}: {why}")
        return self.host.memory


class _BarWindow:
    """One page-aligned MMIO window of a function: the MMIO bus calls it with offsets from ``base``."""

    def __init__(self, function: PciFunction, base: int) -> None:
        self.function = function
        self.base = base
        self.name = function.name

    @property
    def host(self):  # type: ignore[no-untyped-def]
        """The function's host: a window is part of an attached device, saved with it, not on its own."""
        return self.function.host

    def mmio_read(self, offset: int, width: int) -> int:
        return self.function.bus_read(self.base + offset, width)

    def mmio_write(self, offset: int, width: int, value: int) -> None:
        self.function.bus_write(self.base + offset, width, value)

    def register_name(self, offset: int, write: bool) -> str | None:
        found = self.function._bar_at("mem", self.base + offset)
        return f"BAR{found[0]}+{found[1]:#x}" if found else None


class DmaError(Exception):
    """A device model tried DMA the driver did not allow."""


class HostBridge(PciFunction):
    """00:00.0, the host bridge every PC has (an Intel 440FX's ids)."""

    vendor_id, device_id, class_code = 0x8086, 0x1237, 0x060000
    interrupt_pin = 0


class PciBus(Device):
    """Bus 0 of a PC: the configuration ports and the functions on it.

    ``add(function, slot=None)`` puts a function in a slot (the first free
    one unless told), assigns its BARs and its IRQ line as firmware would,
    attaches it to the host, and tells the listeners (``on_add``: a
    profile's PCI core probing drivers). ``remove(function)`` unplugs it.
    """

    name = "pci"
    port_ranges = ((CONFIG_ADDRESS, 8),)
    registers: Mapping[int, RegisterName] = MappingProxyType(
        {0: "CONFIG_ADDRESS", 4: "CONFIG_DATA", 5: "CONFIG_DATA+1", 6: "CONFIG_DATA+2", 7: "CONFIG_DATA+3"})
    port_base = CONFIG_ADDRESS

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.functions: dict[tuple[int, int, int], PciFunction] = {}
        self.address_register = 0
        self.on_add: list[Callable[[PciFunction], None]] = []
        self.on_remove: list[Callable[[PciFunction], None]] = []
        self._io_cursor = IO_WINDOW[0]
        self._mem_cursor = amap.MMIO_BASE + amap.MMIO_SIZE // 2  # the upper half: below it stays free for users

    def attach(self, host) -> None:  # type: ignore[no-untyped-def]
        super().attach(host)
        if (0, 0, 0) not in self.functions:
            self.add(HostBridge("pci-host-bridge"), slot=0)

    # -- functions ------------------------------------------------------------------
    def add(self, function: PciFunction, slot: int | None = None, fn: int = 0) -> PciFunction:
        """Plug ``function`` into ``slot`` (0-31) of bus 0; returns it."""
        if self.host is None:
            raise ValueError("the PCI bus is not attached to a kernel")
        if slot is None:
            slot = next((s for s in range(1, 32) if (0, s, fn) not in self.functions), None)
            if slot is None:
                raise ValueError("PCI bus 0 is full (32 slots)")
        if not 0 <= slot < 32 or not 0 <= fn < 8:
            raise ValueError(f"PCI slot {slot} function {fn} is out of range (0-31, 0-7)")
        if (0, slot, fn) in self.functions:
            raise ValueError(f"PCI slot 00:{slot:02x}.{fn} is taken by {self.functions[0, slot, fn].name}")
        function.address = (0, slot, fn)
        self._assign(function, slot)
        self.host.add_device(function)
        self.functions[0, slot, fn] = function
        function._update_decoding()
        for listener in list(self.on_add):
            listener(function)
        return function

    def remove(self, function: PciFunction) -> None:
        """Unplug ``function`` (listeners are told first, as a hot-unplug removes the driver first)."""
        for listener in list(self.on_remove):
            listener(function)
        self.functions.pop(function.address, None)  # type: ignore[arg-type]
        if self.host is not None:
            self.host.remove_device(function.name)
        function.address = None

    def _assign(self, function: PciFunction, slot: int) -> None:
        for index, bar in enumerate(function.bars):
            if bar is None:
                continue
            if bar.kind == "io":
                address = (self._io_cursor + bar.size - 1) & ~(bar.size - 1)
                if address + bar.size > IO_WINDOW[1]:
                    raise ValueError(f"no room for {function.name}'s {bar.size}-byte I/O BAR {index}")
                self._io_cursor = address + bar.size
            else:
                align = max(bar.size, amap.PAGE_SIZE)
                address = (self._mem_cursor + align - 1) & ~(align - 1)
                if address + align > amap.MMIO_BASE + amap.MMIO_SIZE:
                    raise ValueError(f"no room for {function.name}'s {bar.size}-byte memory BAR {index}")
                self._mem_cursor = address + align
            function._store_bar(index, address)
        if function.interrupt_pin:
            line = PCI_IRQS[(slot + function.interrupt_pin - 1) % len(PCI_IRQS)]
            function.irq = line
            function.config[INTERRUPT_LINE] = line

    def function_at(self, bus: int, device: int, fn: int) -> PciFunction | None:
        """The function at bus:device.fn, or None."""
        return self.functions.get((bus, device, fn))

    def find(self, vendor_id: int, device_id: int) -> list[PciFunction]:
        """Functions with these ids, in slot order."""
        return [f for _, f in sorted(self.functions.items()) if (f.vendor_id, f.device_id) == (vendor_id, device_id)]

    # -- configuration access -----------------------------------------------------------
    def config_read(self, bus: int, device: int, fn: int, offset: int, width: int) -> int:
        """What a configuration read returns (all ones where no function answers)."""
        function = self.function_at(bus, device, fn)
        return function.config_read(offset, width) if function else (1 << (8 * width)) - 1

    def config_write(self, bus: int, device: int, fn: int, offset: int, width: int, value: int) -> None:
        """A configuration write (ignored where no function answers)."""
        function = self.function_at(bus, device, fn)
        if function is not None:
            function.config_write(offset, width, value)

    def _selected(self) -> tuple[int, int, int, int] | None:
        address = self.address_register
        if not address & 0x80000000:
            return None
        return (address >> 16) & 0xFF, (address >> 11) & 0x1F, (address >> 8) & 0x7, address & 0xFC

    def port_read(self, port: int, width: int) -> int:
        if port == CONFIG_ADDRESS and width == 4:
            return self.address_register
        if port >= CONFIG_DATA:
            selected = self._selected()
            if selected is not None:
                bus, device, fn, register = selected
                return self.config_read(bus, device, fn, register + port - CONFIG_DATA, width)
        return (1 << (8 * width)) - 1

    def port_write(self, port: int, width: int, value: int) -> None:
        if port == CONFIG_ADDRESS and width == 4:
            self.address_register = value & 0x80FFFFFC
        elif port >= CONFIG_DATA:
            selected = self._selected()
            if selected is not None:
                bus, device, fn, register = selected
                self.config_write(bus, device, fn, register + port - CONFIG_DATA, width, value)
