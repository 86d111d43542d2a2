"""What modules register with the kernel's subsystems, and who still holds what.

Every registration service (keymaps, filesystems, netfilter matches, NLS
tables, ...) records the struct a module handed over in a per-subsystem
:class:`Registry`: tests find the module's callbacks there, and anything a
module leaves registered is reported as a leak when it unloads, as
``drivers.py`` does for bus drivers. Each subsystem subclasses Registry so
that ``k.subsystem(Cls)`` gives it a table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

R = TypeVar("R", bound="Registry")
A = TypeVar("A")

EPERM, ENOENT, EIO, ENOMEM, EBUSY, EEXIST, ENODEV, EINVAL, ENOSPC = 1, 2, 5, 12, 16, 17, 19, 22, 28
MAX_ERRNO = 4095


def err_ptr(errno: int) -> int:
    """ERR_PTR(-errno) as a 32-bit pointer."""
    return (-errno) & 0xFFFFFFFF


def is_err(pointer: int) -> bool:
    """IS_ERR(): the top 4095 addresses are error codes."""
    return pointer & 0xFFFFFFFF >= (1 << 32) - MAX_ERRNO


def owner_name(k: Kernel) -> str:
    """The module making the current service call, or ``"kernel"``."""
    module = k.caller_module()
    return module.name if module is not None else "kernel"


def attached(k: Kernel, cls: type[A]) -> A:
    """The kernel's ``cls`` subsystem, after its ``attach(k)`` (a bus core hooking its host bus once)."""
    core = k.subsystem(cls)
    core.attach(k)  # type: ignore[attr-defined]
    return core


def guest_string(k: Kernel, address: int, limit: int = 256) -> str:
    """A C string from guest memory ("" for NULL)."""
    if not address:
        return ""
    return k.memory.read_cstring(address, limit).decode("utf-8", "replace")


MAX_ID_ENTRIES = 1024  # an id table without its empty terminator ends here


def match_name_table(k: Kernel, table: int, entry_size: int, name_size: int, name: str) -> int:
    """The entry of a name-keyed id table (``platform_device_id``, ``i2c_device_id``,
    ``spi_device_id``: ``char name[name_size]`` first) whose name is ``name``; 0 if none, the
    table ending at its empty entry as the bus cores' match loops end."""
    if not table:
        return 0
    for i in range(MAX_ID_ENTRIES):
        entry = table + i * entry_size
        entry_name = k.memory.read(entry, name_size).split(b"\0", 1)[0].decode("utf-8", "replace")
        if not entry_name:
            return 0
        if entry_name == name:
            return entry
    return 0


@dataclass(slots=True)
class Entry:
    """One struct a module registered."""

    kind: str  # "keymap", "xt_match", "filesystem", ...
    address: int  # the struct the module handed over (the key)
    name: str  # its name as read from guest memory
    owner: str  # the registering module, or "kernel"
    fields: dict[str, int] = field(default_factory=dict)  # callbacks and numbers read from the struct


class Registry:
    """Registrations of one subsystem, keyed by struct address."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}

    def clone(self: R) -> R:
        """A copy for snapshots (entries are copied: their fields dicts are mutable)."""
        twin = type(self)()
        twin.entries = {a: replace(e, fields=dict(e.fields)) for a, e in self.entries.items()}
        return twin

    def add(self, k: Kernel, kind: str, address: int, name: str, /, **fields: int) -> Entry:
        """Record a registration made by the calling module."""
        entry = Entry(kind, address, name, owner_name(k), dict(fields))
        self.entries[address] = entry
        return entry

    def remove(self, k: Kernel, address: int, kind: str | None = None) -> Entry | None:
        """Forget a registration; a note in the trace if there was none."""
        entry = self.entries.get(address)
        if entry is None or (kind is not None and entry.kind != kind):
            k.trace.add("note", "unregister", caller=k.current_caller,
                        fields={"warning": f"{kind or 'struct'} {address:#x} was not registered"})
            return None
        return self.entries.pop(address)

    def find(self, name: str, kind: str | None = None) -> Entry | None:
        """The latest registration called ``name`` (of ``kind``), or None."""
        for entry in reversed(self.entries.values()):
            if entry.name == name and (kind is None or entry.kind == kind):
                return entry
        return None

    def of_kind(self, kind: str) -> list[Entry]:
        """Registrations of one kind, oldest first."""
        return [e for e in self.entries.values() if e.kind == kind]

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """What the module left registered: reported and forgotten."""
        leaks = []
        for address, entry in list(self.entries.items()):
            if entry.owner == module.name:
                leaks.append(f"{entry.kind} {entry.name!r} ({k.symbolizer.short(address)}) still registered")
                del self.entries[address]
        return leaks
