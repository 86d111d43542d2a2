"""Asynchronous notification lists (fs/fcntl.c), Linux 6.1 i386: ``fasync_helper`` and ``kill_fasync``.

A driver's ``fasync`` file operation keeps a list of ``struct fasync_struct``
(20 bytes here: fa_lock 0, magic 4 = 0x4601, fa_fd 8, fa_next 12, fa_file
16) for the files that asked for SIGIO (``fcntl(F_SETFL, O_ASYNC)``), and
calls ``kill_fasync`` when data arrives. There are no processes to signal in
the sandbox, so each signal a list would send is a ``fasync`` trace note
(file, signal, band) and is counted in :class:`FasyncSignals`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_stubs.memory import allocate, release
from sandbox.services import service

from . import vfs
from .registrations import ENOMEM

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

FASYNC_MAGIC, FASYNC = 0x4601, 0o20000
FASYNC_SIZE = 20
FA_MAGIC, FA_FD, FA_NEXT, FA_FILE = 4, 8, 12, 16


class FasyncSignals:
    """Signals the fasync lists would have sent: (file, signal, band), oldest first."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, int]] = []

    def clone(self) -> FasyncSignals:
        """A copy for snapshots."""
        twin = FasyncSignals()
        twin.sent = list(self.sent)
        return twin


def _entries(k: Kernel, head: int) -> list[int]:
    entries, entry = [], k.memory.read_u32(head)
    while entry and len(entries) < 4096:
        entries.append(entry)
        entry = k.memory.read_u32(entry + FA_NEXT)
    return entries


@service("int fasync_helper(int fd, struct file *filp, int on, struct fasync_struct **fapp)")
def fasync_helper(k: Kernel, fd: int, filp: int, on: int, fapp: int) -> int:
    """Add (``on``) or remove the file's entry on the list: 1 if the list changed, 0 if not, -ENOMEM."""
    flags = k.memory.read_u32(filp + vfs.F_FLAGS)
    link = fapp
    while entry := k.memory.read_u32(link):
        if k.memory.read_u32(entry + FA_FILE) == filp:
            if on:
                k.memory.write_u32(entry + FA_FD, fd)  # already there: only the fd changes
                return 0
            k.memory.write_u32(link, k.memory.read_u32(entry + FA_NEXT))
            release(k, entry)
            k.memory.write_u32(filp + vfs.F_FLAGS, flags & ~FASYNC)
            return 1
        link = entry + FA_NEXT
    if not on:
        return 0
    entry = allocate(k, FASYNC_SIZE, owner="kernel")
    if not entry:
        return -ENOMEM
    k.memory.write_u32(entry + FA_MAGIC, FASYNC_MAGIC)
    k.memory.write_u32(entry + FA_FD, fd)
    k.memory.write_u32(entry + FA_FILE, filp)
    k.memory.write_u32(entry + FA_NEXT, k.memory.read_u32(fapp))
    k.memory.write_u32(fapp, entry)
    k.memory.write_u32(filp + vfs.F_FLAGS, flags | FASYNC)
    return 1


@service("void kill_fasync(struct fasync_struct **fp, int sig, int band)")
def kill_fasync(k: Kernel, fp: int, sig: int, band: int) -> None:
    """Signal every file on the list (recorded: no processes here)."""
    if not fp:
        return
    signals = k.subsystem(FasyncSignals)
    for entry in _entries(k, fp):
        file = k.memory.read_u32(entry + FA_FILE)
        signals.sent.append((file, sig, band))
        k.note("fasync", file=file, fd=k.memory.read_u32(entry + FA_FD), signal=sig, band=band)
