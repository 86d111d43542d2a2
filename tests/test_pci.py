"""PCI bus 0 as a device model, driven by a compiled driver through the configuration ports.

The driver finds its function by scanning CONFIG_ADDRESS/CONFIG_DATA, sizes
its BAR the usual way (write all ones, read the mask), enables decoding and
bus mastering, and talks to the model through the BAR; the model writes
into the driver's buffer by DMA and raises its INTx line.
"""

from __future__ import annotations

import pytest

from sandbox import Kernel
from sandbox.devices.pci import COMMAND, COMMAND_MASTER, Bar, DmaError, PciFunction

DRIVER = r"""
#include <kernel.h>
#define CONFIG_ADDRESS 0xCF8
#define CONFIG_DATA 0xCFC
static u32 cfg_read(int dev, int reg) { outl(0x80000000u | (dev << 11) | (reg & 0xFC), CONFIG_ADDRESS); return inl(CONFIG_DATA); }
static void cfg_write(int dev, int reg, u32 v) { outl(0x80000000u | (dev << 11) | (reg & 0xFC), CONFIG_ADDRESS); outl(v, CONFIG_DATA); }
int slot = -1; u32 bar0, bar_size, before_enable, irq_line, status_seen; volatile int irqs;
char dma_buf[64];
static u16 io;
static irqreturn_t demo_irq(int irq, void *dev) { (void)irq; (void)dev; status_seen = inb(io + 1); irqs++; return IRQ_HANDLED; }
int demo_probe(void)
{
	int dev;
	for (dev = 0; dev < 32; dev++)
		if (cfg_read(dev, 0) == 0x56781234u) { slot = dev; break; }
	if (slot < 0)
		return -19;
	bar0 = cfg_read(slot, 0x10);
	cfg_write(slot, 0x10, 0xFFFFFFFFu);
	bar_size = ~(cfg_read(slot, 0x10) & ~3u) + 1;
	cfg_write(slot, 0x10, bar0);
	io = bar0 & ~3u;
	before_enable = inb(io + 1);          /* decoding is still off: nobody answers */
	irq_line = cfg_read(slot, 0x3C) & 0xFF;
	if (request_irq(irq_line, demo_irq, IRQF_SHARED, "demo", &irqs))
		return -16;
	cfg_write(slot, 0x04, cfg_read(slot, 0x04) | 0x5);   /* I/O space + bus master */
	outl((u32)dma_buf, io + 4);
	outb(1, io);                           /* doorbell: the device DMAs and interrupts */
	return 0;
}
void demo_remove(void) { free_irq(irq_line, &irqs); }
static int __init demo_init(void) { return 0; }
module_init(demo_init);
MODULE_LICENSE("GPL");
"""


class Demo(PciFunction):
    vendor_id, device_id, class_code = 0x1234, 0x5678, 0xFF0000
    bars = (Bar("io", 32),)

    def __init__(self) -> None:
        super().__init__("demo")
        self.dma_address = 0
        self.status = 0

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        if offset == 1:
            value, self.status = self.status, 0  # reading the status acknowledges it
            return value
        return 0

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset == 4:
            self.dma_address = value
        elif offset == 0:
            self.dma_write(self.dma_address, b"hello from the device\0")
            self.status = 0x80
            self.raise_irq()


def test_a_driver_finds_sizes_and_drives_a_pci_function(compile_c) -> None:
    kernel = Kernel()
    demo = kernel.pci.add(Demo())
    m = kernel.load(compile_c(DRIVER, "demo"))
    assert m.call("demo_probe") == 0
    read = kernel.memory.read_u32
    assert read(m.address_of("slot")) == 1 == demo.address[1]
    assert read(m.address_of("bar0")) == demo.bar_address(0) | 1 and read(m.address_of("bar_size")) == 32
    assert read(m.address_of("before_enable")) & 0xFF == 0xFF  # I/O decoding was off
    assert read(m.address_of("irq_line")) == demo.irq == 10  # slot 1, INTA: the router's second line
    assert kernel.memory.read_cstring(m.address_of("dma_buf")) == b"hello from the device"
    assert read(m.address_of("irqs")) == 1 and read(m.address_of("status_seen")) == 0x80
    ports = [e for e in kernel.trace.of_kind("port") if e.fields["device"] == "demo"]
    assert [e.fields["register"] for e in ports] == ["BAR0+0x4", "BAR0+0x0", "BAR0+0x1"]  # the read before enabling reached nobody
    m.call("demo_remove")


