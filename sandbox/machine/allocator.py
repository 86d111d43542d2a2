"""First-fit range allocation over a fixed address window.

Used for the module area (page granular) and the heap's arenas. Freed ranges
are coalesced and reused, so loading and unloading forever stays in bounds.
"""

from __future__ import annotations

import bisect


class RangeAllocator:
    """Hand out aligned [start, start+size) ranges from [base, base+size)."""

    def __init__(self, base: int, size: int, granule: int) -> None:
        self.base = base
        self.limit = base + size
        self.granule = granule
        # Sorted, non-overlapping, coalesced free ranges as (start, end).
        self._free: list[tuple[int, int]] = [(base, base + size)]
        self._used: dict[int, int] = {}

    def _round(self, size: int) -> int:
        g = self.granule
        return max(g, (size + g - 1) // g * g)

    def allocate(self, size: int, align: int = 0) -> int | None:
        """Return the start of a free range of ``size`` bytes, or None if full."""
        size = self._round(size)
        align = max(align, self.granule)
        for i, (start, end) in enumerate(self._free):
            aligned = (start + align - 1) // align * align
            if aligned + size > end:
                continue
            pieces = []
            if aligned > start:
                pieces.append((start, aligned))
            if aligned + size < end:
                pieces.append((aligned + size, end))
            self._free[i : i + 1] = pieces
            self._used[aligned] = size
            return aligned
        return None

    def free(self, start: int) -> int:
        """Release the range that starts at ``start``; return its size."""
        size = self._used.pop(start)
        end = start + size
        i = bisect.bisect_left(self._free, (start, end))
        # Merge with the neighbours so fragmentation cannot accumulate.
        if i < len(self._free) and self._free[i][0] == end:
            end = self._free.pop(i)[1]
        if i > 0 and self._free[i - 1][1] == start:
            start = self._free.pop(i - 1)[0]
            i -= 1
        self._free.insert(i, (start, end))
        return size

    def size_of(self, start: int) -> int | None:
        """Size of the used range starting at ``start``, or None."""
        return self._used.get(start)

    @property
    def used_bytes(self) -> int:
        """Total bytes currently handed out."""
        return sum(self._used.values())

    def snapshot(self) -> tuple[list[tuple[int, int]], dict[int, int]]:
        """Copy of the allocator state (for Kernel.snapshot)."""
        return list(self._free), dict(self._used)

    def restore(self, state: tuple[list[tuple[int, int]], dict[int, int]]) -> None:
        """Put back a state taken with :meth:`snapshot`."""
        self._free, self._used = list(state[0]), dict(state[1])
