"""Linux's PCI core over the emulated bus, with the real wdt_pci.ko and a PCI-WDT501 card model.

Enumeration makes a struct pci_dev per function (ids, IRQ, BAR resources,
as drivers' inline accessors read them); the driver's id table matches the
card, probe enables it, claims BAR 2, takes the IRQ and registers
/dev/watchdog; Python then drives the watchdog, and the card's interrupt
reaches the driver's handler.
"""

from __future__ import annotations

import struct

import pytest

from sandbox import Kernel
from sandbox.devices.wdt501 import SR_WCCR, Wdt501

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

WDIOC_GETSUPPORT, WDIOC_SETTIMEOUT = 0x80285700, 0xC0045706


def _kernel() -> tuple[Kernel, Wdt501]:
    k = Kernel("linux")
    card = k.pci.add(Wdt501())
    k.load(ko("drivers/watchdog/wdt_pci.ko"))
    return k, card


def test_probe_finds_the_card_by_its_id_table() -> None:
    k, card = _kernel()
    io = card.bar_address(2)
    assert k.console.splitlines() == [
        f"wdt_pci: PCI-WDT500/501 (PCI-WDG-CSM) driver 0.10 at {io:#x} (Interrupt {card.irq})",
        "wdt_pci: initialized. heartbeat=60 sec (nowayout=0)",
    ]
    probes = [e.fields for e in k.trace.of_kind("note") if e.name == "probe"]
    assert probes == [{"driver": "wdt_pci", "device": "0000:00:01.0", "result": 0}]
    assert card.command & 0x1  # pci_enable_device turned I/O decoding on
    from kernel_stubs.linux.platform import Resources

    assert any(r.start == io and r.name == "wdt_pci" for r in k.subsystem(Resources).regions)


def test_dev_watchdog_arms_reloads_and_stops_the_card() -> None:
    k, card = _kernel()
    dog = k.open("/dev/watchdog")
    assert card.armed and card.heartbeat_ticks == 6000 and card.counts[0] == 20833  # 100 Hz from 2.0833 MHz
    info = bytearray(40)
    assert dog.ioctl(WDIOC_GETSUPPORT, info) == 0
    assert info[8:].split(b"\0")[0] == b"PCI-WDT500/501"
    timeout = bytearray(struct.pack("<i", 30))
    assert dog.ioctl(WDIOC_SETTIMEOUT, timeout) == 0 and card.heartbeat_ticks == 3000
    dog.write(b"V")
    dog.close()
    assert not card.enabled and card.counts[2] == 0


def test_the_cards_interrupt_reaches_the_driver() -> None:
    k, card = _kernel()
    card.alarm(SR_WCCR)
    assert "wdt_pci: Reset in 5ms" in k.console
    handlers = [e for e in k.trace.of_kind("irq") if e.name == "handler"]
    assert handlers and handlers[-1].fields["line"] == card.irq and handlers[-1].fields["result_name"] == "IRQ_HANDLED"


def test_unload_removes_the_driver_from_the_card() -> None:
    k, card = _kernel()
    report = k.unload("wdt_pci")
    assert report.clean, report.leaks
    assert k.irqs.actions(card.irq) == []
    from kernel_stubs.linux.pci import PciCore

    assert k.subsystem(PciCore).drivers == {}
    assert all(not d.driver for d in k.subsystem(PciCore).devices.values())


def test_no_card_no_probe() -> None:
    k = Kernel("linux")
    k.load(ko("drivers/watchdog/wdt_pci.ko"))  # a PCI driver's init succeeds without hardware, as on Linux
    assert k.console == "" and [e for e in k.trace.of_kind("note") if e.name == "probe"] == []
    with pytest.raises(Exception, match="no device /dev/watchdog"):
        k.open("/dev/watchdog")


def test_a_card_hot_plugged_after_the_driver_is_probed() -> None:
    k = Kernel("linux")
    k.load(ko("drivers/watchdog/wdt_pci.ko"))
    card = k.pci.add(Wdt501())
    assert "wdt_pci: initialized. heartbeat=60 sec (nowayout=0)" in k.console
    k.pci.remove(card)                       # unplugged: the driver's remove runs first
    assert k.irqs.actions(card.irq) == []
    assert k.unload("wdt_pci").clean


# -- DMA with a compiled PCI driver ------------------------------------------------------------

