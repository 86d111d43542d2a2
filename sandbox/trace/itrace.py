"""Opt-in instruction trace: every instruction executed in one address range.

A ranged ``UC_HOOK_CODE`` calls Python once per instruction (~1.5 M/s, see
PERFORMANCE.md), so it exists only while asked for, only over the chosen
range, and removes itself after ``limit`` instructions. Each instruction
becomes an ``insn`` trace event (caller = its address, so sinks symbolize
it), disassembled by capstone when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE

from .events import Event

if TYPE_CHECKING:
    from ..kernel import Kernel


class InstructionTrace:
    """Records executed instructions in [start, end) until ``limit`` is reached."""

    def __init__(self, kernel: Kernel, start: int, end: int, limit: int) -> None:
        if end <= start:
            raise ValueError(f"empty instruction-trace range {start:#x}-{end:#x}")
        self.kernel = kernel
        self.start = start
        self.end = end
        self.limit = limit
        self.events: list[Event] = []
        self.stopped = False
        self._disasm = kernel.cpu.arch.disassembler()
        uc = kernel.cpu.uc
        self._hook = uc.hook_add(UC_HOOK_CODE, self._on_instruction, None, start, end - 1)
        # Code hooks are compiled into translated blocks: blocks of the range
        # translated earlier would run without the hook until retranslated.
        uc.ctl_remove_cache(start, end)

    def _on_instruction(self, uc: Any, address: int, size: int, data: object) -> None:
        if self.stopped:
            return
        code = bytes(uc.mem_read(address, size))
        insn = next(self._disasm.disasm(code, address, 1), None)
        text = f"{insn.mnemonic} {insn.op_str}".strip() if insn is not None else f"(bad) {code.hex()}"
        if insn is not None and insn.op_str.startswith("0x") and insn.mnemonic[0] in "cj":
            # A direct jump or call: name its target (kmalloc, memlist_len+0x4).
            target = int(insn.op_str, 16)
            if self.kernel.symbolizer.symbol_at(target) is not None:
                text += f" <{self.kernel.symbolizer.short(target)}>"
        cpu = self.kernel.cpu
        event = self.kernel.trace.add(
            "insn", insn.mnemonic if insn is not None else "(bad)", caller=address,
            depth=max(cpu.depth - 1, 0), context=cpu.context[-1] if cpu.context else "task",
            fields={"address": address, "bytes": code.hex(), "text": text},
        )
        self.events.append(event)
        if len(self.events) >= self.limit:
            self.stop()
            self.kernel.trace.add("note", "itrace-limit", fields={"limit": self.limit})

    def stop(self) -> None:
        """Remove the hook (safe from inside it; Unicorn defers the deletion)."""
        if not self.stopped:
            self.stopped = True
            self.kernel.cpu.uc.hook_del(self._hook)

    def lines(self) -> list[str]:
        """One line per recorded instruction: address, symbol, disassembly."""
        from .text import format_event

        return [format_event(e, self.kernel.symbolizer).strip() for e in self.events]
