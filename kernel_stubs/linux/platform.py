"""The PC platform as Linux 6.1 i386 describes it to drivers: CPU identity, DMI, I/O resources.

- ``boot_cpu_data`` (``struct cpuinfo_x86``) and ``x86_match_cpu`` describe
  the CPU the sandbox emulates, read from its own CPUID at import: Unicorn's
  x86 (GenuineIntel family 6 model 0x3c). Features its translator cannot
  execute (AVX, AVX2, FMA, F16C) are cleared, as Linux clears what the
  machine cannot use. Layout (checked against serpent-sse2-i586.ko and
  xor.ko): x86 0, x86_vendor 1, x86_model 2, x86_stepping 3,
  vmx_capability[5] 4, extended_cpuid_level 28, cpuid_level 32,
  x86_capability[20 + 1] 36, x86_vendor_id 132, x86_model_id 148 (the generated layout table).
- DMI: the emulated PC has no firmware, hence no SMBIOS table: every DMI
  field is absent, so ``dmi_check_system`` matches nothing, as Linux on
  such a machine. :class:`Dmi` can be given an identity (tests do) and then
  matches the way drivers/firmware/dmi_scan.c does.
- ``__request_region``: I/O port and memory regions with Linux's busy
  conflict rule. The legacy PC ranges setup.c reserves at boot (dma1, pic1,
  timer0/1, keyboard, dma page reg, pic2, dma2, fpu) and the built-in 8250
  driver's COM1 are taken from the start. ``struct resource`` is 32 bytes
  (resource_size_t is 32-bit on the non-PAE 686 kernel): start 0, end 4,
  name 8, flags 12, desc 16, parent 20, sibling 24, child 28.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from sandbox.services import kernel_variable, service

from .layout import offset, size
from .registrations import guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


# -- CPU ----------------------------------------------------------------------------
@cache
def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """EAX, EBX, ECX, EDX of CPUID on the CPU model the sandbox emulates."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
    from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX

    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, b"\x0f\xa2")  # cpuid
    uc.reg_write(UC_X86_REG_EAX, leaf)
    uc.reg_write(UC_X86_REG_ECX, subleaf)
    uc.emu_start(0x1000, 0x1002)
    return tuple(uc.reg_read(r) for r in (UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX))  # type: ignore[return-value]


X86_VENDOR_INTEL, X86_VENDOR_AMD = 0, 2
NCAPINTS_ALL = 21  # NCAPINTS 20 + NBUGINTS 1
# struct cpuinfo_x86 from the generated table: an earlier hand count put x86_vendor_id at 120 and
# x86_model_id at 136 (and the struct at 256 bytes), 12 bytes short: drivers reading the vendor string
# (boot_cpu_data.x86_vendor_id) read zeros.
CAPABILITY, VENDOR_ID, MODEL_ID = (offset("cpuinfo_x86", f) for f in ("x86_capability", "x86_vendor_id", "x86_model_id"))
CPUINFO_SIZE = size("cpuinfo_x86")
# (word, bit) of features Unicorn cannot execute: AVX, FMA, F16C (leaf 1 ECX), AVX2 (leaf 7 EBX).
UNSUPPORTED = ((4, 28), (4, 12), (4, 29), (9, 5))


@cache
def cpu_identity() -> tuple[int, int, int, int, tuple[int, ...]]:
    """(vendor, family, model, stepping, capability words) of the emulated CPU, as Linux computes them."""
    max_leaf, b, c, d = cpuid(0)
    vendor_id = struct.pack("<III", b, d, c)
    vendor = {b"GenuineIntel": X86_VENDOR_INTEL, b"AuthenticAMD": X86_VENDOR_AMD}.get(vendor_id, 0xFF)
    eax, _, ecx1, edx1 = cpuid(1)
    family = (eax >> 8) & 0xF
    model = (eax >> 4) & 0xF
    if family >= 6:
        model |= ((eax >> 16) & 0xF) << 4
    if family == 0xF:
        family += (eax >> 20) & 0xFF
    caps = [0] * NCAPINTS_ALL
    caps[0], caps[4] = edx1, ecx1
    max_ext = cpuid(0x80000000)[0]
    if max_ext >= 0x80000001:
        _, _, caps[6], caps[1] = cpuid(0x80000001)
    if max_leaf >= 7:
        caps[9] = cpuid(7)[1]
    for word, bit in UNSUPPORTED:
        caps[word] &= ~(1 << bit)
    return vendor, family, model, eax & 0xF, tuple(caps)


