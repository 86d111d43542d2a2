"""rc-core's keymap registry (drivers/media/rc/rc-map.c), Linux 6.1 i386.

The ``rc-*.ko`` keymap modules only register a scancode → keycode table
with rc-core; an IR receiver driver later looks it up by name. rc-core.ko
exports these itself: the services stand in for it until it is loaded.

Layout (6.1 i386, checked against rc-rc6-mce.ko's data and relocations):
``struct rc_map_list`` = list_head (0), ``struct rc_map`` (8): scan 8,
size 12, len 16, alloc 20, rc_proto 24, name 28. ``struct rc_map_table``
is 12 bytes: u64 scancode, u32 keycode (u64 is 4-aligned on i386).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import Registry, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

MAP = 8
SCAN, SIZE, RC_PROTO, NAME = MAP + 0, MAP + 4, MAP + 16, MAP + 20
TABLE_ENTRY = 12


class Keymaps(Registry):
    """Registered ``struct rc_map_list`` keymaps, by address."""

    def table(self, k: Kernel, name: str) -> dict[int, int]:
        """The keymap called ``name`` as {scancode: keycode}, read from guest memory."""
        entry = self.find(name, "keymap")
        if entry is None:
            raise KeyError(name)
        scan, size = entry.fields["scan"], entry.fields["size"]
        raw = k.memory.read(scan, size * TABLE_ENTRY) if size else b""
        return {int.from_bytes(raw[i:i + 8], "little"): int.from_bytes(raw[i + 8:i + 12], "little")
                for i in range(0, len(raw), TABLE_ENTRY)}


@service("int rc_map_register(struct rc_map_list *map)", provided_by="rc_core")
def rc_map_register(k: Kernel, map_list: int) -> int:
    """Add a keymap to rc-core's list (never fails in Linux)."""
    mem = k.memory
    k.subsystem(Keymaps).add(k, "keymap", map_list, guest_string(k, mem.read_u32(map_list + NAME)),
                             scan=mem.read_u32(map_list + SCAN), size=mem.read_u32(map_list + SIZE),
                             rc_proto=mem.read_u32(map_list + RC_PROTO))
    return 0


@service("void rc_map_unregister(struct rc_map_list *map)", provided_by="rc_core")
def rc_map_unregister(k: Kernel, map_list: int) -> None:
    """Take a keymap off the list."""
    k.subsystem(Keymaps).remove(k, map_list, "keymap")


@service("struct rc_map *rc_map_get(const char *name)", provided_by="rc_core")
def rc_map_get(k: Kernel, name: int) -> int:
    """The registered map called ``name`` (its embedded ``struct rc_map``), else NULL.

    Linux first tries request_module(name); here only loaded keymaps count.
    """
    entry = k.subsystem(Keymaps).find(guest_string(k, name), "keymap")
    return entry.address + MAP if entry is not None else 0
