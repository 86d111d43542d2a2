"""Guest ``struct list_head`` operations (include/linux/list.h) for services that keep guest lists.

A ``list_head`` on i386 is ``next`` at 0 and ``prev`` at 4. ``list_del`` here is
``list_del_init`` (the entry points at itself after), and tolerates an entry
that was never added (NULL links), as services unwinding a half-made object need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def list_init(k: Kernel, head: int) -> None:
    """INIT_LIST_HEAD."""
    k.memory.write_u32(head, head)
    k.memory.write_u32(head + 4, head)


def list_add(k: Kernel, new: int, head: int) -> None:
    """list_add: ``new`` right after ``head``."""
    following = k.memory.read_u32(head)
    k.memory.write_u32(new, following)
    k.memory.write_u32(new + 4, head)
    k.memory.write_u32(following + 4, new)
    k.memory.write_u32(head, new)


def list_add_tail(k: Kernel, new: int, head: int) -> None:
    """list_add_tail: ``new`` right before ``head``."""
    list_add(k, new, k.memory.read_u32(head + 4))


def list_del(k: Kernel, entry: int) -> None:
    """list_del_init."""
    following, prev = k.memory.read_u32(entry), k.memory.read_u32(entry + 4)
    if following and prev:
        k.memory.write_u32(following + 4, prev)
        k.memory.write_u32(prev, following)
    list_init(k, entry)
