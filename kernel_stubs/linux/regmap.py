"""Linux 6.1's regmap (drivers/base/regmap/): register maps over I2C, SMBus or a driver's own callbacks, with a cache.

A map is made from a ``struct regmap_config`` (``reg_bits``, ``val_bits``,
``reg_stride``, ``max_register``, the ``readable``/``writeable``/``volatile``/
``precious`` callbacks or access tables, ``val_format_endian``,
``cache_type`` and ``reg_defaults``, ``use_single_read/write``, read/write
flag masks) and a transport:

- ``__regmap_init_i2c``: plain I2C when the adapter can (the register
  written, then a repeated START and the value read, in the configured byte
  order, big-endian by default), else SMBus as regmap-i2c.c picks it
  (I2C block for 8/8, word or byte-swapped word for 8/16, byte data for 8/8);
- ``__regmap_init`` with no bus: the config's ``reg_read``/``reg_write``
  callbacks (or its bulk ``read``/``write``), or a driver's ``struct regmap_bus``.

Reads of a non-volatile register are served by the cache once it holds
the register (any cache type other than REGCACHE_NONE; a flat cache holds
every register from the start), so the chip is not asked again; writes go
through to the chip and the cache (``regcache_cache_only`` keeps them in
the cache, ``regcache_sync`` writes the dirty ones out). Bulk reads of
volatile registers (or without a cache) are one raw transfer, the chip's
auto-increment doing the rest.

``struct regmap`` is private to the kernel: drivers only hold the pointer,
so the map lives here, keyed by a small block standing for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.devices.chardev import signed32
from sandbox.services import service

from ..memory import allocate, release
from .i2c import (
    CLIENT_DEV,
    I2C_FUNC_I2C,
    I2C_FUNC_SMBUS_BYTE_DATA,
    I2C_FUNC_SMBUS_I2C_BLOCK,
    I2C_FUNC_SMBUS_WORD_DATA,
    I2C_M_RD,
    MANAGED_RELEASERS,
    I2cCore,
    _client,
    functionality,
    i2c_smbus_read_byte_data,
    i2c_smbus_read_i2c_block_data,
    i2c_smbus_read_word_data,
    i2c_smbus_write_byte_data,
    i2c_smbus_write_i2c_block_data,
    i2c_smbus_write_word_data,
    run_messages,
)
from .layout import Fields
from .registrations import EINVAL, ENOMEM, err_ptr, guest_string, is_err, owner_name

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module

EIO, EBUSY, ENOTSUPP = 5, 16, 524
REGCACHE_NONE, REGCACHE_RBTREE, REGCACHE_COMPRESSED, REGCACHE_FLAT = 0, 1, 2, 3
REGMAP_ENDIAN_DEFAULT, REGMAP_ENDIAN_BIG, REGMAP_ENDIAN_LITTLE, REGMAP_ENDIAN_NATIVE = 0, 1, 2, 3
HANDLE_SIZE = 16  # the block standing for struct regmap
MAX_REGISTERS = 1 << 16  # the sandbox's bound on one map's cache and on one bulk access


class RegmapError(Exception):
    """An access failed with ``-errno`` (internal: services return the number)."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


@dataclass(slots=True)
class Regmap:
    """One register map: its configuration, transport and cache."""

    handle: int
    dev: int
    owner: str
    name: str
    reg_bits: int
    val_bits: int
    pad_bits: int = 0
    reg_stride: int = 1
    max_register: int = 0
    reg_base: int = 0
    reg_downshift: int = 0
    callbacks: dict[str, int] = field(default_factory=dict)  # readable_reg, writeable_reg, volatile_reg, ...
    tables: dict[str, int] = field(default_factory=dict)  # wr_table, rd_table, volatile_table, ...
    cache_type: int = REGCACHE_NONE
    cache: dict[int, int] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    cache_only: bool = False
    cache_bypass: bool = False
    val_endian: str = "big"
    reg_endian: str = "big"
    use_single_read: bool = False
    use_single_write: bool = False
    read_flag_mask: int = 0
    write_flag_mask: int = 0
    max_raw_read: int = 0
    max_raw_write: int = 0
    lock: int = 0
    unlock: int = 0
    lock_arg: int = 0
    transport: str = "i2c"  # i2c, smbus_byte, smbus_word, smbus_word_swapped, smbus_i2c_block, callbacks, bus
    client: int = 0
    context: int = 0
    bus: int = 0
    hardware_reads: int = 0
    hardware_writes: int = 0
    patch: list[tuple[int, int]] = field(default_factory=list)

    @property
    def val_bytes(self) -> int:
        """Bytes per value (val_bits rounded up)."""
        return (self.val_bits + 7) // 8

    @property
    def reg_bytes(self) -> int:
        """Bytes of a formatted register address."""
        return (self.reg_bits + 7) // 8

    @property
    def raw(self) -> bool:
        """Whether the transport moves formatted bytes (bulk reads in one transfer are possible)."""
        return self.transport in ("i2c", "smbus_i2c_block", "bus_raw", "config_raw")


