"""Voltage regulator consumers (drivers/regulator/core.c) on a PC booted without ACPI or a device tree.

Linux hands out a dummy regulator for a supply nobody describes only when
the platform declared its constraints complete: ACPI does it
(``acpi_subsystem_init`` calls ``regulator_has_full_constraints``), a device
tree implies it. The emulated PC has neither, so every lookup ends as
``_regulator_get`` ends then: ``"incomplete constraints, dummy supplies not
allowed"`` and -ENODEV, and a sensor driver that needs its supply does not
probe. No regulator is ever handed out, so the calls that take one
(enable, voltage) only ever see a pointer that is not one: reported, -EINVAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .registrations import err_ptr, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

ENODEV, EINVAL = 19, 22
BULK_DATA_SIZE = 12  # struct regulator_bulk_data: supply, init_load_uA, consumer


def _log(k: Kernel, dev: int, level: int, text: str) -> None:
    from .printk import _device_prefix

    prefix = _device_prefix(k, dev).decode("utf-8", "replace") if dev else ""
    k.console_write(f"{prefix}{text}\n", level)


def _lookup(k: Kernel, dev: int) -> int:
    """_regulator_get with no supply found and incomplete constraints."""
    _log(k, dev, 4, "incomplete constraints, dummy supplies not allowed")
    return err_ptr(ENODEV)


@service("struct regulator *regulator_get(struct device *dev, const char *id)")
def regulator_get(k: Kernel, dev: int, id: int) -> int:
    """ERR_PTR(-ENODEV): no supply described and no dummy allowed on this platform."""
    return _lookup(k, dev)


@service("struct regulator *devm_regulator_get(struct device *dev, const char *id)")
def devm_regulator_get(k: Kernel, dev: int, id: int) -> int:
    """ERR_PTR(-ENODEV), as regulator_get (nothing to manage)."""
    return _lookup(k, dev)


@service("struct regulator *regulator_get_optional(struct device *dev, const char *id)")
def regulator_get_optional(k: Kernel, dev: int, id: int) -> int:
    """ERR_PTR(-ENODEV): the optional supply is absent."""
    return _lookup(k, dev)


@service("struct regulator *devm_regulator_get_optional(struct device *dev, const char *id)")
def devm_regulator_get_optional(k: Kernel, dev: int, id: int) -> int:
    """ERR_PTR(-ENODEV): the optional supply is absent."""
    return _lookup(k, dev)


@service("struct regulator *regulator_get_exclusive(struct device *dev, const char *id)")
def regulator_get_exclusive(k: Kernel, dev: int, id: int) -> int:
    """ERR_PTR(-ENODEV)."""
    return _lookup(k, dev)


def _bulk_get(k: Kernel, dev: int, count: int, consumers: int) -> int:
    if count <= 0:
        return 0
    supply = guest_string(k, k.memory.read_u32(consumers), 64) if consumers else ""
    _lookup(k, dev)
    _log(k, dev, 3, f"Failed to get supply '{supply}': -ENODEV")
    k.memory.write_u32(consumers + 8, 0)
    return -ENODEV


@service("int regulator_bulk_get(struct device *dev, int num_consumers, struct regulator_bulk_data *consumers)")
def regulator_bulk_get(k: Kernel, dev: int, count: int, consumers: int) -> int:
    """-ENODEV at the first supply (none can be found here)."""
    return _bulk_get(k, dev, count, consumers)


@service("int devm_regulator_bulk_get(struct device *dev, int num_consumers, struct regulator_bulk_data *consumers)")
def devm_regulator_bulk_get(k: Kernel, dev: int, count: int, consumers: int) -> int:
    """-ENODEV at the first supply (none can be found here)."""
    return _bulk_get(k, dev, count, consumers)


def _not_a_regulator(k: Kernel, what: str, regulator: int) -> int:
    k.warn(f"{what}({regulator:#x}): not a regulator (none is ever handed out on this platform)")
    return -EINVAL


@service("int regulator_enable(struct regulator *regulator)")
def regulator_enable(k: Kernel, regulator: int) -> int:
    """-EINVAL: the pointer cannot be a regulator here."""
    return _not_a_regulator(k, "regulator_enable", regulator)


@service("int regulator_disable(struct regulator *regulator)")
def regulator_disable(k: Kernel, regulator: int) -> int:
    """-EINVAL: the pointer cannot be a regulator here."""
    return _not_a_regulator(k, "regulator_disable", regulator)


@service("int regulator_get_voltage(struct regulator *regulator)")
def regulator_get_voltage(k: Kernel, regulator: int) -> int:
    """-EINVAL: the pointer cannot be a regulator here."""
    return _not_a_regulator(k, "regulator_get_voltage", regulator)


@service("int regulator_set_voltage(struct regulator *regulator, int min_uV, int max_uV)")
def regulator_set_voltage(k: Kernel, regulator: int, min_uv: int, max_uv: int) -> int:
    """-EINVAL: the pointer cannot be a regulator here."""
    return _not_a_regulator(k, "regulator_set_voltage", regulator)


@service("void regulator_put(struct regulator *regulator)")
def regulator_put(k: Kernel, regulator: int) -> None:
    """Nothing to put for NULL or an ERR_PTR (as Linux); anything else is not a regulator."""
    if regulator and regulator < 0xFFFFF001:
        _not_a_regulator(k, "regulator_put", regulator)


@service("int regulator_bulk_enable(int num_consumers, struct regulator_bulk_data *consumers)")
def regulator_bulk_enable(k: Kernel, count: int, consumers: int) -> int:
    """-EINVAL: no bulk get ever succeeds here."""
    return _not_a_regulator(k, "regulator_bulk_enable", consumers)


@service("int regulator_bulk_disable(int num_consumers, struct regulator_bulk_data *consumers)")
def regulator_bulk_disable(k: Kernel, count: int, consumers: int) -> int:
    """-EINVAL: no bulk get ever succeeds here."""
    return _not_a_regulator(k, "regulator_bulk_disable", consumers)
