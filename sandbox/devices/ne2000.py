"""An NE2000 Ethernet card: a National Semiconductor DP8390 with 16 KiB of buffer RAM, for PCI and ISA.

The card as drivers see it (and as the NE2000 clones and QEMU's model
behave): 32 I/O ports, the DP8390's 16 registers at offsets 0x00-0x0F in
four pages selected by the command register (CR bits 6-7), the remote-DMA
data port at 0x10 and the reset port at 0x1F (reading it resets the chip).

- **Buffer memory** is a 64 KiB address space the host reaches only by
  remote DMA (RSAR/RBCR and the data port, bytes or words as DCR.WTS says;
  a count that runs out sets ISR.RDC): the station address PROM at 0x0000
  (each byte doubled, as word-wide cards return it; bytes 14-15 "WW") and
  RAM in pages 0x40-0x7F.
- **Receiving** (:meth:`Dp8390.receive`, the wire delivering a frame):
  the address filter (RCR: broadcast, multicast by the CRC hash in MAR0-7,
  promiscuous, else the station address in PAR0-5), then the frame is
  written into the ring at CURR behind a 4-byte header (status, next page,
  byte count including the header), wrapping from PSTOP to PSTART; CURR
  moves on and ISR.PRX is set. A frame that would reach BNRY overflows
  (ISR.OVW) and is lost. Frames shorter than 60 bytes are padded with zeros
  as the sender's MAC would; no FCS is stored.
- **Transmitting**: CR.TXP sends TBCR bytes from page TPSR: the frame goes
  to :attr:`Dp8390.wire` (and ``on_transmit``), TSR.PTX and ISR.PTX are set.
  In loopback (TCR.LB) nothing leaves the card.
- **Interrupts**: the line is asserted while ISR & IMR is non-zero (PCI
  INTx is level-triggered); each time it becomes asserted the IRQ is raised.

:class:`Ne2000Pci` is a Realtek RTL8029 (10ec:8029, what ``ne2k-pci``
drives, with its ID bytes 'P','C' at page 0 offsets 0x0A/0x0B);
:class:`Ne2000Isa` an ISA card at a fixed port and IRQ (``ne``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from .device import Device
from .pci import Bar, PciFunction

# Command register
CR_STP, CR_STA, CR_TXP = 0x01, 0x02, 0x04
CR_RD_READ, CR_RD_WRITE, CR_RD_SEND, CR_RD_ABORT = 0x08, 0x10, 0x18, 0x20
# Interrupt status / mask
ISR_PRX, ISR_PTX, ISR_RXE, ISR_TXE, ISR_OVW, ISR_CNT, ISR_RDC, ISR_RST = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80
RSR_PRX, RSR_PHY = 0x01, 0x20
TSR_PTX = 0x01
RCR_AB, RCR_AM, RCR_PRO, RCR_MON = 0x04, 0x08, 0x10, 0x20
TCR_LOOPBACK = 0x06
DCR_WTS = 0x01
DATA_PORT, RESET_PORT, PORT_COUNT = 0x10, 0x1F, 0x20
MEMORY_SIZE = 0x10000
RAM_START, RAM_END = 0x4000, 0x8000  # pages 0x40-0x7F
MIN_FRAME, MAX_FRAME = 60, 1514
RTL8029_ID = (0x50, 0x43)  # 'P', 'C'

# Register names for traces, by (page, offset, write).
_READ_NAMES = {0: ["CR", "CLDA0", "CLDA1", "BNRY", "TSR", "NCR", "FIFO", "ISR", "CRDA0", "CRDA1", "ID0", "ID1",
                   "RSR", "CNTR0", "CNTR1", "CNTR2"],
               1: ["CR", "PAR0", "PAR1", "PAR2", "PAR3", "PAR4", "PAR5", "CURR", "MAR0", "MAR1", "MAR2", "MAR3",
                   "MAR4", "MAR5", "MAR6", "MAR7"]}
_WRITE_NAMES = {0: ["CR", "PSTART", "PSTOP", "BNRY", "TPSR", "TBCR0", "TBCR1", "ISR", "RSAR0", "RSAR1", "RBCR0",
                    "RBCR1", "RCR", "TCR", "DCR", "IMR"], 1: _READ_NAMES[1]}


def multicast_bit(address: bytes) -> int:
    """The MAR bit (0-63) a multicast address hashes to: the top 6 bits of its big-endian CRC-32."""
    crc = zlib.crc32(bytes(address[:6])) ^ 0xFFFFFFFF
    reflected = int(f"{crc:032b}"[::-1], 2)
    return reflected >> 26


class Dp8390:
    """The DP8390 core and NE2000 buffer memory; mixed into a Device that routes its ports here."""

    station_address: bytes = bytes.fromhex("525400123456")

    def _init_nic(self, mac: bytes | None) -> None:
        if mac is not None:
            if len(mac) != 6 or mac[0] & 1:
                raise ValueError(f"a station address is 6 bytes, unicast: {bytes(mac).hex(':')}")
            self.station_address = bytes(mac)
        self.memory = bytearray(MEMORY_SIZE)
        self.cr = CR_STP | CR_RD_ABORT
        self.pstart = self.pstop = self.bnry = self.tpsr = self.curr = 0
        self.tbcr = self.rsar = self.rbcr = 0
        self.isr = ISR_RST
        self.imr = self.rcr = self.tcr = self.dcr = self.tsr = self.rsr = self.ncr = 0
        self.par = bytearray(6)
        self.mar = bytearray(8)
        self.counters = [0, 0, 0]  # CNTR0 frame alignment, CNTR1 CRC, CNTR2 missed: cleared on read
        self.page3 = bytearray(16)
        self.asserted = False
        #: Frames the card put on the wire, oldest first.
        self.wire: list[bytes] = []
        #: Frames lost at the card: (reason, frame) for filtered-out, overflow, stopped.
        self.lost: list[tuple[str, bytes]] = []
        self.on_transmit: Callable[[bytes], None] | None = None
        self._load_prom()

    def _load_prom(self) -> None:
        prom = bytearray(self.station_address + bytes(8) + b"WW")  # 16 bytes: address, 0s, 0x57 0x57
        for i, byte in enumerate(prom):
            self.memory[2 * i] = self.memory[2 * i + 1] = byte

    def reset(self) -> None:
        """What reading the reset port does: the chip stops, ISR.RST is set, the PROM is reloaded."""
        self.cr = CR_STP | CR_RD_ABORT
        self.isr = ISR_RST
        self._load_prom()
        self._update_irq()

    @property
    def started(self) -> bool:
        """Whether the chip runs (CR.STA and not CR.STP)."""
        return not self.cr & CR_STP and bool(self.cr & CR_STA)

    # -- the register file ------------------------------------------------------------------
    def nic_read(self, offset: int, width: int) -> int:
        """A read at ``offset`` (0x00-0x1F) of the card's ports."""
        if offset >= DATA_PORT and offset < RESET_PORT:
            return self._data_read(width)
        if offset == RESET_PORT:
            self.reset()
            return 0
        if width != 1:
            return self.nic_read(offset, 1) | self.nic_read(offset + 1, width - 1) << 8
        return self._register_read(self.cr >> 6, offset)

    def nic_write(self, offset: int, width: int, value: int) -> None:
        """A write at ``offset`` of the card's ports."""
        if offset >= DATA_PORT and offset < RESET_PORT:
            self._data_write(width, value)
            return
        if offset == RESET_PORT:
            return  # writing the reset port ends the reset pulse
        for i in range(width):
            self._register_write(self.cr >> 6, offset + i, value >> (8 * i) & 0xFF)

    def _register_read(self, page: int, reg: int) -> int:
        if reg == 0:
            return self.cr
        if page == 0:
            if reg in (0x0D, 0x0E, 0x0F):
                value, self.counters[reg - 0x0D] = self.counters[reg - 0x0D], 0
                return value
            return {0x01: self.rsar & 0xFF, 0x02: self.rsar >> 8, 0x03: self.bnry, 0x04: self.tsr, 0x05: self.ncr,
                    0x07: self.isr, 0x08: self.rsar & 0xFF, 0x09: self.rsar >> 8, 0x0A: RTL8029_ID[0],
                    0x0B: RTL8029_ID[1], 0x0C: self.rsr}.get(reg, 0)
        if page == 1:
            if reg <= 6:
                return self.par[reg - 1]
            return self.curr if reg == 7 else self.mar[reg - 8]
        if page == 2:
            return {0x01: self.pstart, 0x02: self.pstop, 0x04: self.tpsr, 0x0C: self.rcr, 0x0D: self.tcr,
                    0x0E: self.dcr, 0x0F: self.imr}.get(reg, 0)
        return self.page3[reg]

    def _register_write(self, page: int, reg: int, value: int) -> None:
        if reg == 0:
            self._command(value)
            return
        if page == 0:
            if reg == 0x01:
                self.pstart = value
            elif reg == 0x02:
                self.pstop = value
            elif reg == 0x03:
                self.bnry = value
            elif reg == 0x04:
                self.tpsr = value
            elif reg == 0x05:
                self.tbcr = self.tbcr & 0xFF00 | value
            elif reg == 0x06:
                self.tbcr = self.tbcr & 0xFF | value << 8
            elif reg == 0x07:
                self.isr &= ~(value & 0x7F)  # write one to clear; RST clears only when the chip starts
                self._update_irq()
            elif reg == 0x08:
                self.rsar = self.rsar & 0xFF00 | value
            elif reg == 0x09:
                self.rsar = self.rsar & 0xFF | value << 8
            elif reg == 0x0A:
                self.rbcr = self.rbcr & 0xFF00 | value
            elif reg == 0x0B:
                self.rbcr = self.rbcr & 0xFF | value << 8
            elif reg == 0x0C:
                self.rcr = value
            elif reg == 0x0D:
                self.tcr = value
            elif reg == 0x0E:
                self.dcr = value
            elif reg == 0x0F:
                self.imr = value
                self._update_irq()
        elif page == 1:
            if reg <= 6:
                self.par[reg - 1] = value
            elif reg == 7:
                self.curr = value
            else:
                self.mar[reg - 8] = value
        elif page == 3:
            self.page3[reg] = value  # RTL8029 configuration registers: kept, no effect here

    def _command(self, value: int) -> None:
        # Neither STA nor STP in the write: the chip keeps running (or stopped) as it was.
        self.cr = value & ~(CR_TXP | CR_STA | CR_STP) | (self.cr & (CR_TXP | CR_STA | CR_STP))
        if value & CR_STP:
            self.cr = (self.cr | CR_STP) & ~CR_STA
        elif value & CR_STA:
            self.cr = (self.cr | CR_STA) & ~CR_STP
            self.isr &= ~ISR_RST
        remote = value & 0x38
        if remote in (CR_RD_READ, CR_RD_WRITE) and self.rbcr == 0:
            self.isr |= ISR_RDC  # a zero-length transfer completes at once
            self._update_irq()
        if value & CR_TXP and self.started:
            self._transmit()

    # -- remote DMA ----------------------------------------------------------------------------
    def _step(self, count: int) -> None:
        self.rsar = (self.rsar + count) & 0xFFFF
        if self.pstop and self.rsar == self.pstop << 8:
            self.rsar = self.pstart << 8  # remote DMA wraps in the receive ring as the chip does
        if self.rbcr <= count:
            self.rbcr = 0
            self.isr |= ISR_RDC
            self._update_irq()
        else:
            self.rbcr -= count

    def _data_read(self, width: int) -> int:
        if width == 1 and self.dcr & DCR_WTS:
            width = 2  # a byte read in word mode still moves a word (its low byte is returned)
        value = 0
        for i in range(width):
            value |= self.memory[(self.rsar + i) & 0xFFFF] << (8 * i)
        self._step(width)
        return value

    def _data_write(self, width: int, value: int) -> None:
        count = 2 if width == 1 and self.dcr & DCR_WTS else width
        for i in range(count):
            address = (self.rsar + i) & 0xFFFF
            if RAM_START <= address < RAM_END:
                self.memory[address] = value >> (8 * i) & 0xFF
        self._step(count)

    # -- the wire ------------------------------------------------------------------------------
    def _transmit(self) -> None:
        start = self.tpsr << 8
        frame = bytes(self.memory[start:start + self.tbcr])
        self.cr &= ~CR_TXP
        self.tsr = TSR_PTX
        self.isr |= ISR_PTX
        if not self.tcr & TCR_LOOPBACK:
            self.wire.append(frame)
            if self.on_transmit is not None:
                self.on_transmit(frame)
        self._update_irq()

    def accepts(self, frame: bytes) -> bool:
        """Whether the address filter (RCR, PAR, MAR) lets ``frame`` in."""
        dest = frame[:6]
        if self.rcr & RCR_PRO:
            return True
        if dest == b"\xff" * 6:
            return bool(self.rcr & RCR_AB)
        if dest[0] & 1:
            bit = multicast_bit(dest)
            return bool(self.rcr & RCR_AM) and bool(self.mar[bit >> 3] >> (bit & 7) & 1)
        return dest == bytes(self.par)

    def _room(self) -> int:
        """Bytes free in the ring between CURR and BNRY."""
        index, boundary = self.curr << 8, self.bnry << 8
        if index < boundary:
            return boundary - index
        return (self.pstop - self.pstart << 8) - (index - boundary)

    def receive(self, frame: bytes) -> bool:
        """The wire delivers ``frame``: True if it went into the receive ring (and ISR.PRX is set)."""
        frame = bytes(frame)
        if not 14 <= len(frame) <= MAX_FRAME:
            raise ValueError(f"an Ethernet frame is 14..{MAX_FRAME} bytes without FCS, not {len(frame)}")
        if not self.started or self.rcr & RCR_MON or not self.pstop > self.pstart:
            self.lost.append(("stopped", frame))
            return False
        if not self.accepts(frame):
            self.lost.append(("filtered", frame))
            return False
        frame = frame.ljust(MIN_FRAME, b"\0")
        if self._room() < MAX_FRAME + 4 + 256:
            self.isr |= ISR_OVW
            self.counters[2] = min(self.counters[2] + 1, 0xFF)
            self.lost.append(("overflow", frame))
            self._update_irq()
            return False
        start, stop = self.pstart << 8, self.pstop << 8
        index = self.curr << 8
        if not start <= index < stop:
            index = start
        total = len(frame) + 4
        following = index + ((total + 4 + 255) & ~0xFF)
        if following >= stop:
            following -= stop - start
        self.rsr = RSR_PRX | (RSR_PHY if frame[0] & 1 else 0)
        header = bytes([self.rsr, following >> 8, total & 0xFF, total >> 8])
        for byte in header + frame:
            self.memory[index] = byte
            index += 1
            if index == stop:
                index = start
        self.curr = following >> 8
        self.isr |= ISR_PRX
        self._update_irq()
        return True

    def _update_irq(self) -> None:
        asserted = bool(self.isr & self.imr & 0x7F)
        rising = asserted and not self.asserted
        self.asserted = asserted
        if rising:
            self.raise_irq()  # type: ignore[attr-defined]

    def nic_register_name(self, offset: int, write: bool) -> str | None:
        if offset >= DATA_PORT:
            return "RESET" if offset == RESET_PORT else "DATA"
        page = self.cr >> 6
        names = (_WRITE_NAMES if write else _READ_NAMES).get(page)
        return f"{names[offset]}" if names else f"P{page}+{offset:#x}"


