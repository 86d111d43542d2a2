"""PE32 drivers built by mingw-w64 and by clang + lld-link: loaded, linked, run and unloaded like ELF ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import GuestFault, Kernel, LoadError, UnloadError
from sandbox.formats import format_of, open_file
from sandbox.machine.memory import R, W, X

from .test_formats import SCENARIOS, _run

TOOLCHAINS = ("gcc", "clang")


@pytest.fixture(scope="session")
def pe_built() -> dict[tuple[str, str, str], Path]:
    """Every driver built as PE by both PE toolchains (and the gcc objects, the reference)."""
    from drivers.build import build_all

    result = build_all(formats=("obj", "pe"))
    assert not {k for k in result.skipped if k.endswith("/pe")}, f"PE toolchains missing: {result.skipped}"
    return result


def pe(pe_built, toolchain: str, name: str) -> Path:  # type: ignore[no-untyped-def]
    return pe_built[(toolchain, "pe", name)]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_pe_driver_behaves_as_its_elf_build(pe_built, toolchain: str, name: str) -> None:
    """Console, results and the kernel-call sequence match the gcc ELF object's."""
    assert _run(pe(pe_built, toolchain, name)) == _run(pe_built[("gcc", "obj", name)])


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_pe_is_chosen_by_magic_and_described(pe_built, toolchain: str) -> None:
    fmt, image = open_file(str(pe(pe_built, toolchain, "hello")))
    assert fmt.name == "PE" and format_of(b"MZ" + bytes(62), "x").name == "PE"
    assert image.machine == 0x14C and image.is_dll
    assert [(i.dll, i.names) for i in image.imports] == [("kernel.sys", ["printk"])]
    assert set(image.exports.names) >= {"hello_greet", "cleanup_module"}
    assert ("license", "GPL") in image.modinfo


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_sections_mapped_with_their_characteristics(pe_built, toolchain: str) -> None:
    k = Kernel()
    m = k.load(pe(pe_built, toolchain, "hello"))
    image = m.plan.image
    for name, perms in ((".text", R | X), (".rdata", R), (".data", R | W)):
        section = image.section_by_name(name)
        if section is None:
            continue
        assert k.memory.region_at(m.plan.section_address(section)).perms == perms, name
    text = m.plan.section_address(image.section_by_name(".text"))
    with pytest.raises(GuestFault):  # .text is not writable: a write from Python's side faults too
        k.memory.write(text, b"\x90")
    assert m.base != image.image_base and m.plan.relocation_count > 0  # rebased from mingw's/lld's ImageBase


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_bss_zeroed_and_pe_library_with_pe_consumer(pe_built, toolchain: str) -> None:
    """peuser imports pelib.dll by name and by ordinal (NONAME); references are counted."""
    k = Kernel()
    lib = k.load(pe(pe_built, toolchain, "pelib"))
    assert lib.call("pelib_calls") == 0  # the 16-int .bss table reads as zeroes
    assert 7 in lib.plan.ordinal_exports and "pelib_secret" not in lib.exports
    user = k.load(pe(pe_built, toolchain, "peuser"))
    assert "peuser: 2+3=5 6*7=42 secret=0x5ec2e7" in k.console
    # A __stdcall export: mingw --kill-at names it plainly, lld-link keeps MSVC's decoration.
    assert ("pelib_mul" if toolchain == "gcc" else "_pelib_mul@8") in lib.exports
    assert user.uses == {"pelib"} and lib.used_by == {"peuser"}
    assert user.imports["pelib.dll!#7"] == lib.plan.ordinal_exports[7]
    with pytest.raises(UnloadError, match="in use by: peuser"):
        k.unload(lib)
    assert user.call("peuser_twice", 21) == 42
    k.unload(user)
    assert "peuser: pelib saw 3 call(s)" in k.console
    k.unload(lib)
    assert "pelib: 3 call(s)" in k.console and not k.modules


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_consumer_without_its_dll_lists_every_import(pe_built, toolchain: str) -> None:
    k = Kernel()
    with pytest.raises(LoadError) as info:
        k.load(pe(pe_built, toolchain, "peuser"))
    error = info.value
    assert error.check == "unresolved-imports"
    assert "pelib.dll!pelib_add" in error.detail and "pelib.dll!pelib_calls" in error.detail
    assert "pelib.dll!#7" in error.detail
    assert not k.modules and "peuser" not in k.console


