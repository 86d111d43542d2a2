"""The emulated CPU: one Unicorn instance, its fixed mappings, guest calls.

A call into guest code pushes its arguments and a return address that points
at RETURN_TRAP, then runs ``emu_start(begin, until=RETURN_TRAP)``: the call
ends exactly when the guest returns, with no hook. Calls may nest (a service
calling back into the guest): the outer CPU state is saved and restored around
the inner run, which Unicorn 2 supports from inside a hook.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from unicorn import (
    UC_HOOK_CODE,
    UC_HOOK_INSN,
    UC_HOOK_INTR,
    UC_HOOK_MEM_INVALID,
    Uc,
    UcError,
)
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from ..errors import BudgetExceeded, ConventionMismatch, GuestFault
from . import address_map as amap
from . import watchdog
from .control import CLEAN_EFLAGS, CLEAN_END, DIRTY_END, IF, IRQ_RETURN, TASK_RETURN, ControlState
from .memory import GuestMemory, R, W, X
from .registers import EAX, EDX, EFLAGS, EIP, ESP, Registers

if TYPE_CHECKING:
    from ..arch import Architecture

_ACCESS_KINDS = {
    ucc.UC_MEM_READ_UNMAPPED: ("read", "unmapped"),
    ucc.UC_MEM_WRITE_UNMAPPED: ("write", "unmapped"),
    ucc.UC_MEM_FETCH_UNMAPPED: ("fetch", "unmapped"),
    ucc.UC_MEM_WRITE_PROT: ("write", "protected"),
    ucc.UC_MEM_READ_PROT: ("read", "protected"),
    ucc.UC_MEM_FETCH_PROT: ("fetch", "protected"),
}

# Guest calls nested inside one another (IRQ handlers, service callbacks)
# before the next one is refused with a ``nesting-limit`` fault. Each level
# costs a few host stack frames in Python, ctypes and Unicorn; far more
# levels than this overflow the host's C stack (a SIGSEGV of the process).
MAX_NESTING = 32

# Bytes below the interrupted ESP left untouched by a nested call, so the
# outer frame's red zone (if any) and saved return address survive.
_NESTED_STACK_GAP = 128

# CPU exception vectors with a name of their own (the rest: "cpu-exception" and the vector).
_VECTOR_KINDS = {
    0: "divide-error", 1: "debug-trap", 3: "breakpoint", 4: "overflow", 5: "bound-range",
    6: "invalid-opcode", 13: "general-protection", 14: "page-fault", 17: "alignment-check",
}

FaultBuilder = Callable[[str, str, int, int | None], GuestFault]

_STACK_TOPS = {name: high for name, (_, high) in amap.stack_layout().items()}


class TaskSuspended(Exception):
    """A nested call was suspended by ``Cpu.request_suspend``: its registers, to resume it with.

    ``frame`` is the stack pointer of the call's original frame (checked
    when it finally returns).
    """

    def __init__(self, registers: Any, frame: int) -> None:
        super().__init__("cooperative task suspended")
        self.registers = registers
        self.frame = frame


@lru_cache(maxsize=32)
def _frame_struct(words: int) -> struct.Struct:
    """Packer for a call frame: the return trap, then ``words`` argument slots."""
    return struct.Struct(f"<{words + 1}I")


class PendingFault:
    """What a hook saw when the guest faulted, turned into a GuestFault later."""

    __slots__ = ("address", "detail", "kind", "pc")

    def __init__(self, kind: str, detail: str, pc: int, address: int | None) -> None:
        self.kind = kind
        self.detail = detail
        self.pc = pc
        self.address = address


class Cpu:
    """A 32-bit x86 CPU with the kernel's fixed mappings and a call primitive."""

    def __init__(self, build_fault: FaultBuilder, arch: Architecture | None = None) -> None:
        if arch is None:
            from ..arch import I386 as arch
        self.arch = arch
        self.uc = arch.new_unicorn()
        self.regs = Registers(self.uc)
        # Where a call stopped, its result and how far ESP moved: one C call.
        self._read_results = self.regs.reader(EIP, EAX, EDX, ESP)
        self.memory = GuestMemory(self.uc)
        self._build_fault = build_fault
        self.depth = 0
        self.context: list[str] = []  # "task" / "irq", innermost last
        self.entries: list[int] = []  # the address each active call started at, innermost last
        self.deadline = 0.0
        self.expired = False
        # Set by a service (``request_suspend``) that parks the running cooperative task
        # (a kthread) until it is resumed: the call running it raises TaskSuspended.
        self.suspend_requested = False
        self.suspend_rerun = False  # ... and resumes by calling the suspending service again
        self.budget_seconds = 10.0
        # Guest time left for the whole run (all top-level calls together), or None.
        self.run_budget_left: float | None = None
        self._started = 0.0
        # The CPU-time clock of the thread that runs the guest (budgets count its CPU seconds).
        self._clock_thread = 0
        self.budget_clock = time.CLOCK_THREAD_CPUTIME_ID
        self._pending: PendingFault | None = None
        # Faulting instruction -> fixup address (Linux's exception table), or a
        # handler that adjusts registers (a module's typed entries) and returns it.
        self.extable: dict[int, int | Callable[[Any], int]] = {}
        self._hooks: list[Any] = []
        # Told every address a guest run starts at (coverage: the edge hook
        # cannot report the first block a fresh Unicorn translates).
        self.on_enter: Callable[[int], None] | None = None
        # Host-paced time (machine/ticker.py): ticks fall due by the host's clock
        # while a top-level call runs, and are taken at the next service call.
        self.tick_period = 0.0
        self.next_tick = 0.0

        # A gdb stub (sandbox.gdb.GdbServer) told about runs, stops and faults;
        # None costs one test per call.
        self.debugger: Any = None
        # Dirty-page tracker (machine/dirty.py), when snapshots restore by pages.
        self.dirty: Any = None
        self._map_fixed_areas()
        self.control = ControlState(self.uc, self.memory)
        # EFLAGS at the end of the last top-level call (its IF: raw cli/sti).
        self.exit_eflags = self.control.eflags
        # Names a code address in nesting reports (the kernel gives its symbolizer).
        self.describe: Callable[[int], str] = lambda address: f"{address:#010x}"
        self._hooks.append(self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_invalid_memory))
        self._hooks.append(self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt))
        # A CPU exception stopped in the INTR hook is never delivered, so
        # QEMU's "exception in progress" state stays set: the next #DE became
        # a double fault, then nothing at all. The clean control context has it
        # clear (every top-level call starts from it; see _reset_exception_state).
        self._exception_taken = False
        watchdog.watch(self)

    # -- set-up ----------------------------------------------------------
    def _map_fixed_areas(self) -> None:
        mem = self.memory
        mem.map(amap.STUB_BASE, amap.STUB_AREA_SIZE, R | X, "kernel service stubs")
        # Every slot is a bare `ret`: the service hook runs before it, then
        # it returns to the caller, who pops the arguments (cdecl/regparm).
        mem.write_raw(amap.STUB_BASE, b"\xc3" * amap.STUB_AREA_SIZE)
        mem.map(amap.KTEXT_BASE, amap.KTEXT_SIZE, R | X, "kernel text")
        mem.map(amap.KDATA_BASE, amap.KDATA_SIZE, R | W, "kernel data")
        mem.map(amap.KRODATA_BASE, amap.KRODATA_SIZE, R, "kernel read-only data")
        for name, (low, high) in amap.stack_layout().items():
            mem.map(low, high - low, R | W, f"{name} stack")

    def add_code_hook(self, begin: int, end: int, callback: Callable[..., None]) -> None:
        """Run ``callback(uc, address, size, data)`` for code in [begin, end]."""
        self._hooks.append(self.uc.hook_add(UC_HOOK_CODE, callback, None, begin, end))

    def add_port_hooks(
        self,
        on_in: Callable[[Uc, int, int, object], int],
        on_out: Callable[[Uc, int, int, int, object], None],
    ) -> None:
        """Route `in`/`out` instructions (and `rep ins/outs`) to Unicorn-style
        callbacks ``on_in(uc, port, size, data) -> value`` and
        ``on_out(uc, port, size, value, data)``. They are registered as they
        are, with no wrapper: every port access pays for each Python frame."""
        self._hooks.append(self.uc.hook_add(UC_HOOK_INSN, on_in, None, 1, 0, x86.UC_X86_INS_IN))
        self._hooks.append(self.uc.hook_add(UC_HOOK_INSN, on_out, None, 1, 0, x86.UC_X86_INS_OUT))

    def stop(self) -> None:
        """Ask the running emulation to stop (safe from any thread)."""
        self.uc.emu_stop()

    # -- fault capture ---------------------------------------------------
    def _on_invalid_memory(self, uc: Uc, access: int, address: int, size: int, value: int, data: object) -> bool:
        verb, why = _ACCESS_KINDS.get(access, ("access", "invalid"))
        pc = self.regs.read(EIP)
        if verb == "fetch":
            pc = address
        self._pending = PendingFault(f"{verb}-{why}", f"{verb} of {size} bytes", pc, address)
        return False

    def _on_interrupt(self, uc: Uc, intno: int, data: object) -> None:
        pc = self.regs.read(EIP)
        kind = _VECTOR_KINDS.get(intno, "cpu-exception")
        detail = f"CPU exception, vector {intno}"
        # Traps (int3, int n, single-step) leave EIP after the instruction: report the instruction itself.
        if intno == 3 and self._byte_at(pc - 1) == 0xCC:
            pc -= 1
        elif self._byte_at(pc - 2) == 0xCD and self._byte_at(pc - 1) == intno:
            pc -= 2
            kind, detail = ("breakpoint" if intno == 3 else "software-interrupt"), f"int {intno:#x}"
        self._pending = PendingFault(kind, detail, pc, None)
        self._exception_taken = True
        uc.emu_stop()

    def _byte_at(self, address: int) -> int | None:
        if self.memory.region_at(address) is None:
            return None
        return self.uc.mem_read(address, 1)[0]

    # -- calls -------------------------------------------------------------
    @property
    def in_irq(self) -> bool:
        """True while an interrupt handler is running."""
        return bool(self.context) and self.context[-1] == "irq"

    def call(
        self,
        address: int,
        registers: dict[int, int],
        stack_words: Sequence[int],
        context: str = "task",
        budget: float | None = None,
        pops: int = 0,
        stack_top: int | None = None,
        resume: TaskSuspended | None = None,
    ) -> tuple[int, int]:
        """Run guest code at ``address`` until it returns; give (EAX, EDX).

        For cooperative tasks (nested calls only): ``stack_top`` runs the call
        on a stack of its own; a service may ``request_suspend()`` the task,
        which makes this call raise :class:`TaskSuspended` with the task's
        registers; ``resume`` (that exception) continues it where it was,
        with ``registers`` written over the saved ones (EAX: what the
        suspending service returns).

        ``context`` is ``"task"`` or ``"irq"``: IRQ handlers run on the IRQ
        stack, with EFLAGS.IF clear. ``budget`` (seconds) bounds a top-level
        call; nested calls share the outer deadline, and once it has passed
        none starts. ``pops``: bytes of stack arguments the callee's
        convention removes on return (stdcall, fastcall); ESP is checked
        against it. A top-level call starts from the clean CPU control state
        and fails (``cpu-state``) if the guest left it changed. Raises
        GuestFault (BudgetExceeded for a runaway, ConventionMismatch when the
        callee popped another amount, ``nesting-limit`` past MAX_NESTING
        nested calls).
        """
        nested = self.depth > 0
        if nested:
            if self.depth >= MAX_NESTING:
                raise self._nesting_fault(address)
            if self.expired:
                raise self._budget_fault(self.regs.read(EIP))
            saved = self.uc.context_save()
            if stack_top is not None:
                top = stack_top
            elif context == "irq" and not self.in_irq:
                top = _STACK_TOPS[context]
            else:
                top = self.regs.read(ESP) - _NESTED_STACK_GAP
            returns_to = until = amap.RETURN_TRAP
        else:
            if stack_top is not None or resume is not None:
                raise ValueError("a cooperative task runs nested inside a guest call (stack_top/resume at depth 0)")
            saved = None
            self.control.reset()
            top = _STACK_TOPS[context]
            # Back through the control-state check, which ends at CLEAN_END.
            returns_to, until = (IRQ_RETURN if context == "irq" else TASK_RETURN), CLEAN_END
        regs = self.regs
        if resume is None:
            frame = _frame_struct(len(stack_words)).pack(returns_to, *[w & 0xFFFFFFFF for w in stack_words])
            # Keep the argument block 16-byte aligned as the i386 psABI asks.
            sp = ((top - len(frame) + 4) & ~0xF) - 4
            self.uc.mem_write(sp, frame)
            if self.dirty is not None:
                self.dirty.note(sp, len(frame))  # a host write: the TLB does not see it
            regs.write(ESP, sp)
        else:
            self.uc.context_restore(resume.registers)
            sp = resume.frame
            address = regs.read(EIP)
        for reg, value in registers.items():
            regs.write(reg, value)
        if context == "irq":
            # The CPU clears IF when it takes an interrupt; iret brings it back.
            regs.write(EFLAGS, regs.read(EFLAGS) & ~IF)
        if not nested:
            self.expired = False
            self._pending = None
            allowed = budget if budget is not None else self.budget_seconds
            if self.run_budget_left is not None:
                allowed = min(allowed, self.run_budget_left)
            # The budget is the CPU time of the thread running the guest, not wall time: a busy host
            # (a loaded CI machine, a parallel test run) must not make a well-behaved call a runaway.
            ident = threading.get_ident()
            if ident != self._clock_thread:
                self._clock_thread, self.budget_clock = ident, time.pthread_getcpuclockid(ident)
            self._started = time.thread_time()
            self.deadline = self._started + allowed
            if self.tick_period:  # host time moves while guest code runs, not in between
                self.next_tick = max(self.next_tick, time.monotonic() + self.tick_period)
        self.depth += 1
        self.context.append(context)
        self.entries.append(address)
        if self.on_enter is not None:
            self.on_enter(address)
        failed: GuestFault | None = None
        state_changed = False  # the return check saw changed control state
        debugger = self.debugger
        try:
            start = address if debugger is None else debugger.on_call(address, registers)
            while True:
                try:
                    self.uc.emu_start(start, until)
                except UcError as error:
                    hooked = getattr(self.uc, "_hook_exception", None)
                    if hooked is not None:
                        # A hook raised (a service's GuestFault) and then the rest of the
                        # block faulted too: the hook's exception is the cause.
                        raise hooked from None
                    pending = self._pending
                    if pending is not None and pending.address == DIRTY_END:
                        self._pending = None  # returned, but through changed control state
                        state_changed = True
                        break
                    # A faulting access listed in the exception table resumes at its
                    # fixup (get_user of a bad pointer returns -EFAULT); any other is a fault.
                    try:
                        start = self._fixup(error)
                    except GuestFault as fault:  # a callable entry's verdict (BUG(): sandbox/bugtable.py)
                        if debugger is not None:
                            debugger.on_fault(fault)
                        raise
                    if start is None:
                        fault = self._note_stack_drift(self._fault_from(error), sp)
                        if debugger is not None:
                            debugger.on_fault(fault)
                        raise fault from None
                    continue
                except GuestFault as fault:  # raised by a hook (a service found it)
                    if debugger is not None:
                        debugger.on_fault(fault)
                    raise
                if self.suspend_requested:
                    break
                if debugger is not None and regs.read(EIP) != until:
                    resume = debugger.after_stop(regs.read(EIP))
                    if resume is not None:
                        start = resume
                        continue
                break
            if self.suspend_requested:
                self.suspend_requested = self.suspend_rerun = False
                raise TaskSuspended(self.uc.context_save(), sp)
            pc, eax, edx, esp = self._read_results()
            if pc != until and not state_changed:
                fault = self._stopped_at(pc)
                if debugger is not None:
                    debugger.on_fault(fault)
                raise fault
            if esp != sp + 4 + pops:
                raise self._unbalanced(address, pops, esp - sp - 4)
            result = (eax, edx)
        except GuestFault as fault:
            if nested:
                raise
            failed = fault
        finally:
            self.depth -= 1
            self.context.pop()
            self.entries.pop()
            if saved is not None:
                # Back to the interrupted code's registers, even when this call failed:
                # the outer run executes to the end of its block before it stops.
                self.uc.context_restore(saved)
                # The binding keeps the last hook exception on the Uc object; once
                # raised here it must not surface again when the outer run returns.
                self.uc._hook_exception = None
            if not nested:
                self.deadline = 0.0
                if self.run_budget_left is not None:
                    self.run_budget_left = max(0.0, self.run_budget_left - (time.thread_time() - self._started))
        if saved is not None:
            return result
        if state_changed or failed is not None:
            # Read the state out (the slow way: only after a fault or a dirty return),
            # before the exception state is cleared with the rest of the context.
            eflags = self.control.check()
            self._reset_exception_state()
            if eflags is None:
                raise self._control_fault(address, failed) from None
            self.exit_eflags = eflags
            if failed is not None:
                raise failed
        else:
            self.exit_eflags = CLEAN_EFLAGS
        return result

    def request_suspend(self, rerun: bool = False) -> None:
        """From a service: stop the running nested call once the service returns, so that it
        raises TaskSuspended (the cooperative task it runs is parked there). The task resumes
        after the service call, or with ``rerun`` at the service's stub: called again."""
        if self.depth < 2:
            raise ValueError("only a nested call (a cooperative task) can be suspended")
        self.suspend_requested = True
        self.suspend_rerun = rerun
        self.uc.emu_stop()

    def _nesting_fault(self, address: int) -> GuestFault:
        runs: list[list[Any]] = []  # [name, count]: a recursion reads as one entry with a count
        for entry in [*self.entries, address]:
            name = self.describe(entry)
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        chain = " -> ".join(name if count == 1 else f"{name} (x{count})" for name, count in runs)
        fault = self._build_fault("nesting-limit", "nesting limit", self.regs.read(EIP), None)
        message = (f"guest calls nested {MAX_NESTING} deep (IRQ handlers or service callbacks calling "
                   f"back into guest code without end): {chain}")
        fault.args = (message,)
        fault.report = f"{message}\n\n{fault.report}"
        return fault

    def _budget_fault(self, pc: int) -> BudgetExceeded:
        fault = self._build_fault("budget", "time budget exhausted", pc, None)
        return BudgetExceeded(
            fault.kind, fault.args[0], pc=fault.pc, address=fault.address, location=fault.location,
            instruction=fault.instruction, registers=fault.registers, report=fault.report,
        )

    def save(self) -> tuple[float | None, float, int]:
        """What a fresh call depends on: the run budget left, the per-call budget and the per-CPU segment base.

        The control state itself needs no copy: every top-level call starts
        from the clean context, rebuilt from the segment base.
        """
        return self.run_budget_left, self.budget_seconds, self.control.segment_base

    def restore(self, state: tuple[float | None, float, int]) -> None:
        """Put the budgets and the clean control state back (TLB flushed: paging may have been on)."""
        self.run_budget_left, self.budget_seconds, base = state
        self.expired = False
        self._pending = None
        if base != self.control.segment_base:
            self.control.set_segment_base(base)
        self.control.reset()
        if self.dirty is None:
            # With dirty-page tracking the TLB is virtual: every entry is our own
            # identity fill (machine/dirty.py), whatever paging the guest turned
            # on, so nothing stale can survive; a flush would only make the next
            # case refill each page through the Python hook.
            self.control.flush()
        self.exit_eflags = CLEAN_EFLAGS

    def check_budget(self) -> None:
        """Raise BudgetExceeded if the running call's budget has passed (for long loops in services)."""
        if self.depth and (self.expired or time.thread_time() > self.deadline):
            self.expired = True
            raise self._budget_fault(self.regs.read(EIP))

    def _control_fault(self, address: int, failed: GuestFault | None) -> GuestFault:
        """The report for a top-level call that left CPU control state changed (reset before the next)."""
        control = self.control
        self.exit_eflags = control.eflags
        changes = control.changes()
        control.dirty = True
        what = "; ".join(changes)
        if failed is None:
            fault = self._build_fault("cpu-state", "CPU control state changed", address, None)
            message = (f"CPU control state changed by {self.describe(address)} and not restored: {what} "
                       "(reset for the next call)")
        else:
            fault = failed
            message = f"{failed.args[0]} [CPU control state changed: {what}; reset for the next call]"
        fault.args = (message,)
        fault.report = f"{message}\n\n{fault.report}"
        return fault

    def fault(self, kind: str, detail: str, pc: int, address: int | None = None) -> GuestFault:
        """A GuestFault with the full report (registers, code, backtrace) for the current state."""
        return self._build_fault(kind, detail, pc, address)

    def finish_stub(self, pc: int, esp: int, return_address: int) -> None:
        """Execute the ``ret``/``ret N`` of the service stub at ``pc`` now, from its hook.

        Writing EIP in a hook makes Unicorn continue at the new address, so a
        stop that lands after the hook finds the CPU in the caller, never on
        a stub whose service already ran.
        """
        opcode = self.uc.mem_read(pc, 3)
        if opcode[0] not in (0xC3, 0xC2):
            return
        pop = 4 + (opcode[1] | opcode[2] << 8 if opcode[0] == 0xC2 else 0)
        self.regs.write(ESP, esp + pop)
        self.regs.write(EIP, return_address)

    def _reset_exception_state(self) -> None:
        """After a CPU exception taken in the INTR hook, clear QEMU's exception-in-progress state.

        Top-level calls only (a nested call's failure restores the interrupted
        context, which has it clear); the next top-level call starts from the
        clean context anyway, this makes the state right in between (a debugger
        or a snapshot looking at it).
        """
        if self._exception_taken:
            self._exception_taken = False
            self.control.reset()

    def _note_stack_drift(self, fault: GuestFault, sp: int) -> GuestFault:
        """Mark a jump to a bad address made by a ``ret`` whose ESP was off.

        If the faulting fetch address is the word just below ESP and that is
        not where this call put its return address, some ``ret`` popped a
        wrong word: the stack was unbalanced by a callee that popped another
        amount than its caller expected (a convention mismatch).
        ``fault.stack_drift`` is then how many bytes too high (or, negative,
        too low) ESP was.
        """
        if fault.address != fault.pc:
            return fault  # not a fetch
        popped_from = self.regs.read(ESP) - 4
        # Conventions pop whole words: a drift of a few bytes is something else.
        if popped_from != sp and abs(popped_from - sp) <= 256 and (popped_from - sp) % 4 == 0:
            try:
                word = int.from_bytes(self.uc.mem_read(popped_from, 4), "little")
            except UcError:
                return fault
            if word == fault.pc:
                fault.stack_drift = popped_from - sp  # type: ignore[attr-defined]
        return fault

    def _unbalanced(self, address: int, expected: int, popped: int) -> ConventionMismatch:
        return ConventionMismatch(
            f"stack unbalanced after the call to {address:#010x}: the callee popped {popped} bytes "
            f"of arguments, its calling convention pops {expected}",
            function=address, expected=expected, popped=popped, pc=address, registers=self.regs.dump(),
        )

    def build_fault(self, kind: str, detail: str, pc: int, address: int | None = None) -> GuestFault:
        """The full GuestFault report (code, registers, backtrace) for a fault at ``pc``."""
        return self._build_fault(kind, detail, pc, address)

    def _fixup(self, error: UcError) -> int | None:
        """The exception-table fixup for the memory fault or invalid opcode that stopped the run, if any."""
        pending = self._pending
        if pending is None and error.errno == ucc.UC_ERR_INSN_INVALID:
            pending = self._pending = PendingFault("invalid-opcode", "invalid opcode", self.regs.read(EIP), None)
        if pending is None or pending.kind.startswith("fetch"):
            return None
        # Linux's exception table also covers #UD (do_trap's fixup_exception); BUG()/WARN() sites
        # are callable entries there (sandbox/bugtable.py).
        if pending.address is None and pending.kind != "invalid-opcode":
            return None
        fixup = self.extable.get(pending.pc)
        if fixup is not None:
            self._pending = None
            if callable(fixup):
                fixup = fixup(self.regs)
        return fixup

    def _fault_from(self, error: UcError) -> GuestFault:
        pending, self._pending = self._pending, None
        if pending is not None:
            return self._build_fault(pending.kind, pending.detail, pending.pc, pending.address)
        pc = self.regs.read(EIP)
        if error.errno == ucc.UC_ERR_INSN_INVALID:
            return self._build_fault("invalid-opcode", "invalid opcode", pc, None)
        return self._build_fault("cpu-error", str(error), pc, None)

    def _stopped_at(self, pc: int) -> GuestFault:
        pending, self._pending = self._pending, None
        if pending is not None:
            return self._build_fault(pending.kind, pending.detail, pending.pc, pending.address)
        if self.expired:
            return self._budget_fault(pc)
        return self._build_fault("stopped", "emulation stopped unexpectedly", pc, None)
