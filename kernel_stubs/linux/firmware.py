"""Firmware loading (drivers/base/firmware_loader), Linux 6.1.

This machine has no /lib/firmware: every request fails as Linux's direct
loader does when the file is missing (-ENOENT, with its message unless the
caller asked for no warning), ``*fw`` is set to NULL, and
``release_firmware(NULL)`` is the no-op drivers rely on in their exit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from .printk import log
from .registrations import ENOENT, guest_string

if TYPE_CHECKING:
    from sandbox.kernel import Kernel


def _missing(k: Kernel, firmware_p: int, name: int, warn: bool) -> int:
    if firmware_p:
        k.memory.write_u32(firmware_p, 0)
    if warn:
        log(k, b"\x014Direct firmware load for %s failed with error -2\n" % guest_string(k, name).encode())
    return -ENOENT


@service("int request_firmware(const struct firmware **firmware_p, const char *name, struct device *device)")
def request_firmware(k: Kernel, firmware_p: int, name: int, device: int) -> int:
    """Load a firmware file: there are none, -ENOENT."""
    return _missing(k, firmware_p, name, True)


@service("int firmware_request_nowarn(const struct firmware **firmware, const char *name, struct device *device)")
def firmware_request_nowarn(k: Kernel, firmware_p: int, name: int, device: int) -> int:
    """request_firmware without the warning."""
    return _missing(k, firmware_p, name, False)


@service("int request_firmware_direct(const struct firmware **firmware_p, const char *name, struct device *device)")
def request_firmware_direct(k: Kernel, firmware_p: int, name: int, device: int) -> int:
    """request_firmware without the user-space fallback (and without the warning)."""
    return _missing(k, firmware_p, name, False)


@service("void release_firmware(const struct firmware *fw)")
def release_firmware(k: Kernel, fw: int) -> None:
    """Free a loaded firmware; only NULL can exist here, which Linux ignores."""
