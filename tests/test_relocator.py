"""The kernel's relocation loop on the emulated CPU gives the same bytes as the Python linker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from capstone import CS_ARCH_X86, CS_MODE_32, Cs

from sandbox import Kernel
from sandbox.elf.image import ElfImage
from sandbox.lifecycle import map_writable, reserve
from sandbox.link.plan import LinkPlan, link_module
from sandbox.machine.relocator import RELOCATE_CODE

from .linux_corpus import ko, needs_corpus


def both_ways(k: Kernel, path: Path) -> tuple[LinkPlan, dict[str, bytes], dict[str, bytes]]:
    """Relocate one file twice, by the Python linker and by the guest loop; return both images."""
    results = []
    for batch in (None, k.relocator):
        plan = link_module(ElfImage(path.read_bytes(), str(path)))
        undo: list[Callable[[], None]] = []
        plan.place(reserve(k, plan, undo))
        plan.bind(k.traps.resolver(plan.image))
        map_writable(k, plan, undo)  # the guest loop patches the mapped pages in place
        plan.relocate(batch)
        results.append({name: bytes(image) for name, image in plan.memory.items()})
        for step in reversed(undo):
            step()
    return plan, results[0], results[1]


# The loop as capstone reads the bytes back: the listing in relocator.py, jump targets included.
LISTING = [
    "test ecx, ecx", "je 0x4c",
    "push ecx", "mov edx, dword ptr [esi]", "mov ecx, dword ptr [esi + 4]", "mov edi, dword ptr [esi + 8]",
    "mov ebx, dword ptr [esi + 0xc]", "push esi", "test ecx, ecx", "je 0x44",
    "mov eax, dword ptr [edx + 4]", "mov esi, dword ptr [edx]", "cmp al, 1", "je 0x34",
    "shr eax, 8", "mov eax, dword ptr [ebp + eax*4]", "sub eax, ebx", "sub eax, esi", "add dword ptr [edi + esi], eax",
    "add edx, 8", "dec ecx", "jne 0x15", "jmp 0x44",
    "shr eax, 8", "mov eax, dword ptr [ebp + eax*4]", "add dword ptr [edi + esi], eax", "add edx, 8", "dec ecx", "jne 0x15",
    "pop esi", "pop ecx", "add esi, 0x10", "dec ecx", "jne 4", "ret",
]


def test_loop_is_the_listed_instructions() -> None:
    decoded = list(Cs(CS_ARCH_X86, CS_MODE_32).disasm(RELOCATE_CODE, 0))
    assert sum(i.size for i in decoded) == len(RELOCATE_CODE)
    assert [f"{i.mnemonic} {i.op_str}".strip() for i in decoded] == LISTING


@pytest.mark.parametrize("name", ["hello", "fmt", "memlist", "usb_storage", "uart"])
def test_guest_loop_matches_python_on_sample_drivers(driver: Callable[..., Path], name: str) -> None:
    k = Kernel(unresolved="trap")
    plan, python, guest = both_ways(k, driver(name))
    assert plan.relocation_count > 0
    assert python == guest


def test_guest_loop_points_data_at_trapped_symbols(compile_c: Callable[..., Path]) -> None:
    obj = compile_c("extern int a, b; int *pa = &a; int *pb = &b;", "two")
    k = Kernel(unresolved="trap")  # the kernel exports neither a nor b: both bind to data traps
    plan, python, guest = both_ways(k, obj)
    assert python == guest
    data = plan.memory["core"]
    section = plan.image.section_by_name(".data")
    assert section is not None
    offset = plan.layout.placements[section.index][1]
    first, second = int.from_bytes(data[offset:offset + 4], "little"), int.from_bytes(data[offset + 4:offset + 8], "little")
    assert {first, second} == {k.traps.data_trap("a"), k.traps.data_trap("b")}


def test_loaded_module_runs_after_guest_relocation(driver: Callable[..., Path]) -> None:
    k = Kernel()
    m = k.load(driver("hello"))
    assert m.plan.relocation_count > 0
    assert k.console == "hello: loaded, answer=42\n"


@needs_corpus
@pytest.mark.parametrize("rel", ["fs/ext4/ext4.ko", "lib/crc8.ko", "net/bluetooth/bluetooth.ko", "drivers/hid/hid.ko"])
def test_guest_loop_matches_python_on_linux_modules(rel: str) -> None:
    k = Kernel("linux", unresolved="trap")
    plan, python, guest = both_ways(k, Path(ko(rel)))
    assert plan.relocation_count > 1000 or rel == "lib/crc8.ko"
    assert python == guest
