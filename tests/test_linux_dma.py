"""Streaming DMA, scatterlists, mem_map and the hwrng core with compiled Linux-style drivers.

The drivers are built here by gcc with -mregparm=3 against the Linux 6.1
i386 layouts (offsets handed in as -D defines from the DWARF table), so the
suite covers these services without the Debian corpus.
"""

from __future__ import annotations

import pytest

from kernel_stubs.linux.layout import offset
from kernel_stubs.linux.pci import Dma
from sandbox import Kernel
from sandbox.devices.chardev import O_NONBLOCK, O_RDONLY, O_RDWR
from sandbox.devices.pci import Bar, DmaError, PciFunction
from sandbox.errors import DeviceError, GuestFault

COMMON = r"""
typedef unsigned int u32; typedef unsigned long long u64; typedef unsigned char u8;
struct resource { u32 start, end; const char *name; unsigned long flags, desc; void *parent, *sibling, *child; };
struct pci_device_id { u32 vendor, device, subvendor, subdevice, class_, class_mask; unsigned long data; u32 override_only; };
struct pci_driver { void *node[2]; const char *name; const struct pci_device_id *id_table;
    int (*probe)(void *pdev, const struct pci_device_id *id); void (*remove)(void *pdev); char rest[128]; };
struct scatterlist { unsigned long page_link; u32 offset, length, dma_address, dma_length; };
struct sg_table { struct scatterlist *sgl; u32 nents, orig_nents; };
extern int __pci_register_driver(struct pci_driver *drv, void *owner, const char *mod_name);
extern void pci_unregister_driver(struct pci_driver *drv);
extern int pci_enable_device(void *pdev);
extern void pci_disable_device(void *pdev);
extern void pci_set_master(void *pdev);
extern int dma_set_mask(void *dev, u64 mask);
extern u32 dma_map_page_attrs(void *dev, void *page, u32 offset, u32 size, int dir, unsigned long attrs);
extern void dma_unmap_page_attrs(void *dev, u32 addr, u32 size, int dir, unsigned long attrs);
extern int dma_map_sg_attrs(void *dev, struct scatterlist *sg, int nents, int dir, unsigned long attrs);
extern void dma_unmap_sg_attrs(void *dev, struct scatterlist *sg, int nents, int dir, unsigned long attrs);
extern void dma_sync_single_for_cpu(void *dev, u32 addr, u32 size, int dir);
extern void dma_sync_single_for_device(void *dev, u32 addr, u32 size, int dir);
extern void sg_init_one(struct scatterlist *sg, const void *buf, u32 len);
extern struct scatterlist *sg_next(struct scatterlist *sg);
extern int sg_nents(struct scatterlist *sg);
extern int sg_alloc_table(struct sg_table *t, u32 nents, u32 gfp);
extern void sg_free_table(struct sg_table *t);
extern void *page_address(const void *page);
extern void *kmalloc_trace(void *cache, u32 flags, u32 size);
extern void *__kmalloc(u32 size, u32 flags);
extern void kfree(const void *p);
extern void *dmam_alloc_attrs(void *dev, u32 size, u32 *handle, u32 gfp, unsigned long attrs);
extern void *__kmap_local_page_prot(void *page, u32 prot);
extern void kunmap_local_indexed(const void *addr);
extern int request_dma(unsigned int dmanr, const char *device_id);
extern void free_dma(unsigned int dmanr);
extern char mem_map[];                 /* struct page *mem_map: the symbol is the pointer itself */
static inline void outl(u32 v, unsigned short port) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
#define DEV(pdev) ((char *)(pdev) + 136)
#define BAR(pdev, n) ((struct resource *)((char *)(pdev) + 592) + (n))
#define PAGE_OF(buf) (*(char **)mem_map + ((((unsigned long)(buf)) - 0xC0000000u) >> 12) * PAGE_STRUCT_SIZE)
#define DMA_TO_DEVICE 1
#define DMA_FROM_DEVICE 2
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""

STREAMING_DRIVER = COMMON + r"""
char *rx, *tx, *managed; u32 rx_bus, tx_bus, mapped, big_bus, back_from_page, chained, walked, page_ok, managed_bus;
struct scatterlist sg;
static void *the_pdev;
static void device_op(void *pdev, u32 op, u32 bus, u32 len)
{
	u32 port = BAR(pdev, 0)->start;
	outl(bus, port + 4); outl(len, port + 8); outl(op, port);
}
static int probe(void *pdev, const struct pci_device_id *id)
{
	struct sg_table table; struct scatterlist *s; u64 *mask;
	if (pci_enable_device(pdev) || dma_set_mask(DEV(pdev), 0xFFFFFFFFull))
		return -5;
	pci_set_master(pdev);
	rx = __kmalloc(256, 0xcc0);
	tx = __kmalloc(64, 0xcc0);
	/* receive through a scatterlist: the device writes, the CPU reads after the sync */
	sg_init_one(&sg, rx, 256);
	mapped = dma_map_sg_attrs(DEV(pdev), &sg, 1, DMA_FROM_DEVICE, 0);
	rx_bus = sg.dma_address;
	device_op(pdev, 1, rx_bus, 256);
	dma_sync_single_for_cpu(DEV(pdev), rx_bus, 256, DMA_FROM_DEVICE);
	dma_unmap_sg_attrs(DEV(pdev), &sg, 1, DMA_FROM_DEVICE, 0);
	/* transmit with the page mapped directly, the page computed inline from mem_map as drivers do */
	__builtin_memcpy(tx, "sent by the driver", 19);
	page_ok = page_address(PAGE_OF(tx)) == (void *)((unsigned long)tx & ~0xFFFu);
	tx_bus = dma_map_page_attrs(DEV(pdev), PAGE_OF(tx), (unsigned long)tx & 0xFFF, 64, DMA_TO_DEVICE, 0);
	dma_sync_single_for_device(DEV(pdev), tx_bus, 64, DMA_TO_DEVICE);
	device_op(pdev, 2, tx_bus, 19);
	dma_unmap_page_attrs(DEV(pdev), tx_bus, 64, DMA_TO_DEVICE, 0);
	/* a device that reaches only 24 bits cannot be given a heap buffer */
	mask = *(u64 **)(DEV(pdev) + DEV_DMA_MASK);
	*mask = 0xFFFFFFull;
	big_bus = dma_map_page_attrs(DEV(pdev), PAGE_OF(tx), 0, 64, DMA_TO_DEVICE, 0);
	*mask = 0xFFFFFFFFull;
	/* a chained table: more entries than one page of them */
	if (sg_alloc_table(&table, 500, 0xcc0))
		return -12;
	chained = sg_nents(table.sgl);
	for (s = table.sgl; s; s = sg_next(s))
		walked++;
	sg_free_table(&table);
	managed = dmam_alloc_attrs(DEV(pdev), 100, &managed_bus, 0xcc0, 0);  /* freed at unbind */
	the_pdev = pdev;
	return 0;
}
static void remove(void *pdev) { kfree(rx); kfree(tx); pci_disable_device(pdev); }
void stray(void) { device_op(the_pdev, 1, rx_bus, 16); }  /* rx was unmapped: the device must not write */
static const struct pci_device_id ids[] = { { 0x1234, 0x5679, ~0u, ~0u, 0, 0, 0, 0 }, { 0 } };
static struct pci_driver drv = { .name = "streamdemo", .id_table = ids, .probe = probe, .remove = remove };
int init_module(void) { return __pci_register_driver(&drv, 0, "streamdemo"); }
void cleanup_module(void) { pci_unregister_driver(&drv); }
"""


class Streamer(PciFunction):
    """Op 1: DMA-write a pattern of ``len`` bytes at ``bus``; op 2: DMA-read ``len`` bytes from it."""

    vendor_id, device_id, class_code = 0x1234, 0x5679, 0xFF0000
    bars = (Bar("io", 16),)

    def __init__(self) -> None:
        super().__init__("streamer")
        self.bus = self.length = 0
        self.received = b""
        self.errors: list[str] = []

    def bar_write(self, bar: int, offset: int, width: int, value: int) -> None:
        if offset == 4:
            self.bus = value
        elif offset == 8:
            self.length = value
        elif offset == 0:
            try:
                if value == 1:
                    self.dma_write(self.bus, bytes(i & 0xFF for i in range(self.length)))
                elif value == 2:
                    self.received = self.dma_read(self.bus, self.length)
            except DmaError as error:  # a real device would master-abort; the model records it
                self.errors.append(str(error))


def _build(compile_c, source: str, name: str):  # type: ignore[no-untyped-def]
    return compile_c(source, name, "-mregparm=3", f"-DDEV_DMA_MASK={offset('device', 'dma_mask')}",
                     "-DPAGE_STRUCT_SIZE=40")


def test_streaming_mappings_scatterlists_and_masks(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    dev = k.pci.add(Streamer())
    m = k.load(_build(compile_c, STREAMING_DRIVER, "streamdemo"))
    word = lambda name: k.memory.read_u32(m.address_of(name))  # noqa: E731
    rx, tx = word("rx"), word("tx")
    assert word("mapped") == 1
    assert word("rx_bus") == rx - 0xC0000000                       # the direct map: bus = physical = virt - PAGE_OFFSET
    assert k.memory.read(rx, 256) == bytes(range(256))              # what the device wrote, read by the CPU
    assert word("page_ok") == 1                                     # page_address(mem_map + pfn) is the page
    assert word("tx_bus") == tx - 0xC0000000
    assert dev.received == b"sent by the driver\0"[:19]
    assert word("big_bus") == 0xFFFFFFFF                            # DMA_MAPPING_ERROR above a 24-bit mask
    assert any("overflow (mask ffffff" in w for w in k.warnings)
    assert "WARNING:" in k.console and "DMA addr" in k.console
    assert (word("chained"), word("walked")) == (500, 500)          # 3 chained arrays, walked through sg_next
    managed, managed_bus = word("managed"), word("managed_bus")
    assert managed % 4096 == 0 and managed_bus == managed - 0xC0000000  # coherent: page aligned, direct mapped
    assert [r.kind for r in k.subsystem(Dma).ranges] == ["coherent"]  # every streaming mapping was unmapped
    m.call("stray")                                                 # the device writes where nothing is mapped now
    assert dev.errors and "no driver mapped that range for DMA" in dev.errors[0]
    assert k.unload(m).clean                                        # sg_free_table gave the chained arrays back
    assert k.subsystem(Dma).ranges == []                            # the managed buffer went with the binding


UNMAP_TWICE = COMMON + r"""
u32 bus; char *buf;
static int probe(void *pdev, const struct pci_device_id *id)
{
	if (pci_enable_device(pdev) || dma_set_mask(DEV(pdev), 0xFFFFFFFFull))
		return -5;
	buf = __kmalloc(32, 0xcc0);
	bus = dma_map_page_attrs(DEV(pdev), PAGE_OF(buf), (unsigned long)buf & 0xFFF, 32, DMA_TO_DEVICE, 0);
	dma_unmap_page_attrs(DEV(pdev), bus, 32, DMA_TO_DEVICE, 0);
	dma_unmap_page_attrs(DEV(pdev), bus, 32, DMA_TO_DEVICE, 0);   /* a driver bug: unmapped twice */
	dma_sync_single_for_cpu(DEV(pdev), bus, 32, DMA_TO_DEVICE);   /* and synced after */
	dma_map_page_attrs(DEV(pdev), PAGE_OF(buf), 0, 32, 3, 0);     /* DMA_NONE: a BUG on Linux */
	return 0;
}
static void remove(void *pdev) { kfree(buf); }
static const struct pci_device_id ids[] = { { 0x1234, 0x5679, ~0u, ~0u, 0, 0, 0, 0 }, { 0 } };
static struct pci_driver drv = { .name = "unmaptwice", .id_table = ids, .probe = probe, .remove = remove };
int init_module(void) { return __pci_register_driver(&drv, 0, "unmaptwice"); }
void cleanup_module(void) { pci_unregister_driver(&drv); }
"""


def test_unmapping_what_was_never_mapped_and_a_bad_direction_are_reported(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    k.pci.add(Streamer())
    with pytest.raises(GuestFault, match="kernel BUG in dma_map_page_attrs: DMA_NONE is not a valid direction"):
        k.load(_build(compile_c, UNMAP_TWICE, "unmaptwice"))
    assert any("dma_unmap_page_attrs of bus address" in w and "no such mapping" in w for w in k.warnings)
    assert any("dma_sync_single_for_cpu" in w and "not inside a streaming mapping" in w for w in k.warnings)


HWRNG_DRIVER = COMMON + r"""
struct hwrng { const char *name; int (*init)(struct hwrng *); void (*cleanup)(struct hwrng *);
    int (*data_present)(struct hwrng *, int); int (*data_read)(struct hwrng *, u32 *);
    int (*read)(struct hwrng *, void *, u32, _Bool); unsigned long priv; unsigned short quality; char rest[48]; };