def test_unresolved_imports_bound_to_traps_on_request(pe_built) -> None:
    k = Kernel(unresolved="trap")
    user = k.load(pe(pe_built, "gcc", "peuser"), run_init=False)
    assert "pelib.dll!pelib_add" in user.plan.trapped
    with pytest.raises(GuestFault) as info:
        user.call("peuser_twice", 1)
    # A data trap: a call through it, like a read, faults naming the import.
    assert "unresolved kernel symbol pelib.dll!pelib_add" in str(info.value)
    assert "pelib.dll!pelib_add" in k.traps.trapped


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_elf_and_pe_import_from_each_other(pe_built, toolchain: str) -> None:
    """usb_storage (ELF) imports the PE usb_roothub's exports, and the PE usb_storage the ELF roothub's."""
    k = Kernel()
    roothub = k.load(pe(pe_built, toolchain, "usb_roothub"))
    storage = k.load(pe_built[("gcc", "obj", "usb_storage")])
    assert storage.uses == {"usb_roothub"} and "usb_storage: attached to port 2" in k.console
    k.unload(storage)
    k.unload(roothub)
    elf_hub = k.load(pe_built[("gcc", "obj", "usb_roothub")])
    pe_storage = k.load(pe(pe_built, toolchain, "usb_storage"))
    assert pe_storage.uses == {"usb_roothub"} and elf_hub.used_by == {"usb_storage"}
    assert k.console.count("usb_storage: attached to port 2") == 2


def test_load_all_orders_pe_modules_by_their_imports(pe_built) -> None:
    k = Kernel()
    loaded = k.load_all([pe(pe_built, "clang", "peuser"), pe(pe_built, "clang", "pelib")])
    assert [m.name for m in loaded] == ["pelib", "peuser"]


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_fault_in_pe_module_is_symbolized(pe_built, toolchain: str) -> None:
    k = Kernel()
    m = k.load(pe(pe_built, toolchain, "faulty"))
    with pytest.raises(GuestFault) as info:
        m.call("fault_null_write")
    assert "fault_null_write" in info.value.location and "faulty" in info.value.location


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_info_describes_a_pe(pe_built, toolchain: str) -> None:
    path = pe(pe_built, toolchain, "peuser")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run([sys.executable, "-m", "sandbox", "info", "--json", str(path)], capture_output=True, text=True,
                            check=True, env=env)
    info = json.loads(result.stdout)
    assert info["format"] == "PE32 DLL" and info["machine"] == "i386" and info["entry_point"]
    by_dll = {i["dll"]: i for i in info["imports_by_dll"]}
    assert by_dll["pelib.dll"]["provider"] == "module pelib" and "#7" in by_dll["pelib.dll"]["names"]
    assert by_dll["kernel.sys"]["provider"] == "kernel" and "printk" in by_dll["kernel.sys"]["names"]
    assert info["exports"] == ["peuser_twice"] and info["relocations"]["IMAGE_REL_BASED_HIGHLOW"] > 0
    assert {s["name"] for s in info["sections"]} >= {".text", ".reloc", ".modinfo"}
    assert "pelib.dll!pelib_add" in info["unresolved"]
    text = subprocess.run([sys.executable, "-m", "sandbox", "info", str(path)], capture_output=True, text=True, check=True,
                          env=env).stdout
    assert "imports from pelib.dll (module pelib): pelib_add, pelib_calls, " in text and ", #7" in text


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_delay_load_imports_bound_at_load(pe_built, toolchain: str) -> None:
    """lld-link /delayload: the delay-load IAT is filled at load (and kept through rebasing); the helper never runs."""
    k = Kernel()
    k.load(pe(pe_built, toolchain, "pelib"))
    m = k.load(pe(pe_built, toolchain, "pedelay"))
    delayed = {i.dll: i.delayed for i in m.plan.image.imports}
    assert delayed["pelib.dll"] is (toolchain == "clang")  # mingw links it as a normal import
    assert "pedelay: 40+2=42" in k.console and "helper called" not in k.console
    assert m.uses == {"pelib"}


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_export_forwarders_resolved(pe_built, toolchain: str) -> None:
    """pefwd_print forwards to kernel.printk, pefwd_self to the module's own pefwd_answer."""
    k = Kernel()
    m = k.load(pe(pe_built, toolchain, "pefwd"))
    assert set(m.plan.image.exports.forwarders.values()) == {"kernel.printk", "pefwd.pefwd_answer"}
    assert m.exports["pefwd_print"] == k.export_address("printk")
    assert m.exports["pefwd_self"] == m.exports["pefwd_answer"]
    assert m.call("pefwd_self") == 42 and m.call("pefwd_print", "via a forwarder\n") > 0
    assert "via a forwarder" in k.console


