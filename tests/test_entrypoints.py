"""Entry points are profile policy: by name with the profile's own signature, by e_entry, from guest memory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox import EntryPolicy, FromCallable, ImageEntry, Kernel, LoadError, NamedEntry, Profile
from sandbox.services import KERNEL_OWNER, ServiceContext

from .conftest import CFLAGS

# An NT-style driver: DriverEntry(obj, path), stdcall (the callee pops its
# arguments), fills in the driver object's unload routine, which the kernel
# calls at unload.
NT_STYLE = r"""
#include <kernel.h>

struct driver_object {
	unsigned int size;
	void (__attribute__((stdcall)) *unload)(struct driver_object *obj);
	char name[16];
};

static char registry_path[64];

static void __attribute__((stdcall)) driver_unload(struct driver_object *obj)
{
	printk("unload %s\n", obj->name);
}

int __attribute__((stdcall)) DriverEntry(struct driver_object *obj, const char *path)
{
	if (obj->size != sizeof(*obj))
		return 0xC000000D; /* STATUS_INVALID_PARAMETER */
	strscpy(registry_path, path, sizeof(registry_path));
	strscpy(obj->name, "ntdrv", sizeof(obj->name));
	obj->unload = driver_unload;
	printk("DriverEntry %s\n", registry_path);
	return 0;
}
"""

# A driver whose only entry is the one it was linked with: ld -e driver_start.
LINKED_ENTRY = r"""
#include <kernel.h>

static int started;

int driver_start(void)
{
	started = 1;
	printk("started by e_entry\n");
	return 0;
}

int driver_started(void) { return started; }
"""


def _driver_object(ctx: ServiceContext, module) -> tuple[int, str]:
    """DriverEntry's arguments, built in guest memory: a driver object the module keeps."""
    obj = ctx.alloc(24, owner=KERNEL_OWNER)
    ctx.write_struct(obj, "<II", 24, 0)
    module.entry_state["driver_object"] = obj
    return obj, "\\Registry\\Machine\\ntdrv"


def _unload_routine(ctx: ServiceContext, module) -> int | None:
    return ctx.read_u32(module.entry_state["driver_object"] + 4)


def nt_style_profile() -> Profile:
    return Profile(
        "nt-style", "cdecl", services=("kernel_stubs.printk", "kernel_stubs.strings"),
        entry=EntryPolicy(
            init=(NamedEntry("DriverEntry", arguments=_driver_object, result="status", convention="stdcall"),),
            exit=(FromCallable(_unload_routine, "DriverUnload", convention="stdcall",
                               arguments=lambda k, m: (m.entry_state["driver_object"],)),),
        ),
    )


def test_a_named_entry_with_arguments_the_profile_builds_in_guest_memory(compile_c) -> None:
    k = Kernel(nt_style_profile())
    m = k.load(compile_c(NT_STYLE, "ntdrv"))
    assert m.init_entry.convention == "stdcall"  # a cdecl call would find ESP 8 bytes off on return
    assert k.console == "DriverEntry \\Registry\\Machine\\ntdrv\n"
    assert m.init_entry.name == "DriverEntry"
    assert m.exit_entry.name == "DriverUnload" and m.exit_address == m.symbols["driver_unload"]
    k.unload(m)
    assert k.console.endswith("unload ntdrv\n")


def test_the_entrys_result_rule_is_the_profiles(compile_c) -> None:
    def bad_size(ctx: ServiceContext, module) -> tuple[int, str]:
        return ctx.alloc(24, owner=KERNEL_OWNER), "x"  # size left 0: DriverEntry refuses it

    profile = Profile("nt-bad", services=("kernel_stubs.printk", "kernel_stubs.strings"),
                      entry=EntryPolicy(init=(NamedEntry("DriverEntry", arguments=bad_size, result="status",
                                                         convention="stdcall"),)))
    k = Kernel(profile)
    with pytest.raises(LoadError, match=r"init-failed: DriverEntry of ntdrv returned status 0xc000000d"):
        k.load(compile_c(NT_STYLE, "ntdrv"))
    assert k.modules == []


def test_a_void_entry_ignores_what_eax_holds(compile_c) -> None:
    source = "int printk(const char *fmt, ...);\nvoid go(void) { printk(\"go\\n\"); }\n"
    k = Kernel(Profile("void-entry", services="kernel_stubs.printk",
                       entry=EntryPolicy(init=(NamedEntry("go", result="ignore"),))))
    k.load(compile_c(source, "voidentry"))
    assert k.console == "go\n"


def _link_with_entry(obj: Path, out: Path, entry: str, lld: bool) -> Path:
    base = ["--image-base=0"] if lld else ["-Ttext-segment=0"]
    linker = ["ld.lld", "-m", "elf_i386"] if lld else ["ld", "-m", "elf_i386"]
    subprocess.run([*linker, "--emit-relocs", "-e", entry, *base, "--unresolved-symbols=ignore-all", str(obj), "-o", str(out)],
                   check=True, capture_output=True, text=True)
    return out


@pytest.mark.parametrize("linker", ["ld", "ld.lld"])
def test_an_executable_starts_at_its_e_entry(compile_c, tmp_path: Path, linker: str) -> None:
    if shutil.which(linker) is None:
        pytest.skip(f"{linker} not installed")
    obj = compile_c(LINKED_ENTRY, "linked")
    exe = _link_with_entry(obj, tmp_path / "linked.elf", "driver_start", linker == "ld.lld")
    k = Kernel()  # the generic profile: init_module, else e_entry
    m = k.load(exe)
    assert m.init_entry.name == "e_entry" and m.init_address == m.symbols["driver_start"]
    assert k.console == "started by e_entry\n"
    assert m.call("driver_started") == 1


def test_a_profile_that_knows_only_e_entry(compile_c, tmp_path: Path) -> None:
    source = LINKED_ENTRY.replace("int driver_start(void)", "int init_module(void);\nint driver_start(void)")
    exe = _link_with_entry(compile_c(source, "linked"), tmp_path / "linked.elf", "driver_start", False)
    profile = Profile("exe-only", services=["kernel_stubs.printk"], entry=EntryPolicy(init=(ImageEntry(),)))
    k = Kernel(profile)
    k.load(exe)
    assert k.console == "started by e_entry\n"
    # A relocatable object has no e_entry: with this profile nothing runs.
    plain = Kernel(profile)
    m = plain.load(compile_c(LINKED_ENTRY, "linked2"))
    assert m.init_entry is None and plain.console == ""


def test_linked_with_entry_zero_there_is_no_entry(driver) -> None:
    m = Kernel().load(driver("hello", fmt="exec"))  # drivers/build.py links exec with -e 0; hello has module_init
    assert m.init_entry.name == "init_module"


def test_clang_built_executable_entry(tmp_path: Path) -> None:
    if shutil.which("clang") is None or shutil.which("ld.lld") is None:
        pytest.skip("clang/ld.lld not installed")
    source = tmp_path / "linked.c"
    source.write_text(LINKED_ENTRY)
    obj = tmp_path / "linked.o"
    flags = [f for f in CFLAGS if f != "-m32"]
    subprocess.run(["clang", "--target=i386-pc-none-elf", "-march=i686", *flags, "-fno-pic", "-c", str(source), "-o", str(obj)],
                   check=True, capture_output=True)
    k = Kernel()
    k.load(_link_with_entry(obj, tmp_path / "linked.elf", "driver_start", True))
    assert k.console == "started by e_entry\n"
