"""IRPs from Python, and the nt profile's entry points (DriverEntry, DriverUnload).

:func:`send_irp` is what a test uses to talk to an NT-style driver's device,
as the I/O manager would for a user's CreateFile/ReadFile/WriteFile/
DeviceIoControl/CloseHandle: it builds an IRP with one stack location in
guest memory, with buffered I/O (a SystemBuffer the kernel copies in and
out) or, for ``METHOD_NEITHER`` ioctls and devices without DO_BUFFERED_IO,
the caller's buffers, calls the driver's ``MajorFunction`` entry (stdcall),
and returns the IRP's NTSTATUS and Information with what was read. The
trace gets one ``irp`` event per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.errors import GuestFault, SandboxError

from . import structs as s
from .ntoskrnl import NtObjects, new_unicode

if TYPE_CHECKING:
    from sandbox.kernel import Kernel
    from sandbox.module import Module


@dataclass(slots=True)
class IrpResult:
    """What a driver did with an IRP: IoStatus.Status (unsigned), IoStatus.Information, bytes it returned."""

    status: int
    information: int
    output: bytes = b""

    @property
    def ok(self) -> bool:
        """NT_SUCCESS(status)."""
        return not self.status & 0x80000000


class Requests:
    """IRPs in flight: which were completed (IofCompleteRequest) and how often."""

    def __init__(self) -> None:
        self.completed: dict[int, int] = {}  # IRP address -> completions

    def clone(self) -> Requests:
        """A copy for snapshots."""
        twin = Requests()
        twin.completed = dict(self.completed)
        return twin


def complete(k: Kernel, irp: int) -> None:
    """IofCompleteRequest: mark the IRP done; a second completion is MULTIPLE_IRP_COMPLETE_REQUESTS."""
    requests = k.subsystem(Requests)
    if irp not in requests.completed:
        raise GuestFault("bad-argument", f"IofCompleteRequest({irp:#x}) at {k.symbolizer.short(k.current_caller)}: "
                         "not an IRP in flight", pc=k.current_caller, address=irp)
    requests.completed[irp] += 1
    if requests.completed[irp] > 1:
        raise GuestFault("bad-argument", f"IRP {irp:#x} completed twice (MULTIPLE_IRP_COMPLETE_REQUESTS) at "
                         f"{k.symbolizer.short(k.current_caller)}", pc=k.current_caller, address=irp)


def device_address(k: Kernel, device: str | int) -> int:
    """A DEVICE_OBJECT by name (``\\Device\\x`` or a symbolic link), or as given."""
    if isinstance(device, int):
        return device
    found = k.subsystem(NtObjects).device_named(device)
    if found is None:
        raise SandboxError(f"no device or symbolic link named {device!r}")
    return found.address


def send_irp(k: Kernel, device: str | int, major: int, *, ioctl: int = 0, data: bytes = b"",
             length: int = 0, offset: int = 0) -> IrpResult:
    """Send one IRP to ``device`` and return its IoStatus (and the bytes the driver gave back).

    The IRP has as many stack locations as the device's StackSize (at least
    one); the request is in the last, as the I/O manager puts it.
    ``major`` is an ``IRP_MJ_*`` code (:mod:`.structs`). READ takes
    ``length`` (bytes wanted) and ``offset``; WRITE sends ``data``;
    DEVICE_CONTROL sends ``ioctl`` with ``data`` as the input buffer and
    ``length`` as the output buffer's size. CREATE, CLOSE and CLEANUP take
    nothing. The driver must complete the IRP before its dispatch returns
    (STATUS_PENDING is reported as an error: nothing would finish it here).
    """
    address = device_address(k, device)
    driver = k.memory.read_u32(address + s.DEVICE_DRIVER_OBJECT)
    if not 0 <= major < s.IRP_MJ_COUNT:
        raise SandboxError(f"IRP major function {major:#x} is not an IRP_MJ_* code")
    dispatch = k.memory.read_u32(driver + s.DRIVER_MAJOR_FUNCTION + 4 * major)
    name = s.IRP_MJ_NAMES.get(major, f"{major:#x}")
    if not dispatch:
        raise SandboxError(f"the driver of device {device!r} has no MajorFunction[IRP_MJ_{name}]")
    flags = k.memory.read_u32(address + s.DEVICE_FLAGS)
    method = ioctl & 3
    buffered = bool(flags & s.DO_BUFFERED_IO) if major in (s.IRP_MJ_READ, s.IRP_MJ_WRITE) \
        else major == s.IRP_MJ_DEVICE_CONTROL and method == s.METHOD_BUFFERED
    out_size = length if major in (s.IRP_MJ_READ, s.IRP_MJ_DEVICE_CONTROL) else 0
    # As many stack locations as the device asks for (a driver passing IRPs on asks for more);
    # the caller's is the last, IofCallDriver moves down.
    locations = max(1, min(k.memory.read(address + s.DEVICE_STACK_SIZE, 1)[0], 16))
    block = s.IRP_SIZE + locations * s.STACK_LOCATION_SIZE
    irp = k.memory.alloc(block)
    buffers: list[int] = [irp]
    user_in = user_out = system = 0
    try:
        k.memory.write(irp, bytes(block))
        stack = irp + s.IRP_SIZE + (locations - 1) * s.STACK_LOCATION_SIZE
        size = max(len(data), out_size)
        if buffered and size:
            system = _scratch(k, buffers, size)
            k.memory.write(system, data.ljust(size, b"\0"))
        elif size:
            if data:
                user_in = _scratch(k, buffers, len(data))
                k.memory.write(user_in, data)
            if out_size:
                user_out = _scratch(k, buffers, out_size)
                k.memory.write(user_out, bytes(out_size))
        memory = k.memory
        memory.write(irp, s.IRP_TYPE.to_bytes(2, "little") + block.to_bytes(2, "little"))
        memory.write_u32(irp + s.IRP_SYSTEM_BUFFER, system)
        memory.write(irp + s.IRP_STACK_COUNT, bytes([locations, locations]))
        memory.write_u32(irp + s.IRP_USER_BUFFER, user_out or user_in)
        memory.write_u32(irp + s.IRP_CURRENT_STACK_LOCATION, stack)
        memory.write(stack + s.STACK_MAJOR, bytes([major]))
        parameters = stack + s.STACK_PARAMETERS
        if major == s.IRP_MJ_READ:
            memory.write(parameters, out_size.to_bytes(4, "little") + bytes(4) + offset.to_bytes(8, "little"))
        elif major == s.IRP_MJ_WRITE:
            memory.write(parameters, len(data).to_bytes(4, "little") + bytes(4) + offset.to_bytes(8, "little"))
        elif major == s.IRP_MJ_DEVICE_CONTROL:
            memory.write(parameters, out_size.to_bytes(4, "little") + len(data).to_bytes(4, "little")
                         + ioctl.to_bytes(4, "little") + user_in.to_bytes(4, "little"))
        memory.write_u32(stack + s.STACK_DEVICE_OBJECT, address)
        requests = k.subsystem(Requests)
        requests.completed[irp] = 0
        event = k.trace.add("irp", f"IRP_MJ_{name}", fields={
            "device": device if isinstance(device, str) else f"{address:#x}", "irp": f"{irp:#x}",
            **({"ioctl": f"{ioctl:#x}"} if major == s.IRP_MJ_DEVICE_CONTROL else {}),
            "in": len(data), "out": out_size})
        try:
            returned = k.call(dispatch, address, irp) & 0xFFFFFFFF
        finally:
            completions = requests.completed.pop(irp, 0)
        status = memory.read_u32(irp + s.IRP_STATUS)
        information = memory.read_u32(irp + s.IRP_INFORMATION)
        event.fields.update(status=f"{status:#010x}", information=information, returned=f"{returned:#010x}")
        if returned == s.STATUS_PENDING or not completions:
            raise SandboxError(f"IRP_MJ_{name} to {device!r}: the dispatch routine returned {returned:#010x} without "
                               "completing the IRP (IoCompleteRequest); this kernel does not queue pending IRPs")
        if returned != status:
            k.warn(f"IRP_MJ_{name} dispatch returned {returned:#010x} but IoStatus.Status is {status:#010x}")
        output = b""
        if out_size and not status & 0x80000000:
            count = min(information, out_size)
            output = memory.read(system or user_out, count)
        return IrpResult(status, information, output)
    finally:
        for buffer in buffers:
            k.memory.free(buffer)


def _scratch(k: Kernel, buffers: list[int], size: int) -> int:
    address = k.memory.alloc(size)
    if not address:
        raise SandboxError(f"cannot allocate a {size}-byte I/O buffer")
    buffers.append(address)
    return address


# -- entry points ----------------------------------------------------------------------------------
def driver_object(k: Kernel, module: Module) -> int:
    """The module's DRIVER_OBJECT (made on first use: Type, Size, DriverStart/Size, DriverName)."""
    objects = k.subsystem(NtObjects)
    address = objects.drivers.get(module.name)
    if address is None:
        address = k.memory.alloc(s.DRIVER_OBJECT_SIZE)
        if not address:
            raise SandboxError("cannot allocate a DRIVER_OBJECT")
        k.memory.write(address, bytes(s.DRIVER_OBJECT_SIZE))
        k.memory.write(address, s.DRIVER_OBJECT_TYPE.to_bytes(2, "little") + s.DRIVER_OBJECT_SIZE.to_bytes(2, "little"))
        k.memory.write_u32(address + s.DRIVER_START, module.base)
        k.memory.write_u32(address + s.DRIVER_SIZE, module.size)
        name = new_unicode(k, f"\\Driver\\{module.name}")
        k.memory.write(address + s.DRIVER_NAME, k.memory.read(name, s.UNICODE_STRING_SIZE))
        objects.drivers[module.name] = address
        objects.kernel_blocks.setdefault(module.name, []).append(name)
    return address


def driver_entry_arguments(k: Kernel, module: Module) -> tuple[int, int]:
    """DriverEntry's (DriverObject, RegistryPath): the module's driver object and its service key."""
    path = new_unicode(k, f"\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{module.name}")
    k.subsystem(NtObjects).kernel_blocks.setdefault(module.name, []).append(path)
    return driver_object(k, module), path


def driver_unload(k: Kernel, module: Module) -> int | None:
    """The DriverUnload routine DriverEntry stored in the driver object (None: the driver cannot unload)."""
    address = k.subsystem(NtObjects).drivers.get(module.name)
    return k.memory.read_u32(address + s.DRIVER_UNLOAD) or None if address is not None else None


def status_failure(result: int) -> str | None:
    """Why an NTSTATUS means failure (bit 31 set), or None."""
    status = result & 0xFFFFFFFF
    return f"returned status {status:#010x}" if status & 0x80000000 else None
