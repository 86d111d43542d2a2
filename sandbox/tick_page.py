"""The page the profile's tick variables (``jiffies``, ``jiffies_64``) live on: every read reaches Python.

With host-paced time a guest that spins on ``jiffies`` must see it move,
yet Unicorn cannot stop running guest code from another thread exactly:
after an asynchronous ``emu_stop`` the registers may be those of an earlier
point than memory (a read-modify-write instruction then runs twice), so
time cannot be made to move by interrupting the CPU. Instead the variables
sit on an MMIO page of their own. A read returns the time as the host clock
says it is (in host-paced mode: the delivered ticks plus those due now);
the due ticks themselves, with their timers and IRQ 0 handlers, are
delivered at the next safe point, the next call into a kernel service. In
deterministic mode a read returns exactly what the last delivered tick
wrote, so with interrupts off ``jiffies`` stands still, as on Linux.

Only reads of these few variables pay for a Python call; the rest of kernel
data stays ordinary memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .machine import address_map as amap

SLOT = 8  # each variable gets 8 bytes, so a 64-bit one fits and all stay naturally aligned


class TickPage:
    """An MMIO device holding the tick variables' values (``Kernel.tick_page``)."""

    name = "kernel tick variables"

    def __init__(self, variables: tuple[tuple[str, int], ...], due: Callable[[], int]) -> None:
        self.offsets = {name: SLOT * i for i, (name, _size) in enumerate(variables)}
        self.sizes = dict(variables)
        self.values = dict.fromkeys(self.offsets, 0)  # as the last delivered tick (or a guest write) left them
        self._due = due  # host-paced ticks due but not yet delivered (0 in deterministic mode)

    def map(self, uc: Any, base: int = amap.TICK_PAGE_BASE) -> None:
        """Map the page at ``base`` (an MMIO region: Unicorn calls back for every access)."""
        uc.mmio_map(base, amap.PAGE_SIZE, lambda _uc, offset, width, _data: self.mmio_read(offset, width), None,
                    lambda _uc, offset, width, value, _data: self.mmio_write(offset, width, value), None)

    def save(self) -> dict[str, int]:
        """The values, for :meth:`restore` (a kernel snapshot part)."""
        return dict(self.values)

    def restore(self, state: dict[str, int]) -> None:
        self.values = dict(state)

    def publish(self, ticks: int) -> None:
        """What the tick handler does: every variable shows ``ticks`` (truncated to its size)."""
        for name, size in self.sizes.items():
            self.values[name] = ticks & ((1 << (8 * size)) - 1)

    def mmio_read(self, offset: int, width: int) -> int:
        name, inner = self._slot(offset)
        if name is None:
            return 0
        value = self.values[name]
        due = self._due()
        if due:  # the reader sees the time it is; the ticks themselves come at the next safe point
            value = (value + due) & ((1 << (8 * self.sizes[name])) - 1)
        return (value >> (8 * inner)) & ((1 << (8 * width)) - 1)

    def mmio_write(self, offset: int, width: int, value: int) -> None:
        name, inner = self._slot(offset)
        if name is None:
            return
        mask = ((1 << (8 * width)) - 1) << (8 * inner)
        merged = (self.values[name] & ~mask) | ((value << (8 * inner)) & mask)
        self.values[name] = merged & ((1 << (8 * self.sizes[name])) - 1)

    def _slot(self, offset: int) -> tuple[str | None, int]:
        for name, start in self.offsets.items():
            if start <= offset < start + self.sizes[name]:
                return name, offset - start
        return None, 0
