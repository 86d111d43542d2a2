"""The kernel address map: the one place that says where everything lives.

| range                     | use                                              |
|---------------------------|--------------------------------------------------|
| 0x00000000-0x0000ffff     | never mapped: NULL dereferences fault            |
| 0x40000000-0x4fffffff     | user space: vm_mmap, buffers of ``k.open`` files |
| 0xC0000000 (TASK_SIZE)    | the user/kernel split: access_ok ends below it   |
| 0xC0000000-0xC00fffff     | kernel text: one 16-byte stub per service, traps |
| 0xC0800000-0xC080ffff     | kernel text: raw code exports (retpoline thunks) |
| 0xC0F00000-0xC0f00fff     | descriptor tables (GDT), read-only               |
| 0xC0F01000-0xC0f01fff     | return path: control-state check (guest code)    |
| 0xC0F10000-0xC0f1ffff     | kernel read-only data: page-aligned constants    |
| 0xC1000000-0xC1ffffff     | kernel data: exported variables, scratch         |
| 0xC2000000-0xC2ffffff     | never mapped: traps for unresolved data symbols  |
| 0xC4000000-0xCbffffff     | loader scratch (relocation work, loader-private) |
| 0xCC000000-0xCc8bffff     | struct page array (``mem_map``), mapped as used  |
| 0xD0000000-0xDfffffff     | module area, page-granular, reused after unload  |
| 0xE0000000-0xEfffffff     | kmalloc heap                                     |
| 0xF0000000-0xF00fffff     | stacks (task and IRQ) separated by guard pages   |
| 0xF8000000-0xFEffffff     | device MMIO windows (``k.mmio.map``)             |

Guard pages are simply left unmapped; the fault reporter names them.
"""

from __future__ import annotations

PAGE_SIZE = 0x1000

NULL_GUARD_END = 0x10000

# The 3G/1G split of i386 Linux (PAGE_OFFSET = TASK_SIZE = TASK_SIZE_MAX):
# every address at or above it is kernel memory, which the user-copy
# functions refuse with -EFAULT.
TASK_SIZE = 0xC0000000
# Where the emulated process's anonymous mappings go (vm_mmap, and the
# user buffers the Python side hands a driver's read/write/ioctl).
USER_AREA_BASE = 0x40000000
USER_AREA_SIZE = 0x10000000

STUB_BASE = 0xC0000000
STUB_SLOT = 16
STUB_AREA_SIZE = 0x100000
# The last slot of the stub area is where every Python->guest call returns:
# emu_start(until=RETURN_TRAP) ends the call without any hook.
RETURN_TRAP = STUB_BASE + STUB_AREA_SIZE - STUB_SLOT
MAX_STUBS = (STUB_AREA_SIZE // STUB_SLOT) - 1

# Raw x86 code exported under a name (``kernel_code``): code that must run
# as real instructions, such as the retpoline thunks that jump through a
# register. No hook covers it.
KTEXT_BASE = 0xC0800000
KTEXT_SIZE = 0x10000

# The GDT of the flat segments every call starts with (machine/control.py);
# read-only, so guest code cannot change what a segment load gives.
DESCRIPTOR_BASE = 0xC0F00000
# The guest code a top-level call returns through: it checks the control
# state at guest speed (machine/control.py). The page after it is unmapped.
RETURN_CHECK_BASE = 0xC0F01000
# Where guest code returns to when it returns to the host: the trap (nested
# calls) and the two entries of the return check (top-level task and IRQ calls).
HOST_RETURNS = frozenset({RETURN_TRAP, RETURN_CHECK_BASE, RETURN_CHECK_BASE + 0x100})

# Read-only kernel variables (``kernel_variable(..., read_only=True)``), each
# page-aligned: ``empty_zero_page`` must stay zero whatever a module writes.
KRODATA_BASE = 0xC0F10000
KRODATA_SIZE = 0x10000

KDATA_BASE = 0xC1000000
KDATA_SIZE = 0x100000

# Unresolved data symbols (``unresolved="trap"``) bind to a slot here; the
# range is never mapped, so any access faults and names the symbol.
# The page the profile's tick variables (jiffies) live on: an MMIO page whose
# reads reach Python (sandbox/tick_page.py), below the trap area.
TICK_PAGE_BASE = 0xC1F00000

TRAP_BASE = 0xC2000000
TRAP_SIZE = 0x1000000
TRAP_SLOT = 0x400

# The loader copies a module image, its relocation tables and its symbol
# addresses here for the kernel's relocation loop (machine/relocator.py).
# Mapped as needed, never a GuestMemory region: services cannot reach it.
LOADER_SCRATCH_BASE = 0xC4000000
LOADER_SCRATCH_SIZE = 0x08000000

# Linux's ``mem_map``: one ``struct page`` per page frame of lowmem (physical
# 0 up to LOWMEM_END - PAGE_OFFSET), mapped piece by piece as pages are looked
# up (kernel_stubs/linux/pages.py), so an unused frame costs nothing.
PAGE_ARRAY_BASE = 0xCC000000
PAGE_ARRAY_SIZE = 0x00900000
# Where lowmem, the linearly mapped part of kernel space, ends on i386 (896 MiB
# above PAGE_OFFSET); the MMIO area starts there, as Linux's ioremap space does.
LOWMEM_END = 0xF8000000

MODULE_AREA_BASE = 0xD0000000
MODULE_AREA_SIZE = 0x10000000

HEAP_BASE = 0xE0000000
HEAP_SIZE = 0x10000000
# Memory is mapped into the heap window in chunks of this size as it grows.
HEAP_CHUNK = 0x100000

# Device MMIO windows (Unicorn mmio_map regions). High in the address space,
# like a PC's PCI hole, and away from everything the kernel maps itself.
MMIO_BASE = 0xF8000000
MMIO_SIZE = 0x07000000

STACK_AREA_BASE = 0xF0000000
STACK_SIZE = 0x4000  # 16 KiB, like a 32-bit Linux task with 4K stacks x4


def stack_layout() -> dict[str, tuple[int, int]]:
    """Return name -> (low, high) of each stack; a guard page sits below each.

    Layout from STACK_AREA_BASE upwards: guard, task stack, guard, IRQ stack,
    guard. Stacks grow down, so overflowing one hits the guard below it.
    """
    layout: dict[str, tuple[int, int]] = {}
    cursor = STACK_AREA_BASE + PAGE_SIZE
    for name in ("task", "irq"):
        layout[name] = (cursor, cursor + STACK_SIZE)
        cursor += STACK_SIZE + PAGE_SIZE
    return layout


def stack_guards() -> list[tuple[int, int]]:
    """The unmapped guard pages around the stacks, as (low, high) ranges."""
    guards = [(STACK_AREA_BASE, STACK_AREA_BASE + PAGE_SIZE)]
    for _low, high in stack_layout().values():
        guards.append((high, high + PAGE_SIZE))
    return guards


def access_ok(address: int, size: int) -> bool:
    """Linux's ``__access_ok``: the whole range lies below TASK_SIZE (no wrap)."""
    return size <= TASK_SIZE and address <= TASK_SIZE - size


def page_align_up(value: int) -> int:
    """Round up to a page boundary."""
    return (value + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
