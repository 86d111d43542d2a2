"""The engine's declared seams and the defects the old hub shape caused.

Formats: one registry chooses the reader for every path into the engine
(load, load_all, info), so a compressed module reads the same everywhere.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
from pathlib import Path

import pytest

from sandbox import Kernel, LoadError
from sandbox.formats import formats, open_file


def _compressed(src: Path, dest_dir: Path, how: str) -> Path:
    data = src.read_bytes()
    name = src.name.replace(".o", ".ko")
    if how == "xz":
        target = dest_dir / f"{name}.xz"
        target.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ))
    else:
        target = dest_dir / f"{name}.gz"
        target.write_bytes(gzip.compress(data))
    return target


@pytest.mark.parametrize("how", ["xz", "gz"])
def test_load_all_reads_compressed_modules(kernel: Kernel, driver, tmp_path: Path, how: str) -> None:
    # Regression: load_all had a second file reader of its own that did not
    # decompress, so .ko.xz / .ko.gz sets failed with "not an ELF file".
    files = [_compressed(driver("usb_storage"), tmp_path, how), _compressed(driver("usb_roothub"), tmp_path, how)]
    modules = kernel.load_all(files)
    assert [m.name for m in modules] == ["usb_roothub", "usb_storage"]
    assert kernel.module("usb_storage").call("usb_storage_port") == 2


def test_info_reads_compressed_modules(driver, tmp_path: Path) -> None:
    from sandbox.inspect import describe_file

    described = describe_file(str(_compressed(driver("usb_roothub"), tmp_path, "xz")))
    assert described["name"] == "usb_roothub"
    assert "roothub_port_count" in described["exports"]


def test_unknown_format_names_the_known_ones(kernel: Kernel, tmp_path: Path) -> None:
    junk = tmp_path / "driver.sys"
    junk.write_bytes(b"ZZ\x90\x00" + bytes(60))
    with pytest.raises(LoadError, match=r"driver\.sys: format: not a module file of a known format .*ELF") as info:
        kernel.load(junk)
    assert info.value.check == "format"
    assert kernel.modules == []


def test_elf_is_registered_and_chosen_by_magic(driver) -> None:
    assert "ELF" in [f.name for f in formats()]
    fmt, image = open_file(str(driver("hello")))
    assert fmt.name == "ELF" and fmt.module_name(image) == "hello"


def test_copied_compressed_set_with_plain_member(kernel: Kernel, driver, tmp_path: Path) -> None:
    plain = tmp_path / "usb_roothub.o"
    shutil.copy(driver("usb_roothub"), plain)
    modules = kernel.load_all([_compressed(driver("usb_storage"), tmp_path, "gz"), plain])
    assert [m.name for m in modules] == ["usb_roothub", "usb_storage"]


# -- a failed load takes back the stubs and traps its binding handed out -------------------

FAILING_INIT = r"""
#include <kernel.h>
extern int nobody_implements_this(int);
int (*keep)(int) = nobody_implements_this;   /* an absolute reference: a data trap */
extern int nor_this(void);
static int __init failing_init(void) { if (keep == 0) return nor_this(); return -19; }
module_init(failing_init);
MODULE_LICENSE("GPL");
"""


def test_failed_load_leaves_no_trap_behind(compile_c) -> None:
    # Regression: traps (stub slots, trap names) bound for a load whose init
    # then failed stayed in the kernel.
    kernel = Kernel(unresolved="trap")
    before = kernel.dispatcher.save(), kernel.traps.save()
    with pytest.raises(LoadError, match="init-failed"):
        kernel.load(compile_c(FAILING_INIT, "failing"))
    assert (kernel.dispatcher.save(), kernel.traps.save()) == before
    assert "nor_this" not in kernel.dispatcher.addresses and not kernel.traps.trapped
    assert kernel.symbolizer.short(before[0][0] * 16 + 0xC0000000) != "nor_this"


def test_failed_load_leaves_no_declared_stub_behind(compile_c) -> None:
    # A function the headers declare but nothing implements binds to a naming
    # stub on first use; a failed load gives that slot back too.
    from sandbox.services.headers import declared_functions

    kernel = Kernel()
    missing = sorted(set(declared_functions(str(kernel.profile.include_dir))) - set(kernel.exports.names()))
    assert missing, "the generic headers declare at least one unimplemented function"
    name = missing[0]
    source = f"#include <kernel.h>\nstatic int __init f(void) {{ if (0) {name}; return -19; }}\nvoid *use = (void *){name};\n" \
             "module_init(f);\nMODULE_LICENSE(\"GPL\");\n"
    before = kernel.dispatcher.save()
    with pytest.raises(LoadError, match="init-failed"):
        kernel.load(compile_c(source, "declared"))
    assert kernel.dispatcher.save() == before and name not in kernel.dispatcher.addresses


# -- snapshots restore the device set and the buses together --------------------------------

def test_restore_detaches_a_device_attached_after_the_snapshot() -> None:
    # Regression: the device stayed in k.devices while the port bus forgot its claim.
    from sandbox.devices import Device

    class Probe(Device):
        port_ranges = ((0x300, 4),)

        def port_read(self, port: int, width: int) -> int:
            return 0x5A

    kernel = Kernel()
    snap = kernel.snapshot()
    probe = kernel.devices.add(Probe("probe"))
    assert kernel.ports.read(0x300, 1) == (0x5A, probe)
    kernel.restore(snap)
    assert "probe" not in kernel.devices and probe.host is None
    assert kernel.ports.read(0x300, 1) == (0xFF, None)  # nobody answers: the bus floats high
    kernel.devices.add(probe)  # the ports are free again: no overlap error
    assert kernel.ports.read(0x300, 1) == (0x5A, probe)


def test_restore_reattaches_a_device_removed_after_the_snapshot(driver) -> None:
    kernel = Kernel()
    uart = kernel.load(driver("uart"))
    snap = kernel.snapshot()
    com1 = kernel.devices.remove("com1")
    assert kernel.ports.read(0x3FD, 1)[1] is None
    kernel.restore(snap)
    assert kernel.devices["com1"] is com1 and com1.host is kernel.device_host
    com1.feed(b"ok")
    buf = bytearray(8)
    assert uart.call("uart_read", buf, 8) == 2 and bytes(buf[:2]) == b"ok"
