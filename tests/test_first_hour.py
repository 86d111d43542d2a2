"""Smaller first-hour papercuts of issue 13 (items 12 and 13)."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel
from sandbox.wellknown import IrqEntry

IRQ_CRASH = """
#include <kernel.h>
static int token;
static irqreturn_t crash_handler(int irq, void *dev_id) { (void)irq; return *(volatile int *)0 + (dev_id != 0); }
static int __init crash_init(void) { return request_irq(12, crash_handler, 0, "crash", &token); }
static void __exit crash_exit(void) { free_irq(12, &token); }
module_init(crash_init);
module_exit(crash_exit);
"""


def test_a_fault_in_an_irq_handler_says_so(compile_c) -> None:
    k = Kernel()
    k.load(compile_c(IRQ_CRASH, "crash"))
    with pytest.raises(GuestFault) as caught:
        k.raise_irq(12)
    assert "[in IRQ 12 handler crash:crash_handler (interrupt context)]" in str(caught.value)
    assert caught.value.report.startswith("in IRQ 12 handler crash:crash_handler (interrupt context):\n")
    assert caught.value.kind == "null-pointer"
    assert k.trace.of_kind("fault")[0].context == "irq"


def test_well_known_table_is_checked_when_the_kernel_is_made(driver) -> None:
    with pytest.raises(ValueError, match=r"well_known\['kbd_isr'\] = 'irq 3' is not an entry: use IrqEntry"):
        Kernel(well_known={"kbd_isr": "irq 3"})
    k = Kernel(well_known={"irqhandler": IrqEntry(3)})
    k.load(driver("wellknown"))
    assert [action.line for action in k.irqs.owned_by("wellknown")] == [3]


UNPROVIDED = """
#include <kernel.h>
int nowhere(int x);
int later(void) { return nowhere(1); }
"""


def test_load_all_with_trapped_symbols_loads_and_traps_at_the_call(compile_c) -> None:
    k = Kernel(unresolved="trap")
    (module,) = k.load_all([compile_c(UNPROVIDED, "unprovided")])
    with pytest.raises(GuestFault, match="unresolved kernel symbol nowhere"):
        module.call("later")


def test_snapshot_rolls_back_a_device_mapped_with_mmio_map(compile_c) -> None:
    """k.mmio.map(base, size, dev) without k.devices.add: the device's state is restored too."""
    from sandbox.machine import address_map as amap

    from .guest import PIO
    from .test_devices import Doorbell

    k = Kernel()
    bell = Doorbell()
    base = amap.MMIO_BASE + 0x10000
    k.mmio.map(base, 0x1000, bell)  # the README's way, never added to k.devices
    m = k.load(compile_c(PIO, "pio"))
    m.call("mmio_write32", base + 0x10, 5)
    snap = k.snapshot()
    m.call("mmio_write32", base + 0x10, 9)
    assert bell.stored == {0x10: 9}
    k.restore(snap)
    assert bell.stored == {0x10: 5}
    assert m.call("mmio_read32", base + 0x10) == 5  # the guest and the device agree again
    assert k.mmio.window_at(base).device is bell
