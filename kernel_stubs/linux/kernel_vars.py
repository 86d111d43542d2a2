"""Kernel variables modules read directly, with the values Linux 6.1 i386 has on a plain PC.

Each is a word (or struct) in kernel data that a module loads with a plain
``mov``; no service call is involved, so its value is all a module sees.
The values are those of a 686 PC without the feature in question, each
with the reason next to it.
"""

from __future__ import annotations

from sandbox.machine import address_map as amap
from sandbox.services import kernel_variable

from .layout import size
from .platform import CPUINFO_SIZE, _boot_cpu_data

PAGE_SIZE = 4096

# arch/x86/mm/pgtable.c: the top of the fixmap area. 0xfffff000 unless a
# hypervisor reserved the top of the address space at boot (Xen PV's
# reserve_top_address); there is none here. dm_bufio derives the vmalloc
# area's size from it (VMALLOC_END) to cap its cache.
FIXADDR_TOP = 0xFFFFF000
fixaddr_top = kernel_variable("__FIXADDR_TOP", 4, FIXADDR_TOP)

# drivers/pci/pci.c: PCIPCI_* bits the PCI quirks set at boot for host
# bridges that break PCI-to-PCI DMA (Triton, VIA, ALi Magik...). A PC
# without one has 0; the sandbox has no PCI-to-PCI DMA to limit, and its
# quirks do not run, so no bit is set. bttv reads it to decide on overlays.
pci_pci_problems = kernel_variable("pci_pci_problems", 4, 0)

# arch/x86/platform/olpc/olpc.c: struct olpc_platform_t {flags, boardrev}.
# Filled from the OFW device tree on an OLPC XO; elsewhere all zero, so
# OLPC_F_PRESENT (bit 0 of flags) is clear and machine_is_olpc() is false.
olpc_platform_info = kernel_variable("olpc_platform_info", size("olpc_platform_t"), 0)

# arch/x86/kernel/head_32.S: one page of zeros, page-aligned, that the
# kernel maps wherever it needs zeros (ZERO_PAGE(0)). Read-only here, so a
# module writing into it faults instead of corrupting every later reader.
empty_zero_page = kernel_variable("empty_zero_page", PAGE_SIZE, 0, read_only=True)

# mm/highmem.c: page frames above lowmem (896 MiB on i386). The machine has
# the 256 MiB of _totalram_pages (memory.py), all of it lowmem: none.
totalhigh_pages = kernel_variable("_totalhigh_pages", 4, 0)

# arch/x86/mm/init_32.c: the end of the linearly mapped lowmem, __va(max_low_pfn).
# The address map treats everything from PAGE_OFFSET to LOWMEM_END as lowmem
# (the kmalloc heap and module area are in it: __pa and virt_addr_valid work
# there), so high_memory is LOWMEM_END, where vmalloc space would begin.
high_memory = kernel_variable("high_memory", 4, amap.LOWMEM_END)

# fs/dcache.c: /proc/sys/vm/vfs_cache_pressure, 100 unless the administrator changed it; shrinkers of
# VFS-like caches (sunrpc's credentials) scale their object counts by it (vfs_pressure_ratio).
sysctl_vfs_cache_pressure = kernel_variable("sysctl_vfs_cache_pressure", 4, 100)

# arch/x86/kernel/smpboot.c: the per-CPU struct cpuinfo_x86 (exported per-CPU; __per_cpu_offset[0] is 0,
# so CPU 0's copy is at the symbol). smp_store_boot_cpu_info copies boot_cpu_data into it for the boot
# CPU, with cpu_index 0 and logical package and die 0: the copy, as zeros are those numbers.
cpu_info = kernel_variable("cpu_info", CPUINFO_SIZE, _boot_cpu_data())

# arch/x86/kernel/cpu/topology.c: dies per package, 1 unless CPUID leaf 0x1f reports more (multi-die
# server parts); the emulated CPU has one package with one die.
max_die_per_package = kernel_variable("__max_die_per_package", 4, 1)