DMA_DRIVER = r"""
typedef unsigned int u32;
struct resource { u32 start, end; const char *name; unsigned long flags, desc; void *parent, *sibling, *child; };
struct pci_device_id { u32 vendor, device, subvendor, subdevice, class_, class_mask; unsigned long data; u32 override_only; };
struct pci_driver { void *node[2]; const char *name; const struct pci_device_id *id_table;
    int (*probe)(void *pdev, const struct pci_device_id *id); void (*remove)(void *pdev); char rest[128]; };
extern int __pci_register_driver(struct pci_driver *drv, void *owner, const char *mod_name);
extern void pci_unregister_driver(struct pci_driver *drv);
extern int pci_enable_device(void *pdev);
extern void pci_disable_device(void *pdev);
extern void pci_set_master(void *pdev);
extern void *dma_alloc_attrs(void *dev, unsigned int size, u32 *handle, unsigned int gfp, unsigned long attrs);
extern void dma_free_attrs(void *dev, unsigned int size, void *cpu, u32 handle, unsigned long attrs);
extern int dma_set_mask(void *dev, unsigned long long mask);
static inline void outl(u32 v, unsigned short port) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outb(unsigned char v, unsigned short port) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
#define DEV(pdev) ((char *)(pdev) + 136)
#define BAR(pdev, n) ((struct resource *)((char *)(pdev) + 592) + (n))
char *buffer; u32 handle; int small_mask;
static void *the_pdev;
static int probe(void *pdev, const struct pci_device_id *id)
{
	if (pci_enable_device(pdev))
		return -19;
	small_mask = dma_set_mask(DEV(pdev), 0xFFFFFFull);       /* an ISA-era 24-bit mask: refused */
	if (dma_set_mask(DEV(pdev), 0xFFFFFFFFull))
		return -5;
	pci_set_master(pdev);
	buffer = dma_alloc_attrs(DEV(pdev), 64, &handle, 0xcc0, 0);
	if (!buffer)
		return -12;
	outl(handle, BAR(pdev, 0)->start + 4);
	outb(1, BAR(pdev, 0)->start);          /* the device writes into the buffer */
	the_pdev = pdev;
	return 0;
}
static void remove(void *pdev) { dma_free_attrs(DEV(pdev), 64, buffer, handle, 0); pci_disable_device(pdev); }
static const struct pci_device_id ids[] = { { 0x1234, 0x5678, ~0u, ~0u, 0, 0, 0, 0 }, { 0 } };
static struct pci_driver drv = { .name = "dmademo", .id_table = ids, .probe = probe, .remove = remove };
int init_module(void) { return __pci_register_driver(&drv, 0, "dmademo"); }
void cleanup_module(void) { pci_unregister_driver(&drv); }
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


def test_coherent_dma_reaches_the_driver_at_its_bus_address(compile_c) -> None:
    from tests.test_pci import Demo

    k = Kernel("linux", check_vermagic=False)
    demo = k.pci.add(Demo())
    m = k.load(compile_c(DMA_DRIVER, "dmademo", "-mregparm=3"))
    buffer, handle = k.memory.read_u32(m.address_of("buffer")), k.memory.read_u32(m.address_of("handle"))
    assert handle == buffer - 0xC0000000  # lowmem: bus (physical) = virtual - PAGE_OFFSET
    assert k.memory.read_cstring(buffer) == b"hello from the device"
    assert k.memory.read_u32(m.address_of("small_mask")) == 0xFFFFFFFB  # -EIO
    from sandbox.devices.pci import DmaError

    with pytest.raises(DmaError, match="no driver mapped that range for DMA"):
        demo.dma_write(handle + 4096, b"stray")             # outside the buffer the driver handed over
    assert k.unload(m).clean
    from kernel_stubs.linux.pci import Dma

    assert k.subsystem(Dma).ranges == []                    # remove freed the buffer
    with pytest.raises(DmaError, match="without bus mastering"):
        demo.dma_write(handle, b"late")                      # pci_disable_device ended bus mastering


IOMAP_DRIVER = DMA_DRIVER.split("char *buffer;")[0] + r"""
extern void *pci_iomap(void *pdev, int bar, unsigned long maxlen);
extern void pci_iounmap(void *pdev, void *addr);
extern unsigned int ioread8(const void *addr);
extern unsigned int ioread32(const void *addr);
extern void iowrite32(u32 value, void *addr);
u32 mem_value, port_value; void *mem, *io;
static int probe(void *pdev, const struct pci_device_id *id)
{
	if (pci_enable_device(pdev))
		return -19;
	mem = pci_iomap(pdev, 0, 0);
	io = pci_iomap(pdev, 1, 0);
	if (!mem || !io)
		return -12;
	iowrite32(0xC0FFEE, (char *)mem + 8);
	mem_value = ioread32((char *)mem + 8);
	port_value = ioread8(io);
	return 0;
}
static void remove(void *pdev) { pci_iounmap(pdev, mem); pci_iounmap(pdev, io); pci_disable_device(pdev); }
static const struct pci_device_id ids[] = { { 0x1AF4, 0x10FF, ~0u, ~0u, 0, 0, 0, 0 }, { 0 } };
static struct pci_driver drv = { .name = "iomapdemo", .id_table = ids, .probe = probe, .remove = remove };
int init_module(void) { return __pci_register_driver(&drv, 0, "iomapdemo"); }
void cleanup_module(void) { pci_unregister_driver(&drv); }
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


def test_pci_iomap_cookies_reach_both_kinds_of_bar(compile_c) -> None:
    from tests.test_pci import Ram

    k = Kernel("linux", check_vermagic=False)
    ram = k.pci.add(Ram())
    m = k.load(compile_c(IOMAP_DRIVER, "iomapdemo", "-mregparm=3"))
    read = lambda name: k.memory.read_u32(m.address_of(name))  # noqa: E731
    assert read("mem") == ram.bar_address(0) and read("io") == ram.bar_address(1) + 0x10000  # PIO_OFFSET cookie
    assert ram.cells[8] == 0xC0FFEE and read("mem_value") == 0xC0FFEE and read("port_value") == 0x42
    accesses = [(e.kind, e.fields["direction"], e.fields["device"]) for e in k.trace if e.kind in ("port", "mmio")]
    assert accesses == [("mmio", "write", "ram"), ("mmio", "read", "ram"), ("port", "in", "ram")]
    assert k.unload(m).clean


def test_a_wdt501_card_with_its_thermometer() -> None:
    k = Kernel("linux")
    card = k.pci.add(Wdt501(temperature_raw=0x60))
    k.load(ko("drivers/watchdog/wdt_pci.ko"), params={"type": 501})   # the 501 has a temperature sensor
    thermometer = k.open("/dev/temperature")
    assert thermometer.read(1) == bytes([0x60 * 11 // 15 + 7])       # degrees Fahrenheit, as the driver computes
    thermometer.close()
    card.alarm(0x02)                                                   # TGOOD cleared: overheat
    assert "wdt_pci: Overheat alarm (96)" in k.console
    assert k.unload("wdt_pci").clean
