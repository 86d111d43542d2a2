"""Real Linux 6.1 modules whose init now runs to completion, and what they registered.

Skipped when Debian's modules were not fetched (tools/fetch-linux-modules).
Every expectation is read from the module (its structs and strings in guest
memory), from an independent reference (Python's codecs), or from what the
module's own code did while it ran.
"""

from __future__ import annotations

import struct

import pytest

from kernel_stubs.linux import time as ltime
from kernel_stubs.linux.chrdev import CharDevices
from kernel_stubs.linux.comedi import ComediDrivers
from kernel_stubs.linux.crypto import Crypto
from kernel_stubs.linux.drivers import BusDrivers
from kernel_stubs.linux.extensions import Extensions
from kernel_stubs.linux.fs import DebugFs, Filesystems, ProcFs
from kernel_stubs.linux.media import Keymaps
from kernel_stubs.linux.net import NET_GEN, NetExtensions, Pernet, Qdiscs
from kernel_stubs.linux.netfilter import XTables
from kernel_stubs.linux.nls import NlsTables
from kernel_stubs.linux.platform import Dmi, cpu_identity
from kernel_stubs.linux.timers import Timers
from kernel_stubs.linux.tty_ldisc import LineDisciplines
from kernel_stubs.linux.usbserial import UsbSerial
from kernel_stubs.linux.workqueue import PENDING, Workqueues, run_work
from sandbox import Kernel, LoadError
from sandbox.services import service

from .linux_corpus import ko, needs_corpus

pytestmark = needs_corpus


@pytest.fixture
def lk() -> Kernel:
    # Trap what the profile does not implement: these modules import far more than their init calls.
    return Kernel("linux", unresolved="trap", budget_seconds=10)


def cstr(k: Kernel, address: int) -> str:
    return k.memory.read_cstring(address, 256).decode()


# -- rc keymaps ---------------------------------------------------------------------
def test_rc_keymap_registers_its_table(lk: Kernel) -> None:
    m = lk.load(ko("drivers/media/rc/keymaps/rc-rc6-mce.ko"))
    maplist = m.symbols["rc6_mce_map"]
    entry = lk.subsystem(Keymaps).entries[maplist]
    assert entry.owner == m.name
    # The name and table are the module's own: rc_map_list.map.name / .scan / .size.
    assert entry.name == cstr(lk, lk.memory.read_u32(maplist + 28)) == "rc-rc6-mce"
    assert entry.fields["scan"] == m.symbols["rc6_mce"]
    table = lk.subsystem(Keymaps).table(lk, "rc-rc6-mce")
    assert len(table) == entry.fields["size"] == lk.memory.read_u32(maplist + 12)
    assert all(keycode for keycode in table.values())
    # rc-core's lookup by name gives the embedded struct rc_map.
    name = lk.memory.alloc(16)
    lk.memory.write(name, b"rc-rc6-mce\0")
    assert lk.call(lk.export_address("rc_map_get"), name, returns="ptr") == maplist + 8
    assert lk.unload(m).clean
    assert maplist not in lk.subsystem(Keymaps).entries


def test_rc_keymap_left_registered_is_a_leak(lk: Kernel) -> None:
    m = lk.load(ko("drivers/media/rc/keymaps/rc-rc6-mce.ko"))
    lk.inject_failure("rc_map_unregister", value=0)  # the exit's unregister is lost
    report = lk.unload(m)
    assert any("keymap 'rc-rc6-mce'" in leak for leak in report.leaks)


# -- NLS ------------------------------------------------------------------------------
def test_nls_cp437_table_converts_like_pythons_codec(lk: Kernel) -> None:
    m = lk.load(ko("fs/nls/nls_cp437.ko"))
    tables = lk.subsystem(NlsTables)
    (address, entry), = tables.entries.items()
    assert entry.name == "cp437" and entry.owner == m.name
    assert lk.memory.read_u32(address + 24) == m.symbols["__this_module"]  # nls->owner set by register_nls
    # load_nls("cp437") finds it; then use its own char2uni on every byte.
    charset = lk.memory.alloc(8)
    lk.memory.write(charset, b"cp437\0")
    assert lk.call(lk.export_address("load_nls"), charset, returns="ptr") == address
    raw, uni = lk.memory.alloc(4), lk.memory.alloc(4)
    for byte in range(256):
        lk.memory.write(raw, bytes([byte]))
        expected = ord(bytes([byte]).decode("cp437"))
        # Linux's char2uni refuses a byte that maps to U+0000 with -EINVAL.
        assert lk.call(entry.fields["char2uni"], raw, 1, uni) == (1 if expected else -22)
        assert struct.unpack("<H", lk.memory.read(uni, 2))[0] == expected
    assert lk.unload(m).clean
    assert not tables.entries


