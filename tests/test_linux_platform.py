"""Linux's platform bus with real Debian modules: devices, drivers, probe, remove, devres.

sch311x_wdt finds an SMSC SCH311x Super-I/O chip (a Python model at
0x2E/0x2F), registers its platform driver and a platform device, and its
probe runs against the chip: it claims the runtime registers, stops the
watchdog and registers /dev/watchdog, which Python then drives.
"""

from __future__ import annotations

import struct

import pytest

from sandbox import Kernel, LoadError, SandboxError
from sandbox.devices.sch311x import GP60, WDT_VAL, Sch311x

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus

WDIOC_GETSUPPORT, WDIOC_GETBOOTSTATUS = 0x80285700, 0x80045702
WDIOC_KEEPALIVE, WDIOC_SETTIMEOUT, WDIOC_GETTIMEOUT = 0x80045705, 0xC0045706, 0x80045707
WDIOF_CARDRESET = 0x0020


def _watchdog(boot_fired: bool = False) -> tuple[Kernel, Sch311x]:
    k = Kernel("linux")
    chip = k.devices.add(Sch311x())
    if boot_fired:
        chip.expire()
    k.load(ko("drivers/watchdog/sch311x_wdt.ko"))
    return k, chip


def test_probe_runs_against_the_chip_and_names_the_device_as_linux() -> None:
    k, chip = _watchdog()
    assert k.console.splitlines() == [
        "sch311x_wdt: Found an SMSC SCH3114 chip at 0x0a00",
        "sch311x_wdt sch311x_wdt.2560: SMSC SCH311x WDT initialized. timeout=60 sec (nowayout=0)",
    ]
    probes = [e.fields for e in k.trace.of_kind("note") if e.name == "probe"]
    assert probes == [{"driver": "sch311x_wdt", "device": "sch311x_wdt.2560", "result": 0}]
    assert chip.runtime[GP60] == 0x01 and not chip.running  # probe stopped the watchdog


def test_dev_watchdog_starts_pings_and_stops_the_chip() -> None:
    k, chip = _watchdog()
    dog = k.open("/dev/watchdog")
    assert chip.running and chip.timeout_seconds == 60  # open starts it with the module's timeout
    info = bytearray(40)
    assert dog.ioctl(WDIOC_GETSUPPORT, info) == 0
    options, firmware = struct.unpack_from("<II", info)
    assert info[8:].split(b"\0")[0] == b"sch311x_wdt" and firmware == 1
    assert options == 0x8000 | 0x0100 | 0x0080  # WDIOF_KEEPALIVEPING | WDIOF_MAGICCLOSE | WDIOF_SETTIMEOUT
    timeout = bytearray(struct.pack("<i", 30))
    assert dog.ioctl(WDIOC_SETTIMEOUT, timeout) == 0
    assert struct.unpack("<i", timeout)[0] == 30 and chip.timeout_seconds == 30
    assert dog.ioctl(WDIOC_SETTIMEOUT, bytearray(struct.pack("<i", 0))) == -22  # below 1 s: -EINVAL
    assert dog.write(b"V") == 1  # the magic close character
    dog.close()
    assert not chip.running and chip.runtime[WDT_VAL] == 0


def test_an_unexpected_close_leaves_the_watchdog_running() -> None:
    k, chip = _watchdog()
    dog = k.open("/dev/watchdog")
    dog.close()
    assert chip.running
    assert "sch311x_wdt: Unexpected close, not stopping watchdog!" in k.console


def test_boot_status_comes_from_the_chip() -> None:
    k, _ = _watchdog(boot_fired=True)
    status = bytearray(4)
    dog = k.open("/dev/watchdog")
    assert dog.ioctl(WDIOC_GETBOOTSTATUS, status) == 0 and struct.unpack("<i", status)[0] == WDIOF_CARDRESET
    dog.write(b"V")
    dog.close()


