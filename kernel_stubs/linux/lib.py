"""lib/ and arch helpers built into Linux 6.1 (not modules): CRCs, random
numbers, list debugging checks, per-CPU basics, module references, pv_ops.

The CRC routines here are the kernel's built-in ones (``crc32_le``,
``__crc32c_le``, ``crc_ccitt``...) that modules such as crc32c_generic call;
they are written from their definitions (reflected polynomial, no final
inversion: callers seed and invert).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.machine import address_map as amap
from sandbox.machine.memory import W
from sandbox.services import kernel_code, kernel_variable, service

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

def _read_u64(k: Kernel, address: int) -> int:
    return int.from_bytes(k.memory.read(address, 8), "little")


def _write_u64(k: Kernel, address: int, value: int) -> None:
    k.memory.write(address, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))


CRC32_POLY_LE = 0xEDB88320
CRC32C_POLY_LE = 0x82F63B78
CRC32_POLY_BE = 0x04C11DB7
CRC_CCITT_POLY_LE = 0x8408


@cache
def _table_le(poly: int, bits: int = 32) -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


@cache
def _table_be32() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n << 24
        for _ in range(8):
            c = ((c << 1) ^ CRC32_POLY_BE) & 0xFFFFFFFF if c & 0x80000000 else (c << 1) & 0xFFFFFFFF
        table.append(c)
    return tuple(table)


def crc_le(poly: int, crc: int, data: bytes, mask: int = 0xFFFFFFFF) -> int:
    """A reflected table-driven CRC without pre/post inversion."""
    table = _table_le(poly)
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc & mask


# lib/bitrev.c: each byte with its bits reversed (bitrev8), for CRC-based multicast hashes.
byte_rev_table = kernel_variable("byte_rev_table", 256, bytes(int(f"{b:08b}"[::-1], 2) for b in range(256)))


@service("u32 crc32_le(u32 crc, const unsigned char *p, size_t len)")
def crc32_le(k: Kernel, crc: int, p: int, length: int) -> int:
    """CRC-32 (IEEE 802.3), little-endian bit order, no inversion."""
    return crc_le(CRC32_POLY_LE, crc, k.memory.read(p, length))


@service("u32 __crc32c_le(u32 crc, const unsigned char *p, size_t len)")
def __crc32c_le(k: Kernel, crc: int, p: int, length: int) -> int:
    """CRC-32C (Castagnoli), little-endian bit order, no inversion."""
    return crc_le(CRC32C_POLY_LE, crc, k.memory.read(p, length))


@service("u32 crc32_be(u32 crc, const unsigned char *p, size_t len)")
def crc32_be(k: Kernel, crc: int, p: int, length: int) -> int:
    """CRC-32, big-endian bit order, no inversion."""
    table = _table_be32()
    for byte in k.memory.read(p, length):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ byte) & 0xFF]
    return crc


@service("u16 crc_ccitt(u16 crc, const u8 *buffer, size_t len)")
def crc_ccitt(k: Kernel, crc: int, buffer: int, length: int) -> int:
    """CRC-CCITT (reflected 0x8408)."""
    return crc_le(CRC_CCITT_POLY_LE, crc, k.memory.read(buffer, length), 0xFFFF)


# -- random ---------------------------------------------------------------------
@service("void get_random_bytes(void *buf, size_t len)")
def get_random_bytes(k: Kernel, buf: int, length: int) -> None:
    """Random bytes from the host (the buffer checked first: the guest chose the length)."""
    k.memory.check(buf, length, W, "get_random_bytes")
    k.memory.write(buf, os.urandom(length))


@service("bool rng_is_initialized(void)")
def rng_is_initialized(k: Kernel) -> int:
    """The random pool is ready: get_random_bytes draws on the host's, seeded from the start."""
    return 1


@service("int wait_for_random_bytes(void)")
def wait_for_random_bytes(k: Kernel) -> int:
    """0 at once: the pool never needs waiting for (see rng_is_initialized)."""
    return 0


@service("u32 get_random_u32(void)")
def get_random_u32(k: Kernel) -> int:
    """A random 32-bit number."""
    return int.from_bytes(os.urandom(4), "little")


@service("u16 get_random_u16(void)")
def get_random_u16(k: Kernel) -> int:
    """A random 16-bit number."""
    return int.from_bytes(os.urandom(2), "little")