# -- usb-serial, comedi ------------------------------------------------------------------
def test_usb_serial_driver_registration_and_messages(lk: Kernel) -> None:
    m = lk.load(ko("drivers/usb/serial/pl2303.ko"))
    registry = lk.subsystem(UsbSerial)
    (interface,) = registry.of_kind("usb driver")
    serial = registry.of_kind("usb-serial driver")
    assert interface.owner == m.name and len(serial) == interface.fields["count"] >= 1
    # Each serial driver's description is read from the module's struct usb_serial_driver.
    for entry in serial:
        assert entry.name == cstr(lk, lk.memory.read_u32(entry.address))
    assert f"usbcore: registered new interface driver {interface.name}\n" in lk.console
    assert f"usbserial: USB Serial support registered for {serial[0].name}\n" in lk.console
    assert lk.unload(m).clean
    assert f"usbcore: deregistering interface driver {interface.name}\n" in lk.console
    assert not registry.entries


def test_comedi_pci_driver_registers_both_halves(lk: Kernel) -> None:
    m = lk.load(ko("drivers/comedi/drivers/adl_pci7x3x.ko"))
    (comedi,) = lk.subsystem(ComediDrivers).entries.values()
    assert comedi.name == cstr(lk, lk.memory.read_u32(comedi.address + 4)) == m.name
    assert lk.module_at(comedi.fields["auto_attach"]) is m
    pci = [r for r in lk.subsystem(BusDrivers).registered.values() if r.bus == "pci"]
    assert len(pci) == 1 and pci[0].owner == m.name
    assert lk.unload(m).clean


# -- netfilter, qdisc, filesystems ---------------------------------------------------------
def test_xt_matches_are_recorded_with_their_revisions(lk: Kernel) -> None:
    m = lk.load(ko("net/netfilter/xt_conntrack.ko"))
    matches = lk.subsystem(XTables).of_kind("xt_match")
    assert len(matches) == 3 and {e.name for e in matches} == {"conntrack"}
    assert len({(e.fields["revision"], e.fields["family"]) for e in matches}) == 3
    assert all(lk.module_at(e.fields["function"]) is m for e in matches)
    assert lk.unload(m).clean


def test_qdisc_registration_and_duplicate(lk: Kernel) -> None:
    m = lk.load(ko("net/sched/sch_tbf.ko"))
    (entry,) = lk.subsystem(Qdiscs).entries.values()
    assert entry.name == "tbf" and entry.owner == m.name
    # Registering the same kind again is refused, as Linux's qdisc_base walk does.
    assert lk.call(lk.export_address("register_qdisc"), entry.address) == -17
    assert lk.unload(m).clean


def test_filesystem_type_registered_and_leak_reported(lk: Kernel) -> None:
    m = lk.load(ko("fs/minix/minix.ko"))
    (entry,) = lk.subsystem(Filesystems).entries.values()
    assert entry.name == "minix" and lk.module_at(entry.fields["mount"]) is m
    assert lk.unload(m).clean
    m = lk.load(ko("fs/minix/minix.ko"))
    lk.inject_failure("unregister_filesystem", value=0)
    leaks = lk.unload(m).leaks
    assert any("filesystem 'minix'" in leak for leak in leaks)


# -- workqueues, timers ---------------------------------------------------------------------
def test_module_workqueue_lifecycle(lk: Kernel) -> None:
    m = lk.load(ko("drivers/firewire/firewire-ohci.ko"))
    queues = [q for q in lk.subsystem(Workqueues).queues.values() if q.owner == m.name]
    assert [q.name for q in queues] == ["firewire_ohci"]
    assert lk.unload(m).clean  # its exit destroyed the queue
    assert not [q for q in lk.subsystem(Workqueues).queues.values() if q.owner == m.name]
    m = lk.load(ko("drivers/firewire/firewire-ohci.ko"))
    lk.inject_failure("destroy_workqueue", value=0)
    leaks = lk.unload(m).leaks
    assert any("workqueue 'firewire_ohci' not destroyed" in leak for leak in leaks)


