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
