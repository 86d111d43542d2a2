"""ACPI absent (drivers/acpi), Linux 6.1 booted without ACPI tables, as the emulated PC is.

With no tables there is no namespace to hold devices or methods and no
operation region to conflict with: resource conflict checks pass (0),
``acpi_dev_present``/``acpi_dev_found`` are false, ``acpi_match_device``
and ``acpi_dev_get_first_match_dev`` find nothing (NULL), no firmware
node is an ACPI node, and evaluating a method by path answers
AE_NOT_FOUND, whose name ``acpi_format_exception`` gives, as ACPICA does.
``acpi_bus_register_driver`` (-ENODEV) and ``acpi_disabled`` are in
:mod:`.drivers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.services import service

from ..memory import allocate

if TYPE_CHECKING:
    from sandbox.kernel import Kernel

AE_OK, AE_NOT_FOUND, AE_BAD_PARAMETER = 0, 0x0005, 0x1001
# ACPICA's exception names for the codes a driver meets here (acpi_format_exception).
_STATUS_NAMES = {0: "AE_OK", 1: "AE_ERROR", 2: "AE_NO_ACPI_TABLES", 3: "AE_NO_NAMESPACE", 4: "AE_NO_MEMORY",
                 5: "AE_NOT_FOUND", 6: "AE_NOT_EXIST", 7: "AE_ALREADY_EXISTS", 8: "AE_TYPE", 9: "AE_NULL_OBJECT",
                 0x1001: "AE_BAD_PARAMETER"}


class AcpiStrings:
    """The status-name strings handed out (one guest copy each)."""

    def __init__(self) -> None:
        self.names: dict[int, int] = {}


@service("int acpi_check_resource_conflict(const struct resource *res)")
def acpi_check_resource_conflict(k: Kernel, res: int) -> int:
    """No ACPI operation region claims anything: no conflict (0)."""
    return 0


@service("int acpi_check_region(resource_size_t start, resource_size_t n, const char *name)")
def acpi_check_region(k: Kernel, start: int, n: int, name: int) -> int:
    """No conflict with ACPI for the I/O range (0)."""
    return 0


@service("bool acpi_dev_present(const char *hid, const char *uid, s64 hrv)")
def acpi_dev_present(k: Kernel, hid: int, uid: int, hrv: int) -> int:
    """No ACPI device is present without ACPI."""
    return 0


@service("bool acpi_dev_found(const char *hid)")
def acpi_dev_found(k: Kernel, hid: int) -> int:
    """No ACPI device with that hardware id."""
    return 0


@service("struct acpi_device *acpi_dev_get_first_match_dev(const char *hid, const char *uid, s64 hrv)")
def acpi_dev_get_first_match_dev(k: Kernel, hid: int, uid: int, hrv: int) -> int:
    """No matching ACPI device: NULL."""
    return 0


@service("const struct acpi_device_id *acpi_match_device(const struct acpi_device_id *ids, const struct device *dev)")
def acpi_match_device(k: Kernel, ids: int, dev: int) -> int:
    """The device has no ACPI companion: NULL."""
    return 0


@service("const void *acpi_device_get_match_data(const struct device *dev)")
def acpi_device_get_match_data(k: Kernel, dev: int) -> int:
    """No ACPI match, so no match data: NULL."""
    return 0


@service("bool is_acpi_device_node(const struct fwnode_handle *fwnode)")
def is_acpi_device_node(k: Kernel, fwnode: int) -> int:
    """No firmware node is an ACPI device node here."""
    return 0


@service("bool acpi_has_method(acpi_handle handle, char *name)")
def acpi_has_method(k: Kernel, handle: int, name: int) -> int:
    """No namespace, no method."""
    return 0


@service("acpi_status acpi_get_handle(acpi_handle parent, const char *pathname, acpi_handle *ret_handle)")
def acpi_get_handle(k: Kernel, parent: int, pathname: int, ret_handle: int) -> int:
    """Look a name up: AE_BAD_PARAMETER without a path or result, else AE_NOT_FOUND."""
    if not pathname or not ret_handle:
        return AE_BAD_PARAMETER
    return AE_NOT_FOUND


@service("acpi_status acpi_evaluate_object(acpi_handle handle, acpi_string pathname, "
         "struct acpi_object_list *external_params, struct acpi_buffer *return_buffer)")
def acpi_evaluate_object(k: Kernel, handle: int, pathname: int, params: int, buffer: int) -> int:
    """Nothing to evaluate: AE_NOT_FOUND (AE_BAD_PARAMETER with neither a handle nor a path)."""
    return AE_BAD_PARAMETER if not handle and not pathname else AE_NOT_FOUND


@service("acpi_status acpi_evaluate_integer(acpi_handle handle, acpi_string pathname, "
         "struct acpi_object_list *arguments, unsigned long long *data)")
def acpi_evaluate_integer(k: Kernel, handle: int, pathname: int, arguments: int, data: int) -> int:
    """Nothing to evaluate: AE_BAD_PARAMETER without a result pointer, else AE_NOT_FOUND."""
    return AE_BAD_PARAMETER if not data else AE_NOT_FOUND


@service("acpi_status acpi_execute_simple_method(acpi_handle handle, char *method, u64 arg)")
def acpi_execute_simple_method(k: Kernel, handle: int, method: int, arg: int) -> int:
    """Nothing to run: AE_NOT_FOUND."""
    return AE_NOT_FOUND


@service("const char *acpi_format_exception(acpi_status status)")
def acpi_format_exception(k: Kernel, status: int) -> int:
    """ACPICA's name of a status code ("AE_NOT_FOUND"; unknown codes "UNKNOWN_STATUS_CODE")."""
    state = k.subsystem(AcpiStrings)
    block = state.names.get(status)
    if block is None:
        text = _STATUS_NAMES.get(status, "UNKNOWN_STATUS_CODE").encode() + b"\0"
        block = allocate(k, len(text), owner="kernel")
        if not block:
            return 0
        k.memory.write(block, text)
        state.names[status] = block
    return block