def _boot_cpu_data() -> bytes:
    vendor, family, model, stepping, caps = cpu_identity()
    raw = bytearray(CPUINFO_SIZE)
    raw[0:4] = bytes((family & 0xFF, vendor, model & 0xFF, stepping))
    struct.pack_into("<II", raw, 28, cpuid(0x80000000)[0], cpuid(0)[0])
    struct.pack_into(f"<{NCAPINTS_ALL}I", raw, CAPABILITY, *caps)
    _, b, c, d = cpuid(0)
    raw[VENDOR_ID:VENDOR_ID + 12] = struct.pack("<III", b, d, c)
    return bytes(raw)


boot_cpu_data = kernel_variable("boot_cpu_data", CPUINFO_SIZE, _boot_cpu_data())

X86_VENDOR_ANY = 0xFFFF
CPU_ID_SIZE = 16  # struct x86_cpu_id: vendor, family, model, steppings, feature (u16 each), driver_data at 12


def cpu_has(feature: int) -> bool:
    """cpu_has(): bit ``feature`` (word * 32 + bit) of the capability words."""
    caps = cpu_identity()[4]
    return feature // 32 < len(caps) and bool(caps[feature // 32] >> (feature % 32) & 1)


@service("const struct x86_cpu_id *x86_match_cpu(const struct x86_cpu_id *match)")
def x86_match_cpu(k: Kernel, match: int) -> int:
    """The first entry of the table matching the emulated CPU, else NULL (arch/x86/kernel/cpu/match.c)."""
    vendor, family, model, stepping, _ = cpu_identity()
    entry = match
    while True:
        k.check_budget()  # a table without its terminator walks all mapped memory: the budget holds
        m_vendor, m_family, m_model, m_steppings, m_feature = struct.unpack("<5H", k.memory.read(entry, 10))
        if not (m_vendor | m_family | m_model | m_feature):
            return 0
        if (m_vendor in (X86_VENDOR_ANY, vendor) and (not m_family or m_family == family)
                and (not m_model or m_model == model) and (not m_steppings or m_steppings >> stepping & 1)
                and (not m_feature or cpu_has(m_feature))):
            return entry
        entry += CPU_ID_SIZE


# -- DMI ----------------------------------------------------------------------------
DMI_FIELDS = ("none", "bios_vendor", "bios_version", "bios_date", "bios_release", "ec_firmware_release", "sys_vendor",
              "product_name", "product_version", "product_serial", "product_uuid", "product_sku", "product_family",
              "board_vendor", "board_name", "board_version", "board_serial", "board_asset_tag", "chassis_vendor",
              "chassis_type", "chassis_version", "chassis_serial", "chassis_asset_tag")
DMI_NONE, DMI_OEM_STRING = 0, 24
DMI_SYSTEM_ID_SIZE = 332  # callback 0, ident 4, matches[4] of 80 bytes at 8, driver_data 328
DMI_MATCHES, DMI_STRMATCH_SIZE = 8, 80


@dataclass
class Dmi:
    """The machine's SMBIOS identity: field name -> string. Empty: no SMBIOS table (the default)."""

    ident: dict[str, str] = field(default_factory=dict)
    strings: dict[str, int] = field(default_factory=dict)  # guest copies handed out by dmi_get_system_info

    def clone(self) -> Dmi:
        """A copy for snapshots."""
        return Dmi(dict(self.ident), dict(self.strings))

    def value(self, slot: int) -> str | None:
        """dmi_ident[slot], None when absent."""
        name = DMI_FIELDS[slot] if 0 < slot < len(DMI_FIELDS) else None
        return self.ident.get(name) if name else None