@service("u8 get_random_u8(void)")
def get_random_u8(k: Kernel) -> int:
    """A random byte."""
    return os.urandom(1)[0]


# -- CONFIG_DEBUG_LIST checks: the lists are fine unless proven otherwise ----------
@service("bool __list_add_valid(struct list_head *new, struct list_head *prev, struct list_head *next)")
def __list_add_valid(k: Kernel, new: int, prev: int, nxt: int) -> int:
    """list_add() sanity check: prev->next == next and next->prev == prev."""
    return int(k.memory.read_u32(prev) == nxt and k.memory.read_u32(nxt + 4) == prev and new not in (prev, nxt))


@service("bool __list_del_entry_valid(struct list_head *entry)")
def __list_del_entry_valid(k: Kernel, entry: int) -> int:
    """list_del() sanity check: the neighbours point back at the entry."""
    nxt, prev = k.memory.read_u32(entry), k.memory.read_u32(entry + 4)
    return int(k.memory.read_u32(prev) == entry and k.memory.read_u32(nxt + 4) == entry)


# -- modules ----------------------------------------------------------------------
class ModuleRefs:
    """Module references taken with try_module_get/__module_get, by struct module address."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def clone(self) -> ModuleRefs:
        twin = ModuleRefs()
        twin.counts = dict(self.counts)
        return twin

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """References still held on an unloading module (Linux would refuse the rmmod)."""
        this = module.symbols.get("__this_module")
        count = self.counts.pop(this, 0) if this is not None else 0
        return [f"{count} module reference(s) still held (try_module_get without module_put)"] if count else []


def _module_state_live(k: Kernel, module: int) -> bool:
    owner = k.module_at(module) if module else None
    return owner is None or owner.state in ("live", "coming")


@service("void __module_get(struct module *module)")
def __module_get(k: Kernel, module: int) -> None:
    """Take a reference on a module that is known to be live."""
    if module:
        refs = k.subsystem(ModuleRefs)
        refs.counts[module] = refs.counts.get(module, 0) + 1


@service("bool try_module_get(struct module *module)")
def try_module_get(k: Kernel, module: int) -> int:
    """Take a reference unless the module is going away (NULL, the kernel itself, always succeeds)."""
    if not module:
        return 1
    if not _module_state_live(k, module):
        return 0
    __module_get(k, module)
    return 1


@service("void module_put(struct module *module)")
def module_put(k: Kernel, module: int) -> None:
    """Drop a reference; one more put than get is a refcount underflow, as Linux warns."""
    if not module:
        return
    refs = k.subsystem(ModuleRefs)
    count = refs.counts.get(module, 0)
    if count == 0:
        k.warn(f"module_put of {k.symbolizer.short(module)} at {k.symbolizer.short(k.current_caller)} with no reference held")
        return
    if count == 1:
        del refs.counts[module]
    else:
        refs.counts[module] = count - 1


@service("void refcount_warn_saturate(refcount_t *r, int t)")
def refcount_warn_saturate(k: Kernel, r: int, t: int) -> None:
    """A refcount over/underflowed: Linux warns and saturates."""
    k.console_write(f"refcount_t: saturated at {k.symbolizer.short(k.current_caller)} (kind {t})\n", 4)


@service("void fortify_panic(const char *name)")
def fortify_panic(k: Kernel, name: int) -> None:
    """FORTIFY_SOURCE detected a buffer overflow."""

    what = k.memory.read_cstring(name, 64).decode("latin-1") if name else "?"
    raise GuestFault("fortify", f"detected buffer overflow in {what} at {k.symbolizer.short(k.current_caller)}",
                     pc=k.current_caller)


# -- per-CPU and the current task -----------------------------------------------------
# i386 per-CPU accesses go through %fs with the symbol's address as offset;
# with a flat %fs (base 0) they read these variables directly.
FAKE_TASK = amap.KDATA_BASE + amap.KDATA_SIZE - 0x4000
current_task = kernel_variable("current_task", 4, FAKE_TASK)
preempt_count = kernel_variable("__preempt_count", 4, 0)
cpu_number = kernel_variable("cpu_number", 4, 0)
this_cpu_off = kernel_variable("this_cpu_off", 4, 0)
per_cpu_offset = kernel_variable("__per_cpu_offset", 4 * 8, 0)
nr_cpu_ids = kernel_variable("nr_cpu_ids", 4, 1)
cpu_online_mask = kernel_variable("__cpu_online_mask", 4, 1)
cpu_possible_mask = kernel_variable("__cpu_possible_mask", 4, 1)
cpu_present_mask = kernel_variable("__cpu_present_mask", 4, 1)


# -- paravirt: pv_ops with the native operations (arch/x86/kernel/paravirt.c) ---------
# Debian's 686 kernel has CONFIG_PARAVIRT without PARAVIRT_XXL: struct
# paravirt_patch_template is cpu {io_delay}, irq {}, mmu {7 hooks}, lock {5}.
# Modules reach only pv_ops.cpu.io_delay (offset 0, through outb_p/inb_p ->
# slow_down_io); natively that is one write to port 0x80, the POST port.
native_io_delay = kernel_code("native_io_delay", b"\xe6\x80\xc3")  # out 0x80, al; ret
pv_ops = kernel_variable("pv_ops", 13 * 4, 0, {0: "native_io_delay"})


# -- kernel FPU sections (arch/x86/kernel/fpu/core.c) --------------------------------
class FpuSections:
    """Whether kernel code is between kernel_fpu_begin and kernel_fpu_end (they do not nest)."""

    def __init__(self) -> None:
        self.owner = 0  # return address of the kernel_fpu_begin in effect, 0 if none

    def unbalanced(self, k: Kernel) -> list[str]:
        """An FPU section left open."""
        return [f"kernel_fpu_begin at {k.symbolizer.short(self.owner)} without kernel_fpu_end"] if self.owner else []


def _preempt_add(k: Kernel, delta: int) -> None:
    address = k.export_address("__preempt_count")
    if address is not None:
        k.memory.write_u32(address, (k.memory.read_u32(address) + delta) & 0xFFFFFFFF)


@service("void kernel_fpu_begin_mask(unsigned int kfpu_mask)")
def kernel_fpu_begin_mask(k: Kernel, kfpu_mask: int) -> None:
    """Enter an FPU/SIMD section: preemption off; a nested begin is Linux's WARN (no task state to save here)."""
    state = k.subsystem(FpuSections)
    if state.owner:
        k.warn(f"kernel_fpu_begin at {k.symbolizer.short(k.current_caller)} inside the section begun at "
               f"{k.symbolizer.short(state.owner)} (WARN_ON_FPU(!irq_fpu_usable()))")
    state.owner = k.current_caller
    _preempt_add(k, 1)


