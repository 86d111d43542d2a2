"""Reset controllers, Linux 6.1 (drivers/reset/core.c) on a PC: there are none.

Reset lines come from a device-tree ``resets`` property or from board code's
``reset_lookup_list``; a PC has neither, so every lookup finds nothing:
an optional line is NULL (and the NULL control's operations succeed
without doing anything, as Linux's do), a required one is
ERR_PTR(-ENOENT), and a NULL device is ERR_PTR(-EINVAL). libphy asks for
an optional PHY reset for each MDIO device it registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.errors import GuestFault
from sandbox.services import service

from .registrations import EINVAL, ENOENT, err_ptr

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


@service("struct reset_control *__reset_control_get(struct device *dev, const char *id, int index, bool shared, "
         "bool optional, bool acquired)")
def __reset_control_get(k: Kernel, dev: int, id: int, index: int, shared: int, optional: int,
                        acquired: int) -> int:
    """No reset controller provides the line: NULL if optional, else ERR_PTR(-ENOENT)."""
    if not dev:
        return err_ptr(EINVAL)
    return 0 if optional else err_ptr(ENOENT)


@service("struct reset_control *__devm_reset_control_get(struct device *dev, const char *id, int index, "
         "bool shared, bool optional, bool acquired)")
def __devm_reset_control_get(k: Kernel, dev: int, id: int, index: int, shared: int, optional: int,
                             acquired: int) -> int:
    """devm variant: the same answer (NULL needs no release)."""
    return __reset_control_get(k, dev, id, index, shared, optional, acquired)


def _only_null(k: Kernel, rstc: int, what: str) -> int:
    """Operations on the NULL (absent optional) control succeed; no other control can exist here."""
    if rstc and rstc < 0xFFFFF001:
        raise GuestFault("bad-reset-control", f"{what} of reset control {rstc:#x} at "
                         f"{k.symbolizer.short(k.current_caller)}: no reset controller exists, so this is not one "
                         "__reset_control_get returned", pc=k.current_caller, address=rstc)
    return 0 if not rstc else -EINVAL  # an ERR_PTR handed back in: Linux's WARN_ON(IS_ERR(rstc)) -EINVAL


@service("int reset_control_assert(struct reset_control *rstc)")
def reset_control_assert(k: Kernel, rstc: int) -> int:
    """Assert the line: 0 for the NULL control."""
    return _only_null(k, rstc, "reset_control_assert")


@service("int reset_control_deassert(struct reset_control *rstc)")
def reset_control_deassert(k: Kernel, rstc: int) -> int:
    """Deassert the line: 0 for the NULL control."""
    return _only_null(k, rstc, "reset_control_deassert")


@service("int reset_control_reset(struct reset_control *rstc)")
def reset_control_reset(k: Kernel, rstc: int) -> int:
    """Pulse the line: 0 for the NULL control."""
    return _only_null(k, rstc, "reset_control_reset")


@service("void reset_control_put(struct reset_control *rstc)")
def reset_control_put(k: Kernel, rstc: int) -> None:
    """Release the control (NULL and ERR_PTR values are ignored, as Linux does)."""
    if rstc and rstc < 0xFFFFF001:
        _only_null(k, rstc, "reset_control_put")