class RegmapCore:
    """The register maps of one kernel, by handle."""

    def __init__(self) -> None:
        self.maps: dict[int, Regmap] = {}

    def release_module(self, k: Kernel, module: Module) -> list[str]:
        """Maps a module made without devm_ and did not regmap_exit."""
        leaks = []
        for regmap in [m for m in self.maps.values() if m.owner == module.name]:
            leaks.append(f"regmap {regmap.name or hex(regmap.handle)} still allocated")
            self.remove(k, regmap.handle)
        return leaks

    def remove(self, k: Kernel, handle: int) -> None:
        """regmap_exit: forget the map and free its handle."""
        if self.maps.pop(handle, None) is not None:
            release(k, handle)


MANAGED_RELEASERS["regmap"] = lambda k, handle: k.subsystem(RegmapCore).remove(k, handle)


def _endian(value: int, default: str) -> str:
    return {REGMAP_ENDIAN_BIG: "big", REGMAP_ENDIAN_LITTLE: "little", REGMAP_ENDIAN_NATIVE: "little"}.get(value,
                                                                                                          default)


# -- the rules --------------------------------------------------------------------------------------

def _in_table(k: Kernel, table: int, reg: int) -> bool:
    """regmap_check_range_table: not in a no-range, and in a yes-range if there are any."""
    fields = Fields(k.memory, "regmap_access_table", table)

    def ranges(pointer: int, count: int) -> bool:
        for i in range(min(count, 4096)):
            r = Fields(k.memory, "regmap_range", pointer + 8 * i)
            if r["range_min"] <= reg <= r["range_max"]:
                return True
        return False

    if ranges(fields["no_ranges"], fields["n_no_ranges"]):
        return False
    if not fields["n_yes_ranges"]:
        return True
    return ranges(fields["yes_ranges"], fields["n_yes_ranges"])


def _ask(k: Kernel, regmap: Regmap, callback: str, reg: int) -> bool:
    return bool(k.call_function_pointer(regmap.callbacks[callback], regmap.dev, reg) & 0xFF)


def readable(k: Kernel, regmap: Regmap, reg: int) -> bool:
    """regmap_readable."""
    if regmap.max_register and reg > regmap.max_register:
        return False
    if regmap.callbacks.get("readable_reg"):
        return _ask(k, regmap, "readable_reg", reg)
    if regmap.tables.get("rd_table"):
        return _in_table(k, regmap.tables["rd_table"], reg)
    return True


def writeable(k: Kernel, regmap: Regmap, reg: int) -> bool:
    """regmap_writeable."""
    if regmap.max_register and reg > regmap.max_register:
        return False
    if regmap.callbacks.get("writeable_reg"):
        return _ask(k, regmap, "writeable_reg", reg)
    if regmap.tables.get("wr_table"):
        return _in_table(k, regmap.tables["wr_table"], reg)
    return True


def volatile(k: Kernel, regmap: Regmap, reg: int) -> bool:
    """regmap_volatile: uncached registers (all of them without a cache)."""
    if not readable(k, regmap, reg):
        return False
    if regmap.callbacks.get("volatile_reg"):
        return _ask(k, regmap, "volatile_reg", reg)
    if regmap.tables.get("volatile_table"):
        return _in_table(k, regmap.tables["volatile_table"], reg)
    return regmap.cache_type == REGCACHE_NONE


def readable_noinc(k: Kernel, regmap: Regmap, reg: int) -> bool:
    """regmap_readable_noinc: a FIFO-like register read many times in place."""
    if regmap.callbacks.get("readable_noinc_reg"):
        return _ask(k, regmap, "readable_noinc_reg", reg)
    if regmap.tables.get("rd_noinc_table"):
        return _in_table(k, regmap.tables["rd_noinc_table"], reg)
    return True


# -- the wire -----------------------------------------------------------------------------------------

