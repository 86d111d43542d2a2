"""Kernel.snapshot()/restore(): a run after restore behaves exactly like a fresh one."""

from __future__ import annotations

import pytest

from sandbox import GuestFault, Kernel


def _scenario(k: Kernel) -> tuple:
    storage = k.module("usb_storage")
    memlist = k.module("memlist")
    for value in (5, 6, 7):
        memlist.call("memlist_push", value, f"n{value}")
    k.raise_irq(5)
    return (memlist.call("memlist_sum"), memlist.call("memlist_len"), storage.call("usb_storage_port"),
            k.module("irqcount").call("irqcount_get"), k.console,
            [(e.kind, e.name, e.args, e.result) for e in k.trace])


def _fresh(driver) -> Kernel:
    k = Kernel()
    k.load_all([driver("usb_roothub"), driver("usb_storage")])
    k.load(driver("memlist"))
    k.load(driver("irqcount"))
    return k


def test_restore_equals_fresh_kernel(driver) -> None:
    k = _fresh(driver)
    snap = k.snapshot()
    first = _scenario(k)
    # Change everything a test might change: more modules, unloads, heap, devices.
    k.unload("irqcount")
    k.load(driver("hello"))
    k.module("memlist").call("memlist_push", 99, "extra")
    k.restore(snap)
    assert _scenario(k) == first
    k.restore(snap)
    assert _scenario(k) == _scenario(_fresh(driver))  # restored == never touched


def test_restore_after_fault_and_unload(driver) -> None:
    k = _fresh(driver)
    snap = k.snapshot()
    faulty = k.load(driver("faulty"))
    with pytest.raises(GuestFault):
        faulty.call("fault_null_read")
    k.unload("usb_storage")
    k.unload("usb_roothub")
    k.restore(snap)
    assert sorted(m.name for m in k.modules) == ["irqcount", "memlist", "usb_roothub", "usb_storage"]
    assert k.module("usb_roothub").used_by == {"usb_storage"}
    assert k.export_owner("roothub_port_count") == "usb_roothub" and k.export_owner("fault_spin") is None
    assert k.module("usb_storage").call("usb_storage_port") == 2
    assert k.load(driver("faulty")).call("faulty_ok", 1, 2) == 3


def _load_memlist(k: Kernel) -> None:
    from drivers.build import build_all

    k.load(build_all(toolchains=("gcc",), formats=("obj",))[("gcc", "obj", "memlist")])


@pytest.mark.parametrize("round_", range(3))
def test_prepared_kernel_is_restored_for_each_test(prepared_kernel, round_: int) -> None:
    k = prepared_kernel(_load_memlist)
    m = k.module("memlist")
    assert m.call("memlist_len") == 0 and k.console == ""  # nothing left over from the previous round
    m.call("memlist_push", round_, "x")
    m.call("memlist_pop")
    k.console_write("dirty\n")


def test_restore_puts_back_devices_time_and_pending_interrupts(driver) -> None:
    k = Kernel()
    uart = k.load(driver("uart"))
    com1 = k.devices["com1"]
    snap = k.snapshot()
    jiffies = k.jiffies
    com1.feed(b"lost")
    uart.call("uart_write", b"gone", 4)
    k.run_for(50)
    assert com1.output == b"gone" and k.jiffies == jiffies + 50
    k.restore(snap)
    assert k.devices["com1"] is com1  # same object: hooks and callers keep working
    assert com1.output == b"" and k.jiffies == jiffies
    buf = bytearray(8)
    assert uart.call("uart_read", buf, 8) == 0  # the bytes fed after the snapshot are gone
    com1.feed(b"ok")
    assert uart.call("uart_read", buf, 8) == 2 and buf[:2] == b"ok"


def test_timers_after_restoring_a_snapshot_from_before_any_timer(driver) -> None:
    k = Kernel()
    snap = k.snapshot()  # no timer was ever armed: IRQ 0 has no timer hook yet
    beat = k.load(driver("heartbeat"))
    k.run_for(100)
    assert beat.call("heartbeat_beats") == 10
    k.restore(snap)
    # The timers that fire are the restored kernel's: the timer deleted at
    # unload stays quiet (no stale copy of the state from before the restore).
    beat = k.load(driver("heartbeat"))
    k.run_for(5)
    assert k.unload(beat).clean
    k.trace.clear()
    k.run_for(500)  # past the expiry the timer had when the snapshot was restored
    assert k.trace.of_kind("timer") == []