@service("void kernel_fpu_end(void)")
def kernel_fpu_end(k: Kernel) -> None:
    """Leave the FPU section: preemption back on."""
    state = k.subsystem(FpuSections)
    if not state.owner:
        k.warn(f"kernel_fpu_end at {k.symbolizer.short(k.current_caller)} without kernel_fpu_begin")
        return
    state.owner = 0
    _preempt_add(k, -1)


@service("bool irq_fpu_usable(void)")
def irq_fpu_usable(k: Kernel) -> int:
    """Whether kernel_fpu_begin may be called now: not inside another section."""
    return int(not k.subsystem(FpuSections).owner)


# -- lib/find_bit.c: bitmaps are arrays of 32-bit words, bit 0 first ---------------
def _bitmap(k: Kernel, address: int, nbits: int) -> int:
    words = (nbits + 31) // 32
    value = int.from_bytes(k.memory.read(address, 4 * words), "little") if words else 0
    return value & ((1 << nbits) - 1)


def _first_set(value: int, start: int, nbits: int) -> int:
    value >>= start
    if not value:
        return nbits
    return start + ((value & -value).bit_length() - 1)


@service("unsigned long _find_first_bit(const unsigned long *addr, unsigned long size)")
def _find_first_bit(k: Kernel, addr: int, size: int) -> int:
    """Index of the first set bit, or ``size``."""
    return _first_set(_bitmap(k, addr, size), 0, size)


@service("unsigned long _find_next_bit(const unsigned long *addr, unsigned long nbits, unsigned long start)")
def _find_next_bit(k: Kernel, addr: int, nbits: int, start: int) -> int:
    """Index of the first set bit at or after ``start``, or ``nbits``."""
    return nbits if start >= nbits else _first_set(_bitmap(k, addr, nbits), start, nbits)


