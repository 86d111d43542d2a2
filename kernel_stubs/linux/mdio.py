"""The built-in corner of the MDIO core, Linux 6.1 (drivers/net/phy/mdio-boardinfo.c).

libphy.ko (CONFIG_PHYLIB=m in Debian's 686 kernel) holds the MDIO bus and
PHY core; only the board-info list is built in, because platform code
registers MDIO devices there at boot, before any module loads.
``__mdiobus_register`` asks for the entries naming its bus and creates an
``mdio_device`` for each through the callback it passes.

A PC has no board files, so the list starts empty; :func:`add_board_info`
plays the board code's part from Python (a ``struct mdio_board_info`` in
kernel memory, kept for the kernel's lifetime as the __initdata copy Linux
keeps), for tests that want a device on a bus a driver registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.services import service

from .layout import Fields, offset, size
from .registrations import guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

MDIO_NAME_SIZE = 32
MII_BUS_ID = offset("mii_bus", "id")
MII_BUS_ID_SIZE = 61


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """One ``struct mdio_board_info`` on the list."""

    address: int  # the struct in kernel memory
    bus_id: str
    modalias: str
    mdio_addr: int


class MdioBoards:
    """``mdio_board_list``: board infos in the order registered."""

    def __init__(self) -> None:
        self.entries: list[BoardInfo] = []

    def clone(self) -> MdioBoards:
        """A copy for snapshots (the structs themselves live in guest memory)."""
        twin = MdioBoards()
        twin.entries = list(self.entries)
        return twin


def add_board_info(k: Kernel, bus_id: str, modalias: str, mdio_addr: int) -> int:
    """mdiobus_register_board_info for one device: the ``struct mdio_board_info`` made."""
    if not 0 <= mdio_addr < 32:
        raise ValueError(f"an MDIO address is 0..31, not {mdio_addr}")
    if len(modalias.encode()) >= MDIO_NAME_SIZE or len(bus_id.encode()) >= MII_BUS_ID_SIZE:
        raise ValueError(f"modalias {modalias!r} or bus id {bus_id!r} too long for struct mdio_board_info")
    info = k.memory.alloc(size("mdio_board_info"))
    name = k.memory.alloc(len(bus_id) + 1)
    k.memory.write(name, bus_id.encode() + b"\0")
    f = Fields(k.memory, "mdio_board_info", info)
    f["bus_id"] = name
    k.memory.write(f.address_of("modalias"), modalias.encode().ljust(MDIO_NAME_SIZE, b"\0"))
    f["mdio_addr"] = mdio_addr
    k.subsystem(MdioBoards).entries.append(BoardInfo(info, bus_id, modalias, mdio_addr))
    return info


@service("int mdiobus_setup_mdiodev_from_board_info(struct mii_bus *bus, "
         "int (*cb)(struct mii_bus *bus, struct mdio_board_info *bi))")
def mdiobus_setup_mdiodev_from_board_info(k: Kernel, bus: int, cb: int) -> int:
    """Call ``cb`` for each board info naming ``bus->id``; always 0 (a failing callback skips its entry)."""
    bus_id = guest_string(k, bus + MII_BUS_ID, MII_BUS_ID_SIZE)
    for entry in list(k.subsystem(MdioBoards).entries):
        if entry.bus_id == bus_id:
            k.call_function_pointer(cb, bus, entry.address)
    return 0