class Ne2000Pci(Dp8390, PciFunction):
    """A Realtek RTL8029 PCI NE2000 clone: BAR 0 is the card's 32 I/O ports."""

    vendor_id, device_id, class_code = 0x10EC, 0x8029, 0x020000
    subsystem_vendor_id, subsystem_id = 0x10EC, 0x8029
    bars = (Bar("io", PORT_COUNT),)

    def __init__(self, name: str = "ne2k-pci", mac: bytes | None = None, irq: int | None = None) -> None:
        super().__init__(name, irq)
        self._init_nic(mac)

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        return self.nic_read(offset, width)

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        self.nic_write(offset, width, value)

    def register_name(self, offset: int, write: bool) -> str | None:
        found = self._bar_at("io", self.port_base + offset)
        return self.nic_register_name(found[1], write) if found else None


class Ne2000Isa(Dp8390, Device):
    """An ISA NE2000 at ``port`` (0x300 by default) and ``irq`` (the ``ne`` driver's io=/irq= parameters)."""

    def __init__(self, name: str = "ne2000", port: int = 0x300, irq: int = 9, mac: bytes | None = None) -> None:
        super().__init__(name, irq)
        self.port_base = port
        self.port_ranges = ((port, PORT_COUNT),)
        self._init_nic(mac)

    def port_read(self, port: int, width: int) -> int:
        return self.nic_read(port - self.port_base, width)

    def port_write(self, port: int, width: int, value: int) -> None:
        self.nic_write(port - self.port_base, width, value)

    def register_name(self, offset: int, write: bool) -> str | None:
        return self.nic_register_name(offset, write)