extern int hwrng_register(struct hwrng *rng);
extern void hwrng_unregister(struct hwrng *rng);
u8 next_byte; int calls, inits, cleanups, last_wait, empty;
static int counter_read(struct hwrng *rng, void *buf, u32 max, _Bool wait)
{
	u8 *out = buf; u32 i;
	calls++; last_wait = wait;
	if (empty)
		return 0;
	for (i = 0; i < max; i++)
		out[i] = next_byte++;
	return max;
}
static int counter_init(struct hwrng *rng) { inits++; return 0; }
static void counter_cleanup(struct hwrng *rng) { cleanups++; }
static int word_read(struct hwrng *rng, u32 *data) { *data = 0x64636261; return 4; }  /* "abcd" */
static struct hwrng counter = { .name = "counter", .init = counter_init, .cleanup = counter_cleanup,
                                .read = counter_read, .quality = 100 };
static struct hwrng words = { .name = "words", .data_read = word_read, .quality = 50 };
static struct hwrng nameless = { .read = counter_read };
int dup_result, nameless_result;
int init_module(void)
{
	int err = hwrng_register(&counter);
	if (err)
		return err;
	dup_result = hwrng_register(&counter);
	nameless_result = hwrng_register(&nameless);
	return hwrng_register(&words);
}
void cleanup_module(void) { hwrng_unregister(&words); hwrng_unregister(&counter); }
"""


def test_dev_hwrng_reads_the_current_rng_as_rng_dev_read_does(compile_c) -> None:
    from kernel_stubs.linux import hwrng

    k = Kernel("linux", check_vermagic=False)
    m = k.load(compile_c(HWRNG_DRIVER, "counterrng", "-mregparm=3"))
    word = lambda name: k.memory.read_u32(m.address_of(name))  # noqa: E731
    assert word("dup_result") == (-17) & 0xFFFFFFFF and word("nameless_result") == (-22) & 0xFFFFFFFF
    assert hwrng.available(k) == ["counter", "words"] and hwrng.current_name(k) == "counter"
    assert word("inits") == 1                                       # init ran when it became current
    # add_early_randomness: 32 bytes without waiting from the new current rng, and from one with no init
    assert k.subsystem(hwrng.HwrngCore).early == [bytes(range(32)), b"abcd"]
    with pytest.raises(DeviceError) as refused:
        k.open("/dev/hwrng", O_RDWR)                                # rng_dev_open: read-only
    assert refused.value.errno == 22
    with k.open("/dev/hwrng", O_RDONLY) as f:
        assert f.read(64) == bytes(range(32, 96))                   # one 64-byte refill, handed out whole
        assert word("last_wait") == 1                               # a blocking reader lets the rng wait
        assert f.read(10) == bytes(range(96 + 54, 96 + 64))         # taken from the end of the buffer
        assert f.read(10) == bytes(range(96 + 44, 96 + 54))
    k.memory.write_u32(m.address_of("empty"), 1)
    with k.open("/dev/hwrng", O_RDONLY | O_NONBLOCK) as f:
        assert f.read(44) == bytes(range(96, 96 + 44))              # what was left in the buffer
        with pytest.raises(DeviceError) as again:
            f.read(8)                                               # nothing now, and the reader won't wait
        assert again.value.errno == 11
    hwrng.select(k, "words")                                        # echo words > rng_current
    assert word("cleanups") == 1                                    # counter's last reference dropped
    with k.open("/dev/hwrng", O_RDONLY) as f:
        assert f.read(8) == b"abcdabcd"[:4] + b"abcd"               # data_read: 4 bytes per refill
    assert k.unload(m).clean
    with k.open("/dev/hwrng", O_RDONLY) as f, pytest.raises(DeviceError) as gone:
        f.read(4)
    assert gone.value.errno == 19                                    # no rng left: -ENODEV


ISA_DMA = COMMON + r"""
int results[6]; u32 kmapped, page_base; char *buf;
int init_module(void)
{
	buf = __kmalloc(100, 0xcc0);
	kmapped = (u32)__kmap_local_page_prot(PAGE_OF(buf), 0);
	page_base = (u32)buf & ~0xFFFu;
	kunmap_local_indexed((void *)kmapped);
	kfree(buf);
	results[0] = request_dma(3, "floppy-ish");
	results[1] = request_dma(3, "again");       /* taken */
	results[2] = request_dma(4, "cascade?");    /* the cascade channel */
	results[3] = request_dma(9, "no such");
	results[4] = request_dma(1, "kept");        /* left requested at unload */
	free_dma(3);
	free_dma(3);                                /* freeing a free channel */
	return 0;
}
"""


def test_isa_dma_channels_and_kmap_local(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    m = k.load(_build(compile_c, ISA_DMA, "isadma"))
    results = [k.memory.read_u32(m.address_of("results") + 4 * i) for i in range(5)]
    assert results == [0, (-16) & 0xFFFFFFFF, (-16) & 0xFFFFFFFF, (-22) & 0xFFFFFFFF, 0]
    assert "Trying to free free DMA3" in k.console
    assert k.memory.read_u32(m.address_of("kmapped")) == k.memory.read_u32(m.address_of("page_base"))
    report = k.unload(m)
    assert report.leaks == ["ISA DMA channel 1 still requested"]


MITER = COMMON + r"""
struct sg_mapping_iter { void *page; char *addr; u32 length, consumed; u32 piter[4]; u32 off, rem, flags; };
extern void sg_miter_start(struct sg_mapping_iter *m, struct scatterlist *sgl, u32 nents, u32 flags);
extern _Bool sg_miter_next(struct sg_mapping_iter *m);
extern void sg_miter_stop(struct sg_mapping_iter *m);
extern void *alloc_pages_exact(u32 size, u32 gfp);
extern void free_pages_exact(void *p, u32 size);
char *area; u32 pieces[16]; int npieces;
static void set(struct scatterlist *s, char *buf, u32 len)      /* sg_set_buf, inline as in Linux */
{
	s->page_link = (unsigned long)PAGE_OF(buf) | (s->page_link & 3);
	s->offset = (unsigned long)buf & 0xFFF;
	s->length = len;
}
int init_module(void)
{
	struct sg_table t; struct scatterlist *s; struct sg_mapping_iter m;
	area = alloc_pages_exact(3 * 4096, 0xcc0);
	if (!area || ((unsigned long)area & 0xFFF) || sg_alloc_table(&t, 2, 0xcc0))
		return -12;
	s = t.sgl;
	set(s, area + 100, 5000);                  /* crosses into the second page */
	set(sg_next(s), area + 8192 + 16, 32);
	sg_miter_start(&m, t.sgl, 2, 4 /* SG_MITER_FROM_SG */);
	while (sg_miter_next(&m) && npieces < 8) {
		pieces[2 * npieces] = m.addr - area;
		pieces[2 * npieces + 1] = m.length;
		npieces++;
	}
	sg_miter_stop(&m);
	sg_free_table(&t);
	free_pages_exact(area, 3 * 4096);
	return 0;
}
"""


def test_the_mapping_iterator_walks_each_page_of_each_entry(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    m = k.load(_build(compile_c, MITER, "miter"))
    count = k.memory.read_u32(m.address_of("npieces"))
    pieces = [k.memory.read_u32(m.address_of("pieces") + 4 * i) for i in range(2 * count)]
    assert list(zip(pieces[::2], pieces[1::2])) == [(100, 3996), (4096, 1004), (8208, 32)]
    assert k.unload(m).clean                                        # the pages and the table were freed