@service("unsigned long _find_first_zero_bit(const unsigned long *addr, unsigned long size)")
def _find_first_zero_bit(k: Kernel, addr: int, size: int) -> int:
    """Index of the first clear bit, or ``size``."""
    return _first_set(~_bitmap(k, addr, size) & ((1 << size) - 1), 0, size)


@service("unsigned long _find_next_zero_bit(const unsigned long *addr, unsigned long nbits, unsigned long start)")
def _find_next_zero_bit(k: Kernel, addr: int, nbits: int, start: int) -> int:
    """Index of the first clear bit at or after ``start``, or ``nbits``."""
    if start >= nbits:
        return nbits
    return _first_set(~_bitmap(k, addr, nbits) & ((1 << nbits) - 1), start, nbits)


@service("unsigned long _find_next_and_bit(const unsigned long *addr1, const unsigned long *addr2, "
         "unsigned long nbits, unsigned long start)")
def _find_next_and_bit(k: Kernel, addr1: int, addr2: int, nbits: int, start: int) -> int:
    """Index of the first bit set in both maps at or after ``start``, or ``nbits``."""
    if start >= nbits:
        return nbits
    return _first_set(_bitmap(k, addr1, nbits) & _bitmap(k, addr2, nbits), start, nbits)


@service("unsigned long _find_last_bit(const unsigned long *addr, unsigned long size)")
def _find_last_bit(k: Kernel, addr: int, size: int) -> int:
    """Index of the last set bit, or ``size`` if none."""
    value = _bitmap(k, addr, size)
    return value.bit_length() - 1 if value else size


# -- lib/math: division helpers i386 calls out of line, gcd, int_sqrt -----------------------
def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _trunc_div(a: int, b: int) -> tuple[int, int]:
    """C division (towards zero) and its remainder."""
    q = abs(a) // abs(b)
    q = -q if (a < 0) != (b < 0) else q
    return q, a - q * b


def _divide_error(k: Kernel, what: str) -> GuestFault:
    return GuestFault("divide-error", f"{what} by zero at {k.symbolizer.short(k.current_caller)}",
                      pc=k.current_caller)


@service("u64 div64_u64(u64 dividend, u64 divisor)")
def div64_u64(k: Kernel, dividend: int, divisor: int) -> int:
    """Unsigned 64-by-64 division (a zero divisor is the #DE the CPU would raise)."""
    if not divisor:
        raise _divide_error(k, "div64_u64")
    return dividend // divisor


@service("u64 div64_u64_rem(u64 dividend, u64 divisor, u64 *remainder)")
def div64_u64_rem(k: Kernel, dividend: int, divisor: int, remainder: int) -> int:
    """Unsigned 64-by-64 division with the remainder stored."""
    if not divisor:
        raise _divide_error(k, "div64_u64_rem")
    _write_u64(k, remainder, dividend % divisor)
    return dividend // divisor


@service("s64 div64_s64(s64 dividend, s64 divisor)")
def div64_s64(k: Kernel, dividend: int, divisor: int) -> int:
    """Signed 64-by-64 division, truncating towards zero."""
    if not divisor:
        raise _divide_error(k, "div64_s64")
    return _trunc_div(dividend, divisor)[0]


@service("s64 div_s64_rem(s64 dividend, s32 divisor, s32 *remainder)")
def div_s64_rem(k: Kernel, dividend: int, divisor: int, remainder: int) -> int:
    """Signed 64-by-32 division; the remainder (sign of the dividend) stored."""
    if not divisor:
        raise _divide_error(k, "div_s64_rem")
    quotient, rest = _trunc_div(dividend, divisor)
    k.memory.write_u32(remainder, rest & 0xFFFFFFFF)
    return quotient


@service("unsigned long gcd(unsigned long a, unsigned long b)")
def gcd(k: Kernel, a: int, b: int) -> int:
    """Greatest common divisor; gcd(0, b) = b as lib/math/gcd.c."""
    import math

    return math.gcd(a, b)


