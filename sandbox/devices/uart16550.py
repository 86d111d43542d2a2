"""A 16550A UART (a PC's COM port) with a 16-byte receive FIFO.

Registers (offset from the base port; DLAB is LCR bit 7):

| off | read              | write             |
|-----|-------------------|-------------------|
| 0   | RBR (DLAB: DLL)   | THR (DLAB: DLL)   |
| 1   | IER (DLAB: DLM)   | IER (DLAB: DLM)   |
| 2   | IIR               | FCR               |
| 3   | LCR               | LCR               |
| 4   | MCR               | MCR               |
| 5   | LSR               | -                 |
| 6   | MSR               | -                 |
| 7   | SCR               | SCR               |

What the model does, and where it simplifies:

- The initial state is what a PC BIOS leaves behind: 9600 baud, 8N1.
- Transmission is instantaneous: a THR write lands in :attr:`output` at
  once, so LSR.THRE and LSR.TEMT always read 1.
- Received bytes come from :meth:`feed`. In FIFO mode (FCR bit 0) the FIFO
  holds 16 bytes; without it, one. A byte arriving at a full FIFO is lost
  and sets LSR.OE (the 16450 overwrote the held byte in non-FIFO mode; so
  does this model).
- Interrupt causes in priority order, as IIR reports them: receiver line
  status (0x06, IER bit 2, an overrun; cleared by reading LSR), received
  data (0x04 when the FIFO holds at least the FCR trigger level, else
  character timeout 0x0C, which on real hardware follows four idle
  character times and here is immediate; IER bit 0; cleared by draining
  RBR), THR empty (0x02, IER bit 1; armed when THR empties or the bit is
  enabled, cleared by reading IIR or writing THR). Modem-status interrupts
  are never raised. IIR bits 7:6 read 11 when the FIFO is enabled.
- As on a PC, the interrupt reaches the IRQ line only while MCR.OUT2 is set
  (``out2_gates_irq=False`` drops that rule). The line is edge-triggered:
  the device raises its IRQ when the condition goes from false to true. A
  line that stays asserted while one cause gives way to another (data read,
  THR empty still pending) makes no new edge, which is why handlers loop on
  IIR until it reads "no interrupt".
- MCR bit 4 (loopback) sends THR bytes back into the receiver and reflects
  DTR/RTS/OUT1/OUT2 in MSR; otherwise MSR reads CTS|DSR|DCD (a terminal
  that is connected and ready).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from .device import Device, RegisterName

# Register offsets.
RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
IIR_NO_INT, IIR_RLSI, IIR_RDI, IIR_TIMEOUT, IIR_THRI = 0x01, 0x06, 0x04, 0x0C, 0x02
IIR_FIFO_ENABLED = 0xC0
FCR_ENABLE_FIFO, FCR_CLEAR_RCVR, FCR_CLEAR_XMIT = 0x01, 0x02, 0x04
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
LSR_DR, LSR_OE, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x20, 0x40
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80

FIFO_DEPTH = 16
TRIGGER_LEVELS = (1, 4, 8, 14)  # FCR bits 7:6
BASE_BAUD = 115200  # 1.8432 MHz crystal / 16


class Uart16550(Device):
    """A 16550A at ``port`` on ``irq``. Host side: :meth:`feed`, :attr:`output`."""

    registers: Mapping[int, RegisterName] = {
        RBR: ("RBR", "THR"), IER: "IER", IIR: ("IIR", "FCR"), LCR: "LCR",
        MCR: "MCR", LSR: "LSR", MSR: "MSR", SCR: "SCR",
    }

    def __init__(self, name: str = "com1", port: int = 0x3F8, irq: int = 4, *, out2_gates_irq: bool = True) -> None:
        super().__init__(name, irq)
        self.port_base = port
        self.port_ranges = ((port, 8),)
        self.out2_gates_irq = out2_gates_irq
        self.reset()

    def reset(self) -> None:
        """State as a PC BIOS leaves COM1: 9600 baud 8N1, interrupts and FIFO off,
        nothing received or sent."""
        self.ier = 0
        self.lcr = 0x03  # 8 data bits, no parity, 1 stop bit
        self.mcr = 0
        self.scr = 0
        self.divisor = 12  # 115200 / 12 = 9600 baud
        self.fifo_enabled = False
        self.trigger_level = 1
        self.rx: deque[int] = deque()
        self.line_errors = 0  # LSR error bits latched until LSR is read
        self.overruns = 0  # bytes lost to a full receiver, ever
        self.thre_pending = False
        self._output = bytearray()
        self._line = False  # the level of the interrupt output

    # -- host side -------------------------------------------------------
    @property
    def output(self) -> bytes:
        """Every byte the guest transmitted (THR writes outside loopback)."""
        return bytes(self._output)

    def clear_output(self) -> None:
        """Forget what was transmitted so far."""
        self._output.clear()

    @property
    def baud(self) -> int:
        """The programmed baud rate (0 while the divisor latch holds 0)."""
        return BASE_BAUD // self.divisor if self.divisor else 0

    @property
    def depth(self) -> int:
        """Receive buffer size: 16 with the FIFO enabled, else 1."""
        return FIFO_DEPTH if self.fifo_enabled else 1

    def feed(self, data: bytes | str) -> None:
        """Put ``data`` on the receive line, interrupting as the hardware would.

        Bytes enter the FIFO until it is full; a full FIFO interrupts (a
        driver's handler can drain it) before the next byte arrives, and the
        end of the burst interrupts for what is left. Bytes that find the
        FIFO still full are lost (LSR.OE).
        """
        if isinstance(data, str):
            data = data.encode()
        for byte in data:
            if len(self.rx) >= self.depth:
                self._update_irq()
            self._receive(byte)
        self._update_irq()

    # -- the register file ---------------------------------------------
    @property
    def _dlab(self) -> bool:
        return bool(self.lcr & LCR_DLAB)

    def register_name(self, offset: int, write: bool) -> str | None:
        """DLL/DLM while DLAB is set, else the fixed names."""
        if self._dlab and offset in (DLL, DLM):
            return "DLL" if offset == DLL else "DLM"
        return super().register_name(offset, write)

    def port_read(self, port: int, width: int) -> int:
        """Read the register at ``port`` (any width reads the byte register)."""
        offset = port - self.port_base
        if offset == RBR:
            if self._dlab:
                return self.divisor & 0xFF
            value = self.rx.popleft() if self.rx else 0
            self._update_irq()
            return value
        if offset == IER:
            return (self.divisor >> 8) & 0xFF if self._dlab else self.ier
        if offset == IIR:
            cause = self._cause()
            if cause == IIR_THRI:
                self.thre_pending = False  # reading IIR acknowledges THR empty
                self._update_irq()
            return cause | (IIR_FIFO_ENABLED if self.fifo_enabled else 0)
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            value = (LSR_DR if self.rx else 0) | self.line_errors | LSR_THRE | LSR_TEMT
            self.line_errors = 0
            self._update_irq()
            return value
        if offset == MSR:
            return self._msr()
        return self.scr

    def port_write(self, port: int, width: int, value: int) -> None:
        """Write the register at ``port``."""
        offset = port - self.port_base
        value &= 0xFF
        if offset == THR:
            if self._dlab:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._transmit(value)
        elif offset == IER:
            if self._dlab:
                self.divisor = (self.divisor & 0x00FF) | (value << 8)
            else:
                if value & IER_THRI and not self.ier & IER_THRI:
                    self.thre_pending = True  # THR is empty, so enabling the cause fires it
                self.ier = value & 0x0F
                self._update_irq()
        elif offset == FCR:
            self._write_fcr(value)
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
            self._update_irq()
        elif offset == SCR:
            self.scr = value

    def _write_fcr(self, value: int) -> None:
        enable = bool(value & FCR_ENABLE_FIFO)
        if enable != self.fifo_enabled or value & FCR_CLEAR_RCVR:
            self.rx.clear()  # switching FIFO mode resets the FIFOs
        self.fifo_enabled = enable
        self.trigger_level = TRIGGER_LEVELS[value >> 6] if enable else 1
        self._update_irq()

    def _msr(self) -> int:
        if self.mcr & MCR_LOOP:
            m = self.mcr
            return ((MSR_CTS if m & MCR_RTS else 0) | (MSR_DSR if m & MCR_DTR else 0)
                    | (MSR_RI if m & MCR_OUT1 else 0) | (MSR_DCD if m & MCR_OUT2 else 0))
        return MSR_CTS | MSR_DSR | MSR_DCD

    @property
    def _word_mask(self) -> int:
        return (1 << (5 + (self.lcr & 0x03))) - 1  # LCR bits 1:0 select 5..8 data bits

    # -- data paths ------------------------------------------------------
    def _receive(self, byte: int) -> None:
        byte &= self._word_mask
        if len(self.rx) >= self.depth:
            self.line_errors |= LSR_OE
            self.overruns += 1
            if not self.fifo_enabled:
                self.rx[-1] = byte
            return
        self.rx.append(byte)

    def _transmit(self, byte: int) -> None:
        byte &= self._word_mask
        # Writing THR clears the THR-empty interrupt; the byte leaves at once
        # and THR is empty again, which re-arms it: a fresh edge, as on the chip.
        self.thre_pending = False
        self._update_irq()
        if self.mcr & MCR_LOOP:
            self._receive(byte)
        else:
            self._output.append(byte)
        self.thre_pending = True
        self._update_irq()

    # -- interrupts ---------------------------------------------------------
    def _cause(self) -> int:
        """The highest-priority pending cause, as IIR bits 3:0."""
        ier = self.ier
        if ier & IER_RLSI and self.line_errors:
            return IIR_RLSI
        if ier & IER_RDI and self.rx:
            return IIR_RDI if len(self.rx) >= self.trigger_level else IIR_TIMEOUT
        if ier & IER_THRI and self.thre_pending:
            return IIR_THRI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        level = self._cause() != IIR_NO_INT and (bool(self.mcr & MCR_OUT2) or not self.out2_gates_irq)
        if level and not self._line:
            self._line = True  # set first: the handler runs inside raise_irq and updates it
            self.raise_irq()
        else:
            self._line = level