@pytest.mark.parametrize("toolchain", TOOLCHAINS)
def test_coverage_of_a_pe_module(pe_built, toolchain: str) -> None:
    """Blocks by function from the PE symbols; mingw's DWARF gives source lines too."""
    k = Kernel(coverage=True)
    m = k.load(pe(pe_built, toolchain, "memlist"))
    m.call("memlist_push", 1, "a")
    m.call("memlist_len")
    report = k.coverage.report("memlist")
    push = report.function("memlist_push")
    assert push.entered and 0 < push.blocks_hit <= push.blocks_total
    assert not report.function("memlist_sum").entered
    if toolchain == "gcc":  # lld-link keeps no DWARF in the image (it writes PDBs)
        assert 0 < push.lines_hit < push.lines_total


def _clang_pe(tmp_path: Path, source: str, name: str, *link: str) -> Path:
    """A one-file driver built by clang + lld-link against the kernel.sys import library."""
    from drivers.build import DEFAULT_OUT, INCLUDE

    c_file, obj, dll = tmp_path / f"{name}.c", tmp_path / f"{name}.obj", tmp_path / f"{name}.dll"
    c_file.write_text(source)
    subprocess.run(["clang", "--target=i686-pc-windows-msvc", "-ffreestanding", "-nostdinc", "-O2", "-I", str(INCLUDE),
                    "-c", str(c_file), "-o", str(obj)], check=True, capture_output=True)
    subprocess.run(["lld-link", "/dll", "/nodefaultlib", "/machine:x86", "/entry:init_module", *link, f"/out:{dll}",
                    str(obj), str(DEFAULT_OUT / "clang" / "pe" / "kernel.lib")], check=True, capture_output=True)
    return dll


def test_writable_executable_section_from_the_linker_is_refused(pe_built, tmp_path) -> None:
    dll = _clang_pe(tmp_path, "int init_module(void) { return 0; }\n", "wx", "/section:.text,RWE")
    k = Kernel()
    with pytest.raises(LoadError) as info:
        k.load(dll)
    assert info.value.check == "writable-executable" and ".text is both writable and executable" in info.value.detail
    assert not k.modules


def test_failing_entry_point_unwinds_the_load(pe_built, tmp_path) -> None:
    source = ('#include <kernel.h>\nint pe_failing_export(void) { return 1; }\nEXPORT_SYMBOL(pe_failing_export);\n'
              'static int __init failing_init(void) { pr_info("failing: init\\n"); return -ENODEV; }\n'
              'module_init(failing_init);\n')
    k = Kernel()
    with pytest.raises(LoadError) as info:
        k.load(_clang_pe(tmp_path, source, "failing"))
    assert info.value.check == "init-failed" and "ENODEV" in str(info.value)
    assert "failing: init" in k.console and not k.modules and k.export_address("pe_failing_export") is None
    assert k.load(pe(pe_built, "clang", "hello")).base == 0xD0000000  # the module area was given back


def test_snapshot_restores_pe_modules_and_their_references(pe_built) -> None:
    k = Kernel()
    lib = k.load(pe(pe_built, "gcc", "pelib"))
    snap = k.snapshot()
    k.load(pe(pe_built, "gcc", "peuser"))
    assert lib.used_by == {"peuser"}
    k.restore(snap)
    assert lib.used_by == set() and [m.name for m in k.modules] == ["pelib"]
    user = k.load(pe(pe_built, "gcc", "peuser"))
    assert user.call("peuser_twice", 4) == 8 and lib.call("pelib_calls") == 3  # add, mul at init; add in twice


def test_profile_names_its_kernel_dlls(pe_built) -> None:
    """Profile.pe_kernel_dlls: only those DLL names are the kernel's; kernel.sys then names a module."""
    from sandbox import Profile, get_profile

    generic = get_profile("generic")
    mine = Profile("myos-pe", generic.convention, generic.services, include_dirs=generic.include_dirs, entry=generic.entry,
                   pe_kernel_dlls=("myos.krn",))
    k = Kernel(profile=mine)
    with pytest.raises(LoadError) as info:
        k.load(pe(pe_built, "gcc", "hello"))
    assert "kernel.sys!printk" in info.value.detail
    assert Kernel(profile=Profile("x", pe_kernel_dlls="kernel.sys")).profile.pe_kernel_dlls == ("kernel.sys",)