def _format_reg(regmap: Regmap, reg: int, flag_mask: int) -> bytes:
    reg = (reg + regmap.reg_base) >> regmap.reg_downshift
    data = bytearray(reg.to_bytes(regmap.reg_bytes, regmap.reg_endian))
    mask = flag_mask.to_bytes(4, "little")
    for i in range(regmap.reg_bytes):  # regmap_set_work_buf_flag_mask: the mask's bytes over the first ones
        data[i] |= mask[i] if i < 4 else 0
    return bytes(data) + bytes(regmap.pad_bits // 8)


def _format_val(regmap: Regmap, value: int) -> bytes:
    return (value & ((1 << (8 * regmap.val_bytes)) - 1)).to_bytes(regmap.val_bytes, regmap.val_endian)


def _parse_vals(regmap: Regmap, data: bytes) -> list[int]:
    width = regmap.val_bytes
    return [int.from_bytes(data[i:i + width], regmap.val_endian) for i in range(0, len(data), width)]


def _trace(k: Kernel, regmap: Regmap, op: str, reg: int, value: int | bytes, source: str) -> None:
    shown = value.hex(" ") if isinstance(value, bytes) else f"{value:#x}"
    k.trace.add("note", "regmap", caller=k.current_caller,
                fields={"map": regmap.name or f"{regmap.handle:#x}", "op": op, "reg": reg, "value": shown,
                        "source": source})


def _check(result: int) -> None:
    if result < 0:
        raise RegmapError(-result)


def _i2c_addr(k: Kernel, regmap: Regmap) -> tuple[int, int]:
    fields = Fields(k.memory, "i2c_client", regmap.client)
    return fields["addr"], fields["flags"] & 0x10  # I2C_M_TEN rides along


def bus_raw_read(k: Kernel, regmap: Regmap, reg: int, length: int) -> bytes:
    """The transport's raw read: the formatted register, then ``length`` bytes of values."""
    regmap.hardware_reads += 1
    header = _format_reg(regmap, reg, regmap.read_flag_mask)
    if regmap.transport == "i2c":
        from sandbox.devices.i2c import I2cMessage

        addr, ten = _i2c_addr(k, regmap)
        _record, adapter = _client(k, regmap.client)
        messages = [I2cMessage(addr, ten, header), I2cMessage(addr, ten | I2C_M_RD, b"", length)]
        result = run_messages(k, adapter, messages)
        _check(result if result < 0 else 0 if result == 2 else -EIO)
        return messages[1].data[:length]
    if regmap.transport == "smbus_i2c_block":
        got = bytearray()
        while len(got) < length:
            chunk = min(32, length - len(got))
            scratch = allocate(k, chunk, owner="kernel")
            try:
                result = i2c_smbus_read_i2c_block_data(k, regmap.client, (reg + len(got)) & 0xFF, chunk, scratch)
                _check(result)
                if result != chunk:
                    raise RegmapError(EIO)
                got += k.memory.read(scratch, chunk)
            finally:
                release(k, scratch)
        return bytes(got)
    reader = Fields(k.memory, "regmap_bus", regmap.bus)["read"] if regmap.transport == "bus_raw" else \
        Fields(k.memory, "regmap_config", regmap.bus)["read"]
    scratch = allocate(k, len(header) + length, owner="kernel")
    try:
        k.memory.write(scratch, header)
        _check(signed32(k.call_function_pointer(reader, regmap.context, scratch, len(header), scratch + len(header),
                                                length)))
        return k.memory.read(scratch + len(header), length)
    finally:
        release(k, scratch)


def bus_raw_write(k: Kernel, regmap: Regmap, reg: int, data: bytes) -> None:
    """The transport's raw write: the formatted register and the value bytes in one message."""
    regmap.hardware_writes += 1
    header = _format_reg(regmap, reg, regmap.write_flag_mask)
    if regmap.transport == "i2c":
        from sandbox.devices.i2c import I2cMessage

        addr, ten = _i2c_addr(k, regmap)
        _record, adapter = _client(k, regmap.client)
        result = run_messages(k, adapter, [I2cMessage(addr, ten, header + data)])
        _check(result if result < 0 else 0 if result == 1 else -EIO)
        return
    if regmap.transport == "smbus_i2c_block":
        scratch = allocate(k, max(len(data), 1), owner="kernel")
        try:
            k.memory.write(scratch, data)
            _check(i2c_smbus_write_i2c_block_data(k, regmap.client, reg & 0xFF, len(data), scratch))
        finally:
            release(k, scratch)
        return
    writer = Fields(k.memory, "regmap_bus", regmap.bus)["write"] if regmap.transport == "bus_raw" else \
        Fields(k.memory, "regmap_config", regmap.bus)["write"]
    scratch = allocate(k, len(header) + len(data), owner="kernel")
    try:
        k.memory.write(scratch, header + data)
        _check(signed32(k.call_function_pointer(writer, regmap.context, scratch, len(header) + len(data))))
    finally:
        release(k, scratch)


def hardware_read(k: Kernel, regmap: Regmap, reg: int) -> int:
    """One register from the chip (map->reg_read)."""
    if regmap.raw:
        value = _parse_vals(regmap, bus_raw_read(k, regmap, reg, regmap.val_bytes))[0]
    else:
        regmap.hardware_reads += 1
        if regmap.transport == "smbus_byte":
            if reg > 0xFF:
                raise RegmapError(EINVAL)
            result = i2c_smbus_read_byte_data(k, regmap.client, reg)
        elif regmap.transport in ("smbus_word", "smbus_word_swapped"):
            if reg > 0xFF:
                raise RegmapError(EINVAL)
            result = i2c_smbus_read_word_data(k, regmap.client, reg)
            if result >= 0 and regmap.transport == "smbus_word_swapped":
                result = ((result & 0xFF) << 8) | (result >> 8)
        else:  # callbacks: config->reg_read or bus->reg_read
            reader = regmap.callbacks["reg_read"]
            scratch = allocate(k, 4, owner="kernel")
            try:
                result = signed32(k.call_function_pointer(reader, regmap.context, reg, scratch))
                if result >= 0:
                    result = k.memory.read_u32(scratch)
            finally:
                release(k, scratch)
        _check(result)
        value = result
    _trace(k, regmap, "read", reg, value, "chip")
    return value


def hardware_write(k: Kernel, regmap: Regmap, reg: int, value: int) -> None:
    """One register to the chip (map->reg_write)."""
    _trace(k, regmap, "write", reg, value, "chip")
    if regmap.raw:
        bus_raw_write(k, regmap, reg, _format_val(regmap, value))
        return
    regmap.hardware_writes += 1
    if regmap.transport in ("smbus_byte", "smbus_word", "smbus_word_swapped") and reg > 0xFF:
        raise RegmapError(EINVAL)
    if regmap.transport == "smbus_byte":
        result = i2c_smbus_write_byte_data(k, regmap.client, reg, value)
    elif regmap.transport == "smbus_word":
        result = i2c_smbus_write_word_data(k, regmap.client, reg, value)
    elif regmap.transport == "smbus_word_swapped":
        result = i2c_smbus_write_word_data(k, regmap.client, reg, ((value & 0xFF) << 8) | ((value >> 8) & 0xFF))
    else:
        result = signed32(k.call_function_pointer(regmap.callbacks["reg_write"], regmap.context, reg,
                                                  value & 0xFFFFFFFF))
    _check(result)


# -- the core: _regmap_read / _regmap_write -------------------------------------------------------------

def regmap_read_one(k: Kernel, regmap: Regmap, reg: int) -> int:
    """_regmap_read: the cache if it holds a non-volatile register, else the chip (and the cache learns it)."""
    cached = not regmap.cache_bypass and regmap.cache_type != REGCACHE_NONE and not volatile(k, regmap, reg)
    if cached and reg in regmap.cache:
        _trace(k, regmap, "read", reg, regmap.cache[reg], "cache")
        return regmap.cache[reg]
    if regmap.cache_only:
        raise RegmapError(EBUSY)
    if not readable(k, regmap, reg):
        raise RegmapError(EIO)
    value = hardware_read(k, regmap, reg)
    if cached:
        regmap.cache[reg] = value
    return value


def regmap_write_one(k: Kernel, regmap: Regmap, reg: int, value: int) -> None:
    """_regmap_write: refused (-EIO) for a register that is not writeable; cached unless volatile."""
    if not writeable(k, regmap, reg):
        raise RegmapError(EIO)
    value &= (1 << regmap.val_bits) - 1
    if not regmap.cache_bypass and regmap.cache_type != REGCACHE_NONE and not volatile(k, regmap, reg):
        regmap.cache[reg] = value
        if regmap.cache_only:
            regmap.dirty.add(reg)
            return
    hardware_write(k, regmap, reg, value)


def _map(k: Kernel, handle: int) -> Regmap:
    regmap = k.subsystem(RegmapCore).maps.get(handle)
    if regmap is None:
        raise RegmapError(EINVAL)
    return regmap


def _locked(k: Kernel, handle: int, action) -> int:  # type: ignore[no-untyped-def]
    """Run ``action(regmap)`` under the map's lock; 0 or -errno."""
    if not handle or is_err(handle):
        k.warn(f"regmap call on {'NULL' if not handle else 'an ERR_PTR'} map")
        return -EINVAL
    try:
        regmap = _map(k, handle)
    except RegmapError:
        k.warn(f"regmap call on {handle:#x}, which is not a register map")
        return -EINVAL
    if regmap.lock:
        k.call_function_pointer(regmap.lock, regmap.lock_arg)
    try:
        result = action(regmap)
        return 0 if result is None else result
    except RegmapError as error:
        return -error.errno
    finally:
        if regmap.unlock:
            k.call_function_pointer(regmap.unlock, regmap.lock_arg)


def _aligned(regmap: Regmap, reg: int) -> None:
    if reg % regmap.reg_stride:
        raise RegmapError(EINVAL)


# -- making maps ------------------------------------------------------------------------------------------

def _from_config(k: Kernel, dev: int, config: int) -> Regmap | int:
    if not config:
        return -EINVAL
    c = Fields(k.memory, "regmap_config", config)
    reg_bits, val_bits = c["reg_bits"], c["val_bits"]
    if not 0 < val_bits <= 32 or not 0 < reg_bits <= 32:
        k.warn(f"regmap: unsupported reg_bits {reg_bits} / val_bits {val_bits}")
        return -EINVAL
    handle = allocate(k, HANDLE_SIZE, owner="kernel")
    if not handle:
        return -ENOMEM
    from .registrations import guest_string

    regmap = Regmap(handle, dev, owner_name(k), guest_string(k, c["name"], 64), reg_bits, val_bits,
                    pad_bits=c["pad_bits"], reg_stride=c["reg_stride"] or 1, max_register=c["max_register"],
                    reg_base=c["reg_base"], reg_downshift=c["reg_downshift"], cache_type=c["cache_type"],
                    use_single_read=bool(c["use_single_read"]), use_single_write=bool(c["use_single_write"]),
                    read_flag_mask=c["read_flag_mask"], write_flag_mask=c["write_flag_mask"],
                    max_raw_read=c["max_raw_read"], max_raw_write=c["max_raw_write"])
    if not c["disable_locking"]:
        regmap.lock, regmap.unlock, regmap.lock_arg = c["lock"], c["unlock"], c["lock_arg"]
    for name in ("readable_reg", "writeable_reg", "volatile_reg", "precious_reg", "readable_noinc_reg",
                 "reg_read", "reg_write"):
        if c[name]:
            regmap.callbacks[name] = c[name]
    for name in ("wr_table", "rd_table", "volatile_table", "precious_table", "rd_noinc_table"):
        if c[name]:
            regmap.tables[name] = c[name]
    regmap.val_endian = _endian(c["val_format_endian"], "big")
    regmap.reg_endian = _endian(c["reg_format_endian"], "big")
    return regmap


def _start_cache(k: Kernel, regmap: Regmap, config: int) -> None:
    """regcache_init: a flat cache holds every register (zero), then the defaults are loaded."""
    if regmap.cache_type == REGCACHE_NONE:
        return
    c = Fields(k.memory, "regmap_config", config)
    if regmap.cache_type == REGCACHE_FLAT and regmap.max_register:
        for reg in range(0, min(regmap.max_register, MAX_REGISTERS) + 1, regmap.reg_stride):
            regmap.cache[reg] = 0
    defaults, count = c["reg_defaults"], min(c["num_reg_defaults"], MAX_REGISTERS)
    for i in range(count if defaults else 0):
        entry = Fields(k.memory, "reg_default", defaults + 8 * i)
        regmap.cache[entry["reg"]] = entry["def"]


def _finish(k: Kernel, regmap: Regmap, config: int) -> int:
    _start_cache(k, regmap, config)
    k.subsystem(RegmapCore).maps[regmap.handle] = regmap
    k.trace.add("note", "regmap init", fields={"map": regmap.name or f"{regmap.handle:#x}",
                                               "transport": regmap.transport, "reg_bits": regmap.reg_bits,
                                               "val_bits": regmap.val_bits, "cache": regmap.cache_type})
    return regmap.handle


def _init_i2c(k: Kernel, client: int, config: int) -> int:
    if not client:
        return err_ptr(EINVAL)
    _record, adapter = _client(k, client)
    regmap = _from_config(k, client + CLIENT_DEV, config)
    if not isinstance(regmap, Regmap):
        return err_ptr(-regmap)
    regmap.client = client
    func = functionality(k, adapter)
    c = Fields(k.memory, "regmap_config", config)
    big = _endian(c["val_format_endian"], "big") == "big"
    eight_eight = regmap.val_bits == 8 and regmap.reg_bits == 8
    if func & I2C_FUNC_I2C:
        regmap.transport = "i2c"
    elif eight_eight and func & I2C_FUNC_SMBUS_I2C_BLOCK == I2C_FUNC_SMBUS_I2C_BLOCK:
        regmap.transport, regmap.max_raw_read, regmap.max_raw_write = "smbus_i2c_block", 32, 32
    elif regmap.val_bits == 16 and regmap.reg_bits == 8 and func & I2C_FUNC_SMBUS_WORD_DATA == \
            I2C_FUNC_SMBUS_WORD_DATA:
        regmap.transport = "smbus_word_swapped" if big else "smbus_word"
    elif eight_eight and func & I2C_FUNC_SMBUS_BYTE_DATA == I2C_FUNC_SMBUS_BYTE_DATA:
        regmap.transport = "smbus_byte"
    else:
        release(k, regmap.handle)
        return err_ptr(ENOTSUPP)
    return _finish(k, regmap, config)


def _init_bus(k: Kernel, dev: int, bus: int, context: int, config: int) -> int:
    regmap = _from_config(k, dev, config)
    if not isinstance(regmap, Regmap):
        return err_ptr(-regmap)
    regmap.context = context
    if not bus:
        c = Fields(k.memory, "regmap_config", config)
        if c["read"] and c["write"]:
            regmap.transport, regmap.bus = "config_raw", config
        elif regmap.callbacks.get("reg_read") or regmap.callbacks.get("reg_write"):
            regmap.transport = "callbacks"
        else:
            release(k, regmap.handle)
            return err_ptr(EINVAL)
    else:
        b = Fields(k.memory, "regmap_bus", bus)
        regmap.bus = bus
        if b["read"] and b["write"]:
            regmap.transport = "bus_raw"
            regmap.max_raw_read = regmap.max_raw_read or b["max_raw_read"]
            regmap.max_raw_write = regmap.max_raw_write or b["max_raw_write"]
            c = Fields(k.memory, "regmap_config", config)
            if c["val_format_endian"] == REGMAP_ENDIAN_DEFAULT:
                regmap.val_endian = _endian(b["val_format_endian_default"], "big")
            if c["reg_format_endian"] == REGMAP_ENDIAN_DEFAULT:
                regmap.reg_endian = _endian(b["reg_format_endian_default"], "big")
            if not regmap.read_flag_mask:
                regmap.read_flag_mask = b["read_flag_mask"]
        else:
            regmap.transport = "callbacks"
            regmap.callbacks["reg_read"], regmap.callbacks["reg_write"] = b["reg_read"], b["reg_write"]
    return _finish(k, regmap, config)


def _devm(k: Kernel, dev: int, handle: int) -> int:
    if not is_err(handle):
        k.subsystem(I2cCore).add_managed(k, dev, "regmap", handle)
    return handle


@service("struct regmap *__regmap_init_i2c(struct i2c_client *i2c, const struct regmap_config *config, "
         "struct lock_class_key *lock_key, const char *lock_name)")
def __regmap_init_i2c(k: Kernel, client: int, config: int, key: int, lock_name: int) -> int:
    """A map over an I2C client (plain I2C, else the SMBus commands that fit); ERR_PTR(-ENOTSUPP) if none does."""
    return _init_i2c(k, client, config)


@service("struct regmap *__devm_regmap_init_i2c(struct i2c_client *i2c, const struct regmap_config *config, "
         "struct lock_class_key *lock_key, const char *lock_name)")
def __devm_regmap_init_i2c(k: Kernel, client: int, config: int, key: int, lock_name: int) -> int:
    """__regmap_init_i2c, freed when the client is unbound."""
    return _devm(k, client + CLIENT_DEV, _init_i2c(k, client, config))


@service("struct regmap *__regmap_init(struct device *dev, const struct regmap_bus *bus, void *bus_context, "
         "const struct regmap_config *config, struct lock_class_key *lock_key, const char *lock_name)")
def __regmap_init(k: Kernel, dev: int, bus: int, context: int, config: int, key: int, lock_name: int) -> int:
    """A map over a driver's regmap_bus, or (bus NULL) the config's reg_read/reg_write or read/write callbacks."""
    return _init_bus(k, dev, bus, context, config)


@service("struct regmap *__devm_regmap_init(struct device *dev, const struct regmap_bus *bus, void *bus_context, "
         "const struct regmap_config *config, struct lock_class_key *lock_key, const char *lock_name)")
def __devm_regmap_init(k: Kernel, dev: int, bus: int, context: int, config: int, key: int, lock_name: int) -> int:
    """__regmap_init, freed when ``dev`` is unbound."""
    return _devm(k, dev, _init_bus(k, dev, bus, context, config))


@service("void regmap_exit(struct regmap *map)")
def regmap_exit(k: Kernel, handle: int) -> None:
    """Free a map made without devm_."""
    k.subsystem(RegmapCore).remove(k, handle)


@service("struct device *regmap_get_device(struct regmap *map)")
def regmap_get_device(k: Kernel, handle: int) -> int:
    """The device the map was made for."""
    regmap = k.subsystem(RegmapCore).maps.get(handle)
    return regmap.dev if regmap is not None else 0


# -- accesses ----------------------------------------------------------------------------------------------

@service("struct regmap *dev_get_regmap(struct device *dev, const char *name)")
def dev_get_regmap(k: Kernel, dev: int, name: int) -> int:
    """The map made for ``dev`` (named ``name``, any when NULL), newest first as devres_find
    walks the device's resources; NULL if there is none."""
    wanted = guest_string(k, name, 64) if name else None
    for regmap in reversed(list(k.subsystem(RegmapCore).maps.values())):
        if regmap.dev == dev and dev and (wanted is None or (regmap.name and regmap.name == wanted)):
            return regmap.handle
    return 0


@service("int regmap_get_val_bytes(struct regmap *map)")
def regmap_get_val_bytes(k: Kernel, handle: int) -> int:
    """Bytes per register value (ASoC sizes its caches and controls by it); -EINVAL for no map."""
    regmap = k.subsystem(RegmapCore).maps.get(handle)
    return regmap.val_bytes if regmap is not None else -EINVAL


@service("int regmap_read(struct regmap *map, unsigned int reg, unsigned int *val)")
def regmap_read(k: Kernel, handle: int, reg: int, val: int) -> int:
    """Read one register (from the cache when it holds a non-volatile one); 0 or -errno (-EIO: not readable)."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        k.memory.write_u32(val, regmap_read_one(k, regmap, reg))
    return _locked(k, handle, action)


@service("int regmap_write(struct regmap *map, unsigned int reg, unsigned int val)")
def regmap_write(k: Kernel, handle: int, reg: int, value: int) -> int:
    """Write one register (and the cache); 0 or -errno (-EIO: not writeable)."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        regmap_write_one(k, regmap, reg, value)
    return _locked(k, handle, action)


@service("int regmap_update_bits_base(struct regmap *map, unsigned int reg, unsigned int mask, unsigned int val, "
         "bool *change, bool async, bool force)")
def regmap_update_bits_base(k: Kernel, handle: int, reg: int, mask: int, value: int, change: int, async_: int,
                            force: int) -> int:
    """Read-modify-write the bits of ``mask``; written only if they change (or ``force``); ``*change`` says so."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        if change:
            k.memory.write(change, b"\0")
        original = regmap_read_one(k, regmap, reg)
        updated = (original & ~mask) | (value & mask)
        if force or updated != original:
            regmap_write_one(k, regmap, reg, updated)
            if change:
                k.memory.write(change, b"\1")
    return _locked(k, handle, action)


def _store_native(k: Kernel, regmap: Regmap, address: int, values: list[int]) -> None:
    width = regmap.val_bytes if regmap.val_bytes in (1, 2) else 4
    k.memory.write(address, b"".join((v & ((1 << (8 * width)) - 1)).to_bytes(width, "little") for v in values))


def _load_native(k: Kernel, regmap: Regmap, address: int, count: int) -> list[int]:
    width = regmap.val_bytes if regmap.val_bytes in (1, 2) else 4
    data = k.memory.read(address, width * count)
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


def _raw_read_range(k: Kernel, regmap: Regmap, reg: int, count: int) -> bytes:
    """_regmap_raw_read in chunks (one register each with use_single_read)."""
    per_chunk = 1 if regmap.use_single_read else max(regmap.max_raw_read // regmap.val_bytes, 1) \
        if regmap.max_raw_read else count
    data = bytearray()
    done = 0
    while done < count:
        chunk = min(per_chunk, count - done)
        data += bus_raw_read(k, regmap, reg + done * regmap.reg_stride, chunk * regmap.val_bytes)
        done += chunk
    _trace(k, regmap, "raw read", reg, bytes(data), "chip")
    return bytes(data)


def _all_volatile(k: Kernel, regmap: Regmap, reg: int, count: int) -> bool:
    return all(volatile(k, regmap, reg + i * regmap.reg_stride) for i in range(count))


@service("int regmap_bulk_read(struct regmap *map, unsigned int reg, void *val, size_t val_count)")
def regmap_bulk_read(k: Kernel, handle: int, reg: int, val: int, count: int) -> int:
    """Read ``val_count`` registers into an array of native values (one transfer when uncached)."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        if not 0 < count <= MAX_REGISTERS:
            raise RegmapError(EINVAL)
        if regmap.raw and (regmap.cache_type == REGCACHE_NONE or _all_volatile(k, regmap, reg, count)):
            for i in range(count):
                if not readable(k, regmap, reg + i * regmap.reg_stride):
                    raise RegmapError(EIO)
            values = _parse_vals(regmap, _raw_read_range(k, regmap, reg, count))
        else:
            values = [regmap_read_one(k, regmap, reg + i * regmap.reg_stride) for i in range(count)]
        _store_native(k, regmap, val, values)
    return _locked(k, handle, action)


def _raw_write_range(k: Kernel, regmap: Regmap, reg: int, values: list[int]) -> None:
    """_regmap_raw_write: every register writeable, the cache updated, then chunks to the chip."""
    for i, value in enumerate(values):
        r = reg + i * regmap.reg_stride
        if not writeable(k, regmap, r):
            raise RegmapError(EIO)
        if not regmap.cache_bypass and regmap.cache_type != REGCACHE_NONE and not volatile(k, regmap, r):
            regmap.cache[r] = value
    if regmap.cache_only:
        regmap.dirty.update(reg + i * regmap.reg_stride for i in range(len(values)))
        return
    per_chunk = 1 if regmap.use_single_write else max(regmap.max_raw_write // regmap.val_bytes, 1) \
        if regmap.max_raw_write else len(values)
    for start in range(0, len(values), per_chunk):
        chunk = values[start:start + per_chunk]
        data = b"".join(_format_val(regmap, v) for v in chunk)
        _trace(k, regmap, "raw write", reg + start * regmap.reg_stride, data, "chip")
        bus_raw_write(k, regmap, reg + start * regmap.reg_stride, data)


@service("int regmap_bulk_write(struct regmap *map, unsigned int reg, const void *val, size_t val_count)")
def regmap_bulk_write(k: Kernel, handle: int, reg: int, val: int, count: int) -> int:
    """Write ``val_count`` native values from ``reg`` on (one transfer on a raw bus, else one per register)."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        if not 0 < count <= MAX_REGISTERS:
            raise RegmapError(EINVAL)
        values = _load_native(k, regmap, val, count)
        if regmap.raw:
            _raw_write_range(k, regmap, reg, values)
        else:
            for i, value in enumerate(values):
                regmap_write_one(k, regmap, reg + i * regmap.reg_stride, value)
    return _locked(k, handle, action)


@service("int regmap_raw_read(struct regmap *map, unsigned int reg, void *val, size_t val_len)")
def regmap_raw_read(k: Kernel, handle: int, reg: int, val: int, length: int) -> int:
    """``val_len`` bytes in the chip's format from ``reg`` on; -EINVAL without a raw bus or for a partial value."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        if not regmap.raw or not length or length % regmap.val_bytes or length > MAX_REGISTERS:
            raise RegmapError(EINVAL)
        count = length // regmap.val_bytes
        if regmap.cache_type == REGCACHE_NONE or regmap.cache_bypass or _all_volatile(k, regmap, reg, count):
            data = _raw_read_range(k, regmap, reg, count)
        else:
            values = [regmap_read_one(k, regmap, reg + i * regmap.reg_stride) for i in range(count)]
            data = b"".join(_format_val(regmap, v) for v in values)
        k.memory.write(val, data)
    return _locked(k, handle, action)


@service("int regmap_raw_write(struct regmap *map, unsigned int reg, const void *val, size_t val_len)")
def regmap_raw_write(k: Kernel, handle: int, reg: int, val: int, length: int) -> int:
    """``val_len`` bytes in the chip's format to ``reg`` on (the cache learns the values)."""
    def action(regmap: Regmap) -> None:
        _aligned(regmap, reg)
        if not regmap.raw or not length or length % regmap.val_bytes or length > MAX_REGISTERS:
            raise RegmapError(EINVAL)
        _raw_write_range(k, regmap, reg, _parse_vals(regmap, k.memory.read(val, length)))
    return _locked(k, handle, action)


@service("int regmap_noinc_read(struct regmap *map, unsigned int reg, void *val, size_t val_len)")
def regmap_noinc_read(k: Kernel, handle: int, reg: int, val: int, length: int) -> int:
    """Read ``val_len`` bytes from one volatile register (a FIFO) without incrementing; chip format."""
    def action(regmap: Regmap) -> None:
        if not regmap.raw:
            raise RegmapError(ENOTSUPP)
        _aligned(regmap, reg)
        if not length or length % regmap.val_bytes or length > MAX_REGISTERS:
            raise RegmapError(EINVAL)
        if not volatile(k, regmap, reg) or not readable_noinc(k, regmap, reg):
            raise RegmapError(EINVAL)
        data = bytearray()
        step = regmap.max_raw_read or length
        while len(data) < length:
            data += bus_raw_read(k, regmap, reg, min(step, length - len(data)))
        k.memory.write(val, bytes(data))
    return _locked(k, handle, action)


def _sequence(k: Kernel, regs: int, count: int) -> list[tuple[int, int, int]]:
    if count > MAX_REGISTERS:
        raise RegmapError(EINVAL)
    return [(f["reg"], f["def"], f["delay_us"]) for f in
            (Fields(k.memory, "reg_sequence", regs + 12 * i) for i in range(count))]


@service("int regmap_multi_reg_write(struct regmap *map, const struct reg_sequence *regs, int num_regs)")
def regmap_multi_reg_write(k: Kernel, handle: int, regs: int, count: int) -> int:
    """Write each (reg, value) in order, waiting each entry's delay_us after it."""
    def action(regmap: Regmap) -> None:
        for reg, value, delay in _sequence(k, regs, count):
            regmap_write_one(k, regmap, reg, value)
            if delay:
                k.advance_time(delay * 1000)
    return _locked(k, handle, action)


@service("int regmap_register_patch(struct regmap *map, const struct reg_sequence *regs, int num_regs)")
def regmap_register_patch(k: Kernel, handle: int, regs: int, count: int) -> int:
    """Write a chip's errata sequence now, bypassing the cache, and keep it for regcache_sync."""
    def action(regmap: Regmap) -> None:
        sequence = _sequence(k, regs, count)
        bypass, regmap.cache_bypass = regmap.cache_bypass, True
        try:
            for reg, value, delay in sequence:
                regmap_write_one(k, regmap, reg, value)
                if delay:
                    k.advance_time(delay * 1000)
        finally:
            regmap.cache_bypass = bypass
        regmap.patch.extend((reg, value) for reg, value, _delay in sequence)
    return _locked(k, handle, action)


# -- the cache -------------------------------------------------------------------------------------------

@service("void regcache_cache_only(struct regmap *map, bool enable)")
def regcache_cache_only(k: Kernel, handle: int, enable: int) -> None:
    """Keep writes in the cache (the chip is powered off); reads of uncached registers fail -EBUSY."""
    _locked(k, handle, lambda regmap: setattr(regmap, "cache_only", bool(enable & 0xFF)))


@service("void regcache_cache_bypass(struct regmap *map, bool enable)")
def regcache_cache_bypass(k: Kernel, handle: int, enable: int) -> None:
    """Go to the chip for every access, leaving the cache as it is."""
    _locked(k, handle, lambda regmap: setattr(regmap, "cache_bypass", bool(enable & 0xFF)))


@service("void regcache_mark_dirty(struct regmap *map)")
def regcache_mark_dirty(k: Kernel, handle: int) -> None:
    """The chip lost its registers (a reset): every cached one is to be written again by regcache_sync."""
    _locked(k, handle, lambda regmap: regmap.dirty.update(regmap.cache))


def _sync(k: Kernel, regmap: Regmap, low: int, high: int) -> None:
    if regmap.cache_only:
        raise RegmapError(EBUSY)
    bypass, regmap.cache_bypass = regmap.cache_bypass, True
    try:
        for reg, value in regmap.patch:
            hardware_write(k, regmap, reg, value)
        for reg in sorted(r for r in regmap.dirty if low <= r <= high):
            if writeable(k, regmap, reg) and not volatile(k, regmap, reg):
                hardware_write(k, regmap, reg, regmap.cache[reg])
            regmap.dirty.discard(reg)
    finally:
        regmap.cache_bypass = bypass


@service("int regcache_sync(struct regmap *map)")
def regcache_sync(k: Kernel, handle: int) -> int:
    """Write the patch and every dirty cached register back to the chip."""
    return _locked(k, handle, lambda regmap: _sync(k, regmap, 0, 1 << 32))


@service("int regcache_sync_region(struct regmap *map, unsigned int min, unsigned int max)")
def regcache_sync_region(k: Kernel, handle: int, low: int, high: int) -> int:
    """regcache_sync for the registers in [min, max]."""
    return _locked(k, handle, lambda regmap: _sync(k, regmap, low, high))


def regmaps(k: Kernel) -> list[Regmap]:
    """Every register map, oldest first (tests look at ``cache``, ``hardware_reads``, ``transport``)."""
    return list(k.subsystem(RegmapCore).maps.values())
