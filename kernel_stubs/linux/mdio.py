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

:func:`register_bus` puts PHY models (:class:`PhyModel`: the 32 MII
registers of Clause 22, IDs in PHYSID1/2, a page register for vendors that
page) on an MDIO bus registered through the real libphy
(``mdiobus_alloc_size`` + ``__mdiobus_register``): libphy scans the bus
through the bus's ``read``/``write`` (services answering from the models),
creates a ``phy_device`` for each ID it finds and binds the PHY driver that
matches it, as an Ethernet driver's own MDIO bus does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.errors import SandboxError
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


# -- an MDIO bus of PHY models, registered through libphy -------------------------------------------
MII_BMCR, MII_BMSR, MII_PHYSID1, MII_PHYSID2, MII_ADVERTISE, MII_LPA, MII_ESTATUS = 0, 1, 2, 3, 4, 5, 15
BMSR_100FULL_10FULL_ANEG_LINK = 0x7849 | 0x0004 | 0x0020 | 0x0100  # 10/100 abilities, aneg, link, ext. status
NO_DEVICE = 0xFFFF  # what a Clause 22 read of an empty address returns


@dataclass
class PhyModel:
    """A Clause 22 PHY: its 32-bit ID and registers (with ``page_register``, per page, as Marvell pages them)."""

    phy_id: int
    page_register: int | None = None
    registers: dict[tuple[int, int], int] = field(default_factory=dict)
    writes: list[tuple[int, int]] = field(default_factory=list)  # (register, value), in order

    def __post_init__(self) -> None:
        for reg, value in ((MII_BMCR, 0x1140), (MII_BMSR, BMSR_100FULL_10FULL_ANEG_LINK),
                           (MII_PHYSID1, self.phy_id >> 16), (MII_PHYSID2, self.phy_id & 0xFFFF),
                           (MII_ADVERTISE, 0x01E1), (MII_LPA, 0x45E1), (MII_ESTATUS, 0x3000)):
            self.registers.setdefault((0, reg), value)

    @property
    def page(self) -> int:
        """The page selected (0 without a page register)."""
        return self.registers.get((0, self.page_register), 0) if self.page_register is not None else 0

    def read(self, reg: int) -> int:
        """A register as the PHY answers it (0 for one never written)."""
        if reg == self.page_register:
            return self.page
        return self.registers.get((self.page, reg), self.registers.get((0, reg), 0) if self.page else 0)

    def write(self, reg: int, value: int) -> None:
        """Store a register (BMCR's self-clearing reset bit reads back clear)."""
        self.writes.append((reg, value))
        if reg == self.page_register:
            self.registers[(0, reg)] = value
            return
        self.registers[(self.page, reg)] = value & ~0x8000 if reg == MII_BMCR else value


class MdioBuses:
    """The PHY models of the buses :func:`register_bus` made, by ``struct mii_bus``."""

    def __init__(self) -> None:
        self.buses: dict[int, dict[int, PhyModel]] = {}

    def clone(self) -> MdioBuses:
        """A copy for snapshots (the models are shared: they hold device state, like other models)."""
        twin = MdioBuses()
        twin.buses = {bus: dict(phys) for bus, phys in self.buses.items()}
        return twin


def _model(k: Kernel, bus: int, addr: int) -> PhyModel | None:
    return k.subsystem(MdioBuses).buses.get(bus, {}).get(addr)


@service("int sandbox_mdio_read(struct mii_bus *bus, int addr, int regnum)")
def sandbox_mdio_read(k: Kernel, bus: int, addr: int, regnum: int) -> int:
    """The model bus's ``read``: the PHY's register, 0xffff where no PHY answers."""
    phy = _model(k, bus, addr)
    return phy.read(regnum & 0x1F) if phy is not None else NO_DEVICE


@service("int sandbox_mdio_write(struct mii_bus *bus, int addr, int regnum, u16 val)")
def sandbox_mdio_write(k: Kernel, bus: int, addr: int, regnum: int, val: int) -> int:
    """The model bus's ``write``: stored by the PHY at ``addr`` (ignored where there is none)."""
    phy = _model(k, bus, addr)
    if phy is not None:
        phy.write(regnum & 0x1F, val & 0xFFFF)
    return 0


def register_bus(kernel: Kernel, bus_id: str, phys: dict[int, PhyModel], name: str = "sandbox MDIO bus") -> int:
    """An MDIO bus with ``phys`` (by address) registered through libphy (which must be loaded);
    the ``struct mii_bus``. Each PHY found gets a phy_device bound to the driver matching its ID."""
    libphy = next((m for m in kernel.modules if m.name == "libphy"), None)
    if libphy is None:
        raise SandboxError("register_bus needs libphy.ko loaded (k.modprobe('libphy', tree))")
    if len(bus_id.encode()) >= MII_BUS_ID_SIZE or not all(0 <= a < 32 for a in phys):
        raise ValueError(f"bus id {bus_id!r} too long, or a PHY address outside 0..31 in {sorted(phys)}")
    k = kernel.service_context
    bus = libphy.call("mdiobus_alloc_size", 0) & 0xFFFFFFFF
    if not bus:
        raise SandboxError("mdiobus_alloc_size failed")
    label = k.memory.alloc(len(name) + 1)
    k.memory.write(label, name.encode() + b"\0")
    f = Fields(k.memory, "mii_bus", bus)
    f["name"] = label
    k.memory.write(bus + MII_BUS_ID, bus_id.encode().ljust(MII_BUS_ID_SIZE, b"\0"))
    f["read"] = k.export_address("sandbox_mdio_read") or 0
    f["write"] = k.export_address("sandbox_mdio_write") or 0
    f["phy_mask"] = ~sum(1 << a for a in phys) & 0xFFFFFFFF  # scan only where models sit
    k.subsystem(MdioBuses).buses[bus] = dict(phys)
    result = libphy.call("__mdiobus_register", bus, 0)
    if result:
        k.subsystem(MdioBuses).buses.pop(bus, None)
        raise SandboxError(f"__mdiobus_register of {bus_id} failed with {result}")
    return bus


def phy_device(kernel: Kernel, bus: int, addr: int) -> int:
    """The ``struct phy_device`` libphy created at ``addr`` of ``bus`` (``bus->mdio_map[addr]``), or 0."""
    return kernel.memory.read_u32(bus + offset("mii_bus", "mdio_map") + 4 * addr)