def test_queued_work_runs_when_flushed(lk: Kernel) -> None:
    ran: list[int] = []

    @service("void test_work_fn(struct work_struct *work)")
    def test_work_fn(k: Kernel, work: int) -> None:
        ran.append(work)
        # Linux clears PENDING before calling the function, so work may requeue itself.
        assert not k.memory.read_u32(work) & PENDING

    fn = lk.add_service(test_work_fn)
    m = lk.load(ko("drivers/firewire/firewire-ohci.ko"))
    (handle,) = [h for h, q in lk.subsystem(Workqueues).queues.items() if q.owner == m.name]
    work = lk.memory.alloc(16)
    lk.memory.write(work, struct.pack("<IIII", 0, work + 4, work + 4, fn))  # INIT_WORK
    queue = lk.export_address("queue_work_on")
    assert lk.call(queue, 0, handle, work) == 1
    assert lk.call(queue, 0, handle, work) == 0  # already pending
    assert ran == []
    lk.call(lk.export_address("__flush_workqueue"), handle)
    assert ran == [work]
    # On the system workqueue it runs when the kworkers get the CPU.
    system_wq = lk.memory.read_u32(lk.export_address("system_wq"))
    assert lk.call(queue, 0, system_wq, work) == 1
    assert run_work(lk) == 1 and ran == [work, work]
    assert lk.unload(m).clean


def test_timer_armed_by_init_fires_as_time_moves(lk: Kernel) -> None:
    m = lk.load(ko("drivers/char/hangcheck-timer.ko"))
    timers = lk.subsystem(Timers)
    (armed,) = timers.armed.values()
    assert lk.module_at(armed.function) is m
    now = lk.memory.read_u32(lk.export_address("jiffies"))
    lk.advance_time(((armed.expires - now) & 0xFFFFFFFF) * ltime.NSEC_PER_JIFFY - 1)
    assert timers.fired == 0
    lk.advance_time(1)
    assert timers.fired == 1
    assert armed.address in timers.armed  # the callback re-armed itself, as hangcheck does
    assert lk.unload(m).clean  # exit's del_timer_sync disarmed it
    assert not timers.armed


# -- debugfs, pernet, misc devices ------------------------------------------------------------
def test_debugfs_tree(lk: Kernel) -> None:
    m = lk.load(ko("net/l2tp/l2tp_debugfs.ko"))
    tree = lk.subsystem(DebugFs)
    entry = tree.lookup("l2tp/tunnels")
    assert entry is not None and entry.kind == "debugfs file"
    assert lk.module_at(entry.fields["fops"]) is m
    # The dentry carries its name and parent, as a driver may read them.
    assert cstr(lk, lk.memory.read_u32(entry.address + 28)) == "tunnels"
    assert lk.memory.read_u32(entry.address + 16) == tree.lookup("l2tp").address
    assert lk.unload(m).clean
    assert not tree.entries


def test_pernet_ops_get_an_id_and_data_on_init_net(lk: Kernel) -> None:
    m = lk.load(ko("net/netfilter/xt_RATEEST.ko"))
    (ops,) = lk.subsystem(Pernet).ops.values()
    net = lk.export_address("init_net")
    gen = lk.memory.read_u32(net + NET_GEN)
    # net_generic(&init_net, id) is the block register_pernet_subsys allocated, and *ops->id holds the id.
    assert ops.id >= 3 and lk.memory.read_u32(gen + 4 * ops.id) == ops.data != 0
    assert lk.memory.read_u32(lk.memory.read_u32(ops.address + 28)) == ops.id
    # The module's pernet init ran on it: it initialised a mutex there (its wait list points at itself).
    block = lk.memory.read(ops.data, lk.memory.read_u32(ops.address + 32))
    assert any(block)
    assert lk.unload(m).clean
    assert not lk.subsystem(Pernet).ops