def _dmi_matches(k: Kernel, entry: int) -> bool:
    """dmi_matches(): every non-empty criterion is met (substring, or exact when flagged)."""
    dmi = k.subsystem(Dmi)
    for i in range(4):
        raw = k.memory.read(entry + DMI_MATCHES + i * DMI_STRMATCH_SIZE, DMI_STRMATCH_SIZE)
        slot, exact = raw[0] & 0x7F, raw[0] >> 7
        if slot == DMI_NONE:
            break
        wanted = raw[1:].split(b"\0", 1)[0].decode("latin-1")
        have = None if slot == DMI_OEM_STRING else dmi.value(slot)
        if have is None or not (have == wanted if exact else wanted in have):
            return False
    return True


def _dmi_end(k: Kernel, entry: int) -> bool:
    return k.memory.read(entry + DMI_MATCHES, 1)[0] & 0x7F == DMI_NONE


@service("int dmi_check_system(const struct dmi_system_id *list)")
def dmi_check_system(k: Kernel, table: int) -> int:
    """Count matching entries, calling each one's callback; stop when a callback returns non-zero."""
    count, entry = 0, table
    while not _dmi_end(k, entry):
        k.check_budget()
        if _dmi_matches(k, entry):
            count += 1
            callback = k.memory.read_u32(entry)
            if callback and k.call(callback, entry):
                break
        entry += DMI_SYSTEM_ID_SIZE
    return count


@service("const struct dmi_system_id *dmi_first_match(const struct dmi_system_id *list)")
def dmi_first_match(k: Kernel, table: int) -> int:
    """The first matching entry, else NULL."""
    entry = table
    while not _dmi_end(k, entry):
        k.check_budget()
        if _dmi_matches(k, entry):
            return entry
        entry += DMI_SYSTEM_ID_SIZE
    return 0


@service("const char *dmi_get_system_info(int field)")
def dmi_get_system_info(k: Kernel, slot: int) -> int:
    """The DMI string for ``field`` in kernel memory, or NULL when the machine has none."""
    dmi = k.subsystem(Dmi)
    value = dmi.value(slot)
    if value is None:
        return 0
    name = DMI_FIELDS[slot]
    if name not in dmi.strings:
        data = value.encode("latin-1") + b"\0"
        dmi.strings[name] = k.memory.alloc(len(data))
        k.memory.write(dmi.strings[name], data)
    return dmi.strings[name]


@service("bool dmi_match(int f, const char *str)")
def dmi_match(k: Kernel, f: int, text: int) -> int:
    """Whether DMI field ``f`` equals ``str`` exactly."""
    value = k.subsystem(Dmi).value(f)
    return int(value is not None and value == guest_string(k, text, 80))


# -- I/O resources --------------------------------------------------------------------
RESOURCE_SIZE = 32
R_START, R_END, R_NAME, R_FLAGS, R_PARENT = 0, 4, 8, 12, 20
IORESOURCE_IO, IORESOURCE_MEM, IORESOURCE_BUSY = 0x100, 0x200, 0x80000000
IORESOURCE_TYPE_BITS = 0x1F00

ioport_resource = kernel_variable("ioport_resource", RESOURCE_SIZE, struct.pack("<IIII", 0, 0xFFFF, 0, IORESOURCE_IO))
iomem_resource = kernel_variable("iomem_resource", RESOURCE_SIZE,
                                 struct.pack("<IIII", 0, 0xFFFFFFFF, 0, IORESOURCE_MEM))

