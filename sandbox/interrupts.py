"""Interrupt delivery: the CPU's interrupt flag, pending lines, handlers on the IRQ stack.

The IRQ table (``machine/irq.py``) says who handles a line; this module
says when and how a raised line is delivered. With no guest code running a
line is delivered at once. Raised while guest code runs with interrupts off
(a device raising its line from inside a port access, a service advancing
time under a spinlock), it is latched and delivered as soon as interrupts
are enabled again, as a real CPU takes a pending interrupt right after
``sti``/``popf``. Handlers run with the flag clear, as after the CPU takes an
interrupt, and the kernel's own per-line hooks (jiffies, timers) run around
them. A line whose handler is running is latched too, as a PIC holds a line
whose in-service bit is set until the handler's EOI: a handler that
re-enables interrupts and makes its device raise the line again gets it
delivered after it returns, not nested inside itself.

The flag while guest code runs is EFLAGS.IF *and* the service-level flag:
raw ``cli``/``sti``/``popf`` move only the former, services (local_irq_*,
spin_lock_irq*) move both. Reading EFLAGS costs a register read, so it is
read only where it matters — when a line is raised and when a service
finds lines pending — and never per instruction; a line latched under a raw
``cli`` is delivered at the next service call, IRQ or the end of the call
after ``sti``, not on the instruction after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .errors import GuestFault
from .machine.control import IF
from .machine.registers import EFLAGS, EIP

if TYPE_CHECKING:
    from .kernel import Kernel
    from .machine.irq import IrqAction

TIMER_IRQ = 0  # the periodic tick, as the PIT delivers it on a PC
# Deliveries one drain of pending interrupts may make before it is called a
# storm (a device that re-raises its line every time its handler runs).
IRQ_STORM_LIMIT = 100_000
IRQ_WAKE_THREAD = 2
IRQ_RESULT_NAMES = {0: "IRQ_NONE", 1: "IRQ_HANDLED", IRQ_WAKE_THREAD: "IRQ_WAKE_THREAD"}


@dataclass(slots=True)
class IrqResult:
    """What one handler returned for one raised interrupt."""

    line: int
    handler: str
    dev_id: int
    result: int

    @property
    def handled(self) -> bool:
        """True if the handler claimed the interrupt."""
        return self.result == 1


def _in_handler(fault: GuestFault, line: int, handler: str) -> None:
    """Say that a fault happened in interrupt context, in which handler (once: the innermost)."""
    if getattr(fault, "irq_line", None) is not None:
        return
    fault.irq_line = line  # type: ignore[attr-defined]
    where = f"in IRQ {line} handler {handler} (interrupt context)"
    fault.args = (f"{fault.args[0]} [{where}]",)
    fault.report = f"{where}:\n{fault.report}"


class InterruptDelivery:
    """One kernel's interrupt flag, latched lines and per-line kernel hooks."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.enabled = True
        self.pending: list[int] = []  # lines raised while the guest ran with interrupts off
        self.masked: set[int] = set()  # lines raised while disable_irq()d: replayed by enable_irq (IRQS_PENDING)
        self._draining = False
        self.in_service: list[int] = []  # lines whose handlers are running, innermost last
        self._hooks: dict[int, list[Callable[[], None]]] = {}  # run after the guest handlers
        self._first_hooks: dict[int, list[Callable[[], None]]] = {}  # run before them
        # Per line, for each hook run after the handlers: when it next has work
        # (a tick count), or None where the hook did not say (then: always).
        self._due: dict[int, list[Callable[[], int | None] | None]] = {}

    def save(self) -> tuple[bool, list[int], set[int]]:
        """The interrupt flag and the latched lines, for :meth:`restore`."""
        return self.enabled, list(self.pending), set(self.masked)

    def restore(self, state: tuple[bool, list[int], set[int]]) -> None:
        """Put the flag and latched lines back (the flag itself: nothing is delivered)."""
        enabled, pending, masked = state
        self.enabled, self.pending, self.masked = enabled, list(pending), set(masked)

    def unmask(self, line: int) -> None:
        """A line was enabled again (enable_irq): one raised while it was masked is delivered now,
        as Linux resends an interrupt it marked IRQS_PENDING (or a level line still asserted fires)."""
        if line in self.masked and line not in self.kernel.irqs.disabled:
            self.masked.discard(line)
            self.raise_line(line)

    def set_enabled(self, value: bool) -> None:
        """Set the flag (and EFLAGS.IF of running guest code); enabling delivers what was latched meanwhile."""
        self.enabled = bool(value)
        cpu = self.kernel.cpu
        if cpu.depth:
            regs = cpu.regs
            eflags = regs.read(EFLAGS)
            regs.write(EFLAGS, eflags | IF if value else eflags & ~IF)
        if value and self.pending:
            self.drain()

    def guest_enabled(self) -> bool:
        """Whether a line raised now is delivered: the flag, and EFLAGS.IF while guest code runs."""
        if not self.enabled:
            return False
        cpu = self.kernel.cpu
        return not cpu.depth or bool(cpu.regs.read(EFLAGS) & IF)

    def poll(self) -> None:
        """Deliver latched lines if the running guest has interrupts on again (a raw ``sti``)."""
        if self.pending and not self._draining and self.guest_enabled():
            self.drain()

    def add_hook(self, line: int, hook: Callable[[], None], first: bool = False,
                 due: Callable[[], int | None] | None = None) -> None:
        """Run ``hook`` on every delivery of ``line``, after the handlers (before them if ``first``).

        ``due`` (hooks after the handlers) says at which tick the hook next has
        work, None for never; see :meth:`next_due`.
        """
        (self._first_hooks if first else self._hooks).setdefault(line, []).append(hook)
        if not first:
            self._due.setdefault(line, []).append(due)

    def next_due(self, line: int, now: int) -> int | None:
        """The earliest tick (after ``now``) at which a delivery of ``line`` has work
        beyond the first hooks (jiffies): any guest handler or a hook that did not
        say means the next one; None if nothing waits."""
        if self.kernel.irqs.actions(line):
            return now + 1
        earliest: int | None = None
        for due in self._due.get(line, ()):
            when = now + 1 if due is None else due()
            if when is not None and (earliest is None or when < earliest):
                earliest = when
        return earliest

    def raise_line(self, line: int) -> list[IrqResult]:
        """Deliver ``line`` now, or latch it while guest code runs with interrupts off (then [])."""
        k = self.kernel
        if line in self.in_service or (k.cpu.depth > 0 and not self.guest_enabled()):
            if line not in self.pending:  # an edge already latched is not latched twice
                self.pending.append(line)
            k.trace.add("irq", "pending", depth=k.cpu.depth, fields={"line": line})
            return []
        results = self.deliver(line)
        if self.pending and self.guest_enabled():
            self.drain()
        return results

    def drain(self) -> None:
        """Deliver pending lines in the order raised, until none is left or the flag goes off."""
        if self._draining:
            return  # the drain further up the stack picks up anything new
        self._draining = True
        delivered = 0
        try:
            while self.pending and self.enabled:
                index = next((i for i, line in enumerate(self.pending) if line not in self.in_service), None)
                if index is None:
                    break  # every latched line waits for its own handler to finish
                line = self.pending.pop(index)
                delivered += 1
                if delivered > IRQ_STORM_LIMIT:
                    self.pending.clear()
                    cpu = self.kernel.cpu
                    raise GuestFault("irq-storm", f"interrupt storm: line {line} raised again by every delivery "
                                     f"({IRQ_STORM_LIMIT} deliveries without end)",
                                     pc=cpu.regs.read(EIP) if cpu.depth else 0)
                self.deliver(line)
        finally:
            self._draining = False

    def deliver(self, line: int) -> list[IrqResult]:
        """Run the kernel's hooks and every handler of ``line`` on the IRQ stack."""
        k = self.kernel
        actions = k.irqs.actions(line)
        first_hooks = self._first_hooks.get(line, ())
        depth = k.cpu.depth  # calls made from here nest one level below the caller
        if depth:
            # Raised while a guest call runs (a service advancing time tick by
            # tick, a device storm): every delivery is a point where the budget holds.
            k.cpu.check_budget()
        if actions or not (first_hooks or line in self._hooks):  # a tick only the kernel handles is not worth a line
            k.trace.add("irq", "raise", depth=depth, fields={"line": line, "handlers": len(actions)})
        results: list[IrqResult] = []
        if line in k.irqs.disabled:
            k.trace.add("note", "irq-masked", fields={"line": line})
            self.masked.add(line)
            return []
        for hook in first_hooks:
            hook()
        for action in actions:
            handler_name = k.symbolizer.short(action.handler) if action.handler else "irq_default_primary_handler"
            # The CPU clears IF when it takes an interrupt; the handler runs with
            # interrupts off and the flag comes back with iret. (The attribute,
            # not set_enabled, so nothing is delivered until the handler is done.)
            was_enabled, self.enabled = self.enabled, False
            started = perf_counter_ns()
            self.in_service.append(line)
            try:
                eax = (k.call_function_pointer(action.handler, line, action.dev_id, context="irq")
                       if action.handler else IRQ_WAKE_THREAD)
            except GuestFault as fault:
                _in_handler(fault, line, handler_name)
                raise
            finally:
                self.in_service.pop()
                left_disabled = not self.enabled
                self.enabled = was_enabled
            k.check_balance(lambda name=handler_name: f"IRQ {line} handler {name}")
            if not left_disabled:
                k.trace.add("note", "irq-enabled-in-handler", fields={"line": line, "handler": handler_name})
            result = eax - (1 << 32) if eax >> 31 else eax
            event = k.trace.add(
                "irq", "handler", context="irq", depth=depth, result=result,
                module=action.owner, caller=action.handler,
                fields={"line": line, "handler_name": handler_name, "dev_id": action.dev_id,
                        "result_name": IRQ_RESULT_NAMES.get(result, str(result))},
            )
            # Recorded after the run, so the slice starts when the handler began.
            event.ts, event.dur = started, perf_counter_ns() - started
            results.append(IrqResult(line, handler_name, action.dev_id, result))
            if result == IRQ_WAKE_THREAD and action.thread_fn:
                self._run_thread(action, depth)
        # Looked up now: a handler may have added one (a tasklet it scheduled runs as the IRQ exits).
        for hook in self._hooks.get(line, ()):
            hook()
        return results

    def _run_thread(self, action: IrqAction, depth: int) -> None:
        """The handler asked for its thread: run ``thread_fn`` now, in task context with interrupts on.

        Linux runs it in a kernel thread soon after; here it runs as soon as
        the hard handler returns, which is one of the orders Linux allows.
        """
        k = self.kernel
        name = k.symbolizer.short(action.thread_fn)
        started = perf_counter_ns()
        eax = k.call_function_pointer(action.thread_fn, action.line, action.dev_id, context="task")
        result = eax - (1 << 32) if eax >> 31 else eax
        event = k.trace.add(
            "irq", "thread", depth=depth, result=result, module=action.owner, caller=action.thread_fn,
            fields={"line": action.line, "handler_name": name, "dev_id": action.dev_id,
                    "result_name": IRQ_RESULT_NAMES.get(result, str(result))},
        )
        event.ts, event.dur = started, perf_counter_ns() - started
        k.check_balance(lambda: f"IRQ {action.line} thread {name}")