def test_misc_device_gets_its_minor(lk: Kernel) -> None:
    m = lk.load(ko("drivers/bluetooth/hci_vhci.ko"))
    (entry,) = lk.subsystem(CharDevices).of_kind("misc device")
    assert entry.name == cstr(lk, lk.memory.read_u32(entry.address + 4))
    assert entry.fields["minor"] == lk.memory.read_u32(entry.address)  # fixed minor from the module's struct
    assert lk.module_at(entry.fields["fops"]) is m
    assert lk.memory.read_u32(entry.address + 24) == entry.fields["this_device"]
    assert lk.unload(m).clean


# -- ISA, DMI, CPU ----------------------------------------------------------------------------
def test_isa_driver_match_runs_and_finds_no_card(lk: Kernel) -> None:
    # snd-adlib's match() declines every device whose port parameter was not given.
    with pytest.raises(LoadError) as failure:
        lk.load(ko("sound/isa/snd-adlib.ko"))
    assert "-19" in str(failure.value) or "ENODEV" in str(failure.value)
    assert "please specify port" in lk.console


def test_dmi_matching_follows_the_machine_identity(lk: Kernel) -> None:
    # One dmi_system_id: match DMI_SYS_VENDOR (6) by substring "QEM", then the empty end entry.
    table = lk.memory.alloc(2 * 332)
    lk.memory.write(table, bytes(2 * 332))
    lk.memory.write(table + 8, bytes([6]) + b"QEM\0")
    check = lk.export_address("dmi_check_system")
    assert lk.call(check, table) == 0  # no SMBIOS table on this machine
    lk.subsystem(Dmi).ident["sys_vendor"] = "QEMU"
    assert lk.call(check, table) == 1
    lk.memory.write(table + 8, bytes([6 | 0x80]) + b"QEM\0")  # exact match wanted now
    assert lk.call(check, table) == 0


def test_x86_match_cpu_against_emulated_cpu(lk: Kernel) -> None:
    vendor, family, model, _, _ = cpu_identity()
    table = lk.memory.alloc(3 * 16)
    lk.memory.write(table, struct.pack("<5HxxI", vendor, family, model + 1, 0, 0, 1)
                    + struct.pack("<5HxxI", 0xFFFF, family, model, 0, 0, 2) + bytes(16))
    found = lk.call(lk.export_address("x86_match_cpu"), table, returns="ptr")
    assert found == table + 16 and lk.memory.read_u32(found + 12) == 2


# -- second batch: congestion control, tc actions, crypto templates, block majors, link kinds -----
def test_tcp_congestion_control_registered(lk: Kernel) -> None:
    m = lk.load(ko("net/ipv4/tcp_bbr.ko"))
    (entry,) = lk.subsystem(NetExtensions).of_kind("tcp congestion control")
    assert entry.name == lk.memory.read_cstring(entry.address + 44, 16).decode() == "bbr"
    assert lk.module_at(entry.fields["init"]) is m
    # A second registration of the same name is refused with -EEXIST (and Linux's notice).
    assert lk.call(lk.export_address("tcp_register_congestion_control"), entry.address) == -17
    assert "bbr already registered" in lk.console
    assert lk.unload(m).clean


def test_tc_action_registers_its_pernet_ops_first(lk: Kernel) -> None:
    m = lk.load(ko("net/sched/act_gact.ko"))
    (action,) = lk.subsystem(NetExtensions).of_kind("tc action")
    assert action.name == "gact" and action.owner == m.name
    (ops,) = lk.subsystem(Pernet).ops.values()
    assert ops.address == action.fields["ops"] == m.symbols["gact_net_ops"]
    # act->net_id was set from the id register_pernet_subsys gave the ops.
    assert lk.memory.read_u32(action.address + 28) == ops.id
    assert lk.unload(m).clean  # exit: tcf_unregister_action, whose pernet exit destroys the IDR
    assert not lk.subsystem(Pernet).ops and not lk.subsystem(NetExtensions).entries


def test_crypto_templates_registered_by_name(lk: Kernel) -> None:
    m = lk.load(ko("crypto/ccm.ko"))
    templates = {a: t for a, t in lk.subsystem(Crypto).templates.items() if t.owner != "kernel"}
    base = m.symbols["crypto_ccm_tmpls"]
    names = [lk.memory.read_cstring(base + i * 148 + 20, 128).decode() for i in range(len(templates))]
    assert sorted(t.name for t in templates.values()) == sorted(names)
    assert all(lk.module_at(t.create) is m for t in templates.values())
    assert lk.unload(m).clean and [t.name for t in lk.subsystem(Crypto).templates.values()] == ["cbc", "hmac"]