# arch/x86/kernel/setup.c standard_io_resources, and COM1 taken by the built-in 8250 driver.
BOOT_IO_REGIONS = (("dma1", 0x00, 0x1F), ("pic1", 0x20, 0x21), ("timer0", 0x40, 0x43), ("timer1", 0x50, 0x53),
                   ("keyboard", 0x60, 0x60), ("keyboard", 0x64, 0x64), ("dma page reg", 0x80, 0x8F),
                   ("pic2", 0xA0, 0xA1), ("dma2", 0xC0, 0xDF), ("fpu", 0xF0, 0xFF), ("serial", 0x3F8, 0x3FF))

# drivers/clocksource/i8253.c: the lock every user of the 8254's ports takes (pcspkr, gameport's
# calibration, the clock source); a raw_spinlock_t, unlocked.
i8253_lock = kernel_variable("i8253_lock", 4, 0)


@dataclass(slots=True)
class Region:
    """A busy region: the struct resource handed out, its range, and who holds it."""

    resource: int  # guest struct resource (0 for the boot reservations)
    parent: int
    start: int
    end: int
    name: str
    owner: str


class Resources:
    """Busy I/O port and memory regions, by tree (the parent resource's address)."""

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self.booted = False

    def clone(self) -> Resources:
        """A copy for snapshots (Region records are never changed in place)."""
        twin = Resources()
        twin.regions, twin.booted = list(self.regions), self.booted
        return twin

    def boot(self, k: Kernel) -> None:
        """Take the legacy PC ranges the kernel reserves at boot."""
        if not self.booted:
            ioport = k.export_address("ioport_resource") or 0
            self.regions += [Region(0, ioport, s, e, n, "kernel") for n, s, e in BOOT_IO_REGIONS]
            self.booted = True

    def conflict(self, parent: int, start: int, end: int) -> Region | None:
        """A busy region of the same tree overlapping [start, end]."""
        return next((r for r in self.regions if r.parent == parent and r.start <= end and start <= r.end), None)

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Regions the module requested and did not release."""
        leaks = []
        for region in [r for r in self.regions if r.owner == module.name]:
            leaks.append(f"region {region.start:#x}-{region.end:#x} ({region.name}) still requested")
            self.regions.remove(region)
            k.memory.free(region.resource)
        return leaks


@service("struct resource *__request_region(struct resource *parent, resource_size_t start, resource_size_t n, "
         "const char *name, int flags)")
def __request_region(k: Kernel, parent: int, start: int, n: int, name: int, flags: int) -> int:
    """Mark [start, start+n) busy under ``parent``: a new struct resource, or NULL if any of it is taken."""
    resources = k.subsystem(Resources)
    resources.boot(k)
    end = start + n - 1
    p_start, p_end = k.memory.read_u32(parent + R_START), k.memory.read_u32(parent + R_END)
    if n == 0 or start < p_start or end > p_end or resources.conflict(parent, start, end) is not None:
        return 0
    res = k.memory.alloc(RESOURCE_SIZE)
    if not res:
        return 0
    kind = k.memory.read_u32(parent + R_FLAGS) & IORESOURCE_TYPE_BITS
    k.memory.write(res, struct.pack("<IIII", start, end, name, (kind | flags | IORESOURCE_BUSY) & 0xFFFFFFFF))  # flags is an int
    k.memory.write_u32(res + R_PARENT, parent)
    module = k.caller_module()
    resources.regions.append(Region(res, parent, start, end, guest_string(k, name, 64),
                                    module.name if module else "kernel"))
    return res


@service("void __release_region(struct resource *parent, resource_size_t start, resource_size_t n)")
def __release_region(k: Kernel, parent: int, start: int, n: int) -> None:
    """Free the busy region exactly covering [start, start+n); Linux warns about any other."""
    resources = k.subsystem(Resources)
    end = start + n - 1
    for region in resources.regions:
        if region.parent == parent and region.start == start and region.end == end and region.resource:
            resources.regions.remove(region)
            k.memory.free(region.resource)
            return
    k.console_write(f"Trying to free nonexistent resource <{start:#010x}-{end:#010x}>\n", 4)
