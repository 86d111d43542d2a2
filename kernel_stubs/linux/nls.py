"""Native language support tables (fs/nls/nls_base.c), Linux 6.1 i386.

The ``nls_*.ko`` modules register a ``struct nls_table``: the charset's
name, its uni2char/char2uni converters and case tables. Filesystems find a
table by name with ``load_nls``. ``struct nls_table`` (i386): charset 0,
alias 4, uni2char 8, char2uni 12, charset2lower 16, charset2upper 20,
owner 24, next 28.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import EBUSY, EINVAL, Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

CHARSET, ALIAS, UNI2CHAR, CHAR2UNI, LOWER, UPPER, OWNER, NEXT = 0, 4, 8, 12, 16, 20, 24, 28


class NlsTables(Registry):
    """Registered tables, newest first in Linux's list (``tables``)."""

    def relink(self, k: Kernel) -> None:
        """Rewrite the guest ``next`` chain to match the registry (newest first), as Linux's list."""
        order = list(reversed(self.entries))
        for address, following in zip(order, [*order[1:], 0]):
            k.memory.write_u32(address + NEXT, following)



@service("int __register_nls(struct nls_table *nls, struct module *owner)")
def __register_nls(k: Kernel, nls: int, owner: int) -> int:
    """register_nls(): -EBUSY if the table is already on the list."""
    tables = k.subsystem(NlsTables)
    if k.memory.read_u32(nls + NEXT) or nls in tables.entries:
        return -EBUSY
    mem = k.memory
    k.memory.write_u32(nls + OWNER, owner)
    entry = tables.add(k, "nls table", nls, guest_string(k, mem.read_u32(nls + CHARSET), 64),
                       uni2char=mem.read_u32(nls + UNI2CHAR), char2uni=mem.read_u32(nls + CHAR2UNI),
                       charset2lower=mem.read_u32(nls + LOWER), charset2upper=mem.read_u32(nls + UPPER))
    alias = mem.read_u32(nls + ALIAS)
    if alias:
        entry.fields["alias"] = alias
    tables.relink(k)
    return 0


@service("int unregister_nls(struct nls_table *nls)")
def unregister_nls(k: Kernel, nls: int) -> int:
    """Take a table off the list: 0, or -EINVAL if it was not on it."""
    tables = k.subsystem(NlsTables)
    if tables.remove(k, nls, "nls table") is None:
        return -EINVAL
    k.memory.write_u32(nls + NEXT, 0)
    tables.relink(k)
    return 0


@service("struct nls_table *load_nls(const char *charset)")
def load_nls(k: Kernel, charset: int) -> int:
    """The registered table for ``charset`` (by name or alias), else NULL.

    Linux would also try request_module("nls_<charset>"); here only loaded
    tables count.
    """
    name = guest_string(k, charset, 64)
    tables = k.subsystem(NlsTables)
    for address, entry in reversed(tables.entries.items()):
        alias = entry.fields.get("alias")
        if entry.name == name or (alias and guest_string(k, alias, 64) == name):
            return address
    return 0


@service("void unload_nls(struct nls_table *nls)")
def unload_nls(k: Kernel, nls: int) -> None:
    """Drop the module reference load_nls took (references are not counted here)."""