def test_block_major_allocated_dynamically(lk: Kernel) -> None:
    m = lk.load(ko("drivers/block/mtip32xx/mtip32xx.ko"))
    (entry,) = lk.subsystem(CharDevices).of_kind("block major")
    # The driver keeps the major register_blkdev(0, ...) returned in its global.
    assert lk.memory.read_u32(m.symbols["mtip_major"]) == entry.fields["major"]
    assert entry.name == "mtip32xx"
    assert lk.unload(m).clean


def test_rtnl_link_kind_registered_under_the_rtnl(lk: Kernel) -> None:
    m = lk.load(ko("drivers/net/can/vcan.ko"))
    (entry,) = lk.subsystem(NetExtensions).of_kind("rtnl link")
    assert entry.name == "vcan" == cstr(lk, lk.memory.read_u32(entry.address + 8))
    assert lk.unload(m).clean


# -- extension tables ----------------------------------------------------------------------------
def test_dm_target_and_duplicate(lk: Kernel) -> None:
    m = lk.load(ko("drivers/md/dm-zero.ko"))
    (entry,) = lk.subsystem(Extensions).of_kind("dm target")
    assert entry.name == cstr(lk, lk.memory.read_u32(m.symbols["zero_target"] + 8)) == "zero"
    assert lk.module_at(entry.fields["ctr"]) is m
    assert lk.call(lk.export_address("dm_register_target"), entry.address) == -17
    assert lk.unload(m).clean


def test_ip_set_type_protocol_and_revisions(lk: Kernel) -> None:
    m = lk.load(ko("net/netfilter/ipset/ip_set_hash_ip.ko"))
    (entry,) = lk.subsystem(Extensions).of_kind("ip_set type")
    assert entry.name == "hash:ip" and entry.fields["revision_max"] >= entry.fields["revision_min"]
    # The same (name, family, revision) again: -EINVAL and ip_set's warning.
    assert lk.call(lk.export_address("ip_set_type_register"), entry.address) == -22
    assert "ip_set type hash:ip, family 0 with revision min" in lk.console
    assert lk.unload(m).clean


def test_firmware_requests_fail_like_a_machine_without_firmware(lk: Kernel) -> None:
    fw_p, name = lk.memory.alloc(4), lk.memory.alloc(32)
    lk.memory.write_u32(fw_p, 0xDEADBEEF)
    lk.memory.write(name, b"test/none.bin\0")
    assert lk.call(lk.export_address("request_firmware"), fw_p, name, 0) == -2
    assert lk.memory.read_u32(fw_p) == 0
    assert "Direct firmware load for test/none.bin failed with error -2" in lk.console


# -- procfs, line disciplines --------------------------------------------------------------------
def test_pernet_init_creates_proc_dir_and_exit_removes_it(lk: Kernel) -> None:
    m = lk.load(ko("net/netfilter/xt_recent.ko"))
    proc = lk.subsystem(ProcFs)
    entry = proc.lookup("net/xt_recent")
    # Made by the module's pernet init, run by register_pernet_subsys on init_net, in its proc_net.
    assert entry is not None and entry.kind == "proc dir" and entry.owner == m.name
    assert {e.name for e in lk.subsystem(XTables).of_kind("xt_match")} == {"recent"}
    assert lk.unload(m).clean
    assert proc.lookup("net/xt_recent") is None


def test_proc_path_below_a_boot_directory(lk: Kernel) -> None:
    m = lk.load(ko("fs/jbd2/jbd2.ko"))
    entry = lk.subsystem(ProcFs).lookup("fs/jbd2")
    assert entry is not None and entry.owner == m.name
    assert lk.unload(m).clean
    assert lk.subsystem(ProcFs).lookup("fs/jbd2") is None


def test_line_discipline_number_from_module(lk: Kernel) -> None:
    m = lk.load(ko("drivers/net/hamradio/6pack.ko"))
    (entry,) = lk.subsystem(LineDisciplines).of_kind("tty ldisc")
    assert entry.name == cstr(lk, lk.memory.read_u32(entry.address)) == "6pack"
    assert entry.fields["num"] == lk.memory.read_u32(entry.address + 4)
    assert lk.unload(m).clean
