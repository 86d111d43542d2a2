"""The kernel log: what printk (or a profile's own log service) wrote."""

from __future__ import annotations


class Console:
    """Kernel log text in order, each piece with its log level (None: no level given)."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self.records: list[tuple[int | None, str]] = []

    def write(self, text: str, level: int | None = None) -> None:
        """Append ``text`` at ``level``."""
        self._pieces.append(text)
        self.records.append((level, text))

    @property
    def text(self) -> str:
        """Everything written, as one string."""
        return "".join(self._pieces)

    def save(self) -> int:
        """How much has been written, for :meth:`restore`."""
        return len(self.records)

    def restore(self, count: int) -> None:
        """Forget what was written after :meth:`save`."""
        del self._pieces[count:]
        del self.records[count:]
