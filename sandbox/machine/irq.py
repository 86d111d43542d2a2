"""Interrupt lines and their registered handlers.

The controller only keeps the table; delivering an interrupt (running each
handler on the IRQ stack) is the kernel's job because it needs the calling
convention and the trace.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

IRQF_SHARED = 0x80
NR_IRQS = 256


@dataclass(slots=True)
class IrqAction:
    """One handler registered on a line (Linux's ``struct irqaction``)."""

    line: int
    handler: int  # 0: Linux's default primary handler (always "wake the thread")
    dev_id: int
    name: str
    flags: int
    owner: str  # module that registered it
    thread_fn: int = 0  # request_threaded_irq's thread function, run after IRQ_WAKE_THREAD
    devname: int = 0  # the name pointer as the driver passed it (free_irq returns it)


class IrqTable:
    """Which handlers are registered on which line."""

    def __init__(self) -> None:
        self.lines: dict[int, list[IrqAction]] = {}
        self.disabled: set[int] = set()

    def register(self, action: IrqAction) -> int:
        """Add ``action``; returns 0 or a negative errno like request_irq."""
        if not 0 <= action.line < NR_IRQS:
            return -22  # EINVAL
        present = self.lines.setdefault(action.line, [])
        if present and not (action.flags & IRQF_SHARED and all(a.flags & IRQF_SHARED for a in present)):
            return -16  # EBUSY: a line is shared only if every user agrees
        present.append(action)
        return 0

    def unregister(self, line: int, dev_id: int) -> IrqAction | None:
        """Remove the action on ``line`` with ``dev_id``; None if none."""
        present = self.lines.get(line, [])
        for i, action in enumerate(present):
            if action.dev_id == dev_id:
                del present[i]
                if not present:
                    del self.lines[line]
                return action
        return None

    def actions(self, line: int) -> list[IrqAction]:
        """Handlers on ``line`` in registration order."""
        return list(self.lines.get(line, ()))

    def owned_by(self, owner: str) -> list[IrqAction]:
        """Every action registered by module ``owner``."""
        return [a for actions in self.lines.values() for a in actions if a.owner == owner]

    def save(self) -> tuple[dict[int, list[IrqAction]], set[int]]:
        """The table's state, for :meth:`restore` (actions are copied: drivers' flags may change them)."""
        return {line: [copy.copy(a) for a in actions] for line, actions in self.lines.items()}, set(self.disabled)

    def restore(self, state: tuple[dict[int, list[IrqAction]], set[int]]) -> None:
        """Put the table back as :meth:`save` found it."""
        lines, disabled = state
        self.lines = {line: [copy.copy(a) for a in actions] for line, actions in lines.items()}
        self.disabled = set(disabled)
