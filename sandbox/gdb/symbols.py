"""What gdb needs to know about the guest's code: files, sections, addresses.

Two forms of one answer:

- :func:`library_list` — the ``qXfer:libraries:read`` document. gdb reads it
  itself after attaching and after every ``library`` stop, so modules loaded
  later appear without any command. A relocatable module (``.o``/``.ko``)
  lists one ``<section address>`` per SHF_ALLOC section in file order (gdb
  matches them by position); an already-linked image (shared object,
  ``ld -q`` executable) one ``<segment address>``, where its first PT_LOAD
  landed.
- :func:`add_symbol_file_script` — the same as ``add-symbol-file`` commands,
  for a gdb that is not attached (or a core-like workflow).

The kernel's own code (one 16-byte stub per service, raw-code exports) and
data (exported variables) have no file: :func:`write_kernel_symbols` writes a
small ELF relocatable object naming every stub as a 16-byte function, so a
``call kmalloc`` steps into ``kmalloc ()`` like any other function and
``bt`` from inside a service's stub shows its caller.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from ..elf import constants as c
from ..link.segments import SegmentPlan
from ..machine import address_map as amap

if TYPE_CHECKING:
    from ..kernel import Kernel
    from ..module import Module


@dataclass(slots=True)
class SymbolFile:
    """A file gdb should read, and where its pieces are in guest memory.

    ``sections`` are (name, address) per SHF_ALLOC section in file order
    (address 0 for one the loader did not place); ``segment`` is the load
    address of the first PT_LOAD for already-linked images.
    """

    path: str
    sections: list[tuple[str, int]]
    segment: int | None = None


def module_file(module: Module, scratch: Path) -> SymbolFile:
    """The symbol file for a loaded module (its own file, or a copy of its bytes)."""
    plan = module.plan
    image = plan.image
    path = os.path.abspath(image.name)
    if not os.path.isfile(path) or path.endswith((".xz", ".gz")):
        # Loaded from bytes or decompressed: gdb needs an ELF file on disk.
        path = str(scratch / f"{module.name}.elf")
        Path(path).write_bytes(bytes(image.data))
    if isinstance(plan, SegmentPlan):
        first = next((s.p_vaddr for s in image.segments if s.p_type == c.PT_LOAD), plan.vmin)
        return SymbolFile(path, [], first + plan.delta)
    sections = [(s.name, plan.section_address(s) or 0) for s in image.sections if s.sh_flags & c.SHF_ALLOC]
    return SymbolFile(path, sections)


def library_list(files: list[SymbolFile]) -> str:
    """The ``qXfer:libraries:read`` XML document for ``files``."""
    parts = ['<library-list version="1.0">']
    for f in files:
        parts.append(f"<library name={quoteattr(f.path)}>")
        if f.segment is not None:
            parts.append(f'<segment address="{f.segment:#x}"/>')
        else:
            parts.extend(f'<section address="{address:#x}"/>' for _, address in f.sections)
        parts.append("</library>")
    parts.append("</library-list>")
    return "".join(parts)


def add_symbol_file_script(files: list[SymbolFile]) -> str:
    """``add-symbol-file`` commands that give gdb the same view as the library list."""
    lines = []
    for f in files:
        if f.segment is not None:
            lines.append(f"add-symbol-file {f.path} -o {f.segment:#x}")
            continue
        placed = [(name, address) for name, address in f.sections if address]
        if not placed:
            continue
        args = " ".join(f"-s {name} {address:#x}" for name, address in placed)
        lines.append(f"add-symbol-file {f.path} {args}")
    return "\n".join(lines) + ("\n" if lines else "")


# -- the kernel's own symbols ------------------------------------------------

_KERNEL_SECTIONS = (
    # name, flags, type, base, size
    (".text.services", c.SHF_ALLOC | c.SHF_EXECINSTR, c.SHT_PROGBITS, amap.STUB_BASE, amap.STUB_AREA_SIZE),
    (".text.kernel", c.SHF_ALLOC | c.SHF_EXECINSTR, c.SHT_PROGBITS, amap.KTEXT_BASE, amap.KTEXT_SIZE),
    # The GDT page and the return check top-level calls return through (machine/control.py).
    (".text.return", c.SHF_ALLOC | c.SHF_EXECINSTR, c.SHT_PROGBITS, amap.DESCRIPTOR_BASE, 2 * amap.PAGE_SIZE),
    (".data.kernel", c.SHF_ALLOC | c.SHF_WRITE, c.SHT_NOBITS, amap.KDATA_BASE, amap.KDATA_SIZE),
)

# Where every host->guest call returns. The symbol starts one slot early
# (an unused slot) because gdb names a caller's frame by its return address
# minus one.
RETURN_TRAP_SYMBOL = "sandbox_host_call"


def kernel_symbols(kernel: Kernel) -> list[tuple[str, int, int, bool]]:
    """(name, address, size, is_function) for every kernel export with an address."""
    entries: list[tuple[str, int, int, bool]] = []
    stubs = kernel.dispatcher.addresses
    for name, address in stubs.items():
        entries.append((name, address, amap.STUB_SLOT, True))
    entries.append((RETURN_TRAP_SYMBOL, amap.RETURN_TRAP - amap.STUB_SLOT, 2 * amap.STUB_SLOT, True))
    # Top-level calls return through the control-state check: the same name for gdb.
    entries.append((RETURN_TRAP_SYMBOL, amap.RETURN_CHECK_BASE - amap.STUB_SLOT, amap.PAGE_SIZE // 2, True))
    # Raw-code exports and variables: the symbolizer's "kernel" areas, one per name.
    for area in kernel.symbolizer.areas_of("kernel"):
        if amap.KTEXT_BASE <= area.start < amap.KDATA_BASE + amap.KDATA_SIZE:
            for start, name, end in zip(area.sym_starts, area.sym_names, area.sym_ends):
                entries.append((name, start, max(1, end - start), area.executable))
    return entries


def write_kernel_symbols(kernel: Kernel, path: Path) -> SymbolFile:
    """Write an ELF32 executable naming the kernel's stubs, code and variables at their addresses.

    It is what the stub offers gdb as the "executable" (``qXfer:exec-file``):
    its sections already sit at their run-time addresses, so gdb needs no
    offsets for it, and having an executable is what makes gdb read the
    module list and their symbols as soon as it attaches.
    """
    strtab = bytearray(b"\0")
    symbols = [struct.pack("<IIIBBH", 0, 0, 0, 0, 0, 0)]
    for name, address, size, is_function in kernel_symbols(kernel):
        index = next(i for i, s in enumerate(_KERNEL_SECTIONS, start=1) if s[3] <= address < s[3] + s[4])
        offset = len(strtab)
        strtab += name.encode() + b"\0"
        info = (c.STB_GLOBAL << 4) | (c.STT_FUNC if is_function else c.STT_OBJECT)
        symbols.append(struct.pack("<IIIBBH", offset, address, size, info, 0, index))
    shstrtab = bytearray(b"\0")
    names = []
    for name in [s[0] for s in _KERNEL_SECTIONS] + [".symtab", ".strtab", ".shstrtab"]:
        names.append(len(shstrtab))
        shstrtab += name.encode() + b"\0"
    body = bytearray()
    headers = [bytes(40)]
    cursor = 52
    for i, (_, flags, sh_type, base, size) in enumerate(_KERNEL_SECTIONS):
        content = b"" if sh_type == c.SHT_NOBITS else bytes(kernel.cpu.uc.mem_read(base, size))
        headers.append(struct.pack("<10I", names[i], sh_type, flags, base, cursor, size, 0, 0, 16, 0))
        body += content
        cursor += len(content)
    symtab = b"".join(symbols)
    n = len(_KERNEL_SECTIONS)
    for k, (data, sh_type, link, info, entsize) in enumerate((
        (symtab, c.SHT_SYMTAB, n + 2, 1, 16),
        (bytes(strtab), c.SHT_STRTAB, 0, 0, 0),
        (bytes(shstrtab), c.SHT_STRTAB, 0, 0, 0),
    )):
        headers.append(struct.pack("<10I", names[n + k], sh_type, 0, 0, cursor, len(data), link, info, 4, entsize))
        body += data
        cursor += len(data)
    shoff = (cursor + 3) & ~3
    body += bytes(shoff - cursor)
    ident = b"\x7fELF" + bytes((1, 1, 1)) + bytes(9)
    header = ident + struct.pack("<HHIIIIIHHHHHH", c.ET_EXEC, c.EM_386, 1, 0, 0, shoff, 0, 52, 0, 0, 40,
                                 len(headers), len(headers) - 1)
    path.write_bytes(header + bytes(body) + b"".join(headers))
    return SymbolFile(str(path), [(s[0], s[3]) for s in _KERNEL_SECTIONS])