def test_unload_removes_the_device_before_the_driver() -> None:
    k, chip = _watchdog()
    report = k.unload("sch311x_wdt")
    assert report.clean, report.leaks
    assert not chip.running
    from kernel_stubs.linux.platform_bus import PlatformCore

    core = k.subsystem(PlatformCore)
    assert core.devices == {} and core.drivers == {}
    with pytest.raises(SandboxError, match=r"no device /dev/watchdog \(registered: none\)"):
        k.open("/dev/watchdog")


def test_without_the_chip_init_fails_as_on_a_pc_without_one() -> None:
    k = Kernel("linux")
    with pytest.raises(LoadError, match=r"init_module of sch311x_wdt returned -19 \(-ENODEV\)"):
        k.load(ko("drivers/watchdog/sch311x_wdt.ko"))
    from kernel_stubs.linux.platform_bus import PlatformCore

    assert k.subsystem(PlatformCore).drivers == {}


def test_snapshot_restores_the_bound_device_and_the_chip() -> None:
    k, chip = _watchdog()
    snap = k.snapshot()
    dog = k.open("/dev/watchdog")
    assert chip.running
    dog.close()
    k.restore(snap)
    assert not chip.running
    dog = k.open("/dev/watchdog")
    assert chip.running and chip.timeout_seconds == 60
    dog.write(b"V")
    dog.close()
    assert k.unload("sch311x_wdt").clean


# -- the platform core with a compiled driver: host devices, id tables, devres, deferred probe -----

