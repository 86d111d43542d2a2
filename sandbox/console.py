"""The kernel log: what printk (or a profile's own log service) wrote."""

from __future__ import annotations

# Characters of log a kernel keeps by default (the newest); like the kernel's
# own ring buffer, older text goes first.
DEFAULT_CONSOLE_LIMIT = 4 << 20


class Console:
    """Kernel log text in order, each piece with its log level (None: no level given).

    At most ``limit`` characters are kept (None: no limit): past a quarter
    more, the oldest pieces go, counted in :attr:`dropped_chars` and
    :attr:`dropped_records`; :attr:`text` then starts with a line saying so.
    """

    def __init__(self, limit: int | None = DEFAULT_CONSOLE_LIMIT) -> None:
        self._pieces: list[str] = []
        self.records: list[tuple[int | None, str]] = []
        self._size = 0
        self.dropped_chars = 0
        self.dropped_records = 0
        if limit is not None and limit < 0:
            raise ValueError(f"console limit must be >= 0, not {limit}")
        self.limit = limit
        self._high = float("inf") if limit is None else limit + max(limit // 4, 1)

    def write(self, text: str, level: int | None = None) -> None:
        """Append ``text`` at ``level``."""
        self._pieces.append(text)
        self.records.append((level, text))
        self._size += len(text)
        if self._size > self._high:
            self._trim()

    def _trim(self) -> None:
        limit = self.limit or 0
        cut = 0
        size = self._size
        while size > limit and cut < len(self._pieces):
            size -= len(self._pieces[cut])
            cut += 1
        self.dropped_chars += self._size - size
        self.dropped_records += cut
        self._size = size
        del self._pieces[:cut]
        del self.records[:cut]

    @property
    def text(self) -> str:
        """Everything written (that is still kept), as one string."""
        kept = "".join(self._pieces)
        if self.dropped_chars:
            return f"[... {self.dropped_chars} characters of older log dropped ...]\n{kept}"
        return kept

    def save(self) -> int:
        """How much has been written, for :meth:`restore`."""
        return self.dropped_records + len(self.records)

    def restore(self, count: int) -> None:
        """Forget what was written after :meth:`save`."""
        keep = count - self.dropped_records
        if keep < 0:  # everything kept came after the snapshot
            keep, self.dropped_records = 0, count
        del self._pieces[keep:]
        del self.records[keep:]
        self._size = sum(map(len, self._pieces))
