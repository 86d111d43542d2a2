"""Turn a CPU fault into a report a driver author can act on.

Like a kernel oops, but naming what lives at the faulting address, with the
instructions around the pc, the registers and a symbolized backtrace (the
frame-pointer chain when it is sound, else a scan of the stack for return
addresses into code).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..errors import GuestFault
from ..symbolizer import Symbolizer
from . import address_map as amap
from .cpu import Cpu

_MAX_FRAMES = 16

_TITLES = {
    "null-pointer": "NULL pointer dereference",
    "stack-guard": "kernel stack overflow (guard page hit)",
    "read-unmapped": "read of unmapped memory",
    "write-unmapped": "write to unmapped memory",
    "fetch-unmapped": "jump to unmapped memory",
    "write-protected": "write to read-only memory",
    "read-protected": "read of unreadable memory",
    "fetch-protected": "execution of non-executable memory",
    "invalid-opcode": "invalid opcode",
    "divide-error": "divide error",
    "breakpoint": "breakpoint",
    "budget": "time budget exhausted (runaway loop?)",
    "released-init": "use of init code or data released after init",
    "heap-out-of-bounds": "heap out-of-bounds access",
    "use-after-free": "use after free",
    "stray-jump": "jump into the kernel's service stubs",
    "nesting-limit": "guest calls nested too deep",
    "cpu-state": "CPU control state changed",
    "debug-trap": "debug trap (EFLAGS.TF single-step or a debug register)",
    "general-protection": "general protection fault",
    "page-fault": "page fault (paging enabled by the guest?)",
    "software-interrupt": "software interrupt",
    "irq-storm": "interrupt storm",
}


def _rm_instruction_length(modrm: int, sib: int) -> int:
    """Length of a one-byte-opcode instruction with this ModRM (and SIB) and no immediate."""
    mod, rm = modrm >> 6, modrm & 7
    if mod == 3:
        return 2
    length = 2
    if rm == 4:
        length += 1
        if mod == 0 and sib & 7 == 5:
            length += 4
    if mod == 0 and rm == 5:
        length += 4
    elif mod == 1:
        length += 1
    elif mod == 2:
        length += 4
    return length


def disassemble_one(code: bytes, address: int, disassembler: Any = None) -> str:
    """``mnemonic operands`` of the first instruction, or ``(bad)`` (i386 unless told)."""
    if disassembler is None:
        from ..arch import I386

        disassembler = I386.disassembler()
    for insn in disassembler.disasm(code, address, 1):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return "(bad)"


class FaultReporter:
    """Builds GuestFault objects for a CPU, using the kernel's symbolizer."""

    def __init__(self, symbolizer: Symbolizer, describe: Callable[[int], str]) -> None:
        self.symbols = symbolizer
        self.describe = describe
        self.cpu: Cpu | None = None
        self.recent_events: Callable[[], list[str]] = list
        self.released_init: Callable[[int], str | None] = lambda address: None
        self.heap_fault: Callable[[int], tuple[str, str] | None] = lambda address: None

    @property
    def _disassembler(self) -> Any:
        assert self.cpu is not None
        return self.cpu.arch.disassembler()

    def _read(self, address: int, size: int) -> bytes:
        assert self.cpu is not None
        region = self.cpu.memory.region_at(address)
        if region is None:
            return b""
        size = min(size, region.end - address)
        return bytes(self.cpu.uc.mem_read(address, size))

    def classify(self, kind: str, pc: int, address: int | None) -> str:
        """Refine a raw kind using what lives at the address."""
        if kind.endswith("-unmapped") and address is not None:
            if self.released_init(address) is not None:
                return "released-init"
            heap = self.heap_fault(address)
            if heap is not None:
                return heap[0]
            if address < amap.NULL_GUARD_END:
                return "null-pointer"
            if any(low <= address < high for low, high in amap.stack_guards()):
                return "stack-guard"
        if kind == "cpu-exception":
            text = disassemble_one(self._read(pc, 16), pc, self._disassembler)
            if text.startswith(("div", "idiv")):
                return "divide-error"
            if text.startswith("int3"):
                return "breakpoint"
        return kind

    def disassembly(self, pc: int, before: int = 4, after: int = 3) -> list[str]:
        """Lines around ``pc``, the faulting one marked with ``=>``."""
        start = self.symbols.function_start(pc)
        if start is None or pc - start > 4096:
            start = pc
        code = self._read(start, pc - start + 16 * (after + 1))
        lines: list[tuple[int, str]] = []
        for insn in self._disassembler.disasm(code, start):
            lines.append((insn.address, f"{insn.mnemonic} {insn.op_str}".strip()))
            if insn.address > pc and len([a for a, _ in lines if a > pc]) >= after:
                break
        index = next((i for i, (a, _) in enumerate(lines) if a == pc), None)
        if index is None:
            return [f"=> {self.symbols.format(pc)}: {disassemble_one(self._read(pc, 16), pc, self._disassembler)}"]
        window = lines[max(0, index - before) : index + after + 1]
        return [
            f"{'=>' if a == pc else '  '} {self.symbols.format(a)}: {text}" for a, text in window
        ]

    def backtrace(self, pc: int, esp: int, ebp: int) -> list[int]:
        """Return addresses, innermost first, starting with the pc."""
        frames = [pc]
        stack = self.cpu.memory.region_at(esp) if self.cpu else None
        if stack is None:
            # An overflow leaves ESP in the guard page below a stack: scan from
            # the last mapped stack word up, so the recursion shows.
            for low, _high in amap.stack_layout().values():
                if low - amap.PAGE_SIZE <= esp < low:
                    esp = low
                    stack = self.cpu.memory.region_at(low) if self.cpu else None
        if stack is None:
            return frames
        # The innermost function may not have set up its frame yet (or keeps
        # none): scan the words between ESP and the frame pointer first.
        scan_end = ebp if esp <= ebp < stack.end else esp
        for (word,) in struct.iter_unpack("<I", self._read(esp, (scan_end - esp) // 4 * 4)):
            if self.symbols.is_code(word) and self._follows_call(word):
                frames.append(word)
        # Then the frame-pointer chain, trusted only while it walks up the stack.
        walked: list[int] = []
        frame = ebp
        while stack.start <= frame < stack.end - 8 and len(walked) < _MAX_FRAMES:
            saved_ebp, ret = struct.unpack("<II", self._read(frame, 8))
            if not self.symbols.is_code(ret):
                break
            walked.append(ret)
            if saved_ebp <= frame:
                break
            frame = saved_ebp
        if walked:
            return frames + walked
        # Otherwise scan the whole stack for words that look like return addresses.
        frames = [pc]
        data = self._read(esp, min(stack.end - esp, 4096))
        for (word,) in struct.iter_unpack("<I", data[: len(data) // 4 * 4]):
            if self.symbols.is_code(word) and self._follows_call(word):
                frames.append(word)
                if len(frames) > _MAX_FRAMES:
                    break
        return frames

    def _follows_call(self, address: int) -> bool:
        before = self._read(address - 7, 7)
        if len(before) < 7:
            return False
        # call rel32 (E8), or call r/m32 (FF /2) in every form: the ModRM (and
        # SIB) must say the instruction is exactly as long as the gap, so
        # `call [esp+disp8]` (FF 54 24 xx) counts and stray FF bytes do not.
        if before[2] == 0xE8:
            return True
        for length in range(2, 8):
            op, modrm = before[7 - length], before[8 - length]
            sib = before[9 - length] if length > 2 else 0
            if op == 0xFF and (modrm >> 3) & 7 == 2 and _rm_instruction_length(modrm, sib) == length:
                return True
        return False

    def build(self, kind: str, detail: str, pc: int, address: int | None) -> GuestFault:
        """Make the GuestFault for a fault the CPU saw at ``pc``."""
        assert self.cpu is not None
        kind = self.classify(kind, pc, address)
        regs = self.cpu.regs.dump()
        regs["eip"] = pc
        location = self.symbols.short(pc)
        instruction = disassemble_one(self._read(pc, 16), pc, self._disassembler)
        title = _TITLES.get(kind, kind)
        headline = f"{title} at {location} ({pc:#010x}): {instruction}"
        if address is not None and kind not in ("budget", "invalid-opcode", "divide-error"):
            headline = f"{title}: {detail} at {address:#010x} [{self.describe(address)}], pc {location}: {instruction}"
        lines = [headline, "", "code:"]
        lines += ["  " + line for line in self.disassembly(pc)]
        lines += ["", "registers:"]
        names = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags"]
        lines.append("  " + "  ".join(f"{n}={regs[n]:08x}" for n in names[:5]))
        lines.append("  " + "  ".join(f"{n}={regs[n]:08x}" for n in names[5:]))
        lines += ["", "backtrace:"]
        for depth, frame in enumerate(self.backtrace(pc, regs["esp"], regs["ebp"])):
            shown = self.symbols.format(frame) if depth == 0 else self.symbols.format_return(frame)
            lines.append(f"  #{depth} {shown}")
        recent = self.recent_events()
        if recent:
            lines += ["", "last events:"] + ["  " + e for e in recent]
        return GuestFault(
            kind, headline, pc=pc, address=address, location=location,
            instruction=instruction, registers=regs, report="\n".join(lines),
        )