# Layouts as the DWARF table gives them (tests/test_linux_layouts.py checks the table itself).
PLATFORM_DRIVER = r"""
typedef unsigned int u32;
struct resource { u32 start, end; const char *name; unsigned long flags, desc; void *parent, *sibling, *child; };
struct platform_device_id { char name[20]; unsigned long driver_data; };
struct device_driver { const char *name; char rest[72]; };
struct platform_driver {
	int (*probe)(void *pdev); int (*remove)(void *pdev); void (*remove_new)(void *pdev);
	void *shutdown, *suspend, *resume;
	struct device_driver driver; const struct platform_device_id *id_table; int flags;
};
extern struct resource *platform_get_resource(void *pdev, unsigned int type, unsigned int num);
extern int platform_get_irq(void *pdev, unsigned int num);
extern void *devm_kmalloc(void *dev, unsigned int size, unsigned int gfp);
extern int devm_add_action(void *dev, void (*action)(void *), void *data);
extern int devm_request_threaded_irq(void *dev, unsigned int irq, int (*h)(int, void *), void *thread,
    unsigned long flags, const char *name, void *dev_id);
extern int __platform_driver_register(struct platform_driver *drv, void *owner);
extern void platform_driver_unregister(struct platform_driver *drv);
extern int _printk(const char *fmt, ...);
#define DEV(pdev) ((char *)(pdev) + 12)
#define DRVDATA(pdev) (*(void **)((char *)(pdev) + 76))
#define IORESOURCE_IO 0x100

struct state { u32 io; int irq; int hits; };
int probes, removes, actions, deferrals, irq_hits;
unsigned long matched_data;
static int ready;  /* the "supplier": probe defers until the second driver has bound */

u32 state_io(void *pdev) { struct state *st = DRVDATA(pdev); return st ? st->io : 0; }
static void undo(void *data) { actions++; _printk("demo: undo %x\n", ((struct state *)data)->io); }
static int on_irq(int irq, void *data) { (void)irq; ((struct state *)data)->hits++; irq_hits++; return 1; }

static int demo_probe(void *pdev)
{
	struct resource *io = platform_get_resource(pdev, IORESOURCE_IO, 0);
	struct state *st;
	int irq = platform_get_irq(pdev, 0);
	if (!ready) { deferrals++; return -517; }   /* -EPROBE_DEFER */
	if (!io || irq < 0)
		return -19;
	st = devm_kmalloc(DEV(pdev), sizeof(*st), 0xcc0 | 0x100);
	if (!st)
		return -12;
	st->io = io->start;
	st->irq = irq;
	if (devm_add_action(DEV(pdev), undo, st) || devm_request_threaded_irq(DEV(pdev), irq, on_irq, 0, 0, "demo", st))
		return -16;
	matched_data = (*(const struct platform_device_id **)((char *)pdev + 488)) ? 1 : 0;
	DRVDATA(pdev) = st;
	probes++;
	return 0;
}
static int demo_remove(void *pdev) { removes++; _printk("demo: remove %x\n", state_io(pdev)); return 0; }
static const struct platform_device_id ids[] = { { "demo-a", 7 }, { "demo-b", 8 }, { "" } };
static struct platform_driver demo = { .probe = demo_probe, .remove = demo_remove, .driver = { .name = "demo" },
    .id_table = ids };

static int supplier_probe(void *pdev) { (void)pdev; ready = 1; return 0; }
static struct platform_driver supplier = { .probe = supplier_probe, .driver = { .name = "supplier" } };
int register_supplier(void) { return __platform_driver_register(&supplier, 0); }

int init_module(void) { return __platform_driver_register(&demo, 0); }
void cleanup_module(void) { platform_driver_unregister(&demo); platform_driver_unregister(&supplier); }
char __modinfo_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


def _core(k: Kernel):  # type: ignore[no-untyped-def]
    from kernel_stubs.linux.platform_bus import PlatformCore

    return k.subsystem(PlatformCore)


def test_host_devices_bind_by_id_table_after_a_deferred_probe(compile_c) -> None:
    from kernel_stubs.linux.layout import offset

    assert offset("platform_device", "id_entry") == 488 and offset("platform_device", "dev.driver_data") == 76
    k = Kernel("linux", check_vermagic=False)
    k.platform.add("demo-a", io=[(0x300, 8)], irq=[9])      # described before the driver loads
    m = k.load(compile_c(PLATFORM_DRIVER, "pdemo", "-mregparm=3"))
    read = lambda name: k.memory.read_u32(m.address_of(name))  # noqa: E731
    assert read("deferrals") == 1 and read("probes") == 0       # it waits for its supplier
    k.platform.add("demo-b", 2, io=[(0x310, 8)], irq=[10])   # hot-added: probed (and deferred) at once
    assert read("deferrals") == 2
    k.platform.add("supplier")
    assert m.call("register_supplier") == 0                   # it binds: the deferred devices retry
    assert read("probes") == 2 and read("matched_data") == 1
    bound = {d.name: d for d in _core(k).devices.values() if d.driver}
    assert sorted(bound) == ["demo-a", "demo-b", "supplier"]
    assert m.call("state_io", bound["demo-b"].pdev, returns="uint") == 0x310
    k.raise_irq(10)
    assert read("irq_hits") == 1
    k.platform.remove("demo-b.2")                              # unplugged: remove, then devres, newest first
    assert read("removes") == 1 and read("actions") == 1
    assert k.irqs.actions(10) == []                            # the managed IRQ went with it
    k.raise_irq(10)
    assert read("irq_hits") == 1
    report = k.unload(m)
    assert report.clean, report.leaks
    assert k.irqs.actions(9) == []
    # remove runs before the managed resources go, and each device's go newest first.
    assert [line for line in k.console.splitlines() if line.startswith("demo: ")] == [
        "demo: remove 310", "demo: undo 310", "demo: remove 300", "demo: undo 300"]


def test_an_unmatched_device_waits_and_a_bad_probe_is_logged_as_linux(compile_c) -> None:
    k = Kernel("linux", check_vermagic=False)
    k.platform.add("demo-a")                                    # no resources: probe gives -ENODEV quietly
    k.platform.add("other")
    m = k.load(compile_c(PLATFORM_DRIVER.replace("if (!ready) { deferrals++; return -517; }", "")
                         .replace("return -19;", "return -5;"), "pdemo2", "-mregparm=3"))
    assert "demo: probe of demo-a failed with error -5" in k.console
    assert [d.name for d in _core(k).devices.values() if d.driver] == []
    assert k.unload(m).clean