@service("unsigned long lcm(unsigned long a, unsigned long b)")
def lcm(k: Kernel, a: int, b: int) -> int:
    """Least common multiple (0 if either is 0), truncated to unsigned long as Linux's."""
    import math

    return (a // math.gcd(a, b) * b) & 0xFFFFFFFF if a and b else 0


@service("unsigned long int_sqrt(unsigned long x)")
def int_sqrt(k: Kernel, x: int) -> int:
    """floor(sqrt(x))."""
    import math

    return math.isqrt(x)


@service("u32 int_sqrt64(u64 x)")
def int_sqrt64(k: Kernel, x: int) -> int:
    """floor(sqrt(x)) of a 64-bit value."""
    import math

    return math.isqrt(x)


# -- lib/bsearch.c: the guest's comparison decides (sort is guest code: guestlib/) ---------------
def _cmp(k: Kernel, cmp: int, a: int, b: int) -> int:
    return _signed(k.call_function_pointer(cmp, a, b), 32)


@service("void *bsearch(const void *key, const void *base, size_t num, size_t size, cmp_func_t cmp)")
def bsearch(k: Kernel, key: int, base: int, num: int, size: int, cmp: int) -> int:
    """Binary search of a sorted array with the guest's cmp(key, element): the match or NULL."""
    while num > 0:
        pivot = base + (num >> 1) * size
        result = _cmp(k, cmp, key, pivot)
        if result == 0:
            return pivot
        if result > 0:
            base = pivot + size
            num -= 1
        num >>= 1
    return 0


# -- privileges, stops --------------------------------------------------------------------------
@service("bool capable(int cap)")
def capable(k: Kernel, cap: int) -> int:
    """The task is root with every capability (the sandbox's one task is init's): true for 0..40."""
    return int(0 <= cap <= 40)


@service("bool ns_capable(struct user_namespace *ns, int cap)")
def ns_capable(k: Kernel, ns: int, cap: int) -> int:
    """capable() in a namespace: the init namespace's root."""
    return capable(k, cap)


@service("bool file_ns_capable(const struct file *file, struct user_namespace *ns, int cap)")
def file_ns_capable(k: Kernel, file: int, ns: int, cap: int) -> int:
    """Whether the opener had the capability: root opened it."""
    return capable(k, cap)


class KernelPanic(GuestFault):
    """panic() or emergency_restart() was called: the machine stopped."""


PANIC_BUF_SIZE = 1024


@service("void panic(const char *fmt, ...)")
def panic(k: Kernel, fmt: int, args: object) -> None:
    """Print "Kernel panic - not syncing: <text>", run the panic notifiers, and stop: a GuestFault naming the caller.

    As kernel/panic.c: the message is formatted into panic()'s buffer,
    printed, then each block on ``panic_notifier_list`` is called with
    (0, buffer) — pvpanic tells the hypervisor, a watchdog stops — before
    the machine halts.
    """
    from kernel_stubs.memory import allocate

    from .notifier import call_panic_chain
    from .printk import format_guest, log

    raw = format_guest(k, fmt, args)  # type: ignore[arg-type]
    text = raw.rstrip(b"\n").decode("utf-8", "replace")
    where = k.symbolizer.short(k.current_caller)
    log(k, f"\x010Kernel panic - not syncing: {text}\n".encode())
    buf = allocate(k, PANIC_BUF_SIZE, owner="kernel")  # panic()'s static char buf[1024]
    if buf:
        k.memory.write(buf, raw[:PANIC_BUF_SIZE - 1] + b"\0")
    call_panic_chain(k, buf)
    raise KernelPanic("panic", f"Kernel panic - not syncing: {text} (panic() called from {where})",
                      pc=k.current_caller)


@service("bool kexec_crash_loaded(void)")
def kexec_crash_loaded(k: Kernel) -> int:
    """Whether a kdump kernel waits to take over after a panic: false, nothing ran kexec_load."""
    return 0


@service("void emergency_restart(void)")
def emergency_restart(k: Kernel) -> None:
    """The machine reboots at once: a stop naming the caller."""
    raise KernelPanic("restart", f"emergency_restart() called from {k.symbolizer.short(k.current_caller)}: "
                      "the machine would reboot now", pc=k.current_caller)


@service("void dump_stack(void)")
def dump_stack(k: Kernel) -> None:
    """Print the call chain of the running guest code, as Linux's "Call Trace:" does."""
    lines = ["CPU: 0 PID: 1 Comm: insmod", "Call Trace:", f" {k.symbolizer.short(k.current_caller)}"]
    lines += [f" {k.symbolizer.short(entry)}" for entry in reversed(k.cpu.entries)]
    k.console_write("\n".join(lines) + "\n", 4)


@service("void dump_stack_lvl(const char *log_lvl)")
def dump_stack_lvl(k: Kernel, log_lvl: int) -> None:
    """dump_stack() at a log level."""
    dump_stack(k)


@service("void __copy_overflow(int size, unsigned long count)")
def __copy_overflow(k: Kernel, size: int, count: int) -> None:
    """check_copy_size() found a copy larger than its object: Linux's WARN (the copy is then refused)."""
    k.warn(f"Buffer overflow detected ({size} < {count})! at {k.symbolizer.short(k.current_caller)}")
    k.console_write(f"Buffer overflow detected ({size} < {count})!\n", 4)


# -- symbol_get / symbol_put: another module's export, with a reference on it ---------------------
def _owner_module(k: Kernel, name: str) -> int:
    """The struct module of the module exporting ``name`` (0: the kernel itself)."""
    owner = k.export_owner(name)
    if owner in (None, "kernel"):
        return 0
    module = k.module(owner)
    return module.symbols.get("__this_module", 0) or 0


@service("void *__symbol_get(const char *symbol)")
def __symbol_get(k: Kernel, symbol: int) -> int:
    """The address of an exported symbol with a reference taken on its module; NULL if no loaded
    module (nor the kernel) exports it or its module is going away."""
    name = k.memory.read_cstring(symbol, 256).decode("latin-1")
    address = k.export_address(name)
    if address is None:
        return 0
    owner = _owner_module(k, name)
    if owner and not try_module_get(k, owner):
        return 0
    return address


@service("void __symbol_put(const char *symbol)")
def __symbol_put(k: Kernel, symbol: int) -> None:
    """Drop the reference symbol_get() took; a name nobody exports is Linux's BUG()."""
    name = k.memory.read_cstring(symbol, 256).decode("latin-1")
    if k.export_address(name) is None:
        raise GuestFault("kernel-bug", f"__symbol_put({name!r}) from {k.symbolizer.short(k.current_caller)}: "
                         "no such exported symbol (Linux BUG())", pc=k.current_caller)
    owner = _owner_module(k, name)
    if owner:
        module_put(k, owner)


@service("void symbol_put_addr(void *addr)")
def symbol_put_addr(k: Kernel, addr: int) -> None:
    """Drop the reference on the module holding ``addr`` (none for the kernel's own addresses)."""
    module = k.module_at(addr)
    if module is None:
        return
    this = module.symbols.get("__this_module")
    if this:
        module_put(k, this)


# -- kernel variables modules read ------------------------------------------------------------------
SYSTEM_RUNNING = 3  # enum system_states: BOOTING, SCHEDULING, FREEING_INITMEM, RUNNING, HALT, ...
system_state = kernel_variable("system_state", 4, SYSTEM_RUNNING)
num_online_cpus = kernel_variable("__num_online_cpus", 4, 1)
nr_irqs = kernel_variable("nr_irqs", 4, 16)  # NR_IRQS_LEGACY on a PC without an IO-APIC
sys_tz = kernel_variable("sys_tz", 8, 0)     # struct timezone: minutes west 0, dst 0 (UTC)
pm_power_off = kernel_variable("pm_power_off", 4, 0)  # no platform power-off handler registered


@service("void add_device_randomness(const void *buf, size_t len)")
def add_device_randomness(k: Kernel, buf: int, length: int) -> None:
    """Mix device data into the pool: the host's generator needs none; the buffer is still read."""
    k.memory.read(buf, length)


@service("u32 __get_random_u32_below(u32 ceil)")
def __get_random_u32_below(k: Kernel, ceil: int) -> int:
    """A uniform random number in [0, ceil)."""
    import secrets

    return secrets.randbelow(ceil) if ceil else 0


# -- arch/x86/lib/atomic64_cx8_32.S: atomic64_t on i386, with their own register conventions -----
# The inline atomic64_*() call these with the pointer in %esi (set, xchg, inc/dec_return) or %ecx
# (read, add/sub_return), the operand in %ebx:%ecx or %edx:%eax, the result in %edx:%eax; each
# is a cmpxchg8b loop as Linux's (assembled from the same instruction sequences).
atomic64_read_cx8 = kernel_code("atomic64_read_cx8", bytes.fromhex("89d889caf00fc709c3"))
atomic64_set_cx8 = kernel_code("atomic64_set_cx8", bytes.fromhex("0fc70e75fbc3"))
atomic64_xchg_cx8 = kernel_code("atomic64_xchg_cx8", bytes.fromhex("f00fc70e75fac3"))
atomic64_add_return_cx8 = kernel_code("atomic64_add_return_cx8", bytes.fromhex(
    "5553565789c689d789cd89d889caf00fc74d0089c389d101f311f9f00fc74d0075f189d889ca5f5e5b5dc3"))
atomic64_sub_return_cx8 = kernel_code("atomic64_sub_return_cx8", bytes.fromhex(
    "5553565789c689d789cd89d889caf00fc74d0089c389d129f319f9f00fc74d0075f189d889ca5f5e5b5dc3"))
atomic64_inc_return_cx8 = kernel_code("atomic64_inc_return_cx8", bytes.fromhex(
    "5389d889caf00fc70e89c389d183c30183d100f00fc70e75f089d889ca5bc3"))
atomic64_dec_return_cx8 = kernel_code("atomic64_dec_return_cx8", bytes.fromhex(
    "5389d889caf00fc70e89c389d183eb0183d900f00fc70e75f089d889ca5bc3"))


# -- arch/x86/lib/checksum_32.S: the 32-bit partial Internet checksum -----------------------------
M32 = 0xFFFFFFFF


def _fold_add(eax: int, value: int) -> int:
    """addl value, %eax; adcl $0, %eax."""
    total = eax + value
    return (total & M32) + (total >> 32)


def _addw(eax: int, word: int) -> int:
    """addw word, %ax; adcl $0, %eax: the carry out of the low half goes to bit 0."""
    low = (eax & 0xFFFF) + word
    eax = (eax & 0xFFFF0000) | (low & 0xFFFF)
    return (eax + (low >> 16)) & M32


def _rol8(eax: int) -> int:
    return ((eax << 8) | (eax >> 24)) & M32


def csum_partial_value(data: bytes, address: int, total: int) -> int:
    """csum_partial() of ``data`` (at guest ``address``) added to ``total``, step for step as the
    686 (PPro) assembly: the odd first byte and the rotations around the rest, 2-byte-aligned words added to %ax, whole
    32-bit words with end-around carry, the last 1-3 bytes masked, the final rotation."""
    eax, pos, left, esi = total & M32, 0, len(data), address
    if esi & 3:
        if esi & 1:
            left -= 1
            if left < 0:
                return eax
            eax = _rol8(_fold_add(eax, data[pos]))
            pos, esi = pos + 1, esi + 1
        if esi & 2:
            while True:
                if left > 2:
                    eax = _addw(eax, int.from_bytes(data[pos:pos + 2], "little"))
                    pos, esi, left = pos + 2, esi + 2, left - 2
                    break
                if left == 2:
                    eax = _addw(eax, int.from_bytes(data[pos:pos + 2], "little"))
                    left = 0
                elif left == 1:
                    eax = _fold_add(eax, data[pos])
                    left = 0
                return _rol8(eax) if address & 1 else eax
    words = left // 4
    if words:
        s = eax + sum(int.from_bytes(data[pos + 4 * i:pos + 4 * i + 4], "little") for i in range(words))
        eax = (s - 1) % M32 + 1 if s else 0  # an adc chain closed by adcl $0: end-around carry
        pos += 4 * words
    tail = left & 3
    if tail:
        eax = _fold_add(eax, int.from_bytes(data[pos:pos + tail], "little"))
    return _rol8(eax) if address & 1 else eax


@service("__wsum csum_partial(const void *buff, int len, __wsum sum)", convention="cdecl")  # asmlinkage
def csum_partial(k: Kernel, buff: int, length: int, total: int) -> int:
    """The 32-bit ones'-complement sum of ``len`` bytes added to ``sum`` (fold with csum_fold)."""
    data = k.memory.read(buff, length) if length > 0 else b""
    return csum_partial_value(data, buff, total)


@service("int call_usermodehelper(const char *path, char **argv, char **envp, int wait)")
def call_usermodehelper(k: Kernel, path: int, argv: int, envp: int, wait: int) -> int:
    """Run a user program: there is no user space or filesystem here, so exec fails: -ENOENT."""
    k.trace.add("note", "usermodehelper", fields={"path": k.memory.read_cstring(path, 256).decode("latin-1")})
    return -2