def test_dma_without_bus_mastering_is_refused() -> None:
    kernel = Kernel()
    demo = kernel.pci.add(Demo())
    with pytest.raises(DmaError, match="without bus mastering"):
        demo.dma_write(0xE0000000, b"x")
    demo.config_write(COMMAND, 2, COMMAND_MASTER)
    address = kernel.memory.alloc(8)
    demo.dma_write(address, b"ok")
    assert kernel.memory.read(address, 2) == b"ok"


class Ram(PciFunction):
    vendor_id, device_id = 0x1AF4, 0x10FF
    bars = (Bar("mem", 256), Bar("io", 8))

    def __init__(self) -> None:
        super().__init__("ram")
        self.cells: dict[int, int] = {}

    def bar_read(self, bar: int, offset: int, width: int) -> int:
        return self.cells.get(offset, 0) if bar == 0 else 0x42

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        self.cells[offset] = value


MMIO_DRIVER = r"""
#include <kernel.h>
u32 poke(u32 base, u32 value) { writel(value, (void *)(base + 8)); return readl((void *)(base + 8)) + readl((void *)(base + 0x100)); }
"""


def test_memory_bar_decodes_only_while_enabled(compile_c) -> None:
    kernel = Kernel()
    ram = kernel.pci.add(Ram())
    base = ram.bar_address(0)
    assert base % 256 == 0 and kernel.mmio.window_at(base) is None  # firmware assigned it; MEM decoding is off
    ram.config_write(COMMAND, 2, 0x2)
    m = kernel.load(compile_c(MMIO_DRIVER, "mmio"))
    # Past the 256-byte BAR the window's page floats high.
    assert m.call("poke", base, 0x1234, returns="uint") == (0x1234 + 0xFFFFFFFF) & 0xFFFFFFFF
    assert ram.cells[8] == 0x1234
    ram.config_write(COMMAND, 2, 0)
    assert kernel.mmio.window_at(base) is None


def test_functions_plugged_after_a_snapshot_are_gone_after_restore() -> None:
    kernel = Kernel()
    snap = kernel.snapshot()
    ram = kernel.pci.add(Ram())
    ram.config_write(COMMAND, 2, 0x3)
    assert kernel.ports.device_at(ram.bar_address(1)) is ram
    kernel.restore(snap)
    assert "ram" not in kernel.devices and kernel.pci.function_at(0, 1, 0) is None
    assert kernel.ports.device_at(ram.bar_address(1)) is None and kernel.mmio.window_at(ram.bar_address(0)) is None
    assert kernel.pci.add(Ram()).address == (0, 1, 0)


def test_hotplug_listeners_see_functions_come_and_go() -> None:
    kernel = Kernel()
    seen: list[str] = []
    kernel.pci.on_add.append(lambda f: seen.append(f"+{f.name}"))
    kernel.pci.on_remove.append(lambda f: seen.append(f"-{f.name}"))
    ram = kernel.pci.add(Ram(), slot=5)
    assert ram.address == (0, 5, 0) and kernel.pci.find(0x1AF4, 0x10FF) == [ram]
    kernel.pci.remove(ram)
    assert seen == ["+ram", "-ram"] and "ram" not in kernel.devices
    with pytest.raises(ValueError, match=r"slot 00:00\.0 is taken by pci-host-bridge"):
        kernel.pci.add(Ram(), slot=0)
