"""The kernel's own relocation loop, as x86 code running on the emulated CPU.

Linux applies a module's relocations with kernel code (``apply_relocate``).
So does the sandbox for the common case, the one every Linux ``.ko`` is: REL
tables holding only R_386_32 (S + A) and R_386_PC32 (S + A - P), every
field inside its section. The Python linker checks all of that first (symbol
indexes, offsets, types: see ``sandbox.link.plan``) and lays out the work;
this loop only does the arithmetic. A Python loop costs ~0.3 us per
relocation, the translated x86 loop a few nanoseconds, and a corpus load has
three million relocations.

The loader maps the module's pages writable first (onto the very bytearrays
the linker placed the sections in), the loop patches them in place, and the
loader then gives each extent its final permissions, as Linux makes module
text read-only only after relocating it. The loop's input goes through a
private scratch area (never a GuestMemory region, so services cannot reach
it and snapshots do not copy it): the symbol addresses, one descriptor per
table and the raw tables straight from the file.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from . import address_map as amap
from .registers import EBP, ECX, ESI

if TYPE_CHECKING:
    from ..link.plan import BatchTable
    from .cpu import Cpu

# Assembled with GNU as (--32, Intel syntax) from this listing. In:
# ESI = descriptors (entries, count, image address of the section, its
# run-time address), 16 bytes each; ECX = descriptor count; EBP = symbol
# addresses (u32 per symbol index). Entries are Elf32_Rel: r_offset, r_info.
RELOCATE_CODE = bytes.fromhex(
    "85c974 48"          # 00  test ecx,ecx ; jz done
    "51"                 # 04  outer: push ecx
    "8b16"               # 05  mov edx,[esi]        ; entries
    "8b4e04"             # 07  mov ecx,[esi+4]      ; count
    "8b7e08"             # 0a  mov edi,[esi+8]      ; section bytes (scratch)
    "8b5e0c"             # 0d  mov ebx,[esi+12]     ; section run-time address
    "56"                 # 10  push esi
    "85c9 742f"          # 11  test ecx,ecx ; jz next
    "8b4204"             # 15  inner: mov eax,[edx+4]  ; r_info
    "8b32"               # 18  mov esi,[edx]           ; r_offset
    "3c01 7416"          # 1a  cmp al,R_386_32 ; je absolute
    "c1e808"             # 1e  shr eax,8               ; R_386_PC32: symbol index
    "8b448500"           # 21  mov eax,[ebp+eax*4]     ; S
    "29d8"               # 25  sub eax,ebx
    "29f0"               # 27  sub eax,esi             ; S - P
    "010437"             # 29  add [edi+esi],eax       ; A + S - P
    "83c208 49 75e3"     # 2c  add edx,8 ; dec ecx ; jnz inner
    "eb10"               # 32  jmp next
    "c1e808"             # 34  absolute: shr eax,8
    "8b448500"           # 37  mov eax,[ebp+eax*4]     ; S
    "010437"             # 3b  add [edi+esi],eax       ; A + S
    "83c208 49 75d1"     # 3e  add edx,8 ; dec ecx ; jnz inner
    "5e 59"              # 44  next: pop esi ; pop ecx
    "83c610 49 75b8"     # 46  add esi,16 ; dec ecx ; jnz outer
    "c3"                 # 4c  done: ret
)

_SCRATCH_STEP = 1 << 20
_U32_MASK = 0xFFFFFFFF


class GuestRelocator:
    """Applies batches of R_386_32/R_386_PC32 REL tables with :data:`RELOCATE_CODE`.

    Call it as the linker's batch relocator: ``relocator(tables, symbol_addresses, memory)``.
    """

    def __init__(self, cpu: Cpu, code_address: int) -> None:
        self.cpu = cpu
        self.code_address = code_address
        self.scratch_size = 0  # bytes mapped at LOADER_SCRATCH_BASE

    def _ensure_scratch(self, size: int) -> None:
        if size <= self.scratch_size:
            return
        wanted = (size + _SCRATCH_STEP - 1) // _SCRATCH_STEP * _SCRATCH_STEP
        if wanted > amap.LOADER_SCRATCH_SIZE:
            raise MemoryError(f"module image needs {size:#x} bytes of loader scratch, more than {amap.LOADER_SCRATCH_SIZE:#x}")
        uc = self.cpu.uc
        if self.scratch_size:
            uc.mem_unmap(amap.LOADER_SCRATCH_BASE, self.scratch_size)
        uc.mem_map(amap.LOADER_SCRATCH_BASE, wanted, 3)  # read | write, never exec
        self.scratch_size = wanted

    def __call__(self, tables: list[BatchTable], addresses: list[int], memory: dict[str, bytearray]) -> None:
        """Patch the sections in place at their run-time addresses (mapped writable by the loader)."""
        base = amap.LOADER_SCRATCH_BASE
        # Addresses of garbage symbols may pass 2**32; fields wrap at 32 bits anyway.
        symbols = array("I", map(_U32_MASK.__and__, addresses)).tobytes()
        descriptors = array("I")
        cursor = base + len(symbols) + 16 * len(tables)
        for table in tables:
            descriptors.extend((cursor, table.count, table.section_base, table.section_base))
            cursor += len(table.entries)
        blob = b"".join([symbols, descriptors.tobytes(), *(t.entries for t in tables)])
        self._ensure_scratch(len(blob))
        self.cpu.uc.mem_write(base, blob)
        self.cpu.call(self.code_address, {ESI: base + len(symbols), ECX: len(tables), EBP: base}, [])
