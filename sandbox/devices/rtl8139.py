"""A Realtek RTL8139C Fast Ethernet controller (10ec:8139): a bus-mastering PCI NIC, as ``8139too`` drives it.

Registers (BAR 0 I/O ports and BAR 1 memory, 256 bytes each, the same
registers): IDR0-5 (MAC), MAR0-7, four transmit descriptors (TSD0-3 at 0x10,
TSAD0-3 at 0x20), RBSTART (0x30), CR (0x37), CAPR/CBR (0x38/0x3A), IMR/ISR
(0x3C/0x3E), TCR/RCR (0x40/0x44), 9346CR (0x50) with the serial EEPROM
behind it, CONFIG0-5, MSR (0x58), and the internal PHY's BMCR/BMSR/ANAR/ANLPAR
(0x62-0x6A).

- **Transmit**: writing TSDn with OWN clear sends ``size`` bytes the card
  reads by DMA from TSADn; the frame goes to :attr:`Rtl8139.wire`, TSDn gets
  OWN and TOK, ISR.TOK is set.
- **Receive** (:meth:`Rtl8139.receive`): through the RCR filter (AAP, APM,
  AM with the MAR hash, AB), the frame is DMA'd into the ring at RBSTART:
  a 4-byte header (status, length including the 4-byte FCS), the frame, its
  CRC-32, the write offset aligned to 4 and wrapped at the ring size (8 KiB
  << RCR.RBLEN; with RCR.WRAP the packet may run past the end into the
  driver's slack, as the chip does). CAPR reads and writes are 16 below the
  read offset, as on the chip. A frame that does not fit is an overflow
  (ISR.RXOVW, the missed counter). ISR.ROK is set.
- **EEPROM**: a 93C56 (8-bit addresses) behind 9346CR's EECS/EESK/EEDI/EEDO
  in programming mode, holding 0x8129 and the station address at words
  7-9, bit-banged by the driver.
- **Link**: :meth:`set_link` changes BMSR's link bit and MSR.LINKB,
  latches CSCR's link-change bit and raises ISR.PUN, as the chip does.
- **Interrupts**: asserted while ISR & IMR; each rising edge raises the IRQ.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from .ne2000 import multicast_bit
from .pci import Bar, PciFunction

IDR0, MAR0, TSD0, TSAD0, RBSTART, CR, CAPR, CBR = 0x00, 0x08, 0x10, 0x20, 0x30, 0x37, 0x38, 0x3A
IMR, ISR, TCR, RCR, MPC, CR9346, CONFIG1, MSR, CONFIG3 = 0x3C, 0x3E, 0x40, 0x44, 0x4C, 0x50, 0x52, 0x58, 0x59
BMCR, BMSR, ANAR, ANLPAR, ANER, CSCR = 0x62, 0x64, 0x66, 0x68, 0x6A, 0x74
CR_RST, CR_RE, CR_TE, CR_BUFE = 0x10, 0x08, 0x04, 0x01
ISR_ROK, ISR_RER, ISR_TOK, ISR_TER, ISR_RXOVW, ISR_PUN, ISR_FOVW = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
TSD_OWN, TSD_TOK = 0x2000, 0x8000
RCR_AAP, RCR_APM, RCR_AM, RCR_AB, RCR_WRAP = 0x01, 0x02, 0x04, 0x08, 0x80
RX_ROK, RX_BAR, RX_PAM, RX_MAR = 0x0001, 0x2000, 0x4000, 0x8000
EE_CS, EE_SK, EE_DI, EE_DO, EE_PROGRAM = 0x08, 0x04, 0x02, 0x01, 0x80
BMSR_LINK = 0x0004
CSCR_LINK_CHANGE = 0x0800  # latched on a link change, cleared when read
MSR_LINKB = 0x04
TCR_RTL8139C = 0x74000000  # HW_REVID(1, 1, 1, 0, 1, 0, 0): what TCR's version bits say
MAX_FRAME = 1514


class Rtl8139(PciFunction):
    """An RTL8139C on the PCI bus; ``mac`` its station address (in the EEPROM), ``wire`` what it sent."""

    vendor_id, device_id, class_code, revision = 0x10EC, 0x8139, 0x020000, 0x10
    subsystem_vendor_id, subsystem_id = 0x10EC, 0x8139
    bars = (Bar("io", 256), Bar("mem", 256))

    def __init__(self, name: str = "rtl8139", mac: bytes = bytes.fromhex("525400123457"), irq: int | None = None
                 ) -> None:
        super().__init__(name, irq)
        if len(mac) != 6 or mac[0] & 1:
            raise ValueError(f"a station address is 6 bytes, unicast: {bytes(mac).hex(':')}")
        self.station_address = bytes(mac)
        words = [0] * 128
        words[0] = 0x8129
        for i in range(3):
            words[7 + i] = int.from_bytes(mac[2 * i:2 * i + 2], "little")
        self.eeprom = words
        self.regs = bytearray(256)
        self.link = True
        #: Frames the card sent, oldest first.
        self.wire: list[bytes] = []
        #: Frames lost at the card: (reason, frame).
        self.lost: list[tuple[str, bytes]] = []
        self.on_transmit: Callable[[bytes], None] | None = None
        self.asserted = False
        self._ee = {"state": "idle", "bits": 0, "count": 0, "word": 0, "out": 0, "sk": 0}
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Power-on / CR.RST: registers to their defaults (MAC from the EEPROM), rings emptied."""
        regs = self.regs
        regs[:] = bytes(256)
        regs[IDR0:IDR0 + 6] = self.station_address
        self._w32(TCR, TCR_RTL8139C)
        regs[CR] = CR_BUFE
        regs[CONFIG1] = 0x8D
        self._w16(BMCR, 0x1000)
        self._w16(ANAR, 0x05E1)
        self._w16(ANLPAR, 0x45E1)
        self._w16(ANER, 0x0001)
        self._set_link_bits()
        for n in range(4):
            self._w32(TSD0 + 4 * n, TSD_OWN)
        self.rx_read = 0  # the driver's read offset (CAPR + 16)
        self.rx_write = 0  # the card's write offset (CBR)
        self.tx_next = 0

    def _set_link_bits(self) -> None:
        self._w16(BMSR, 0x782D if self.link else 0x7809)
        self.regs[MSR] = 0 if self.link else MSR_LINKB

    def set_link(self, up: bool) -> None:
        """Plug or unplug the cable: BMSR/MSR follow and ISR.PUN tells the driver."""
        self.link = up
        self._set_link_bits()
        self._w16(CSCR, self._r16(CSCR) | CSCR_LINK_CHANGE)
        self._w16(ISR, self._r16(ISR) | ISR_PUN)
        self._update_irq()

    def _r16(self, reg: int) -> int:
        return int.from_bytes(self.regs[reg:reg + 2], "little")

    def _w16(self, reg: int, value: int) -> None:
        self.regs[reg:reg + 2] = (value & 0xFFFF).to_bytes(2, "little")

    def _r32(self, reg: int) -> int:
        return int.from_bytes(self.regs[reg:reg + 4], "little")

    def _w32(self, reg: int, value: int) -> None:
        self.regs[reg:reg + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")

    @property
    def ring_size(self) -> int:
        """The receive ring's size: 8 KiB << RCR.RBLEN."""
        return 8192 << (self._r32(RCR) >> 11 & 3)

    # -- register access ------------------------------------------------------------------------
    def bar_read(self, bar: int, offset: int, width: int) -> int:
        if offset + width > 256:
            return (1 << (8 * width)) - 1
        if offset == CR:
            return self.regs[CR] & ~CR_BUFE | (CR_BUFE if self.rx_read == self.rx_write else 0)
        if offset == CAPR and width == 2:
            return (self.rx_read - 16) & 0xFFFF
        if offset == CBR and width == 2:
            return self.rx_write & 0xFFFF
        if offset == CSCR and width == 2:
            value = self._r16(CSCR)
            self._w16(CSCR, value & ~CSCR_LINK_CHANGE)
            return value
        if offset == CR9346 and width == 1:
            value = self.regs[CR9346] & ~EE_DO
            return value | (self._ee["out"] if value & 0xC0 == EE_PROGRAM else 0)
        return int.from_bytes(self.regs[offset:offset + width], "little")

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset + width > 256:
            return
        if width == 4 and TSD0 <= offset < TSD0 + 16:
            self._w32(offset, value)
            if not value & TSD_OWN:
                self._transmit((offset - TSD0) // 4)
            return
        if offset == ISR and width >= 2:
            self._w16(ISR, self._r16(ISR) & ~value)  # write one to clear
            self._update_irq()
            return
        if offset == CAPR and width == 2:
            self.rx_read = (value + 16) % self.ring_size
            return
        if offset == CR and width == 1:
            if value & CR_RST:
                self.reset()
                return
            self.regs[CR] = value & (CR_RE | CR_TE)
            return
        if offset == CR9346 and width == 1:
            self.regs[CR9346] = value
            self._eeprom(value)
            return
        if offset in (CBR, CBR + 1, MSR, BMSR, BMSR + 1):
            return  # read-only
        self.regs[offset:offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        if offset <= IMR < offset + width:
            self._update_irq()

    # -- the 93C56 serial EEPROM ------------------------------------------------------------------
    def _eeprom(self, value: int) -> None:
        ee = self._ee
        if value & 0xC0 != EE_PROGRAM or not value & EE_CS:
            ee.update(state="idle", bits=0, count=0, out=0, sk=0)
            return
        rising = value & EE_SK and not ee["sk"]
        ee["sk"] = value & EE_SK
        if not rising:
            return
        bit = 1 if value & EE_DI else 0
        if ee["state"] == "idle":
            if bit:  # the start bit
                ee.update(state="command", bits=0, count=0)
        elif ee["state"] == "command":
            ee["bits"] = ee["bits"] << 1 | bit
            ee["count"] += 1
            if ee["count"] == 2 + 8:  # opcode (2 bits) and an 8-bit address
                opcode, address = ee["bits"] >> 8, ee["bits"] & 0xFF
                if opcode == 0b10:  # READ
                    ee.update(state="read", word=self.eeprom[address % len(self.eeprom)], count=16, out=0)
                else:
                    ee.update(state="idle")  # write/erase commands: the EEPROM is read-only here
        elif ee["state"] == "read":
            ee["count"] -= 1
            ee["out"] = ee["word"] >> ee["count"] & 1
            if ee["count"] == 0:
                ee["state"] = "done"

    # -- transmit ----------------------------------------------------------------------------
    def _transmit(self, n: int) -> None:
        status = self._r32(TSD0 + 4 * n)
        size = status & 0x1FFF
        if not self.regs[CR] & CR_TE:
            return  # the transmitter is off: the descriptor stays the card's until it is enabled
        frame = self.dma_read(self._r32(TSAD0 + 4 * n), size)
        self._w32(TSD0 + 4 * n, status | TSD_OWN | TSD_TOK)
        self.wire.append(frame)
        if self.on_transmit is not None:
            self.on_transmit(frame)
        self._w16(ISR, self._r16(ISR) | ISR_TOK)
        self._update_irq()

    # -- receive ----------------------------------------------------------------------------
    def accepts(self, frame: bytes) -> int:
        """The receive status flags for ``frame`` if the RCR filter lets it in, else 0."""
        rcr = self._r32(RCR)
        dest = frame[:6]
        if dest == b"\xff" * 6:
            return RX_BAR if rcr & (RCR_AB | RCR_AAP) else 0
        if dest[0] & 1:
            bit = multicast_bit(dest)
            hit = self.regs[MAR0 + bit // 8] >> (bit % 8) & 1
            return RX_MAR if rcr & RCR_AAP or (rcr & RCR_AM and hit) else 0
        if dest == bytes(self.regs[IDR0:IDR0 + 6]):
            return RX_PAM if rcr & (RCR_APM | RCR_AAP) else 0
        return RX_ROK if rcr & RCR_AAP else 0  # another host's frame, promiscuous

    def receive(self, frame: bytes) -> bool:
        """The wire delivers ``frame`` (no FCS): True if it was DMA'd into the ring (ISR.ROK set)."""
        frame = bytes(frame)
        if not 14 <= len(frame) <= MAX_FRAME:
            raise ValueError(f"an Ethernet frame is 14..{MAX_FRAME} bytes without FCS, not {len(frame)}")
        if not self.regs[CR] & CR_RE:
            self.lost.append(("receiver off", frame))
            return False
        flags = self.accepts(frame)
        if not flags:
            self.lost.append(("filtered", frame))
            return False
        frame = frame.ljust(60, b"\0")
        size = self.ring_size
        used = (self.rx_write - self.rx_read) % size
        need = (len(frame) + 8 + 3) & ~3
        if used + need >= size:
            self._w32(MPC, self._r32(MPC) + 1)
            self._w16(ISR, self._r16(ISR) | ISR_RXOVW)
            self.lost.append(("overflow", frame))
            self._update_irq()
            return False
        header = ((len(frame) + 4) << 16 | flags | RX_ROK).to_bytes(4, "little")
        crc = zlib.crc32(frame).to_bytes(4, "little")
        self._ring_write(header + frame + crc)
        self.rx_write = ((self.rx_write + 3) & ~3) % size
        self._w16(ISR, self._r16(ISR) | ISR_ROK)
        self._update_irq()
        return True

    def _ring_write(self, data: bytes) -> None:
        base, size, at = self._r32(RBSTART), self.ring_size, self.rx_write
        if at + len(data) > size and not self._r32(RCR) & RCR_WRAP:
            first = size - at
            self.dma_write(base + at, data[:first])
            self.dma_write(base, data[first:])
            self.rx_write = len(data) - first
            return
        self.dma_write(base + at, data)  # with RCR.WRAP the packet runs on past the ring's end
        self.rx_write = at + len(data)

    def _update_irq(self) -> None:
        asserted = bool(self._r16(ISR) & self._r16(IMR))
        rising = asserted and not self.asserted
        self.asserted = asserted
        if rising:
            self.raise_irq()
