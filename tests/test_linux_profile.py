"""The linux profile's mechanisms on small compiled modules (no corpus needed):
regparm(3), raw-code exports (retpoline thunks), vermagic, named traps."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel, LoadError

VERMAGIC = '__attribute__((section(".modinfo"), used)) static const char vm[] = ' \
           '"vermagic=6.1.0-50-686 SMP preempt mod_unload modversions GEODE ";\n'

SOURCE = VERMAGIC + r"""
typedef unsigned int u32;
extern void *kmalloc_trace(void *cache, unsigned int flags, unsigned long size);
extern void *kmalloc_caches[4][14];
extern void kfree(const void *p);
extern void *memcpy(void *d, const void *s, unsigned long n);
extern int _printk(const char *fmt, ...);
extern unsigned long volatile jiffies;
extern void msleep(unsigned int ms);
extern int missing_function(int x);
extern int missing_table[];

static int twice(int x) { return 2 * x; }
int (*volatile op)(int) = twice;

int call_through_pointer(int x) { return op(x) + 1; }
int three(int a, int b, int c) { return a * 100 + b * 10 + c; }
int alloc_copy(const char *s, int n) {
    char *p = kmalloc_trace(kmalloc_caches[0][5], 0xcc0, 32);
    memcpy(p, s, n);
    int r = p[0] + p[n - 1];
    _printk("\0016copied %d bytes at %pS\n", n, (void *)alloc_copy);
    kfree(p);
    return r;
}
unsigned long sleep_ticks(void) { unsigned long a = jiffies; msleep(40); return jiffies - a; }
int use_missing(void) { return missing_function(3); }
int read_missing(void) { return missing_table[2]; }
"""


@pytest.fixture
def linux_module(compile_c):
    return compile_c(SOURCE, "linuxish", "-mregparm=3", "-mindirect-branch=thunk-extern", "-fno-jump-tables")


def test_regparm_thunks_and_services(linux_module) -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(linux_module)
    assert "__x86_indirect_thunk_eax" in m.imports or any(n.startswith("__x86_indirect_thunk_") for n in m.imports)
    assert m.call("call_through_pointer", 20) == 41
    assert m.call("three", 1, 2, 3) == 123
    assert m.call("alloc_copy", "hello", 5) == ord("h") + ord("o")
    assert "copied 5 bytes at linuxish:alloc_copy" in k.console
    assert m.call("sleep_ticks") == 11  # HZ=250: msleep(40) is msecs_to_jiffies(40) + 1 jiffies, as Linux
    assert k.unload(m).clean


def test_unresolved_error_lists_names(linux_module) -> None:
    with pytest.raises(LoadError, match="missing_function, missing_table"):
        Kernel("linux").load(linux_module)


def test_traps_name_the_symbol(linux_module) -> None:
    k = Kernel("linux", unresolved="trap")
    m = k.load(linux_module)
    with pytest.raises(GuestFault, match="unresolved kernel symbol missing_function") as called:
        m.call("use_missing")
    assert called.value.kind == "unresolved-symbol"
    with pytest.raises(GuestFault) as read:
        m.call("read_missing")
    assert read.value.kind == "read-unmapped"
    assert "unresolved kernel symbol missing_table +0x8" in read.value.report
    assert m.call("three", 3, 2, 1) == 321  # still usable


def test_vermagic_exact_without_versions(compile_c) -> None:
    path = compile_c(SOURCE.replace("GEODE", "K7"), "k7", "-mregparm=3")
    with pytest.raises(LoadError, match="vermagic"):
        Kernel("linux", unresolved="trap").load(path)
    Kernel("linux", unresolved="trap", check_vermagic=False).load(path)
    no_magic = compile_c(SOURCE.replace(VERMAGIC, ""), "nomagic", "-mregparm=3")
    with pytest.raises(LoadError, match="no vermagic"):
        Kernel("linux", unresolved="trap").load(no_magic)


def test_unresolved_option_checked() -> None:
    with pytest.raises(ValueError):
        Kernel("linux", unresolved="ignore")


BUS_SOURCE = VERMAGIC + r"""
/* Linux 6.1 i386's layout (list node, name, id_table, probe, ...; 152 bytes). */
struct pci_driver { void *node[2]; const char *name; const void *id_table; int (*probe)(void *dev, const void *id);
                    char rest[132]; };
extern int __pci_register_driver(struct pci_driver *drv, void *owner, const char *mod_name);
extern void pci_unregister_driver(struct pci_driver *drv);
static int my_probe(void *dev, const void *id) { return 0; }
static struct pci_driver my_driver = { .name = "mydrv", .probe = my_probe };
int init_module(void) { return __pci_register_driver(&my_driver, 0, "mydrv"); }
void cleanup_module(void) { pci_unregister_driver(&my_driver); }
int register_again(void) { return __pci_register_driver(&my_driver, 0, "mydrv"); }
"""


def test_bus_driver_registration_is_recorded(compile_c) -> None:
    from kernel_stubs.linux.pci import PciCore

    k = Kernel("linux")
    m = k.load(compile_c(BUS_SOURCE, "pcidrv", "-mregparm=3"))
    registered = k.subsystem(PciCore).drivers
    assert [(r.name, r.owner) for r in registered.values()] == [("mydrv", "pcidrv")]
    assert k.symbolizer.short(next(iter(registered))) == "pcidrv:my_driver"
    assert m.call("register_again") == -16  # -EBUSY
    assert k.unload(m).clean and not registered


def test_bus_driver_left_registered_is_a_leak(compile_c) -> None:
    source = BUS_SOURCE.replace("void cleanup_module(void) { pci_unregister_driver(&my_driver); }", "")
    k = Kernel("linux")
    m = k.load(compile_c(source, "pcileak", "-mregparm=3"))
    assert k.unload(m).leaks == ["pci driver pcileak:my_driver still registered"]


def test_no_service_is_defined_twice_in_the_linux_profile() -> None:
    """Two modules of one profile defining the same export would leave one silently unused."""
    import importlib
    from collections import defaultdict

    from kernel_stubs.profiles import LINUX

    where: dict[str, list[str]] = defaultdict(list)
    for name in LINUX.services:
        if not isinstance(name, str) or not name.startswith("kernel_stubs.linux"):
            continue  # the generic modules underneath are overridden on purpose
        module = importlib.import_module(name)
        functions = {id(v): v for v in vars(module).values() if getattr(v, "__module__", "") == name}
        for value in functions.values():  # once each, however many names a loop left bound to it
            spec = getattr(value, "__sandbox_service__", None)
            if spec is not None:
                where[spec.name].append(name)
    assert {n: m for n, m in where.items() if len(m) > 1} == {}
